"""What this machine runs fast, decided in one place: the dtype behind `dtype: auto` and the torch thread count
behind `threads: auto`, plus the machine record every benchmark JSON and run report carries.

Why it matters: on a CPU without native bf16 dot products (AVX2 only: most laptops, many cloud CPUs) a bf16
matmul ran ~75x slower than fp32 (1 vs 74 GFLOP/s, one thread), while with AVX512-BF16 / AMX bf16 is the
fast one. So bf16 is chosen only on CUDA with bf16, or on a CPU whose flags have `avx512_bf16` / `amx_bf16`
*and* whose kernels may use them: `ATEN_CPU_CAPABILITY=avx2` (torch's kernels) or a `ONEDNN_MAX_CPU_ISA`
below the bf16 ISAs (oneDNN's matmuls) make bf16 slow again, and are honoured. To see an AVX2-only CPU's
speed on an AVX-512 machine, cap all three libraries: `ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
MKL_ENABLE_INSTRUCTIONS=AVX2` (MKL runs torch's fp32 GEMMs and ignores the other two).

    from open_toolace.hardware import resolve_dtype, machine_info
    resolve_dtype("auto", "cpu")     # "bfloat16" on an AVX512-BF16 / AMX CPU, else "float32"
"""

from __future__ import annotations

import functools
import os
import platform
import time
from typing import Any

DTYPES = ("auto", "float32", "bfloat16", "float16")
_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
# oneDNN ISA caps (ONEDNN_MAX_CPU_ISA) at or above which it has bf16 kernels; anything else caps below them
_ONEDNN_BF16_ISAS = ("ALL", "AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX10")


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> tuple[str, frozenset[str]]:
    """(model name, flags) from /proc/cpuinfo; ('', {}) where there is none (macOS, Windows)."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return platform.processor() or "", frozenset()
    name, flags = "", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not name:
            name = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = frozenset(value.split())
    return name, flags


def _torch_capability() -> str:
    import torch

    return str(torch.backends.cpu.get_cpu_capability())  # "AVX2", "AVX512", ...; follows ATEN_CPU_CAPABILITY


def cpu_has_native_bf16() -> bool:
    """Native bf16 dot products on this CPU, and nothing in the environment keeps the kernels from them."""
    _, flags = _cpuinfo()
    if not any(f in flags for f in _BF16_FLAGS):
        return False
    if not _torch_capability().upper().startswith("AVX512"):
        return False
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    return not isa or isa.startswith(_ONEDNN_BF16_ISAS)


def bf16_is_fast(device: str = "auto") -> bool:
    """bf16 is the fast dtype here: CUDA with bf16, or a CPU with native bf16 (`cpu_has_native_bf16`)."""
    import torch

    if device in ("auto", "cuda") and torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    return cpu_has_native_bf16()


def resolve_dtype(dtype: str | None, device: str = "auto") -> str:
    """`auto` (or None) -> `bfloat16` where `bf16_is_fast(device)`, else `float32`; other names normalised."""
    d = _ALIASES.get(dtype or "auto", dtype or "auto")
    if d not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    if d != "auto":
        return d
    return "bfloat16" if bf16_is_fast(device) else "float32"


def resolve_threads(threads: int | str | None, busy: float | None = None) -> int:
    """`auto` -> all cores on a quiet machine, one fewer per core that other processes keep busy (min 1).

    Measured (bench/threads.py, 2 cores): quiet, 2 threads ran 1.7x faster than 1; beside one busy process,
    1 thread ran 1.6x faster than 2, because torch's threads meet at a barrier after every op and wait for
    the one that was descheduled. `busy`: cores' worth of CPU time other processes use (default: measured
    over 0.3 s from /proc/stat when first asked, then kept for the process: later our own work counts too).
    """
    if threads not in (None, "auto"):
        n = int(threads)
        if n < 1:
            raise ValueError(f"threads must be >= 1 or 'auto', got {threads!r}")
        return n
    cores = os.cpu_count() or 1
    if busy is None:
        busy = _busy_cores()
    return max(1, cores - int(busy + BUSY_SLACK))


BUSY_SLACK = 0.3  # a core at >= 70% use by others counts as taken (a spinning job reads ~1.0, idle ~0.05)


@functools.lru_cache(maxsize=1)
def _busy_cores(window: float = 0.3) -> float:
    """Cores' worth of CPU time in use over `window` seconds (this process idles meanwhile)."""

    def snapshot() -> tuple[int, int] | None:
        try:
            with open("/proc/stat") as f:
                fields = [int(x) for x in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields), idle

    a = snapshot()
    if a is None:
        try:
            return max(0.0, os.getloadavg()[0])
        except (AttributeError, OSError):
            return 0.0
    time.sleep(window)
    b = snapshot()
    total, idle = b[0] - a[0], b[1] - a[1]
    return (os.cpu_count() or 1) * (total - idle) / total if total > 0 else 0.0


def apply_threads(threads: int | str | None) -> int:
    """Set torch's intra-op threads from a setting (`auto` or a number); None leaves them as they are.
    Returns the count in effect."""
    import torch

    if threads is None:
        return torch.get_num_threads()
    n = resolve_threads(threads)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def machine_info(dtype: str | None = None) -> dict[str, Any]:
    """The record stored with every number: CPU model, native bf16 / AVX-512, cores, torch threads, dtype."""
    import torch

    name, flags = _cpuinfo()
    info: dict[str, Any] = {
        "cpu": name or platform.machine(),
        "cores": os.cpu_count(),
        "avx512": "avx512f" in flags,
        "native_bf16": any(f in flags for f in _BF16_FLAGS),
        "bf16_fast": cpu_has_native_bf16(),
        "torch_capability": _torch_capability(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    if dtype is not None:
        info["dtype"] = dtype
    return info


def machine_line(info: dict[str, Any]) -> str:
    """One line for a report: `Intel Xeon ... · 2 cores · native bf16 · 2 threads · float32`."""
    bf16 = (
        "native bf16"
        if info.get("bf16_fast")
        else ("bf16 flags, kernels capped" if info.get("native_bf16") else "no native bf16")
    )
    parts = [str(info.get("cpu")), f"{info.get('cores')} cores", bf16, f"{info.get('torch_threads')} threads"]
    if info.get("cuda"):
        parts.append(str(info["cuda"]))
    if info.get("dtype"):
        parts.append(str(info["dtype"]))
    return " · ".join(parts)
