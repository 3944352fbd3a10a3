"""Benchmark: where the `hf` backend's evaluation time goes, by stage and by kind of operation.

Profiles (cProfile) one batch of `--window` BFCL requests that are neighbours in the length-sorted set (what
one of the evaluation's sorted chunks gives the backend), after an unprofiled warm-up batch of the next
`--window` neighbours (so the process's memory is warm, as in the middle of a full run). Then groups the
time: by stage (prefill, static-cache set-up, decode, stop checks) and by operation (the matmul kernels vs
everything around them). The kernels' share bounds what removing overhead alone could gain.

    .venv/bin/python bench/eval_profile.py --dtype bfloat16 --max-new-tokens 128   # the docs' numbers
    .venv/bin/python bench/eval_profile.py --window 16 --max-new-tokens 16          # a quick check

Prints tables and writes bench/results/eval_profile.json.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

from open_toolace.generation import Sampling

_BENCH = str(Path(__file__).resolve().parent)
if _BENCH not in sys.path:  # a test that loads this file by path has no bench/ on sys.path
    sys.path.append(_BENCH)

from _results import machine, stamp  # noqa: E402

# Operation groups: a profile entry belongs to the first group whose name fragment it contains.
OPS = {
    "linear layers (matmul kernels)": ["torch._C._nn.linear"],
    "decode attention q.K, p.V (matmul kernels)": ["built-in method torch.matmul"],
    "prefill attention (sdpa kernel)": ["scaled_dot_product_attention"],
    "cache allocation and copies": ["torch.zeros", "torch.cat", "index_copy_", "'copy_'", "torch.empty"],
    "mask, softmax, dtype casts": ["where", "masked_fill", "softmax", "'float'", "'to'"],
    "norms, rotary, activations": ["'mean'", "'pow'", "rsqrt", "silu", "'mul'", "__mul__", "__add__", "neg"],
}
OTHER = "everything else (python, small ops)"
KERNELS = [name for name in OPS if "kernel" in name]
# Stages: cumulative time of these functions (they do not nest in one another).
STAGES = {
    "prefill (kv_cache.prefill)": ("kv_cache.py", "prefill"),
    "static cache set-up (kv_cache.to_static)": ("kv_cache.py", "to_static"),
    "decode (HFGenerator._decode)": ("hf.py", "_decode"),
}
STOP = ("batching.py", "__call__")  # StopOnText (generation/batching.py), inside decode


def group_times(stats: dict, total: float) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds per stage (cumulative time of the STAGES functions; "other" is the rest of `total`) and per
    OPS group (self time), from `pstats.Stats(...).stats`: (file, line, name) -> (calls, primitive calls,
    tottime, cumtime, callers)."""

    def cumtime(suffix: str, fn: str) -> float:
        return sum(v[3] for (f, _line, n), v in stats.items() if f.endswith(suffix) and n == fn)

    ops = dict.fromkeys([*OPS, OTHER], 0.0)
    for (_file, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.items():
        group = next((g for g, frags in OPS.items() if any(f in name for f in frags)), OTHER)
        ops[group] += tottime
    stages = {label: cumtime(*where) for label, where in STAGES.items()}
    stages["  of which stop checks (StopOnText)"] = cumtime(*STOP)
    stages["other"] = total - sum(v for k, v in stages.items() if not k.startswith(" "))
    return stages, ops


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="embedded:smollm2-135m")
    ap.add_argument("--dtype", default="auto", help="auto: open_toolace.hardware.resolve_dtype")
    ap.add_argument("--categories", default="non_live")
    ap.add_argument("--window", type=int, default=128, help="requests in the profiled batch")
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--json", default="bench/results/eval_profile.json")
    args = ap.parse_args(argv)

    from open_toolace.evaluate import load_bfcl, resolve_categories
    from open_toolace.evaluate.bfcl import invocation_request
    from open_toolace.evaluate.runner import longest_first
    from open_toolace.generation.hf import HFGenerator
    from open_toolace.io import atomic_write_json
    from open_toolace.models import load_model

    items = load_bfcl(resolve_categories(args.categories))
    reqs = [invocation_request(it) for it in items]
    reqs = [reqs[i] for i in longest_first(reqs)]  # the order the evaluation runner generates in
    mid = max(0, (len(reqs) - 2 * args.window) // 2)
    profiled, warm = reqs[mid : mid + args.window], reqs[mid + args.window : mid + 2 * args.window]
    model, tok = load_model(args.model, dtype=args.dtype)
    gen = HFGenerator(model_obj=model, tokenizer=tok, batch_size=args.window)
    kw = {"sampling": Sampling(max_new_tokens=args.max_new_tokens), "progress": False}
    gen.generate(warm or profiled, **kw)

    prof = cProfile.Profile()
    t = time.perf_counter()
    prof.enable()
    outs = gen.generate(profiled, **kw)
    prof.disable()
    total = time.perf_counter() - t
    stages, ops = group_times(pstats.Stats(prof).stats, total)
    kernel_share = sum(ops[k] for k in KERNELS) / sum(ops.values())
    result = {
        "model": args.model,
        "dtype": args.dtype,
        "window": len(profiled),
        "max_new_tokens": args.max_new_tokens,
        "new_tokens": gen.count_tokens([o[0] for o in outs]),
        "seconds": round(total, 1),
        "stages_seconds": {k: round(v, 1) for k, v in stages.items()},
        "operations_seconds": {k: round(v, 1) for k, v in ops.items()},
        "kernel_share": round(kernel_share, 3),
        "machine": machine(args.dtype),
        **stamp("eval_profile.py", argv),
    }
    out = atomic_write_json(Path(args.json), result)
    print(f"\n{len(profiled)} sorted neighbours of BFCL {args.categories}, {args.dtype}, "
          f"max {args.max_new_tokens} new tokens: {total:.1f} s under cProfile")  # fmt: skip
    for title, table in (("stage", stages), ("operation (self time)", ops)):
        print(f"\n{title:<46}{'seconds':>9}{'share':>8}")
        for k, v in table.items():
            print(f"{k:<46}{v:>9.1f}{100 * v / total:>7.0f}%")
    print(f"\nmatmul kernels: {100 * kernel_share:.0f}% of the time; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
