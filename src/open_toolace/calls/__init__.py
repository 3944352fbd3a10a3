"""Tool calls as data: parse them out of model output, write them back, and compare them.

    from open_toolace.calls import parse_calls, render_calls, canonical_calls
    calls = parse_calls('Sure: [get_weather(city="Paris", days=3)]')   # [ToolCall("get_weather", {...})]
    render_calls(calls)                                               # '[get_weather(city="Paris", days=3)]'
    canonical_calls(calls) == canonical_calls(parse_calls('[get_weather(days=3.0, city="Paris")]'))  # True

`parse_calls` reads pythonic calls with `ast` and JSON calls with `json` (never eval/exec); it returns
`[]` for "no call" and raises `CallParseError` (with a `.reason` code from `REASONS`) for a broken call.
See `parse.py` for the accepted forms and `render.py` for the value rules.
"""

from open_toolace.calls.model import MAX_DEPTH, REASONS, CallParseError, ToolCall
from open_toolace.calls.parse import MAX_CHARS, literal_from_text, parse_calls, try_parse_calls
from open_toolace.calls.render import (
    calls_from_bfcl,
    calls_to_bfcl,
    canonical_call,
    canonical_calls,
    is_pythonic_renderable,
    render_call,
    render_calls,
)

__all__ = [
    "MAX_CHARS",
    "MAX_DEPTH",
    "REASONS",
    "CallParseError",
    "ToolCall",
    "calls_from_bfcl",
    "calls_to_bfcl",
    "canonical_call",
    "canonical_calls",
    "is_pythonic_renderable",
    "literal_from_text",
    "parse_calls",
    "render_call",
    "render_calls",
    "try_parse_calls",
]
