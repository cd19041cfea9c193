"""The server's secret key and the keys derived from it, one per purpose.

Production takes the key from GATEWAY_SECRET_KEY (settings refuse to start without it). The demo
generates one on first use into `<data_dir>/secret.key` (mode 0600), so that every process of
one checkout (API, dashboard, worker, CLI) finds the same key and a restart keeps it. Losing the
key loses what it encrypted: back it up like the database."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from gateway import settings

KEY_FILE = "secret.key"


def _from_file(directory: Path) -> bytes:
    path = directory / KEY_FILE
    directory.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once must not each write their own key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    for _ in range(100):
        text = path.read_text(encoding="ascii").strip()
        try:
            key = base64.b64decode(text, validate=True)
        except ValueError:
            key = b""
        if len(key) == 32:
            return key
        time.sleep(0.01)  # another process is still writing it
    raise RuntimeError(f"{path} does not hold base64 of 32 bytes")


@functools.cache
def _master(configured: str | None, directory: Path) -> bytes:
    if configured is not None:
        return base64.b64decode(configured)
    return _from_file(directory)


def master(config: settings.Settings) -> bytes:
    configured = config.secret_key.get_secret_value() if config.secret_key else None
    return _master(configured, config.data_dir)


def derive(config: settings.Settings, purpose: str) -> bytes:
    """A 32-byte key for one purpose (e.g. "secrets-at-rest", "idempotency-fingerprint"): a
    leak or misuse of one never hands over another."""
    return hmac.new(master(config), b"gateway/" + purpose.encode(), hashlib.sha256).digest()
