"""The programs outside Python that tests call (node, pg_dump, Debian's Chromium), found in one
place. A developer without one sees its tests skipped and why; with CI=true a missing program
fails the test instead, so CI can never pass on evidence it did not run.
scripts/install-system-deps.sh installs every program named here."""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = "scripts/install-system-deps.sh installs it"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing(message: str) -> None:
    """Fail in CI, skip elsewhere. Never returns."""
    if in_ci():
        pytest.fail(f"{message} (CI=true: a missing tool is a failure)", pytrace=False)
    pytest.skip(message)


def which(name: str) -> str | None:
    """`name` on PATH, or None."""
    return shutil.which(name)


def require(name: str) -> str:
    """The path of program `name` on PATH; else skip (fail in CI)."""
    found = which(name)
    if found is None:
        missing(f"{name} is not installed; {INSTALL}")
    assert found is not None
    return found


def pg_dump() -> str:
    """The newest pg_dump around: it must be at least the server's major version, and Debian
    keeps each version's under /usr/lib/postgresql/<major>/bin (PATH has only a wrapper)."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_dump"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if candidates:
        return candidates[-1]
    return require("pg_dump")


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None when Debian's Chromium is installed."""
    if CHROMIUM.exists():
        return None
    return f"browser tests need Debian's Chromium at {CHROMIUM}; {INSTALL}"


def require_chromium() -> str:
    reason = chromium_missing()
    if reason is not None:
        missing(reason)
    return str(CHROMIUM)
