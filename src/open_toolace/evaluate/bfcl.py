"""BFCL single-turn data, read from the installed `bfcl-eval` package: categories, groups and items.

An *item* is a BFCL question record with its answer merged in — the one shape the scorer, the runner and
`--dataset` share:

    {"id": "simple_python_0", "category": "simple_python",
     "question": [[{"role": "user", "content": "..."}]],      # BFCL: a list of turns; single-turn -> one
     "function": [{"name", "description", "parameters": {"type": "dict", ...}}],   # as in the data file
     "ground_truth": [{"func": {"arg": [accepted values]}}] | None}   # None for (ir)relevance

`function` is kept exactly as in the data file because it is what `ast_checker` checks against. The model
is shown `prompt_functions(item)`: the same docs with BFCL's language hints (Java/JS parameters become
"string in ... representation"), exactly what BFCL's own generation step shows every model.

    python -c "from open_toolace.evaluate.bfcl import load_category; print(len(load_category('simple_python')))"
"""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

# The 13 single-turn categories we run. Multi-turn, memory, web-search and format-sensitivity are out of
# scope: they need an executable environment / several turns, not one completion.
CATEGORIES: list[str] = [
    "simple_python",
    "simple_java",
    "simple_javascript",
    "multiple",
    "parallel",
    "parallel_multiple",
    "irrelevance",
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
    "live_irrelevance",
    "live_relevance",
]

GROUPS: dict[str, list[str]] = {
    "all": CATEGORIES,
    "non_live": CATEGORIES[:7],
    "live": CATEGORIES[7:],
    "simple": ["simple_python", "simple_java", "simple_javascript"],
    "non_live_ast": CATEGORIES[:6],
    "non_live_python": ["simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance"],
    "live_ast": ["live_simple", "live_multiple", "live_parallel", "live_parallel_multiple"],
    "hallucination": ["irrelevance", "live_irrelevance", "live_relevance"],
}

OUT_OF_SCOPE = ("multi_turn", "memory", "web_search", "format_sensitivity")

IRRELEVANCE = ("irrelevance", "live_irrelevance")
RELEVANCE = ("live_relevance",)


def resolve_categories(spec: str | list[str] | None) -> list[str]:
    """`"simple_python,live"` or `["non_live"]` -> category list in canonical order, aliases expanded.

    Raises ValueError naming the known categories and groups (and saying when a category is out of scope).
    """
    if spec is None:
        return list(CATEGORIES)
    parts = spec.split(",") if isinstance(spec, str) else [p for s in spec for p in str(s).split(",")]
    wanted: set[str] = set()
    for raw in parts:
        name = raw.strip()
        if not name:
            continue
        if name in GROUPS:
            wanted.update(GROUPS[name])
        elif name in CATEGORIES:
            wanted.add(name)
        elif name.startswith(OUT_OF_SCOPE):
            raise ValueError(
                f"category {name!r} is out of scope (multi-turn, memory, web-search are not evaluated)"
            )
        else:
            raise ValueError(
                f"unknown BFCL category {name!r}; categories: {CATEGORIES}; groups: {sorted(GROUPS)}"
            )
    if not wanted:
        raise ValueError("no categories given")
    return [c for c in CATEGORIES if c in wanted]


def category_of_id(item_id: str) -> str:
    """BFCL ids are `<category>_<index>` (live ones `<category>_<i>-<j>-<k>`); same rule as bfcl_eval."""
    return str(item_id).split(":")[0].rsplit("_", 1)[0]


def language_of(category: str) -> str:
    """'java' / 'javascript' / 'python' — the same substring test bfcl_eval uses (is_java / is_js)."""
    if "javascript" in category:
        return "javascript"
    if "java" in category:
        return "java"
    return "python"


def is_irrelevance(category: str) -> bool:
    return "irrelevance" in category


def is_relevance(category: str) -> bool:
    return "relevance" in category and not is_irrelevance(category)


def _version_prefix() -> str:
    from bfcl_eval.constants.category_mapping import VERSION_PREFIX

    return VERSION_PREFIX


def _read_jsonl_resource(*parts: str) -> list[dict] | None:
    res = resources.files("bfcl_eval").joinpath("data", *parts)
    if not res.is_file():
        return None
    return [json.loads(line) for line in res.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_category(category: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Items of one category (first `limit` in file order), questions merged with their possible answers."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown BFCL category {category!r}; categories: {CATEGORIES}")
    prefix = _version_prefix()
    questions = _read_jsonl_resource(f"{prefix}_{category}.json")
    if questions is None:
        raise FileNotFoundError(
            f"bfcl_eval has no data file {prefix}_{category}.json; is bfcl-eval installed?"
        )
    answers = _read_jsonl_resource("possible_answer", f"{prefix}_{category}.json")
    if answers is not None and len(answers) != len(questions):
        raise ValueError(f"{category}: {len(questions)} questions but {len(answers)} possible answers")
    items = []
    for i, q in enumerate(questions[: limit if limit is not None else None]):
        # bfcl_eval aligns answers to questions by index (ids may be spelled differently), and so do we.
        items.append(
            {
                "id": q["id"],
                "category": category,
                "question": q["question"],
                "function": q["function"],
                "ground_truth": answers[i]["ground_truth"] if answers is not None else None,
            }
        )
    return items


def load_bfcl(categories: list[str], limit: int | None = None) -> list[dict[str, Any]]:
    """All items of `categories`, `limit` per category."""
    return [item for c in categories for item in load_category(c, limit)]


def item_messages(item: dict[str, Any]) -> list[dict[str, str]]:
    """The conversation to answer: BFCL single-turn questions are `[[messages]]`."""
    q = item["question"]
    if q and isinstance(q[0], list):
        if len(q) != 1:
            raise ValueError(f"{item.get('id')}: {len(q)} turns; only single-turn items are evaluated")
        q = q[0]
    return [{"role": m["role"], "content": m["content"]} for m in q]


def invocation_request(item: dict[str, Any], prompts: Any = None) -> list[dict[str, str]]:
    """The chat request the evaluator sends for `item`: the invocation prompt over its functions, then its turn."""
    from open_toolace.prompts import render_invocation

    return render_invocation(prompt_functions(item), item_messages(item), prompts=prompts)


def prompt_functions(item: dict[str, Any], category: str | None = None) -> list[dict]:
    """The function docs the model is shown: BFCL's own language-hint pre-processing on a copy."""
    from bfcl_eval.utils import _func_doc_language_specific_pre_processing

    cat = category or item.get("category") or category_of_id(item["id"])
    try:
        return _func_doc_language_specific_pre_processing(copy.deepcopy(item["function"]), cat)
    except (KeyError, TypeError, AttributeError):
        # a custom doc without description/properties: show it as it is (the hint is only a nicety)
        return copy.deepcopy(item["function"])


def reference_calls(item: dict[str, Any]) -> list[dict[str, Any]]:
    """One correct answer of an item as `[{"name", "arguments"}]`: each ground-truth call with the first
    accepted value of every parameter (`""` in BFCL's list means "may be omitted": such a parameter is left
    out when it is all there is). `[]` for irrelevance items."""
    calls = []
    for gt in item.get("ground_truth") or []:
        ((name, params),) = gt.items()
        args = {
            k: next(v for v in vals if v != "") for k, vals in params.items() if any(v != "" for v in vals)
        }
        calls.append({"name": name, "arguments": args})
    return calls
