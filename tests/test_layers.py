"""The import rule (docs/architecture.md), read from the source with `ast`:

- infrastructure (settings, db, errors, ...) imports no domain module;
- the domain (merchants, orders, payments, ..., webhooks/, razorpay/) imports no web framework,
  no app and no job module: it defers jobs by name through queue.defer;
- no top-level module imports a web framework except deps.py and asgi.py (the body cap both
  apps share, which is infrastructure: it imports no domain module either);
- one app (api/, dashboard/, checkout/) never imports another;
- webhooks/verify.py, which merchants copy into their servers, imports only webhooks/signing.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gateway"

INFRASTRUCTURE = {
    "gateway.settings",
    "gateway.db",
    "gateway.errors",
    "gateway.ids",
    "gateway.cache",
    "gateway.logs",
    "gateway.migrations",
    "gateway.pagination",
    "gateway.serialize",
    "gateway.ratelimit",
    "gateway.queue",
    "gateway.keys",
    "gateway.vault",
    "gateway.passwords",
    "gateway.asgi",
}
APPS = ("gateway.api", "gateway.dashboard", "gateway.checkout")
JOBS = "gateway.jobs"
ENTRY_POINTS = {"gateway.cli", "gateway.deps", "gateway"}
# The only top-level modules that may import a web framework.
WEB_GLUE = {"gateway.deps", "gateway.asgi"}
WEB_FRAMEWORKS = ("fastapi", "starlette", "uvicorn", "jinja2", "markupsafe", "multipart")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, name: str) -> set[str]:
    """Every module `source` (the module `name`) imports, `from a import b` counted as a.b when
    b is a submodule-looking name of our package."""
    found: set[str] = set()
    package = name if name.count(".") == 0 else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            if base.startswith("gateway"):
                found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _is(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations(name: str, imported: set[str], known: set[str]) -> list[str]:
    """The rule's complaints about module `name` importing `imported` (`known`: our modules)."""
    ours = {m for m in imported if m in known and m != "gateway"}
    frameworks = sorted(m for m in imported if m.split(".")[0] in WEB_FRAMEWORKS)
    app = next((a for a in APPS if _is(name, a)), None)
    problems: list[str] = []
    if name in INFRASTRUCTURE:
        problems += [f"{name} (infrastructure) imports {m}" for m in sorted(ours - INFRASTRUCTURE)]
    if app is None and not _is(name, JOBS) and name not in ENTRY_POINTS:
        # the domain and infrastructure
        if name not in WEB_GLUE:
            problems += [f"{name} imports the web framework {m}" for m in frameworks]
        problems += [
            f"{name} imports {m}"
            for m in sorted(ours)
            if any(_is(m, a) for a in APPS) or _is(m, JOBS)
        ]
    if app is not None:
        problems += [
            f"{name} ({app}) imports {m}"
            for m in sorted(ours)
            if any(_is(m, other) for other in APPS if other != app)
        ]
    if _is(name, JOBS):
        problems += [f"{name} imports {m}" for m in sorted(ours) if any(_is(m, a) for a in APPS)]
    if name == "gateway.webhooks.verify":
        problems += [
            f"{name} imports {m}"
            for m in sorted(m for m in imported if _is(m, "gateway"))
            if m not in ("gateway.webhooks", "gateway.webhooks.signing")
        ]
    return problems


def _modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_keeps_the_import_rule() -> None:
    modules = _modules()
    known = set(modules)
    problems = [
        problem
        for name, path in modules.items()
        for problem in violations(name, imports(path.read_text(encoding="utf-8"), name), known)
    ]
    assert problems == []


def test_every_top_level_module_has_a_layer() -> None:
    """A new module must be placed: infrastructure, domain (listed in the architecture doc) or an
    entry point, so that the rule above knows what it may import."""
    top = {name for name in _modules() if name.count(".") == 1}
    domain = {
        "gateway.merchants",
        "gateway.orders",
        "gateway.payments",
        "gateway.refunds",
        "gateway.idempotency",
        "gateway.events",
        "gateway.instruments",
        "gateway.bank",
        "gateway.jobstatus",
        "gateway.checkout_signature",
    }
    packages = {"gateway.api", "gateway.dashboard", "gateway.checkout", "gateway.jobs"}
    packages.add("gateway.webhooks")
    # Razorpay's shapes over the domain (entities, /v1 operations, its webhook outbox): domain.
    packages.add("gateway.razorpay")
    assert top - INFRASTRUCTURE - domain - ENTRY_POINTS - packages == set()


@pytest.mark.parametrize(
    ("name", "source", "complaint"),
    [
        ("gateway.payments", "from fastapi import Request", "web framework fastapi"),
        ("gateway.payments", "from gateway.api import deps", "imports gateway.api.deps"),
        ("gateway.payments", "from gateway.jobs import webhooks", "imports gateway.jobs.webhooks"),
        ("gateway.razorpay.entities", "import fastapi", "web framework fastapi"),
        ("gateway.razorpay.outbox", "from gateway.api import rzp", "imports gateway.api.rzp"),
        ("gateway.db", "from gateway import payments", "(infrastructure) imports"),
        ("gateway.dashboard.pages", "from gateway.api import deps", "imports gateway.api.deps"),
        ("gateway.api.orders", "from ..dashboard import web", "imports gateway.dashboard.web"),
        ("gateway.webhooks.verify", "from gateway import db", "imports gateway.db"),
        ("gateway.jobs.payments", "from gateway.api import app", "imports gateway.api.app"),
        ("gateway.passwords", "import starlette", "web framework starlette"),
        ("gateway.asgi", "from gateway import merchants", "(infrastructure) imports"),
        ("gateway.asgi", "from gateway.api import app", "imports gateway.api.app"),
    ],
)
def test_the_rule_catches_each_kind_of_breach(name: str, source: str, complaint: str) -> None:
    known = set(_modules())
    problems = violations(name, imports(source, name), known)
    assert any(complaint in p for p in problems), problems


def test_the_rule_allows_what_the_architecture_allows() -> None:
    known = set(_modules())
    allowed = [
        ("gateway.payments", "from gateway import db, events, orders"),
        ("gateway.api.orders", "from fastapi import APIRouter\nfrom gateway import orders"),
        ("gateway.dashboard.web", "from gateway import deps"),
        ("gateway.webhooks.verify", "from gateway.webhooks import signing"),
        ("gateway.jobs.payments", "from gateway import payments"),
        ("gateway.asgi", "from starlette.types import Scope"),
        ("gateway.api.middleware", "from gateway import asgi"),
        ("gateway.dashboard.app", "from gateway import asgi"),
    ]
    for name, source in allowed:
        assert violations(name, imports(source, name), known) == [], name
