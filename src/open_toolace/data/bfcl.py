"""BFCL question + possible-answer files -> examples (single-turn categories).

Question file (JSON Lines): `{"id", "question": [[{"role","content"}, ...]], "function": [BFCL docs]}`.
Answer file (`possible_answer/<same name>`): `{"id", "ground_truth": [{name: {arg: [acceptable, ...]}}]}`.
The label is the first acceptable value of each argument; `""` as that value means "may be omitted", so
the argument is left out, as is an argument with an empty acceptable list; dicts nested in values list
acceptable values per key again and are read the same way. Java/JavaScript categories keep the JSON
values of the answer file (BFCL's checker expects those languages' values as strings in model output). The full possible answer is kept in
`meta.possible_answer` for scorers that accept any listed value. Irrelevance categories get `calls: []`,
`live_relevance` (any sensible call is right) gets `calls: null`. Multi-turn, memory and web-search
records have no single-turn function list: each is rejected with its reason.

`IN` may be a path or a category name (`simple_python`, `live_multiple`, ...), read from the installed
`bfcl-eval` package.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from open_toolace.data.records import Reject, make_example, make_reject
from open_toolace.data.sources import iter_records
from open_toolace.formats import ToolCall
from open_toolace.formats.tools import ToolFormatError, tool_from_bfcl
from open_toolace.io import DataFileError

NO_CALL_CATEGORIES = ("irrelevance", "live_irrelevance")
UNLABELED_CATEGORIES = ("live_relevance",)
PREFIX = "BFCL_v4_"


def bfcl_data_dir() -> Path:
    return Path(str(resources.files("bfcl_eval") / "data"))


def resolve_bfcl_path(path_or_category: str | Path) -> Path:
    """A question file path as given, or `BFCL_v4_<category>.json` from the installed bfcl-eval."""
    p = Path(path_or_category)
    if p.exists() or p.suffix:
        return p
    cand = bfcl_data_dir() / f"{PREFIX}{p.name}.json"
    if not cand.exists():
        raise DataFileError(f"{p}: no such file, and not a BFCL category (no {cand.name} in bfcl-eval)")
    return cand


def category_of(example_id: str) -> str:
    """`simple_python_12` -> `simple_python`; `live_multiple_3-1-0` -> `live_multiple`."""
    return example_id.rsplit("_", 1)[0]


def first_acceptable(values: Any) -> tuple[Any, bool]:
    """The label value from a BFCL acceptable-values list; (value, keep). `""` first means omit."""
    if not isinstance(values, list):
        return _resolve(values), True
    if not values:  # nothing listed as acceptable: there is no value to label with, so leave it out
        return None, False
    v = values[0]
    if v == "":
        return None, False
    return _resolve(v), True


def _resolve(value: Any) -> Any:
    # Inside a nested dict value BFCL lists acceptable values per key again: {"size": ["large"], ...}.
    if isinstance(value, dict):
        out = {}
        for k, vs in value.items():
            v, keep = first_acceptable(vs) if isinstance(vs, list) else (vs, True)
            if keep:
                out[k] = v
        return out
    if isinstance(value, list):  # a list of such dicts: [{"item": ["burgers"], "quantity": [5]}]
        return [_resolve(v) if isinstance(v, dict) else v for v in value]
    return value


def calls_from_ground_truth(gt: Any) -> list[ToolCall]:
    """`[{name: {arg: [acceptable...]}}]` -> calls (first acceptable value per argument). ValueError if malformed."""
    if not isinstance(gt, list):
        raise ValueError(
            f"ground_truth must be a list of {{name: {{arg: [values]}}}}, got {type(gt).__name__}"
        )
    calls = []
    for entry in gt:
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ValueError(
                f"ground_truth entry must be one {{name: {{arg: [values]}}}}, got {entry!r:.100}"
            )
        ((name, args),) = entry.items()
        if not isinstance(args, dict):
            raise ValueError(f"arguments of {name!r} must be an object, got {args!r:.100}")
        kept = {}
        for arg, values in args.items():
            v, keep = first_acceptable(values)
            if keep:
                kept[arg] = v
        calls.append(ToolCall(name, kept))
    return calls


def _answers(path: Path, answers: str | Path | None | bool) -> dict[str, Any] | None:
    if answers is False:
        return None
    ans_path = Path(answers) if answers else path.parent / "possible_answer" / path.name
    if not ans_path.exists():
        if answers:
            raise DataFileError(f"{ans_path}: file not found")
        return None
    out = {}
    for item in iter_records(ans_path):
        if isinstance(item, tuple) and isinstance(item[2], dict) and "id" in item[2]:
            out[item[2]["id"]] = item[2].get("ground_truth")
    return out


def read_bfcl(
    path: str | Path, *, answers: str | Path | None | bool = None, source: str = "bfcl"
) -> Iterator[dict | Reject]:
    """Yield examples and rejects from a BFCL question file; `answers` is the possible-answer file
    (default `possible_answer/<name>` beside it; `False` reads questions unlabeled)."""
    qpath = resolve_bfcl_path(path)
    gts = _answers(qpath, answers)
    for item in iter_records(qpath):
        if not isinstance(item, tuple):
            yield item
            continue
        line, index, rec = item
        if not isinstance(rec, dict) or not isinstance(rec.get("id"), str) or "question" not in rec:
            yield make_reject(line, "bad_record", rec, "expected {id, question, function}", index=index)
            continue
        cat = category_of(rec["id"])
        q = rec["question"]
        if not isinstance(rec.get("function"), list):
            yield make_reject(
                line,
                "no_functions",
                rec,
                f"{cat}: no single-turn 'function' list (multi-turn/agentic category)",
                index=index,
            )
            continue
        if not (isinstance(q, list) and len(q) == 1 and isinstance(q[0], list) and q[0]):
            yield make_reject(
                line,
                "multi_turn",
                rec,
                f"{cat}: question has {len(q) if isinstance(q, list) else '?'} turns; only single-turn is read",
                index=index,
            )
            continue
        try:
            tools = [tool_from_bfcl(f) for f in rec["function"]]
        except ToolFormatError as e:
            yield make_reject(line, "bad_tool", rec, str(e), index=index)
            continue
        meta: dict[str, Any] = {
            "source": source,
            "line": line,
            "index": index,
            "category": cat,
            "source_id": rec["id"],
        }
        calls: list[ToolCall] | None
        if cat in NO_CALL_CATEGORIES:
            calls, meta["kind"] = [], "no_call"
        elif cat in UNLABELED_CATEGORIES or gts is None:
            calls, meta["kind"] = None, "unlabeled"
        elif rec["id"] not in gts:
            yield make_reject(
                line, "no_answer", rec, f"{rec['id']} has no entry in the possible-answer file", index=index
            )
            continue
        else:
            try:
                calls = calls_from_ground_truth(gts[rec["id"]])
            except (ValueError, TypeError) as e:
                yield make_reject(line, "bad_answer", rec, str(e), index=index)
                continue
            meta["kind"] = "call"
            meta["possible_answer"] = gts[rec["id"]]
        messages = [{"role": m.get("role"), "content": m.get("content")} for m in q[0] if isinstance(m, dict)]
        yield make_example(f"{source}-{rec['id']}", messages, tools, calls, **meta)
