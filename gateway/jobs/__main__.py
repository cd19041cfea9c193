"""`python -m gateway.jobs --app=gateway.queue.app worker` (what `gateway worker` runs):
procrastinate's own command line, with two things procrastinate's `main()` does not do.

- It runs on uvloop. The worker is one Python process bound by its CPU per job, and uvloop's
  event loop costs markedly less per socket event than asyncio's default selector loop.
- It outlives database blips. procrastinate ends the worker when its job-fetching loop meets a
  database error (its command line then exits with status 1) and stops it cleanly when one of
  its side tasks (the heartbeat, the LISTEN connection, the periodic deferrer) fails; a
  terminated connection or a database restart is enough for either. A worker that exits then
  leaves payments unprocessed until someone restarts it, so this process starts procrastinate
  again, in place (the same pid: `gateway run` and a service manager still see one process),
  after a pause. A stop asked for with SIGTERM or Ctrl-C ends the process as before. Jobs the
  failed run left in `doing` go back to the queue through the periodic re-queue of stalled jobs.
  A worker that fails again within seconds of every start (a bad setting, a database that is
  gone) waits longer each time and gives up after a few tries, exiting 1."""

from __future__ import annotations

import logging
import os
import sys
import time

import uvloop
from procrastinate import cli

# Consecutive failures, each within QUICK_SECONDS of its start, carried across restarts.
QUICK_FAILURES_ENV = "GATEWAY_WORKER_QUICK_FAILURES"
QUICK_SECONDS = 10.0
GIVE_UP_AFTER = 5


class SideTaskFailures(logging.Handler):
    """Notices procrastinate's "side task failed, stopping worker" record (its `action`
    field): a stop the worker made by itself, not one it was asked for."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen = False

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "action", None) == "side_task_failed":
            self.seen = True


def pause_before_restart(quick_failures: int) -> float:
    """1 s after a failure that came after a good run, then 2, 4, 8 s while it keeps failing
    at once."""
    return float(min(2**quick_failures, 30))


def main() -> None:
    failures = SideTaskFailures()
    logging.getLogger("procrastinate").addHandler(failures)
    started = time.monotonic()
    try:
        uvloop.run(cli.cli(sys.argv[1:]))
        code: object = 0
    except SystemExit as exit_:
        code = exit_.code
    if not (failures.seen or code == 1):
        raise SystemExit(code)
    quick = int(os.environ.get(QUICK_FAILURES_ENV, "0"))
    quick = quick + 1 if time.monotonic() - started < QUICK_SECONDS else 0
    if quick >= GIVE_UP_AFTER:
        print("gateway: the worker failed at every start; giving up", file=sys.stderr)
        raise SystemExit(1)
    pause = pause_before_restart(quick)
    print(
        f"gateway: the worker stopped on an error (database unreachable?); starting it again"
        f" in {pause:g} s",
        file=sys.stderr,
        flush=True,
    )
    time.sleep(pause)
    os.environ[QUICK_FAILURES_ENV] = str(quick)
    os.execv(sys.executable, [sys.executable, "-m", "gateway.jobs", *sys.argv[1:]])  # noqa: S606


if __name__ == "__main__":
    main()
