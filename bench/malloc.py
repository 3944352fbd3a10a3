"""Benchmark: the `hf` backend on CPU with and without `generation/malloc.keep_freed_memory`, side by side.

glibc's malloc settings are process-wide and cannot be switched back, so each measurement is its own process:
the two settings alternate (A B, then B A, ...), each process loads the model, warms up on 8 requests, then
times the same BFCL requests (every `--stride`-th item of the set) and reports wall time, user/system CPU
time and page faults (`getrusage`). The ratio of the best times is what to read.

    .venv/bin/python bench/malloc.py                      # every 22nd non-live item (64), 2 rounds
    .venv/bin/python bench/malloc.py --stride 200 --rounds 1 --max-new-tokens 16   # a quick check

Prints a table and writes bench/results/malloc.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from open_toolace.generation import Sampling

_BENCH = str(Path(__file__).resolve().parent)
if _BENCH not in sys.path:  # a test that loads this file by path has no bench/ on sys.path
    sys.path.append(_BENCH)

from _results import command_line, machine  # noqa: E402

MODES = ("default", "keep_freed_memory")


def worker(args: argparse.Namespace) -> dict:
    import resource

    from open_toolace.evaluate import load_bfcl, resolve_categories
    from open_toolace.evaluate.bfcl import invocation_request
    from open_toolace.generation.hf import HFGenerator

    items = load_bfcl(resolve_categories(args.categories))[:: args.stride]
    reqs = [invocation_request(it) for it in items]
    gen = HFGenerator(
        args.model, dtype=args.dtype, batch_size=args.batch_size, tune_malloc=args.worker != "default"
    )
    gen.generate(reqs[:8], Sampling(max_new_tokens=16), progress=False)  # warm-up: first-call costs
    r0, t = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    gen.generate(reqs, Sampling(max_new_tokens=args.max_new_tokens), progress=False)
    wall, r1 = time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF)
    return {
        "mode": args.worker,
        "items": len(reqs),
        "wall_s": round(wall, 2),
        "user_s": round(r1.ru_utime - r0.ru_utime, 2),
        "sys_s": round(r1.ru_stime - r0.ru_stime, 2),
        "page_faults": r1.ru_minflt - r0.ru_minflt,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="embedded:smollm2-135m")
    ap.add_argument("--categories", default="non_live")
    ap.add_argument("--stride", type=int, default=22, help="every N-th item of the set")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of (A, B) processes, order alternating")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--dtype", default="auto", help="auto: open_toolace.hardware.resolve_dtype")
    ap.add_argument("--json", default="bench/results/malloc.json")
    ap.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)), flush=True)
        return 0

    passed = list(argv if argv is not None else sys.argv[1:])
    runs: dict[str, list[dict]] = {m: [] for m in MODES}
    for r in range(args.rounds):
        for mode in MODES if r % 2 == 0 else MODES[::-1]:  # A B, B A, ...: drift hits both alike
            cmd = [sys.executable, __file__, *passed, "--worker", mode]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            runs[mode].append(json.loads(out.strip().splitlines()[-1]))
            row = runs[mode][-1]
            print(f"round {r + 1}: {mode:<20}{row['wall_s']:8.1f} s  sys {row['sys_s']:6.1f} s  "
                  f"faults {row['page_faults']:>9}", flush=True)  # fmt: skip
    best = {m: min(x["wall_s"] for x in runs[m]) for m in MODES}
    result = {
        "model": args.model,
        "dtype": args.dtype,
        "items": runs[MODES[0]][0]["items"],
        "stride": args.stride,
        "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens,
        "runs": runs,
        "best_wall_s": best,
        "speedup": round(best["default"] / best["keep_freed_memory"], 3),
        "command": command_line("malloc.py", passed),
        "machine": machine(args.dtype),
    }
    from open_toolace.io import atomic_write_json

    out = atomic_write_json(args.json, result)
    print(f"\n{result['items']} BFCL requests (every {args.stride}th), {args.dtype}, batches of "
          f"{args.batch_size}, max {args.max_new_tokens} new tokens; one process per run")  # fmt: skip
    print(f"{'malloc':<20}{'best s':>9}{'user s':>9}{'sys s':>9}{'page faults':>13}")
    for m in MODES:
        n = len(runs[m])
        mean = {k: sum(x[k] for x in runs[m]) / n for k in ("user_s", "sys_s", "page_faults")}
        print(
            f"{m:<20}{best[m]:>9.1f}{mean['user_s']:>9.1f}{mean['sys_s']:>9.1f}{mean['page_faults']:>13.0f}"
        )
    print(f"speed-up of keep_freed_memory: {result['speedup']:.2f}x; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
