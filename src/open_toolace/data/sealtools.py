"""Seal-Tools -> examples. Queries (`dev.jsonl`: `{id, query, calling: [{api, parameters, responses}]}`) name
their tools; the definitions live in a separate tool file (`tool.jsonl` / `sealtools_tools.jsonl`:
`{api_name, api_description, field, parameters, required, responses}`).

Each query is one example; `tools` are the called tools in call order, or with `distractors=k` those plus
k other tools from the file (drawn with a seeded RNG from the same `field` first, then shuffled together,
so the choice is non-trivial and reproducible). Seal-Tools has nested calls: an argument may be the literal string `"API_call_1"`, meaning
"the output of call 1". Such calls are kept verbatim and marked `meta.uses_outputs = true`; the rule
checker sees a plain string, which is what the data says.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from open_toolace.data.records import Reject, make_example, make_reject
from open_toolace.data.sources import iter_records
from open_toolace.formats import CallParseError, ToolCall
from open_toolace.formats.tools import Tool, ToolFormatError, tool_from_sealtools
from open_toolace.io import DataFileError

TOOL_FILE_NAMES = ("sealtools_tools.jsonl", "tool.jsonl")


def read_sealtools_tools(path: str | Path) -> tuple[list[Tool], list[Reject]]:
    """All tools of a Seal-Tools tool file, and a reject for each definition that does not convert."""
    tools, rejects = [], []
    for item in iter_records(path):
        if not isinstance(item, tuple):
            rejects.append(item)
            continue
        line, index, rec = item
        try:
            tool = tool_from_sealtools(rec)
        except ToolFormatError as e:
            rejects.append(make_reject(line, "bad_tool", rec, str(e), index=index))
            continue
        tools.append(tool)
    return tools, rejects


def find_tool_file(path: str | Path) -> Path:
    for name in TOOL_FILE_NAMES:
        cand = Path(path).with_name(name)
        if cand.exists():
            return cand
    raise DataFileError(
        f"{path}: Seal-Tools queries need their tool file; pass --tools (looked for {TOOL_FILE_NAMES})"
    )


def _uses_outputs(value: Any) -> bool:
    if isinstance(value, str):
        return value.startswith("API_call_")
    if isinstance(value, list):
        return any(_uses_outputs(v) for v in value)
    if isinstance(value, dict):
        return any(_uses_outputs(v) for v in value.values())
    return False


def read_sealtools(
    path: str | Path,
    *,
    tools: str | Path | None = None,
    distractors: int = 0,
    seed: int = 0,
    source: str = "sealtools",
) -> Iterator[dict | Reject]:
    """Yield one example (or reject) per Seal-Tools query; `tools` is the tool file (found beside if None)."""
    tool_path = Path(tools) if tools else find_tool_file(path)
    all_tools, tool_rejects = read_sealtools_tools(tool_path)
    if tool_rejects:
        r = tool_rejects[0]
        raise DataFileError(
            f"{tool_path}:{r['line']}: {len(tool_rejects)} tool definition(s) unusable, first: {r.get('detail', r['reason'])}"
        )
    by_name = {t.name: t for t in all_tools}
    field_of: dict[str, str] = {}
    by_field: dict[str, list[str]] = {}
    for item in iter_records(tool_path):  # the 'field' is not part of Tool; read it for distractor choice
        if isinstance(item, tuple) and isinstance(item[2], dict):
            name, fld = item[2].get("api_name"), str(item[2].get("field", "")).split("/")[0]
            field_of[name] = fld
            by_field.setdefault(fld, []).append(name)
    for item in iter_records(path):
        if not isinstance(item, tuple):
            yield item
            continue
        line, index, rec = item
        if (
            not isinstance(rec, dict)
            or not isinstance(rec.get("query"), str)
            or not isinstance(rec.get("calling"), list)
        ):
            yield make_reject(line, "bad_record", rec, "expected {id, query, calling: [...]}", index=index)
            continue
        try:
            calls = [
                ToolCall.from_dict({"name": c.get("api"), "arguments": c.get("parameters")})
                for c in rec["calling"]
            ]
        except (CallParseError, AttributeError) as e:
            yield make_reject(line, "bad_call", rec, f"calling: {e}", index=index)
            continue
        missing = sorted({c.name for c in calls} - set(by_name))
        if missing:
            yield make_reject(
                line, "unknown_tool", rec, f"tools not in {tool_path.name}: {missing}", index=index
            )
            continue
        names = list(dict.fromkeys(c.name for c in calls))
        names = _with_distractors(
            names, distractors, by_field, field_of, list(by_name), f"{seed}:{rec.get('id', index)}"
        )
        meta: dict[str, Any] = {"source": source, "line": line, "index": index, "kind": "call"}
        if "id" in rec:
            meta["source_id"] = rec["id"]
        if any(_uses_outputs(c.arguments) for c in calls):
            meta["uses_outputs"] = True
        messages = [{"role": "user", "content": rec["query"]}]
        yield make_example(
            f"{source}-{rec.get('id', index)}", messages, [by_name[n] for n in names], calls, **meta
        )


def _with_distractors(
    chosen: list[str],
    k: int,
    by_field: dict[str, list[str]],
    field_of: dict[str, str],
    everything: list[str],
    key: str,
) -> list[str]:
    """`chosen` plus `k` other tools, same field first, shuffled together so position gives nothing away."""
    if k <= 0:
        return chosen
    rng = random.Random(key)  # str seeds are stable across runs (not hash-randomised)
    taken = set(chosen)
    same_field = [
        n for f in {field_of.get(c, "") for c in chosen} for n in by_field.get(f, []) if n not in taken
    ]
    pool = sorted(set(same_field))
    picks = rng.sample(pool, min(k, len(pool)))
    if len(picks) < k:
        rest = sorted(set(everything) - taken - set(picks))
        picks += rng.sample(rest, min(k - len(picks), len(rest)))
    out = chosen + picks
    rng.shuffle(out)
    return out
