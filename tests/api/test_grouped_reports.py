"""Grouped reports over HTTP: every key and pair of keys against an independent computation
over random entries around a daylight-saving change, money to the cent, filters, `as_of`,
the user's time zone, and the 400s."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, MakeUser
from tests.api.helpers import created, error_body
from tests.api.reportkit import (
    WINDOW,
    Expected,
    World,
    expected_groups,
    got,
    hours,
    key_of,
    make_world,
)
from tests.api.timekit import SUMMARY, get_json, new_project, summary
from timetracker.http.keys import report_groups_view_key
from timetracker.projections.report_groups_view import ReportWindow

BERLIN = f"{WINDOW}&tz=Europe/Berlin"


def _check(report: dict[str, Any], world: World, keys: tuple[str, ...], inside: Any) -> None:
    expected = expected_groups(inside, keys)
    groups = report["groups"]
    assert {key_of(g, keys[0]) for g in groups} == set(expected)
    totals = Expected()
    for entry in inside:
        totals.add(entry)
    assert got(report) == totals.json()
    for group in groups:
        want = expected[key_of(group, keys[0])]
        if len(keys) == 1:
            assert got(group) == want.json(), group
            continue
        outer, inner = want
        assert got(group) == outer.json(), group
        assert {key_of(g, keys[1]): got(g) for g in group["groups"]} == {
            k: v.json() for k, v in inner.items()
        }
        if keys[1] != "tag":  # each entry counts once: the inner groups add up exactly
            assert sum(g["entries"] for g in group["groups"]) == group["entries"]
            assert sum(round(g["billable_amount"] * 100) for g in group["groups"]) == round(
                group["billable_amount"] * 100
            )
    if keys[0] != "tag":
        assert sum(g["entries"] for g in groups) == report["total_entries"]
        assert sum(round(g["billable_amount"] * 100) for g in groups) == round(
            report["billable_amount"] * 100
        )


async def test_every_grouping_matches_an_independent_computation_in_a_dst_zone(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    world = await make_world(api, admin, make_user, count=36)
    inside = world.inside()
    assert len(inside) < len(world.entries)  # some fell outside the zone's window

    for keys in [
        ("project",),
        ("client",),
        ("task",),
        ("user",),
        ("tag",),
        ("day",),
        ("week",),
        ("month",),
        ("user", "day"),
        ("client", "project"),
        ("project", "tag"),
        ("tag", "week"),
        ("day", "user"),
    ]:
        report = await summary(api, admin, f"{BERLIN}&group_by={','.join(keys)}")
        assert report["group_by"] == list(keys)
        _check(report, world, keys, inside)

    days = await summary(api, admin, f"{BERLIN}&group_by=day")
    assert [g["day"] for g in days["groups"]] == [f"2024-03-{d}" for d in range(25, 32)]
    assert (days["start_date"], days["end_date"]) == (
        "2024-03-24T23:00:00Z",
        "2024-03-31T21:59:59Z",
    )
    assert (days["tz"], days["currency"]) == ("Europe/Berlin", "EUR")
    # by_project stays, with its money
    by_project = {g["project_id"]: got(g) for g in days["by_project"]}
    assert by_project == {k: v.json() for k, v in expected_groups(inside, ("project",)).items()}

    # Once a user works in Berlin, its day sums are kept: the same reports, without summing
    # every entry (the keys and filters they can answer), and the same numbers.
    view = api.server.app[report_groups_view_key]
    window = ReportWindow(start=None, end=None, tz="Europe/Berlin", days=(date(2024, 3, 25),) * 2)
    assert not (await view.report(("user", "day"), window)).from_days
    response = await api.patch(
        "/api/v1/users/me", json={"timezone": "Europe/Berlin"}, headers=world.alice.headers
    )
    assert response.status == 200
    assert (await view.report(("user", "day"), window)).from_days
    site = world.projects["Site"]
    acme = next(e.client_id for e in inside if e.client_name == "ACME")
    for keys, query, chosen in [
        (("project",), "", inside),
        (("client",), "", inside),
        (("user",), "", inside),
        (("user", "day"), "", inside),
        (("month", "project"), "", inside),
        (("client", "week"), "", inside),
        (("day",), f"&project_id={site}", [e for e in inside if e.project_id == site]),
        (("user",), f"&client_id={acme}", [e for e in inside if e.client_id == acme]),
        (
            ("project",),
            f"&user_id={world.bob.id}",
            [e for e in inside if e.user_id == world.bob.id],
        ),
    ]:
        report = await summary(api, admin, f"{BERLIN}&group_by={','.join(keys)}{query}")
        _check(report, world, keys, chosen)
    plain = await summary(api, admin, BERLIN)
    assert got(plain) == got(days)
    assert plain["by_project"] == days["by_project"]


async def test_labels_nulls_and_filters(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    world = await make_world(api, admin, make_user, count=16)
    inside = world.inside()

    report = await summary(api, admin, f"{BERLIN}&group_by=client,task")
    names = {g["client_id"]: g["client_name"] for g in report["groups"]}
    assert names == {e.client_id: e.client_name for e in inside}
    assert report["groups"][-1]["client_id"] is None  # the group without a client comes last
    tasks = {t["task_id"]: t["task_name"] for g in report["groups"] for t in g["groups"]}
    assert tasks == {e.task_id: e.task_name for e in inside}
    users = await summary(api, admin, f"{BERLIN}&group_by=user")
    assert {g["user_id"]: g["username"] for g in users["groups"]} == {
        e.user_id: e.username for e in inside
    }

    site, odd = world.projects["Site"], world.projects["Odd"]
    acme = next(e.client_id for e in inside if e.client_name == "ACME")
    for query, chosen in [
        (f"project_id={site},{odd}", [e for e in inside if e.project_id in (site, odd)]),
        # a list given twice is both (it kept the last one given)
        (f"project_id={site}&project_id={odd}", [e for e in inside if e.project_id in (site, odd)]),
        (f"client_id={acme}", [e for e in inside if e.client_id == acme]),
        ("tag=a,=cmd", [e for e in inside if {"a", "=cmd"} & set(e.tags)]),
        ("billable=false", [e for e in inside if not e.billable]),
        (f"user_id={world.bob.id}", [e for e in inside if e.user_id == world.bob.id]),
        (
            f"task_id={next(e.task_id for e in inside if e.task_id)}",
            [e for e in inside if e.task_id == next(x.task_id for x in inside if x.task_id)],
        ),
    ]:
        report = await summary(api, admin, f"{BERLIN}&group_by=user,day&{query}")
        _check(report, world, ("user", "day"), chosen)

    # a normal user sums only their own time, and may not ask for anyone else's
    alices = await summary(api, world.alice, f"{BERLIN}&group_by=user")
    assert [g["user_id"] for g in alices["groups"]] == [world.alice.id]
    response = await api.get(
        f"{SUMMARY}?{BERLIN}&user_id={world.bob.id}", headers=world.alice.headers
    )
    await error_body(response, 403, "forbidden")


async def test_rates_in_force_change_reports_but_not_reports_as_of_before(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    world = await make_world(api, admin, make_user, count=10)
    inside = world.inside()
    query = f"{BERLIN}&group_by=project,day"
    before = await summary(api, admin, query)
    moment = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    site = world.projects["Site"]
    response = await api.patch(
        f"/api/v1/projects/{site}", json={"hourly_rate": 10}, headers=admin.headers
    )
    assert response.status == 200, await response.text()
    entry = inside[0]
    owner = world.alice if entry.user_id == world.alice.id else world.bob
    response = await api.delete(f"/api/v1/time-entries/{entry.id}", headers=owner.headers)
    assert response.status == 200, await response.text()

    then = await get_json(api, f"{SUMMARY}?{query}&as_of={moment}", admin)
    assert {k: v for k, v in then["summary"].items() if k not in ("as_of", "position")} == before

    now = await summary(api, admin, query)
    moved = [
        replace(e, rate=Decimal(10)) if e.project_id == site else e
        for e in inside
        if e.id != entry.id
    ]
    _check(now, world, ("project", "day"), moved)


async def test_the_users_time_zone_is_the_default_and_unknown_zones_are_400(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    alice = await make_user("alice", ["read:*", "write:*"])
    project_response = await api.post(
        "/api/v1/projects", json={"name": "Web"}, headers=admin.headers
    )
    project = (await project_response.json())["project"]["id"]
    # 23:30Z on the 30th is 00:30 on the 31st in Berlin
    response = await api.post(
        "/api/v1/time-entries",
        json={
            "project_id": project,
            "start_time": "2024-03-30T23:30:00Z",
            "end_time": "2024-03-31T00:30:00Z",
        },
        headers=alice.headers,
    )
    assert response.status == 201
    utc_days = await summary(api, alice, "start_date=2024-03-30&end_date=2024-03-31&group_by=day")
    assert [g["day"] for g in utc_days["groups"]] == ["2024-03-30"]

    response = await api.patch(
        "/api/v1/users/me", json={"timezone": "Europe/Berlin"}, headers=alice.headers
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["user"]["timezone"] == "Europe/Berlin"
    me = await get_json(api, "/api/v1/users/me", alice)
    assert me["user"]["timezone"] == "Europe/Berlin"
    berlin_days = await summary(
        api, alice, "start_date=2024-03-30&end_date=2024-03-31&group_by=day"
    )
    assert berlin_days["tz"] == "Europe/Berlin"
    assert [g["day"] for g in berlin_days["groups"]] == ["2024-03-31"]
    # an explicit tz still wins
    explicit = await summary(api, alice, "start_date=2024-03-30&end_date=2024-03-31&tz=UTC")
    assert explicit["tz"] == "UTC"

    not_iana = ("localtime", "posixrules", "Factory", "posix/Europe/Berlin", "right/UTC")
    for body in (
        {"timezone": "Mars/Olympus"},
        {"timezone": ""},
        {"timezone": 3},
        {},
        *({"timezone": name} for name in not_iana),  # the host's zone, copies, placeholders
    ):
        response = await api.patch("/api/v1/users/me", json=body, headers=alice.headers)
        await error_body(response, 400, "validation_error")


async def test_bad_grouping_zone_and_filters_are_400(api: TestClient, admin: ApiUser) -> None:
    for query, field in [
        ("group_by=planet", "group_by"),
        ("group_by=user,day,month", "group_by"),
        ("group_by=user,user", "group_by"),
        ("group_by=", "group_by"),
        ("group_by=user,", "group_by"),
        ("tz=Mars/Olympus", "tz"),
        ("tz=../../etc/passwd", "tz"),
        ("tz=localtime", "tz"),  # whatever zone the server's host is in
        ("tz=posix/Europe/Berlin", "tz"),
        ("tz=", "tz"),
        ("client_id=abc", "client_id"),
        ("project_id=1,-2", "project_id"),
        ("task_id=0", "task_id"),
        ("billable=maybe", "billable"),
    ]:
        for path in (SUMMARY, f"{SUMMARY}/export", "/api/v1/time-entries/export"):
            if path.endswith("time-entries/export") and field == "group_by":
                continue
            response = await api.get(f"{path}?{query}", headers=admin.headers)
            body = await error_body(response, 400, "validation_error")
            assert field in body["errors"], (path, query, body)
    for path in (f"{SUMMARY}/export", "/api/v1/time-entries/export"):
        response = await api.get(f"{path}?format=pdf", headers=admin.headers)
        body = await error_body(response, 400, "validation_error")
        assert "format" in body["errors"]


async def test_the_openapi_document_describes_every_report_parameter(api: TestClient) -> None:
    response = await api.get("/api/docs/openapi.json")
    document = await response.json()
    paths = document["paths"]

    def parameters(path: str) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in paths[path]["get"]["parameters"] if p["in"] == "query"}

    summary_params = parameters("/api/v1/reports/summary")
    group_by = summary_params["group_by"]
    for key in ("project", "client", "task", "user", "tag", "day", "week", "month"):
        assert key in group_by["schema"]["pattern"]
        assert f"`{key}`" in group_by["description"]
    assert "IANA" in summary_params["tz"]["description"]
    for name in ("client_id", "task_id", "tag", "billable", "user_id", "project_id", "as_of"):
        assert summary_params[name].get("description"), name
    for path in ("/api/v1/reports/summary/export", "/api/v1/time-entries/export"):
        params = parameters(path)
        assert params["format"]["schema"]["enum"] == ["csv", "xlsx"]
        assert "IANA" in params["tz"]["description"]
    me = paths["/api/v1/users/me"]["patch"]
    assert me["requestBody"]


async def test_weeks_and_months_split_at_the_zones_midnight_across_their_boundaries(
    api: TestClient, admin: ApiUser
) -> None:
    """Entries around a month's end and two ISO weeks' ends in Berlin (CEST), grouped by
    month then week, against the keys Python's zoneinfo and isocalendar give."""
    project = await new_project(api, admin, "Edges")
    starts = [  # (UTC start, minutes)
        (datetime(2024, 4, 28, 21, 59, tzinfo=UTC), 1),  # Sun 28 Apr 23:59: W17, April
        (datetime(2024, 4, 28, 22, 0, tzinfo=UTC), 3),  # Mon 29 Apr 00:00: W18, April
        (datetime(2024, 4, 30, 21, 59, tzinfo=UTC), 5),  # Tue 30 Apr 23:59: W18, April
        (datetime(2024, 4, 30, 22, 0, tzinfo=UTC), 7),  # Wed 1 May 00:00: W18, May
        (datetime(2024, 5, 5, 21, 59, tzinfo=UTC), 11),  # Sun 5 May 23:59: W18, May
        (datetime(2024, 5, 5, 22, 0, tzinfo=UTC), 13),  # Mon 6 May 00:00: W19, May
        (datetime(2024, 5, 12, 22, 0, tzinfo=UTC), 17),  # Mon 13 May 00:00: after the window
    ]
    expected: dict[tuple[str, str], list[int]] = {}
    for start, minutes in starts:
        end = start + timedelta(minutes=minutes)
        body = {"project_id": project, "start_time": _utc(start), "end_time": _utc(end)}
        await created(api, "/api/v1/time-entries", body, admin.headers)
        local = start.astimezone(ZoneInfo("Europe/Berlin"))
        iso = local.isocalendar()
        if local.date() <= date(2024, 5, 12):
            key = (local.strftime("%Y-%m"), f"{iso.year}-W{iso.week:02d}")
            expected.setdefault(key, []).append(minutes * 60)

    report = await summary(
        api,
        admin,
        "start_date=2024-04-28&end_date=2024-05-12&tz=Europe/Berlin&group_by=month,week",
    )
    shown = {
        (month["month"], week["week"]): (week["hours"], week["entries"])
        for month in report["groups"]
        for week in month["groups"]
    }
    assert shown == {k: (hours(sum(v)), len(v)) for k, v in expected.items()}
    assert list(shown) == [
        ("2024-04", "2024-W17"),
        ("2024-04", "2024-W18"),
        ("2024-05", "2024-W18"),
        ("2024-05", "2024-W19"),
    ]
    assert report["total_entries"] == 6


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
