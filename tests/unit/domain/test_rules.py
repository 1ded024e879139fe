"""Value rules shared by the aggregates, and the values every event carries."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from timetracker.domain.errors import InvalidValueError
from timetracker.domain.rules import MAX_AMOUNT, require_amount, require_choice, require_name
from timetracker.domain.values import Stamp, aggregate_id, changes_between


def test_a_name_is_trimmed() -> None:
    assert require_name("name", "  Website  ") == "Website"


@pytest.mark.parametrize("value", ["", " ", "\t\n "])
def test_an_empty_name_is_refused(value: str) -> None:
    with pytest.raises(InvalidValueError) as caught:
        require_name("name", value)
    assert caught.value.field == "name"
    assert caught.value.message == "Must not be empty."


def test_a_name_of_200_characters_after_trimming_is_accepted() -> None:
    assert require_name("name", "  " + "x" * 200 + "  ") == "x" * 200


def test_a_name_of_201_characters_is_refused() -> None:
    with pytest.raises(InvalidValueError) as caught:
        require_name("title", "x" * 201)
    assert caught.value.field == "title"
    assert caught.value.message == "Longer than 200 characters."


def test_a_one_character_name_is_accepted() -> None:
    assert require_name("name", "x") == "x"


@pytest.mark.parametrize("value", [None, Decimal(0), Decimal("0.00"), Decimal("75.5"), MAX_AMOUNT])
def test_amounts_from_zero_up_to_the_maximum_are_accepted(value: Decimal | None) -> None:
    assert require_amount("hourly_rate", value) == value


@pytest.mark.parametrize(
    "value", ["-0.01", "-1", "NaN", "sNaN", "Infinity", "-Infinity"], ids=lambda v: v
)
def test_negative_and_non_finite_amounts_are_refused(value: str) -> None:
    with pytest.raises(InvalidValueError) as caught:
        require_amount("hourly_rate", Decimal(value))
    assert caught.value.field == "hourly_rate"
    assert caught.value.message == "Must be a number of at least 0."


def test_an_amount_above_the_maximum_is_refused() -> None:
    with pytest.raises(InvalidValueError) as caught:
        require_amount("estimated_hours", MAX_AMOUNT + Decimal("0.01"))
    assert caught.value.field == "estimated_hours"


def test_a_choice_must_be_one_of_the_choices() -> None:
    assert require_choice("status", "on_hold", ("active", "on_hold")) == "on_hold"
    with pytest.raises(InvalidValueError) as caught:
        require_choice("status", "Active", ("active", "on_hold"))
    assert caught.value.field == "status"
    assert caught.value.message == "Must be one of: active, on_hold."


def test_changes_name_only_the_fields_that_differ_with_from_and_to() -> None:
    current = {"name": "A", "email": None, "rate": Decimal("10")}
    proposed = {"name": "B", "email": None, "rate": Decimal("10.00")}
    assert changes_between(current, proposed) == {"name": {"from": "A", "to": "B"}}


def test_a_stamp_gives_every_event_its_time_actor_and_request() -> None:
    at = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    fields = Stamp(
        at=at, user_id=1, token_id=2, token_prefix="tt_xyzab", request_id="r"
    ).event_fields()
    assert fields == {
        "timestamp": at,
        "actor": {"user_id": 1, "token_id": 2, "token_prefix": "tt_xyzab"},
        "request_id": "r",
    }


def test_aggregate_ids_differ_by_kind_and_number_and_are_stable() -> None:
    ids = {aggregate_id(kind, n) for kind in ("user", "client", "project") for n in (1, 2)}
    assert len(ids) == 6
    assert aggregate_id("client", 1) == aggregate_id("client", 1)
