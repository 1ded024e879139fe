"""Where a webhook may point: refused at creation with 400 `webhook_url_forbidden`, and
refused again at connect time when a name changes its answer (DNS rebinding)."""

from __future__ import annotations

from tests.api.helpers import error_body
from tests.api.webhooks.conftest import (
    Receiver,
    StartApi,
    deliveries_of,
    make_user,
    subscribe,
)
from tests.unit.webhooks.resolvers import RebindingResolver, TableResolver
from timetracker.webhooks.ssrf import AddressGuard

DEFAULTS = {"webhooks_allow_http": False, "webhooks_allow_private_networks": False}
FORBIDDEN_URLS = [
    "http://hooks.example.test/in",  # plain http
    "https://127.0.0.1/in",
    "https://10.0.0.8/in",
    "https://172.20.1.1/in",
    "https://192.168.10.10/in",
    "https://169.254.10.10/in",
    "https://100.64.3.3/in",
    "https://224.0.0.251/in",
    "https://240.1.2.3/in",
    "https://0.0.0.0/in",
    "https://[::1]/in",
    "https://[fe80::1]/in",
    "https://[fd00::1]/in",
    "https://[::ffff:127.0.0.1]/in",
    "https://[::ffff:a9fe:a9fe]/in",  # ::ffff:169.254.169.254
    "https://169.254.169.254/latest/meta-data/",
    "https://[fd00:ec2::254]/latest/meta-data/",
    "https://2130706433/in",  # 127.0.0.1 as one number
    "https://localhost/in",  # the system's resolver: loopback
    "https://intranet.example.test/in",  # resolves to a private address
    "https://metadata.example.test/in",  # resolves to the metadata address
]


async def test_every_forbidden_target_is_refused_at_creation(start_api: StartApi) -> None:
    resolver = TableResolver(
        {
            "localhost": ["127.0.0.1"],
            "2130706433": ["127.0.0.1"],
            "intranet.example.test": ["10.20.30.40"],
            "metadata.example.test": ["169.254.169.254"],
        }
    )
    api = await start_api(**DEFAULTS, guard=AddressGuard(resolver=resolver))
    admin = await make_user(api, "root", ["admin:all"], admin=True)
    for url in FORBIDDEN_URLS:
        response = await api.post(
            "/api/v1/webhooks", json={"url": url, "events": ["*"]}, headers=admin.headers
        )
        body = await error_body(response, 400, "webhook_url_forbidden")
        assert "url" in body["errors"], url
    listed = await api.get("/api/v1/webhooks", headers=admin.headers)
    assert (await listed.json())["webhooks"] == []


async def test_what_is_no_url_at_all_is_a_validation_error(start_api: StartApi) -> None:
    api = await start_api(**DEFAULTS)
    admin = await make_user(api, "root", ["admin:all"], admin=True)
    for url in ("not a url", "https://8.8.8.8:99999/", "https://", "http://[::1", "//x.test/"):
        response = await api.post(
            "/api/v1/webhooks", json={"url": url, "events": ["*"]}, headers=admin.headers
        )
        body = await error_body(response, 400, "validation_error")
        assert "url" in body["errors"], url


async def test_localhost_is_refused_through_the_systems_resolver(start_api: StartApi) -> None:
    api = await start_api(**DEFAULTS)
    admin = await make_user(api, "root", ["admin:all"], admin=True)
    response = await api.post(
        "/api/v1/webhooks",
        json={"url": "https://localhost:8443/in", "events": ["*"]},
        headers=admin.headers,
    )
    await error_body(response, 400, "webhook_url_forbidden")


async def test_a_changed_url_is_checked_too(start_api: StartApi) -> None:
    resolver = TableResolver({"public.example.test": ["93.184.216.34"]})
    api = await start_api(**DEFAULTS, guard=AddressGuard(resolver=resolver))
    admin = await make_user(api, "root", ["admin:all"], admin=True)
    webhook, _ = await subscribe(api, admin, "https://public.example.test/in", ["*"])
    response = await api.patch(
        f"/api/v1/webhooks/{webhook['id']}",
        json={"url": "https://169.254.169.254/"},
        headers=admin.headers,
    )
    await error_body(response, 400, "webhook_url_forbidden")


async def test_metadata_addresses_stay_refused_with_private_networks_allowed(
    start_api: StartApi,
) -> None:
    api = await start_api()  # http and private networks allowed, as the other tests
    admin = await make_user(api, "root", ["admin:all"], admin=True)
    for url in ("http://169.254.169.254/", "http://[fd00:ec2::254]/"):
        response = await api.post(
            "/api/v1/webhooks", json={"url": url, "events": ["*"]}, headers=admin.headers
        )
        await error_body(response, 400, "webhook_url_forbidden")


async def test_a_name_that_rebinds_to_a_private_address_is_refused_at_connect_time(
    start_api: StartApi, receiver: Receiver
) -> None:
    # Public when the webhook is created, the receiver's loopback address when delivering.
    rebinding = RebindingResolver("rebind.example.test", "93.184.216.34", "127.0.0.1")
    guard = AddressGuard(allow_http=True, allow_private=False, resolver=rebinding)
    api = await start_api(webhooks_allow_private_networks=False, guard=guard)
    admin = await make_user(api, "root", ["admin:all"], admin=True)
    url = f"http://rebind.example.test:{receiver.port}/hook"
    webhook, _ = await subscribe(api, admin, url, ["client.created"])
    await api.post("/api/v1/clients", json={"name": "Acme"}, headers=admin.headers)

    (delivery,) = await deliveries_of(
        api, admin, webhook["id"], lambda shown: bool(shown) and shown[0]["attempts"] >= 2
    )
    assert delivery["state"] == "pending" and delivery["last_status_code"] is None
    assert "127.0.0.1" in delivery["last_error"] and "Refused" in delivery["last_error"]
    assert rebinding.calls >= 3  # the check, then once per connection
    assert receiver.accepted == [] and receiver.failures == 0
