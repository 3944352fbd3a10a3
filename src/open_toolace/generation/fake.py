"""A canned-answer Generator for tests of everything downstream of generation (vote, eval, evolve).

gen = FakeGenerator(["[f(a=1)]", "[]"])                     # answers cycled in order, one per completion
gen = FakeGenerator(lambda messages, k: "[f(a=1)]")          # computed from the request and sample index
gen = FakeGenerator(lambda messages, k, sampling: ...)       # ... and the request's Sampling
gen.generate([msgs], Sampling(n=2))  -> [["[f(a=1)]", "[]"]]
gen.calls                  -> every generate() call's requests and settings, for assertions
gen = FakeGenerator(script, fallback=real)                   # script returns None: `real` answers that request
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from open_toolace.generation import GREEDY, Generator, Message, Sampling, trim_completion


class FakeGenerator:
    def __init__(
        self,
        responses: Callable[..., str | None] | Sequence[str] | str = "[]",
        fallback: Generator | None = None,
    ):
        if isinstance(responses, str):
            responses = [responses]
        if not callable(responses) and not responses:
            raise ValueError("FakeGenerator needs at least one response")
        self.responses = responses
        self.fallback = fallback
        self.calls: list[dict[str, Any]] = []
        self._next = 0
        self._arity = 0
        if callable(responses):
            params = inspect.signature(responses).parameters.values()
            positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            varargs = any(p.kind == p.VAR_POSITIONAL for p in params)
            self._arity = 3 if varargs else max(1, min(3, len(positional)))

    def _one(self, messages: list[Message], k: int, sampling: Sampling) -> str | None:
        if callable(self.responses):
            out = self.responses(*(messages, k, sampling)[: self._arity])
        else:
            out = self.responses[self._next % len(self.responses)]
            self._next += 1
        if out is None and self.fallback is not None:
            return None
        if not isinstance(out, str):
            raise TypeError(f"FakeGenerator response must be a str, got {type(out).__name__}")
        return out

    def generate(
        self,
        requests: list[list[Message]],
        sampling: Sampling = GREEDY,
        progress: bool = True,
    ) -> list[list[str]]:
        n, temperature, top_k, top_p, max_new_tokens, stop, seed = sampling.astuple()
        self.calls.append(
            {
                "requests": requests,
                "sampling": sampling,
                "n": n,
                "temperature": temperature,
                "top_k": top_k,
                "top_p": top_p,
                "max_new_tokens": max_new_tokens,
                "stop": stop,
                "seed": seed,
            }
        )
        outs = [[self._one(msgs, k, sampling) for k in range(n)] for msgs in requests]
        passed = [i for i, o in enumerate(outs) if any(x is None for x in o)]
        if passed:  # only with a fallback (else _one raised): one batched call for every request left to it
            assert self.fallback is not None
            answers = self.fallback.generate([requests[i] for i in passed], sampling, progress)
            for i, o in zip(passed, answers, strict=True):
                outs[i] = o
        return [[trim_completion(x, stop) for x in o] for o in outs]
