"""The normalized form of a call list: the key under which two samples count as the same answer in a vote.

`canonical_calls` (render.py) is exact: "Paris" and "paris", `5` and `"5"`, an optional argument given at its
default or left out, "2025-03-01" and "March 1, 2025" are different keys there, so samples that mean the same
thing split a self-evolution vote. This module folds those surface forms together the way BFCL's own checker
would accept them as one answer, so the vote counts meanings rather than spellings:

- strings: BFCL's `standardize_string` (drop spaces and `,./-_*^`, lowercase, `'` -> `"`), after a conservative
  date normaliser (`normalize_date`) has turned a few unambiguous date forms into ISO;
- numbers by value (`5 == 5.0`); a numeric string for an integer/number-typed parameter is that number, and
  "true"/"false" for a boolean-typed one is that boolean; booleans stay distinct from ints (`True != 1`);
- an optional argument equal to its schema `default` (or `None`, which the rule checker reads as "not given")
  is absent; nested objects and arrays are normalised recursively with their sub-schemas;
- the order of the calls in a list is free (BFCL's parallel checking is order-free), so is the order of an
  array whose schema says `uniqueItems`; argument and dict-key order never matters.

An unknown tool or argument gets the generic rules (strings, numbers, nesting), nothing schema-based.
Pure functions, no model, no I/O.

    normalize_calls(parse_calls('[f(city="Paris ")]'), tools) == normalize_calls(parse_calls("[f(city='paris')]"), tools)
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from open_toolace.formats.calls import ToolCall
from open_toolace.formats.tools import Tool, ToolFormatError, as_tool

__all__ = [
    "normalize_call",
    "normalize_calls",
    "normalize_date",
    "normalize_value",
    "standardize_string",
]

# ----------------------------------------------------------------------------- strings

# Replicated from bfcl_eval.eval_checker.ast_eval.ast_checker.standardize_string (bfcl-eval 2026.3.23), the rule
# BFCL's AST checker compares string values by. Not imported: that module loads bfcl_eval's model registry
# (seconds of import time) and the formats layer depends on nothing heavy. Keep the two in step.
_BFCL_STRIP = re.compile(r"[ \,\.\/\-\_\*\^]")


def standardize_string(text: str) -> str:
    """BFCL's string comparison form: spaces and `,./-_*^` removed, lowercased, single quotes as double.

    Two strings BFCL's checker would accept as the same answer get the same form here, so the vote does not
    split over "New York" / "new york" / "New-York"."""
    return _BFCL_STRIP.sub("", text).lower().replace("'", '"')


# ----------------------------------------------------------------------------- dates

_MONTHS = {
    name: i
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_ORD = r"(?:st|nd|rd|th)?"
_ISO = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})")  # 2025-03-01, 2025/3/1: year first is unambiguous
_MDY_NAME = re.compile(rf"([a-z]+)\.?\s+(\d{{1,2}}){_ORD},?\s+(\d{{4}})")  # March 1, 2025 / Mar 1st 2025
_DMY_NAME = re.compile(rf"(\d{{1,2}}){_ORD}\s+(?:of\s+)?([a-z]+)\.?,?\s+(\d{{4}})")  # 1 March 2025
_SLASH = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")  # 03/13/2025 or 13/03/2025: only when one reading works


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        return _dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def normalize_date(text: str) -> str | None:
    """The ISO form (`YYYY-MM-DD`) of a string that is exactly one date in an unambiguous surface form, else None.

    Read: `2025-03-01` (and `2025/3/1`), `March 1, 2025` / `Mar 1st 2025`, `1 March 2025` / `1st of March, 2025`,
    and `a/b/YYYY` only where the convention does not matter (`13/03/2025`, `03/13/2025`, `03/03/2025`);
    `03/01/2025` is left alone (March 1 in the US, January 3 elsewhere). Impossible dates are left alone.
    Conservative on purpose: merging two different dates would make the vote agree on a wrong answer."""
    s = text.strip().lower()
    if m := _ISO.fullmatch(s):
        return _iso(int(m[1]), int(m[2]), int(m[3]))
    if (m := _MDY_NAME.fullmatch(s)) and m[1] in _MONTHS:
        return _iso(int(m[3]), _MONTHS[m[1]], int(m[2]))
    if (m := _DMY_NAME.fullmatch(s)) and m[2] in _MONTHS:
        return _iso(int(m[3]), _MONTHS[m[2]], int(m[1]))
    if m := _SLASH.fullmatch(s):
        a, b, year = int(m[1]), int(m[2]), int(m[3])
        readings = {d for d in (_iso(year, a, b), _iso(year, b, a)) if d}  # month/day, day/month
        return readings.pop() if len(readings) == 1 else None
    return None


# ----------------------------------------------------------------------------- values

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")


def _types(schema: Any) -> set[str]:
    """JSON-Schema type names a schema allows (empty: unconstrained or unknown)."""
    if not isinstance(schema, Mapping):
        return set()
    t = schema.get("type")
    if isinstance(t, str):
        return {t}
    if isinstance(t, list):
        return {x for x in t if isinstance(x, str)}
    out: set[str] = set()
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if isinstance(branches, list):
            for b in branches:
                bt = _types(b)
                if not bt:
                    return set()  # one branch accepts anything
                out |= bt
    return out


def _number(v: int | float) -> Any:
    if isinstance(v, float):
        if v.is_integer():
            v = int(v)
        else:
            return v  # inf / nan are not integral and stay floats
    # JSON cannot write ints over the str() digit limit; tag them so keys stay distinct (as canonical_call does)
    return v if v.bit_length() < 10_000 else {"$int": hex(v)}


def _typed_string(s: str, types: set[str]) -> Any:
    """A string read as the number/boolean its parameter's type asks for, or `s` unchanged."""
    if "string" in types:
        return s
    t = s.strip()
    if types & {"integer", "number"}:
        if _INT.fullmatch(t) and len(t) < 4000:
            return _number(int(t))
        if _FLOAT.fullmatch(t) and len(t) < 400:
            f = float(t)
            if math.isfinite(f) and ("number" in types or f.is_integer()):
                return _number(f)
    if "boolean" in types and t.lower() in ("true", "false"):
        return t.lower() == "true"
    return s


def _key(v: Any) -> str:
    return json.dumps(v, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=repr)


def normalize_value(value: Any, schema: Mapping | None = None) -> Any:
    """A JSON-able normal form of one argument value, guided by its JSON Schema where there is one.

    Values that BFCL's checker would accept as the same answer get equal normal forms (compare with `_key`,
    i.e. JSON text, not `==`: `True == 1` in Python). See the module docstring for the rules."""
    types = _types(schema)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return _number(value)
    if isinstance(value, str):
        typed = _typed_string(value, types)
        if not isinstance(typed, str):
            return typed
        return standardize_string(normalize_date(value) or value)
    if isinstance(value, (list, tuple)):
        items = schema.get("items") if isinstance(schema, Mapping) else None
        out = [normalize_value(x, items if isinstance(items, Mapping) else None) for x in value]
        if isinstance(schema, Mapping) and schema.get("uniqueItems") is True:
            out.sort(key=_key)  # a set: its order carries no meaning
        return out
    if isinstance(value, Mapping):
        return _normalize_object(value, schema if isinstance(schema, Mapping) else None)
    return {"$repr": repr(value)}


def _normalize_object(value: Mapping, schema: Mapping | None) -> dict[str, Any]:
    """Keys kept as written; an optional property given as None or at its schema default is dropped."""
    props = schema.get("properties") if schema else None
    props = props if isinstance(props, Mapping) else {}
    req = schema.get("required") if schema else None
    required = {r for r in req if isinstance(r, str)} if isinstance(req, list) else set()
    extra = schema.get("additionalProperties") if schema else None
    out: dict[str, Any] = {}
    for k, x in value.items():
        k = str(k)
        sub = props.get(k)
        if sub is None and isinstance(extra, Mapping):
            sub = extra
        norm = normalize_value(x, sub if isinstance(sub, Mapping) else None)
        if k in props and k not in required:
            if x is None:
                continue  # the rule checker reads None for an optional parameter as "not given"
            if isinstance(sub, Mapping) and "default" in sub:
                try:
                    if _key(norm) == _key(normalize_value(sub["default"], sub)):
                        continue  # stating the default says nothing more than leaving it out
                except (TypeError, ValueError, RecursionError):
                    pass  # an odd default in the schema: compare the value as given
        out[k] = norm
    return out


# ----------------------------------------------------------------------------- calls


def _tool_index(tools: Sequence[Tool | Mapping] | None) -> dict[str, Tool]:
    by_name: dict[str, Tool] = {}
    for t in tools or ():
        try:
            tool = as_tool(t)
        except ToolFormatError:
            continue  # an unreadable tool: calls to it get the generic rules
        by_name.setdefault(tool.name, tool)  # the first of a repeated name wins, as in check_calls
    return by_name


def _call_form(call: ToolCall, by_name: Mapping[str, Tool]) -> list[Any]:
    tool = by_name.get(call.name)
    schema = tool.parameters if tool is not None else None
    return [call.name, _normalize_object(call.arguments, schema)]


def normalize_call(call: ToolCall, tool: Tool | Mapping | None = None) -> str:
    """The normalized key of one call, against its tool's schema when given (else the generic rules)."""
    return _key(_call_form(call, _tool_index([tool] if tool is not None else None)))


def normalize_calls(calls: Sequence[ToolCall], tools: Sequence[Tool | Mapping] | None = None) -> str:
    """A hashable key for a call list: equal for two lists that mean the same calls (module docstring).

    Each call is normalised against the tool of its name among `tools` (Tools or tool dicts; unreadable ones
    are skipped); the calls are then sorted, so their order is free while repeats still count. The key is
    JSON text (`[[name, {arg: value}], ...]`), readable in `votes.jsonl`."""
    by_name = _tool_index(tools)
    return _key(sorted((_call_form(c, by_name) for c in calls), key=_key))
