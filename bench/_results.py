"""The header of a bench result (how to rerun it, when, on what machine): one definition for every script."""

from __future__ import annotations

import platform
import shlex
import sys
import time
from typing import Any


def command_line(script: str, argv: list[str] | None, *, quote: bool = False) -> str:
    """`python bench/SCRIPT ARGS` (argv None: this process's arguments); quote: shell-quote each argument."""
    args = sys.argv[1:] if argv is None else list(argv)
    return f"python bench/{script} " + (shlex.join(args) if quote else " ".join(args))


def stamp(script: str, argv: list[str] | None, *, quote: bool = False) -> dict[str, str]:
    """The `command` and `date` keys a result ends with."""
    return {"command": command_line(script, argv, quote=quote), "date": time.strftime("%Y-%m-%d")}


def machine(dtype: str | None, *, torch_threads: int | None = None, python: bool = False) -> dict[str, Any]:
    """`machine_info` for the CPU dtype `dtype` resolves to, with the threads in use and the Python version."""
    from open_toolace.hardware import machine_info, resolve_dtype

    info = machine_info(resolve_dtype(dtype, "cpu"))
    if torch_threads is not None:
        info["torch_threads"] = torch_threads
    if python:
        info["python"] = platform.python_version()
    return info
