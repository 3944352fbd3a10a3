"""Python stubs -> Tools, read with `ast` only (nothing runs, nothing is imported)."""

from __future__ import annotations

import ast
import re

from open_toolace.formats.schema import ToolFormatError
from open_toolace.formats.tools import Tool
from open_toolace.formats.values import CallParseError, literal_from_node

MAX_CHARS = 100_000  # longer texts are runaway generations

_PY_SCALARS = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}

# reasons a tool (or a whole text) is rejected with; counted by the pipelines
REASONS = {
    "syntax": "the text is not valid Python (unbalanced quotes or brackets, cut off, ...)",
    "no_def": "no `def` in the text",
    "decorator": "a decorator on the function",
    "non_literal_default": "a default value that is not a literal (a call, a name, a comprehension, ...)",
    "bad_annotation": "a type annotation the format does not know",
    "bad_signature": "positional-only, *args or **kwargs parameters",
    "bad_body": "a body that is more than a docstring (and `pass` / `...`)",
    "not_a_def": "a statement that is not a function definition (import, assignment, class, ...)",
    "too_long": "the text is longer than MAX_CHARS",
    "bad_tool": "the definition does not make a valid tool (name, parameters)",
}


class PythonDocError(ToolFormatError):
    """A text that cannot be read as Python tool docs; `.reason` is a code from `REASONS`."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason


# ---------------------------------------------------------------- parsing (text -> Tools)

# Tool names may be dotted (`math.factorial`) or hold a hyphen, which a Python `def` cannot: the name is
# encoded before `ast.parse` and decoded after (text substitution on the `def` line only; nothing runs).
_DEF_NAME = re.compile(r"^([ \t]*def[ \t]+)([^\s(:][^(:\n]*?)([ \t]*\()", re.M)
_ESCAPE = re.compile(r"[^A-Za-z0-9_]|__x")
_FENCE = re.compile(r"```(?:python|py)?\s*\n(.*?)(?:```|\Z)", re.S)
_ARG_LINE = re.compile(r"^([A-Za-z_][\w.\-]*)(?:\s*\(([^)]*)\))?\s*:\s*(.*)$")


def _encode_names(text: str) -> str:
    """`def math.factorial(` -> `def math__x2e__factorial(`: any character a Python name cannot hold."""

    def enc(name: str) -> str:
        out = _ESCAPE.sub(lambda c: "".join(f"__x{ord(ch):x}__" for ch in c.group(0)), name)
        return "_" + out if out[:1].isdigit() else out

    return _DEF_NAME.sub(lambda m: m.group(1) + enc(m.group(2)) + m.group(3), text)


def _decode_name(name: str) -> str:
    name = name[1:] if name[:1] == "_" and name[1:2].isdigit() else name
    return re.sub(r"__x([0-9a-f]+)__", lambda m: chr(int(m.group(1), 16)), name)


def _code_region(text: str) -> str:
    """The code in a model's answer: fenced blocks if any, else from the first `def` line on."""
    blocks = _FENCE.findall(text)
    if blocks:
        return "\n".join(blocks)
    if re.search(r"^[ \t]*def\s", text, re.M) is None:
        raise PythonDocError("no_def", "no `def` line in the text")
    m = re.search(r"^(?:@|def\s|class\s|import\s|from\s+\w)", text, re.M)  # code starts (decorators count)
    if m is None:
        m = re.search(r"^[ \t]*def\s", text, re.M)
    lines = text[m.start() :].splitlines()
    # prose after the last function: stop at the first unindented line that is not code
    out = []
    for line in lines:
        if (
            out
            and line
            and not line[0].isspace()
            and not line.startswith(("def ", "@", ")", "#", "class ", "import ", "from "))
        ):
            break
        out.append(line)
    return "\n".join(out)


def _parse_module(code: str) -> ast.Module:
    try:
        return ast.parse(code)
    except SyntaxError as e:
        raise PythonDocError("syntax", f"{e.msg} (line {e.lineno})") from None
    except (RecursionError, MemoryError, ValueError) as e:
        raise PythonDocError("syntax", f"cannot parse: {type(e).__name__}") from None


def schema_of(node: ast.AST | None) -> dict:
    """A JSON-Schema value schema from an annotation node (read, never evaluated)."""
    if node is None:
        return {}
    if isinstance(node, ast.Constant) and node.value is None:
        return {"type": "null"}
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a string annotation: "int"
        return schema_of(_parse_module(node.value).body[0].value) if node.value.strip() else {}
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = node.id if isinstance(node, ast.Name) else node.attr
        if name in _PY_SCALARS:
            return {"type": _PY_SCALARS[name]}
        if name in ("list", "List", "Sequence"):
            return {"type": "array"}
        if name in ("dict", "Dict", "Mapping"):
            return {"type": "object"}
        if name in ("tuple", "Tuple"):
            return {"type": "array", "x-original-type": "tuple"}
        if name == "Any":
            return {}
        raise PythonDocError("bad_annotation", f"unknown type {name!r}")
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):  # X | None
        left, right = schema_of(node.left), schema_of(node.right)
        if right == {"type": "null"}:
            return left
        if left == {"type": "null"}:
            return right
        return {"anyOf": [left, right]}
    if isinstance(node, ast.Subscript):
        base = node.value.id if isinstance(node.value, ast.Name) else getattr(node.value, "attr", None)
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if base == "Literal":
            try:
                values = [literal_from_node(a, 0) for a in args]
            except CallParseError as e:
                raise PythonDocError(
                    "bad_annotation", f"Literal[...] holds a non-literal: {e.message}"
                ) from None
            kinds = {type(v) for v in values}
            out: dict = {"enum": values}
            if kinds == {str}:
                out["type"] = "string"
            elif kinds <= {int} and bool not in kinds:
                out["type"] = "integer"
            elif kinds <= {int, float}:
                out["type"] = "number"
            return out
        if base == "Optional":
            return schema_of(args[0])
        if base in ("list", "List", "Sequence"):
            return {"type": "array", "items": schema_of(args[0])}
        if base in ("tuple", "Tuple"):
            return {"type": "array", "x-original-type": "tuple"}
        if base in ("dict", "Dict", "Mapping"):
            return {"type": "object"}
        if base == "Union":
            parts = [schema_of(a) for a in args if schema_of(a) != {"type": "null"}]
            return parts[0] if len(parts) == 1 else {"anyOf": parts}
        raise PythonDocError("bad_annotation", f"unknown generic {base!r}")
    raise PythonDocError("bad_annotation", f"not a type: {type(node).__name__}")


def _doc_params(doc: str) -> tuple[str, dict[str, dict]]:
    """(description, {param: {"description", "properties": {...}, ...}}) from a Google-style docstring."""
    lines = doc.expandtabs(4).splitlines()
    head, i = [], 0
    while i < len(lines) and lines[i].strip().lower() not in ("args:", "arguments:", "parameters:"):
        head.append(lines[i].strip())
        i += 1
    description = " ".join(x for x in head if x)
    params: dict[str, dict] = {}
    stack: list[tuple[int, dict]] = []  # (indent, node whose "properties" take deeper lines)
    for line in lines[i + 1 :]:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        m = _ARG_LINE.match(line.strip())
        if m is None:  # a continuation of the previous description
            if stack:
                node = stack[-1][1]
                node["description"] = (node.get("description", "") + " " + line.strip()).strip()
            continue
        name, tags, desc = m.group(1), m.group(2), m.group(3).strip()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        node: dict = {"description": desc}
        if tags is not None:
            node["tags"] = tags
        if stack:
            stack[-1][1].setdefault("properties", {})[name] = node
        else:
            params[name] = node
        stack.append((indent, node))
    return description, params


def _nested(doc: dict) -> dict:
    """A sub-parameter from its docstring line: `name (type[, required][, default=v]): description`."""
    tags = [t.strip() for t in _split_tags(doc.get("tags", ""))]
    schema = schema_of(_parse_module(tags[0]).body[0].value) if tags and tags[0] else {}
    if doc.get("description"):
        schema["description"] = doc["description"]
    for t in tags[1:]:
        if t.startswith("default="):
            node = _parse_module(t[len("default=") :]).body[0].value
            try:
                schema["default"] = literal_from_node(node, 0)
            except CallParseError as e:
                raise PythonDocError("non_literal_default", e.message) from None
    _add_properties(schema, doc)
    return schema


def _split_tags(tags: str) -> list[str]:
    """Split `list[int], required, default=[1, 2]` at commas outside brackets."""
    out, depth, cur = [], 0, ""
    for c in tags:
        if c in "[({":
            depth += 1
        elif c in "])}":
            depth -= 1
        if c == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += c
    return [*out, cur] if cur.strip() else out


def _add_properties(schema: dict, doc: dict) -> None:
    subs = doc.get("properties")
    if not subs:
        return
    props = {k: _nested(v) for k, v in subs.items()}
    required = [
        k for k, v in subs.items() if "required" in [t.strip() for t in _split_tags(v.get("tags", ""))]
    ]
    target = schema.get("items") if schema.get("type") == "array" else schema
    if not isinstance(target, dict) or target.get("type") not in ("object", None):
        return
    if schema.get("type") == "array" and not target:
        target = schema["items"] = {}
    target["type"] = "object"
    target["properties"] = props
    if required:
        target["required"] = required


def _tool_from_def(fn: ast.FunctionDef) -> Tool:
    name = _decode_name(fn.name)
    if fn.decorator_list:
        raise PythonDocError("decorator", f"{name}: decorators are not part of a tool definition")
    a = fn.args
    if a.posonlyargs or a.vararg or a.kwarg:
        raise PythonDocError("bad_signature", f"{name}: positional-only, *args or **kwargs parameters")
    body = fn.body
    doc = ast.get_docstring(fn, clean=True) or ""
    rest = body[1:] if doc else body
    for stmt in rest:
        is_stub = isinstance(stmt, ast.Pass) or (
            isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Constant)
            and stmt.value.value is Ellipsis
        )
        if not is_stub:
            raise PythonDocError(
                "bad_body", f"{name}: the body holds {type(stmt).__name__}, not only a docstring"
            )
    description, docs = _doc_params(doc)
    positional = [*a.args, *a.kwonlyargs]
    defaults = [None] * (len(a.args) - len(a.defaults)) + list(a.defaults) + list(a.kw_defaults)
    props: dict[str, dict] = {}
    required = []
    for arg, default in zip(positional, defaults, strict=True):
        if arg.arg in ("self", "cls") and arg.annotation is None:
            continue
        schema = schema_of(arg.annotation)
        if arg.arg in docs:
            if docs[arg.arg].get("description"):
                schema["description"] = docs[arg.arg]["description"]
            _add_properties(schema, docs[arg.arg])
        if default is None:
            required.append(arg.arg)
        else:
            try:
                value = literal_from_node(default, 0)
            except CallParseError as e:
                raise PythonDocError("non_literal_default", f"{name}({arg.arg}=...): {e.message}") from None
            if value is not None:
                schema["default"] = value
        props[arg.arg] = schema
    params: dict = {"type": "object", "properties": props}
    if required:
        params["required"] = required
    try:
        return Tool.from_dict({"name": name, "description": description or name, "parameters": params})
    except ToolFormatError as e:
        raise PythonDocError("bad_tool", str(e)) from None


def parse_tools(text: str) -> tuple[list[Tool], list[dict[str, str]]]:
    """Every tool defined in `text` and the rejections (`{"reason", "message"}`) of what could not be read.

    A text that cannot be parsed at all (or has no `def`) gives one rejection; otherwise each top-level
    statement is a tool or a rejection of its own, so one bad definition does not lose the others.
    """
    if not isinstance(text, str):
        return [], [{"reason": "syntax", "message": f"expected text, got {type(text).__name__}"}]
    if len(text) > MAX_CHARS:
        return [], [{"reason": "too_long", "message": f"{len(text)} characters is over {MAX_CHARS}"}]
    try:
        module = _parse_module(_encode_names(_code_region(text)))
    except PythonDocError as e:
        return [], [{"reason": e.reason, "message": str(e)}]
    tools, rejected = [], []
    for stmt in module.body:
        if isinstance(stmt, ast.FunctionDef):
            try:
                tools.append(_tool_from_def(stmt))
            except PythonDocError as e:
                rejected.append({"reason": e.reason, "message": str(e)})
            except (RecursionError, MemoryError):
                rejected.append({"reason": "syntax", "message": "nested too deeply"})
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a stray string or `...`
        else:
            rejected.append({"reason": "not_a_def", "message": f"line {stmt.lineno}: {type(stmt).__name__}"})
    return tools, rejected


def parse_tool(text: str) -> Tool:
    """Exactly one tool from `text`; raises `PythonDocError` (a `ToolFormatError`) otherwise."""
    tools, rejected = parse_tools(text)
    if rejected:
        raise PythonDocError(rejected[0]["reason"], rejected[0]["message"])
    if len(tools) != 1:
        raise PythonDocError("no_def" if not tools else "bad_tool", f"expected one tool, found {len(tools)}")
    return tools[0]
