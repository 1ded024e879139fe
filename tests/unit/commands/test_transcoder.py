"""The fast transcoder reads back exactly what the library's JSON transcoder wrote."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex

from timetracker.commands.transcoder import FastJSONTranscoder


def _registered(transcoder: JSONTranscoder) -> JSONTranscoder:
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


def test_typed_values_nested_in_dicts_and_lists_come_back_equal() -> None:
    standard, fast = _registered(JSONTranscoder()), _registered(FastJSONTranscoder())
    state = {
        "timestamp": datetime(2024, 1, 15, 9, 30, 1, 123456, tzinfo=UTC),
        "actor": {"user_id": 3, "token_id": None, "token_prefix": "tt_abcde"},
        "fields": {"rate": Decimal("75.50"), "ids": [uuid4(), uuid4()], "notes": "é ✓"},
        "changes": {"end_time": {"from": None, "to": datetime(2024, 1, 15, 10, tzinfo=UTC)}},
        "big": 2**62,
    }
    encoded = standard.encode(state)
    assert fast.encode(state) == encoded
    assert fast.decode(encoded) == standard.decode(encoded) == state


def test_what_orjson_refuses_is_read_by_the_standard_decoder() -> None:
    fast = _registered(FastJSONTranscoder())
    assert str(fast.decode(b'{"x": NaN}')["x"]) == "nan"
