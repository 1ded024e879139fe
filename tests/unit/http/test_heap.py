"""A `serve` process keeps the collector off what its startup built."""

from __future__ import annotations

import subprocess
import sys

from timetracker.http.app import create_serving_app
from timetracker.http.heap import freeze_after_startup
from timetracker.http.settings import Settings

# In a process of its own: freezing is for good, and the test process's collector stays as is.
_STARTUP = """
import gc
from timetracker.http.app import create_app
from timetracker.http.heap import freeze_startup_objects
from timetracker.http.settings import Settings

app = create_app(Settings(database_url="postgresql://nowhere/none"))
walked = len(gc.get_objects())
freeze_startup_objects()
print(walked, len(gc.get_objects()), gc.get_freeze_count())
"""


def test_what_startup_built_is_no_longer_walked_by_a_collection() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _STARTUP], capture_output=True, text=True, check=True, timeout=60
    )
    walked, walked_after, frozen = (int(n) for n in done.stdout.split())
    assert walked > 50_000  # modules, routes, schemas, the OpenAPI document
    assert walked_after < walked / 100
    assert frozen >= walked * 0.9


def test_a_serving_app_freezes_its_startup_last() -> None:
    app = create_serving_app(Settings(database_url="postgresql://nowhere/none"))
    assert app.on_startup[-1] is freeze_after_startup
