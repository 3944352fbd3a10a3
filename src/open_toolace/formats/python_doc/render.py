"""Tool -> Python stub (signature + Google docstring), and what a round trip keeps (`comparable`)."""

from __future__ import annotations

from typing import Any

from open_toolace.formats.tools import Tool

_SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}
_INDENT = "    "


# ---------------------------------------------------------------- rendering (Tool -> text)


def _literal(value: Any) -> str:
    """A JSON value as Python source (`True`, `None`, strings with double quotes)."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(str(k))}: {_literal(v)}" for k, v in value.items()) + "}"
    return _literal(str(value))


def annotation(schema: Any) -> str:
    """The Python annotation of a JSON-Schema value schema."""
    if not isinstance(schema, dict):
        return "Any"
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return "Literal[" + ", ".join(_literal(v) for v in schema["enum"]) + "]"
    if schema.get("x-original-type") == "tuple":
        return "tuple"
    t = schema.get("type")
    if isinstance(t, list):  # ["string", "null"] and the like
        parts = [annotation({**schema, "type": x}) for x in t if x != "null"]
        return " | ".join(parts + (["None"] if "null" in t else [])) or "Any"
    if t in _SCALARS:
        return _SCALARS[t]
    if t == "array":
        items = schema.get("items")
        return f"list[{annotation(items)}]" if isinstance(items, dict) and items else "list"
    if t == "object":
        return "dict"
    return "Any"


def _doc_lines(name: str, schema: dict, required: bool, depth: int) -> list[str]:
    """Docstring lines of one parameter (and, for an object, its properties one level deeper)."""
    pad = _INDENT * (depth + 2)
    desc = " ".join(str(schema.get("description") or "").split())
    if depth == 0:
        head = f"{pad}{name}: {desc}".rstrip()
    else:
        tags = [annotation(schema)] + (["required"] if required else [])
        if "default" in schema and not required:
            tags.append(f"default={_literal(schema['default'])}")
        head = f"{pad}{name} ({', '.join(tags)}): {desc}".rstrip()
    lines = [head]
    target = schema.get("items") if schema.get("type") == "array" else schema
    if isinstance(target, dict) and isinstance(target.get("properties"), dict):
        req = set(target.get("required") or [])
        for sub, sub_schema in target["properties"].items():
            if isinstance(sub_schema, dict):
                lines += _doc_lines(sub, sub_schema, sub in req, depth + 1)
    return lines


def render_tool(tool: Tool) -> str:
    """One tool as a Python function stub (signature + docstring)."""
    props, required = tool.properties, set(tool.required)
    params = []
    order = [p for p in props if p in required] + [p for p in props if p not in required]
    for p in order:
        schema = props[p] if isinstance(props[p], dict) else {}
        ann = annotation(schema)
        if p in required:
            params.append(f"{p}: {ann}")
        elif "default" in schema:
            params.append(f"{p}: {ann} = {_literal(schema['default'])}")
        else:
            params.append(
                f"{p}: {ann} | None = None" if "None" not in ann and ann != "Any" else f"{p}: {ann} = None"
            )
    desc = " ".join(tool.description.split()) or tool.name
    lines = [f"def {tool.name}({', '.join(params)}):", f'{_INDENT}"""{_doc_text(desc)}']
    arg_lines = [
        ln
        for p in order
        for ln in _doc_lines(p, props[p] if isinstance(props[p], dict) else {}, p in required, 0)
    ]
    if arg_lines:
        lines += ["", f"{_INDENT}Args:", *arg_lines]
        lines.append(f'{_INDENT}"""')
    else:
        lines[-1] += '"""'
    return "\n".join(lines)


def _doc_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def render_tools(tools: list[Tool]) -> str:
    """Tools as Python stubs separated by a blank line."""
    return "\n\n".join(render_tool(t) for t in tools)


# ---------------------------------------------------------------- what a round trip keeps

_KEEP = {"type", "items", "properties", "required", "enum", "default", "description"}


def comparable(tool: Tool) -> dict:
    """The part of a tool this format carries, normalised: `parse_tool(render_tool(t))` gives the same
    `comparable` as `t` (docs/tools.md lists what is dropped and how often, over all BFCL docs)."""
    return {"name": tool.name, "description": " ".join(tool.description.split()) or tool.name,
            "parameters": _norm(tool.parameters, top=True)}  # fmt: skip


def _norm(s: Any, top: bool = False, required: bool = False) -> Any:
    if not isinstance(s, dict):
        return s
    out: dict = {}
    req = set(s.get("required") or []) if isinstance(s.get("required"), list) else set()
    for k, v in s.items():
        if k not in _KEEP and not (k == "x-original-type" and v == "tuple"):
            continue
        if k == "description":
            v = " ".join(str(v).split())
        elif k == "properties" and isinstance(v, dict):
            v = {a: _norm(b, required=a in req) for a, b in v.items()}
        elif k == "items":
            v = _norm(v)
            v.pop("default", None)  # a default or description on the items is dropped (no place for them)
            v.pop("description", None)
        elif k == "required":
            v = sorted(v) if isinstance(v, list) else v
        elif k == "type" and isinstance(v, list):  # ["string", "null"]: the None of an optional parameter
            kept = [x for x in v if x != "null"]
            v = kept[0] if len(kept) == 1 else kept
        out[k] = v
    if top or required or out.get("default") is None:
        out.pop("default", None)  # defaults of required parameters and of the parameters object are dropped
    if not out.get("required"):
        out.pop("required", None)
    if not top and out.get("properties") == {}:
        out.pop("properties")  # an object with no properties listed is a plain `dict`
    if out.get("x-original-type") == "tuple":
        out.pop("items", None)
    if out.get("type") == "array" and not out.get("items"):
        out.pop("items", None)
    if out.get("enum"):  # the type follows the enum's values (a BFCL "boolean" with enum ["True", "False"])
        kinds = {type(x) for x in out["enum"]}
        t = (
            "string"
            if kinds == {str}
            else "integer"
            if kinds == {int}
            else "number"
            if kinds <= {int, float}
            else None
        )
        if t:
            out["type"] = t
        else:
            out.pop("type", None)
    return out
