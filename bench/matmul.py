"""Benchmark: one-thread 512x512 matmul, fp32 vs bf16, GFLOP/s — does this CPU have fast bf16?

    python bench/matmul.py                                             # this machine as it is
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 python bench/matmul.py
                                                                       # an AVX2-only CPU's kernels

Writes bench/results/matmul[-<capability>].json with the machine record (open_toolace.hardware).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from open_toolace.hardware import machine_info, resolve_dtype
from open_toolace.io import atomic_write_json


def gflops(dtype: torch.dtype, n: int = 512, seconds: float = 1.0) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        a @ b
    count, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        a @ b
        count += 1
    return 2 * n**3 * count / (time.perf_counter() - t) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    result = {
        "benchmark": "matmul 512x512, one thread",
        "date": time.strftime("%Y-%m-%d"),
        "gflops": {"float32": round(gflops(torch.float32), 1), "bfloat16": round(gflops(torch.bfloat16), 1)},
        "auto_dtype": resolve_dtype("auto", "cpu"),
        "machine": machine_info(),
    }
    cap = result["machine"]["torch_capability"].lower()
    out = args.out or Path(__file__).resolve().parent / "results" / f"matmul-{cap}.json"
    atomic_write_json(out, result)
    print(result["gflops"], "auto ->", result["auto_dtype"], f"({cap})")


if __name__ == "__main__":
    main()
