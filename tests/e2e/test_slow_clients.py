"""Slow clients against a real `timetracker serve`: a body that does not arrive in time is
answered 408 and the connection closed; headers that do not arrive in time close it too."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from tests.e2e.service import Server

pytestmark = pytest.mark.e2e
TIMEOUT = 2.0


def _connect(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT * 5)
    return sock


def _dribble_until_answered(sock: socket.socket, within: float) -> tuple[bytes, float]:
    """Send a byte every 0.5 s until the server answers or closes; what it said, and when."""
    started = time.monotonic()
    sock.settimeout(0.5)
    received = b""
    while time.monotonic() - started < within:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            try:
                sock.sendall(b"x")
            except OSError:
                break
            continue
        except OSError:
            break
        if not chunk:
            break
        received += chunk
    return received, time.monotonic() - started


def _until_closed(sock: socket.socket, within: float) -> tuple[bytes, bool]:
    sock.settimeout(within)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        return received, False
    except OSError:
        pass
    return received, True


@pytest.fixture
def slow_server(configured_env: dict[str, str], tmp_path: Path) -> Server:
    env = {**configured_env, "BODY_TIMEOUT": str(TIMEOUT), "HEADER_TIMEOUT": str(TIMEOUT)}
    server = Server(env, tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/v1/projects", "application/json"),
        ("/api/v1/admin/restore", "multipart/form-data; boundary=b0undary"),
        ("/admin/login", "application/x-www-form-urlencoded"),  # open to anyone
    ],
)
def test_a_body_that_does_not_arrive_in_time_is_408_and_the_connection_closed(
    slow_server: Server, path: str, content_type: str
) -> None:
    token = slow_server.admin_token()
    assert token is not None, slow_server.output()
    sock = _connect(slow_server)
    try:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: 1000000\r\n\r\n".encode()
            + {"json": b'{"name": "', "form-data": b"--b0undary\r\n"}.get(
                content_type.split(";")[0].split("/")[1], b"username="
            )
        )
        answer, seconds = _dribble_until_answered(sock, within=TIMEOUT * 6)
        more, closed = _until_closed(sock, TIMEOUT)
        answer += more
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    assert seconds < TIMEOUT * 4, seconds
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert body["error_code"] == "request_timeout"
    assert closed, "the connection stayed open after the 408"


def test_headers_that_do_not_arrive_in_time_close_the_connection(slow_server: Server) -> None:
    sock = _connect(slow_server)
    try:
        sock.sendall(b"GET /api/v1/info HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        answer, seconds = _dribble_until_answered(sock, within=TIMEOUT * 6)
    finally:
        sock.close()
    assert seconds < TIMEOUT * 4, (seconds, answer[:200])
