"""Reading calls out of model output text, with `ast` and `json` only (model output is data: no eval).

`parse_calls(text)` returns `[]` for "no call" (empty text, plain prose, an explicit `[]`) and raises
`CallParseError` when the text *tries* to be a call and cannot be read. How a text is read:

1. Reasoning (`<think>...</think>`, or an unclosed `<think>...` cut off before an answer) and special
   tokens at the ends (`<|python_tag|>`, `<|eot_id|>`, Mistral's `[TOOL_CALLS]`) are dropped.
2. If there are call tags (`<tool_call>`, BFCL's `<TOOLCALL>`, glaive's `<functioncall>`), only their
   contents count, and each tag must hold at least one call (or `[]`).
3. Otherwise the whole text is tried as one payload (pythonic list/call or JSON); if that fails the
   text is scanned for call-shaped pieces (`[f(...)]`, `{"name": ...}`, `f(a=...)`) among prose and
   code fences. A call-shaped piece that does not parse is an error, never skipped silently.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from open_toolace.formats.calls import CALL_KEYS, ToolCall, call_from_obj
from open_toolace.formats.values import (
    CallParseError,
    ast_parse,
    describe_node,
    literal_from_node,
    literal_from_text,
    loads_json,
)

MAX_CHARS = 100_000  # longer outputs are runaway generations; reading them costs time for nothing

_NAME = r"[^\W\d]\w*(?:\.[^\W\d]\w*)*"  # a dotted Python identifier (unicode letters allowed)
_CALL_KEY = r"\{\s*[\"'](?:name|function|tool_calls)[\"']\s*:"
_KW = r"[^\W\d]\w*\s*=(?![=>])"  # `a=` but not `a ==` or a JS arrow `p =>`
# Candidate starts inside prose. A call needs a keyword argument (or none, inside a list) so that
# prose such as "use print() here", "f(x) = x^2" or code like `[Math.floor(x)]` is not a call.
_START = re.compile(
    rf"(?P<list>\[\s*(?:\]|{_NAME}\s*\(\s*(?:\)|{_KW})|{_CALL_KEY}))"
    rf"|(?P<obj>\{{\s*[\"'])"
    rf"|(?P<call>(?<![\w.]){_NAME}\s*\(\s*{_KW})"
)
_LIST_CALL = re.compile(rf"\[\s*(?:\]|{_NAME}\s*\(|{_CALL_KEY})")
_WHOLE_CALL = re.compile(rf"{_NAME}\(")  # no space: "Paris (France)" is prose
_KW_CALL = re.compile(rf"{_NAME}\s*\(\s*(?:\)|{_KW})")
_ARGS_KEY = re.compile(r"[\"']arguments[\"']\s*:")
_CALL_MARKERS = {"name", "function", "tool_calls"}
_PROSE_CALL_KEYS = CALL_KEYS | _CALL_MARKERS | {"role", "content"}
_CODE_BEFORE = set("=+-*/%(,.[{&|")  # a call after these is part of an expression: code, not a call
_TAG = re.compile(r"<(tool_?call|function_?call)>(.*?)(?:</\1>|(?=<\1>)|\Z)", re.I | re.S)
_TAG_TEXT = re.compile(r"</?(?:tool_?call|function_?call)>", re.I)
_SPECIAL = re.compile(r"^\s*(?:(?:<\|\w+\|>|\[TOOL_CALLS\])\s*)+|(?:\s*<\|\w+\|>)+\s*$")
_CLOSE = {"(": ")", "[": "]", "{": "}"}


def parse_calls(text: str) -> list[ToolCall]:
    """Calls in `text`; `[]` means no call. Raises `CallParseError` (see `REASONS`) on a broken call."""
    try:
        return _parse_calls(text)
    except RecursionError:  # safety net: every known deep input is caught earlier with a clearer message
        raise CallParseError("too_deep", "the text is nested too deeply to read") from None


def _parse_calls(text: str) -> list[ToolCall]:
    if not isinstance(text, str):
        raise CallParseError("not_text", f"expected model output text, got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise CallParseError("too_long", f"{len(text)} characters is over the {MAX_CHARS} limit")
    whole = text.strip()
    if whole.startswith(("[", "{")) or _WHOLE_CALL.match(whole):
        # A text that is exactly a payload is read as is, before any clean-up below could touch
        # a string argument that happens to contain "<think>" or "<tool_call>".
        try:
            return _parse_payload(whole)
        except CallParseError:
            pass
    if "think>" in text:
        # A reasoning tag inside a string argument is data, not a tag: read the text without dropping
        # reasoning too, and keep that reading when a call's values hold the tag.
        try:
            whole_calls = _parse_text(text)
        except CallParseError:
            whole_calls = []
        if any("think>" in json.dumps(c.arguments, ensure_ascii=False, default=str) for c in whole_calls):
            return whole_calls
    return _parse_text(_drop_reasoning(text))


def _parse_text(text: str) -> list[ToolCall]:
    text = _SPECIAL.sub("", text).strip()
    if not text:
        return []
    tags = list(_TAG.finditer(text))
    if not tags:
        return _parse_region(text, in_block=False)
    # A tag inside a string argument (`f(a='<tool_call>')`) is data, not a tag: read the text as if it
    # had no tags too, and keep that reading when a call's values hold the tag text.
    try:
        untagged = _parse_region(text, in_block=False)
    except CallParseError:
        untagged = []
    if any(_TAG_TEXT.search(json.dumps(c.arguments, ensure_ascii=False, default=str)) for c in untagged):
        return untagged
    calls: list[ToolCall] = []
    for m in tags:
        body = m.group(2).strip()
        if not body:
            raise CallParseError("empty", f"<{m.group(1)}> block holds nothing")
        calls.extend(_parse_region(body, in_block=True))
    return calls


def _drop_reasoning(text: str) -> str:
    """The answer after the last `</think>` (the opening tag may sit in the prompt); an unclosed
    `<think>` means the output was cut before any answer."""
    if "</think>" in text:
        return text.rsplit("</think>", 1)[1]
    if "<think>" in text:
        return text.split("<think>", 1)[0]
    return text


def try_parse_calls(text: str) -> tuple[list[ToolCall] | None, str | None]:
    """`(calls, None)` or `(None, reason)`: for pipelines that record rejections instead of raising."""
    try:
        return parse_calls(text), None
    except CallParseError as e:
        return None, e.reason


# ---------------------------------------------------------------- regions and candidates


def _parse_region(text: str, in_block: bool) -> list[ToolCall]:
    whole_err = None
    payload = _unwrap(text)
    if payload.startswith(("[", "{")) or _WHOLE_CALL.match(payload):
        try:
            value = _read_payload(payload)
        except CallParseError as e:
            # Unreadable: an error if it is call-shaped, else prose such as "[Note] ..." (scan it).
            if _is_call_shaped(payload):
                whole_err = e
        else:
            # Readable as a whole: the verdict is final, e.g. `[1, 2]` or `["f(a=1)"]` is not_a_call.
            return _calls_from_value(value)
    calls, err = _scan(text)
    if err is not None:
        raise err
    if calls:
        return calls
    if whole_err is not None:
        raise whole_err
    if in_block and not _is_empty_list(payload):
        raise CallParseError("not_a_call", f"no call found in call block: {text!r:.120}")
    return []


def _unwrap(text: str) -> str:
    """Strip code-fence backticks and a pair of wrapping quotes, as BFCL's own decoder does."""
    s = text.strip().strip("`").strip()
    s = re.sub(r"^(?:python|json|tool_code|py)\s*\n", "", s)
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"" and _LIST_CALL.match(s[1:]):
        s = s[1:-1].strip()
    return s


def _is_call_shaped(s: str) -> bool:
    if (
        _LIST_CALL.match(s)
        or _KW_CALL.match(s)
        or re.match(_CALL_KEY, s)
        or (s[:1] == "{" and _ARGS_KEY.search(s))
    ):
        return True
    # `f(` or `f(a b)`: a name and a bracket that runs to the end of the text, closed or cut off
    # ("Note(s) are needed" is prose: text follows the bracket)
    m = _WHOLE_CALL.match(s)
    return m is not None and _match_bracket(s, m.end() - 1) >= len(s)


def _is_empty_list(s: str) -> bool:
    return re.fullmatch(r"\[\s*\]", s) is not None


def _scan(text: str) -> tuple[list[ToolCall], CallParseError | None]:
    """Call-shaped pieces of `text`, left to right, and the first error among them."""
    calls: list[ToolCall] = []
    err: CallParseError | None = None
    pos = 0
    while True:
        m = _START.search(text, pos)
        if m is None:
            return calls, err
        kind = m.lastgroup
        start = m.start()
        open_at = text.index("(", start) if kind == "call" else start
        end = _match_bracket(text, open_at)
        seg = text[start:end]
        pos = end
        if kind == "call" and _in_expression(text, start):
            continue  # `conn = db.connect(host=...)` in a code sample
        try:
            if kind == "obj":
                try:
                    obj = _loads_any(seg)
                except CallParseError:
                    if re.match(_CALL_KEY, seg) or _ARGS_KEY.search(seg):
                        raise  # a call object that is broken
                    continue  # some other braces in prose
                # only objects made of call keys: {"name": "Sample", "type": "Text"} is data
                if isinstance(obj, dict) and obj.keys() & _CALL_MARKERS and obj.keys() <= _PROSE_CALL_KEYS:
                    calls.extend(call_from_obj(obj))
            else:
                calls.extend(_parse_payload(seg))
        except CallParseError as e:
            err = err or e


def _in_expression(text: str, start: int) -> bool:
    line_start = text.rfind("\n", 0, start) + 1
    before = text[line_start:start].rstrip()
    return bool(before) and before[-1] in _CODE_BEFORE


def _match_bracket(text: str, i: int) -> int:
    """Index just past the bracket closing `text[i]`, skipping strings; len(text) when unclosed."""
    stack: list[str] = []
    n = len(text)
    j = i
    while j < n:
        c = text[j]
        if c in "\"'":
            j = _skip_string(text, j)
            continue
        if c in _CLOSE:
            stack.append(_CLOSE[c])
        elif c in ")]}":
            if not stack or c != stack[-1]:
                return j + 1  # mismatched: keep it in the piece so the parser reports it
            stack.pop()
            if not stack:
                return j + 1
        j += 1
    return n


def _skip_string(text: str, j: int) -> int:
    q = text[j]
    if text.startswith(q * 3, j):
        k = text.find(q * 3, j + 3)
        return len(text) if k < 0 else k + 3
    k = j + 1
    n = len(text)
    while k < n:
        c = text[k]
        if c == "\\":
            k += 2
            continue
        if c == q:
            return k + 1
        k += 1
    return n


# ---------------------------------------------------------------- payloads


def _parse_payload(s: str) -> list[ToolCall]:
    """One payload: a pythonic call/list of calls, or a JSON call object/list of them."""
    return _calls_from_value(_read_payload(s))


def _read_payload(s: str) -> Any:
    """Decoded JSON (for `{...}` / `[{...}]`) or a pythonic `ast` list, tuple or call."""
    s = s.strip()
    if s.startswith("{") or re.match(r"\[\s*\{", s):
        return _loads_any(s)
    body = ast_parse(s, "syntax").body
    if not isinstance(body, (ast.List, ast.Tuple, ast.Call)):
        # `[Note][1]`, `[a] + [b]`: Python, but not the shape of a call list; read on as prose
        raise CallParseError("syntax", f"expected a call or a list of calls, got {describe_node(body)}")
    return body


def _calls_from_value(value: Any) -> list[ToolCall]:
    if not isinstance(value, ast.AST):
        return call_from_obj(value)
    elts = value.elts if isinstance(value, (ast.List, ast.Tuple)) else [value]
    calls = []
    for node in elts:
        if not isinstance(node, ast.Call):
            raise CallParseError("not_a_call", f"expected a function call, got {describe_node(node)}")
        calls.append(_call_from_node(node))
    return calls


def _loads_any(s: str) -> Any:
    """JSON, else a Python literal (single quotes, True/None): both are common in model output."""
    try:
        return loads_json(s)
    except CallParseError as e:
        if e.reason != "bad_json":
            raise
        json_err = e
    try:
        return literal_from_text(s, bad_reason="bad_json")
    except CallParseError as e:
        raise (json_err if e.reason == "bad_json" else e) from None


def _dotted_name(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _call_from_node(node: ast.Call) -> ToolCall:
    name = _dotted_name(node.func)
    if name is None:
        # e.g. `__import__('os').system(...)`: an expression computes the function
        raise CallParseError(
            "non_literal", f"the called function is an expression: {describe_node(node.func)}"
        )
    if node.args:
        raise CallParseError(
            "positional_args", f"{name}(...) passes {len(node.args)} positional argument(s); use name=value"
        )
    args: dict[str, Any] = {}
    for kw in node.keywords:
        if kw.arg is None:
            raise CallParseError("non_literal", f"{name}(...) unpacks **arguments; write them out")
        if kw.arg in args:
            raise CallParseError("bad_arguments", f"{name}(...) repeats argument {kw.arg!r}")
        args[kw.arg] = literal_from_node(kw.value, 1)
    return ToolCall(name, args)
