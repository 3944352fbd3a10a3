"""The generic optional parameters the `add_parameter` operator (apis.py) may add, and where each fits:
options on look-ups, notes on actions, rounding and the working on calculators.

    [g.name for g in GENERIC if generic_fits(g.name, api)]   # e.g. ["language", "region", ...]
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from open_toolace.synth.tree import parse_param

if TYPE_CHECKING:
    from open_toolace.synth.apis import Api

# Optional parameters `add_parameter` may add to any API (same line format as tree.yaml).
GENERIC_LINES = {
    "language": "language? | in {v} / answered in {v} | Language of the response.",
    "max_results": "int:1:50? | (top {v} results) / showing {v} results | Maximum number of results.",
    "sort_order": "enum:ascending,descending? | in {v} order | Sort direction.",
    "currency": "currency? | with prices in {v} / priced in {v} | Currency code for amounts.",
    "include_details": "bool? | with full details / ~, just the summary | Return full details.",
    "timezone": "enum:UTC,CET,EST,PST,JST? | in {v} time / using {v} time | Time zone for times.",
    "region": "enum:europe,americas,asia,africa,oceania? | for the {v} region | Region.",
    "response_format": "enum:json,csv,text? | as {v} / formatted as {v} | Output format.",
    "notes": 'message? | with the note "{v}" | Free-text note.',
    "notify": "bool? | and notify me / ~, no notification needed | Send a notification when done.",
    "tags": "list:tag? | tagged {v} | Tags to attach.",
    "priority_level": "enum:low,normal,high? | with {v} priority | Priority.",
    "precision": "int:0:6? | rounded to {v} decimal places / to {v} decimal places | Decimal places in the result.",
    "show_steps": "bool? | and show the working / ~, just the result | Include the intermediate steps.",
}
GENERIC = [parse_param(n, line, f"generic / {n}") for n, line in GENERIC_LINES.items()]
_LOOKUP_VERBS = {"search", "find", "list", "get", "compare", "check", "track", "estimate", "calculate"}
_CALC_GENERICS = {"precision", "show_steps"}
_ROUNDING = re.compile(r"decimal|digits|figures", re.I)


def generic_fits(name: str, api: Api) -> bool:
    """A generic parameter only where it means something: result options on look-ups, a currency
    where there is money, a time zone where there are times, notes and notifications on actions,
    rounding and the working on calculators (and nothing else there: a formula has no 'notify')."""
    if api.spec.kind == "calculator":
        if name == "precision":  # not on an API whose own argument already sets the rounding
            return not any(_ROUNDING.search(p.spec.description) for _, p in api.leaves())
        return name in _CALC_GENERICS
    if name in _CALC_GENERICS:
        return False
    verb = api.spec.name.rsplit(".", 1)[-1].split("_")[0]
    kinds = {p.spec.kind.name for _, p in api.leaves()}
    lookup = verb in _LOOKUP_VERBS or api.spec.kind == "lookup"
    if name in ("max_results", "sort_order"):
        return verb in ("search", "find", "list")
    if name in ("include_details", "response_format", "language", "region"):
        return lookup
    if name == "currency":
        return "money" in kinds
    if name == "timezone":
        return "time" in kinds
    return not lookup
