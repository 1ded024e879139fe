"""Managing webhooks: owners, scopes, secrets, tests, retries, disabling, history."""

from __future__ import annotations

import asyncio

from tests.api.helpers import PAGINATION_KEYS, error_body
from tests.api.webhooks.conftest import (
    Receiver,
    StartApi,
    all_delivered,
    deliveries_of,
    make_user,
    subscribe,
)

NORMAL = ["read:*", "write:*", "read:webhooks", "write:webhooks"]


async def test_users_manage_their_own_webhooks_and_admins_everyones(
    start_api: StartApi, receiver: Receiver
) -> None:
    api = await start_api()
    admin = await make_user(api, "root", ["admin:all"], admin=True)
    alice = await make_user(api, "alice", NORMAL)
    bob = await make_user(api, "bob", NORMAL)
    hook, _ = await subscribe(api, alice, receiver.url, ["project.created"])
    await subscribe(api, bob, receiver.url, ["*"])
    assert hook["owner_id"] == alice.id

    mine = await (await api.get("/api/v1/webhooks", headers=alice.headers)).json()
    assert [w["id"] for w in mine["webhooks"]] == [hook["id"]]
    assert set(mine["pagination"]) == PAGINATION_KEYS
    everyone = await (await api.get("/api/v1/webhooks", headers=admin.headers)).json()
    assert len(everyone["webhooks"]) == 2
    path = f"/api/v1/webhooks/{hook['id']}"
    for method in ("get", "patch", "delete"):
        kwargs = {"json": {"description": "x"}} if method == "patch" else {}
        response = await getattr(api, method)(path, headers=bob.headers, **kwargs)
        await error_body(response, 404, "not_found")
    for suffix in ("deliveries", "history"):
        await error_body(await api.get(f"{path}/{suffix}", headers=bob.headers), 404, "not_found")
    for suffix in ("test", "rotate-secret"):
        await error_body(await api.post(f"{path}/{suffix}", headers=bob.headers), 404, "not_found")
    response = await api.patch(path, json={"description": "by admin"}, headers=admin.headers)
    assert response.status == 200, await response.text()
    assert (await response.json())["webhook"]["description"] == "by admin"


async def test_webhooks_need_their_scopes(start_api: StartApi, receiver: Receiver) -> None:
    api = await start_api()
    reader = await make_user(api, "reader", ["read:webhooks"])
    other = await make_user(api, "other", ["read:*", "write:*"])
    response = await api.post(
        "/api/v1/webhooks", json={"url": receiver.url, "events": ["*"]}, headers=reader.headers
    )
    body = await error_body(response, 403, "forbidden")
    assert body["required_scope"] == "write:webhooks"
    assert (await api.get("/api/v1/webhooks", headers=reader.headers)).status == 200
    response = await api.get("/api/v1/webhooks", headers=other.headers)
    # read:* covers every read scope, as for the other resources
    assert response.status == 200


async def test_the_secret_is_shown_once_and_rotation_signs_with_the_new_one(
    start_api: StartApi, receiver: Receiver
) -> None:
    api = await start_api()
    admin = await make_user(api, "root", ["admin:all"], admin=True)
    hook, old = await subscribe(api, admin, receiver.url, ["client.created"])
    shown = await (await api.get(f"/api/v1/webhooks/{hook['id']}", headers=admin.headers)).json()
    assert "secret" not in shown["webhook"] and old not in str(shown)
    response = await api.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret", headers=admin.headers)
    assert response.status == 200, await response.text()
    new = (await response.json())["secret"]
    assert new.startswith("whsec_") and new != old
    await api.post("/api/v1/clients", json={"name": "Acme"}, headers=admin.headers)
    (delivery,) = await receiver.wait_for(1)
    assert delivery.verified(new)["data"]["name"] == "Acme"

    history = await api.get(f"/api/v1/webhooks/{hook['id']}/history", headers=admin.headers)
    assert history.status == 200, await history.text()
    text = await history.text()
    assert old not in text and new not in text
    events = [v["event"] for v in (await history.json())["history"]]
    assert events == ["WebhookCreated", "WebhookSecretRotated"]
    feed = await api.get("/api/v1/events?after=0&resource=webhook", headers=admin.headers)
    assert feed.status == 200, await feed.text()
    assert old not in await feed.text()


async def test_a_test_delivery_reaches_the_receiver(
    start_api: StartApi, receiver: Receiver
) -> None:
    api = await start_api()
    admin = await make_user(api, "root", ["admin:all"], admin=True)
    hook, secret = await subscribe(api, admin, receiver.url, ["task.completed"])
    response = await api.post(f"/api/v1/webhooks/{hook['id']}/test", headers=admin.headers)
    assert response.status == 202, await response.text()
    (delivery,) = await receiver.wait_for(1)
    body = delivery.verified(secret)
    assert body["type"] == "webhook.test" and body["data"]["webhook_id"] == hook["id"]


async def test_a_delivery_failing_for_a_day_fails_and_disables_the_webhook(
    start_api: StartApi, receiver: Receiver
) -> None:
    api = await start_api(webhooks_retry_scale=0.00002)  # a "day" of retries in ~1.7 s
    admin = await make_user(api, "root", ["admin:all"], admin=True)
    hook, _ = await subscribe(api, admin, receiver.url, ["client.created"])
    receiver.fail_next = 10**6
    await api.post("/api/v1/clients", json={"name": "Acme"}, headers=admin.headers)
    (delivery,) = await deliveries_of(
        api, admin, hook["id"], lambda shown: bool(shown) and shown[0]["state"] == "failed"
    )
    assert delivery["attempts"] >= 3 and delivery["last_status_code"] == 500
    assert delivery["last_response"] == "receiver failing on purpose"
    async with asyncio.timeout(10):
        while True:
            shown = await api.get(f"/api/v1/webhooks/{hook['id']}", headers=admin.headers)
            webhook = (await shown.json())["webhook"]
            if not webhook["active"]:
                break
            await asyncio.sleep(0.05)
    assert "HTTP 500" in webhook["disabled_reason"]
    health = await (await api.get("/api/v1/health")).json()
    assert health["checks"]["webhooks"]["disabled_subscriptions"] == 1

    # Retried by hand and re-enabled, it goes out.
    receiver.fail_next = 0
    path = f"/api/v1/webhooks/{hook['id']}"
    response = await api.post(f"{path}/deliveries/{delivery['id']}/retry", headers=admin.headers)
    assert response.status == 202, await response.text()
    response = await api.patch(path, json={"active": True}, headers=admin.headers)
    assert (await response.json())["webhook"]["disabled_reason"] is None
    await receiver.wait_for(1)
    await deliveries_of(api, admin, hook["id"], all_delivered(1))
    missing = await api.post(f"{path}/deliveries/999999/retry", headers=admin.headers)
    await error_body(missing, 404, "not_found")


async def test_a_paused_or_deleted_webhook_gets_nothing(
    start_api: StartApi, receiver: Receiver
) -> None:
    api = await start_api()
    admin = await make_user(api, "root", ["admin:all"], admin=True)
    paused, _ = await subscribe(api, admin, receiver.url, ["client.created"])
    deleted, _ = await subscribe(api, admin, receiver.url, ["client.created"])
    live, _ = await subscribe(api, admin, receiver.url, ["client.created"])
    response = await api.patch(
        f"/api/v1/webhooks/{paused['id']}", json={"active": False}, headers=admin.headers
    )
    assert response.status == 200
    response = await api.delete(f"/api/v1/webhooks/{deleted['id']}", headers=admin.headers)
    assert response.status == 200
    await error_body(
        await api.get(f"/api/v1/webhooks/{deleted['id']}", headers=admin.headers), 404, "not_found"
    )
    await api.post("/api/v1/clients", json={"name": "Acme"}, headers=admin.headers)
    await deliveries_of(api, admin, live["id"], all_delivered(1))
    await asyncio.sleep(0.2)
    assert len(receiver.accepted) == 1
    shown = await api.get(f"/api/v1/webhooks/{paused['id']}/deliveries", headers=admin.headers)
    assert (await shown.json())["deliveries"] == []


async def test_pending_deliveries_count_only_webhooks_that_send(
    start_api: StartApi, receiver: Receiver
) -> None:
    """A deleted webhook's deliveries are never sent: the health check counted them."""
    api = await start_api()  # retries minutes apart: the failed delivery stays pending
    admin = await make_user(api, "root", ["admin:all"], admin=True)
    hook, _ = await subscribe(api, admin, receiver.url, ["client.created"])
    receiver.fail_next = 10**6
    await api.post("/api/v1/clients", json={"name": "Acme"}, headers=admin.headers)
    await deliveries_of(api, admin, hook["id"], lambda shown: bool(shown) and shown[0]["attempts"])

    async def pending() -> int:
        health = await (await api.get("/api/v1/health")).json()
        return int(health["checks"]["webhooks"]["pending_deliveries"])

    assert await pending() == 1
    response = await api.delete(f"/api/v1/webhooks/{hook['id']}", headers=admin.headers)
    assert response.status == 200
    # The dispatcher learns of the deletion from the log, a moment after the answer.
    async with asyncio.timeout(10):
        while await pending() != 0:
            await asyncio.sleep(0.05)


async def test_the_health_check_shows_the_dispatcher(start_api: StartApi) -> None:
    api = await start_api()
    admin = await make_user(api, "root", ["admin:all"], admin=True)
    await api.post("/api/v1/clients", json={"name": "Acme"}, headers=admin.headers)
    async with asyncio.timeout(10):
        while True:
            body = await (await api.get("/api/v1/health")).json()
            webhooks = body["checks"]["webhooks"]
            if webhooks["lag_events"] == 0 and webhooks["state"] == "running":
                break
            await asyncio.sleep(0.05)
    assert webhooks["position"] == webhooks["head"] > 0
    assert webhooks["failing_subscriptions"] == []


async def test_redirects_are_not_followed_and_responses_are_kept_to_1_kib(
    start_api: StartApi, receiver: Receiver
) -> None:
    api = await start_api()
    admin = await make_user(api, "root", ["admin:all"], admin=True)
    hook, _ = await subscribe(api, admin, receiver.url, ["client.created"])
    receiver.fail_next, receiver.fail_status, receiver.fail_body = 10**6, 302, "x" * 5000
    await api.post("/api/v1/clients", json={"name": "Acme"}, headers=admin.headers)
    (delivery,) = await deliveries_of(
        api, admin, hook["id"], lambda shown: bool(shown) and shown[0]["attempts"] >= 2
    )
    assert (delivery["state"], delivery["last_status_code"]) == ("pending", 302)
    assert delivery["last_response"] == "x" * 1024
    assert delivery["next_attempt_at"] is not None
    assert receiver.redirected == 0
    receiver.fail_next = 0
    await deliveries_of(api, admin, hook["id"], all_delivered(1))
    assert receiver.redirected == 0 and len(receiver.accepted) == 1
