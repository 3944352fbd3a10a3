"""Writing calls out: pythonic/JSON text, canonical keys for voting, and BFCL's decoded form.

Value rules (so that `parse_calls(render_calls(calls)) == calls`):
- strings are written with JSON quoting (`"..."`, non-ASCII kept as is), which Python's `ast` reads back
  exactly; lone surrogates are written as `\\udXXX` escapes.
- tuples are written as lists (the parser returns lists, since JSON has no tuples).
- `float("inf")` is written `1e999` (`-1e999`), a literal `ast` reads back as infinity; NaN has no
  literal form and is refused with `ValueError` (it also never equals itself, so it could not be voted on).
- integers too long for `str()` (over `sys.get_int_max_str_digits()` digits) are refused with `ValueError`.
"""

from __future__ import annotations

import copy
import json
import keyword
import math
import re
import unicodedata
from typing import Any

from open_toolace.formats.calls import ToolCall
from open_toolace.formats.values import MAX_DEPTH, CallParseError

_SURROGATE = re.compile(r"[\ud800-\udfff]")


def render_calls(calls: list[ToolCall], style: str = "pythonic") -> str:
    """Calls as text: `[f(a=1, b="x")]` (style "pythonic"), `[{"name", "arguments"}]` ("json"), or
    "auto" = pythonic when every name and argument key is a Python identifier, else JSON.
    `[]` means no call. Raises `ValueError` for values with no literal form (see module docstring).
    """
    if style == "auto":
        style = "pythonic" if all(is_pythonic_renderable(c) for c in calls) else "json"
    if style == "json":
        for c in calls:
            _render_value(c.arguments, 0)  # same value checks as pythonic
        return json.dumps([c.to_dict() for c in calls], ensure_ascii=False)
    if style != "pythonic":
        raise ValueError(f"unknown render style {style!r}; use 'pythonic', 'json' or 'auto'")
    return "[" + ", ".join(render_call(c) for c in calls) + "]"


def render_call(call: ToolCall) -> str:
    """One call as `name(a=1, b="x")`; `ValueError` if a name or key is not a Python identifier."""
    if not _is_dotted_identifier(call.name):
        raise ValueError(
            f"function name {call.name!r} is not a dotted Python identifier; render with style='json' or 'auto'"
        )
    parts = []
    for k, v in call.arguments.items():
        if not _is_identifier(k):
            raise ValueError(
                f"argument name {k!r} of {call.name} is not a Python identifier; render with style='json'"
            )
        parts.append(f"{k}={_render_value(v, 1)}")
    return f"{call.name}({', '.join(parts)})"


def is_pythonic_renderable(call: ToolCall) -> bool:
    """Whether `render_call` can write this call (names and argument keys are Python identifiers)."""
    return _is_dotted_identifier(call.name) and all(
        isinstance(k, str) and _is_identifier(k) for k in call.arguments
    )


def _is_identifier(s: str) -> bool:
    # ast NFKC-normalizes identifiers, so a non-NFKC name would come back changed: refuse it.
    return s.isidentifier() and not keyword.iskeyword(s) and unicodedata.normalize("NFKC", s) == s


def _is_dotted_identifier(s: str) -> bool:
    return isinstance(s, str) and all(_is_identifier(p) for p in s.split("."))


def _render_value(v: Any, depth: int) -> str:
    if depth > MAX_DEPTH:
        raise ValueError(f"value nested deeper than {MAX_DEPTH}")
    if v is None or isinstance(v, bool):
        return repr(v)
    if isinstance(v, int):
        try:
            return repr(v)
        except ValueError:
            raise ValueError(f"integer with {v.bit_length()} bits is too long to write") from None
    if isinstance(v, float):
        if math.isnan(v):
            raise ValueError("NaN has no literal form and never equals itself; it cannot be a call argument")
        if math.isinf(v):
            return "1e999" if v > 0 else "-1e999"
        return repr(v)
    if isinstance(v, str):
        return _quote(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_render_value(x, depth + 1) for x in v) + "]"
    if isinstance(v, dict):
        items = []
        for k, x in v.items():
            if not isinstance(k, str):
                raise ValueError(f"dict keys must be strings, got {k!r:.40}")
            items.append(f"{_quote(k)}: {_render_value(x, depth + 1)}")
        return "{" + ", ".join(items) + "}"
    raise ValueError(f"cannot write a value of type {type(v).__name__} as a literal")


def _quote(s: str) -> str:
    out = json.dumps(s, ensure_ascii=False)
    if _SURROGATE.search(out):
        out = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", out)
    return out


# ---------------------------------------------------------------- canonical form


def canonical_call(call: ToolCall) -> str:
    """A key for one call: argument order irrelevant, integral floats as ints (`1 == 1.0`), bools
    distinct from ints (`True != 1`), dict keys sorted at every level, list order kept."""
    return json.dumps(
        [call.name, _canon(call.arguments)], sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )


def canonical_calls(calls: list[ToolCall]) -> str:
    """A key for a list of calls, independent of call order (a multiset: repeats count)."""
    return json.dumps(sorted(canonical_call(c) for c in calls), ensure_ascii=False, separators=(",", ":"))


def _canon(v: Any) -> Any:
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, float):
        return int(v) if v.is_integer() else v  # inf/nan are not integral and stay floats
    if isinstance(v, int):
        # JSON cannot write ints over the str() digit limit; tag them so keys stay distinct
        return v if v.bit_length() < 10_000 else {"$int": hex(v)}
    if isinstance(v, (list, tuple)):
        return [_canon(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _canon(x) for k, x in v.items()}
    return {"$repr": repr(v)}


# ---------------------------------------------------------------- BFCL's decoded form


def calls_to_bfcl(calls: list[ToolCall]) -> list[dict[str, dict[str, Any]]]:
    """`[{name: {arg: value}}]`, the form BFCL's decoder returns and its `ast_checker` scores."""
    return [{c.name: copy.deepcopy(c.arguments)} for c in calls]


def calls_from_bfcl(decoded: list[dict[str, Any]]) -> list[ToolCall]:
    """The inverse of `calls_to_bfcl` (tuples become lists); raises `CallParseError("bad_bfcl")`."""
    if not isinstance(decoded, list):
        raise CallParseError("bad_bfcl", f"expected a list of {{name: {{arg: value}}}}, got {decoded!r:.80}")
    calls = []
    for item in decoded:
        if not (isinstance(item, dict) and len(item) == 1):
            raise CallParseError("bad_bfcl", f"each call must be a one-key dict, got {item!r:.80}")
        ((name, args),) = item.items()
        if (
            not isinstance(name, str)
            or not isinstance(args, dict)
            or not all(isinstance(k, str) for k in args)
        ):
            raise CallParseError("bad_bfcl", f"expected {{name: {{arg: value}}}}, got {item!r:.80}")
        calls.append(ToolCall(name, _lists(args)))
    return calls


def _lists(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_lists(x) for x in v]
    if isinstance(v, dict):
        return {k: _lists(x) for k, x in v.items()}
    return v
