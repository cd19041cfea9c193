"""Logging setup for our processes: one line per record on stderr."""

from __future__ import annotations

import logging
import sys

# procrastinate logs two INFO lines for every job it runs (start, end): thousands a second on a
# busy worker, formatted and written on the worker's only core. Job outcomes are counted in
# /metrics (gateway/metrics.py) and failures still log at ERROR; LOG_LEVEL=DEBUG brings the
# per-job lines back.
CHATTY = ("procrastinate",)


def configure(level: str = "INFO") -> None:
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper())
    if root.level > logging.DEBUG:
        for name in CHATTY:
            logging.getLogger(name).setLevel(max(root.level, logging.WARNING))
