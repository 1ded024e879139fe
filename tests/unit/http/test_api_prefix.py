"""`/api/v1` is declared once: route tables hold paths without it, the sub-app adds it."""

from __future__ import annotations

import ast
from pathlib import Path

from timetracker.http import access
from timetracker.http.app import create_api
from timetracker.http.paths import API_PREFIX, api_path
from timetracker.http.system import get_health, get_info

HTTP = Path(__file__).resolve().parents[3] / "http"


def test_the_api_sub_app_declares_its_paths_without_the_prefix() -> None:
    paths = {route.resource.canonical for route in create_api().router.routes() if route.resource}

    assert "/clients/{client_id}" in paths
    assert not [path for path in paths if path.startswith("/api/")]


def test_api_path_builds_the_public_url() -> None:
    assert API_PREFIX == "/api/v1"
    assert api_path("/time-entries/5/history") == "/api/v1/time-entries/5/history"


def _string_constants(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_no_module_but_paths_spells_the_prefix() -> None:
    spelled = {
        str(path.relative_to(HTTP))
        for path in HTTP.rglob("*.py")
        if path.name != "paths.py" and any("/api/v1" in text for text in _string_constants(path))
    }

    assert spelled == set()


def test_open_routes_are_marked_on_the_handler_not_by_path() -> None:
    assert getattr(get_health, "__open_in_maintenance__", False)
    assert not getattr(get_info, "__open_in_maintenance__", False)
    assert getattr(get_info, "__scope__", None) is None  # open: no token needed
    assert access.open_in_maintenance(lambda: None).__open_in_maintenance__  # type: ignore[attr-defined]
