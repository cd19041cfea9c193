"""A fast webhook receiver: raw asyncio on uvloop, run as its own process so it is never the
bottleneck and its clock reads are not delayed by the load generator. It answers every POST
with 200 and records (arrival time, webhook-id). `GET /_records` returns them as JSON."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


class Protocol(asyncio.Protocol):
    def __init__(self, records: list[tuple[float, str]]) -> None:
        self.records = records
        self.buffer = b""
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's transport is not an asyncio.Transport subclass

    def data_received(self, data: bytes) -> None:
        at = time.time()
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            length = 0
            webhook_id = ""
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                lname = name.strip().lower()
                if lname == "content-length":
                    length = int(value.strip())
                elif lname == "webhook-id":
                    webhook_id = value.strip()
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            if head.startswith("GET /_records"):
                body = orjson.dumps(self.records)
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                    + str(len(body)).encode()
                    + b"\r\n\r\n"
                    + body
                )
            elif head.startswith("GET /_reset"):
                self.records.clear()
                self.transport.write(OK)
            else:
                self.records.append((at, webhook_id))
                self.transport.write(OK)


async def serve(port: int) -> None:
    records: list[tuple[float, str]] = []
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Protocol(records), "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        pass
    asyncio.run(serve(int(sys.argv[1])))


class Handle:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"

    def records(self) -> list[tuple[float, str]]:
        data: list[tuple[float, str]] = [
            (float(a), str(b)) for a, b in httpx.get(self.url + "/_records", timeout=30).json()
        ]
        return data

    def reset(self) -> None:
        httpx.get(self.url + "/_reset", timeout=5)


@contextlib.contextmanager
def running() -> Iterator[Handle]:
    from bench import env

    port = env.free_port()
    process = subprocess.Popen([sys.executable, "-m", "bench.receiver", str(port)], cwd=env.ROOT)
    handle = Handle(port)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                handle.reset()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield handle
    finally:
        env.stop(process)


if __name__ == "__main__":
    main()
