"""No event holding a NUL character reaches the log, whichever way it comes in: PostgreSQL's
text cannot store one, and the first read model to meet it stopped there for good (a token
name typed in the console, a note in an imported CSV)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from eventsourcing.persistence import StoredEvent

from timetracker.commands.application import TimeTracking
from timetracker.commands.array_recorder import refuse_nul_characters
from timetracker.commands.messages import RegisterUser
from timetracker.domain.errors import InvalidValueError
from timetracker.domain.values import Stamp

pytestmark = pytest.mark.integration
STAMP = Stamp(at=datetime(2024, 1, 1, tzinfo=UTC), user_id=None, request_id="t", is_admin=True)


def test_an_event_with_a_nul_character_is_refused_and_nothing_is_written(
    store: TimeTracking,
) -> None:
    before = store.recorder.max_notification_id() or 0

    with pytest.raises(InvalidValueError, match="NUL"):
        store.register_user(RegisterUser("nul", None, "Null\x00Byte", "user", STAMP))

    assert (store.recorder.max_notification_id() or 0) == before
    written = store.register_user(RegisterUser("nul", None, "No null byte", "user", STAMP))
    assert written.id >= 1


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("a\x00b", True),
        ("\\\x00", True),  # a backslash, then NUL
        ("\\u0000", False),  # the six characters \u0000, typed: no NUL at all
        ("\\\\u0000", False),
        ("plain", False),
    ],
)
def test_only_a_real_nul_character_is_refused(
    store: TimeTracking, text: str, refused: bool
) -> None:
    state = store.mapper.transcoder.encode({"notes": text})
    event = StoredEvent(originator_id="x", originator_version=1, topic="t", state=state)
    if refused:
        with pytest.raises(InvalidValueError):
            refuse_nul_characters([event])
    else:
        refuse_nul_characters([event])
