"""Benchmark: how often what a run's rounds kept is right, scored against the labels a round never sees.

A round trains on the answers it keeps, so their precision bounds what it can teach. With the default
offline query pool (`seed_data.queries: synth`) every query was synthesized with a label; this
re-synthesizes the pool from the run's own config (same seed, same size: the query texts are checked
against `seed/queries.jsonl`) and scores each round's `kept.jsonl` with `bench/round_yield.py`'s value
check (argument values, not the model's own names; as many calls as the label).

    python bench/kept_labels.py runs/cpu --json bench/results/kept_labels_cpu.json

Per round: kept items, how many carry the label's values, and the same split by single / multi-call label.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

_BENCH = str(Path(__file__).resolve().parent)
if _BENCH not in sys.path:  # a test that loads this file by path has no bench/ on sys.path
    sys.path.append(_BENCH)

from _results import stamp  # noqa: E402
from round_yield import label_match  # noqa: E402


def round_precision(kept: list[dict], labels: dict[str, list[dict] | None]) -> dict[str, Any]:
    """Kept items, how many match their label, split by the label's call count (one / several / none)."""
    out: dict[str, Any] = {"kept": len(kept), "scored": 0, "match": 0}
    by_kind: dict[str, list[int]] = {}
    for it in kept:
        label = labels.get(it["id"])
        m = label_match(it.get("calls"), label)
        if m is None:
            continue
        kind = "no_call" if not label else "single" if len(label) == 1 else "multi"
        row = by_kind.setdefault(kind, [0, 0])
        row[0] += 1
        row[1] += m
        out["scored"] += 1
        out["match"] += m
    out["precision"] = round(out["match"] / out["scored"], 3) if out["scored"] else None
    out["by_label"] = {k: {"kept": v[0], "match": v[1]} for k, v in sorted(by_kind.items())}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", help="a `toolace run` directory whose query pool is the offline synthesizer's")
    ap.add_argument("--json", default=None, help="write the result here")
    args = ap.parse_args(argv)

    from open_toolace.config import load_config
    from open_toolace.data.records import example_user_text
    from open_toolace.io import atomic_write_json, read_jsonl
    from open_toolace.pipeline.config import RunConfig
    from open_toolace.pipeline.seed import _synth

    run = Path(args.run_dir)
    cfg = load_config(RunConfig, str(run / "config.yaml"), [])
    if cfg.seed_data.queries != "synth":
        raise SystemExit(f"{run}: the query pool is {cfg.seed_data.queries!r}, which has no labels")
    saved = read_jsonl(run / "seed" / "queries.jsonl")
    labels: dict[str, list[dict]] = {}
    pool, _ = _synth("queries", cfg.seed_data.queries_synth, cfg.seed + 1, len(saved), False, labels=labels)
    texts = {q["id"]: example_user_text(q) for q in pool}
    same = sum(texts.get(q["id"]) == example_user_text(q) for q in saved)
    if same != len(saved):  # another synthesizer version: its labels would belong to other queries
        raise SystemExit(f"{run}: only {same} of {len(saved)} pool queries re-synthesize to the same text")

    rounds = {}
    for d in sorted(run.glob("rounds/r*"), key=lambda p: int(p.name[1:])):
        if (d / "kept.jsonl").exists():
            rounds[d.name] = round_precision(read_jsonl(d / "kept.jsonl"), labels)
    for name, r in rounds.items():
        print(
            f"{name}: kept {r['kept']}, match {r['match']} of {r['scored']} ({r['precision']})  {r['by_label']}"
        )
    if args.json:
        atomic_write_json(args.json, {"run_dir": str(run), "rounds": rounds, **stamp("kept_labels.py", argv)})
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
