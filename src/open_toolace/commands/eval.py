"""`toolace eval`: score a model on BFCL (bfcl-eval's own checker) or a BFCL-format file; compare runs.

    toolace eval --model embedded:smollm2-135m --categories non_live --limit 20 --out runs/eval/base
    toolace eval --model M --adapter runs/r1/adapter --categories simple_python,live_simple
    toolace eval --model M --dataset my_heldout.jsonl [--answers my_answers.jsonl]
    toolace eval --model M --categories non_live --limit 50 --samples 5 --temperature 0.7   # + maj@5, pass@5
    toolace eval --model M --adapter runs/r/adapter --categories non_live --refine 3   # + accuracy per step
    toolace eval compare runs/eval/base runs/eval/r1

Flags override `--config FILE` (an EvalConfig YAML) and `--set key=value` overrides.
"""

from __future__ import annotations

import argparse
import sys

FLAGS = {  # flag -> (EvalConfig field, argparse kwargs)
    "--model": ("model", {}),
    "--adapter": ("adapter", {}),
    "--backend": ("backend", {"choices": ["hf", "vllm", "openai"]}),
    "--benchmark": ("benchmark", {"choices": ["bfcl"]}),
    "--categories": (
        "categories",
        {"help": "comma list of categories or groups: all, non_live, live, simple, ..."},
    ),
    "--limit": ("limit", {"type": int, "help": "first N items per category"}),
    "--dataset": ("dataset", {"help": "BFCL-format question file (docs/evaluation.md)"}),
    "--answers": ("answers", {"help": "possible-answer file for --dataset"}),
    "--out": ("out", {"help": "run directory"}),
    "--batch-size": ("batch_size", {"type": int}),
    "--save-every": ("save_every", {"type": int}),
    "--max-new-tokens": ("max_new_tokens", {"type": int}),
    "--seed": ("seed", {"type": int}),
    "--samples": (
        "samples",
        {"type": int, "help": "K > 1: also sample K answers per item; report greedy, maj@K and pass@K"},
    ),
    "--temperature": ("temperature", {"type": float, "help": "temperature of the K samples (0.7)"}),
    "--refine": (
        "refine",
        {"type": int, "help": "N > 0: then self-refine each greedy answer, up to N steps (ToolACE-R)"},
    ),
    "--threads": ("threads", {"help": "torch threads: auto (default), or a number"}),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    from open_toolace.config import help_text
    from open_toolace.evaluate.config import EvalConfig

    p = subparsers.add_parser(
        "eval",
        help="evaluate a model on BFCL or a BFCL-format dataset; `eval compare DIR...`",
        description=__doc__,
        epilog="config fields:\n" + help_text(EvalConfig),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", help="EvalConfig YAML file")
    for flag, (dest, kw) in FLAGS.items():
        p.add_argument(flag, dest=dest, default=None, **kw)
    p.add_argument("--fresh", action="store_true", default=None, help="discard results already in --out")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None)
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override, e.g. --set backend_args.base_url=http://127.0.0.1:8000/v1",
    )
    p.set_defaults(func=cmd_eval)
    sub = p.add_subparsers(dest="eval_command", metavar="{compare}")
    c = sub.add_parser("compare", help="delta table of scores.json across run directories")
    c.add_argument("dirs", nargs="+", help="run directories (the first is the baseline)")
    c.add_argument("--write", help="also write the table to this markdown file")
    c.set_defaults(func=cmd_compare)


def cmd_eval(args: argparse.Namespace) -> int:
    from open_toolace.config import ConfigError, load_config
    from open_toolace.evaluate.report import LABELS, pct
    from open_toolace.evaluate.runner import EvalConfig, run_eval
    from open_toolace.io import DirBusyError

    try:
        cfg = load_config(EvalConfig, args.config, args.overrides)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for dest in [d for d, _ in FLAGS.values()] + ["fresh", "progress"]:
        value = getattr(args, dest, None)
        if value is not None:
            setattr(cfg, dest, value)
    try:
        scores = run_eval(cfg)
    except (ValueError, FileNotFoundError, DirBusyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{'metric':<60} accuracy")
    for key, label in LABELS.items():
        if key in scores["summary"]:
            print(f"{label:<60} {pct(scores['summary'][key]['accuracy']):>7}")
    for cat, c in scores["categories"].items():
        honest = f"  (honest {pct(c['honest_accuracy'])})" if "honest_accuracy" in c else ""
        print(f"  {cat:<58} {pct(c['accuracy']):>7}{honest}")
    h = scores.get("headroom")
    if h:
        title = f"headroom: {h['k']} samples at T={h['temperature']:g}"
        print(f"\n{title:<44} {'greedy':>6} {'maj@k':>6} {'pass@k':>6}")
        groups = [(LABELS[k], v) for k, v in h["summary"].items() if k in LABELS]
        for label, v in groups + list(h["categories"].items()):
            nums = " ".join(f"{pct(v[m]):>6}" for m in ("greedy", "maj_at_k", "pass_at_k"))
            print(f"  {label[:42]:<42} {nums}")
    r = scores.get("refinement")
    if r:
        title = f"refinement: up to {r['n_steps']} steps"
        print(f"\n{title:<44} {'greedy':>6} {'final':>6} {'w->r':>5} {'r->w':>5} {'steps':>5}")
        groups = [(LABELS[k], v) for k, v in r["summary"].items() if k in LABELS]
        for label, v in groups + list(r["categories"].items()):
            acc = v["accuracy_by_step"]
            nums = f"{pct(acc[0]):>6} {pct(acc[-1]):>6} {v['wrong_to_right']:>5} {v['right_to_wrong']:>5}"
            print(f"  {label[:42]:<42} {nums} {v['mean_steps']:>5.2f}")
    print(f"run directory: {scores['config']['out']} (report.md, scores.json, results.jsonl, scores.png)")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from open_toolace.evaluate.report import compare
    from open_toolace.io import DataFileError, atomic_write_text

    try:
        table = compare(args.dirs)
    except (ValueError, DataFileError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(table, end="")
    if args.write:
        atomic_write_text(args.write, table)
    return 0
