"""`toolace train build|(train)` and `toolace export --merge`: the SFT stage from the command line.

    toolace train build --config configs/train_mix.yaml --data ../shared/data/sealtools_dev.jsonl
        ../shared/data/sealtools_tools.jsonl --out runs/mix/samples.jsonl
    toolace train --config configs/train.yaml --samples runs/mix/samples.jsonl --out runs/sft [--set lora_r=8]
    toolace train --method toolace-r --samples runs/mix/samples.jsonl --adapter runs/sft --out runs/tr
    toolace train --method toolace-r --data ../shared/data/sealtools_dev.jsonl --out runs/tr [--set k=4]
    accelerate launch --config_file configs/accelerate/cpu_2proc.yaml -m open_toolace.cli train ...
    toolace export --merge runs/sft runs/sft-merged     # standalone HF checkpoint for vLLM

`--set key=value` overrides any config field (see the field lists below); docs/training.md has the recipe.
`--method toolace-r` (docs/refine.md) is ToolACE-R's model-aware iterative training over labeled examples:
`--data` files, or the examples a `--samples` file was built from (its .report.json / .config.yaml); its
`--config` / `--set` are a ToolaceRConfig (the TrainConfig of an iteration is its `train` section).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    from open_toolace.commands.run import fields_help
    from open_toolace.config import help_text
    from open_toolace.refine.config import ToolaceRConfig
    from open_toolace.training.config import TrainConfig
    from open_toolace.training.mixture import TaskMixConfig

    p = subparsers.add_parser(
        "train",
        help="LoRA SFT on prompt-completion samples; `train build` makes the sub-task mixture",
        description=__doc__,
        epilog="TrainConfig fields:\n"
        + help_text(TrainConfig)
        + "\n\nToolaceRConfig fields (--method toolace-r; dotted, e.g. --set train.lora_r=8):\n"
        + fields_help(ToolaceRConfig),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--method",
        choices=["sft", "toolace-r"],
        default="sft",
        help="sft (default): LoRA SFT on --samples; toolace-r: model-aware iterative training (ToolACE-R)",
    )
    p.add_argument("--config", help="TrainConfig YAML (configs/train.yaml); toolace-r: a ToolaceRConfig YAML")
    p.add_argument(
        "--samples",
        help="samples JSONL from `toolace train build`; toolace-r: its examples are the pool (and its "
        "mixture config the invocation mix)",
    )
    p.add_argument(
        "--data",
        dest="pool_data",
        nargs="+",
        metavar="FILE",
        help="toolace-r: labeled example files, the pool (any format `toolace data` reads; a file of tool "
        "definitions is used as --tools)",
    )
    p.add_argument(
        "--tools",
        dest="pool_tools",
        nargs="*",
        default=[],
        metavar="FILE",
        help="toolace-r: extra tool documents for the distractor pool",
    )
    p.add_argument("--out", help="output dir: adapter, tokenizer, config, metrics, checkpoints")
    p.add_argument("--model", help="base model spec (overrides the config; toolace-r: train.model)")
    p.add_argument(
        "--adapter",
        help="continue training this adapter (overrides the config; toolace-r: iteration 1 starts from it)",
    )
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(func=cmd_train)
    sub = p.add_subparsers(dest="train_command", metavar="{build}")
    b = sub.add_parser(
        "build",
        help="examples -> adaption / tool-generation / invocation samples (JSONL), counts per task",
        epilog="TaskMixConfig fields:\n" + help_text(TaskMixConfig),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    b.add_argument("--config", dest="mix_config", help="TaskMixConfig YAML (configs/train_mix.yaml)")
    b.add_argument(
        "--data",
        nargs="+",
        required=True,
        metavar="FILE",
        help="example files (any format `toolace data` reads; a file of tool definitions is used as --tools)",
    )
    b.add_argument(
        "--tools",
        nargs="*",
        default=[],
        metavar="FILE",
        help="extra tool documents (JSON/JSONL of definitions): adaption samples and distractors",
    )
    b.add_argument("--out", dest="build_out", required=True, help="samples JSONL to write")
    b.add_argument(
        "--model",
        dest="build_model",
        default=None,
        help="whose tokenizer counts the supervised tokens (token_shares, the printed shares; default: the "
        "embedded model)",
    )
    b.add_argument("--set", dest="mix_overrides", action="append", default=[], metavar="KEY=VALUE")
    b.set_defaults(func=cmd_build)

    e = subparsers.add_parser("export", help="merge a LoRA adapter into its base: a standalone HF checkpoint")
    e.add_argument("--merge", nargs=2, metavar=("ADAPTER", "OUT"), required=True)
    e.add_argument("--base", help="base model spec (default: the one the adapter names)")
    e.add_argument(
        "--dtype", default="float32", choices=["float32", "bfloat16", "float16"], help="weights written"
    )
    e.set_defaults(func=cmd_export)


def load_data(data: list[str], tool_files: list[str]) -> tuple[list[dict], list]:
    """Examples and tool documents from `--data` / `--tools` files: a file of tool definitions in `--data`
    counts as tools, so one list of paths can name both (as `toolace train build` takes them)."""
    from open_toolace.data.adapters import load_examples
    from open_toolace.data.tool_docs import is_tool_file, load_tool_docs

    examples, tools = [], []
    for path in data:
        if is_tool_file(path):
            tools += load_tool_docs(path)
            print(f"{path}: tool documents ({len(tools)} so far)")
            continue
        got = load_examples(path)
        print(f"{path}: {len(got)} examples")
        examples += got
    for path in tool_files:
        tools += load_tool_docs(path)
        print(f"{path}: tool documents ({len(tools)} so far)")
    return examples, tools


def cmd_build(args: argparse.Namespace) -> int:
    from open_toolace.config import ConfigError, load_config, save_config
    from open_toolace.io import DataFileError, write_jsonl
    from open_toolace.models import DEFAULT_MODEL
    from open_toolace.training.mixture import TaskMixConfig, build_mixture, token_counter

    try:
        cfg = load_config(TaskMixConfig, args.mix_config, args.mix_overrides)
        examples, tools = load_data(args.data, args.tools)
    except (ConfigError, DataFileError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    samples, report = build_mixture(
        examples, cfg, tools=tools, count_tokens=token_counter(args.build_model or DEFAULT_MODEL)
    )
    out = Path(args.build_out)
    write_jsonl(out, samples)
    save_config(cfg, out.with_suffix(".config.yaml"))
    report["inputs"] = {"data": list(args.data), "tools": list(args.tools)}
    (out.with_suffix(".report.json")).write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'task':<18}{'built':>8}{'unique':>8}{'kept':>8}{'supervised tokens':>19}{'share':>7}")
    for task, c in report["tasks"].items():
        n, share = report["supervised_tokens"][task], report["supervised_token_shares"][task]
        print(f"{task:<18}{c['built']:>8}{c['unique']:>8}{c['kept']:>8}{n:>19,}{100 * share:>6.1f}%")
    print(f"{'total':<34}{report['total']:>8}   (invocation no-call answers: {report['no_call']})")
    for reason, n in report["skipped"].items():
        print(f"skipped {reason}: {n}")
    print(f"wrote {out} (+ {out.with_suffix('.config.yaml').name}, {out.with_suffix('.report.json').name})")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from open_toolace.config import ConfigError, load_config
    from open_toolace.io import DataFileError
    from open_toolace.training import TrainConfig, train

    if args.method == "toolace-r":
        return cmd_toolace_r(args)
    if args.pool_data or args.pool_tools:
        print(
            "error: --data/--tools are for --method toolace-r; SFT trains on --samples (build them with "
            "`toolace train build --data ...`)",
            file=sys.stderr,
        )
        return 2
    if not args.samples or not args.out:
        print(
            "error: `toolace train` needs --samples FILE and --out DIR (or use `toolace train build`)",
            file=sys.stderr,
        )
        return 2
    try:
        cfg = load_config(TrainConfig, args.config, args.overrides)
        if args.model:
            cfg.model = args.model
        if args.adapter:
            cfg.adapter = args.adapter
        if cfg.torch_threads is None and "WORLD_SIZE" not in os.environ:
            cfg.torch_threads = "auto"  # one process: pick for this machine (accelerate sets its own)
        out = train(cfg, args.samples, args.out)
    except (ConfigError, DataFileError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from open_toolace.training.trainer import is_main_process

    metrics = out / "train_metrics.json"
    if metrics.exists() and is_main_process():
        m = json.loads(metrics.read_text())
        d = m["data"]
        print(
            f"done: {out}  steps {m['global_step']}, loss {m['first_loss']} -> {m['last_loss']}, "
            f"{m['tokens_per_s']} tokens/s; samples {d['samples']} (dropped, completion truncated: "
            f"{d['dropped_truncated']})"
        )
    return 0


def samples_sources(samples: str | Path) -> tuple[list[str], list[str], Any]:
    """The example and tool files a `toolace train build` samples file was built from (its .report.json)
    and its mixture config (.config.yaml, None if absent): ToolACE-R samples and trains on the same data."""
    from open_toolace.config import load_config
    from open_toolace.training.mixture import TaskMixConfig

    path = Path(samples)
    report = path.with_suffix(".report.json")
    if not report.exists():
        raise FileNotFoundError(
            f"{report} not found: --method toolace-r reads the examples a samples file was built from "
            "(`toolace train build` writes it); pass the example files with --data instead"
        )
    inputs = json.loads(report.read_text()).get("inputs") or {}
    if not inputs.get("data"):
        raise ValueError(f"{report} names no input files; pass the example files with --data")
    cfg_path = path.with_suffix(".config.yaml")
    mix = load_config(TaskMixConfig, cfg_path) if cfg_path.exists() else None
    return list(inputs["data"]), list(inputs.get("tools") or []), mix


def cmd_toolace_r(args: argparse.Namespace) -> int:
    """`toolace train --method toolace-r`: the model-aware iterative loop (refine.iterate) over a pool."""
    from open_toolace.config import ConfigError, load_config
    from open_toolace.hardware import apply_threads
    from open_toolace.io import DataFileError
    from open_toolace.refine.config import ToolaceRConfig

    if not args.out or bool(args.samples) == bool(args.pool_data):
        print(
            "error: `toolace train --method toolace-r` needs --out DIR and either --data FILE... (labeled "
            "examples) or --samples FILE (the examples it was built from)",
            file=sys.stderr,
        )
        return 2
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        print(
            "error: --method toolace-r samples and trains in one process (no accelerate launch)",
            file=sys.stderr,
        )
        return 2
    try:
        cfg = load_config(ToolaceRConfig, args.config, args.overrides)
        if args.model:
            cfg.train.model = args.model
        if args.adapter:
            cfg.train.adapter = args.adapter
        if cfg.train.torch_threads is None:
            cfg.train.torch_threads = "auto"
        data, tool_files = list(args.pool_data or []), list(args.pool_tools)
        if args.samples:
            data, built_tools, mix = samples_sources(args.samples)
            tool_files += built_tools
            cfg.mix = cfg.mix if cfg.mix is not None else mix
        examples, tools = load_data(data, tool_files)
        apply_threads(cfg.train.torch_threads)  # sampling runs before the first training applies it
        from open_toolace.refine.iterate import run_toolace_r

        summary = run_toolace_r(cfg, examples, args.out, tools=tools)
    except (ConfigError, DataFileError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for a in summary["iterations"]:
        t = a["train"]
        trained = f"loss {t['first_loss']} -> {t['last_loss']}" if t else f"stopped: {a['stopped']}"
        print(
            f"iter{a['iteration']}: pool {a['pool']}, passes 0..k {a['histogram']}, selected "
            f"{a['selection']['selected']}, samples {a['samples']['tasks']}, keep share "
            f"{a['refinement']['achieved_keep_share']}; {trained}"
        )
    print(f"done: {args.out} ({summary['stop_reason']}); final adapter: {summary['adapter']}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from open_toolace.training import export_merged

    adapter, out = args.merge
    try:
        path = export_merged(adapter, out, base=args.base, dtype=args.dtype)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        f"wrote {path}; serve it with:\n  vllm serve {path} --enable-auto-tool-choice --tool-call-parser pythonic"
    )
    return 0
