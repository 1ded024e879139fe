"""schemathesis' stateful phase, from outside, on the OpenAPI document's own links only (its
link inference off): it chains a create to the operations that take the new id, and the
server answers every step as documented. Bounded: a few dozen steps."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from tests.e2e.service import Server

pytestmark = pytest.mark.e2e

CONFIG = """\
[phases.stateful]
max-steps = 8

[phases.stateful.inference]
algorithms = []
"""
ACCESS = re.compile(r'"(GET|POST|PUT|PATCH|DELETE) (/api/v1/[\w/-]+?)(?:\?\S*)?" (\d{3}) ')
ITEM = re.compile(r"^(/api/v1/[\w-]+)/(\d+)$")


def _stateful_phase(server: Server, token: str, folder: Path) -> str:
    binary = shutil.which("st", path=str(Path(sys.executable).parent))
    assert binary, "schemathesis is not installed (the `test` extra has it)"
    config = folder / "schemathesis.toml"
    config.write_text(CONFIG)
    done = subprocess.run(
        [
            *(binary, "--config-file", str(config), "run"),
            f"{server.base_url}/api/docs/openapi.json",
            *("--header", f"Authorization: Bearer {token}"),
            *("--phases", "stateful"),
            *("--max-examples", "25", "--generation-deterministic", "--workers", "1"),
            *("--exclude-path-regex", "^/api/v1/admin/"),
            *("--checks", "not_a_server_error,status_code_conformance"),
            *("--checks", "response_schema_conformance,content_type_conformance"),
            *("--request-timeout", "10"),
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    return output


def test_the_stateful_phase_follows_the_links_from_create_to_get_update_delete(
    configured_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**configured_env, "RATE_LIMIT_PER_MINUTE": "0", "RATE_LIMIT_PER_HOUR": "0"}
    server = Server(env, tmp_path)
    try:
        server.start()
        token = server.admin_token()
        assert token is not None
        before = len(server.stderr)
        output = _stateful_phase(server, token, tmp_path)

        links = re.search(r"API Links:\s+(\d+) covered / (\d+) selected / (\d+) total", output)
        assert links is not None, output[-3000:]
        covered, selected = int(links.group(1)), int(links.group(2))
        assert selected >= 20, output[-3000:]  # the document's own links, none inferred
        assert covered >= 8, output[-3000:]

        # What the server saw: on a fresh store an id exists only if this run created it,
        # so a call on an item that is not a 404 used an id from a create's answer (the
        # links). (A generated query, e.g. an `as_of` in the future, may still make it 400.)
        followed: dict[tuple[str, str], set[str]] = defaultdict(set)
        statuses = []
        for line in server.stderr[before:]:
            found = ACCESS.search(line)
            item = ITEM.match(found.group(2)) if found else None
            if found and item:
                statuses.append(found.group(3))
                if found.group(3) != "404":
                    followed[(item.group(1), item.group(2))].add(found.group(1))
        assert not [status for status in statuses if status.startswith("5")], statuses
        chained = {
            key
            for key, methods in followed.items()
            if "GET" in methods and methods & {"PUT", "PATCH"} and "DELETE" in methods
        }
        assert chained, dict(followed)
    finally:
        server.kill()
