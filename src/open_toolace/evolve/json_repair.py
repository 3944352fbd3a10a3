"""Syntax repair of a model's broken JSON tool list: a single left-to-right scan that rewrites the text
into JSON a strict `json.loads` accepts, or gives up.

Why: a 135M model writes tool lists that are almost JSON (single quotes, `True`, a trailing comma, two
objects with no comma between them, a list cut off by the token budget). Rejecting the whole output for
one such slip lost most queries of a round. The scan only normalises syntax and closes structure; it
never invents a value:

- single-quoted strings, Python escapes (`\\'`, `\\x41`) and `True/False/None` become JSON (`python_literal`);
- a comma before `]`/`}` is removed (`trailing_comma`); a missing comma between two values is added
  (`missing_comma`);
- at the end of the text (a cut) everything after the last complete value is dropped (a half-written
  string, number or key is a broken part, not a value to guess; so is a list cut short, as an enum of
  one value would be wrong, except `required`, whose prefix stays true) and the open brackets are
  closed (`closed_brackets`); at an unexpected character inside a list, the list is closed after its
  last complete element (the broken element and what follows are dropped);
- objects written one after another with no list around them (`{...},\\n{...}`) are read as a list.

Work is bounded: at most `MAX_REPAIR_CHARS` characters are scanned (the rest counts as cut off) and
nesting deeper than `MAX_DEPTH` stops the scan. Nothing here evaluates the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_REPAIR_CHARS = 50_000
MAX_DEPTH = 32

_START = re.compile(r"\[\s*\{|\{\s*[\"']")  # a list of objects, or an object with a quoted first key
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_WORD = re.compile(r"[A-Za-z_]\w*")
_LITERALS = {
    "true": "true",
    "false": "false",
    "null": "null",
    "True": "true",
    "False": "false",
    "None": "null",
}
_PLAIN = {'"': re.compile(r'[^"\\\x00-\x1f]+'), "'": re.compile(r"[^'\"\\\x00-\x1f]+")}
_HEX = re.compile(r"[0-9a-fA-F]+")
_JSON_ESCAPES = set('"\\/bfnrt')
_CONTROL = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_WS = " \t\r\n"


@dataclass
class Repaired:
    """The rewritten JSON text and what was done to it.

    `repairs`: `(element, kind)` pairs, `element` being the index of the top-level list element the
    repair was made in (0 when the top level is one object). `closed`: the structure was cut off or broken
    and has been closed. `cut_depth`: how many brackets were open at the point it was closed (1 = only the
    list itself: no element was cut). `top`: `[` or `{`.
    """

    text: str
    top: str
    repairs: list[tuple[int, str]] = field(default_factory=list)
    closed: bool = False
    cut_depth: int = 0


def _read_string(s: str, i: int, end: int) -> tuple[int, str, bool] | None:
    """The string starting at `s[i]` (a `"` or `'`) as a JSON string literal: `(index after it, literal,
    whether it needed a Python-to-JSON rewrite)`; None when the text ends inside it."""
    q = s[i]
    plain = _PLAIN[q]
    buf = ['"']
    python = q == "'"
    j = i + 1
    while j < end:
        m = plain.match(s, j, end)
        if m:
            buf.append(m.group())
            j = m.end()
            if j >= end:
                break
        c = s[j]
        if c == q:
            # `'the user's name'`: a quote between two letters is an apostrophe, not the end
            if q == "'" and s[j - 1 : j].isalnum() and s[j + 1 : j + 2].isalpha():
                buf.append("'")
                j += 1
                continue
            buf.append('"')
            return j + 1, "".join(buf), python
        if c == "\\":
            if j + 1 >= end:
                return None
            n = s[j + 1]
            if n in _JSON_ESCAPES:
                buf.append("\\" + n)
                j += 2
            elif n == "u" and len(_HEX.match(s, j + 2, min(end, j + 6)) or "") == 4:
                buf.append(s[j : j + 6])
                j += 6
            elif n == "'":
                buf.append("'")
                python, j = True, j + 2
            elif n == "x" and (h := _HEX.match(s, j + 2, min(end, j + 4))) and len(h.group()) == 2:
                buf.append("\\u00" + h.group())
                python, j = True, j + 4
            else:  # a backslash that escapes nothing is a literal backslash
                buf.append("\\\\")
                j += 1
        elif c == '"':  # inside a single-quoted string
            buf.append('\\"')
            j += 1
        else:  # a raw control character
            buf.append(_CONTROL.get(c, f"\\u{ord(c):04x}"))
            j += 1
    return None


def repair_json_text(text: str) -> Repaired | None:
    """Rewrite the JSON-like tool list in `text` (prose around it is skipped) into strict JSON.

    Returns None when no list of objects or object starts in the text, or when a lone top-level object is
    broken in the middle (nothing whole can be kept). The result may still fail `json.loads` in rare
    cases (a number like `01`); callers treat that as unrepairable."""
    m = _START.search(text, 0, MAX_REPAIR_CHARS)
    if m is None:
        return None
    start = m.start()
    fence = text.find("```", start)
    end = min(len(text) if fence < 0 else fence, start + MAX_REPAIR_CHARS)
    s = text
    out: list[str] = []
    stack: list[list[str]] = []  # [closer, state]; state: key, colon, value (expected next) or next
    keys: list[str] = []  # per open object: its last key (a JSON literal)
    drops: list[tuple[int, str, int, int] | None] = []  # per open list: where to go back if cut inside it
    repairs: list[tuple[int, str]] = []
    elem = 0  # index of the top-level list element being read
    safe_any: tuple[int, str, int, int] | None = (
        None  # (len(out), closers, depth, elem) where closing is sound
    )
    safe_top: tuple[int, str, int, int] | None = None  # the same, between two elements of the top list
    broken = False

    def mark() -> None:
        nonlocal safe_any, safe_top
        point = (len(out), "".join(f[0] for f in reversed(stack)), len(stack), elem)
        safe_any = point
        if len(stack) <= 1 and out[0] == "[":
            safe_top = point

    def value_done() -> None:
        nonlocal elem
        if stack:
            stack[-1][1] = "next"
            if len(stack) == 1 and stack[0][0] == "]":
                elem += 1
        mark()

    i = start
    while i < end:
        c = s[i]
        if c in _WS:
            i += 1
            continue
        if not stack and out:  # the top-level value is complete
            if out[0] != "{":
                break
            j = i + 1 if c == "," else i
            while j < end and s[j] in _WS:
                j += 1
            if j >= end or s[j] != "{":
                break
            out.insert(0, "[")  # objects one after another: read them as a list
            stack.append(["]", "next"])
            keys.append("")
            drops.append(None)
            elem = 1
            mark()
        kind, state = (stack[-1][0], stack[-1][1]) if stack else ("", "value")
        if c == ",":
            if state != "next":
                broken = True
                break
            out.append(",")
            stack[-1][1] = "key" if kind == "}" else "value"
            i += 1
            continue
        if c == ":":
            if state != "colon":
                broken = True
                break
            out.append(":")
            stack[-1][1] = "value"
            i += 1
            continue
        if c in "}]":
            if c != kind or (kind == "}" and state in ("colon", "value")):
                broken = True
                break
            if state != "next" and out[-1] == ",":
                out.pop()
                repairs.append((elem, "trailing_comma"))
            out.append(c)
            stack.pop()
            keys.pop()
            drops.pop()
            i += 1
            value_done()
            continue
        if state == "next":  # a value where a comma should be
            if (kind == "]" and c in "{[\"'") or (kind == "}" and c in "\"'"):
                out.append(",")
                repairs.append((elem, "missing_comma"))
                state = stack[-1][1] = "key" if kind == "}" else "value"
            else:
                broken = True
                break
        if state == "colon":
            broken = True
            break
        if c in "\"'":
            got = _read_string(s, i, end)
            if got is None:
                break  # cut inside a string: dropped
            i, literal, python = got
            if python:
                repairs.append((elem, "python_literal"))
            out.append(literal)
            if state == "key":
                stack[-1][1] = "colon"
                keys[-1] = literal
            else:
                value_done()
            continue
        if state == "key":  # an unquoted key or other junk
            broken = True
            break
        if c in "{[":
            if len(stack) >= MAX_DEPTH:
                broken = True
                break
            # a list cut short changes its meaning (an enum of one value): at a cut inside it the whole
            # list goes, with its key; a prefix of `required` (or of the top-level `tools`) stays true
            key = keys[-1] if stack else ""
            whole = c == "{" or not stack or key == '"required"' or (key == '"tools"' and len(stack) == 1)
            out.append(c)
            stack.append(["}", "key"] if c == "{" else ["]", "value"])
            keys.append("")
            drops.append(None if whole else safe_any)
            i += 1
            mark()
            continue
        tok = _NUMBER.match(s, i, end) if c == "-" or c.isdigit() else _WORD.match(s, i, end)
        if tok is not None and tok.end() >= end:
            break  # cut inside a number or word: dropped
        if tok is None or not (c == "-" or c.isdigit() or tok.group() in _LITERALS):
            broken = True
            break
        word = tok.group()
        if word in _LITERALS and _LITERALS[word] != word:
            repairs.append((elem, "python_literal"))
        out.append(_LITERALS.get(word, word))
        i = tok.end()
        value_done()
    if not out:
        return None
    top = out[0]
    if not stack:
        return Repaired("".join(out), top, repairs)
    point = safe_top if broken else next((d for d in drops if d is not None), safe_any)
    if point is None:  # a lone object broken in the middle
        return None
    n, closers, depth, at = point
    repairs.append((at, "closed_brackets"))
    return Repaired("".join(out[:n]) + closers, top, repairs, closed=True, cut_depth=depth)
