"""The call data model: `ToolCall`, `CallParseError` and the reading of JSON-shaped call objects.

JSON-shaped calls come in several dialects; `call_from_obj` accepts all of them so that every reader
(parser, data adapters, `ToolCall.from_dict`) agrees on one interpretation:

    {"name": "f", "arguments": {...}}            # ours, Hermes/Qwen <tool_call>, glaive, ToolACE
    {"name": "f", "arguments": "{...}"}          # OpenAI: arguments as a JSON string
    {"name": "f", "parameters": {...}}           # Llama 3.x, ToolRL ("args" is read too)
    {"type": "function", "function": {...}}      # OpenAI tool_calls item
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# Short machine codes for `CallParseError.reason`; pipelines count rejections by them.
REASONS = {
    "syntax": "the text tries to be a call but is not valid Python/JSON (truncated, unbalanced, ...)",
    "non_literal": "an argument is an expression (name, call, operator, f-string, ...), not a literal",
    "not_a_call": "parsed, but the value is not a call or list of calls",
    "positional_args": "a call uses positional arguments; calls must use keyword arguments",
    "bad_json": "a JSON call object is malformed or lacks a usable 'name'",
    "bad_arguments": "arguments are not an object with string keys (or repeat a key)",
    "empty": "a call block (e.g. <tool_call></tool_call>) is empty",
    "too_long": "the text is longer than MAX_CHARS",
    "too_deep": "values are nested deeper than MAX_DEPTH",
    "too_large": "an integer has more digits than Python converts (sys.get_int_max_str_digits)",
    "not_text": "the input is not a string",
    "bad_bfcl": "a BFCL decoded call is not a {name: {arg: value}} dict",
}

MAX_DEPTH = 100  # nesting of argument values; real tool arguments rarely pass 10


class CallParseError(ValueError):
    """Text that tries to be a call but cannot be read. `.reason` is a code from `REASONS`."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class ToolCall:
    """One function call: a (possibly dotted) name and keyword arguments as JSON-like values.

    Equality is plain Python equality of the fields (so `True == 1` here); use `canonical_call` for
    keys. Not hashable (arguments is a dict): hash `canonical_call(call)` instead.
    """

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"ToolCall.name must be a str, got {type(self.name).__name__}")
        if not isinstance(self.arguments, dict):
            raise TypeError(f"ToolCall.arguments must be a dict, got {type(self.arguments).__name__}")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": self.arguments}

    @classmethod
    def from_dict(cls, d: Any) -> ToolCall:
        """Read one JSON-shaped call (any dialect in the module docstring); raises `CallParseError`."""
        calls = call_from_obj(d)
        if len(calls) != 1:
            raise CallParseError("not_a_call", f"expected one call object, got {len(calls)} calls")
        return calls[0]


def _check_value(v: Any, depth: int = 0) -> None:
    """JSON values from json.loads are literals already; only depth and key types need checking."""
    if depth > MAX_DEPTH:
        raise CallParseError("too_deep", f"argument values nested deeper than {MAX_DEPTH}")
    if isinstance(v, dict):
        for k, x in v.items():
            if not isinstance(k, str):
                raise CallParseError("bad_arguments", f"object keys must be strings, got {k!r}")
            _check_value(x, depth + 1)
    elif isinstance(v, (list, tuple)):
        for x in v:
            _check_value(x, depth + 1)
    elif not (v is None or isinstance(v, (str, int, float, bool))):
        raise CallParseError("non_literal", f"unsupported value of type {type(v).__name__}")


def _no_dup_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for k, v in pairs:
        if k in d:
            raise CallParseError("bad_arguments", f"key {k!r} appears twice")
        d[k] = v
    return d


def _reject_nan(const: str) -> float:
    if const == "NaN":
        raise CallParseError("bad_json", "NaN is not a usable argument value")
    return float(const)


def loads_json(text: str) -> Any:
    """`json.loads` that maps every failure to a `CallParseError` (duplicate keys and NaN rejected)."""
    try:
        return json.loads(text, object_pairs_hook=_no_dup_pairs, parse_constant=_reject_nan)
    except json.JSONDecodeError as e:
        raise CallParseError("bad_json", f"invalid JSON: {e}") from None
    except RecursionError:
        raise CallParseError("too_deep", "JSON nested too deeply") from None
    except ValueError as e:  # CallParseError passes through; int digit limit lands here
        if isinstance(e, CallParseError):
            raise
        raise CallParseError("too_large", str(e)) from None


def _arguments(raw: Any, name: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, str):
        if not raw.strip():
            return {}
        try:
            raw = loads_json(raw)
        except CallParseError as e:
            if e.reason != "bad_json":
                raise
            # glaive writes arguments as a single-quoted Python dict string; read it as a literal
            from open_toolace.calls.parse import literal_from_text

            raw = literal_from_text(raw, bad_reason="bad_arguments")
    if not isinstance(raw, dict):
        raise CallParseError("bad_arguments", f"arguments of {name!r} must be an object, got {raw!r:.80}")
    _check_value(raw)
    return raw


_ARG_KEYS = ("arguments", "parameters", "args")
CALL_KEYS = {"name", *_ARG_KEYS, "id", "type", "index", "call_id"}  # the rest are OpenAI bookkeeping


def call_from_obj(obj: Any) -> list[ToolCall]:
    """Interpret a decoded JSON value as calls: one call object, a list of them, or `[]` (no call)."""
    if isinstance(obj, list):
        return [c for x in obj for c in call_from_obj_single(x)]
    return call_from_obj_single(obj)


def call_from_obj_single(obj: Any) -> list[ToolCall]:
    if not isinstance(obj, dict):
        raise CallParseError("not_a_call", f"expected a call object, got {type(obj).__name__}: {obj!r:.80}")
    if isinstance(obj.get("tool_calls"), list) and "name" not in obj:  # an OpenAI assistant message
        return call_from_obj(obj["tool_calls"])
    if isinstance(obj.get("function"), dict) and "name" not in obj:  # an OpenAI tool_calls item
        obj = obj["function"]
    if "description" in obj and "arguments" not in obj:  # a tool definition echoed back, not a call
        raise CallParseError("not_a_call", f"this looks like a tool definition, not a call: {obj!r:.120}")
    if "name" not in obj:
        raise CallParseError("not_a_call", f"an object without 'name' is not a call: {obj!r:.120}")
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        raise CallParseError("bad_json", f"a call object needs a non-empty string 'name', got {obj!r:.120}")
    arg_keys = [k for k in _ARG_KEYS if k in obj]
    if len(arg_keys) > 1:
        raise CallParseError("bad_json", f"call {name!r} has both {arg_keys[0]!r} and {arg_keys[1]!r}")
    extra = sorted(set(obj) - CALL_KEYS)
    if extra:  # e.g. arguments spread at top level: refuse rather than drop them silently
        raise CallParseError(
            "bad_json", f"call {name!r} has unexpected keys {extra}; put arguments under 'arguments'"
        )
    raw = obj[arg_keys[0]] if arg_keys else None
    return [ToolCall(name.strip(), _arguments(raw, name))]
