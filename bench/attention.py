"""Benchmark: one decode step's attention on CPU — torch SDPA vs `cpu_attention.cpu_decode_attention`.

The shapes of the embedded SmolLM2-135M (9 query heads, 3 K/V heads, head dim 64) with one new token per row,
`--rows` rows and `--cached` cached tokens, with a padding mask; both in bf16 and fp32, side by side in one
run. This is why the hf backend switches sdpa models on CPU to `sdpa_cpu` (generation/cpu_attention.py).

    .venv/bin/python bench/attention.py              # 16 rows x 600 cached tokens
    .venv/bin/python bench/attention.py --rows 32 --cached 900

Prints a table and writes bench/results/attention.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from open_toolace.generation.cpu_attention import cpu_decode_attention
from open_toolace.hardware import machine_info
from open_toolace.io import atomic_write_json

_BENCH = str(Path(__file__).resolve().parent)
if _BENCH not in sys.path:  # a test that loads this file by path has no bench/ on sys.path
    sys.path.append(_BENCH)

from _results import command_line  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "attention.json"


def per_call_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t) / repeats * 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=16)
    ap.add_argument("--cached", type=int, default=600)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--json", default=str(RESULTS))
    args = ap.parse_args(argv)

    heads, kv_heads, dim = 9, 3, 64
    module = SimpleNamespace(num_key_value_groups=heads // kv_heads, is_causal=True)
    gen = torch.Generator().manual_seed(0)
    mask = torch.ones(args.rows, 1, 1, args.cached, dtype=torch.bool)
    mask[1:, ..., : args.cached // 10] = False  # left padding on all rows but the first
    rows = {}
    for dtype in (torch.bfloat16, torch.float32):
        q = torch.randn(args.rows, heads, 1, dim, generator=gen).to(dtype)
        k, v = (torch.randn(args.rows, kv_heads, args.cached, dim, generator=gen).to(dtype) for _ in range(2))
        for label, m in (("padded", mask), ("no mask", None)):
            sdpa = per_call_ms(lambda: sdpa_attention_forward(module, q, k, v, m), args.repeats)  # noqa: B023
            ours = per_call_ms(lambda: cpu_decode_attention(module, q, k, v, m), args.repeats)  # noqa: B023
            diff = sdpa_attention_forward(module, q, k, v, m)[0] - cpu_decode_attention(module, q, k, v, m)[0]
            rows[f"{str(dtype).removeprefix('torch.')}, {label}"] = {
                "sdpa_ms": round(sdpa, 3),
                "grouped_matmul_ms": round(ours, 3),
                "speedup": round(sdpa / ours, 2),
                "max_abs_diff": float(diff.abs().max()),
            }
    result = {
        "rows": args.rows,
        "cached_tokens": args.cached,
        "heads": heads,
        "kv_heads": kv_heads,
        "head_dim": dim,
        "machine": machine_info(),
        "results": rows,
        "command": command_line("attention.py", argv),
    }
    atomic_write_json(args.json, result)
    print(
        f"decode attention, {args.rows} rows x {args.cached} cached tokens, {heads}/{kv_heads} heads x {dim}"
    )
    print(f"{'':<18}{'sdpa ms':>10}{'ours ms':>10}{'speed-up':>10}{'max diff':>10}")
    for name, r in rows.items():
        print(f"{name:<18}{r['sdpa_ms']:>10.3f}{r['grouped_matmul_ms']:>10.3f}{r['speedup']:>9.2f}x"
              f"{r['max_abs_diff']:>10.1e}")  # fmt: skip
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
