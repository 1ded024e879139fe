"""The interpolated fixed windows of `http/rate_limit.py`, decided in Python as the script does."""

from __future__ import annotations

from timetracker.http.rate_limit import Counts, Window, decide, window_state

MINUTE = Window("minute", 100, 60)
HOUR = Window("hour", 1000, 3600)
T0 = 1_700_000_000_000


def _burst(
    counts: list[Counts | None], at: int, n: int, windows: list[Window]
) -> tuple[int, list[Counts | None]]:
    admitted = 0
    for _ in range(n):
        ok, new = decide(counts, windows, at, True)
        counts = list(new)
        admitted += ok
    return admitted, counts


def test_a_window_admits_its_quota_and_not_one_more() -> None:
    admitted, _ = _burst([None, None], T0, 150, [MINUTE, HOUR])
    assert admitted == 100


def test_a_burst_at_the_end_of_a_window_leaves_almost_nothing_just_after_the_boundary() -> None:
    _, counts = _burst([None], T0, 1, [MINUTE])  # the window starts at T0
    _, counts = _burst(counts, T0 + 59_900, 200, [MINUTE])
    admitted, _ = _burst(counts, T0 + 60_100, 200, [MINUTE])
    assert admitted <= 1  # a fixed window alone would admit 100 more here
    admitted, _ = _burst(counts, T0 + 90_000, 200, [MINUTE])
    assert admitted == 50  # half the previous window is still inside the last minute


def test_rejected_requests_count_for_nothing() -> None:
    _, counts = _burst([None], T0, 100, [MINUTE])
    _, after = _burst(counts, T0 + 1_000, 500, [MINUTE])
    assert after == counts or [c.count for c in after if c] == [100]


def test_the_hour_limits_after_the_minute_refills() -> None:
    windows = [MINUTE, HOUR]
    counts: list[Counts | None] = [None, None]
    total = 0
    for minute in range(15):
        admitted, counts = _burst(counts, T0 + minute * 60_000 + 1, 120, windows)
        total += admitted
    assert total == 1000


def test_the_reset_of_a_full_window_is_when_the_next_request_fits() -> None:
    _, counts = _burst([None], T0, 100, [MINUTE])
    (full,) = counts
    assert full is not None
    state = window_state(MINUTE, full, T0 + 10_000)
    assert state.remaining == 0
    reset_ms = int(state.reset_at * 1000)
    assert reset_ms == T0 + 60_000  # as a sliding log would: the burst is a minute old
    assert decide([full], [MINUTE], reset_ms - 1, True)[0] is False
    assert decide([full], [MINUTE], reset_ms, True)[0] is True


def test_a_window_with_room_resets_at_its_end() -> None:
    _, counts = _burst([None], T0, 1, [MINUTE])
    (one,) = counts
    assert one is not None
    state = window_state(MINUTE, one, T0)
    assert (state.remaining, state.reset_at) == (99, (T0 + 60_000) / 1000)


def test_a_long_silence_forgets_everything() -> None:
    _, counts = _burst([None], T0, 100, [MINUTE])
    admitted, _ = _burst(counts, T0 + 120_000, 150, [MINUTE])
    assert admitted == 100


def test_a_client_bursting_once_a_minute_gets_its_quota_every_minute() -> None:
    counts: list[Counts | None] = [None]
    for minute in range(5):
        admitted, counts = _burst(counts, T0 + minute * 60_000, 150, [MINUTE])
        assert admitted == 100, minute


def test_a_steady_client_gets_about_its_quota_per_minute() -> None:
    counts: list[Counts | None] = [None]
    admitted = 0
    for step in range(600):  # one request every 0.5 s for five minutes: 120 a minute tried
        ok, new = decide(counts, [MINUTE], T0 + step * 500, True)
        counts = list(new)
        admitted += ok
    assert 480 <= admitted <= 500
