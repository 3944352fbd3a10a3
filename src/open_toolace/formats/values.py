"""Values as data: the errors of reading model output, and JSON / Python literals read without evaluation.

`loads_json` is `json.loads` with duplicate keys and NaN refused; `literal_from_text` reads one Python literal
(str/int/float/bool/None/list/tuple/dict) with `ast`, never `eval`. Both raise `CallParseError` with a
`.reason` from `REASONS`, so every reader of model output reports failures the same way.
"""

from __future__ import annotations

import ast
import json
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


def check_value(v: Any, depth: int = 0) -> None:
    """JSON values from json.loads are literals already; only depth and key types need checking."""
    if depth > MAX_DEPTH:
        raise CallParseError("too_deep", f"argument values nested deeper than {MAX_DEPTH}")
    if isinstance(v, dict):
        for k, x in v.items():
            if not isinstance(k, str):
                raise CallParseError("bad_arguments", f"object keys must be strings, got {k!r}")
            check_value(x, depth + 1)
    elif isinstance(v, (list, tuple)):
        for x in v:
            check_value(x, depth + 1)
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


def literal_from_text(text: str, bad_reason: str = "syntax") -> Any:
    """A Python literal (str/int/float/bool/None/list/tuple/dict) read with `ast`, tuples as lists."""
    return literal_from_node(ast_parse(text, bad_reason).body, 0)


def ast_parse(s: str, bad_reason: str) -> ast.Expression:
    try:
        return ast.parse(s, mode="eval")
    except SyntaxError as e:
        msg = str(e.msg)
        if "Exceeds the limit" in msg:
            raise CallParseError("too_large", msg) from None
        if "too many nested" in msg:
            raise CallParseError("too_deep", msg) from None
        raise CallParseError(bad_reason, f"{msg} (line {e.lineno}, column {e.offset})") from None
    except (RecursionError, MemoryError):
        raise CallParseError("too_deep", "expression nested too deeply") from None
    except (ValueError, UnicodeError) as e:  # null bytes, lone surrogates
        raise CallParseError(bad_reason, str(e)) from None


def literal_from_node(node: ast.AST, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise CallParseError("too_deep", f"argument values nested deeper than {MAX_DEPTH}")
    if isinstance(node, ast.Constant):
        v = node.value
        if v is None or isinstance(v, (str, int, float)):  # bool is an int
            return v
        raise CallParseError("non_literal", f"unsupported constant {describe_node(node)}")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        x = node.operand
        if (
            isinstance(x, ast.Constant)
            and isinstance(x.value, (int, float))
            and not isinstance(x.value, bool)
        ):
            return -x.value if isinstance(node.op, ast.USub) else x.value
        raise CallParseError("non_literal", f"a sign applies only to a number, got {describe_node(node)}")
    if isinstance(node, (ast.List, ast.Tuple)):
        return [literal_from_node(e, depth + 1) for e in node.elts]
    if isinstance(node, ast.Dict):
        out: dict[str, Any] = {}
        for k, v in zip(node.keys, node.values, strict=True):
            if k is None:
                raise CallParseError("non_literal", "a dict unpacks **another value; write it out")
            key = literal_from_node(k, depth + 1)
            if not isinstance(key, str):
                raise CallParseError("bad_arguments", f"dict keys must be strings, got {key!r:.40}")
            if key in out:
                raise CallParseError("bad_arguments", f"dict key {key!r} appears twice")
            out[key] = literal_from_node(v, depth + 1)
        return out
    raise CallParseError("non_literal", f"arguments must be literals, got {describe_node(node)}")


def describe_node(node: ast.AST) -> str:
    kind = type(node).__name__
    if isinstance(node, ast.Name):
        return f"the name {node.id!r} (quote it if it is a string)"
    try:
        src = ast.unparse(node)
    except (RecursionError, ValueError):
        return kind
    return f"{kind} `{src[:60]}`"
