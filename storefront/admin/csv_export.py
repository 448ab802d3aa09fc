"""A list as a CSV file a spreadsheet opens safely: streamed, UTF-8 with a BOM, formulas neutralised."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from flask import Response, stream_with_context

from storefront import clock
from storefront.formatting import shop_zone

# Excel reads a CSV without it in the system's code page, which turns Hangul into noise.
BOM = "\ufeff"
# What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection"): such a cell gets a
# leading apostrophe, so that a shopper's name "=HYPERLINK(...)" stays text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Rows are sent in pieces of about this many characters, not one write per row.
CHUNK_CHARS = 16_384


def neutralised(cell: Any) -> str:
    """The cell as text, with a leading apostrophe if a spreadsheet would take it as a formula."""
    text = "" if cell is None else str(cell)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """The file's text, piece by piece: the BOM, the header row, then the rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write(BOM)
    writer.writerow([neutralised(cell) for cell in header])
    for row in rows:
        writer.writerow([neutralised(cell) for cell in row])
        if buffer.tell() >= CHUNK_CHARS:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def csv_download(name: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    """A streamed attachment `name-YYYY-MM-DD.csv` (the shop's date); `rows` is read while the
    answer is sent, inside the request's context (the database session, the page's language)."""
    today = clock.now().astimezone(shop_zone()).date().isoformat()
    response = Response(stream_with_context(csv_lines(header, rows)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}-{today}.csv"'
    return response
