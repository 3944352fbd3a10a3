"""The rule layer of verification for synthesized samples, and the value-derivation check behind it.

`verify_example(ex)` returns the reasons a sample must be rejected (empty list: keep it):
  * the record is not a valid internal example (`invalid_record`);
  * `open_toolace.checks.check_calls` — unknown function, missing/unknown parameter, type, enum, schema,
    duplicate call, and (lenient) grounding of string values;
  * `underivable_value`: every argument value must be readable from the user turns, with a parser of its
    own here (numbers with units or in words, percents as fractions, dates in eight formats, 12/24-hour
    times, lists, strings), so a sample whose call says something its query does not is caught whatever
    checks.py tolerates. A string the query says only in part is derivable where the parameter's description
    fixes the format with an example ("'City, ST', e.g. 'Tucson, AZ'"): a composite place whose city the
    query says with its region in either spelling ("Austin, Texas" -> "Austin, TX") or, for a city of
    pools.yaml's `famous_city`, alone ("Boston" -> "Boston, MA"); a comma-separated list whose every item
    the query says ("NWTR and BFAN" -> "NWTR,BFAN").
Tool definitions are checked once with `check_tools` (`verify_tools`).

    reasons = verify_example(example, grounding="lenient")   # list[Reason]
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from open_toolace.checks import Reason, check_calls, check_tools
from open_toolace.data.records import example_user_text, validate_example
from open_toolace.synth.kinds import (
    COMPOSITE,
    FORMAT_EXAMPLE,
    MONTHS,
    NUMBER_WORDS,
    famous_cities,
    pools,
    region_spellings,
)

_MONTH = {m.lower(): i + 1 for i, m in enumerate(MONTHS)} | {
    m[:3].lower(): i + 1 for i, m in enumerate(MONTHS)
}
_MON = "(" + "|".join(sorted(_MONTH, key=len, reverse=True)) + r")\.?"
_ORD = r"(\d{1,2})(?:st|nd|rd|th)?"
_DATE_PATTERNS = [
    (re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"), ("y", "m", "d")),
    (re.compile(rf"\b{_MON}\s+{_ORD},?\s+(\d{{4}})\b", re.I), ("mon", "d", "y")),
    (re.compile(rf"\b{_ORD}\s+(?:of\s+)?{_MON},?\s+(\d{{4}})\b", re.I), ("d", "mon", "y")),
    (re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b"), ("m", "d", "y")),  # US order, as values.py writes it
    (re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(\d{4})\b"), ("d", "m", "y")),  # European dotted order
]
_TIME = re.compile(r"\b(\d{1,2}):(\d{2})\s*([ap])?\.?\s*(m\b\.?)?", re.I)
_NUMBER = re.compile(r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.])-?\d+(?:\.\d+)?")
# "4.25%" / "4.25 percent" also states the fraction 0.0425 (a rate a tool takes as a fraction)
_PERCENT = re.compile(rf"({_NUMBER.pattern})\s*(?:%|percent\b|per cent\b)", re.I)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HHMM = re.compile(r"^\d{2}:\d{2}$")


def query_dates(text: str) -> set[str]:
    """Every date the text states, as ISO strings."""
    out = set()
    for pattern, order in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            parts = dict(zip(order, m.groups(), strict=True))
            month = _MONTH[parts["mon"].lower().rstrip(".")] if "mon" in parts else int(parts["m"])
            try:
                out.add(dt.date(int(parts["y"]), month, int(parts["d"])).isoformat())
            except ValueError:
                continue
    return out


def query_times(text: str) -> set[str]:
    """Every clock time the text states, as 24-hour HH:MM."""
    out = set()
    for m in _TIME.finditer(text):
        h, mi = int(m.group(1)), int(m.group(2))
        if m.group(3) and m.group(4):
            ampm = m.group(3).lower()
            h = (0 if h == 12 else h) + (12 if ampm == "p" else 0)
        if 0 <= h < 24 and 0 <= mi < 60:
            out.add(f"{h:02d}:{mi:02d}")
    return out


def query_numbers(text: str) -> set[float]:
    """Every number the text states: digits (with thousands commas, decimals, signs), number words, and
    the fraction a percent stands for ("5%" states 5 and 0.05)."""
    out = {float(m.group().replace(",", "")) for m in _NUMBER.finditer(text)}
    out |= {round(float(m.group(1).replace(",", "")) / 100, 10) for m in _PERCENT.finditer(text)}
    words = set(re.findall(r"[a-z]+", text.lower()))
    out |= {float(i) for i, w in enumerate(NUMBER_WORDS) if w in words}
    return out


class QueryFacts:
    """What a query states, parsed once: lowered text, dates, times, numbers."""

    def __init__(self, text: str):
        self.text = re.sub(r"\s+", " ", text.lower().replace("_", " "))
        self.dates, self.times, self.numbers = query_dates(text), query_times(text), query_numbers(text)

    def derivable(self, value: Any) -> bool:
        if isinstance(value, bool) or value is None:
            return True  # booleans are stated in words ("with free cancellation"); see queries.py
        if isinstance(value, (int, float)):
            return float(value) in self.numbers
        if isinstance(value, str):
            if _ISO_DATE.match(value):
                return value in self.dates
            if _HHMM.match(value):
                return value in self.times
            return re.sub(r"\s+", " ", value.lower().replace("_", " ")) in self.text
        if isinstance(value, list):
            return all(self.derivable(v) for v in value)
        if isinstance(value, dict):
            return all(self.derivable(v) for v in value.values())
        return False


def _said(facts: QueryFacts, s: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(s.lower()) + r"(?!\w)", facts.text) is not None


def formatted_derivable(value: Any, description: str, facts: QueryFacts) -> bool:
    """A value the query states in part, in a format the description fixes (see the module docstring)."""
    if isinstance(value, list):
        return all(facts.derivable(v) or formatted_derivable(v, description, facts) for v in value)
    if not isinstance(value, str) or not FORMAT_EXAMPLE.search(description or ""):
        return False
    if ", " in value:
        city, region = value.split(", ", 1)
        if not _said(facts, city):
            return False
        if any(_said(facts, f"{city}, {r}") for r in region_spellings(region)):
            return True
        known = any(value in pools()[k] for k in COMPOSITE)
        return known and city in famous_cities()
    if "," in value and "comma" in description.lower():
        return all(_said(facts, item.strip()) for item in value.split(","))
    return False


def _description(tools: list[dict], name: str, path: str) -> str:
    """The description of parameter `path` ("group.member") of tool `name`, or ""."""
    tool = next((t for t in tools or () if t.get("name") == name), None)
    node: Any = (tool or {}).get("parameters") or {}
    for part in path.split("."):
        node = (node.get("properties") or {}).get(part) if isinstance(node, dict) else None
        if node is None:
            return ""
    return str(node.get("description", "")) if isinstance(node, dict) else ""


def _leaves(args: dict, prefix: str = ""):
    for k, v in args.items():
        if isinstance(v, dict):
            yield from _leaves(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def underivable(calls: list[dict], text: str, tools: list[dict] | None = None) -> list[Reason]:
    """Arguments whose value cannot be read back from `text` (the user turns); with `tools`, a value in a
    format its parameter's description fixes may be said in part (`formatted_derivable`)."""
    facts = QueryFacts(text)
    out = []
    for c in calls:
        for path, v in _leaves(c.get("arguments") or {}):
            if not facts.derivable(v) and not formatted_derivable(
                v, _description(tools, c["name"], path), facts
            ):
                out.append(
                    Reason(
                        "underivable_value",
                        f"call {c['name']!r}: {path} = {v!r} is not stated in the query",
                        c["name"],
                    )
                )
        # a value said only by default would be invisible: defaults are fine only when stated or omitted
    return out


def verify_example(ex: dict, grounding: str = "lenient", derive: bool = True) -> list[Reason]:
    """Why this sample must be rejected (empty: it passes the rule layer)."""
    problems = validate_example(ex)
    if problems:
        return [Reason("invalid_record", "; ".join(problems))]
    calls = ex["calls"]
    if calls is None:  # unlabeled query: nothing to check against tools
        return []
    text = example_user_text(ex)
    reasons = check_calls(calls, ex["tools"], query=text, grounding=grounding)
    if not reasons and derive:
        reasons = underivable(calls, text, ex["tools"])
    return reasons


def verify_tools(tools: list[dict]) -> dict[str, list[Reason]]:
    """`{tool name: reasons}` for the tools that fail `check_tools` (one at a time, so each is named)."""
    bad = {}
    for t in tools:
        reasons = check_tools([t])
        if reasons:
            bad[t.get("name", "?")] = reasons
    return bad


def reject(ex: dict | Any, reasons: list[Reason], stage: str) -> dict:
    """A reject row: the first reason's code (for counting), every reason, the stage and the record."""
    return {
        "reason": reasons[0].code,
        "stage": stage,
        "reasons": [r.to_dict() for r in reasons],
        "record": ex,
    }
