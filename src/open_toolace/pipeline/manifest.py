"""The stage machinery of a run directory: `Ctx` (run dir + manifest + the live generator) and `Ctx.stage`.

A stage is a name in the run's manifest (`seed`, `bootstrap.train`, `r1.vote`, ...). `ctx.stage(name, fn)`
runs `fn` only if the manifest does not already say the stage is done; `fn` writes its outputs atomically
(open_toolace.io) and returns a small info dict, and only then is the stage marked done. A run killed at any
point therefore redoes at most the stage it was in, and overwrites (never appends to) its files.

`StageHooks` lets a caller watch a run at the two points of every stage (`start`, `before_done`: outputs
written, marker not) and add training callbacks; the resume tests use it to kill a run at a chosen point.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console

from open_toolace import hardware
from open_toolace.generation import Generator
from open_toolace.io import Manifest

console = Console(stderr=True, highlight=False)

MakeGenerator = Callable[..., Generator]  # (backend, model, adapter=None, **backend_args) -> Generator


class StageHooks(Protocol):
    def at(self, stage: str, point: str) -> None:
        """Called at `start` and `before_done` of every stage that runs."""
        ...

    def train_callbacks(self, stage: str) -> list:
        """Extra `transformers.TrainerCallback`s for the training inside `stage`."""
        ...


class NoHooks:
    def at(self, stage: str, point: str) -> None:
        return None

    def train_callbacks(self, stage: str) -> list:
        return []


@dataclass
class Generators:
    """One live generator at a time (memory): built by `make_generator` for base model + adapter, rebuilt when
    the adapter changes, dropped before training (`release`) so no generator weights reach the trainer."""

    make_generator: MakeGenerator
    backend: str
    model: str
    backend_args: dict[str, Any] = field(default_factory=dict)
    _gen: Generator | None = field(default=None, init=False)
    _key: tuple | None = field(default=None, init=False)

    def get(self, adapter: str | Path | None) -> Generator:
        key = (self.backend, self.model, str(adapter) if adapter else None)
        if self._key != key:
            self.release()
            self._gen = self.make_generator(self.backend, self.model, adapter=key[2], **self.backend_args)
            self._key = key
        assert self._gen is not None
        return self._gen

    def release(self) -> None:
        self._gen, self._key = None, None
        gc.collect()


@dataclass
class Ctx:
    """What every stage needs besides its config: the run dir, its manifest and the live generator."""

    run_dir: Path
    manifest: Manifest
    generators: Generators
    hooks: StageHooks = field(default_factory=NoHooks)
    # "auto": torch threads are decided again at each stage's start (hardware.apply_threads), so a run that
    # started beside another job uses all cores once the machine is quiet, and the other way round
    threads: int | str | None = None

    def path(self, *parts: str) -> Path:
        return self.run_dir.joinpath(*parts)

    def rel(self, p: str | Path | None) -> str | None:
        return None if p is None else os.path.relpath(p, self.run_dir)

    def stage(self, name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if self.manifest.is_done(name):
            console.print(f"[dim]✓ {name} (done)[/dim]")
            return self.manifest.get(name) or {}
        console.print(f"[bold cyan]▶ {name}[/bold cyan]")
        if self.threads == "auto":
            hardware.apply_threads("auto")
        self.hooks.at(name, "start")
        t0 = time.perf_counter()
        info = fn() or {}
        info.setdefault("seconds", round(time.perf_counter() - t0, 2))
        self.hooks.at(name, "before_done")
        self.manifest.mark_done(name, **info)
        return self.manifest.get(name) or {}
