"""Reading source files record by record, with the line each record starts on.

Two container shapes cover every data set we read: a JSON array of records (`[{...}, {...}]`, the
LLaMA-Factory / Alpaca style) and JSON Lines. `iter_records` yields `(line, index, record)` for both, so
every reject can name its line. A JSON Lines line that is not JSON is one malformed record (a `Reject`);
a JSON array that does not parse, a missing file, or a file that is neither shape cannot be read at all
and raises `DataFileError` with the path and line.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from open_toolace.data.records import Reject, make_reject
from open_toolace.io import DataFileError

_DECODER = json.JSONDecoder()
_WS = " \t\r\n"


def _read_text(path: Path) -> str:
    if not path.exists():
        raise DataFileError(f"{path}: file not found")
    if path.is_dir():
        raise DataFileError(f"{path}: is a directory, not a data file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataFileError(f"{path}: not UTF-8 text (byte {e.start})") from e


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _iter_json_array(path: Path, text: str, start: int) -> Iterator[tuple[int, int, Any]]:
    # Decode element by element (instead of json.loads on the whole) to know where each record starts.
    newlines = [m.start() for m in re.finditer("\n", text)]

    def line_of(pos: int) -> int:
        return bisect.bisect_left(newlines, pos) + 1

    def fail(pos: int, msg: str) -> DataFileError:
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        return DataFileError(f"{path}:{line_of(pos)}: not valid JSON ({msg} at column {col})")

    pos = _skip_ws(text, start + 1)
    index = 0
    if pos < len(text) and text[pos] == "]":
        pos += 1
    else:
        while True:
            try:
                obj, end = _DECODER.raw_decode(text, pos)
            except json.JSONDecodeError as e:
                raise fail(e.pos, e.msg) from e
            yield line_of(pos), index, obj
            index += 1
            pos = _skip_ws(text, end)
            if pos < len(text) and text[pos] == ",":
                pos = _skip_ws(text, pos + 1)
                continue
            if pos < len(text) and text[pos] == "]":
                pos += 1
                break
            raise fail(pos, "expected ',' or ']' after a record")
    pos = _skip_ws(text, pos)
    if pos != len(text):
        raise fail(pos, "extra data after the closing ']'")


def iter_records(path: str | Path) -> Iterator[tuple[int, int, Any] | Reject]:
    """Yield `(line, index, record)` per record of a JSON array or JSON Lines file; a JSON Lines line that
    is not JSON yields a `Reject` (reason `bad_json`) instead. Raises `DataFileError` if the file is
    missing, not text, or a JSON array that does not parse."""
    p = Path(path)
    text = _read_text(p)
    start = _skip_ws(text, 0)
    if start == len(text):
        return  # an empty file holds zero records
    if text[start] == "[":
        yield from _iter_json_array(p, text, start)
        return
    items: list[tuple[int, int, Any] | Reject] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append((lineno, len(items), json.loads(line)))
        except json.JSONDecodeError as e:
            detail = f"not valid JSON ({e.msg} at column {e.colno})"
            items.append(make_reject(lineno, "bad_json", line, detail, index=len(items)))
    if not any(isinstance(it, tuple) for it in items):
        # Not one line parses: this is not a JSON Lines file with some bad lines, it is not JSON at all.
        first: Reject = items[0]  # type: ignore[assignment]
        raise DataFileError(f"{p}:{first['line']}: neither a JSON array nor JSON Lines ({first['detail']})")
    yield from items


def sniff_record(path: str | Path) -> Any:
    """The first parseable record of a file (for format detection); DataFileError if there is none."""
    for item in iter_records(path):
        if isinstance(item, tuple):
            return item[2]
    raise DataFileError(f"{path}: no readable record to detect the format from (pass --from)")
