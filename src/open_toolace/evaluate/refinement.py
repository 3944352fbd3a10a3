"""Adaptive self-refinement on the benchmark (ToolACE-R, `toolace eval --refine N`): accuracy after each step.

A model trained on the refinement corpus can re-read its own answer and fix it; whether that helps, and at
what cost, is only known on the same items the greedy pass scored. So after the greedy pass (unchanged),
`refine.adaptive.refine` starts from the stored greedy outputs, in the run's prompt set, and every step's
answers are scored by THE scorer (`score_bfcl`; row 0 is the greedy verdict). Small steps, each pure except
the refining one:

- `refine_items`: one `refine` call per chunk of `save_every` items of a category (each step one batched
  `generate`), rows appended to `refine_<category>.jsonl` after every chunk (resumable);
- `score_refinement`: a verdict per step's answer (irrelevance: BFCL's and the honest one);
- `refinement_scores`: per category and per summary group (accuracy per step via `aggregate.compute_scores`,
  so groups follow the greedy summary's formulas), transitions, steps, malformed outputs, cost.

    evaluate_bfcl(gen, "non_live", limit=20, out_dir="runs/eval/x", refine=3)
    scores["refinement"]["categories"]["simple_python"]   # {accuracy_by_step: [s0, .., s3], wrong_to_right, ..}
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from open_toolace.evaluate import runner
from open_toolace.evaluate.aggregate import compute_scores
from open_toolace.evaluate.bfcl import is_irrelevance, item_messages, prompt_functions
from open_toolace.evaluate.scoring import score_bfcl
from open_toolace.generation import Sampling
from open_toolace.refine.adaptive import refine, transitions
from open_toolace.refine.corpus import refinement_request

SETTINGS = "refine.json"
TOKENIZER, ESTIMATE = "tokenizer", "chars/4"


def check_refine(n_steps: int) -> None:
    """Fail before any generation on a negative step count (0 is off)."""
    if not isinstance(n_steps, int) or n_steps < 0:
        raise ValueError(f"refine must be an integer >= 0 (0: off), got {n_steps!r}")


def refine_path(out_dir: str | Path, category: str) -> Path:
    """`refine_<category>.jsonl` (a --dataset category name may hold any character: made file-safe)."""
    return Path(out_dir) / f"refine_{re.sub(r'[^A-Za-z0-9._-]+', '_', category)}.jsonl"


def item_context(item: dict[str, Any]) -> dict[str, list]:
    """What the item's invocation request showed (`prompt_functions`, `item_messages`): the refinement
    prompt must show the model the same tools and conversation it answered."""
    return {"tools": prompt_functions(item), "messages": item_messages(item)}


class _Meter:
    """A generator wrapper that counts each request's prompt (message contents; chat-template markup not
    included) and completion tokens, with the generator's `count_tokens` when it has one, else chars / 4."""

    def __init__(self, generator: Any):
        self.generator = generator
        fn = getattr(generator, "count_tokens", None)
        self.method = TOKENIZER if callable(fn) else ESTIMATE
        self.count: Callable[[list[str]], float] = fn if callable(fn) else (lambda t: sum(map(len, t)) / 4)
        self.calls: list[list[tuple[float, float]]] = []

    def generate(self, requests: list, sampling: Sampling, progress: bool = True) -> list[list[str]]:
        outs = self.generator.generate(requests, sampling, progress=progress)
        if len(outs) != len(requests):
            return outs  # refine raises on the mismatch
        self.calls.append(
            [
                (self.count([m["content"] for m in r]), self.count(list(o)))
                for r, o in zip(requests, outs, strict=True)
            ]
        )
        return outs


def refine_chunk(
    generator: Any,
    items: Sequence[dict[str, Any]],
    first_answers: Sequence[str],
    *,
    n_steps: int,
    sampling: Sampling,
    prompts: Any = None,
) -> list[dict[str, Any]]:
    """One `refine` call over `items` (each step one batched generate); the unscored stored row per item:
    answers after every step, steps, stop reason, whether a refinement output was malformed (a malformed
    output always stops its item), its tokens and its share of the wall time."""
    meter = _Meter(generator)
    t0 = time.perf_counter()
    res = refine(meter, [item_context(it) for it in items], first_answers, n_steps=n_steps,
                 prompts=prompts, sampling=sampling)  # fmt: skip
    seconds = (time.perf_counter() - t0) / max(1, len(items))
    tokens = [[0.0, 0.0] for _ in items]
    for s, call in enumerate(meter.calls, 1):  # refine asks, at step s, the items with steps >= s, in order
        active = [i for i, k in enumerate(res.steps) if k >= s]
        if len(active) != len(call):
            raise RuntimeError(f"step {s}: {len(call)} requests for {len(active)} active items")
        for i, (p, c) in zip(active, call, strict=True):
            tokens[i][0] += p
            tokens[i][1] += c
    return [
        {
            "id": it["id"],
            "category": it["category"],
            "answers": [row[i] for row in res.by_step],
            "steps": res.steps[i],
            "stop_reason": res.stop_reason[i],
            "malformed": int(res.stop_reason[i] == "malformed"),
            "tokens": {"prompt": round(tokens[i][0]), "completion": round(tokens[i][1])},
            "token_count": meter.method,
            "seconds": round(seconds, 4),
        }
        for i, it in enumerate(items)
    ]


def _usable(n_steps: int) -> Callable[[dict], bool]:
    def ok(row: dict) -> bool:
        answers = row.get("answers")
        return (
            isinstance(answers, list)
            and len(answers) == n_steps + 1
            and all(isinstance(t, str) for t in answers)
            and isinstance(row.get("steps"), int)
        )

    return ok


def _refine_rows(
    generator: Any, todo: list[dict], first: dict[str, str], chunk: list[int], **kw: Any
) -> list[dict[str, Any]]:
    """One chunk's rows: `refine_chunk` over the items `todo[i]` of `chunk`, from their first answers."""
    its = [todo[i] for i in chunk]
    return refine_chunk(generator, its, [first[it["id"]] for it in its], **kw)


def refine_items(
    generator: Any,
    items: list[dict[str, Any]],
    first: dict[str, str],
    out: Path,
    *,
    n_steps: int,
    sampling: Sampling,
    save_every: int,
    progress: bool,
    prompts: Any,
) -> tuple[dict[str, dict[str, dict]], set[str], int]:
    """Refine every item (with a first answer in `first`, by id) not yet in its `refine_<category>.jsonl`
    with that same first answer, category by category, longest request first, appending and fsync'ing
    after every `save_every` items (a killed run loses at most one chunk). Returns (rows on disk by
    category -> id -> row, ids whose refinement prompt did not render, items refined this run)."""
    by_cat: dict[str, list[dict]] = {}
    for it in items:
        by_cat.setdefault(it["category"], []).append(it)
    done = {c: runner.load_results(refine_path(out, c), usable=_usable(n_steps)) for c in by_cat}
    plans: dict[str, tuple[list[dict], list[list[dict]]]] = {}
    failed: set[str] = set()
    for cat, its in by_cat.items():
        todo, requests = [], []
        for it in its:
            answer = first.get(it["id"])
            if answer is None:
                failed.add(it["id"])
                continue
            row = done[cat].get(it["id"])
            if row is not None and row["answers"][0] == answer:
                continue
            try:  # a bad item must not stop the run; it counts as wrong at every step
                requests.append(refinement_request(**item_context(it), previous=answer, prompts=prompts))
            except Exception:  # noqa: BLE001
                failed.add(it["id"])
                continue
            todo.append(it)
        plans[cat] = (todo, requests)
    total = sum(len(t) for t, _ in plans.values())
    bar = runner.progress_bar(progress, total, f"eval: refine n={n_steps}")
    refined = 0
    for cat, (todo, requests) in plans.items():
        if todo:
            rows_of = partial(_refine_rows, generator, todo, first, n_steps=n_steps, sampling=sampling,
                              prompts=prompts)  # fmt: skip
            refined += runner.append_chunks(
                refine_path(out, cat), requests, save_every, rows_of, done[cat], bar
            )
    if bar is not None:
        bar.close()
    return done, failed, refined


def score_refinement(item: dict[str, Any], row: dict[str, Any] | None, n_steps: int) -> dict[str, Any]:
    """The stored row with a `score_bfcl` verdict per step (`valid`, `error_type`; irrelevance also
    `honest_valid`), each distinct text scored once. `row` None (no first answer, or the refinement prompt
    did not render) is wrong at every step and marked `prompt_error`, so a resumed run retries it silently."""
    irr = is_irrelevance(item["category"])
    if row is None:
        out = {"id": item["id"], "category": item["category"], "answers": None, "steps": 0,
               "stop_reason": "prompt_error", "malformed": 0, "tokens": {"prompt": 0, "completion": 0},
               "seconds": 0.0, "valid": [False] * (n_steps + 1), "error_type": "prompt_error"}  # fmt: skip
        return {**out, "honest_valid": [False] * (n_steps + 1)} if irr else out
    cache: dict[str, dict] = {}
    for t in row["answers"]:
        if t not in cache:
            cache[t] = score_bfcl(t, item, item["category"])
    verdicts = [cache[t] for t in row["answers"]]
    out = {
        **row,
        "valid": [bool(v["valid"]) for v in verdicts],
        "error_type": [v.get("error_type") for v in verdicts],
    }
    if irr:
        out["honest_valid"] = [bool(v.get("honest_valid")) for v in verdicts]
    return out


def _verdicts(rows: list[dict], honest: bool) -> list[list[bool]]:
    """`[step][item]` verdicts (honest ones for irrelevance items when `honest`), for `transitions`."""
    key = [("honest_valid" if honest and is_irrelevance(r["category"]) else "valid") for r in rows]
    return [[bool(r[k][s]) for r, k in zip(rows, key, strict=True)] for s in range(len(rows[0]["valid"]))]


def _stats(rows: list[dict], token_key: str, honest: bool = False) -> dict[str, Any]:
    """Transitions, steps, malformed outputs and cost of a set of rows (a category or a group's items)."""
    t = transitions(_verdicts(rows, honest))
    n = len(rows)
    secs = sum(r.get("seconds") or 0.0 for r in rows)
    toks = sum(r["tokens"]["prompt"] + r["tokens"]["completion"] for r in rows)
    return {
        "items": n,
        "mean_steps": round(sum(r["steps"] for r in rows) / n, 4),
        "wrong_to_right": t["wrong_to_right"],
        "right_to_wrong": t["right_to_wrong"],
        "malformed": sum(r["malformed"] for r in rows),
        "stop_reasons": dict(Counter(r["stop_reason"] for r in rows).most_common()),
        token_key: round(toks / n, 1),
        "wall_seconds": round(secs, 2),
        "seconds_per_item": round(secs / n, 4),
    }


def _members(key: str, summary: dict[str, dict], cats: dict[str, Any]) -> list[str]:
    """The categories a summary group is computed over (its `over` names groups or categories)."""
    out: list[str] = []
    for name in summary[key]["over"]:
        for c in [name] if name in cats else _members(name, summary, cats) if name in summary else []:
            if c not in out:
                out.append(c)
    return out


def refinement_scores(rows: list[dict[str, Any]], n_steps: int, bfcl_groups: bool = True) -> dict[str, Any]:
    """Accuracy after every step per category and per summary group (each step through
    `aggregate.compute_scores`, so groups use the greedy summary's formulas), with transitions first ->
    final (`refine.transitions`), mean steps, malformed outputs, tokens per item and wall seconds. The token
    field is `tokens_per_item` when counted by the model's tokenizer, `tokens_per_item_est_chars_div_4`
    when estimated (a backend without `count_tokens`)."""
    exact = rows and all(
        r.get("token_count", TOKENIZER) == TOKENIZER for r in rows if r["answers"] is not None
    )
    token_key = "tokens_per_item" if exact else "tokens_per_item_est_chars_div_4"
    per_step = []
    for s in range(n_steps + 1):
        srows = [{"id": r["id"], "category": r["category"], "error_type": None, "valid": r["valid"][s],
                  "honest_valid": (r.get("honest_valid") or [False] * (n_steps + 1))[s]} for r in rows]  # fmt: skip
        per_step.append(compute_scores(srows, bfcl_groups=bfcl_groups))
    by_cat: dict[str, list[dict]] = {}
    for r in rows:
        by_cat.setdefault(r["category"], []).append(r)
    cats: dict[str, dict[str, Any]] = {}
    for cat, c in per_step[0]["categories"].items():
        cats[cat] = {"accuracy_by_step": [p["categories"][cat]["accuracy"] for p in per_step]}
        cats[cat].update(_stats(by_cat[cat], token_key))
        if "honest_accuracy" in c:
            cats[cat]["honest_accuracy_by_step"] = [p["categories"][cat]["honest_accuracy"] for p in per_step]
            honest = _stats(by_cat[cat], token_key, honest=True)
            cats[cat].update(honest_wrong_to_right=honest["wrong_to_right"],
                             honest_right_to_wrong=honest["right_to_wrong"])  # fmt: skip
    summary = {}
    for key, g in per_step[0]["summary"].items():
        members = [r for c in _members(key, per_step[0]["summary"], cats) for r in by_cat[c]]
        stats = _stats(members, token_key, honest=key.endswith("_honest"))
        stats.pop("items")
        summary[key] = {"accuracy_by_step": [p["summary"][key]["accuracy"] for p in per_step],
                        "over": g["over"], "items": g["items"], **stats}  # fmt: skip
    how = "the model's tokenizer" if exact else "estimate: characters / 4"
    return {
        "n_steps": n_steps,
        "n_items": len(rows),
        "token_field": token_key,
        "token_count": f"{how}; message contents + completions of every refinement step",
        "categories": cats,
        "summary": summary,
    }


def evaluate_refinement(
    generator: Any,
    items: list[dict[str, Any]],
    greedy_rows: list[dict[str, Any]],
    out_dir: str | Path,
    *,
    n_steps: int,
    seed: int = 0,
    max_new_tokens: int = 256,
    save_every: int = 128,
    progress: bool = True,
    prompts: Any = None,
    meta: dict[str, Any] | None = None,
    fresh: bool = False,
    bfcl_groups: bool = True,
) -> dict[str, Any]:
    """Refinement beside a finished greedy pass: refine what is missing (greedy decoding, the greedy pass's
    token budget), score every step from the stored texts (a scorer fix never needs new generations),
    rewrite the files with their verdicts, and return the `refinement` section of scores.json."""
    check_refine(n_steps)
    out = Path(out_dir)
    meta = dict(meta or {})
    runner.check_pass_settings(
        out, meta, {"refine": n_steps}, fresh, files="refine_*.jsonl", name=SETTINGS, what="refinements made"
    )
    first = {r["id"]: r["output"] for r in greedy_rows if isinstance(r.get("output"), str)}
    sampling = Sampling(n=1, temperature=0.0, max_new_tokens=max_new_tokens, seed=seed)
    t0 = time.perf_counter()
    done, failed, refined = refine_items(generator, items, first, out, n_steps=n_steps, sampling=sampling,
                                         save_every=save_every, progress=progress, prompts=prompts)  # fmt: skip
    seconds = time.perf_counter() - t0
    rows_by_cat: dict[str, list[dict]] = {}
    for it in items:
        stored = None if it["id"] in failed else done[it["category"]].get(it["id"])
        rows_by_cat.setdefault(it["category"], []).append(score_refinement(it, stored, n_steps))
    for cat, rows in rows_by_cat.items():
        runner.rewrite_rows(refine_path(out, cat), rows, done[cat])
    scores = refinement_scores([r for rows in rows_by_cat.values() for r in rows], n_steps, bfcl_groups)
    scores["timing"] = {
        "refined_items": refined,
        "refine_seconds": round(seconds, 2),
        "items_per_second": round(refined / seconds, 3) if refined and seconds else None,
    }
    return scores
