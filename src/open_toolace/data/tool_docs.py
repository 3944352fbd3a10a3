"""Tool-definition files: a JSON/JSONL list of tools in any shape `parse_tool` reads (Seal-Tools, OpenAI,
BFCL, xLAM), read as `Tool`s where they are loaded. `load_tool_docs` is strict (a broken record is an error
that names its line); `read_tool_docs` is for a user's catalog, where one broken entry among thousands must
cost that entry, recorded with its line and reason, not the run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from open_toolace.data.records import Reject, is_reject, make_reject
from open_toolace.data.sources import iter_records, sniff_record
from open_toolace.formats.tools import Tool, ToolFormatError, parse_tool
from open_toolace.io import DataFileError


def _unwrap(rec: Any) -> Any:
    """`{"tool": {...}, "domain": ...}` (the rows of a synthesizer's `.apis.jsonl` API pool) -> the tool."""
    if (
        isinstance(rec, dict)
        and "name" not in rec
        and "function" not in rec
        and isinstance(rec.get("tool"), dict)
    ):
        return rec["tool"]
    return rec


def _records(path: str | Path) -> Iterator[tuple[int, int, Any] | Reject]:
    """The records of a tool file: those of a JSON array / JSON Lines file, or the `tools` list of one JSON
    object (an OpenAI request body, `{"tools": [...]}`), each with its line (the object's, for the latter)."""
    p = Path(path)
    if p.is_file():
        text = p.read_text(encoding="utf-8", errors="replace")
        if text.lstrip().startswith("{"):
            try:
                whole = json.loads(text)
            except json.JSONDecodeError:
                whole = None
            if isinstance(whole, dict) and isinstance(whole.get("tools"), list):
                line = text[: len(text) - len(text.lstrip())].count("\n") + 1
                for i, rec in enumerate(whole["tools"]):
                    yield line, i, rec
                return
    yield from iter_records(path)


def iter_tool_docs(path: str | Path) -> Iterator[tuple[int, Tool] | Reject]:
    """`(line, Tool)` per tool record of a file (JSON array, JSON Lines, or `{"tools": [...]}`; OpenAI
    tools, JSON-Schema tool objects, BFCL docs, xLAM, Seal-Tools, API-Bank, synthesizer API-pool rows) and a
    `Reject` for each record that is not a tool (`bad_json`, `not_a_tool`, with line and detail). Raises
    `DataFileError` only when the file cannot be read at all."""
    for item in _records(path):
        if isinstance(item, dict) and is_reject(item):
            yield item
            continue
        line, index, rec = item
        try:
            yield line, parse_tool(_unwrap(rec))
        except (ToolFormatError, TypeError, ValueError, RecursionError) as err:
            yield make_reject(line, "not_a_tool", rec, str(err)[:300], index=index)


def read_tool_docs(path: str | Path) -> tuple[list[Tool], list[Reject]]:
    """The tools of a file and the records that are not tools (`iter_tool_docs`), for a catalog."""
    tools: list[Tool] = []
    rejects: list[Reject] = []
    for item in iter_tool_docs(path):
        if isinstance(item, tuple):
            tools.append(item[1])
        else:
            rejects.append(item)
    return tools, rejects


def load_tool_docs(path: str | Path) -> list[Tool]:
    """Tool definitions from a JSON/JSONL file (Seal-Tools, OpenAI, BFCL, xLAM shapes); errors name the line."""

    tools = []
    for item in iter_records(path):
        if isinstance(item, dict) and is_reject(item):
            raise DataFileError(f"{path}:{item.get('line')}: {item.get('reason')} {item.get('detail', '')}")
        line, _, rec = item
        try:
            tools.append(parse_tool(rec))
        except ToolFormatError as err:
            raise DataFileError(f"{path}:{line}: not a tool definition: {err}") from None
    return tools


def is_tool_file(path: str | Path) -> bool:
    """Whether the first record of `path` is a tool definition (not an example that carries tools)."""

    rec = sniff_record(path)
    try:
        parse_tool(rec)
    except (ToolFormatError, TypeError, ValueError):
        return False
    return isinstance(rec, dict) and not (
        {"messages", "conversations", "query", "question", "instruction"} & set(rec)
    )
