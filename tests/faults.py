"""Failure injection for the resume tests: a `pipeline.manifest.StageHooks` that stops a run at one point.

`FailAt("r1.tools")` raises `InjectedFailure` when that stage's outputs are written but its marker is not;
`FailAt("r1.train", "start")` when it starts; `FailAt("bootstrap.train", "step1")` right after training
checkpoint 1 is saved; `kill=True` SIGKILLs the process instead of raising.
"""

from __future__ import annotations

import os
import signal


class InjectedFailure(RuntimeError):
    pass


class FailAt:
    def __init__(self, stage: str, point: str = "before_done", kill: bool = False):
        self.stage, self.point, self.kill = stage, point, kill

    @classmethod
    def parse(cls, spec: str) -> FailAt:
        """`stage[:point][:kill]`, e.g. `bootstrap.train:step1:kill`."""
        parts = spec.split(":")
        kill = parts[-1] == "kill"
        parts = parts[:-1] if kill else parts
        return cls(parts[0], parts[1] if len(parts) > 1 else "before_done", kill)

    def _fail(self) -> None:
        if self.kill:
            os.kill(os.getpid(), signal.SIGKILL)
        raise InjectedFailure(f"injected failure at {self.stage}:{self.point}")

    def at(self, stage: str, point: str) -> None:
        if (stage, point) == (self.stage, self.point):
            self._fail()

    def train_callbacks(self, stage: str) -> list:
        if stage != self.stage or not self.point.startswith("step"):
            return []
        from transformers import TrainerCallback

        step, fail = int(self.point[4:]), self._fail

        class Fail(TrainerCallback):
            def on_save(self, args, state, control, **kw):
                if state.global_step == step:
                    fail()

        return [Fail()]
