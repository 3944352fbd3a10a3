"""Sampling steps of a round: query-aware tool generation and k invocation samples per item."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from open_toolace.checks import check_tools
from open_toolace.data.records import example_query
from open_toolace.evolve.common import Item, Rejection, reject
from open_toolace.evolve.json_repair import Repaired, repair_json_text
from open_toolace.evolve.repair import (
    REPAIR_KINDS,
    ToolRepairError,
    complete_enough,
    keep_first_pairs,
    over_specific_name,
    repair_tool,
)
from open_toolace.formats import python_doc
from open_toolace.formats.grounding import stated_numbers
from open_toolace.formats.tools import Tool, ToolFormatError, parse_tool
from open_toolace.generation import Sampling
from open_toolace.prompts import render_invocation, render_tool_generation, tool_format

# ----------------------------------------------------------------------------- tool generation

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def _json_candidates(text: str) -> list[str]:
    """Substrings of a model output that may hold the JSON tool list: fenced blocks, then the outermost
    [...] or {...} span, then the whole text. Small models wrap JSON in prose; we look, never eval."""
    out = [m.group(1) for m in _FENCE.finditer(text)]
    first_list, first_obj = text.find("["), text.find("{")
    for open_, close in (("[", "]"), ("{", "}")):
        i, j = text.find(open_), text.rfind(close)
        if open_ == "{" and 0 <= first_list < first_obj:
            continue  # an object inside a list that did not parse: `_complete_prefix` salvages the list
        if 0 <= i < j:
            out.append(text[i : j + 1])
    out.append(text)
    return out


_DECODER = json.JSONDecoder(object_pairs_hook=keep_first_pairs)
MAX_OUTPUT_CHARS = 100_000  # a longer tool output is a runaway generation: rejected as `too_long`


def _complete_prefix(text: str) -> list[Any]:
    """The complete JSON objects at the start of a list that never closes (`[{...}, {...}, {"na` -> the
    first two), or of bare objects with no list around them (`{...},\n{...}, {"na`). Only whole objects
    are kept (each decoded by `json`), so nothing is guessed. The last resort after `repair_json_text`."""
    i_list, i_obj = text.find("["), text.find("{")
    if i_list >= 0 and (i_obj < 0 or i_list < i_obj):
        pos = i_list + 1
    elif i_obj >= 0:
        pos = i_obj
    else:
        return []
    out: list[Any] = []
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] != "{":
            return out
        try:
            obj, pos = _DECODER.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError):
            return out
        out.append(obj)


@dataclass
class ToolParse:
    """What a tool output held: the kept tools (Tool dicts), the per-tool problems (`{index, reason,
    message}`: what was dropped and why) and the repairs of the kept tools (`{index, kind, detail}`;
    `index` None for a repair of the list itself). `index` is the tool's position in the model's list."""

    tools: list[dict]
    problems: list[Rejection] = field(default_factory=list)
    repairs: list[dict] = field(default_factory=list)


def _decode(text: str) -> tuple[Any, Repaired | None]:
    """The JSON value in a model output: as written if some candidate parses (repeated keys: the first
    kept), else after `repair_json_text`, else the whole objects of a cut list. Raises `bad_json`."""
    for cand in _json_candidates(text):
        try:
            return json.loads(cand, object_pairs_hook=keep_first_pairs), None
        except (json.JSONDecodeError, RecursionError):
            continue
    rep = repair_json_text(text)
    if rep is not None:
        try:
            return json.loads(rep.text, object_pairs_hook=keep_first_pairs), rep
        except (json.JSONDecodeError, RecursionError):
            pass
    data = _complete_prefix(text)
    if not data:
        raise ValueError("bad_json", "no JSON tool list in the output")
    return data, Repaired("", "[", [], closed=True, cut_depth=1)


def _text_repairs(rep: Repaired, shape: str, n: int, cut: int | None) -> dict[int | None, list]:
    """The syntax repairs of `rep` by tool index (`shape`: `list`, `tool` or `tools`, the top level)."""
    counts: Counter = Counter()
    for at, kind in rep.repairs:
        if kind == "closed_brackets":
            if cut is not None:
                counts[(cut, kind)] += 1
            continue
        index = at if shape == "list" else 0 if shape == "tool" else None
        counts[(index if index is None or index < n else None, kind)] += 1
    out: dict[int | None, list] = {}
    for (index, kind), k in counts.items():
        detail = REPAIR_KINDS[kind] + (f" ({k} places)" if k > 1 else "")
        if kind == "closed_brackets":
            detail = f"cut off {rep.cut_depth} bracket(s) deep: closed after its last complete value"
        out.setdefault(index, []).append((kind, detail))
    return out


def read_tool_list(text: str, *, query: str | None = None, m: int | None = None) -> ToolParse:
    """Read a model's JSON tool list, repairing what is recoverable (`repair.REPAIR_KINDS`).

    `query`: the request the tools were written for (enables the `over_specific_name` rule); `m`: how many
    tools were asked for (more valid ones become `extra_tool` problems). Raises `ValueError(code, message)`
    when nothing usable is there: `too_long`, `bad_json`, `not_a_list`, `no_valid_tool`,
    `over_specific_name` (every valid tool was). Never raises anything else on any text."""
    if len(text) > MAX_OUTPUT_CHARS:
        raise ValueError("too_long", f"{len(text)} characters is over {MAX_OUTPUT_CHARS}")
    data, rep = _decode(text)
    shape = "list"
    if isinstance(data, dict):  # {"tools": [...]} or a single tool
        shape = "tools" if isinstance(data.get("tools"), list) else "tool"
        data = data["tools"] if shape == "tools" else [data]
    if not isinstance(data, list):
        raise ValueError("not_a_list", f"expected a JSON list of tools, got {type(data).__name__}")
    problems: list[dict] = []
    cut = None
    by_index: dict[int | None, list] = {}
    if rep is not None:
        if rep.closed and data and rep.cut_depth >= {"list": 2, "tool": 1, "tools": 3}[shape]:
            cut = len(data) - 1  # the last tool was open where the output ends
        by_index = _text_repairs(rep, shape, len(data), cut)
        if rep.closed and cut is None:
            problems.append(
                {"index": len(data), "reason": "truncated_list", "message": "list cut off or unclosed"}
            )
    parsed: list[Any] = []
    for i, obj in enumerate(data):
        try:
            if i == cut and not complete_enough(obj):
                raise ToolFormatError("the tool was cut off before its name, description and parameters")
            fixed, fixes = repair_tool(obj, cut=i == cut)
            parsed.append(parse_tool(fixed))
            by_index.setdefault(i, []).extend(fixes)
        except (ToolFormatError, TypeError, ValueError, AttributeError, RecursionError) as e:
            reason = "tool_format"
            if i == cut:
                reason = "truncated_list"
            elif isinstance(e, ToolRepairError):
                reason = e.reason
            problems.append({"index": i, "reason": reason, "message": str(e)[:300] or type(e).__name__})
            parsed.append(None)
    whole = len(data) - (cut is not None)  # tools finished before the cut
    if rep is not None and rep.closed and whole == 0 and all(p is None for p in parsed):
        raise ValueError("bad_json", "no complete tool before the output was cut off")
    tools, problems, kept = _valid_tools(parsed, problems, query=query, m=m)
    return ToolParse(tools, problems, _repair_records(by_index, kept))


def _repair_records(by_index: dict[int | None, list], kept: list[int]) -> list[dict]:
    """The repairs of the kept tools (and of the list itself), as `{index, kind, detail}` records."""
    keep = set(kept)
    return [
        {"index": i, "kind": kind, "detail": detail}
        for i in sorted(by_index, key=lambda x: -1 if x is None else x)
        if i is None or i in keep
        for kind, detail in by_index[i]
    ]


def parse_tool_list(text: str) -> tuple[list[dict], list[Rejection]]:
    """Parse a model's JSON tool list. Returns `(tools as Tool dicts, per-tool problems)`.

    Raises `ValueError` with a reason code in `args[0]` (`bad_json`, `not_a_list`, `no_valid_tool`,
    `too_long`) when nothing usable is there; single tools that do not convert or validate are returned
    as problems. Repairs are made but not returned: `read_tool_list` has them."""
    got = read_tool_list(text)
    return got.tools, got.problems


def read_python_tools(text: str, *, query: str | None = None, m: int | None = None) -> ToolParse:
    """Read a model's Python tool stubs (formats/python_doc/); the contract of `read_tool_list`, with
    `bad_python` when no definition can be read at all. The same tool repairs apply (a missing
    docstring, which python_doc reads as the bare name, is filled from the name)."""
    tools, rejected = python_doc.parse_tools(text)
    problems = [
        {"index": i, "reason": r["reason"], "message": r["message"][:300]} for i, r in enumerate(rejected)
    ]
    if not tools:
        raise ValueError(
            "bad_python", rejected[0]["message"] if rejected else "no tool definition in the output"
        )
    parsed: list[Any] = []
    by_index: dict[int | None, list] = {}
    for i, tool in enumerate(tools):
        d = tool.to_dict()
        if d["description"] == d["name"]:
            d["description"] = ""
        try:
            fixed, fixes = repair_tool(d)
            parsed.append(Tool.from_dict(fixed))
            by_index[i] = fixes
        except (ToolFormatError, RecursionError):
            parsed.append(tool)
    tools_out, problems, kept = _valid_tools(parsed, problems, query=query, m=m)
    return ToolParse(tools_out, problems, _repair_records(by_index, kept))


def read_tools(text: str, fmt: str, *, query: str | None = None, m: int | None = None) -> ToolParse:
    """Tools in a model's output, read (and repaired) in the tool-doc format its prompt asked for."""
    reader = read_python_tools if fmt == "python" else read_tool_list
    return reader(text, query=query, m=m)


def _valid_tools(
    parsed: list[Any], problems: list[dict], *, query: str | None = None, m: int | None = None
) -> tuple[list[dict], list[Rejection], list[int]]:
    """The parsed tools that pass the rule checker, once per name, not named after the query's values
    (with `query`), at most `m` (with `m`); the rest become problems. Also returns the kept indices."""
    tools, names, kept = [], set(), []
    over_specific = 0
    for i, tool in enumerate(parsed):
        if tool is None:
            continue
        if tool.name in names:
            problems.append({"index": i, "reason": "duplicate_name", "message": f"{tool.name!r} twice"})
            continue
        reasons = check_tools([tool])
        if reasons:
            problems += [{"index": i, "reason": r.code, "message": r.message} for r in reasons]
            continue
        names.add(tool.name)
        why = over_specific_name(tool.name, query) if query is not None else None
        if why:
            problems.append({"index": i, "reason": "over_specific_name", "message": why})
            over_specific += 1
            continue
        if m is not None and len(tools) >= m:
            problems.append(
                {"index": i, "reason": "extra_tool", "message": f"{tool.name!r}: {m} tool(s) were asked for"}
            )
            continue
        tools.append(tool.to_dict())
        kept.append(i)
    if not tools and over_specific:
        raise ValueError("over_specific_name", f"all {over_specific} valid tool(s) are named after the query")
    if not tools:
        raise ValueError("no_valid_tool", f"{len(parsed)} tool(s) in the output, none valid")
    return tools, problems, kept


def generate_tools(
    generator: Any,
    queries: Sequence[Item],
    m: int,
    sampling: Sampling,
    progress: bool = True,
    prompts: str | None = None,
) -> tuple[list[Item], list[Rejection]]:
    """Query-aware tool generation: ask the model for `m` candidate tools per unlabeled query.

    Each query is an internal example (`calls: null`); a kept item is a copy with `tools` filled and the
    raw output in `meta.tool_output`. An output with no parseable, valid tool is a rejection
    (`step="tools"`, reason codes of `read_tool_list` / `read_python_tools`); single broken tools inside
    an otherwise good list are dropped and listed in `meta.tool_problems`, and what was repaired in the
    kept tools is listed in `meta.tool_repairs` (`{index, kind, detail}`). At most `m` tools are kept and
    a tool named after the query's values is dropped (`over_specific_name`). `prompts`: the prompt set the
    model was trained with (its tool-doc format is what the output is parsed as).

    `sampling.n` outputs per query (`evolve.tool_samples`): the query keeps the valid one whose tools have
    room for most of the numbers the query states (`pick_tools`; `meta.tool_pick`), and is rejected only
    when none is valid (the first output's reason; every output's in `reasons`). Model output is data: no
    text, however hostile, raises out of here."""
    queries = list(queries)
    fmt = tool_format(prompts)
    asked = [example_query(q) for q in queries]
    requests = [render_tool_generation(a, m, prompts=prompts) for a in asked]
    outputs = generator.generate(requests, sampling, progress=progress)
    kept, rejected = [], []
    for q, ask, outs in zip(queries, asked, outputs, strict=True):
        texts = list(outs) or [""]
        reads = [_read_one(text, fmt, ask, m) for text in texts]
        valid = [i for i, (got, _) in enumerate(reads) if got is not None]
        if not valid:
            (code, msg), text = reads[0][1], texts[0]
            extra = {"reasons": [r[1][0] for r in reads]} if len(texts) > 1 else {}
            rejected.append(reject(q, "tools", code, msg, output=text[:2000], **extra))
            continue
        best = pick_tools(ask, [reads[i][0].tools for i in valid])
        chosen = valid[best]
        got, text = reads[chosen][0], texts[chosen]
        meta = {
            **q.get("meta", {}),
            "tool_output": text,
            "tool_problems": got.problems,
            "tool_repairs": got.repairs,
        }
        if len(texts) > 1:
            meta["tool_pick"] = {"samples": len(texts), "valid": len(valid), "chosen": chosen}
        kept.append({**q, "tools": got.tools, "calls": None, "meta": meta})
    return kept, rejected


def _read_one(text: str, fmt: str, query: str, m: int) -> tuple[ToolParse | None, tuple[str, str]]:
    """`(parse, ("", ""))` or `(None, (reason, message))`: one output's tools, never raising."""
    try:
        return read_tools(text, fmt, query=query, m=m), ("", "")
    except ValueError as e:
        code, msg = (e.args + ("",))[:2] if len(e.args) >= 1 else ("bad_json", "")
        return None, (str(code), str(msg))
    except Exception as e:  # a parser bug must cost one query, counted, not the whole round
        return None, ("parse_error", f"{type(e).__name__}: {str(e)[:200]}")


def pick_tools(query: str, candidates: Sequence[list[dict]]) -> int:
    """Which of several valid tool lists for `query` to keep: the first with the most parameters, counted
    up to the numbers the query states. A 135M model often writes a tool with no parameter for a stated
    value (`gas_pressure(temperature, volume)` for "8 mol at 331.7 K in 11.5 L"), and its calls then
    leave the value out; beyond the stated numbers, more parameters are no better."""
    stated = len(stated_numbers(query))

    def room(tools: list[dict]) -> int:
        return min(stated, sum(len((t.get("parameters") or {}).get("properties") or {}) for t in tools))

    return max(range(len(candidates)), key=lambda i: (room(candidates[i]), -i))


# ----------------------------------------------------------------------------- invocation sampling


def sample_invocations(
    generator: Any,
    items: Sequence[Item],
    sampling: Sampling,
    progress: bool = True,
    prompts: str | None = None,
) -> list[Item]:
    """`sampling.n` (the k of the method) invocation samples per item (query + its candidate tools):
    `{..item, "samples": [k texts]}`."""
    items = list(items)
    requests = [render_invocation(it["tools"], it["messages"], prompts=prompts) for it in items]
    outputs = generator.generate(requests, sampling, progress=progress)
    return [{**it, "samples": list(outs)} for it, outs in zip(items, outputs, strict=True)]
