"""Tables streamed as files: RFC 4180 CSV written chunk by chunk, or an XLSX workbook written
with XlsxWriter's constant memory mode to a temporary file, then streamed.

Either way the server holds one chunk of rows at a time, however many rows there are.
CSV cells are escaped against formula injection as OWASP advises: a text cell beginning with
`=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`. XLSX cells are typed
(strings are written as strings, never as formulas), so they need no escaping.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import xlsxwriter
from aiohttp import web

from timetracker.http.errors import ApiError
from timetracker.http.threads import in_thread

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_FIRST = frozenset(FORMULA_STARTS)
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FILE_CHUNK = 64 * 1024
XLSX_MAX_ROWS = 1_048_576  # a sheet's limit (Excel's and XlsxWriter's), the header row included
FILE_RESPONSES = {
    200: {
        "description": "The file, sent as an attachment (`Content-Disposition` names it)",
        "content": {
            media.split(";")[0]: {"schema": {"type": "string", "format": "binary"}}
            for media in CONTENT_TYPES.values()
        },
    }
}

Rows = AsyncIterator[list[Sequence[Any]]]


def csv_cell(value: Any) -> Any:
    """A value as the CSV writer should get it: booleans `true`/`false`, decimals in plain
    notation, text that a spreadsheet would take for a formula escaped with a leading `'`
    (numbers and None as they are: the writer prints numbers and leaves None empty)."""
    kind = type(value)
    if kind is str:
        return "'" + value if value[:1] in _FORMULA_FIRST else value
    if kind is bool:
        return "true" if value else "false"
    if kind is Decimal:
        return format(value, "f")
    return value


def csv_row(row: Sequence[Any]) -> list[Any]:
    """A row's cells as `csv_cell` gives them."""
    return [csv_cell(value) for value in row]


def content_disposition(filename: str) -> str:
    """`attachment` with the file name (ASCII letters, digits, `-`, `_`, `.` only)."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in filename)
    return f'attachment; filename="{safe}"'


async def stream_table(
    request: web.Request,
    fmt: str,
    filename: str,
    header: Sequence[str],
    rows: Rows,
    headers: dict[str, str],
) -> web.StreamResponse:
    """Send the table as `<filename>.<fmt>`, chunk by chunk."""
    response = web.StreamResponse(
        headers={
            **headers,
            "Content-Type": CONTENT_TYPES[fmt],
            "Content-Disposition": content_disposition(f"{filename}.{fmt}"),
            "Cache-Control": "no-store",
        }
    )
    if fmt == "csv":
        response.enable_chunked_encoding()
        await response.prepare(request)
        await _write_csv(response, header, rows)
    else:
        with tempfile.TemporaryDirectory(prefix="export-") as folder:
            path = Path(folder) / "export.xlsx"
            await _write_xlsx(path, header, rows)
            response.content_length = path.stat().st_size
            await response.prepare(request)
            await _send_file(response, path)
    await response.write_eof()
    return response


async def _write_csv(response: web.StreamResponse, header: Sequence[str], rows: Rows) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180: CRLF, quotes doubled
    writer.writerow(header)
    async for chunk in rows:
        writer.writerows(map(csv_row, chunk))
        await response.write(buffer.getvalue().encode())
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        await response.write(buffer.getvalue().encode())


def _write_xlsx_rows(sheet: Any, first: int, chunk: list[Sequence[Any]]) -> None:
    for offset, row in enumerate(chunk):
        for column, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, bool):
                sheet.write_boolean(first + offset, column, value)
            elif isinstance(value, int | float | Decimal):
                sheet.write_number(first + offset, column, float(value))
            else:
                sheet.write_string(first + offset, column, str(value))


async def _write_xlsx(path: Path, header: Sequence[str], rows: Rows) -> None:
    workbook = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,  # rows are flushed to disk as they are written
            "tmpdir": str(path.parent),
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    try:
        sheet = workbook.add_worksheet("export")
        await in_thread(partial(_write_xlsx_rows, sheet, 0, [list(header)]))
        written = 1
        async for chunk in rows:
            if written + len(chunk) > XLSX_MAX_ROWS:
                await _stop_reading(rows)
                raise _too_many_rows()
            await in_thread(partial(_write_xlsx_rows, sheet, written, chunk))
            written += len(chunk)
    finally:
        await in_thread(workbook.close)


def _too_many_rows() -> ApiError:
    """XlsxWriter would drop the rows past a sheet's limit without a word: refuse instead."""
    message = (
        f"An XLSX sheet holds at most {XLSX_MAX_ROWS - 1:,} rows under its header; this "
        "export has more. Ask for format=csv, or a shorter period."
    )
    return ApiError(
        400, "Validation error", message, "validation_error", errors={"format": [message]}
    )


async def _stop_reading(rows: Rows) -> None:
    close = getattr(rows, "aclose", None)
    if close is not None:
        await close()


async def _send_file(response: web.StreamResponse, path: Path) -> None:
    with path.open("rb") as file:
        while True:
            data: bytes = await in_thread(partial(file.read, FILE_CHUNK))
            if not data:
                return
            await response.write(data)
