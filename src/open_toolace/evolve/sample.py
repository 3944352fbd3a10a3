"""Sampling steps of a round: query-aware tool generation and k invocation samples per item."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from open_toolace.checks import check_tools
from open_toolace.data.records import example_query
from open_toolace.evolve.common import Item, Rejection, reject
from open_toolace.formats import python_doc
from open_toolace.formats.tools import ToolFormatError, parse_tool
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


_DECODER = json.JSONDecoder()


def _complete_prefix(text: str) -> list[Any]:
    """The complete JSON objects at the start of a list that never closes (`[{...}, {...}, {"na` -> the
    first two), or of bare objects with no list around them (`{...},\n{...}, {"na`). Only whole objects
    are kept (each decoded by `json`), so nothing is guessed."""
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


def parse_tool_list(text: str) -> tuple[list[dict], list[Rejection]]:
    """Parse a model's JSON tool list. Returns `(tools as Tool dicts, per-tool problems)`.

    Raises `ValueError` with a reason code in `args[0]` (`bad_json`, `not_a_list`, `no_valid_tool`) when
    nothing usable is there; single tools that do not convert or validate are returned as problems."""
    data: Any = None
    problems: list[dict] = []
    for cand in _json_candidates(text):
        try:
            data = json.loads(cand)
            break
        except (json.JSONDecodeError, RecursionError):
            continue
    else:
        data = _complete_prefix(text)  # a list cut off by the token budget: keep its finished tools
        if not data:
            raise ValueError("bad_json", "no JSON tool list in the output")
        problems.append(
            {"index": len(data), "reason": "truncated_list", "message": "list cut off or unclosed"}
        )
    if isinstance(data, dict):  # {"tools": [...]} or a single tool
        data = data.get("tools", [data]) if isinstance(data.get("tools"), list) else [data]
    if not isinstance(data, list):
        raise ValueError("not_a_list", f"expected a JSON list of tools, got {type(data).__name__}")
    parsed: list[Any] = []
    for i, obj in enumerate(data):
        try:
            parsed.append(parse_tool(obj))
        except (ToolFormatError, TypeError, ValueError, AttributeError) as e:
            problems.append({"index": i, "reason": "tool_format", "message": str(e)[:300]})
            parsed.append(None)
    return _valid_tools(parsed, problems)


def parse_python_tools(text: str) -> tuple[list[dict], list[Rejection]]:
    """Parse a model's Python tool stubs (formats/python_doc/); same contract as `parse_tool_list`
    (raises `ValueError` with `bad_python` when no definition can be read at all)."""
    tools, rejected = python_doc.parse_tools(text)
    problems = [
        {"index": i, "reason": r["reason"], "message": r["message"][:300]} for i, r in enumerate(rejected)
    ]
    if not tools:
        raise ValueError(
            "bad_python", rejected[0]["message"] if rejected else "no tool definition in the output"
        )
    return _valid_tools(tools, problems)


def parse_tools_as(text: str, fmt: str) -> tuple[list[dict], list[Rejection]]:
    """Tools in a model's output, read in the tool-doc format its prompt asked for (`json` or `python`)."""
    return parse_python_tools(text) if fmt == "python" else parse_tool_list(text)


def _valid_tools(parsed: list[Any], problems: list[dict]) -> tuple[list[dict], list[Rejection]]:
    """The parsed tools that pass the rule checker, once per name; the rest become problems."""
    tools, names = [], set()
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
        tools.append(tool.to_dict())
    if not tools:
        raise ValueError("no_valid_tool", f"{len(parsed)} tool(s) in the output, none valid")
    return tools, problems


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
    (`step="tools"`); single broken tools inside an otherwise good list are dropped and listed in
    `meta.tool_problems`. `prompts`: the prompt set the model was trained with (its tool-doc format is
    what the output is parsed as)."""
    queries = list(queries)
    fmt = tool_format(prompts)
    requests = [render_tool_generation(example_query(q), m, prompts=prompts) for q in queries]
    outputs = generator.generate(requests, sampling.with_(n=1), progress=progress)
    kept, rejected = [], []
    for q, outs in zip(queries, outputs, strict=True):
        text = outs[0] if outs else ""
        try:
            tools, problems = parse_tools_as(text, fmt)
        except ValueError as e:
            code, msg = (e.args + ("",))[:2] if len(e.args) >= 1 else ("bad_json", "")
            rejected.append(reject(q, "tools", str(code), str(msg), output=text[:2000]))
            continue
        meta = {**q.get("meta", {}), "tool_output": text, "tool_problems": problems}
        kept.append({**q, "tools": tools, "calls": None, "meta": meta})
    return kept, rejected


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
