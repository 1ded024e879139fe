"""A normal (non-editable) install ships the console's templates and static files."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = ROOT / "http" / "console"


def test_the_wheel_holds_every_console_template_and_static_file(tmp_path: Path) -> None:
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = tmp_path.glob("timetracker_es-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"timetracker/http/console/{path.relative_to(CONSOLE).as_posix()}"
        for folder in ("templates", "static")
        for path in (CONSOLE / folder).iterdir()
    }
    assert "timetracker/http/console/templates/base.html" in expected
    assert expected <= names, sorted(expected - names)
