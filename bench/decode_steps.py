"""Benchmark: what one decode step of the `hf` backend costs at a given number of live rows.

A batch decodes until its last row stops, so the rows that never close their call list set the decode time
of the whole batch: this prints the milliseconds per step at 1, 4, 16 and 64 rows (BFCL simple_python
prompts, the untrained embedded model, which writes prose to the cap, so every row runs all the steps), and
the prefill speed of the same calls, from `HFGenerator.profile`. Each size is timed `--repeats` times in
alternation; the best is kept.

    python bench/decode_steps.py                 # ~2 min on 2 cores; writes bench/results/decode_steps.json
    python bench/decode_steps.py --rows 1,8 --steps 16 --repeats 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_BENCH = str(Path(__file__).resolve().parent)
if _BENCH not in sys.path:  # a test that loads this file by path has no bench/ on sys.path
    sys.path.append(_BENCH)

from _results import machine, stamp  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "decode_steps.json"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="embedded:smollm2-135m")
    ap.add_argument("--adapter", default=None)
    ap.add_argument("--rows", default="1,4,16,64", help="comma list of batch sizes")
    ap.add_argument("--steps", type=int, default=48, help="new tokens per call")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--json", default=str(RESULTS))
    args = ap.parse_args(argv)

    from open_toolace.evaluate.bfcl import invocation_request, load_category
    from open_toolace.generation import Sampling
    from open_toolace.generation.batching import new_profile
    from open_toolace.generation.hf import HFGenerator
    from open_toolace.hardware import apply_threads
    from open_toolace.io import atomic_write_json

    threads = apply_threads("auto")
    sizes = [int(x) for x in args.rows.split(",")]
    reqs = [invocation_request(it) for it in load_category("simple_python", max(sizes))]
    gen = HFGenerator(
        args.model, adapter=args.adapter, batch_size=max(sizes), dtype=args.dtype, stop_at_call_end=False
    )
    sampling = Sampling(max_new_tokens=args.steps)
    gen.generate(reqs[:2], Sampling(max_new_tokens=4), progress=False)  # warm-up
    best: dict[int, dict] = {}
    for _ in range(args.repeats):
        for n in sizes:
            gen.profile = new_profile()
            gen.generate(reqs[:n], sampling, progress=False)
            p = gen.profile
            row = {
                "ms_per_step": round(1000 * p["decode_s"] / max(1, p["decode_steps"]), 1),
                "ms_per_row_step": round(1000 * p["decode_s"] / max(1, p["decode_row_steps"]), 2),
                "steps": p["decode_steps"],
                "prefill_tokens_per_s": round(p["prefill_tokens"] / max(p["prefill_s"], 1e-9)),
            }
            if n not in best or row["ms_per_step"] < best[n]["ms_per_step"]:
                best[n] = row
    print("| rows | ms / step | ms / row-step | prefill tokens/s |\n|---:|---:|---:|---:|")
    for n, r in best.items():
        print(f"| {n} | {r['ms_per_step']} | {r['ms_per_row_step']} | {r['prefill_tokens_per_s']} |")
    atomic_write_json(
        args.json,
        {
            "by_rows": {str(n): r for n, r in best.items()},
            "model": args.model,
            "adapter": args.adapter,
            "new_tokens": args.steps,
            "machine": machine(args.dtype, torch_threads=threads),
            **stamp("decode_steps.py", argv),
        },
    )
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
