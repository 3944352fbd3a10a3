"""Schema dialects -> JSON Schema: type names, parameter dicts, and back to BFCL's names.

The one place where the type vocabularies of tool data sets are mapped: JSON Schema itself, BFCL docs
(``dict``, ``float``, ``tuple``, ``any``, Java/JS names like ``HashMap``), Python-ish docstring types from
xLAM/ToolRL/API-Bank/Seal-Tools (``str``, ``List[int]``, ``Optional[str]``, ``int, optional``). Used by
``open_toolace.formats.tools``; a name we cannot map becomes "no constraint" plus an ``x-unknown-type`` marker.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from functools import lru_cache
from typing import Any

_SIMPLE_TYPES = {
    **dict.fromkeys(["string", "str", "text", "char", "character", "unicode"], "string"),
    **dict.fromkeys(["integer", "int", "long", "short", "byte", "bigint"], "integer"),
    **dict.fromkeys(["number", "float", "double", "decimal", "numeric", "real"], "number"),
    **dict.fromkeys(["boolean", "bool"], "boolean"),
    **dict.fromkeys(["array", "list", "tuple", "set", "arraylist", "linkedlist", "queue", "stack"], "array"),
    **dict.fromkeys(["sequence", "iterable", "frozenset"], "array"),
    **dict.fromkeys(["object", "dict", "hashmap", "hashtable", "map", "mapping", "json"], "object"),
    **dict.fromkeys(["null", "none", "nonetype"], "null"),
}
_FORMAT_TYPES = {"datetime": "date-time", "date": "date", "time": "time"}
_ANY_TYPES = {"any", "typing.any", "anytype"}
# JSON-Schema type -> the name BFCL function docs use for it.
_BFCL_NAMES = {"object": "dict", "number": "float"}
_GENERIC_RE = re.compile(r"^([A-Za-z_][\w.]*)\s*\[(.*)\]$", re.S)
# BFCL type names whose JSON-Schema mapping loses information; kept as x-original-type for tool_to_bfcl.
_BFCL_KEEP = {"tuple", "any", "Any", "long", "short", "byte", "double", "char", "String", "Boolean", "Bigint"}
_BFCL_KEEP |= {"ArrayList", "Array", "HashMap", "Hashtable", "Queue", "Stack"}


class ToolFormatError(ValueError):
    """A tool definition that cannot be converted; the message names the field, what was found, what is expected."""


_BARE_TYPE_RE = re.compile(r"(['\"]type['\"]\s*:\s*)([A-Za-z_][\w\[\], ]*?)(?=\s*[,}])")
_INNER_QUOTE_RE = re.compile(r"(?<=[A-Za-z])'(?=[A-Za-z])")


def loads_definition(text: str, where: str) -> Any:
    """JSON, or a Python literal (API-Bank prints tool docs with ``repr``); parsed as data, never evaluated.

    Two defects of API-Bank's printed docs are repaired when the text does not parse as it is: bare type
    names (``'type': str``) and unescaped apostrophes inside single-quoted strings (``'the user's name'``).
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        err = f"{e.msg} at char {e.pos}"
    lit = ""
    for candidate in (text, _INNER_QUOTE_RE.sub("\\'", _BARE_TYPE_RE.sub(r"\1'\2'", text))):
        try:
            return ast.literal_eval(candidate.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as e:
            lit = lit or f"{type(e).__name__}: {str(e).splitlines()[0][:80] if str(e) else ''}"
    raise ToolFormatError(
        f"{where}: a string was given but it is neither JSON ({err}) nor a Python literal ({lit}); "
        f"text starts {text[:80]!r}"
    )


def show(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr) if not isinstance(value, str) else repr(value)
    return f"{type(value).__name__} {text[:limit]}{'...' if len(text) > limit else ''}"


# ---------------------------------------------------------------- type names -> JSON Schema


def _split_args(text: str) -> list[str]:
    """Split ``"int, List[str], Dict[str, int]"`` on top-level commas."""
    parts, depth, cur = [], 0, []
    for ch in text:
        depth += 1 if ch in "[(" else -1 if ch in "])" else 0
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


def _union(schemas: list[dict]) -> dict:
    if any(not s for s in schemas):
        return {}  # one branch accepts anything
    if all(set(s) == {"type"} for s in schemas):
        types: list[str] = []
        for s in schemas:
            for t in s["type"] if isinstance(s["type"], list) else [s["type"]]:
                if t not in types:
                    types.append(t)
        return {"type": types[0] if len(types) == 1 else types}
    return {"anyOf": schemas}


@lru_cache(maxsize=4096)
def _parse_type(text: str) -> tuple[str, tuple[str, ...], bool]:
    """Parse a type name into (schema JSON, unknown names, optional?) — cached, since tools repeat a lot."""
    unknown: list[str] = []
    optional = False

    def conv(t: str) -> dict:
        nonlocal optional
        t = t.strip()
        low = t.lower().removeprefix("typing.")
        if low.endswith(", optional") or low.endswith(",optional"):
            optional = True
            return conv(t.rsplit(",", 1)[0])
        if "|" in t and "[" not in t:
            return _union([conv(p) for p in t.split("|")])
        if low in _SIMPLE_TYPES:
            return {"type": _SIMPLE_TYPES[low]}
        if low in _FORMAT_TYPES:
            return {"type": "string", "format": _FORMAT_TYPES[low]}
        if low in _ANY_TYPES:
            return {}
        m = _GENERIC_RE.match(t)
        if m:
            head, args = m.group(1).lower().removeprefix("typing."), _split_args(m.group(2))
            base = _SIMPLE_TYPES.get(head)
            if head == "optional" and len(args) == 1:
                optional = True
                return _union([conv(args[0]), {"type": "null"}])
            if head == "union" and args:
                return _union([conv(a) for a in args])
            if head == "literal" and args:
                try:
                    return {"enum": [ast.literal_eval(a) for a in args]}
                except (ValueError, SyntaxError):
                    pass
            elif base == "array" and head in ("tuple",) and args and args[-1] != "...":
                items = [conv(a) for a in args]
                if all(i == items[0] for i in items):
                    return {
                        "type": "array",
                        "items": items[0],
                        "minItems": len(items),
                        "maxItems": len(items),
                    }
                return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
            elif base == "array":
                return {"type": "array", "items": conv(args[0])} if args else {"type": "array"}
            elif base == "object":
                value = conv(args[1]) if len(args) == 2 else {}
                return {"type": "object", "additionalProperties": value} if value else {"type": "object"}
        unknown.append(t)
        return {}

    schema = conv(text)
    return json.dumps(schema), tuple(unknown), optional


def type_to_schema(type_name: Any) -> tuple[dict, bool, list[str]]:
    """Map a type name (``"float"``, ``"List[int]"``, ``"str, optional"``, ``["string", "null"]``) to JSON Schema.

    Returns ``(schema fragment, optional?, unknown type names)``; an unknown name maps to ``{}`` (any value).
    """
    if type_name is None:
        return {}, False, []
    if isinstance(type_name, list):
        parts = [type_to_schema(t) for t in type_name]
        return _union([p[0] for p in parts]), any(p[1] for p in parts), [u for p in parts for u in p[2]]
    if not isinstance(type_name, str) or not type_name.strip():
        return {}, False, [str(type_name)]
    schema, unknown, optional = _parse_type(type_name)
    return json.loads(schema), optional, list(unknown)


def _bfcl_type_name(json_type: str) -> str:
    return _BFCL_NAMES.get(json_type, json_type)


def normalize_schema(s: Any, where: str) -> dict:
    """Normalise one (sub)schema: type aliases, nested properties/items, property-level ``required: true``."""
    if not isinstance(s, dict):
        raise ToolFormatError(f"{where}: expected a JSON object describing a value, found {show(s)}")
    out: dict = {}
    if "type" in s:
        frag, _, unknown = type_to_schema(s["type"])
        out.update(frag)
        orig = s["type"]
        if unknown:
            out["x-unknown-type"] = orig if isinstance(orig, str) else json.dumps(orig)
        elif isinstance(orig, str) and orig in _BFCL_KEEP:
            out["x-original-type"] = orig
    for k, v in s.items():
        if k == "type":
            continue
        if k == "properties":
            if not isinstance(v, dict):
                raise ToolFormatError(
                    f"{where}.properties: expected an object of parameter schemas, found {show(v)}"
                )
            given = s.get("required")
            out[k], req = {}, list(given) if isinstance(given, list) else []
            for pname, pschema in v.items():
                sub = normalize_schema(pschema, f"{where}.properties.{pname}")
                flag = sub.pop("required") if isinstance(sub.get("required"), bool) else False
                if flag and pname not in req:  # OpenAPI-2 style `required: true` on the property itself
                    req.append(pname)
                out[k][pname] = sub
            if req or isinstance(given, list):
                out["required"] = req
            elif given is not None:
                out["required"] = given  # not a list: kept so validate_tool can say so
        elif k == "required":
            if v is not None and "properties" not in s:
                out[k] = v  # a bool is lifted into the parent's list by the caller
        elif k in ("items", "additionalProperties", "not", "contains") and isinstance(v, dict):
            out[k] = normalize_schema(v, f"{where}.{k}")
        elif k == "items" and isinstance(v, list):  # draft-7 tuple form
            out["prefixItems"] = [normalize_schema(x, f"{where}.items[{i}]") for i, x in enumerate(v)]
        elif k in ("anyOf", "oneOf", "allOf", "prefixItems") and isinstance(v, list):
            out[k] = [normalize_schema(x, f"{where}.{k}[{i}]") for i, x in enumerate(v)]
        else:
            out[k] = copy.deepcopy(v)
    enum = out.get("enum")
    if (
        out.get("type") == "array"
        and isinstance(enum, list)
        and enum
        and not any(isinstance(e, list) for e in enum)
    ):
        # BFCL writes the allowed *item* values on the array itself; an array never equals a scalar
        items = out.get("items") if isinstance(out.get("items"), dict) else {}
        out["items"] = {**items, "enum": out.pop("enum")}
        out["x-enum-on-array"] = True
    return out


def object_schema(params: Any, where: str) -> dict:
    if params is None:
        return {"type": "object", "properties": {}}
    if isinstance(params, str):
        params = loads_definition(params, where)
    out = normalize_schema(params, where)
    if "type" not in out and ("properties" in out or not out):  # `{}` = a tool without parameters
        out = {"type": "object", **out}
    if out.get("type") != "object":
        raise ToolFormatError(
            f"{where}: the parameters schema must have type 'object' (or BFCL 'dict'), found type "
            f'{show(params.get("type"))}; expected {{"type": "object", "properties": {{...}}}}'
        )
    out.setdefault("properties", {})
    return out


def check_description(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ToolFormatError(f"tool {name!r}: field 'description' must be a string, found {show(value)}")
    return value


def check_name(value: Any, field_name: str, obj: dict) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ToolFormatError(
            f"tool field {field_name!r} must be a non-empty string, found {show(value)} in {show(obj, 120)}"
        )
    return value


def params_from_doc(params: Any, where: str, required: list | None, rule: str) -> dict:
    """Parameter dicts ``{p: {"type", "description", "default", ...}}`` -> JSON-Schema object.

    ``rule`` decides required-ness when no explicit ``required`` list is given: ``"no_default"`` (xLAM: a
    parameter without a default, or with ToolRL's ``""`` placeholder, is required unless its type says
    optional) or ``"not_optional"`` (API-Bank: required unless the type or description says optional).
    """
    if params is None:
        params = {}
    if isinstance(params, str):
        params = loads_definition(params, where)
    if not isinstance(params, dict):
        raise ToolFormatError(
            f'{where}: expected an object {{"param": {{"type": ..., "description": ...}}}}, found {show(params)}'
        )
    props, req = {}, []
    for pname, spec in params.items():
        if isinstance(spec, str):
            spec = {"type": spec}
        if not isinstance(spec, dict):
            raise ToolFormatError(
                f"{where}.{pname}: expected an object with 'type' and 'description', found {show(spec)}"
            )
        spec = dict(spec)
        if rule == "no_default" and spec.get("default") == "":
            spec.pop("default")  # ToolRL writes "" for "no default"
        if "choices" in spec and "enum" not in spec:
            spec["enum"] = spec.pop("choices")
        for k in ("example", "example_values", "examples"):
            if k in spec:  # JSON Schema's `examples` is an array; the data sets write one value or a list
                ex = spec.pop(k)
                spec.setdefault("examples", ex if isinstance(ex, list) else [ex])
        explicit = spec.pop("required", None) if isinstance(spec.get("required"), bool) else None
        _, optional, _ = type_to_schema(spec.get("type"))
        sub = normalize_schema(spec, f"{where}.{pname}")
        if explicit is not None:
            needed = explicit
        elif rule == "no_default":
            needed = not optional and "default" not in sub
        else:
            needed = (
                not optional
                and "default" not in sub
                and "optional" not in str(spec.get("description", "")).lower()
            )
        if needed:
            req.append(pname)
        props[pname] = sub
    if isinstance(required, list):
        req = [r for r in required if isinstance(r, str)]
    out = {"type": "object", "properties": props}
    if req:
        out["required"] = req
    return out


def strip_extensions(s: Any) -> Any:
    if isinstance(s, dict):
        return {
            k: strip_extensions(v) for k, v in s.items() if not (isinstance(k, str) and k.startswith("x-"))
        }
    if isinstance(s, list):
        return [strip_extensions(v) for v in s]
    return s


def to_bfcl_schema(s: Any) -> Any:
    if isinstance(s, list):
        return [to_bfcl_schema(x) for x in s]
    if not isinstance(s, dict):
        return s
    if s.get("x-enum-on-array") and isinstance(s.get("items"), dict) and "enum" in s["items"]:
        items = dict(s["items"])
        s = {**s, "items": items, "enum": items.pop("enum")}
    out = {}
    orig = s.get("x-original-type") or s.get("x-unknown-type")
    t = s.get("type")
    if orig is not None:
        out["type"] = orig
    elif isinstance(t, str):
        out["type"] = _bfcl_type_name(t)
    elif isinstance(t, list):
        out["type"] = [_bfcl_type_name(x) if isinstance(x, str) else x for x in t]
    elif "enum" not in s and not any(k in s for k in ("anyOf", "oneOf", "allOf")):
        out["type"] = "any"
    for k, v in s.items():
        if k == "type" or (isinstance(k, str) and k.startswith("x-")):
            continue
        if k == "properties" and isinstance(v, dict):
            out[k] = {p: to_bfcl_schema(ps) for p, ps in v.items()}
        elif k in ("items", "additionalProperties", "anyOf", "oneOf", "allOf", "prefixItems", "not"):
            out[k] = to_bfcl_schema(v)
        else:
            out[k] = copy.deepcopy(v)
    return out
