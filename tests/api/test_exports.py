"""Exports over HTTP: time entries and summaries as CSV (read back with Python's `csv`) and XLSX
(read back with openpyxl), with the report's numbers, escaped cells and file names."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import openpyxl
import pytest
from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, MakeUser
from tests.api.helpers import error_body
from tests.api.reportkit import BERLIN, WINDOW, Logged, got, hours, make_world
from tests.api.timekit import summary
from timetracker.http import export_files

ENTRY_EXPORT = "/api/v1/time-entries/export"
SUMMARY_EXPORT = "/api/v1/reports/summary/export"
QUERY = f"{WINDOW}&tz=Europe/Berlin"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def _download(
    api: TestClient, path: str, user: ApiUser, content_type: str
) -> tuple[bytes, Any]:
    response = await api.get(path, headers=user.headers)
    body = await response.read()
    assert response.status == 200, body[:500]
    assert response.headers["Content-Type"].startswith(content_type)
    return body, response.headers


def _csv(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"), newline="")))


def _xlsx(body: bytes) -> list[dict[str, Any]]:
    sheet = openpyxl.load_workbook(io.BytesIO(body), read_only=True).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    header = [str(h) for h in rows[0]]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def _escaped(text: str | None) -> str:
    if not text:
        return ""
    return "'" + text if text[0] in "=+-@\t\r" else text


def _expected_row(entry: Logged) -> dict[str, Any]:
    start = entry.start.astimezone(BERLIN)
    return {
        "id": entry.id,
        "date": start.date().isoformat(),
        "start_time": start.isoformat(),
        "duration_hours": hours(entry.seconds),
        "user": entry.username,
        "client": entry.client_name,
        "project": entry.project_name,
        "task": entry.task_name,
        "notes": entry.notes,
        "tags": ",".join(entry.tags),
        "billable": entry.billable,
        "hourly_rate": float(entry.rate),
        "cents": entry.cents,
    }


async def test_time_entries_export_as_csv_and_xlsx_with_the_reports_numbers(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    world = await make_world(api, admin, make_user, count=24)
    inside = sorted(world.inside(), key=lambda e: (e.start, e.id), reverse=True)
    report = await summary(api, admin, QUERY)

    body, headers = await _download(api, f"{ENTRY_EXPORT}?{QUERY}", admin, "text/csv")
    assert headers["Content-Disposition"] == 'attachment; filename="time-entries.csv"'
    assert b"\r\n" in body  # RFC 4180 line ends
    rows = _csv(body)
    assert list(rows[0]) == [
        "id",
        "date",
        "start_time",
        "end_time",
        "duration_hours",
        "user",
        "client",
        "project",
        "task",
        "notes",
        "tags",
        "billable",
        "hourly_rate",
        "billable_amount",
    ]
    assert [int(r["id"]) for r in rows] == [e.id for e in inside]
    for row, entry in zip(rows, inside, strict=True):
        want = _expected_row(entry)
        assert row["date"] == want["date"] and row["start_time"] == want["start_time"]
        end = entry.start + timedelta(seconds=entry.seconds)
        assert row["end_time"] == end.astimezone(BERLIN).isoformat()
        assert float(row["duration_hours"]) == want["duration_hours"]
        assert (row["user"], row["project"]) == (want["user"], want["project"])
        assert row["client"] == _escaped(want["client"])  # "=Bare" is escaped
        assert row["task"] == (want["task"] or "")
        assert row["notes"] == _escaped(want["notes"])  # formulas escaped, quotes and newlines kept
        assert row["tags"] == _escaped(want["tags"])
        assert row["billable"] == ("true" if want["billable"] else "false")
        assert float(row["hourly_rate"]) == want["hourly_rate"]
        assert round(float(row["billable_amount"]) * 100) == want["cents"]
    assert len(rows) == report["total_entries"]
    assert sum(round(float(r["billable_amount"]) * 100) for r in rows) == got(report)[3]

    body, headers = await _download(api, f"{ENTRY_EXPORT}?{QUERY}&format=xlsx", admin, XLSX)
    assert headers["Content-Disposition"] == 'attachment; filename="time-entries.xlsx"'
    sheet = _xlsx(body)
    assert [int(r["id"]) for r in sheet] == [e.id for e in inside]
    for row, entry in zip(sheet, inside, strict=True):
        want = _expected_row(entry)
        assert row["notes"] == want["notes"]  # typed string cells: no escaping needed
        assert row["client"] == want["client"]
        assert row["billable"] is want["billable"]
        assert row["duration_hours"] == want["duration_hours"]
        assert round(row["billable_amount"] * 100) == want["cents"]
    assert sum(round(r["billable_amount"] * 100) for r in sheet) == got(report)[3]

    # a normal user exports only their own entries
    body, _ = await _download(api, f"{ENTRY_EXPORT}?{QUERY}", world.alice, "text/csv")
    assert {r["user"] for r in _csv(body)} == {"alice"}
    response = await api.get(f"{ENTRY_EXPORT}?user_id={world.bob.id}", headers=world.alice.headers)
    await error_body(response, 403, "forbidden")


async def test_summary_export_has_one_row_per_innermost_group_with_the_reports_numbers(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    await make_world(api, admin, make_user, count=16)
    query = f"{QUERY}&group_by=user,day"
    report = await summary(api, admin, query)
    expected = [
        {"user_id": g["user_id"], "username": g["username"], **inner}
        for g in report["groups"]
        for inner in g["groups"]
    ]

    body, headers = await _download(api, f"{SUMMARY_EXPORT}?{query}", admin, "text/csv")
    assert headers["Content-Disposition"] == (
        'attachment; filename="summary-2024-03-25-2024-03-31.csv"'
    )
    rows = _csv(body)
    assert list(rows[0]) == [
        "user_id",
        "username",
        "day",
        "hours",
        "billable_hours",
        "entries",
        "billable_amount",
        "currency",
    ]
    assert len(rows) == len(expected)
    for row, want in zip(rows, expected, strict=True):
        assert (int(row["user_id"]), row["username"], row["day"]) == (
            want["user_id"],
            want["username"],
            want["day"],
        )
        assert float(row["hours"]) == want["hours"]
        assert float(row["billable_hours"]) == want["billable_hours"]
        assert int(row["entries"]) == want["entries"]
        assert float(row["billable_amount"]) == want["billable_amount"]
        assert row["currency"] == "EUR"
    assert sum(int(r["entries"]) for r in rows) == report["total_entries"]
    assert sum(round(float(r["billable_amount"]) * 100) for r in rows) == got(report)[3]

    body, headers = await _download(api, f"{SUMMARY_EXPORT}?{query}&format=xlsx", admin, XLSX)
    assert headers["Content-Disposition"].endswith('.xlsx"')
    sheet = _xlsx(body)
    assert [(r["user_id"], r["day"], r["entries"]) for r in sheet] == [
        (w["user_id"], w["day"], w["entries"]) for w in expected
    ]
    assert sum(round(r["billable_amount"] * 100) for r in sheet) == got(report)[3]

    # without group_by: one row per project
    body, _ = await _download(api, f"{SUMMARY_EXPORT}?{QUERY}", admin, "text/csv")
    assert [int(r["project_id"]) for r in _csv(body)] == [
        p["project_id"] for p in report["by_project"]
    ]


async def test_exports_need_their_scopes(api: TestClient, make_user: MakeUser) -> None:
    reporter = await make_user("reporter", ["read:reports"])
    lister = await make_user("lister", ["read:time_entries"])
    await error_body(await api.get(ENTRY_EXPORT, headers=reporter.headers), 403, "forbidden")
    await error_body(await api.get(SUMMARY_EXPORT, headers=lister.headers), 403, "forbidden")
    body, _ = await _download(api, ENTRY_EXPORT, lister, "text/csv")
    assert body.startswith(b"id,date,start_time")
    body, _ = await _download(api, SUMMARY_EXPORT, reporter, "text/csv")
    assert body.startswith(b"project_id,project_name,hours")


async def test_a_bad_filter_is_a_400_before_any_byte_and_other_methods_a_405(
    api: TestClient, make_user: MakeUser
) -> None:
    """A tag PostgreSQL cannot hold (NUL) is refused up front: a stream broken mid-way
    would leave a client with half a file and no status to tell it so."""
    lister = await make_user("lister", ["read:time_entries", "read:reports", "write:time_entries"])
    for path in (ENTRY_EXPORT, SUMMARY_EXPORT):
        response = await api.get(f"{path}?tag=a,%00", headers=lister.headers)
        body = await error_body(response, 400, "validation_error")
        assert "tag" in body["errors"], body
    for method in ("PUT", "PATCH", "DELETE"):
        response = await api.request(method, ENTRY_EXPORT, headers=lister.headers, json={})
        assert response.status == 405, (method, await response.text())


async def test_an_xlsx_export_past_a_sheets_rows_is_a_400_not_a_cut_file(
    api: TestClient, admin: ApiUser, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """XlsxWriter drops rows past 1,048,576 without a word; the export refuses instead (the
    limit lowered here to what the test's entries pass)."""
    world = await make_world(api, admin, make_user, count=24)
    inside = len(world.inside())
    monkeypatch.setattr(export_files, "XLSX_MAX_ROWS", inside)  # the header takes one row
    response = await api.get(f"{ENTRY_EXPORT}?{QUERY}&format=xlsx", headers=admin.headers)
    body = await error_body(response, 400, "validation_error")
    assert "format=csv" in body["errors"]["format"][0]
    monkeypatch.setattr(export_files, "XLSX_MAX_ROWS", inside + 1)
    body_bytes, _ = await _download(api, f"{ENTRY_EXPORT}?{QUERY}&format=xlsx", admin, XLSX)
    assert len(_xlsx(body_bytes)) == inside
