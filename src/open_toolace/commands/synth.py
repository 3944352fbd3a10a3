"""`toolace synth`: synthesize seed data (ToolACE-style) and unlabeled queries for self-evolution.

    toolace synth seed --config configs/synth.yaml --out data/seed.jsonl [n=6000 seed=1 ...]
    toolace synth seed --config configs/synth_teacher.yaml --out data/teacher.jsonl teacher.base_url=http://...
    toolace synth queries --config configs/synth.yaml --out data/queries.jsonl --n 2000
    toolace synth apis --out data/apis.jsonl          # just the evolved API pool

Trailing `key=value` words override the config (dotted keys reach sections: complexity.model=tiny-random).
`seed` writes OUT plus OUT_STEM.rejects.jsonl, .stats.json, .apis.jsonl and .config.yaml, prints the
diversity statistics, and skips the work when OUT was already made with the same config (--force redoes it).
"""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("synth", help="synthesize seed data and unlabeled queries", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = p.add_subparsers(dest="synth_command", metavar="{seed,queries,apis}")
    for name, helptext in (("seed", "labeled seed samples (internal JSONL)"),
                           ("queries", "unlabeled queries from held-out domains (no tools, calls null)"),
                           ("apis", "the evolved API pool (one tool per line)")):  # fmt: skip
        s = sub.add_parser(name, help=helptext)
        s.add_argument("--config", help="SynthConfig YAML (configs/synth.yaml)")
        s.add_argument("--out", required=True, help="output JSONL file")
        s.add_argument("--n", type=int, help="how many (overrides n)")
        s.add_argument("--force", action="store_true", help="redo even if OUT exists with the same config")
        s.add_argument("--json", action="store_true", help="print the stats as JSON")
        s.add_argument("overrides", nargs="*", help="key=value config overrides")
        s.set_defaults(func=cmd_synth, synth_command=name)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _print_stats(stats: dict, as_json: bool) -> None:
    from open_toolace.synth.stats import format_stats

    print(json.dumps(stats, indent=2) if as_json else format_stats(stats))


def cmd_synth(args: argparse.Namespace) -> int:
    from open_toolace.config import ConfigError, load_config
    from open_toolace.generation.openai import GenerationError
    from open_toolace.synth.seed import SynthConfig
    from open_toolace.synth.tree import TreeError

    overrides = list(args.overrides) + ([f"n={args.n}"] if args.n is not None else [])
    try:
        cfg = load_config(SynthConfig, args.config, overrides)
        if args.synth_command == "queries":
            from open_toolace.synth.unlabeled import run_queries

            stats = run_queries(cfg, args.out)
        elif args.synth_command == "apis":
            stats = _write_apis(cfg, args.out)
        else:
            from open_toolace.synth.seed import run_synthesis

            stats = run_synthesis(cfg, args.out, force=args.force)
    except (
        ConfigError,
        TreeError,
        ValueError,
        GenerationError,
    ) as e:  # a teacher URL/key/model that is wrong
        print(f"toolace synth: {e}", file=sys.stderr)
        return 2
    _print_stats(stats, args.json)
    if stats.get("skipped"):
        print(f"(already made with this config: {args.out}; --force to redo)", file=sys.stderr)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _write_apis(cfg, out: str) -> dict:
    import random

    from open_toolace.io import write_jsonl
    from open_toolace.synth.apis import build_pool
    from open_toolace.synth.stats import type_coverage
    from open_toolace.synth.tree import load_tree, split_domains

    seed_domains, _ = split_domains(load_tree(cfg.tree), list(cfg.held_out_domains))
    pool = build_pool(seed_domains, random.Random(f"pool:{cfg.seed}"), cfg.variants, cfg.max_ops)
    n = write_jsonl(out, [a.row() for a in pool])
    return {"apis": n, "base_apis": len({a.base for a in pool}), "domains": len(seed_domains),
            "schema_coverage": type_coverage([a.tool() for a in pool])}  # fmt: skip
