"""The call data model: `ToolCall`, `CallParseError` and the reading of JSON-shaped call objects.

JSON-shaped calls come in several dialects; `call_from_obj` accepts all of them so that every reader
(parser, data adapters, `ToolCall.from_dict`) agrees on one interpretation:

    {"name": "f", "arguments": {...}}            # ours, Hermes/Qwen <tool_call>, glaive, ToolACE
    {"name": "f", "arguments": "{...}"}          # OpenAI: arguments as a JSON string
    {"name": "f", "parameters": {...}}           # Llama 3.x, ToolRL ("args" is read too)
    {"type": "function", "function": {...}}      # OpenAI tool_calls item
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from open_toolace.formats.values import CallParseError, check_value, literal_from_text, loads_json


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
            raw = literal_from_text(raw, bad_reason="bad_arguments")
    if not isinstance(raw, dict):
        raise CallParseError("bad_arguments", f"arguments of {name!r} must be an object, got {raw!r:.80}")
    check_value(raw)
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
