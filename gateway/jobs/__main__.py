"""`python -m gateway.jobs --app=gateway.queue.app worker`: procrastinate's own command line,
run on uvloop. The worker is one Python process bound by its CPU per job, and uvloop's event
loop costs markedly less per socket event than asyncio's default selector loop; procrastinate's
`main()` starts the default loop, so this is that function with the loop chosen first."""

from __future__ import annotations

import sys

import uvloop
from procrastinate import cli


def main() -> None:
    uvloop.run(cli.cli(sys.argv[1:]))


if __name__ == "__main__":
    main()
