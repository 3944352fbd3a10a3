"""The formats layer: tools, calls and the values inside them, as data (no model, no I/O).

Modules, lowest first (each imports only those above it, so there are no cycles):
- `values`: `CallParseError` and its `REASONS`; JSON and Python literals read without evaluation;
- `schema`: JSON-Schema dialects found in the wild normalised to one (type names, BFCL's `dict`/`float`);
- `tools`: `Tool`, the converters in (`parse_tool`, OpenAI, BFCL, xLAM, Seal-Tools, API-Bank) and out;
- `grounding`: whether a call's string values appear in the query;
- `calls`: `ToolCall` and the JSON call dialects; `parse`: calls out of model text (`parse_calls`);
- `render`: calls back to text, their canonical form, BFCL's decoded form;
- `normalize`: the normalized form of a call list (BFCL's string rule, numbers by value, defaults, order),
  the key under which a vote counts two samples as the same answer.

    from open_toolace.formats import parse_calls, render_calls, parse_tool
    calls = parse_calls('Sure: [get_weather(city="Paris", days=3)]')   # [ToolCall("get_weather", {...})]
    render_calls(calls)                                               # '[get_weather(city="Paris", days=3)]'
"""

from open_toolace.formats.calls import ToolCall
from open_toolace.formats.normalize import (
    normalize_call,
    normalize_calls,
    normalize_date,
    normalize_value,
    standardize_string,
)
from open_toolace.formats.parse import MAX_CHARS, parse_calls, try_parse_calls
from open_toolace.formats.render import (
    calls_from_bfcl,
    calls_to_bfcl,
    canonical_call,
    canonical_calls,
    is_pythonic_renderable,
    render_call,
    render_calls,
)
from open_toolace.formats.tools import (
    Tool,
    ToolFormatError,
    as_tool,
    parse_tool,
    parse_tools,
    tool_record,
    tool_to_bfcl,
    tool_to_openai,
)
from open_toolace.formats.values import MAX_DEPTH, REASONS, CallParseError, literal_from_text

__all__ = [
    "MAX_CHARS",
    "MAX_DEPTH",
    "REASONS",
    "CallParseError",
    "Tool",
    "ToolCall",
    "ToolFormatError",
    "as_tool",
    "calls_from_bfcl",
    "calls_to_bfcl",
    "canonical_call",
    "canonical_calls",
    "is_pythonic_renderable",
    "literal_from_text",
    "normalize_call",
    "normalize_calls",
    "normalize_date",
    "normalize_value",
    "parse_calls",
    "parse_tool",
    "parse_tools",
    "render_call",
    "render_calls",
    "standardize_string",
    "tool_record",
    "tool_to_bfcl",
    "tool_to_openai",
    "try_parse_calls",
]
