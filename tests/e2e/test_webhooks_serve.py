"""Webhooks from a real `timetracker serve` (the dispatcher runs in its projections
process): a receiver down across a restart of `serve` gets every event once it is back."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook

from tests.e2e.service import Server, call, free_port, run_cli, wait_for

pytestmark = pytest.mark.e2e


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return None


@contextmanager
def receiver(port: int, received: list[tuple[dict[str, str], bytes]]) -> Iterator[None]:
    """A webhook receiver on 127.0.0.1:`port` while the context lasts."""
    handler = type("Hook", (_Hook,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def test_a_receiver_down_across_a_restart_of_serve_gets_every_event(
    configured_env: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **configured_env,
        "WEBHOOKS_ALLOW_HTTP": "true",
        "WEBHOOKS_ALLOW_PRIVATE_NETWORKS": "true",
        "WEBHOOKS_RETRY_SCALE": "0.002",
    }
    server = Server(env, tmp_path, args=("--workers", "1"))
    port = free_port()
    received: list[tuple[dict[str, str], bytes]] = []
    try:
        server.start()
        token = server.admin_token()
        assert token is not None
        api = f"{server.base_url}/api/v1"
        url = f"http://127.0.0.1:{port}/hook"
        created = call("POST", f"{api}/webhooks", token, {"url": url, "events": ["*"]})
        assert created.status == 201, created.body
        secret, hook_id = created.body["secret"], created.body["webhook"]["id"]
        for name in ("One", "Two", "Three"):
            assert call("POST", f"{api}/clients", token, {"name": name}).status == 201
        deliveries = f"{api}/webhooks/{hook_id}/deliveries"
        assert wait_for(
            lambda: any(
                d["attempts"] > 0 for d in call("GET", deliveries, token).body["deliveries"]
            ),
            15,
        ), server.output()
        assert server.stop() == 0

        with receiver(port, received):
            server.start()
            assert wait_for(lambda: len(received) >= 3, 20), server.output()
            assert wait_for(
                lambda: all(
                    d["state"] == "delivered"
                    for d in call("GET", deliveries, token).body["deliveries"]
                ),
                15,
            )
        bodies = [StandardWebhook(secret).verify(body, headers) for headers, body in received]
        assert [b["data"]["name"] for b in bodies] == ["One", "Two", "Three"]
        assert len({headers["webhook-id"] for headers, _ in received}) == 3
        status = run_cli(env, tmp_path, "projections", "status").stdout
        assert status.splitlines()[-1].startswith("dispatcher "), status
        assert " running (" in status.splitlines()[-1], status
    finally:
        server.kill()
