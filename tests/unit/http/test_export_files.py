"""CSV cells of exports: formula injection escaped as OWASP advises, types written plainly."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from timetracker.http.export_files import content_disposition, csv_row


def _written(row: list[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(csv_row(row))
    return buffer.getvalue()


def test_text_a_spreadsheet_would_run_gets_a_leading_quote() -> None:
    for text in ("=1+2", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert csv_row([text]) == ["'" + text]
    assert csv_row(["plain", "", "a=b", "1-2"]) == ["plain", "", "a=b", "1-2"]


def test_numbers_booleans_decimals_and_none_are_written_plainly() -> None:
    assert _written([1, 0.33, True, False, None, Decimal("33.333"), Decimal("95")]) == (
        "1,0.33,true,false,,33.333,95\r\n"
    )
    # negative numbers are numbers, not text: they are never escaped
    assert csv_row([-1]) == [-1]


def test_quotes_commas_and_line_breaks_are_quoted_as_rfc_4180_says() -> None:
    assert _written(['say "hi", then\nleave']) == '"say ""hi"", then\nleave"\r\n'


def test_file_names_keep_only_safe_characters() -> None:
    assert content_disposition("time-entries.csv") == 'attachment; filename="time-entries.csv"'
    assert content_disposition('a"b\r\n/é.csv') == 'attachment; filename="a_b____.csv"'
