"""Tool-definition files: a JSON/JSONL list of tools in any shape `parse_tool` reads (Seal-Tools, OpenAI,
BFCL, xLAM), read as `Tool`s where they are loaded; a broken record is an error that names its line."""

from __future__ import annotations

from pathlib import Path

from open_toolace.data.records import is_reject
from open_toolace.data.sources import iter_records, sniff_record
from open_toolace.formats.tools import Tool, ToolFormatError, parse_tool
from open_toolace.io import DataFileError


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
