"""Tool (function) definitions: one internal model, converters in and out.

Every tool is stored as ``Tool(name, description, parameters)`` where ``parameters`` is a JSON-Schema object
(``{"type": "object", "properties": {...}, "required": [...]}``). Converters read the shapes found in the
wild (OpenAI, BFCL "dict"/"float" docs, ToolACE/ShareGPT lists, xLAM/ToolRL parameter dicts, Seal-Tools,
API-Bank) and ``parse_tool`` detects which one it got. Type names are normalised in one place
(``type_to_schema``); a type we cannot map becomes "no constraint" plus an ``x-unknown-type`` marker that
``checks.validate_tool`` reports as ``unknown_type``, never a crash. A lossy mapping (``tuple`` -> array, ``any``
-> no type) keeps the source name in ``x-original-type`` so ``tool_to_bfcl`` can give it back.

    from open_toolace.formats.tools import parse_tool, tool_to_openai
    tool = parse_tool({"name": "math.factorial", "description": "n!", "parameters": {"type": "dict", ...}})
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from open_toolace.formats.schema import (
    ToolFormatError,
    check_description,
    check_name,
    loads_definition,
    object_schema,
    params_from_doc,
    show,
    strip_extensions,
    to_bfcl_schema,
    type_to_schema,
)

__all__ = [
    "MAX_NAME_LEN",
    "NAME_RE",
    "Tool",
    "ToolFormatError",
    "as_tool",
    "parse_tool",
    "parse_tools",
    "tool_from_apibank",
    "tool_from_bfcl",
    "tool_from_openai",
    "tool_from_sealtools",
    "tool_from_xlam",
    "tool_to_bfcl",
    "tool_to_openai",
    "tool_record",
    "type_to_schema",
]

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
MAX_NAME_LEN = 64


@dataclass
class Tool:
    name: str
    description: str
    parameters: dict = field(default_factory=lambda: {"type": "object", "properties": {}})

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "parameters": copy.deepcopy(self.parameters),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Tool:
        """Read the internal form (as written by ``to_dict``); use ``parse_tool`` for foreign shapes."""
        if not isinstance(d, dict):
            raise ToolFormatError(f"tool must be a JSON object, found {show(d)}")
        name, params = d.get("name"), d.get("parameters", {"type": "object", "properties": {}})
        if not isinstance(name, str) or not name.strip():
            raise ToolFormatError(f"tool field 'name' must be a non-empty string, found {show(name)}")
        if not isinstance(params, dict):
            raise ToolFormatError(
                f"tool {name!r}: field 'parameters' must be a JSON-Schema object, found {show(params)}"
            )
        return cls(name, check_description(d.get("description"), name), copy.deepcopy(params))

    @property
    def properties(self) -> dict:
        props = self.parameters.get("properties")
        return props if isinstance(props, dict) else {}

    @property
    def required(self) -> list[str]:
        req = self.parameters.get("required")
        return [r for r in req if isinstance(r, str)] if isinstance(req, list) else []


# ---------------------------------------------------------------- converters in


def _depth_guard(fn):
    """Hostile input (a schema nested thousands deep) becomes a ToolFormatError, not a RecursionError."""

    @functools.wraps(fn)
    def wrapper(obj: Any) -> Any:
        try:
            return fn(obj)
        except RecursionError:
            raise ToolFormatError(
                f"{fn.__name__}: the tool definition is nested too deeply to read"
            ) from None

    return wrapper


@_depth_guard
def tool_from_openai(obj: dict) -> Tool:
    """``{"type": "function", "function": {name, description, parameters}}`` or the bare inner object."""
    if not isinstance(obj, dict):
        raise ToolFormatError(f"OpenAI tool must be a JSON object, found {show(obj)}")
    if "function" in obj and isinstance(obj["function"], dict):
        obj = obj["function"]
    name = check_name(obj.get("name"), "name", obj)
    params = object_schema(obj.get("parameters"), f"tool {name!r} parameters")
    return Tool(name, check_description(obj.get("description"), name), params)


@_depth_guard
def tool_from_bfcl(obj: dict) -> Tool:
    """BFCL function doc: ``{"name": "math.factorial", "parameters": {"type": "dict", ...}}`` (float/tuple/any)."""
    return tool_from_openai(obj)


def _tool_from_param_doc(obj: dict, kind: str, name_key: str, description_key: str) -> Tool:
    """A tool whose parameters are a ``{p: {type, description, ...}}`` doc (not JSON Schema)."""
    if not isinstance(obj, dict):
        raise ToolFormatError(f"{kind} tool must be a JSON object, found {show(obj)}")
    name = check_name(obj.get(name_key), name_key, obj)
    params = params_from_doc(
        obj.get("parameters"), f"tool {name!r} parameters", obj.get("required"), "no_default"
    )
    return Tool(name, check_description(obj.get(description_key), name), params)


@_depth_guard
def tool_from_xlam(obj: dict) -> Tool:
    """xLAM/ToolRL: ``{"name", "description", "parameters": {"p": {"type": "str, optional", "default": ...}}}``."""
    return _tool_from_param_doc(obj, "xLAM", "name", "description")


@_depth_guard
def tool_from_sealtools(obj: dict) -> Tool:
    """Seal-Tools: ``{"api_name", "api_description", "parameters": {p: {type, description}}, "required": [...]}``."""
    return _tool_from_param_doc(obj, "Seal-Tools", "api_name", "api_description")


@_depth_guard
def tool_from_apibank(obj: dict) -> Tool:
    """API-Bank: ``{"name", "description", "input_parameters": {...}, "output_parameters": {...}}`` or the
    ``{"apiCode", "description", "parameters", "response"}`` form. Parameters are required unless marked optional."""
    if not isinstance(obj, dict):
        raise ToolFormatError(f"API-Bank tool must be a JSON object, found {show(obj)}")
    key = "apiCode" if "apiCode" in obj else "name"
    name = check_name(obj.get(key), key, obj)
    pkey = "input_parameters" if "input_parameters" in obj else "parameters"
    params = params_from_doc(obj.get(pkey), f"tool {name!r} {pkey}", None, "not_optional")
    return Tool(name, check_description(obj.get("description"), name), params)


def _is_schema(params: Any) -> bool:
    if not isinstance(params, dict):
        return False
    if isinstance(params.get("type"), (str, list)):
        return True
    props = params.get("properties")
    return not params or (isinstance(props, dict) and all(isinstance(v, dict) for v in props.values()))


@_depth_guard
def parse_tool(obj: Any) -> Tool:
    """Detect the shape of one tool definition (dict or JSON string) and convert it."""
    if isinstance(obj, Tool):
        return obj
    if isinstance(obj, str):
        obj = loads_definition(obj, "tool definition")
    if not isinstance(obj, dict):
        raise ToolFormatError(f"tool definition must be a JSON object, found {show(obj)}")
    if isinstance(obj.get("function"), dict):
        return tool_from_openai(obj)
    if "api_name" in obj:
        return tool_from_sealtools(obj)
    if "apiCode" in obj or "input_parameters" in obj:
        return tool_from_apibank(obj)
    if "name" not in obj:
        raise ToolFormatError(
            f"cannot tell the tool format: no 'name', 'function', 'api_name' or 'apiCode' field in {show(obj, 160)}"
        )
    params = obj.get("parameters")
    if isinstance(params, str):
        with contextlib.suppress(ToolFormatError):  # if unreadable, the converter reports it by field name
            params = loads_definition(params, "parameters")
            obj = {**obj, "parameters": params}
    if params is None or _is_schema(params):
        return tool_from_openai(obj)
    return tool_from_xlam(obj)


@_depth_guard
def parse_tools(obj: Any) -> list[Tool]:
    """A list of tool definitions (or a JSON string of one, as in ShareGPT ``tools`` fields)."""
    if isinstance(obj, str):
        obj = loads_definition(obj, "tool list") if obj.strip() else []
    if isinstance(obj, dict):
        obj = [obj]
    if not isinstance(obj, list):
        raise ToolFormatError(f"expected a list of tool definitions, found {show(obj)}")
    out = []
    for i, t in enumerate(obj):
        try:
            out.append(parse_tool(t))
        except ToolFormatError as e:
            raise ToolFormatError(f"tool #{i}: {e}") from None
    return out


# ---------------------------------------------------------------- converters out


def tool_to_openai(tool: Tool, *, wrap: bool = True, keep_extensions: bool = False) -> dict:
    """``{"type": "function", "function": {...}}`` (``wrap=False``: the inner object). ``x-*`` keys are dropped."""
    params = copy.deepcopy(tool.parameters) if keep_extensions else strip_extensions(tool.parameters)
    fn = {"name": tool.name, "description": tool.description, "parameters": params}
    return {"type": "function", "function": fn} if wrap else fn


def tool_to_bfcl(tool: Tool) -> dict:
    """BFCL function doc: ``"type": "dict"``, numbers as ``"float"``, original BFCL names (tuple, any) restored."""
    return {
        "name": tool.name,
        "description": tool.description,
        "parameters": to_bfcl_schema(tool.parameters),
    }


# ---------------------------------------------------------------- coercion (the one place it happens)


@lru_cache(maxsize=8192)
def _parse_tool_cached(key: str) -> Tool:
    return parse_tool(json.loads(key))


def as_tool(t: Tool | Mapping) -> Tool:
    """A ``Tool`` from a ``Tool`` or any dict shape ``parse_tool`` reads; raises ``ToolFormatError``.

    Datasets repeat the same tool dicts across thousands of samples, so dicts are parsed once and the
    ``Tool`` is shared: read it, do not mutate it (``to_dict()`` gives a copy).
    """
    if isinstance(t, Tool):
        return t
    if isinstance(t, dict):
        try:
            return _parse_tool_cached(json.dumps(t))  # key order kept: it is the order a prompt shows
        except (TypeError, ValueError, RecursionError):
            return parse_tool(t)  # not JSON-able or too deep: parse_tool reports it as a ToolFormatError
    return parse_tool(t)


def tool_record(t: Tool | Mapping) -> dict:
    """A tool as the internal ``{"name", "description", "parameters"}`` dict: a dict already in that form is
    kept as it is (shallow copy), a ``Tool`` is written out, any other shape goes through ``parse_tool``."""
    if isinstance(t, Tool):
        return t.to_dict()
    if isinstance(t, Mapping) and {"name", "parameters"} <= set(t) and "function" not in t:
        return dict(t)
    return parse_tool(t).to_dict()


def name_words(name: str) -> list[str]:
    """The lower-case words of a tool name, split at camelCase humps and at every run of characters that
    are not letters or digits (`weather.getForecast_v2` -> [weather, get, forecast, v2])."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return [w.lower() for w in re.split(r"[\W_]+", spaced) if w]
