"""The README's walk-through, run as written against a fresh server: every `curl` command
of its "Walk-through with curl" and "History, change feed, time travel and undo" sections,
in order, each answer checked against the comment below the command. The README cannot
drift from what a newcomer sees."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.service import TOKEN_LINE, Server, wait_for
from timetracker.projections.engine.group_runner import GROUP_LEAD

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
SECTIONS = ("## Walk-through with curl", "## History, change feed, time travel and undo")
README_URL = "http://127.0.0.1:8080"
STATUS = "__STATUS__"
# Every curl answer ends with its status, on a line of its own (a `| grep` drops it).
CURL = f"curl() {{ command curl -w '\\n{STATUS}%{{http_code}}' \"$@\"; }}\n"
KEY = re.compile(r'"(\w+)":')
SCALAR = re.compile(r'"(\w+)":(-?\d+(?:\.\d+)?|true|false|null|"[^"]*")(?=[,}\]])')


@dataclass
class Step:
    """One command of the walk-through and what the README says it answers."""

    command: str
    expected: str  # the comment below it, without the `# `s ("" when none)


def _sections(text: str) -> list[str]:
    found = []
    for title in SECTIONS:
        start = text.index(title)
        end = text.find("\n## ", start + len(title))
        found.append(text[start : end if end >= 0 else None])
    return found


def _blocks(section: str) -> list[list[str]]:
    return [block.splitlines() for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL)]


def steps() -> list[Step]:
    """The README's curl commands (and variable assignments) with their expected answers."""
    found: list[Step] = []
    for section in _sections(README.read_text()):
        for lines in _blocks(section):
            index = 0
            while index < len(lines):
                line = lines[index]
                if line.startswith("curl ") or re.match(r"^[A-Z_]+=\$\(", line):
                    command = [line]
                    # Continuations: a trailing backslash, or a quote left open.
                    while command[-1].endswith("\\") or "".join(command).count("'") % 2:
                        index += 1
                        command.append(lines[index])
                    index += 1
                    expected = []
                    while index < len(lines) and _is_answer(lines[index], bool(expected)):
                        expected.append(lines[index][1:].strip())
                        index += 1
                    found.append(Step("\n".join(command), " ".join(expected)))
                else:
                    index += 1
    return found


def _is_answer(line: str, continued: bool) -> bool:
    if re.match(r"^# [{\[]|^# [A-Z][\w-]+: ", line):
        return True
    return continued and line.startswith("#  ")


def _pairs(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key, inner
            yield from _pairs(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _pairs(inner)


def _check(step: Step, output: str) -> None:
    body, _, status = output.rpartition(f"\n{STATUS}")
    if not _:  # piped through grep: no status line
        body, status = output, ""
    shown = f"{body[:400]} ... {body[-200:]}"
    where = f"\n{step.command}\nanswered {status}: {shown}\nREADME: {step.expected}"
    if not step.expected:
        assert status.startswith("2"), where
        return
    if not step.expected.startswith(("{", "[")):  # a header line, e.g. `ETag: "1"`
        name, _, value = step.expected.partition(": ")
        shown = {
            line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip()
            for line in body.splitlines()
            if ":" in line
        }
        assert shown.get(name.lower()) == value, where
        return
    answer = json.loads(body)
    pairs = list(_pairs(answer))
    keys = {key for key, _ in pairs}
    for key in KEY.findall(step.expected):
        assert key in keys, f"no {key!r}" + where
    for key, literal in SCALAR.findall(step.expected):
        if "..." in literal:
            continue
        assert (key, json.loads(literal)) in pairs, f"no {key}: {literal}" + where
    code = re.search(r'"error_code":"(\w+)"', step.expected)
    if code:
        assert status.startswith("4"), where
    else:
        assert status.startswith("2"), where


def test_the_readme_walkthrough_answers_as_the_readme_says(server: Server, tmp_path: Path) -> None:
    token = server.admin_token()
    assert token is not None and TOKEN_LINE.match(token)
    # As a newcomer would be: the runners have started by the time the first curl comes.
    assert wait_for(
        lambda: any(f"Leading projection {GROUP_LEAD}" in line for line in server.stderr), 60
    ), server.output()
    found = steps()
    assert len(found) >= 25, [s.command for s in found]
    assert sum(bool(s.expected) for s in found) >= 20
    assignments = ""
    for step in found:
        command = step.command.replace(README_URL, server.base_url)
        if re.match(r"^[A-Z_]+=", command):
            assignments += command + "\n"
            continue
        done = subprocess.run(
            ["bash", "-c", CURL + assignments + command],
            env={"TOKEN": token, "PATH": "/usr/bin:/bin"},
            cwd=tmp_path,  # where the export examples save their files
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, (command, done.stderr)
        _check(step, done.stdout)


def test_the_start_banner_is_what_serve_prints(server: Server) -> None:
    readme = README.read_text()
    banner = re.search(r"```\n(Created user 'admin'.*?)```", readme, re.DOTALL)
    assert banner is not None
    shown = banner.group(1).splitlines()
    printed = [line for line in server.stdout if line.strip()]
    assert printed[0] == shown[0]
    assert TOKEN_LINE.match(printed[1]) and TOKEN_LINE.match(shown[1])
    assert printed[2] == shown[2]  # how to set the admin's console password
    pattern = re.escape(shown[3]).replace("8080", r"\d+").replace("2", r"\d+")
    assert re.fullmatch(pattern, printed[3]), (shown, printed)
    assert printed[4] == shown[4] == "(Press CTRL+C to quit)"
