"""A real local webhook receiver (threaded HTTP server) whose behaviour is chosen by path:
/ok, /fail (500), /fail2 (500 twice per webhook-id, then 200), /gone (410), /redirect (302),
/hang (sleeps past the 5 s timeout), /reset (hangs up with an RST), /big (a 10 MB
body), /gate (200 once the gate is open: `close_gate()` holds every request that arrives until
`open_gate()`, so a test can kill a worker while deliveries are certainly in flight). It records
every request as it arrives."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        self.counts: dict[tuple[str, str], int] = defaultdict(int)
        self.gate = threading.Event()
        self.gate.set()
        self.held = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:
                    return  # the sender died mid-request (a SIGKILLed worker): not a delivery
                path = self.path.split("?")[0]
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    receiver.requests.append(Received(path, headers, body, time.time()))
                    key = (path, headers.get("webhook-id", ""))
                    receiver.counts[key] += 1
                    seen = receiver.counts[key]
                if path == "/gate":
                    if not receiver.gate.is_set():
                        with receiver.lock:
                            receiver.held += 1
                        receiver.gate.wait(timeout=120)
                    self._reply(200, b"ok")
                elif path == "/hang":
                    time.sleep(8)
                    self._reply(200, b"late")
                elif path == "/fail":
                    self._reply(500, b"boom " * 1000)
                elif path == "/fail2":
                    self._reply(500 if seen <= 2 else 200, b"try again" if seen <= 2 else b"ok")
                elif path == "/gone":
                    self._reply(410, b"gone")
                elif path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", "/ok")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif path == "/reset":
                    # Hang up without an answer: an RST instead of a response.
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.close_connection = True
                    self.connection.close()
                elif path == "/big":
                    self.send_response(200)
                    self.send_header("Content-Length", str(10 * 1024 * 1024))
                    self.end_headers()
                    try:
                        for _ in range(160):
                            self.wfile.write(b"x" * 65536)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                else:
                    self._reply(200, "reçu".encode())

            def _reply(self, status: int, body: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # clients that hang up (timeouts, the worker being killed) are expected

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.open_gate()
        self.server.shutdown()
        self.server.server_close()

    def close_gate(self) -> None:
        self.gate.clear()

    def open_gate(self) -> None:
        self.gate.set()

    def holding(self) -> int:
        """How many requests to /gate have waited at the closed gate."""
        with self.lock:
            return self.held

    def on(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path == path]
