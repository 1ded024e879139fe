"""Each list row's API JSON, written by the database from the row's columns.

A read model that serves a list keeps, beside its query columns, a `body` column: the row as
the API shows it (`json`, so its text is kept as written). The read model's `changes` ends
every change to a row with a `Refresh` (`rows.py`) that recomputes it with the read model's
body expression, in the batch's transaction; a page is then the rows' `body` texts joined
(`paging.py::bodies_statement`), never decoded and encoded again.

The expressions write what `http/responses.py::json_response` writes: times as RFC 3339
UTC with `Z` (microseconds only when there are some), decimals as an integer when whole,
otherwise as the shortest float (`eventlog/documents.py::number`).
"""

from __future__ import annotations

from typing import LiteralString

from timetracker.projections.rows import Refresh


def time(column: LiteralString) -> LiteralString:
    """A timestamptz column as `2024-01-15T14:30:00Z` (or `...:00.123456Z`), NULL as NULL."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS')"
        f" || CASE WHEN to_char({utc}, 'US') = '000000' THEN '' ELSE to_char({utc}, '.US') END"
        " || 'Z')"
    )


def number(column: LiteralString) -> LiteralString:
    """A numeric column as a JSON number: an integer when whole, otherwise a float."""
    return (
        f"(CASE WHEN {column} = trunc({column}) THEN to_json(trunc({column})::bigint)"
        f" ELSE to_json({column}::float8) END)"
    )


def json_object(fields: dict[str, LiteralString]) -> LiteralString:
    """`json_build_object` of the fields (name -> SQL expression), in this order."""
    pairs = ", ".join(f"'{name}', {expression}" for name, expression in fields.items())
    return f"json_build_object({pairs})"  # type: ignore[return-value]


def refresh_row(table: str, body: LiteralString, aggregate_id: object) -> Refresh:
    """Recompute the body of one aggregate's row."""
    return Refresh(table, body, "aggregate_id = %s", aggregate_id)


def body_statements(table: LiteralString, body: LiteralString) -> list[LiteralString]:
    """DDL for a table created before bodies existed: the column, then every missing body."""
    return [
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS body json",
        f"UPDATE {table} SET body = {body} WHERE body IS NULL",
    ]
