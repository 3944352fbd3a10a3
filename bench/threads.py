"""Benchmark: torch intra-op threads (1 vs all cores) on a quiet machine and beside a busy process.

The workload is a forward + backward pass of a randomly initialised model built from the embedded model's
config (SmolLM2-135M shapes, fp32, batch 2 x 256 tokens): the matmul mix of training and of prefill. Each
setting is timed in alternation with the others, several rounds, best of the rounds. "Busy" starts one
pure-Python spinning process (one core's worth of other work, like a second job on a shared machine).
The result decides `threads: auto` (open_toolace.hardware.resolve_threads).

    python bench/threads.py                      # ~2 min on 2 cores; writes bench/results/threads.json
    python bench/threads.py --rounds 2 --steps 2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from open_toolace.hardware import machine_info
from open_toolace.io import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results" / "threads.json"


def build_model(tiny: bool):
    from transformers import AutoConfig, AutoModelForCausalLM

    from open_toolace.models import DEFAULT_MODEL, resolve_model_path

    if tiny:
        from open_toolace.models import load_model

        return load_model("tiny-random", dtype="float32")[0].train()
    config = AutoConfig.from_pretrained(resolve_model_path(DEFAULT_MODEL))
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config, dtype=torch.float32).train()


def time_steps(model, threads: int, steps: int, seq: int) -> float:
    torch.set_num_threads(threads)
    ids = torch.randint(0, model.config.vocab_size, (2, seq))
    model.zero_grad(set_to_none=True)
    model(input_ids=ids, labels=ids).loss.backward()  # warm-up
    t = time.perf_counter()
    for _ in range(steps):
        model(input_ids=ids, labels=ids).loss.backward()
    return (time.perf_counter() - t) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--tiny", action="store_true", help="tiny-random model (a smoke run, not a measurement)")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()

    cores = os.cpu_count() or 1
    settings = sorted({1, cores})
    model = build_model(args.tiny)
    best: dict[str, float] = {}
    for r in range(args.rounds):
        for busy in (False, True):
            spinner = None
            if busy:
                spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
                time.sleep(0.5)
            try:
                for n in settings if r % 2 == 0 else reversed(settings):
                    s = time_steps(model, n, args.steps, args.seq)
                    key = f"{'busy' if busy else 'quiet'}, {n} thread(s)"
                    best[key] = min(best.get(key, float("inf")), s)
                    print(f"round {r}: {key}: {s:.3f} s/step", flush=True)
            finally:
                if spinner is not None:
                    spinner.kill()
                    spinner.wait()
    result = {
        "benchmark": "threads",
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine_info("float32"),
        "workload": f"forward+backward, batch 2 x {args.seq} tokens, {'tiny-random' if args.tiny else 'SmolLM2-135M shapes'}",
        "seconds_per_step_best": {k: round(v, 4) for k, v in best.items()},
    }
    for load in ("quiet", "busy"):
        one, all_ = best.get(f"{load}, 1 thread(s)"), best.get(f"{load}, {cores} thread(s)")
        if one and all_ and cores > 1:
            result[f"{load}: 1 thread / {cores} threads speed"] = round(all_ / one, 2)
    print("\n| setting | s/step (best) |\n|---|---:|")
    for k, v in best.items():
        print(f"| {k} | {v:.3f} |")
    for k, v in result.items():
        if k.endswith("speed"):
            print(f"{k}: {v}x")
    atomic_write_json(args.out, result)


if __name__ == "__main__":
    main()
