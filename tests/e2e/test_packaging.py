"""The installed package imports from the repository root, where `http/` could shadow the
standard library's `http` (it has no `__init__.py` for that reason)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_aiohttp_and_the_api_import_from_the_repository_root() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import aiohttp, timetracker.http, timetracker.http.app"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert not (ROOT / "http" / "__init__.py").exists()
