"""Summarize bootstrap-only runs (configs/bootstrap_levers.yaml) into one table with paired intervals.

Each run directory is one arm: its training (steps, tokens, wall time) and its BFCL scores on the same items;
every arm is paired with the arm named by --against (default: each arm's previous one in the list) on the
items both hold (95% interval of the difference, evaluate.compare).

    toolace run configs/bootstrap_levers.yaml name=levers-base
    toolace run configs/bootstrap_levers.yaml name=levers-lr1e3 bootstrap.train.learning_rate=1e-3
    python bench/bootstrap_levers.py runs/levers-base runs/levers-lr1e3   # -> bench/results/bootstrap_levers.json
    python bench/bootstrap_levers.py runs/levers-* --against levers-base=levers-lr1e3 ...
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

RESULTS = Path(__file__).resolve().parent / "results" / "bootstrap_levers.json"


BOOTSTRAP_EVAL = "eval/bootstrap"


def _prefix(sub: str) -> str:
    """Keys of an extra eval directory are prefixed with it; the bootstrap's own eval keeps plain keys."""
    return "" if sub == BOOTSTRAP_EVAL else f"{sub}/"


def _accuracy(scores: dict[str, Any], prefix: str = "") -> dict[str, float]:
    cats = scores["categories"]
    acc = {f"{prefix}{c}": round(100 * v["accuracy"], 1) for c, v in cats.items()}
    if "irrelevance" in cats and cats["irrelevance"].get("honest_accuracy") is not None:
        acc[f"{prefix}irrelevance_honest"] = round(100 * cats["irrelevance"]["honest_accuracy"], 1)
    return acc


def arm_summary(run: Path, extra: list[str] | None = None) -> dict[str, Any]:
    import yaml

    from open_toolace.io import read_json

    cfg = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    tm = read_json(run / "bootstrap" / "adapter" / "train_metrics.json")
    # A run resumed from a checkpoint without progress.json counted only the steps after the resume.
    all_steps = tm.get("counts_all_steps", tm.get("resumed_from") is None)
    acc: dict[str, float] = {}
    items: dict[str, int] = {}
    gen_s: dict[str, float | None] = {}
    for sub in [BOOTSTRAP_EVAL, *(extra or [])]:  # the bootstrap's eval must exist; an extra may not
        if sub != BOOTSTRAP_EVAL and not (run / sub / "scores.json").exists():
            continue
        scores = read_json(run / sub / "scores.json")
        acc.update(_accuracy(scores, _prefix(sub)))
        items.update({f"{_prefix(sub)}{c}": v["total"] for c, v in scores["categories"].items()})
        gen_s[sub] = scores.get("timing", {}).get("generation_seconds")
    return {
        "run": str(run),
        "seed": {"source": cfg["seed_data"]["source"], "examples": cfg["seed_data"]["limit"]},
        "learning_rate": cfg["bootstrap"]["train"]["learning_rate"],
        "abstention_share": cfg["bootstrap"]["mix"]["abstention_share"],
        "train": {
            "steps": tm["global_step"],
            "tokens": tm["tokens_seen"] if all_steps else None,
            "train_s": round(tm.get("train_runtime_s", tm["wall_s"])) if all_steps else None,
            "tokens_per_s": tm["tokens_per_s"],
            "first_loss": tm.get("first_loss"),
            "last_loss": tm.get("last_loss"),
        },
        "accuracy": acc,
        "items": items,
        "generation_s": gen_s,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="run directories, one per arm")
    ap.add_argument(
        "--against",
        action="append",
        default=[],
        metavar="BASE=ARM",
        help="pair ARM with BASE (run directory names); default: each arm with the one before it",
    )
    ap.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="SUBDIR",
        help="another eval directory inside each run dir (e.g. a `toolace eval --out RUN/heldout-x`), paired too",
    )
    ap.add_argument("--json", default=str(RESULTS))
    args = ap.parse_args(argv)

    from open_toolace.evaluate.compare import compare_dirs
    from open_toolace.io import atomic_write_json

    runs = [Path(r) for r in args.runs]
    names = [r.name for r in runs]
    pairs = [tuple(p.split("=", 1)) for p in args.against] or list(zip(names, names[1:], strict=False))
    by_name = dict(zip(names, runs, strict=True))
    arms = {r.name: arm_summary(r, args.extra) for r in runs}
    paired = {}
    for base, arm in pairs:
        res: dict[str, Any] = {}
        for sub in [BOOTSTRAP_EVAL, *args.extra]:
            a, b = by_name[base] / sub, by_name[arm] / sub
            if not ((a / "results.jsonl").exists() and (b / "results.jsonl").exists()):
                continue
            res.update({
                f"{_prefix(sub)}{k}": {
                    "n": v["n"],
                    "diff": round(100 * v["diff"], 1),
                    "ci95": [round(100 * x, 1) for x in v["ci95"]],
                }
                for k, v in compare_dirs(a, b).items()
                if v["n"]
            })  # fmt: skip
        paired[f"{arm} - {base}"] = res
    cats = sorted({c for a in arms.values() for c in a["accuracy"]})
    print("| arm | steps | tokens | train min | " + " | ".join(cats) + " |")
    print("|---|---:|---:|---:|" + "---:|" * len(cats))
    for name, a in arms.items():
        t = a["train"]
        cells = " | ".join(str(a["accuracy"].get(c, "–")) for c in cats)
        tokens = "?" if t["tokens"] is None else f"{t['tokens']:,}"
        minutes = "?" if t["train_s"] is None else f"{t['train_s'] / 60:.1f}"
        print(f"| {name} | {t['steps']} | {tokens} | {minutes} | {cells} |")
    for pair, res in paired.items():
        print(f"\n{pair}: " + ", ".join(f"{k} {v['diff']:+.1f} [{v['ci95'][0]:+.1f}, {v['ci95'][1]:+.1f}]"
                                      for k, v in res.items()))  # fmt: skip
    atomic_write_json(
        args.json,
        {
            "arms": arms,
            "paired": paired,
            **stamp("bootstrap_levers.py", argv),
        },
    )
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
