"""`bench/eval.py --levers N` / `--batch-sizes A,B,...`: generation time of the hf backend's speed levers (or
batch sizes) side by side on the same BFCL requests; no scoring. A mode of bench/eval.py, not a script."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _results import command_line, machine

from open_toolace.generation import Sampling
from open_toolace.io import atomic_write_json

# Cumulative: each row adds one lever to the row above. The first row is the backend as it was before them.
LEVERS = {
    "baseline: left-padded batches of 16": dict(
        batch_size=16, share_prefix=False, static_cache=False, cpu_attention=False, decode_segment=None
    ),
    "+ shared system-prompt prefix": dict(
        batch_size=16, static_cache=False, cpu_attention=False, decode_segment=None
    ),
    "+ static KV cache, CPU decode attention": dict(batch_size=16, decode_segment=None, prefill_chunk=None),
    "+ drop stopped rows every 32 tokens": dict(batch_size=16, prefill_chunk=None),
    "+ batches of 32": dict(batch_size=32, prefill_chunk=None),
    "+ prefill in chunks of 256 tokens": dict(batch_size=32),
}


def time_levers(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    """Generation time of the same requests under each LEVERS row, interleaved over --repeats rounds, on one
    model in one process: the ratios are what to read (this machine's absolute speed drifts)."""

    from open_toolace.evaluate import load_bfcl, resolve_categories
    from open_toolace.evaluate.bfcl import invocation_request
    from open_toolace.evaluate.runner import longest_first
    from open_toolace.generation.hf import HFGenerator
    from open_toolace.models import load_model

    levers = LEVERS
    items = load_bfcl(resolve_categories(args.categories), args.levers or None)
    reqs = [invocation_request(it) for it in items]
    if args.batch_sizes:
        levers = {f"batches of {b}": dict(batch_size=int(b)) for b in args.batch_sizes.split(",")}
        # A run of neighbours in the runner's length order: what one of the evaluation's sorted chunks gives
        # the backend. A sample spread over the set would mostly time padding.
        reqs = [reqs[i] for i in longest_first(reqs)]
        mid = max(0, (len(reqs) - args.window) // 2)
        reqs = reqs[mid : mid + args.window]
    model, tok = load_model(args.model, adapter=args.adapter, dtype=args.dtype)
    seconds: dict[str, list[float]] = {name: [] for name in levers}
    outputs: dict[str, list[str]] = {}
    for r in range(args.repeats):
        for name, kw in levers.items() if r % 2 == 0 else list(levers.items())[::-1]:
            model.set_attn_implementation("sdpa")  # undo the previous row's switch
            gen = HFGenerator(model_obj=model, tokenizer=tok, **kw)
            t = time.perf_counter()
            outs = gen.generate(reqs, Sampling(max_new_tokens=args.max_new_tokens), progress=False)
            seconds[name].append(time.perf_counter() - t)
            outputs[name] = [o[0] for o in outs]
            print(f"round {r + 1}: {name:<44}{seconds[name][-1]:8.1f} s", flush=True)
    base = min(seconds[next(iter(levers))])
    first = outputs[next(iter(levers))]
    rows = {
        name: {
            "settings": levers[name],
            "seconds": [round(x, 1) for x in secs],
            "best_seconds": round(min(secs), 1),
            "speedup_vs_baseline": round(base / min(secs), 2),
            # greedy in bf16 flips near-ties whenever the batch layout changes; in fp32 all are identical
            "outputs_identical_to_baseline": sum(a == b for a, b in zip(first, outputs[name], strict=True)),
            "new_tokens": gen.count_tokens(outputs[name]),
        }
        for name, secs in seconds.items()
    }
    result = {
        "model": args.model,
        "dtype": args.dtype,
        "items": len(reqs),
        "limit_per_category": args.levers or None,
        "window": args.window if args.batch_sizes else None,
        "max_new_tokens": args.max_new_tokens,
        "levers": rows,
        "machine": machine(args.dtype),
        "command": command_line("eval.py", argv),
    }
    name = "eval_batch_sizes.json" if args.batch_sizes else "eval_levers.json"
    out = atomic_write_json(Path(args.json).with_name(name), result)
    which = f"{len(reqs)} from the middle of the length-sorted set" if args.batch_sizes else (
        f"first {args.levers} per category")  # fmt: skip
    print(f"\n{len(reqs)} BFCL requests ({args.categories}, {which}), {args.dtype}, "
          f"max {args.max_new_tokens} new tokens; best of {args.repeats}")  # fmt: skip
    print(f"{'':<46}{'seconds':>9}{'speed-up':>10}{'same out':>10}")
    for name, row in rows.items():
        print(f"{name:<46}{row['best_seconds']:>9.1f}{row['speedup_vs_baseline']:>9.2f}x"
              f"{row['outputs_identical_to_baseline']:>10}")  # fmt: skip
    print(f"wrote {out}")
    return 0
