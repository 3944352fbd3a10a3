"""Read any BFCL-format file (`toolace eval --dataset FILE [--answers FILE]`) into scorer items.

Format (JSONL, one record a line — BFCL's own `.json` files are JSONL — or one JSON list):

    {"id": "my_0",
     "question": [[{"role": "user", "content": "..."}]],   # BFCL turns; a plain message list or a string also work
     "function": [{"name": "f", "description": "...", "parameters": {"type": "dict", "properties": {...},
                   "required": [...]}}],                     # BFCL docs; OpenAI/JSON-Schema tools are converted
     "ground_truth": [{"f": {"a": [1], "unit": ["", "km"]}}],  # BFCL possible answers (optional, see below)
     "category": "simple"}                                   # optional, see below

- Answers: a `ground_truth` field, or a separate file (`--answers`) of `{"id", "ground_truth"}` records
  matched by id. `ground_truth: []` means the right answer is no call (irrelevance).
- Category (picks the checker mode): the `category` field, else the id's prefix when it is a BFCL category
  (`simple_python_3`), else from the answer: no call -> irrelevance, one call -> simple (one function) or
  multiple, several calls -> parallel (one function) or parallel_multiple.
- A record that cannot be used (no id, duplicate id, no user turn, bad function doc, answer naming a function
  that is not offered, ...) is rejected with its line and reason, never silently dropped.

`item_from_example` turns an internal example record (tools + reference calls) into the same item, so a
held-out set of internal records is scored by the same official checker as BFCL; `load_dataset` reads a file
of them too (a record with `messages` + `tools` and no `question`), so the output of `toolace data convert`
is a `--dataset` as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from open_toolace.evaluate.bfcl import CATEGORIES, category_of_id, item_messages
from open_toolace.io import DataFileError, iter_jsonl, read_json


def _records(path: Path) -> list[tuple[int, Any]]:
    if not path.exists():
        raise DataFileError(f"{path}: file not found")
    text = path.read_text(encoding="utf-8").lstrip()
    if text.startswith("["):
        data = read_json(path)
        return list(enumerate(data, 1))
    return list(iter_jsonl(path))


def infer_category(ground_truth: list | None, n_functions: int) -> str:
    if not ground_truth:
        return "irrelevance"
    if len(ground_truth) == 1:
        return "simple" if n_functions == 1 else "multiple"
    return "parallel" if n_functions == 1 else "parallel_multiple"


def to_bfcl_function(doc: Any) -> dict:
    """A function doc in BFCL's shape; other shapes (OpenAI, JSON-Schema "object") go through open_toolace.formats.tools."""
    if (
        isinstance(doc, dict)
        and isinstance(doc.get("parameters"), dict)
        and doc["parameters"].get("type") == "dict"
    ):
        return doc
    from open_toolace.formats.tools import parse_tool, tool_to_bfcl

    return tool_to_bfcl(parse_tool(doc))


def _check_ground_truth(gt: Any, names: set[str]) -> str | None:
    if gt is None:
        return None
    if not isinstance(gt, list):
        return "ground_truth must be a list of {function: {param: [accepted values]}}"
    for call in gt:
        if not (isinstance(call, dict) and len(call) == 1):
            return f"ground_truth entry {call!r:.80} is not a one-key dict {{function: {{param: [values]}}}}"
        ((name, params),) = call.items()
        if name not in names:
            return f"ground_truth names function {name!r}, which is not among the offered functions {sorted(names)}"
        if not isinstance(params, dict) or not all(isinstance(v, list) for v in params.values()):
            return f"ground_truth for {name!r} must map each parameter to a list of accepted values"
    return None


def make_item(record: dict[str, Any], ground_truth: Any = None) -> dict[str, Any]:
    """One validated item from a question record (+ its answer); raises ValueError with the reason."""
    if not isinstance(record, dict):
        raise ValueError(f"record is a {type(record).__name__}, not an object")
    item_id = record.get("id")
    if not isinstance(item_id, str) or not item_id:
        raise ValueError("record has no string 'id'")
    q = record.get("question")
    if isinstance(q, str):
        q = [[{"role": "user", "content": q}]]
    elif isinstance(q, list) and q and isinstance(q[0], dict):
        q = [q]
    if not isinstance(q, list) or not q:
        raise ValueError("'question' must be BFCL turns [[messages]], a message list or a string")
    funcs = record.get("function", record.get("functions"))
    if not isinstance(funcs, list):
        raise ValueError("'function' must be a list of function docs")
    try:
        functions = [to_bfcl_function(f) for f in funcs]
    except (ValueError, TypeError, KeyError) as e:
        raise ValueError(f"bad function doc: {e}") from e
    gt = record.get("ground_truth", ground_truth)
    problem = _check_ground_truth(gt, {f["name"] for f in functions})
    if problem:
        raise ValueError(problem)
    category = record.get("category")
    if not category:
        prefix = category_of_id(item_id)
        category = prefix if prefix in CATEGORIES else infer_category(gt, len(functions))
    if not isinstance(category, str):
        raise ValueError("'category' must be a string")
    if gt is None and "relevance" not in category:
        raise ValueError(f"no ground_truth (field or --answers file) for category {category!r}")
    item = {"id": item_id, "category": category, "question": q, "function": functions, "ground_truth": gt}
    try:
        messages = item_messages(item)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"bad question: {e}") from e
    # A tool result is a turn to answer too (API-Bank: call the API that ToolSearcher just found).
    if not messages or messages[-1]["role"] not in ("user", "tool"):
        raise ValueError("the conversation must end with a user turn or a tool result")
    return item


def load_dataset(path: str | Path, answers: str | Path | None = None) -> tuple[list[dict], list[dict]]:
    """Items and rejects (`{"line", "id", "reason"}`) of a BFCL-format question file (+ answer file)."""
    path = Path(path)
    by_id: dict[str, Any] = {}
    if answers is not None:
        for lineno, rec in _records(Path(answers)):
            if not (isinstance(rec, dict) and isinstance(rec.get("id"), str) and "ground_truth" in rec):
                raise DataFileError(f"{answers}:{lineno}: answer records need 'id' and 'ground_truth'")
            by_id[rec["id"]] = rec["ground_truth"]
    items, rejects, seen = [], [], set()
    for lineno, rec in _records(path):
        rid = rec.get("id") if isinstance(rec, dict) else None
        try:
            if rid in seen:
                raise ValueError(f"duplicate id {rid!r}")
            if is_example_record(rec):  # what `toolace data convert` writes: scored against its calls
                item = _example_item(rec)
            else:
                item = make_item(rec, by_id.get(rid) if isinstance(rid, str) else None)
        except ValueError as e:
            rejects.append({"line": lineno, "id": rid, "reason": str(e)})
            continue
        seen.add(item["id"])
        items.append(item)
    return items, rejects


def is_example_record(rec: Any) -> bool:
    """An internal example record (`toolace data convert`'s output) rather than a BFCL question record."""
    return isinstance(rec, dict) and "question" not in rec and "messages" in rec and "tools" in rec


def _example_item(rec: dict[str, Any]) -> dict[str, Any]:
    try:
        return item_from_example(rec)
    except (KeyError, TypeError, AttributeError) as e:  # a hand-edited record: a reason, not a crash
        raise ValueError(f"bad example record: {type(e).__name__}: {e}") from e


def item_from_example(example: dict[str, Any]) -> dict[str, Any]:
    """An internal example record (`messages`, `tools`, reference `calls`) as a scorer item.

    Each reference call becomes a one-value possible answer; optional parameters the reference leaves out
    are accepted when omitted (`""`) or given their schema default, as in BFCL's possible answers."""
    from open_toolace.formats.tools import Tool, tool_to_bfcl

    if example.get("calls") is None:
        raise ValueError(f"{example.get('id')}: unlabeled example (calls is null) cannot be scored")
    if not isinstance(example.get("tools"), list):
        raise ValueError(f"{example.get('id')}: 'tools' must be a list of tool definitions")
    functions = [tool_to_bfcl(Tool.from_dict(t)) for t in example["tools"]]
    docs = {f["name"]: f for f in functions}
    ground_truth = []
    for call in example["calls"]:
        name, args = call["name"], call.get("arguments") or {}
        props = docs.get(name, {}).get("parameters", {}).get("properties", {})
        answer = {k: [v] for k, v in args.items()}
        for p, schema in props.items():
            if p not in answer:
                answer[p] = [""] + (
                    [schema["default"]] if isinstance(schema, dict) and "default" in schema else []
                )
        ground_truth.append({name: answer})
    record = {
        "id": str(example["id"]),
        "question": [example["messages"]],
        "function": functions,
        "ground_truth": ground_truth,
    }
    return make_item(record)
