"""Training throughput: our trainer config vs TRL `SFTTrainer` with its default settings, same data, same run.

Each variant trains the same LoRA (r16/a32, all-linear) for a few optimizer steps in its own process (clean
memory numbers, no cross-talk) and reports real tokens/s (pad tokens excluded) and peak RSS. The variants
run in alternating order for `--repeats` rounds and the median is kept, since the CPU is shared.

    nice python bench/train.py                       # ours vs trl_default, embedded SmolLM2-135M
    nice python bench/train.py --levers              # + bf16 autocast, padded batches, micro-batch, eager, ...
    nice python bench/train.py --model tiny-random --steps 2   # seconds, for a smoke check

Writes bench/results/train.json and prints a markdown table. Target: ours / trl_default >= 1.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from open_toolace.hardware import machine_info

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "train.json"

# name -> TrainConfig overrides on top of ours (the defaults). "trl_default" is special-cased.
VARIANTS: dict[str, dict] = {
    "trl_default": {},
    "ours": {},
}
LEVERS: dict[str, dict] = {
    "ours_fp32": {"bf16": False},
    "ours_trl_lm_head": {"sparse_lm_head": False},
    "ours_padded": {"padding_free": False},
    "ours_padded_random_order": {"padding_free": False, "group_by_length": False},
    "ours_grad_ckpt": {"gradient_checkpointing": True},
    "ours_eager_attn": {"attn_implementation": "eager"},
    "ours_micro1": {"per_device_train_batch_size": 1},
    "ours_micro4": {"per_device_train_batch_size": 4},
}


def bench_samples(n: int, seed: int) -> list[dict]:
    """Real sub-task samples from ../shared/data when present (realistic lengths), else synthetic ones."""
    shared = Path(os.environ.get("OPEN_TOOLACE_SHARED_DATA", REPO.parent / "shared" / "data"))
    rng = random.Random(seed)
    if (shared / "sealtools_dev.jsonl").exists():
        from open_toolace.data.adapters import load_examples
        from open_toolace.training.mixture import TaskMixConfig, build_mixture

        examples = load_examples(shared / "sealtools_dev.jsonl") + load_examples(
            shared / "toolrl_rlla_sft.json"
        )
        mix, _ = build_mixture(examples, TaskMixConfig(seed=seed))
        return rng.sample(mix, min(n, len(mix)))
    out = []
    for i in range(n):
        words = " ".join(rng.choice(["alpha", "beta", "gamma", "delta"]) for _ in range(rng.randint(20, 500)))
        prompt = [
            {"role": "system", "content": "Tools: [lookup(q)]"},
            {"role": "user", "content": f"{i}: {words}"},
        ]
        out.append(
            {
                "prompt": prompt,
                "completion": [{"role": "assistant", "content": f'[lookup(q="{i}")]'}],
                "task": "synthetic",
                "id": f"syn{i}",
            }
        )
    return out


def run_variant(name: str, args: argparse.Namespace) -> dict:
    """Train one variant in this process; returns its measurements."""
    import torch
    from datasets import Dataset

    from open_toolace.training import TrainConfig, make_trainer, prepare_samples
    from open_toolace.training.trainer import load_base, lora_config

    if args.threads:
        torch.set_num_threads(args.threads)
    samples = [json.loads(line) for line in Path(args.samples_file).read_text().splitlines()]
    overrides = {**VARIANTS, **LEVERS}[name]
    micro = overrides.get("per_device_train_batch_size", args.micro_batch)
    cfg = TrainConfig(
        model=args.model,
        max_steps=args.steps,
        per_device_train_batch_size=micro,
        effective_batch_size=args.micro_batch * args.accum,
        max_length=args.max_length,
        save_strategy="no",
        logging_steps=1,
        seed=args.seed,
        **{k: v for k, v in overrides.items() if k != "per_device_train_batch_size"},
    )
    out_dir = Path(args.work) / name
    t0 = time.perf_counter()
    if name == "trl_default":
        # TRL's defaults: it tokenizes the raw prompt-completion rows itself, pads each batch, random order,
        # gradient checkpointing on, bf16 on (CPU autocast). Only the shared hyper-parameters are set.
        from trl import SFTConfig, SFTTrainer

        model, tok = load_base(TrainConfig(model=args.model))
        sft = SFTConfig(
            output_dir=str(out_dir),
            per_device_train_batch_size=micro,
            gradient_accumulation_steps=args.accum,
            max_steps=args.steps,
            learning_rate=cfg.learning_rate,
            seed=args.seed,
            save_strategy="no",
            logging_steps=1,
            report_to="none",
            max_length=args.max_length,
            use_cpu=not torch.cuda.is_available(),
        )
        data = Dataset.from_list([{k: s[k] for k in ("prompt", "completion")} for s in samples])
        trainer = SFTTrainer(
            model=model, args=sft, train_dataset=data, processing_class=tok, peft_config=lora_config(cfg)
        )
    else:
        from open_toolace.models import load_tokenizer

        rows, _ = prepare_samples(samples, load_tokenizer(args.model), cfg.max_length)
        trainer = make_trainer(cfg, rows, out_dir)
    setup_s = time.perf_counter() - t0
    result = trainer.train()
    runtime = result.metrics["train_runtime"]
    tokens = int(trainer._total_train_tokens)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {
        "variant": name,
        "tokens": tokens,
        "train_runtime_s": round(runtime, 2),
        "tokens_per_s": round(tokens / runtime, 1),
        "setup_s": round(setup_s, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "micro_batch": micro,
        "accumulation": trainer.args.gradient_accumulation_steps,
        "steps": trainer.state.global_step,
        "first_loss": losses[0] if losses else None,
        "bf16": bool(trainer.args.bf16),
        "gradient_checkpointing": bool(trainer.args.gradient_checkpointing),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="embedded:smollm2-135m")
    ap.add_argument("--steps", type=int, default=2, help="optimizer steps per variant")
    ap.add_argument("--micro-batch", type=int, default=2)
    ap.add_argument(
        "--accum",
        type=int,
        default=4,
        help="micro-batches per step (micro-batch 1/4 levers keep the samples per step)",
    )
    ap.add_argument("--max-length", type=int, default=1024)
    ap.add_argument(
        "--repeats", type=int, default=1, help="rounds of all variants (alternating order); median kept"
    )
    ap.add_argument(
        "--levers", action="store_true", help="also measure the CPU levers (bf16, padding, micro-batch, ...)"
    )
    ap.add_argument("--only", help="comma list of variants to run")
    ap.add_argument("--threads", type=int, default=0, help="torch threads per run (0: torch default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--work", default="/tmp/open_toolace_bench_train")
    ap.add_argument("--variant", help=argparse.SUPPRESS)  # child mode
    ap.add_argument("--samples-file", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.variant:  # child: one measurement as a JSON line
        print("RESULT " + json.dumps(run_variant(args.variant, args)), flush=True)
        return 0

    names = list(VARIANTS) + (list(LEVERS) if args.levers else [])
    if args.only:
        names = [n for n in args.only.split(",") if n in {**VARIANTS, **LEVERS}]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    # Exactly one pass: every variant trains on the same samples (in its own order), so the tokens match.
    samples = bench_samples(args.steps * args.micro_batch * args.accum, args.seed)
    samples_file = work / "samples.jsonl"
    samples_file.write_text("".join(json.dumps(s) + "\n" for s in samples))

    runs: dict[str, list[dict]] = {n: [] for n in names}
    for r in range(args.repeats):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            cmd = [sys.executable, __file__, "--variant", name, "--samples-file", str(samples_file)]
            for flag in ("model", "steps", "micro_batch", "accum", "max_length", "threads", "seed", "work"):
                cmd += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
            if proc.returncode != 0 or line is None:
                print(f"{name}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
                runs[name].append({"variant": name, "error": proc.stderr[-500:]})
                continue
            runs[name].append(json.loads(line[len("RESULT ") :]))
            print(f"round {r + 1} {name}: {runs[name][-1]['tokens_per_s']} tokens/s", file=sys.stderr)

    table = []
    for name in names:
        ok = [x for x in runs[name] if "error" not in x]
        if not ok:
            table.append({"variant": name, "error": runs[name][0].get("error")})
            continue
        best = dict(ok[0])
        best["tokens_per_s"] = statistics.median(x["tokens_per_s"] for x in ok)
        best["all_tokens_per_s"] = [x["tokens_per_s"] for x in ok]
        table.append(best)
    base = next(
        (x["tokens_per_s"] for x in table if x["variant"] == "trl_default" and "error" not in x), None
    )
    ours = next((x["tokens_per_s"] for x in table if x["variant"] == "ours" and "error" not in x), None)
    for row in table:
        if "error" not in row and base:
            row["vs_trl_default"] = round(row["tokens_per_s"] / base, 2)
        if "error" not in row and ours:
            row["vs_ours"] = round(row["tokens_per_s"] / ours, 2)
    print(
        "| variant | tokens/s | vs TRL default | vs ours | micro x accum | bf16 | grad ckpt | peak RSS MiB | first loss |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in table:
        if "error" in row:
            print(f"| {row['variant']} | failed | | | | | | | |")
            continue
        print(
            f"| {row['variant']} | {row['tokens_per_s']:.0f} | {row.get('vs_trl_default', '-')} | {row.get('vs_ours', '-')} | "
            f"{row['micro_batch']} x {row['accumulation']} | {row['bf16']} | {row['gradient_checkpointing']} | "
            f"{row['peak_rss_mib']} | {row['first_loss']:.3f} |"
        )
    result = {
        "bench": "train",
        "model": args.model,
        "steps": args.steps,
        "micro_batch": args.micro_batch,
        "accum": args.accum,
        "max_length": args.max_length,
        "repeats": args.repeats,
        "samples": len(samples),
        "machine": machine_info("float32"),
        "threads": args.threads or None,
        "results": table,
        "target": "ours / trl_default >= 1",
        "ratio": next((r.get("vs_trl_default") for r in table if r["variant"] == "ours"), None),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
