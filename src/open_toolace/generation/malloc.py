"""glibc malloc settings for CPU generation: keep freed memory in the process instead of handing it back.

Why: torch's CPU tensors come straight from `malloc`. glibc serves big blocks with `mmap` and trims the heap
top on `free`, so every batch's KV cache and every step's big temporaries come back as fresh pages that the
kernel must fault in and zero again. At batches of 128 that was ~1M page faults per batch and ~15% of the
CPU time in the kernel on the 2-core machine this project is developed on. With these settings, freed blocks
stay in the heap and the next batch reuses them (`python bench/malloc.py`: alternating processes).

The settings are process-wide and one-way (glibc has no call to restore its dynamic thresholds), like
`torch.set_num_threads`. The cost: the process keeps its peak heap instead of returning it to the OS.
Nothing happens off glibc (macOS, musl) or when the environment already sets malloc tunables.

    from open_toolace.generation.malloc import keep_freed_memory
    keep_freed_memory()   # True when applied
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

# mallopt parameter numbers from glibc's <malloc.h>
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -2, -3, -4

MMAP_THRESHOLD = 32 * 2**20  # glibc's largest: blocks up to this come from the heap and are reused
MMAP_MAX = 0  # and no block at all from mmap: a KV cache tensor at batches of 128 is over 32 MB
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
            (M_MMAP_MAX, MMAP_MAX),
            (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
            (M_TOP_PAD, TOP_PAD),
        )
    )
    _applied = ok
    return ok
