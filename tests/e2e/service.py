"""A real `timetracker serve` process, the `timetracker` command, and plain HTTP calls to them."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

START_TIMEOUT = 60.0  # a first embedded start runs initdb
STOP_TIMEOUT = 30.0
CLI_TIMEOUT = 60.0
TOKEN_LINE = re.compile(r"^tt_[A-Za-z0-9_-]{32}$")
RUNNING = "======== Running on"  # what `serve` prints once every worker listens

# Variables the service reads; the tests set them explicitly, never inherit them.
SERVICE_VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "TIMETRACKER_DATA_DIR",
    "HOST",
    "PORT",
    "REDIS_PREFIX",
)

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def timetracker_command() -> str:
    """The `timetracker` console script installed next to this interpreter."""
    found = shutil.which("timetracker", path=str(Path(sys.executable).parent))
    assert found, f"no `timetracker` script next to {sys.executable}: is the project installed?"
    return found


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_env(**values: str) -> dict[str, str]:
    """This environment without the service's variables, plus `values`."""
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(values)
    return env


@dataclass
class Response:
    """What an HTTP call returned."""

    status: int
    headers: dict[str, str]
    body: Any


def call(
    method: str,
    url: str,
    token: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """One HTTP request with a JSON body; errors are returned, not raised."""
    sent = {"Accept": "application/json", **(headers or {})}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=sent, method=method)
    try:
        with _opener.open(request, timeout=15) as reply:
            return Response(reply.status, dict(reply.headers), _json(reply.read()))
    except urllib.error.HTTPError as error:
        return Response(error.code, dict(error.headers), _json(error.read()))


def _json(raw: bytes) -> Any:
    return json.loads(raw) if raw else None


def run_cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `timetracker ARGS`; fails the test with its output unless it exits 0."""
    done = subprocess.run(
        [timetracker_command(), *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, (
        f"timetracker {' '.join(args)} exited {done.returncode}\n"
        f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    )
    return done


@dataclass
class Server:
    """`timetracker serve` running as a child process; its output is collected as it comes."""

    env: dict[str, str]
    cwd: Path
    args: tuple[str, ...] = ()  # extra arguments of `timetracker serve`
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[str] | None = None
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    _readers: list[threading.Thread] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the process and wait until /api/v1/health answers 200 and it says it runs."""
        self.stdout.clear()
        self.stderr.clear()
        env = {**self.env, "HOST": "127.0.0.1", "PORT": str(self.port)}
        self.process = subprocess.Popen(
            [timetracker_command(), "serve", *self.args],
            env=env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self._readers = [
            threading.Thread(target=_collect, args=(self.process.stdout, self.stdout), daemon=True),
            threading.Thread(target=_collect, args=(self.process.stderr, self.stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        self._wait_until_healthy()

    def _wait_until_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise AssertionError(f"serve exited with {code}\n{self.output()}")
            try:
                health = call("GET", f"{self.base_url}/api/v1/health")
            except OSError as exc:
                last = repr(exc)
            else:
                # Every worker listens once the server says it runs (one may answer before).
                if health.status == 200 and any(RUNNING in line for line in self.stdout):
                    return
                last = f"{health.status} {health.body}"
            time.sleep(0.2)
        raise AssertionError(f"serve not healthy after {START_TIMEOUT}s ({last})\n{self.output()}")

    def admin_token(self) -> str | None:
        """The one-time admin token printed on stdout, if this start printed one."""
        tokens = [line for line in self.stdout if TOKEN_LINE.match(line)]
        assert len(tokens) <= 1, self.output()
        return tokens[0] if tokens else None

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Signal, then wait; returns the exit code (SIGKILL and fail after a timeout)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise AssertionError(
                f"serve ignored signal {signum} for {STOP_TIMEOUT}s\n{self.output()}"
            ) from None
        finally:
            for reader in self._readers:
                reader.join(timeout=5)
        return code

    def kill(self) -> None:
        """Make sure the process is gone (for `finally` blocks)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def output(self) -> str:
        """Everything the process printed so far, for failure messages."""
        return "stdout:\n" + "\n".join(self.stdout) + "\nstderr:\n" + "\n".join(self.stderr[-60:])


def _collect(stream: Any, lines: list[str]) -> None:
    for line in stream:
        lines.append(line.rstrip("\n"))


def children_of(pid: int) -> set[int]:
    """The processes whose parent is `pid`."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its ')'
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for(condition: Callable[[], object], within: float) -> bool:
    """True once `condition()` is truthy; False after `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def projection_children(pid: int) -> set[int]:
    """The children of `pid` started by multiprocessing's spawn (not its resource tracker)."""
    found = set()
    for child in children_of(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in command:
            found.add(child)
    return found
