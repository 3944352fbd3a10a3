"""Rules for calls against the tools offered: names, required and unknown arguments, values by JSON Schema,
duplicates and (optionally) grounding of values in the query.

Codes: ``unknown_function``, ``missing_required``, ``unknown_parameter``, ``type_mismatch``, ``enum_mismatch``,
``schema_violation``, ``duplicate_call``, ``ungrounded_value`` (only with a query and ``grounding != "off"``),
``invalid_schema`` (the tool's own schema cannot validate the value).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError, UnknownType

from open_toolace.checks.reasons import MAX_SCHEMA_ERRORS, Reason, short
from open_toolace.formats.grounding import MODES as GROUNDING_MODES
from open_toolace.formats.grounding import QueryIndex, ungrounded
from open_toolace.formats.tools import Tool, ToolFormatError, as_tool

_TYPE_CHECKER = Draft202012Validator.TYPE_CHECKER.redefine(
    "array", lambda _checker, x: isinstance(x, (list, tuple))
)
_ValueValidator = validators.extend(Draft202012Validator, type_checker=_TYPE_CHECKER)


@lru_cache(maxsize=16384)
def _validator(schema_key: str) -> Draft202012Validator:
    return _ValueValidator(json.loads(schema_key))


def _classify(err) -> str:
    if err.validator == "type":
        return "type_mismatch"
    if err.validator in ("enum", "const"):
        return "enum_mismatch"
    if (
        err.validator in ("anyOf", "oneOf")
        and err.context
        and all(c.validator == "type" for c in err.context)
    ):
        return "type_mismatch"
    return "schema_violation"


def _value_reasons(name: str, arg: str, value: Any, schema: dict) -> list[Reason]:
    try:
        validator = _validator(json.dumps(schema, sort_keys=True, default=repr))
        errors = list(validator.iter_errors(value))
    except (
        SchemaError,
        UnknownType,
        TypeError,
        ValueError,
        LookupError,
        RecursionError,
    ) as e:  # a broken tool schema, not a broken call
        return [
            Reason(
                "invalid_schema",
                f"call {name!r}: cannot validate argument {arg!r}, the tool's schema for it "
                f"is invalid ({type(e).__name__}: {str(e).splitlines()[0][:120]})",
                name,
            )
        ]
    out = []
    for err in sorted(errors, key=lambda e: list(e.absolute_path))[:MAX_SCHEMA_ERRORS]:
        where = arg + "".join(f"[{p!r}]" for p in err.absolute_path)
        expected = f" (schema: {short(err.schema, 100)})" if err.validator not in ("type", "enum") else ""
        out.append(Reason(_classify(err), f"call {name!r}: argument {where}: {err.message}{expected}", name))
    return out


def _call_parts(call: Any) -> tuple[Any, Any]:
    if isinstance(call, dict):
        return call.get("name"), call.get("arguments", {})
    return getattr(call, "name", None), getattr(call, "arguments", None)


def _dup_key(name: str, args: Any) -> str:
    def norm(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, dict):
            return {str(k): norm(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [norm(x) for x in v]
        return v

    return name + json.dumps(norm(args), sort_keys=True, default=repr)


def _fold(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def _named_after(arg: str, value: Any, schema: dict) -> bool:
    """`iodine="Iodine"`: a value of the query made into a parameter of its own. A small model answering
    "the configurations of iodine and uranium" writes one call with a parameter per value instead of one
    call per value. Enum / const values come from the tool, not the query, and are not flagged."""
    if not isinstance(value, str) or "enum" in schema or "const" in schema:
        return False
    folded = _fold(arg)
    return len(folded) > 1 and folded == _fold(value)


def check_calls(
    calls: list,
    tools: list,
    query: str | None = None,
    grounding: str = "off",
    *,
    flag_duplicates: bool = True,
    flag_named_after_value: bool = False,
) -> list[Reason]:
    """Check a call list (``ToolCall``s or ``{"name", "arguments"}`` dicts) against the tools offered
    (``Tool``s or any shape ``parse_tool`` reads).

    ``grounding``: ``"off"``; ``"lenient"`` (a string value passes when any content word of it occurs in
    ``query``); ``"strict"`` (the whole normalised value must occur in ``query``); see
    ``open_toolace.formats.grounding``. Skipped without a query. ``flag_duplicates``: report a call repeating an
    earlier identical one (usually a generation loop; a task may legitimately ask for it, e.g. two random draws).
    ``flag_named_after_value``: report a string argument equal to its own parameter's name (``iodine="Iodine"``,
    see ``_named_after``); off by default, since real calls do it now and then (``password="password"``, and
    Java / JavaScript answers that pass a variable named like the parameter).
    """
    if grounding not in GROUNDING_MODES:
        raise ValueError(f"grounding must be one of {GROUNDING_MODES}, got {grounding!r}")
    by_name: dict[str, Tool] = {}
    out: list[Reason] = []
    for i, t in enumerate(tools):
        try:
            tool = as_tool(t)
        except ToolFormatError as e:  # reported, and calls to it then count as unknown_function
            out.append(Reason("invalid_schema", f"tool #{i} cannot be read: {e}"))
            continue
        by_name.setdefault(tool.name, tool)
    seen: set[str] = set()
    query_norm = QueryIndex(query) if query is not None and grounding != "off" else None
    for i, call in enumerate(calls):
        name, args = _call_parts(call)
        label = name if isinstance(name, str) else f"#{i}"
        if not isinstance(args, dict):
            out.append(
                Reason(
                    "schema_violation",
                    f"call #{i} {label!r}: arguments must be an object, found "
                    f"{type(args).__name__} {short(args)}",
                    label,
                )
            )
            continue
        try:
            key = _dup_key(str(name), args)
        except RecursionError:
            out.append(Reason("schema_violation", f"call #{i} {label!r}: arguments nested too deeply", label))
            continue
        if key in seen and flag_duplicates:
            out.append(
                Reason("duplicate_call", f"call #{i} {label!r} repeats an earlier identical call", label)
            )
        seen.add(key)
        tool = by_name.get(name) if isinstance(name, str) else None
        if tool is None:
            out.append(
                Reason(
                    "unknown_function",
                    f"call #{i}: function {label!r} is not one of the tools offered "
                    f"({short(sorted(by_name), 120)})",
                    label,
                )
            )
            continue
        props, required = tool.properties, tool.required
        for r in required:
            if r not in args:
                out.append(
                    Reason("missing_required", f"call {name!r}: required argument {r!r} is missing", name)
                )
        extra = tool.parameters.get("additionalProperties")
        for arg, value in args.items():
            schema = props.get(arg)
            if schema is None:
                if isinstance(extra, dict):
                    schema = extra
                elif extra is not True:
                    out.append(
                        Reason(
                            "unknown_parameter",
                            f"call {name!r}: argument {arg!r} is not a parameter of "
                            f"the tool (parameters: {sorted(props)})",
                            name,
                        )
                    )
                    continue
                else:
                    schema = {}
            if value is None and arg not in required:
                continue  # None for an optional parameter means "not given"
            if isinstance(schema, dict):
                out.extend(_value_reasons(name, arg, value, schema))
                if flag_named_after_value and _named_after(arg, value, schema):
                    msg = f"call {name!r}: argument {arg!r} = {short(value)} is a parameter named after its value"
                    out.append(Reason("parameter_named_after_value", msg, name))
                if query_norm is not None:
                    for where, text in ungrounded(value, schema, query_norm, grounding, arg):
                        msg = f"call {name!r}: argument {where} = {short(text)} does not appear in the query"
                        out.append(Reason("ungrounded_value", f"{msg} ({grounding} grounding)", name))
    return out
