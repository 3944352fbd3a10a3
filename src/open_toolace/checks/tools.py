"""Rules for tool definitions: the JSON-Schema meta-schema, required within properties, names, descriptions.

Codes: ``invalid_schema``, ``required_not_in_properties``, ``bad_name``, ``duplicate_name``,
``empty_description``, ``unknown_type`` (a type name the converters could not map; the value is unconstrained).
"""

from __future__ import annotations

import json
from collections import Counter
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator

from open_toolace.checks.reasons import MAX_SCHEMA_ERRORS, Reason, short
from open_toolace.formats.tools import MAX_NAME_LEN, NAME_RE, Tool, ToolFormatError, as_tool

_META = Draft202012Validator(Draft202012Validator.META_SCHEMA)


def _walk_schema(s: Any, path: str):
    """Yield (path, subschema) for every dict subschema, following properties/items/combinators."""
    if not isinstance(s, dict):
        return
    yield path, s
    props = s.get("properties")
    if isinstance(props, dict):
        for k, v in props.items():
            yield from _walk_schema(v, f"{path}.{k}")
    for key in ("items", "additionalProperties", "not", "contains"):
        yield from _walk_schema(s.get(key), f"{path}.{key}")
    for key in ("prefixItems", "anyOf", "oneOf", "allOf"):
        if isinstance(s.get(key), list):
            for i, v in enumerate(s[key]):
                yield from _walk_schema(v, f"{path}.{key}[{i}]")


_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_ONE = ("items", "additionalProperties", "not", "contains", "if", "then", "else", "propertyNames")
_SCHEMA_LISTS = ("prefixItems", "anyOf", "oneOf", "allOf")


def _skeleton(s: Any) -> Any:
    """The schema without free text and extension keys: the same meta-schema verdict, far more cache hits."""
    if not isinstance(s, dict):
        return s
    out = {}
    for k, v in s.items():
        if k == "default" or str(k).startswith("x-") or (k == "examples" and isinstance(v, list)):
            continue
        if k in ("description", "title", "$comment") and isinstance(v, str):
            continue
        if k in _SCHEMA_MAPS and isinstance(v, dict):
            out[k] = {n: _skeleton(x) for n, x in v.items()}
        elif k in _SCHEMA_ONE:
            out[k] = _skeleton(v)
        elif k in _SCHEMA_LISTS and isinstance(v, list):
            out[k] = [_skeleton(x) for x in v]
        else:
            out[k] = v
    return out


@lru_cache(maxsize=16384)
def _meta_errors_cached(key: str) -> tuple[tuple[tuple, str], ...]:
    errors = sorted(_META.iter_errors(json.loads(key)), key=lambda e: [str(p) for p in e.absolute_path])
    return tuple((tuple(e.absolute_path), e.message) for e in errors)


def _meta_errors(params: dict) -> list[tuple[tuple, str]]:
    """Draft 2020-12 meta-schema errors as (path, message); each property schema is checked (and cached) alone,
    which is valid because every subschema must itself be a schema — and ~10x faster on real tool sets."""
    sk = _skeleton(params)
    props = sk.get("properties")
    if not isinstance(props, dict):
        return list(_meta_errors_cached(json.dumps(sk, sort_keys=True, default=repr)))
    top = {**sk, "properties": {}}  # names and a well-formed `required` do not change the verdict
    req = sk.get("required")
    if isinstance(req, list) and all(isinstance(r, str) for r in req) and len(set(req)) == len(req):
        top["required"] = []
    errors = list(_meta_errors_cached(json.dumps(top, sort_keys=True, default=repr)))
    for n, sub in props.items():
        for path, msg in _meta_errors_cached(json.dumps(sub, sort_keys=True, default=repr)):
            errors.append((("properties", n, *path), msg))
    return errors


@lru_cache(maxsize=8192)
def _tool_reasons_cached(key: str) -> tuple[Reason, ...]:
    d = json.loads(key)
    name, desc, params = d["name"], d["description"], d["parameters"]
    out: list[Reason] = []
    if not isinstance(name, str) or not NAME_RE.match(name) or len(name) > MAX_NAME_LEN:
        out.append(
            Reason(
                "bad_name",
                f"tool name {name!r} is not a usable function name: start with a letter or _, "
                f"then letters, digits, '_', '.', '-' only (no spaces), at most {MAX_NAME_LEN} characters",
            )
        )
    if not isinstance(desc, str) or not desc.strip():
        out.append(
            Reason("empty_description", f"tool {name!r} has an empty description: say what the tool does")
        )
    if not isinstance(params, dict) or params.get("type") != "object":
        found = params.get("type") if isinstance(params, dict) else params
        out.append(
            Reason(
                "invalid_schema",
                f"tool {name!r}: parameters must be a JSON-Schema with type 'object', found {short(found)}",
            )
        )
        return tuple(out)
    for path, msg in _meta_errors(params)[:MAX_SCHEMA_ERRORS]:
        where = "".join(f"[{p!r}]" for p in path)
        out.append(Reason("invalid_schema", f"tool {name!r}: parameters{where}: {msg}"))
    for path, sub in _walk_schema(params, "parameters"):
        req, props = sub.get("required"), sub.get("properties")
        if isinstance(req, list) and (isinstance(props, dict) or sub.get("type") == "object"):
            missing = [r for r in req if not isinstance(props, dict) or r not in props]
            if missing:
                out.append(
                    Reason(
                        "required_not_in_properties",
                        f"tool {name!r}: {path}.required lists "
                        f"{missing} but properties has only {sorted(props or {})}",
                    )
                )
        if "x-unknown-type" in sub:
            out.append(
                Reason(
                    "unknown_type",
                    f"tool {name!r}: {path} has type {sub['x-unknown-type']!r}, which "
                    "has no JSON-Schema equivalent; any value is accepted there",
                )
            )
    return tuple(out)


def tool_reasons(tool: Tool) -> list[Reason]:
    """Rules for one tool (see ``tools.validate_tool``): meta-schema, required ⊆ properties, name, description."""
    try:
        key = json.dumps(
            {"name": tool.name, "description": tool.description, "parameters": tool.parameters},
            sort_keys=True,
            default=repr,
        )
        return list(_tool_reasons_cached(key))
    except RecursionError:
        return [Reason("invalid_schema", f"tool {tool.name!r}: parameters are nested too deeply to check")]


def check_tools(tools: list) -> list[Reason]:
    """Check tool definitions (``Tool`` objects or any shape ``parse_tool`` reads)."""
    out: list[Reason] = []
    seen: Counter = Counter()
    for i, t in enumerate(tools):
        try:
            tool = as_tool(t)
        except ToolFormatError as e:
            out.append(Reason("invalid_schema", f"tool #{i}: {e}"))
            continue
        out.extend(tool_reasons(tool))
        seen[tool.name] += 1
        if seen[tool.name] == 2:
            out.append(
                Reason(
                    "duplicate_name", f"more than one tool is named {tool.name!r}; calls to it are ambiguous"
                )
            )
    return out


def validate_tool(tool: Tool) -> list[Reason]:
    """One tool's rules (meta-schema check, jsonschema Draft 2020-12, plus ours); ``[]`` means it passes."""
    return tool_reasons(tool)
