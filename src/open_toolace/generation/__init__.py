"""Generation backends behind one Protocol: chat requests in, `n` completions per request out, in order.

    from open_toolace.generation import make_generator
    from open_toolace.generation import Sampling, make_generator
    gen = make_generator("hf", "embedded:smollm2-135m")            # or "openai" (a server), "vllm" (GPU)
    outs = gen.generate([messages], Sampling(n=5, temperature=1.0, top_k=50, max_new_tokens=64, seed=0))
    outs[0]  # -> 5 strings

Every backend takes the same `Sampling` (n, temperature, top_k, top_p, max_new_tokens, stop, seed); the
defaults a run samples with live in its config (`EvolveConfig.tool_sampling()` / `invocation_sampling()`,
`EvalConfig`), not in the functions that call `generate`.

Backends: `hf.HFGenerator` (batched transformers sampling on CPU/GPU), `openai.OpenAIGenerator`
(any OpenAI-compatible chat-completions server), `vllm.VLLMGenerator` (offline vLLM, optional extra),
`fake.FakeGenerator` (canned answers, for tests). Stop strings follow the OpenAI convention: the text is cut
before the first stop string. With `stop_at_call_end` (hf/openai, default on) a completion that starts with a
call list `[...]` is also cut right after the bracket that closes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

Message = dict[str, str]


@dataclass(frozen=True)
class Sampling:
    """How to sample: `n` completions per request; `temperature <= 0` is greedy (top_k / top_p unused)."""

    n: int = 1
    temperature: float = 0.0
    top_k: int | None = None
    top_p: float | None = None
    max_new_tokens: int = 256
    stop: tuple[str, ...] | None = None  # the text is cut before the first of these
    seed: int = 0
    # Repetition controls (read by backends as attributes, outside `astuple`). `stop_runaway`: end a row
    # that loops (`is_runaway`) instead of decoding it to the cap (None: the backend's own default).
    # `repetition_penalty` (hf, vllm; >1 penalises tokens already in the prompt or the text): off by
    # default, since a tool list or call list repeats `"type": "string"`-like tokens by design.
    stop_runaway: bool | None = None
    repetition_penalty: float | None = None

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.repetition_penalty is not None and self.repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")
        if self.stop is not None and not isinstance(self.stop, tuple):
            object.__setattr__(self, "stop", tuple(self.stop))  # lists from configs; frozen stays hashable

    def astuple(self) -> tuple:
        """`(n, temperature, top_k, top_p, max_new_tokens, stop, seed)`, for a backend to unpack."""
        stop = list(self.stop) if self.stop else None
        return self.n, self.temperature, self.top_k, self.top_p, self.max_new_tokens, stop, self.seed

    def with_(self, **changes: Any) -> Sampling:
        """A copy with some fields changed (`GREEDY.with_(max_new_tokens=128)`)."""
        return replace(self, **changes)


GREEDY = Sampling()


@runtime_checkable
class Generator(Protocol):
    def generate(
        self, requests: list[list[Message]], sampling: Sampling = GREEDY, progress: bool = True
    ) -> list[list[str]]:
        """`sampling.n` completions (assistant text) for each request, in request order."""
        ...


def call_list_end(text: str) -> int | None:
    """Index just past the `]` closing a call list that `text` starts with (after whitespace), else None.

    Brackets/parentheses/braces inside quoted strings are ignored, so `[f(a="x]")]` ends at the last `]`.
    """
    i = len(text) - len(text.lstrip())
    if i >= len(text) or text[i] != "[":
        return None
    depth, quote, escape = 0, "", False
    for j in range(i, len(text)):
        c = text[j]
        if quote:
            if escape:
                escape = False
            elif c == "\\":
                escape = True
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return j + 1
    return None


def is_runaway(tokens: Sequence[int], repeats: int = 8, min_span: int = 16, max_period: int = 24) -> bool:
    """True when `tokens` end in one block of 1..`max_period` tokens said `repeats`+ times in a row (and over
    at least `min_span` tokens): a row that loops (`[['BRCA1', 'BRCA1', ...`, `.get_details(...)` again and
    again) and would run to the cap. A correct answer rarely ends that way (a list of eight equal numbers
    would), so a backend may stop such a row early; whether that changes a verdict is for a benchmark to
    show on the same items. Meant to be checked at decode-segment boundaries."""
    n = len(tokens)
    for period in range(1, max_period + 1):
        span = period * max(repeats, -(-min_span // period))
        if span > n:
            break
        tail = tokens[n - span :]
        if all(tail[i] == tail[i % period] for i in range(period, span)):
            return True
    return False


def trim_completion(text: str, stop: list[str] | None = None, stop_at_call_end: bool = False) -> str:
    """Cut `text` before its first stop string and (optionally) after a leading call list's closing `]`."""
    cut = len(text)
    for s in stop or []:
        k = text.find(s)
        if s and k != -1:
            cut = min(cut, k)
    text = text[:cut]
    if stop_at_call_end:
        end = call_list_end(text)
        if end is not None:
            text = text[:end]
    return text


def make_generator(backend: str, model: str, adapter: str | None = None, **kw: Any) -> Generator:
    """Build a backend: `hf` (kw: dtype, device, batch_size, max_batch_tokens, ...), `openai` (kw: base_url,
    api_key, concurrency, ...), `vllm` (kw: tensor_parallel_size, ...), `fake` (kw: responses)."""
    if backend == "hf":
        from open_toolace.generation.hf import HFGenerator

        return HFGenerator(model, adapter=adapter, **kw)
    if backend == "openai":
        from open_toolace.generation.openai import OpenAIGenerator

        if adapter is not None:
            # A server serves LoRA adapters under a name (vLLM: --lora-modules NAME=PATH); that name is the
            # request's model. A local dir cannot be sent to a server.
            from pathlib import Path

            if Path(adapter).exists():
                raise ValueError(
                    f"the openai backend cannot load the local adapter {adapter}; serve it (e.g. `vllm serve BASE "
                    f"--enable-lora --lora-modules NAME={adapter}`) and pass adapter=NAME or model=NAME"
                )
            model = adapter
        return OpenAIGenerator(model, **kw)
    if backend == "vllm":
        from open_toolace.generation.vllm import VLLMGenerator

        return VLLMGenerator(model, adapter=adapter, **kw)
    if backend == "fake":
        from open_toolace.generation.fake import FakeGenerator

        return FakeGenerator(**kw)
    raise ValueError(f"unknown generation backend {backend!r}; use hf, openai, vllm or fake")


__all__ = ["GREEDY", "Generator", "Message", "Sampling", "call_list_end", "make_generator", "trim_completion"]
