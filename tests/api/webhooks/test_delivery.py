"""Webhooks end to end: a real aiohttp receiver gets signed deliveries from the event log."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from tests.api.conftest import ApiUser
from tests.api.helpers import created, error_body
from tests.api.webhooks.conftest import (
    Receiver,
    StartApi,
    all_delivered,
    deliveries_of,
    make_user,
    subscribe,
)
from timetracker.commands.messages import ChangeRole, DeactivateUser
from timetracker.domain.webhook import WEBHOOK_EVENT_TYPES
from timetracker.http.keys import time_tracking_key
from timetracker.ops.accounts import operator_stamp


async def test_a_created_project_is_delivered_signed_to_the_subscriber(
    start_api: StartApi, receiver: Receiver
) -> None:
    api = await start_api()
    admin = await make_user(api, "root", ["admin:all"], admin=True)
    webhook, secret = await subscribe(api, admin, receiver.url, ["project.created"])
    assert secret.startswith("whsec_")
    assert webhook["events"] == ["project.created"] and webhook["active"] is True
    assert "secret" not in webhook
    response = await api.post("/api/v1/projects", json={"name": "Apollo"}, headers=admin.headers)
    project = (await response.json())["project"]

    (delivery,) = await receiver.wait_for(1)
    body = delivery.verified(secret)
    assert body["type"] == "project.created"
    assert body["data"] == project
    assert body["position"] == int(response.headers["X-Event-Position"])
    assert body["actor"]["user_id"] == admin.id and body["actor"]["username"] == "root"
    assert body["timestamp"].endswith("Z")
    assert delivery.headers["webhook-signature"].startswith("v1,")
    assert delivery.headers["Content-Type"] == "application/json"

    (shown,) = await deliveries_of(api, admin, webhook["id"], all_delivered(1))
    assert shown["attempts"] == 1
    assert shown["last_status_code"] == 204 and shown["event_type"] == "project.created"
    assert shown["position"] == body["position"]


async def test_unknown_event_types_are_refused(start_api: StartApi, receiver: Receiver) -> None:
    api = await start_api()
    admin = await make_user(api, "root", ["admin:all"], admin=True)
    response = await api.post(
        "/api/v1/webhooks",
        json={"url": receiver.url, "events": ["project.created", "project.exploded"]},
        headers=admin.headers,
    )
    body = await error_body(response, 400, "validation_error")
    assert "events" in body["errors"]


async def test_a_failing_receiver_is_retried_and_then_gets_everything_in_order(
    start_api: StartApi, receiver: Receiver
) -> None:
    api = await start_api()
    admin = await make_user(api, "root", ["admin:all"], admin=True)
    webhook, secret = await subscribe(api, admin, receiver.url, ["project.created"])
    receiver.fail_next = 3
    names = [f"P{i}" for i in range(5)]
    for name in names:
        await api.post("/api/v1/projects", json={"name": name}, headers=admin.headers)

    received = await receiver.wait_for(5)
    assert [d.verified(secret)["data"]["name"] for d in received] == names
    assert receiver.failures == 3
    shown = await deliveries_of(api, admin, webhook["id"], all_delivered(5))
    assert [d["attempts"] for d in shown] == [4, 1, 1, 1, 1]
    assert [d["position"] for d in shown] == sorted(d["position"] for d in shown)
    # The same delivery keeps its webhook-id across attempts; each delivery has its own.
    assert receiver.failed_ids == [received[0].headers["webhook-id"]] * 3
    assert len({d.headers["webhook-id"] for d in received}) == 5


async def test_a_receiver_down_across_a_restart_gets_every_event_once_back(
    start_api: StartApi, receiver: Receiver
) -> None:
    first = await start_api()
    admin = await make_user(first, "root", ["admin:all"], admin=True)
    webhook, secret = await subscribe(first, admin, receiver.url, ["*"])
    await receiver.stop()
    for name in ("A", "B", "C"):
        await first.post("/api/v1/clients", json={"name": name}, headers=admin.headers)
    await deliveries_of(
        first, admin, webhook["id"], lambda shown: bool(shown) and shown[0]["attempts"] >= 1
    )
    await first.close()  # the service stops with deliveries pending

    await receiver.start()  # same port
    second = await start_api()
    received = await receiver.wait_for(3)
    assert [d.verified(secret)["data"]["name"] for d in received] == ["A", "B", "C"]
    await deliveries_of(second, admin, webhook["id"], all_delivered(3))
    assert len(receiver.accepted) == 3
    assert len({d.headers["webhook-id"] for d in receiver.accepted}) == 3


async def test_replay_from_a_position_sends_those_events_again(
    start_api: StartApi, receiver: Receiver
) -> None:
    api = await start_api()
    admin = await make_user(api, "root", ["admin:all"], admin=True)
    webhook, secret = await subscribe(api, admin, receiver.url, ["client.created"])
    for name in ("A", "B", "C"):
        await api.post("/api/v1/clients", json={"name": name}, headers=admin.headers)
    positions = [d.json["position"] for d in await receiver.wait_for(3)]
    await deliveries_of(api, admin, webhook["id"], all_delivered(3))

    response = await api.post(
        f"/api/v1/webhooks/{webhook['id']}/replay",
        json={"from_position": positions[1]},
        headers=admin.headers,
    )
    assert response.status == 202, await response.text()
    assert (await response.json())["deliveries"] == 2
    received = await receiver.wait_for(5)
    again = [d.verified(secret) for d in received[3:]]
    assert [body["data"]["name"] for body in again] == ["B", "C"]
    assert [body["position"] for body in again] == positions[1:]
    assert received[3].headers["webhook-id"] != received[1].headers["webhook-id"]
    shown = await deliveries_of(api, admin, webhook["id"], all_delivered(5))
    assert [d["replay"] for d in shown] == [False, False, False, True, True]


async def test_replay_from_a_time_sends_what_was_recorded_after_it(
    start_api: StartApi, receiver: Receiver
) -> None:
    api = await start_api()
    admin = await make_user(api, "root", ["admin:all"], admin=True)
    webhook, _ = await subscribe(api, admin, receiver.url, ["client.created"])
    await api.post("/api/v1/clients", json={"name": "Before"}, headers=admin.headers)
    await receiver.wait_for(1)
    await asyncio.sleep(0.05)
    moment = datetime.now(UTC)
    await asyncio.sleep(0.05)
    await api.post("/api/v1/clients", json={"name": "After"}, headers=admin.headers)
    await deliveries_of(api, admin, webhook["id"], all_delivered(2))

    response = await api.post(
        f"/api/v1/webhooks/{webhook['id']}/replay",
        json={"from_time": moment.isoformat().replace("+00:00", "Z")},
        headers=admin.headers,
    )
    assert response.status == 202, await response.text()
    received = await receiver.wait_for(3)
    assert received[2].json["data"]["name"] == "After"
    bad = await api.post(f"/api/v1/webhooks/{webhook['id']}/replay", json={}, headers=admin.headers)
    await error_body(bad, 400, "validation_error")


async def test_a_normal_users_webhook_never_carries_another_users_entry(
    start_api: StartApi, receiver: Receiver
) -> None:
    api = await start_api()
    admin = await make_user(api, "root", ["admin:all"], admin=True)
    scopes = ["read:*", "write:*", "read:webhooks", "write:webhooks"]
    alice = await make_user(api, "alice", scopes)
    bob = await make_user(api, "bob", scopes)
    project = await created(api, "/api/v1/projects", {"name": "Shared"}, admin.headers)
    alices, _ = await subscribe(api, alice, receiver.url, ["*"])
    admins, _ = await subscribe(api, admin, receiver.url, ["time_entry.created"])
    entry = {
        "project_id": project["id"],
        "start_time": "2024-01-15T09:00:00Z",
        "end_time": "2024-01-15T10:00:00Z",
    }
    await created(api, "/api/v1/time-entries", entry, bob.headers)
    await created(api, "/api/v1/time-entries", {**entry, "notes": "mine"}, alice.headers)
    await api.post("/api/v1/timer/start", json={"project_id": project["id"]}, headers=bob.headers)
    await api.post("/api/v1/timer/stop", headers=bob.headers)
    await api.post("/api/v1/clients", json={"name": "Visible"}, headers=bob.headers)

    to_alice = await deliveries_of(
        api,
        alice,
        alices["id"],
        lambda shown: any(d["event_type"] == "client.created" for d in shown),
    )
    assert [d["event_type"] for d in to_alice] == ["time_entry.created", "client.created"]
    to_admin = await deliveries_of(api, admin, admins["id"], lambda shown: len(shown) >= 3)
    assert len(to_admin) == 3  # bob's entry, alice's, and bob's timer entry
    mine = [d for d in receiver.accepted if d.json["data"].get("notes") == "mine"]
    assert mine and mine[0].headers["webhook-id"] != ""
    for delivery in receiver.accepted:
        if (
            delivery.json["type"] == "time_entry.created"
            and delivery.json["data"]["user_id"] == bob.id
        ):
            assert delivery.headers["webhook-id"] not in {f"msg_{d['id']}" for d in to_alice}


async def test_a_demoted_owner_stops_receiving_others_entries_and_a_deactivated_one_anything(
    start_api: StartApi, receiver: Receiver
) -> None:
    """Who may read what is the owner's role when the event happened, not at the webhook's
    creation: the dispatcher follows the owner's role changes and deactivation in the log."""
    api = await start_api()
    store = api.app[time_tracking_key]
    loop = asyncio.get_running_loop()
    scopes = ["read:*", "write:*", "read:webhooks", "write:webhooks"]
    root = await make_user(api, "root", ["admin:all"], admin=True)
    boss = await make_user(api, "boss", scopes, admin=True)
    bob = await make_user(api, "bob", scopes)
    project = await created(api, "/api/v1/projects", {"name": "Shared"}, root.headers)
    hook, _ = await subscribe(api, boss, receiver.url, ["time_entry.created"])

    async def entry(user: ApiUser, notes: str) -> None:
        body = {
            "project_id": project["id"],
            "start_time": "2024-01-15T09:00:00Z",
            "end_time": "2024-01-15T10:00:00Z",
            "notes": notes,
        }
        await created(api, "/api/v1/time-entries", body, user.headers)

    await entry(bob, "bob's while boss is an admin")
    demote = ChangeRole(boss.id, "user", operator_stamp())
    await loop.run_in_executor(None, store.change_role, demote)
    await entry(bob, "bob's after the demotion")
    await entry(boss, "boss's own")
    await loop.run_in_executor(
        None, store.deactivate_user, DeactivateUser(boss.id, operator_stamp())
    )
    await entry(bob, "bob's after the deactivation")
    # Deliveries are recorded with the dispatcher's position: once a later event is
    # delivered, every delivery of the events before it is in boss's list.
    roots, _ = await subscribe(api, root, receiver.url, ["project.created"])
    await created(api, "/api/v1/projects", {"name": "Later"}, root.headers)
    await deliveries_of(api, root, roots["id"], all_delivered(1))
    shown = await deliveries_of(api, root, hook["id"], lambda shown: True)
    assert [d["state"] for d in shown] == ["delivered", "delivered"], shown
    notes = [
        d.json["data"]["notes"] for d in receiver.accepted if d.json["type"] == "time_entry.created"
    ]
    assert sorted(notes) == ["bob's while boss is an admin", "boss's own"], notes


async def test_timer_and_status_events_carry_the_resource_after_the_event(
    start_api: StartApi, receiver: Receiver
) -> None:
    api = await start_api()
    admin = await make_user(api, "root", ["admin:all"], admin=True)
    _, secret = await subscribe(
        api,
        admin,
        receiver.url,
        [
            "timer.started",
            "timer.stopped",
            "project.status_changed",
            "task.completed",
            "time_entry.deleted",
        ],
    )
    project = await created(api, "/api/v1/projects", {"name": "Run"}, admin.headers)
    task = await created(
        api, "/api/v1/tasks", {"project_id": project["id"], "name": "Do"}, admin.headers
    )
    started = await api.post(
        "/api/v1/timer/start", json={"project_id": project["id"]}, headers=admin.headers
    )
    entry_id = (await started.json())["timer"]["id"]
    await api.post("/api/v1/timer/stop", headers=admin.headers)
    await api.patch(f"/api/v1/tasks/{task['id']}", json={"status": "done"}, headers=admin.headers)
    await api.delete(f"/api/v1/time-entries/{entry_id}", headers=admin.headers)
    await api.delete(f"/api/v1/projects/{project['id']}", headers=admin.headers)

    received = await receiver.wait_for(5)
    bodies = [d.verified(secret) for d in received]
    assert [b["type"] for b in bodies] == [
        "timer.started",
        "timer.stopped",
        "task.completed",
        "time_entry.deleted",
        "project.status_changed",
    ]
    assert bodies[0]["data"]["id"] == entry_id and bodies[0]["data"]["is_active"] is True
    assert bodies[1]["data"]["is_active"] is False
    assert bodies[2]["data"]["status"] == "done"
    assert bodies[3]["data"] == {"id": entry_id, "deleted": True}
    assert bodies[4]["data"]["status"] == "archived"


async def test_every_event_type_is_delivered_for_the_change_it_names(
    start_api: StartApi, receiver: Receiver
) -> None:
    api = await start_api()
    admin = await make_user(api, "root", ["admin:all"], admin=True)
    _, secret = await subscribe(api, admin, receiver.url, ["*"])
    h = admin.headers

    async def call(method: str, path: str, body: object = None) -> dict[str, Any]:
        response = await api.request(method, f"/api/v1{path}", json=body, headers=h)
        assert response.status in (200, 201), (method, path, await response.text())
        return dict(await response.json())

    client = (await call("POST", "/clients", {"name": "Acme"}))["client"]
    await call("PATCH", f"/clients/{client['id']}", {"name": "Acme Corp"})
    project = (await call("POST", "/projects", {"name": "Site", "client_id": client["id"]}))[
        "project"
    ]
    await call("PATCH", f"/projects/{project['id']}", {"name": "Website"})
    await call("PATCH", f"/projects/{project['id']}", {"status": "on_hold"})
    task = (await call("POST", "/tasks", {"project_id": project["id"], "name": "Do"}))["task"]
    await call("PATCH", f"/tasks/{task['id']}", {"name": "Do it"})
    await call("PATCH", f"/tasks/{task['id']}", {"status": "done"})
    body = {
        "project_id": project["id"],
        "start_time": "2024-01-15T09:00:00Z",
        "end_time": "2024-01-15T10:00:00Z",
    }
    entry = (await call("POST", "/time-entries", body))["time_entry"]
    await call("PATCH", f"/time-entries/{entry['id']}", {"notes": "edited"})
    await call("DELETE", f"/time-entries/{entry['id']}")
    await call("POST", f"/time-entries/{entry['id']}/restore")
    await call("POST", "/timer/start", {"project_id": project["id"]})
    await call("POST", "/timer/stop")
    await call("DELETE", f"/projects/{project['id']}")
    await call("DELETE", f"/clients/{client['id']}")

    # A timer's start and stop are also its entry's creation and update.
    received = await receiver.wait_for(21)
    types = [d.verified(secret)["type"] for d in received]
    assert set(types) == set(WEBHOOK_EVENT_TYPES), " ".join(types)
    assert types.count("project.status_changed") == 2  # on hold, then archived
    assert types.count("time_entry.created") == 2 and types.count("time_entry.updated") == 2
    assert len(types) == 21, " ".join(types)
