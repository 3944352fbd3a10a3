"""Relaxing a generated tool to what its own samples agree on, before the vote.

A 135M model often writes a tool that requires a parameter its query never fills (`unit` for "convert 5
miles to km" when the query names no unit system), or types a parameter `integer` for a value the query
states as 0.045. Every sample that answers the query then breaks the rules (`missing_required`,
`type_mismatch`), the vote finds no valid sample (`no_valid`), and the query is lost although the samples
agree. The samples are the evidence: when at least `share` of the calls to a tool leave a required
parameter out, it becomes optional; when at least `share` of the values given to an `integer` parameter are
fractions, it becomes `number`. Only those two repairs, each recorded; nothing else of the tool changes.
The coverage rule (`evolve.coverage: numbers`) still rejects a call that leaves out a stated number.

    tools, repairs = relax_tools(item["tools"], item["samples"])
    # repairs: [{"tool": "convert", "param": "unit", "kind": "required_dropped", "calls": 4, "without": 4}]
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from open_toolace.formats import CallParseError, ToolCall, parse_calls

__all__ = ["relax_tools"]


def _parsed(samples: Sequence[Any]) -> list[list[ToolCall]]:
    out = []
    for s in samples:
        if isinstance(s, str):
            try:
                out.append(parse_calls(s))
            except CallParseError:
                continue
    return out


def _fraction(v: Any) -> bool:
    return isinstance(v, float) and not v.is_integer()


def relax_tools(
    tools: Sequence[Any], samples: Sequence[Any], share: float = 0.5
) -> tuple[list[Any], list[dict[str, Any]]]:
    """`tools` with the repairs the samples support (module docstring), and the repairs. A tool that is not
    a dict with an object schema, or that no sample calls, is returned as it is."""
    calls = [c for sample in _parsed(samples) for c in sample]
    out: list[Any] = []
    repairs: list[dict[str, Any]] = []
    for tool in tools:
        params = tool.get("parameters") if isinstance(tool, dict) else None
        props = params.get("properties") if isinstance(params, dict) else None
        mine = [c for c in calls if isinstance(tool, dict) and c.name == tool.get("name")]
        if not mine or not isinstance(props, dict):
            out.append(tool)
            continue
        tool = copy.deepcopy(tool)
        params, props = tool["parameters"], tool["parameters"]["properties"]
        required = params.get("required") if isinstance(params.get("required"), list) else []
        for p in list(required):
            without = sum(p not in c.arguments for c in mine)
            if without and without >= share * len(mine):
                required.remove(p)
                repairs.append({"tool": tool["name"], "param": p, "kind": "required_dropped",
                                "calls": len(mine), "without": without})  # fmt: skip
        for p, schema in props.items():
            if not isinstance(schema, dict) or schema.get("type") != "integer":
                continue
            given = [c.arguments[p] for c in mine if p in c.arguments]
            fractions = sum(_fraction(v) for v in given)
            if fractions and fractions >= share * len(given):
                schema["type"] = "number"
                repairs.append({"tool": tool["name"], "param": p, "kind": "integer_to_number",
                                "calls": len(given), "without": fractions})  # fmt: skip
        if "required" in params:
            params["required"] = required
        out.append(tool)
    return out, repairs
