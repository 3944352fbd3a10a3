"""Two evaluations of the same items, compared item by item.

A score on 20 items moves ±10 points on noise alone. Two models scored on the *same* items differ by less
noise than two independent scores, because each item's difficulty is shared: `paired_difference` is the
interval every comparison in this project quotes (95%, normal approximation of the mean per-item difference,
i.e. a paired t-interval at large n; with the counts of items only one side got right, McNemar's table).

`evaluate_side_by_side` runs several (generator, prompt set) arms over the same categories, one category at
a time and arm after arm, alternating which arm goes first, so a machine that slows down during the run
slows every arm alike; the per-category generation seconds it records are what speed ratios are read from.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from open_toolace.evaluate.bfcl import is_irrelevance, load_bfcl, resolve_categories
from open_toolace.evaluate.runner import RESULTS, evaluate_items, load_results
from open_toolace.io import atomic_write_json, read_json

Z95 = 1.959964
NON_LIVE_AST = frozenset(resolve_categories("non_live_ast"))


def paired_difference(a: Sequence[bool | int], b: Sequence[bool | int]) -> dict[str, Any]:
    """`b - a` over paired 0/1 outcomes: accuracies, the difference with its 95% interval, and the
    discordant counts (`b_only`: items only b got right; `a_only`: only a)."""
    if len(a) != len(b):
        raise ValueError(f"paired outcomes need equal lengths, got {len(a)} and {len(b)}")
    n = len(a)
    if n == 0:
        return {"n": 0, "a": None, "b": None, "diff": None, "ci95": None, "a_only": 0, "b_only": 0}
    d = [int(bool(y)) - int(bool(x)) for x, y in zip(a, b, strict=True)]
    mean = sum(d) / n
    var = sum((x - mean) ** 2 for x in d) / (n - 1) if n > 1 else 0.0
    half = Z95 * math.sqrt(var / n)
    return {
        "n": n,
        "a": sum(map(bool, a)) / n,
        "b": sum(map(bool, b)) / n,
        "diff": mean,
        "ci95": [mean - half, mean + half],
        "a_only": d.count(-1),
        "b_only": d.count(1),
    }


def compare_rows(rows_a: Mapping[str, dict], rows_b: Mapping[str, dict]) -> dict[str, dict[str, Any]]:
    """Per category (and `<category>_honest` for irrelevance ones, `all` over everything): the paired
    difference b - a over the item ids both evaluations hold. `missing` counts ids only one side has."""
    common = [i for i in rows_a if i in rows_b]
    by_cat: dict[str, list[str]] = {}
    for i in common:
        by_cat.setdefault(rows_a[i]["category"], []).append(i)
    out: dict[str, dict[str, Any]] = {}
    for cat, ids in sorted(by_cat.items()):
        out[cat] = paired_difference([rows_a[i]["valid"] for i in ids], [rows_b[i]["valid"] for i in ids])
        if is_irrelevance(cat):
            out[f"{cat}_honest"] = paired_difference(
                [rows_a[i].get("honest_valid", False) for i in ids],
                [rows_b[i].get("honest_valid", False) for i in ids],
            )
    ast = [i for i in common if rows_a[i]["category"] in NON_LIVE_AST]
    if ast:  # BFCL's non-live AST group, as a paired difference over its pooled items
        out["non_live_ast"] = paired_difference(
            [rows_a[i]["valid"] for i in ast], [rows_b[i]["valid"] for i in ast]
        )
    out["all"] = paired_difference([rows_a[i]["valid"] for i in common], [rows_b[i]["valid"] for i in common])
    out["all"]["missing"] = len(set(rows_a) ^ set(rows_b))
    return out


def significant_drops(paired: Mapping[str, dict[str, Any]]) -> list[str]:
    """The groups of a `compare_rows` result whose whole 95% interval lies below 0: a drop, not noise."""
    return [k for k, p in paired.items() if p.get("n") and p["ci95"][1] < 0]


def compare_dirs(dir_a: str | Path, dir_b: str | Path) -> dict[str, dict[str, Any]]:
    """`compare_rows` over two evaluation directories' results.jsonl."""
    return compare_rows(load_results(Path(dir_a) / RESULTS), load_results(Path(dir_b) / RESULTS))


def paired_table(dirs: Sequence[str | Path]) -> str:
    """Markdown: each later directory against the first, per category, on the items both hold."""
    base = Path(dirs[0])
    lines = [
        f"Paired against {base.name}, on the items both hold (95% interval of the difference, in points):",
        "",
        "| run | category | items | Δ | 95% interval | only base right | only run right |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for d in dirs[1:]:
        for cat, p in compare_dirs(base, d).items():
            if p["n"]:
                lo, hi = p["ci95"]
                lines.append(
                    f"| {Path(d).name} | {cat} | {p['n']} | {100 * p['diff']:+.1f} | "
                    f"[{100 * lo:+.1f}, {100 * hi:+.1f}] | {p['a_only']} | {p['b_only']} |"
                )
    return "\n".join(lines) + "\n"


TIMING = "side_by_side_timing.json"


def evaluate_side_by_side(
    arms: Mapping[str, tuple[Any, str | None]],
    categories: str | list[str],
    out_root: str | Path,
    *,
    limit: int | None = None,
    max_new_tokens: int = 128,
    save_every: int = 128,
    progress: bool = True,
    meta: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Evaluate each arm `name -> (generator, prompt set)` into `out_root/<name>`, category by category.

    Resumable: a category an arm has finished is not generated again, and its timing is read back from
    `out_root/side_by_side_timing.json`; a category killed half-way is timed for the part generated after
    the resume and marked `<category>.partial`. Returns `{"categories", "timing": {arm: {category: seconds}},
    "scores": {arm: scores}}`; timings are generation seconds (what the backend spent), per category."""
    cats = resolve_categories(categories)
    out_root = Path(out_root)
    timing_path = out_root / TIMING
    timing: dict[str, dict[str, float]] = read_json(timing_path) if timing_path.exists() else {}
    names = list(arms)
    items: list[dict] = []
    scores: dict[str, Any] = {}
    for c, cat in enumerate(cats):
        items += load_bfcl([cat], limit)
        for name in names if c % 2 == 0 else names[::-1]:
            gen, prompts = arms[name]
            before = load_results(out_root / name / RESULTS)
            resumed = any(r.get("category") == cat for r in before.values())
            t = time.perf_counter()
            scores[name] = evaluate_items(
                gen,
                items,
                out_root / name,
                max_new_tokens=max_new_tokens,
                save_every=save_every,
                progress=progress,
                prompts=prompts,
                meta={"benchmark": "bfcl", "limit": limit, **(meta or {}).get(name, {})},
            )
            done = timing.setdefault(name, {})
            if scores[name]["timing"]["generated_items"] or cat not in done:
                done[cat] = round(scores[name]["timing"]["generation_seconds"], 2)
                done[f"{cat}.wall"] = round(time.perf_counter() - t, 2)
                if resumed:  # killed mid-category: only the part after the resume is timed
                    done[f"{cat}.partial"] = True
            atomic_write_json(timing_path, timing)
    return {"categories": cats, "timing": timing, "scores": scores}


def seconds_over(timing: Mapping[str, float], categories: Sequence[str]) -> float:
    """Generation seconds of an arm summed over `categories` (read from `evaluate_side_by_side`'s timing)."""
    return round(sum(timing.get(c, 0.0) for c in categories), 2)
