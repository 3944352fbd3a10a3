"""glibc malloc settings for CPU generation: keep freed memory in the process instead of handing it back.

Why: torch's CPU tensors come straight from `malloc`. glibc serves big blocks with `mmap` and trims the heap
top on `free`, so every decode step's temporaries (logits, attention scores, the prefill's activations) come
back as fresh pages that the kernel must fault in and zero again. On the 2-core machine this project is
developed on, that was 6% of the CPU time of a BFCL evaluation in the kernel (3.3M page faults for 64 items);
with these settings it took 8x fewer faults (`python bench/eval.py --malloc-ab 22`: alternating processes).

The settings are process-wide and one-way (glibc has no call to restore its dynamic thresholds), like
`torch.set_num_threads`. They cost at most `TRIM_THRESHOLD` of memory kept but unused. Nothing happens
off glibc (macOS, musl) or when the environment already sets malloc tunables.

    from open_toolace.generation.malloc import keep_freed_memory
    keep_freed_memory()   # True when applied
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

# mallopt parameter numbers from glibc's <malloc.h>
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3

MMAP_THRESHOLD = 32 * 2**20  # glibc's largest: blocks up to this come from the heap and are reused
TRIM_THRESHOLD = 2**30  # free heap top kept before glibc returns it to the OS
TOP_PAD = 64 * 2**20  # extra heap grown per brk, so growth is rare

_applied = False


def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") else None


def keep_freed_memory() -> bool:
    """Apply the settings above once per process; True when they are (now or already) in effect."""
    global _applied
    if _applied:
        return True
    if "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", "") or any(
        k.startswith("MALLOC_") for k in os.environ
    ):
        return False  # the user chose their own malloc settings
    libc = _glibc()
    if libc is None:
        return False
    ok = all(
        libc.mallopt(param, value) == 1
        for param, value in (
            (M_MMAP_THRESHOLD, MMAP_THRESHOLD),
            (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
            (M_TOP_PAD, TOP_PAD),
        )
    )
    _applied = ok
    return ok
