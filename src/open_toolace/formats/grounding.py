"""Grounding heuristic: does a string argument value come from the user's query? (hallucination check)

Used by ``open_toolace.checks.check_calls(..., grounding=...)``. Text is NFKC-normalised and case-folded, then
split into words and numbers ("6cm" -> "6", "cm"; punctuation and underscores are separators).

- ``strict``: the value's whole word sequence occurs in the query ("new-york" is in "... in NEW YORK for ...").
  Values in scripts written without spaces (Chinese, Japanese) are matched as a plain substring.
- ``lenient``: strict, or any *content* word of the value (not a stopword, not a single letter) occurs in the
  query, allowing a crude plural ("hotels"/"hotel") and prefixes of 3+ letters ("eur"/"euro",
  "german"/"germany"). Numbers must match exactly.

Values constrained by an ``enum``/``const`` and values equal to the schema's ``default`` are not checked:
they come from the tool, not the user. It is a heuristic: world knowledge ("CA" for California) fails it.

    q = QueryIndex("Book a table in New York")
    q.strict("new york"), q.lenient("York City"), ungrounded(["NYC"], {}, q, "lenient")  # True, True, [("[0]", "NYC")]

The reverse check, ``unused_numbers``: numbers the query states that no call argument carries (a call that
leaves out "8 mol" computes something else). Used by a round's rule filter (``evolve.coverage: numbers``).

    unused_numbers("gas pressure of 8 mol at 331.7 K", [{"temperature": 331.7}])   # ["8"]
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

MODES = ("off", "lenient", "strict")


# fmt: off
_STOPWORDS = frozenset({
    "a", "an", "the", "of", "in", "on", "at", "to", "for", "from", "by", "with", "and", "or", "not", "no", "is",
    "are", "was", "were", "be", "been", "it", "its", "this", "that", "these", "those", "as", "into", "over",
    "under", "about", "my", "your", "our", "their", "his", "her", "me", "you", "we", "they", "i",
})
# fmt: on


def _tokens(text: str) -> list[str]:
    """Case-folded words and numbers; "6cm" -> ["6", "cm"], "New-York" -> ["new", "york"]."""
    return re.findall(r"\d+|[^\W\d_]+", unicodedata.normalize("NFKC", text).casefold())


def _variants(tok: str) -> tuple[str, ...]:
    """A token and its crude singular, so 'hotels' meets 'hotel'."""
    if len(tok) > 3 and tok.endswith("es"):
        return tok, tok[:-2], tok[:-1]
    if len(tok) > 2 and tok.endswith("s"):
        return tok, tok[:-1]
    return (tok,)


def _related(a: str, b: str) -> bool:
    """Lenient word match: one word a prefix of the other (3+ letters: 'eur'/'euro', 'german'/'germany')."""
    if a.isdigit() or b.isdigit():
        return a == b
    short, long_ = sorted((a, b), key=len)
    return len(short) >= 3 and long_.startswith(short)


class QueryIndex:
    """A query tokenised once; ``strict(value)`` / ``lenient(value)`` say whether a value is grounded in it."""

    def __init__(self, query: str):
        toks = _tokens(query)
        self.joined = f" {' '.join(toks)} "
        self.squashed = "".join(toks)  # for scripts written without spaces
        self.words = {v for t in toks for v in _variants(t)}

    def strict(self, value: str) -> bool:
        toks = _tokens(value)
        if not toks:
            return True
        return f" {' '.join(toks)} " in self.joined or (
            not value.isascii() and "".join(toks) in self.squashed
        )

    def lenient(self, value: str) -> bool:
        toks = _tokens(value)
        content = [t for t in toks if t not in _STOPWORDS and (len(t) > 1 or t.isdigit())] or toks
        if not content or self.strict(value):
            return True
        for t in content:
            if any(v in self.words for v in _variants(t)) or any(_related(t, w) for w in self.words):
                return True
        return False


def ungrounded(value: Any, schema: Any, q: QueryIndex, mode: str, path: str = "") -> list[tuple[str, str]]:
    """``(path, string)`` for every string inside ``value`` not grounded in the query under ``mode``."""
    if mode not in ("lenient", "strict"):
        raise ValueError(f"grounding mode must be 'lenient' or 'strict', got {mode!r}")
    schema = schema if isinstance(schema, dict) else {}
    if "enum" in schema or "const" in schema or ("default" in schema and value == schema["default"]):
        return []
    if isinstance(value, str):
        ok = q.strict(value) if mode == "strict" else q.lenient(value)
        return [] if ok else [(path, value)]
    out: list[tuple[str, str]] = []
    if isinstance(value, dict):
        props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        for k, v in value.items():
            out.extend(ungrounded(v, props.get(k, {}), q, mode, f"{path}[{k!r}]"))
    elif isinstance(value, (list, tuple)):
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        for j, v in enumerate(value):
            out.extend(ungrounded(v, items, q, mode, f"{path}[{j}]"))
    return out


# a number as the user writes it: 52,000 / 331.7 / 57% / -3 (not inside a word: NaHCO3, B2B, 2nd)
_NUMBER = re.compile(
    r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?%?(?![\w])|(?<![\w.])-?\d+(?:\.\d+)?%?(?![\w])"
)


def _forms(written: str) -> set[float]:
    """The values one written number stands for (a percentage: itself and its fraction), rounded alike."""
    x = float(written.rstrip("%").replace(",", ""))
    return {round(x, 9), round(x / 100, 9)} if written.endswith("%") else {round(x, 9)}


def _as_numbers(text: str) -> set[float]:
    return {x for m in _NUMBER.findall(text) for x in _forms(m)}


def _values_numbers(value: Any) -> set[float]:
    if isinstance(value, bool):
        return set()
    if isinstance(value, (int, float)):
        return {round(float(value), 9)}
    if isinstance(value, str):
        return _as_numbers(value)
    if isinstance(value, dict):
        return {x for v in value.values() for x in _values_numbers(v)}
    if isinstance(value, (list, tuple)):
        return {x for v in value for x in _values_numbers(v)}
    return set()


def stated_numbers(query: str) -> list[str]:
    """The numbers written in ``query``, as written (52,000 / 331.7 / 57%), once each, in order."""
    return list(dict.fromkeys(_NUMBER.findall(query)))


def unused_numbers(query: str, arguments: list[dict[str, Any]]) -> list[str]:
    """The numbers written in ``query`` that no value in ``arguments`` (one dict per call) carries.

    A percentage is carried as itself or as a fraction (57% -> 57 or 0.57); strings count by the numbers in
    them ("273 K"). A year or a count the call rightly leaves out also shows here: it is a heuristic for a
    round's rule filter, where a false rejection costs one item and a false keep teaches a wrong call."""
    have = {x for args in arguments for x in _values_numbers(args)}
    return [m for m in _NUMBER.findall(query) if not _forms(m) & have]
