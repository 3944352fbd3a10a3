"""Headroom diagnostic: greedy accuracy beside maj@K and pass@K on the same items, official checker throughout.

A self-evolution round samples K answers, keeps the majority vote and trains on it, so on a benchmark
`maj@K - greedy` is the most one round can distill into greedy decoding, and `pass@K` bounds what any
filter over the K samples could find. The steps, lm-evaluation-harness style (samples per item ->
filters -> metric), each small and pure except the sampling one:

- `sample_items`: K texts per item at temperature T, appended to `samples_<category>.jsonl` (resumable);
- `score_samples`: a verdict per text with `score_bfcl` (irrelevance: abstaining is right, as in greedy);
- filters `pass_at_k` (right when any sample is right) and `majority` (the vote's chosen text, scored by
  the checker); the vote is a parameter (`VoteFn`), `default_vote` adapts `evolve.filter.majority_vote`;
- `headroom_scores`: per category and per summary group (aggregate.summarize's groups and formulas).

    evaluate_bfcl(gen, "non_live", limit=20, out_dir="runs/eval/x", samples=5, temperature=0.7)
    scores["headroom"]["categories"]["simple_python"]  # {n_items, greedy, maj_at_k, pass_at_k, k, temperature}
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from open_toolace.evaluate.aggregate import compute_scores
from open_toolace.evaluate.bfcl import is_irrelevance
from open_toolace.evaluate.runner import (
    _requests,
    append_chunks,
    check_pass_settings,
    load_results,
    progress_bar,
    rewrite_rows,
)
from open_toolace.evaluate.scoring import score_bfcl
from open_toolace.generation import Sampling

SETTINGS = "samples.json"
METRICS = ("greedy", "maj_at_k", "pass_at_k")

# (the K sample texts, the item's function docs as in its data file) -> the chosen text, or None (no winner)
VoteFn = Callable[[list[str], list[dict]], str | None]


def default_vote(texts: list[str], tools: list[dict]) -> str | None:
    """The round's vote as an eval filter: `majority_vote` over the samples that parse and pass the rule
    checker against the item's `tools`, grouped by the normalized call form, with threshold 0 (the top
    class wins unless the vote drops the item: no valid sample, all different, a tie, fewer than two
    votes). Returns the first sample that reads as the winner, so that the checker scores text the model
    wrote (a re-rendered winner would read differently for Java/JS); `render_calls` only if none matches."""
    from open_toolace.evolve.filter import majority_vote
    from open_toolace.formats import canonical_calls, parse_calls, render_calls

    winner = majority_vote(texts, threshold=0.0, tools=tools).winner
    if winner is None:
        return None
    key = canonical_calls(winner)
    for text in texts:
        try:
            if canonical_calls(parse_calls(text)) == key:
                return text
        except Exception:  # noqa: BLE001 -- unparseable samples are not in any class
            continue
    return render_calls(winner)


def check_sampling(k: int, temperature: float) -> None:
    """Fail before any generation: K must be >= 1, and K > 1 greedy samples would all be the same text."""
    if k < 1:
        raise ValueError(f"samples must be >= 1, got {k}")
    if k > 1 and temperature <= 0:
        raise ValueError(f"samples={k} needs temperature > 0 (temperature <= 0 is greedy), got {temperature}")


def samples_path(out_dir: str | Path, category: str) -> Path:
    """`samples_<category>.jsonl` (a --dataset category name may hold any character: made file-safe)."""
    return Path(out_dir) / f"samples_{re.sub(r'[^A-Za-z0-9._-]+', '_', category)}.jsonl"


def score_samples(item: dict[str, Any], texts: list[str]) -> list[dict[str, Any]]:
    """One `score_bfcl` verdict per sample: the same scorer and category rules as the greedy rows."""
    return [score_bfcl(t, item, item["category"]) for t in texts]


def pass_at_k(verdicts: list[dict[str, Any]], key: str = "valid") -> bool:
    """Filter: the item counts as right when at least one of its K samples is right."""
    return any(bool(v.get(key)) for v in verdicts)


def majority(
    item: dict[str, Any], texts: list[str], verdicts: list[dict[str, Any]], vote: VoteFn
) -> tuple[str | None, dict[str, Any] | None]:
    """Filter: the text `vote` picks among the K samples and its checker verdict (None, None: no winner).
    A picked sample reuses its verdict; any other text (a re-rendered winner) is scored here."""
    chosen = vote(texts, item["function"])
    if chosen is None:
        return None, None
    for t, v in zip(texts, verdicts, strict=True):
        if t == chosen:
            return chosen, v
    return chosen, score_bfcl(chosen, item, item["category"])


def item_headroom(
    item: dict[str, Any], texts: list[str] | None, greedy: dict[str, Any], vote: VoteFn
) -> dict[str, Any]:
    """The stored sample row of one item: outputs, per-sample verdicts, the vote and the three outcomes.
    `texts` None (the prompt did not render) makes every metric wrong, as the greedy row already is."""
    irr = is_irrelevance(item["category"])
    row: dict[str, Any] = {"id": item["id"], "category": item["category"], "outputs": texts}
    verdicts = score_samples(item, texts) if texts is not None else []
    chosen, mv = majority(item, texts, verdicts, vote) if texts else (None, None)
    row["valid"] = [bool(v["valid"]) for v in verdicts]
    # a prompt that did not render is marked like the greedy row, so a resumed run retries it silently
    row["error_type"] = [v.get("error_type") for v in verdicts] if texts is not None else "prompt_error"
    row["majority"] = chosen
    outcome = {
        "greedy": {"valid": bool(greedy.get("valid")), "honest_valid": bool(greedy.get("honest_valid"))},
        "maj_at_k": {"valid": bool(mv and mv["valid"]), "honest_valid": bool(mv and mv.get("honest_valid"))},
        "pass_at_k": {"valid": pass_at_k(verdicts), "honest_valid": pass_at_k(verdicts, "honest_valid")},
    }
    if irr:
        row["honest_valid"] = [bool(v.get("honest_valid")) for v in verdicts]
    else:
        outcome = {m: {"valid": o["valid"]} for m, o in outcome.items()}
    row["outcome"] = outcome
    return row


def headroom_scores(
    rows: list[dict[str, Any]], k: int, temperature: float, bfcl_groups: bool = True
) -> dict[str, Any]:
    """Greedy, maj@K and pass@K accuracy per category and per summary group, each metric through
    `aggregate.compute_scores` so its groups follow the same formulas as the greedy summary."""
    per = {}
    for m in METRICS:
        mrows = [
            {"id": r["id"], "category": r["category"], "error_type": None, **r["outcome"][m]} for r in rows
        ]
        per[m] = compute_scores(mrows, bfcl_groups=bfcl_groups)
    cats: dict[str, dict[str, Any]] = {}
    for cat, c in per["greedy"]["categories"].items():
        cats[cat] = {"n_items": c["total"], **{m: per[m]["categories"][cat]["accuracy"] for m in METRICS}}
        if "honest_accuracy" in c:
            cats[cat].update({f"{m}_honest": per[m]["categories"][cat]["honest_accuracy"] for m in METRICS})
        cats[cat].update(k=k, temperature=temperature)
    summary = {
        key: {
            **{m: per[m]["summary"][key]["accuracy"] for m in METRICS},
            "over": g["over"],
            "items": g["items"],
        }
        for key, g in per["greedy"]["summary"].items()
    }
    return {"k": k, "temperature": temperature, "n_items": len(rows), "categories": cats, "summary": summary}


def _usable(k: int) -> Callable[[dict], bool]:
    def ok(row: dict) -> bool:
        outs = row.get("outputs")
        return isinstance(outs, list) and len(outs) == k and all(isinstance(t, str) for t in outs)

    return ok


def _sample_rows(
    generator: Any, sampling: Sampling, cat: str, requests: list, gen_items: list[dict], chunk: list[int]
) -> Iterable[dict[str, Any]]:
    """One chunk's sample rows: `sampling.n` texts per request of `chunk` (one generate call)."""
    outs = generator.generate([requests[i] for i in chunk], sampling, progress=False)
    return ({"id": gen_items[i]["id"], "category": cat, "outputs": list(texts)}
            for i, texts in zip(chunk, outs, strict=True))  # fmt: skip


def sample_items(
    generator: Any,
    items: list[dict[str, Any]],
    out: Path,
    sampling: Sampling,
    *,
    save_every: int,
    progress: bool,
    prompts: Any,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict], int]:
    """Draw `sampling.n` texts for every item not yet in its `samples_<category>.jsonl`, category by
    category, longest prompt first, appending and fsync'ing after every `save_every` items (a killed run
    loses at most one chunk). Returns (rows on disk by category -> id -> row, failed items by id, generated)."""
    by_cat: dict[str, list[dict]] = {}
    for it in items:
        by_cat.setdefault(it["category"], []).append(it)
    done = {c: load_results(samples_path(out, c), usable=_usable(sampling.n)) for c in by_cat}
    plans, failed = {}, {}
    for cat, its in by_cat.items():
        requests, gen_items, bad = _requests([it for it in its if it["id"] not in done[cat]], prompts)
        plans[cat] = (requests, gen_items)
        failed.update({r["id"]: r for r in bad})
    total = sum(len(g) for _, g in plans.values())
    bar = progress_bar(progress, total, f"eval: sample k={sampling.n}")
    generated = 0
    for cat, (requests, gen_items) in plans.items():
        if gen_items:
            rows_of = partial(_sample_rows, generator, sampling, cat, requests, gen_items)
            generated += append_chunks(samples_path(out, cat), requests, save_every, rows_of, done[cat], bar)
    if bar is not None:
        bar.close()
    return done, failed, generated


def evaluate_headroom(
    generator: Any,
    items: list[dict[str, Any]],
    greedy_rows: list[dict[str, Any]],
    out_dir: str | Path,
    *,
    k: int,
    temperature: float,
    seed: int = 0,
    max_new_tokens: int = 256,
    save_every: int = 128,
    progress: bool = True,
    prompts: Any = None,
    meta: dict[str, Any] | None = None,
    fresh: bool = False,
    bfcl_groups: bool = True,
    vote: VoteFn | None = None,
) -> dict[str, Any]:
    """The sampled pass beside a finished greedy pass: sample what is missing, score every sample from its
    stored text (a scorer fix never needs new samples), rewrite the sample files with their verdicts, and
    return the `headroom` section of scores.json. `greedy_rows` are the run's scored greedy rows."""
    check_sampling(k, temperature)
    out = Path(out_dir)
    meta = dict(meta or {})
    extra = {"samples": k, "temperature": temperature, "seed": seed}
    check_pass_settings(out, meta, extra, fresh, files="samples_*.jsonl", name=SETTINGS, what="samples drawn")
    sampling = Sampling(n=k, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
    t0 = time.perf_counter()
    done, failed, generated = sample_items(
        generator, items, out, sampling, save_every=save_every, progress=progress, prompts=prompts
    )
    seconds = time.perf_counter() - t0
    greedy = {r["id"]: r for r in greedy_rows}
    vote = vote or default_vote
    rows_by_cat: dict[str, list[dict]] = {}
    for it in items:
        stored = done[it["category"]].get(it["id"])
        texts = None if stored is None or it["id"] in failed else stored["outputs"]
        rows_by_cat.setdefault(it["category"], []).append(item_headroom(it, texts, greedy[it["id"]], vote))
    for cat, rows in rows_by_cat.items():
        rewrite_rows(samples_path(out, cat), rows, done[cat])
    scores = headroom_scores([r for rows in rows_by_cat.values() for r in rows], k, temperature, bfcl_groups)
    scores["seed"] = seed
    scores["timing"] = {
        "generated_items": generated,
        "generation_seconds": round(seconds, 2),
        "items_per_second": round(generated / seconds, 3) if generated and seconds else None,
    }
    return scores
