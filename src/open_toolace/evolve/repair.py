"""Repair of one generated tool definition, and the over-specific-name rule.

Why: in a round, a 135M model writes the candidate tools for each query, and before this module one
broken property dropped the whole tool (and often the whole query). `repair_tool` keeps what is sound and
removes or normalises what is not; it never guesses a value. Each repair is returned as a `(kind, detail)`
pair so a round can count them (`REPAIR_KINDS`). The syntax-level repairs of the JSON text
(`python_literal`, `trailing_comma`, `missing_comma`, `closed_brackets`) are in `json_repair`.

`over_specific_name` is a rule, not a repair: a tool named after the query's values
(`schedule_papier_renewal_in_nairobi_2025`) serves that query only, so it is rejected.
"""

from __future__ import annotations

import re
from typing import Any

from open_toolace.checks import check_tools
from open_toolace.formats.tools import MAX_NAME_LEN, NAME_RE, ToolFormatError, name_words, parse_tool

REPAIR_KINDS = {
    "python_literal": "single quotes, Python escapes or True/False/None rewritten as JSON",
    "trailing_comma": "a comma before a closing bracket removed",
    "missing_comma": "a comma added between two values",
    "closed_brackets": "a tool cut off at the end of the output, closed after its last complete value",
    "duplicate_key": "a key written more than once in one object: the first kept",
    "dropped_property": "a parameter whose schema is not a schema (not an object, unknown type, ...) removed",
    "pruned_required": "`required` entries naming no property removed",
    "filled_description": "an empty or missing tool description written from the tool's name",
    "fixed_name": "a name with spaces or punctuation made an identifier",
    "collapsed_repetition": "a phrase repeated 3+ times in a row in a description kept once",
}

REPETITION_WINDOW = 400  # words searched for the start of a repeated phrase (bounded work)
MAX_DESCRIPTION_CHARS = 100_000  # beyond this a description is not read for repetition
_MAX_PHRASE = 8  # longest phrase (in words) looked for as a repetition


class ToolRepairError(ToolFormatError):
    """A tool that repair cannot save; `.reason` is its code (`broken_parameters`)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class _Obj(dict):
    """A JSON object that remembers the keys it saw more than once (`keep_first_pairs`)."""

    dups: dict[str, int]


def keep_first_pairs(pairs: list[tuple[str, Any]]) -> dict:
    """`json.loads(..., object_pairs_hook=keep_first_pairs)`: on a repeated key keep the first value (a
    degenerate output writes the same key eight times) and remember the repetition for `repair_tool`."""
    out = _Obj()
    dups: dict[str, int] = {}
    for k, v in pairs:
        if k in out:
            dups[k] = dups.get(k, 1) + 1
        else:
            out[k] = v
    out.dups = dups
    return out


def _plain(value: Any, fixes: list[tuple[str, str]], path: str) -> Any:
    """A copy of `value` with plain dicts, recording the repeated keys `keep_first_pairs` saw."""
    if isinstance(value, dict):
        for k, n in getattr(value, "dups", {}).items():
            fixes.append(("duplicate_key", f"{path}{k!r} written {n} times, the first kept"))
        return {k: _plain(v, fixes, f"{path}{k}.") for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, fixes, path) for v in value]
    return value


# ----------------------------------------------------------------------------- names and descriptions


def describe_name(name: str) -> str:
    """A description read off the name (`get_weather` -> "Get weather."): what the name already says,
    nothing more, so a tool whose description was left empty is still checkable and listable."""
    words = name_words(name)
    text = " ".join(words) or name
    return text[:1].upper() + text[1:] + "."


def fix_name(name: str) -> str | None:
    """`get weather` -> `get_weather`, `get_weather()` -> `get_weather`: characters a function name cannot
    hold become `_` (dots and hyphens are kept). None when the result is still no usable name (a leading
    digit, non-ASCII letters, too long): that stays a `bad_name` rejection."""
    s = name.strip()
    s = s[:-2] if s.endswith("()") else s
    if not s.isascii():
        return None
    fixed = re.sub(r"[^A-Za-z0-9_.\-]+", "_", s).strip("_")
    if fixed == name or not NAME_RE.match(fixed) or len(fixed) > MAX_NAME_LEN:
        return None
    return fixed


def collapse_repetition(text: str) -> tuple[str, int]:
    """`"Find and find and find and find routes"` -> `"Find and find routes"`: a phrase of up to 8 words
    repeated 3 or more times in a row (case-insensitive) is kept once. Returns the text and how many runs
    were collapsed. Two repeats are left alone (`"had had"` is English). Bounded work: runs are looked for
    in a window of `REPETITION_WINDOW` words (then followed to their end), for at most 16 runs."""
    collapsed = 0
    for _ in range(16):
        words = list(re.finditer(r"[^\W_]+", text[:MAX_DESCRIPTION_CHARS]))
        low = [w.group().lower() for w in words]
        window = low[:REPETITION_WINDOW]
        best = None  # (words covered in the window, start, phrase length)
        for length in range(1, _MAX_PHRASE + 1):
            for i in range(len(window) - 3 * length + 1):
                reps = 1
                while window[i + reps * length : i + (reps + 1) * length] == window[i : i + length]:
                    reps += 1
                if reps >= 3 and (best is None or reps * length > best[0]):
                    best = (reps * length, i, length)
        if best is None:
            break
        _, i, length = best
        reps = 1
        while low[i + reps * length : i + (reps + 1) * length] == low[i : i + length]:
            reps += 1
        last = i + reps * length  # first word after the run
        if last < len(words):
            text = text[: words[i + length].start()] + text[words[last].start() :]
        else:
            text = text[: words[i + length - 1].end()] + text[words[last - 1].end() :]
        collapsed += 1
    return text, collapsed


# ----------------------------------------------------------------------------- one tool


def _property_problem(schema: Any) -> str | None:
    """Why a parameter schema cannot be kept (None when it can): read alone as the only parameter of a
    tool, it must convert and pass the rule checker."""
    if not isinstance(schema, dict):
        return f"a {type(schema).__name__}, not a schema"
    probe = {"name": "t", "description": "t", "parameters": {"type": "object", "properties": {"p": schema}}}
    try:
        reasons = check_tools([parse_tool(probe)])
    except (ToolFormatError, TypeError, ValueError, AttributeError) as e:
        return str(e)[:160]
    return f"{reasons[0].code}: {reasons[0].message[:160]}" if reasons else None


def _collapse_in(schema: dict, where: str, fixes: list[tuple[str, str]]) -> None:
    desc = schema.get("description")
    if isinstance(desc, str):
        new, n = collapse_repetition(desc)
        if n:
            schema["description"] = new
            fixes.append(("collapsed_repetition", f"{where}: {n} repeated phrase(s)"))


def _repair_object(schema: dict, where: str, fixes: list[tuple[str, str]], cut: bool) -> None:
    """Drop the parameters that are no schema and prune `required` to what is left, nested objects first
    (their own `required` would otherwise condemn the whole parameter)."""
    props = schema["properties"]
    for pname in list(props):
        sub = props[pname]
        at = f"{where}.properties.{pname}"
        if isinstance(sub, dict):
            _collapse_in(sub, at, fixes)
            for inner, inner_at in ((sub, at), (sub.get("items"), f"{at}.items")):
                if isinstance(inner, dict) and isinstance(inner.get("properties"), dict):
                    _repair_object(inner, inner_at, fixes, cut)
        why = "cut off before its schema" if cut and sub == {} else _property_problem(sub)
        if why:
            del props[pname]
            fixes.append(("dropped_property", f"{at}: {why}"))
    req = schema.get("required")
    if req is None or isinstance(req, bool):
        return  # absent, or OpenAPI-2 `required: true` (the converter reads it)
    given = req if isinstance(req, list) else [req]
    keep = list(dict.fromkeys(r for r in given if isinstance(r, str) and r in props))
    if keep != req:
        gone = [r for r in given if r not in keep]
        what = f"dropped {gone!r}" if gone else "repeats removed" if given is req else f"{req!r} made a list"
        fixes.append(("pruned_required", f"{where}.required: {what}"[:200]))
        if keep:
            schema["required"] = keep
        else:
            del schema["required"]


def complete_enough(obj: Any) -> bool:
    """Whether a tool cut off at the end of the output is worth keeping once closed: its name and its own
    description were written and its parameters were begun (so the cut fell inside them or later)."""
    if not isinstance(obj, dict):
        return False
    body = obj["function"] if isinstance(obj.get("function"), dict) else obj
    desc = body.get("description")
    return (
        isinstance(body.get("name"), str)
        and isinstance(desc, str)
        and bool(desc.strip())
        and isinstance(body.get("parameters"), dict)
    )


def repair_tool(obj: Any, *, cut: bool = False) -> tuple[Any, list[tuple[str, str]]]:
    """A repaired copy of one decoded tool object and the `(kind, detail)` of each repair.

    Only the JSON-Schema shape the prompts ask for (`name`, `description`, `parameters` with
    `properties`, also inside an OpenAI `function` wrapper) is repaired; other shapes and non-objects are
    returned as they are for the converter to judge. `cut`: the tool was cut off at the end of the output
    (then a missing description is not filled and a parameter cut before its schema is dropped).
    Raises `ToolRepairError` (`broken_parameters`) when every parameter had to be dropped, and
    `RecursionError` on a tool nested too deeply to walk."""
    fixes: list[tuple[str, str]] = []
    obj = _plain(obj, fixes, "")
    if not isinstance(obj, dict):
        return obj, fixes
    body = obj["function"] if isinstance(obj.get("function"), dict) else obj
    if any(k in body for k in ("api_name", "apiCode", "input_parameters")):
        return obj, fixes
    name = body.get("name")
    if isinstance(name, str) and not (NAME_RE.match(name) and len(name) <= MAX_NAME_LEN):
        fixed = fix_name(name)
        if fixed:
            fixes.append(("fixed_name", f"{name!r} -> {fixed!r}"))
            body["name"] = name = fixed
    desc = body.get("description")
    if isinstance(desc, str) and desc.strip():
        _collapse_in(body, "description", fixes)
    elif isinstance(name, str) and NAME_RE.match(name) and not cut:
        body["description"] = describe_name(name)
        was = "empty" if isinstance(desc, str) else "missing" if desc is None else type(desc).__name__
        fixes.append(("filled_description", f"{was} -> {body['description']!r}"))
    params = body.get("parameters")
    if isinstance(params, dict) and isinstance(params.get("properties"), dict):
        had = len(params["properties"])
        _repair_object(params, "parameters", fixes, cut)
        if had and not params["properties"]:  # a tool without its parameters would be a guess
            raise ToolRepairError("broken_parameters", f"all {had} parameter(s) of {name!r} are broken")
    return obj, fixes


# ----------------------------------------------------------------------------- over-specific names

_QUOTED = re.compile(r"\"([^\"]{1,80})\"|“([^”]{1,80})”|`([^`]{1,80})`|(?<!\w)'([^']{1,80})'(?!\w)")
_SENTENCE_END = ".!?:;\"'(“‘"


def _starts_sentence(query: str, at: int) -> bool:
    before = query[:at].rstrip()
    return not before or before[-1] in _SENTENCE_END


def query_values(query: str) -> set[str]:
    """The value-like words of a query, lower-cased: numbers and IDs (any word holding a digit), words in
    quotes, and capitalised words not at the start of a sentence (names: Paris, Nairobi, John). All-caps
    words are left out (PDF, API, JSON name kinds of things as often as values), and so are capitals in a
    query written mostly in capitals or Title Case, where they tell nothing."""
    words = [w for w in re.finditer(r"[^\W_]+", query) if len(w.group()) > 1]
    inner = [
        w.group()
        for w in words
        if w.group()[0].isalpha() and not any(ch.isdigit() for ch in w.group())
        if not _starts_sentence(query, w.start())
    ]
    capitals_mean_names = sum(w[0].isupper() for w in inner) * 2 <= len(inner)
    out: set[str] = set()
    for m in _QUOTED.finditer(query):
        quoted = next(g for g in m.groups() if g is not None)
        out |= {w.lower() for w in re.findall(r"[^\W_]+", quoted) if len(w) > 1}
    for w in words:
        word = w.group()
        if any(ch.isdigit() for ch in word) or (
            capitals_mean_names
            and word[0].isupper()
            and not word.isupper()
            and not _starts_sentence(query, w.start())
        ):
            out.add(word.lower())
    return out


# Conversational words of a request that never belong in a tool's name.
_FILLER_WORDS = frozenset(
    [
        "hi",
        "hey",
        "hello",
        "real",
        "quick",
        "please",
        "thanks",
        "thank",
        "could",
        "would",
        "can",
        "you",
        "me",
        "my",
        "favor",
        "kindly",
        "just",
        "like",
        "wondering",
        "appreciate",
    ]
)


def over_specific_name(name: str, query: str) -> str | None:
    """Why `name` is too specific to the query it was written for (None when it is not): it holds a
    number of 2+ digits (`..._2025`), or 2+ of the query's value-like words (`book_london_paris_flight`).
    Conservative on purpose: one value word alone (`get_tesla_stock_price`) passes, since a false rejection
    costs a query of the round."""
    words = name_words(name)
    digits = sorted({w for w in words if w.isdigit() and len(w) >= 2})
    if digits:
        return f"tool name {name!r} holds the number(s) {', '.join(digits)}; a number belongs in a parameter"
    said = set(re.findall(r"[a-z]+", query.lower()))
    fillers = sorted({w for w in words if w in _FILLER_WORDS and w in said})
    if len(fillers) >= 2:  # `real_quick_work_out_volume`: the query's chit-chat copied into the name
        return (
            f"tool name {name!r} copies the query's filler words ({', '.join(fillers)}); a name says what "
            "the tool does"
        )
    values = query_values(query)
    hits = sorted({w for w in words if w in values})
    if len(hits) >= 2:
        return (
            f"tool name {name!r} copies the query's values ({', '.join(hits)}); a tool must serve other "
            "queries than its own, with the values as parameters"
        )
    return None
