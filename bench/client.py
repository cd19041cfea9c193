"""A tiny keep-alive HTTP/1.1 client on raw asyncio streams: cheap enough per request that the
Python side of a benchmark does not become the thing measured."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import orjson

from bench import env


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, headers: Sequence[tuple[str, str]]) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers)
        self.writer.write(head.encode() + b"\r\n" + body)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            if line[:15].lower() == b"content-length:":
                length = int(line[15:].strip())
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


AUTH = (
    ("Content-Type", "application/json"),
    ("X-Api-Key", env.API_KEY),
    ("X-Api-Secret", env.API_SECRET),
)


def payment_body(order_id: str) -> bytes:
    return orjson.dumps({"order_id": order_id, "method": "upi", "vpa": "bench@upi"})


async def create_payments(port: int, order_ids: Sequence[str], connections: int) -> list[int]:
    """Closed loop, as fast as the API answers: each connection takes the next order."""
    statuses: list[int] = []
    queue = iter(order_ids)

    async def run() -> None:
        conn = Connection("127.0.0.1", port)
        try:
            for order_id in queue:
                statuses.append(await conn.post("/api/v1/payments", payment_body(order_id), AUTH))
        finally:
            conn.close()

    await asyncio.gather(*(run() for _ in range(connections)))
    return statuses


async def open_loop(
    port: int, order_ids: Sequence[str], rate: float, connections: int
) -> tuple[list[float], int, float]:
    """Requests at a fixed schedule (not when the previous one returns), latency measured from
    the scheduled send time so that a stall is charged to every request it delays.
    Returns (latencies in ms, non-201 count, achieved rate)."""
    latencies: list[float] = []
    errors = 0
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(Connection("127.0.0.1", port))
    start = time.perf_counter()

    async def one(order_id: str, due: float) -> None:
        nonlocal errors
        conn = await idle.get()
        try:
            status = await conn.post("/api/v1/payments", payment_body(order_id), AUTH)
        finally:
            idle.put_nowait(conn)
        latencies.append((time.perf_counter() - due) * 1000)
        if status != 201:
            errors += 1

    tasks = []
    for i, order_id in enumerate(order_ids):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(order_id, due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    while not idle.empty():
        idle.get_nowait().close()
    return latencies, errors, len(order_ids) / elapsed
