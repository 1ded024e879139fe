"""What a PostgreSQL read model does to its tables, as plain data, and where it is written.

A read model's `changes(event)` is pure: it turns one event into `Insert`, `Update`,
`Delete`, `Refresh` and `Notify` values, which a unit test can compare without a database.
The runner hands them to `write_rows`, which runs one statement each on the batch's
cursor (inside the transaction that also moves the projection's position). Every row of
these read models is keyed by its aggregate's id (`aggregate_id`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, LiteralString
from uuid import UUID

from psycopg import Cursor, sql


@dataclass(frozen=True)
class Insert:
    """A new row: column -> value, in the table's column order."""

    table: str
    row: dict[str, Any]


@dataclass(frozen=True)
class Update:
    """New values for some columns of the row of an aggregate."""

    table: str
    aggregate_id: UUID
    values: dict[str, Any]


@dataclass(frozen=True)
class Delete:
    """The row of an aggregate goes."""

    table: str
    aggregate_id: UUID


@dataclass(frozen=True)
class Notify:
    """A PostgreSQL NOTIFY on `channel`, sent when the transaction commits."""

    channel: str


@dataclass(frozen=True)
class Refresh:
    """Recompute the stored API JSON (`body`) of the rows of `table` that `condition` (SQL
    with one `%s`, bound to `value`) selects, from their columns with `body` (a SQL
    expression, the read model's constant): after the columns, or what `body` reads
    elsewhere, changed."""

    table: str
    body: LiteralString
    condition: LiteralString
    value: Any


RowChange = Insert | Update | Delete | Notify | Refresh


# Statements are built once per table and set of columns, as plain text: a statement
# composed at each execute would cost more than the constant strings they replace.
@functools.lru_cache(maxsize=256)
def _insert(table: str, columns: tuple[str, ...]) -> str:
    return (
        sql.SQL("INSERT INTO {} ({}) VALUES ({})")
        .format(
            sql.Identifier(table),
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.Placeholder() * len(columns)),
        )
        .as_string(None)
    )


@functools.lru_cache(maxsize=1024)
def _update(table: str, columns: tuple[str, ...]) -> str:
    assignments = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in columns)
    return (
        sql.SQL("UPDATE {} SET {} WHERE aggregate_id = %s")
        .format(sql.Identifier(table), assignments)
        .as_string(None)
    )


@functools.lru_cache(maxsize=64)
def _delete(table: str) -> str:
    return (
        sql.SQL("DELETE FROM {} WHERE aggregate_id = %s")
        .format(sql.Identifier(table))
        .as_string(None)
    )


@functools.lru_cache(maxsize=16)
def _notify(channel: str) -> str:
    return sql.SQL("NOTIFY {}").format(sql.Identifier(channel)).as_string(None)


@functools.lru_cache(maxsize=64)
def _refresh(table: str, body: LiteralString, condition: LiteralString) -> str:
    return (
        sql.SQL("UPDATE {} SET body = {} WHERE {}")
        .format(sql.Identifier(table), sql.SQL(body), sql.SQL(condition))
        .as_string(None)
    )


def write_rows(cursor: Cursor[Any], changes: Iterable[RowChange]) -> None:
    """Run each change as one statement on `cursor`, in order."""
    for change in changes:
        match change:
            case Insert(table, row):
                cursor.execute(_insert(table, tuple(row)), list(row.values()))
            case Update(table, aggregate_id, values):
                cursor.execute(_update(table, tuple(values)), [*values.values(), aggregate_id])
            case Delete(table, aggregate_id):
                cursor.execute(_delete(table), (aggregate_id,))
            case Refresh(table, body, condition, value):
                cursor.execute(_refresh(table, body, condition), (value,))
            case Notify(channel):
                cursor.execute(_notify(channel))
