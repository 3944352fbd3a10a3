"""Batched transformers generation: the `hf` backend, built for CPU sampling (self-evolution draws k samples
per query, so throughput matters more than latency).

What makes it fast compared with one `generate` call per prompt and sample:
- prompts are sorted by length and batched (`batch_size` prompts, at most `max_batch_tokens` rows x length),
  left-padded so every row's last prompt token lines up with the first new token;
- the prompt is run through the model once per prompt, then its KV cache is repeated `n` times
  (`num_return_sequences` would re-run the prompt `n` times; the prompt is most of the FLOPs here);
- rows stop at EOS, at a stop string, or right after the `]` closing a leading call list
  (`stop_at_call_end`), and a batch ends when all its rows have stopped.

Reproducible: each batch is seeded from `seed` and its index under a forked RNG, so the same requests with the
same seed and settings give the same completions (the caller's global RNG is left alone).

    from open_toolace.generation.hf import HFGenerator
    gen = HFGenerator("embedded:smollm2-135m")
    gen.generate([messages], n=5, temperature=1.0, top_k=50, max_new_tokens=64)
"""

from __future__ import annotations

from typing import Any

from open_toolace.generation import Message, call_list_end, trim_completion
from open_toolace.prompts import apply_chat_template


def plan_batches(
    lengths: list[int], n: int, max_new_tokens: int, batch_size: int, max_batch_tokens: int | None
) -> list[list[int]]:
    """Group request indices into batches, longest first; a batch holds at most `batch_size` prompts and
    (when `max_batch_tokens` is set) at most that many row-tokens (`n` rows per prompt x padded length)."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    for i in order:
        if batches:
            cur = batches[-1]
            longest = lengths[cur[0]]  # sorted descending: the first prompt is the longest
            rows = (len(cur) + 1) * n
            fits_tokens = max_batch_tokens is None or rows * (longest + max_new_tokens) <= max_batch_tokens
            if len(cur) < batch_size and fits_tokens:
                cur.append(i)
                continue
        batches.append([i])
    return batches


class StopOnText:
    """Stopping criterion per row: a stop string appeared, or a leading call list closed."""

    def __init__(self, tokenizer: Any, prompt_len: int, stop: list[str] | None, call_end: bool):
        self.tokenizer, self.prompt_len, self.stop, self.call_end = (
            tokenizer,
            prompt_len,
            stop or [],
            call_end,
        )
        self.done: Any = None

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        if self.done is None:
            self.done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for r in range(input_ids.shape[0]):
            if self.done[r]:
                continue
            text = self.tokenizer.decode(input_ids[r, self.prompt_len :], skip_special_tokens=True)
            if any(s in text for s in self.stop) or (self.call_end and call_list_end(text) is not None):
                self.done[r] = True
        return self.done.clone()


class HFGenerator:
    def __init__(
        self,
        model: str | None = None,
        adapter: str | None = None,
        *,
        dtype: str = "auto",
        device: str = "auto",
        batch_size: int = 8,
        max_batch_tokens: int | None = 32768,
        stop_at_call_end: bool = True,
        share_prompt_cache: bool = True,
        model_obj: Any = None,
        tokenizer: Any = None,
        threads: int | None = None,
    ):
        """`model`: a spec for `models.load_model`, or pass an already loaded `model_obj` + `tokenizer`.

        `threads`: set torch's intra-op threads (process-wide). On a busy shared CPU, 1 thread was 3-8x faster
        than 2 (threads spin at every op's barrier while the other one is descheduled).
        """
        if threads:
            import torch

            torch.set_num_threads(threads)
        if model_obj is None:
            from open_toolace.models import load_model

            model_obj, tokenizer = load_model(
                model or "embedded:smollm2-135m", adapter=adapter, dtype=dtype, device=device
            )
        elif tokenizer is None:
            raise ValueError("HFGenerator(model_obj=...) also needs tokenizer=")
        self.model, self.tokenizer = model_obj, tokenizer
        self.batch_size, self.max_batch_tokens = batch_size, max_batch_tokens
        self.stop_at_call_end, self.share_prompt_cache = stop_at_call_end, share_prompt_cache
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    def _gen_config(self, n_new: int, temperature: float, top_k: int | None, top_p: float | None):
        from transformers import GenerationConfig

        base = self.model.generation_config
        eos = base.eos_token_id if base.eos_token_id is not None else self.tokenizer.eos_token_id
        kw: dict[str, Any] = {"do_sample": False}
        if temperature > 0:
            kw = {
                "do_sample": True,
                "temperature": temperature,
                "top_k": top_k or 0,
                "top_p": 1.0 if top_p is None else top_p,
            }
        return GenerationConfig(
            max_new_tokens=n_new,
            eos_token_id=eos,
            pad_token_id=self.tokenizer.pad_token_id,
            use_cache=True,
            **kw,
        )

    def _run_batch(self, ids: list[list[int]], n: int, gen_config, stop: list[str] | None) -> list[list[str]]:
        import torch
        from transformers import StoppingCriteriaList

        device = next(self.model.parameters()).device
        width = max(len(x) for x in ids)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(x)) + x for x in ids], device=device)
        mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids], device=device)
        kwargs: dict[str, Any] = {}
        if n > 1 and self.share_prompt_cache and width > 1:
            # Run all but the last prompt token once, then repeat the cache n times; generate() feeds the
            # uncached last token itself and continues from there.
            # Positions count real tokens only (as generate() does for left padding); the model's default
            # arange would shift every padded row.
            pos = (mask[:, :-1].cumsum(-1) - 1).clamp(min=0)
            with torch.no_grad():
                out = self.model(
                    input_ids=input_ids[:, :-1],
                    attention_mask=mask[:, :-1],
                    position_ids=pos,
                    use_cache=True,
                    logits_to_keep=1,  # only the cache is needed; full-vocab logits per position are costly
                )
            cache = out.past_key_values
            cache.batch_repeat_interleave(n)
            kwargs["past_key_values"] = cache
        if n > 1:
            input_ids = input_ids.repeat_interleave(n, dim=0)
            mask = mask.repeat_interleave(n, dim=0)
        criterion = StopOnText(self.tokenizer, width, stop, self.stop_at_call_end)
        with torch.no_grad():
            out_ids = self.model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                generation_config=gen_config,
                stopping_criteria=StoppingCriteriaList([criterion]),
                **kwargs,
            )
        texts = self.tokenizer.batch_decode(out_ids[:, width:], skip_special_tokens=True)
        texts = [trim_completion(t, stop, self.stop_at_call_end) for t in texts]
        return [texts[i * n : (i + 1) * n] for i in range(len(ids))]

    def generate(
        self,
        requests: list[list[Message]],
        *,
        n: int = 1,
        temperature: float = 0.0,
        top_k: int | None = None,
        top_p: float | None = None,
        max_new_tokens: int = 256,
        stop: list[str] | None = None,
        seed: int = 0,
        progress: bool = True,
    ) -> list[list[str]]:
        import torch
        from tqdm.auto import tqdm

        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if not requests:
            return []
        greedy = temperature <= 0
        n_run = 1 if greedy else n  # greedy samples are identical: decode once, copy
        gen_config = self._gen_config(max_new_tokens, temperature, top_k, top_p)
        texts = [apply_chat_template(self.tokenizer, r) for r in requests]
        ids = [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        batches = plan_batches(
            [len(x) for x in ids], n_run, max_new_tokens, self.batch_size, self.max_batch_tokens
        )
        results: list[list[str] | None] = [None] * len(requests)
        dev = next(self.model.parameters()).device
        devices = [dev] if dev.type == "cuda" else []
        bar = tqdm(total=len(requests), desc=f"generate n={n}", unit="prompt", disable=not progress)
        for b, batch in enumerate(batches):
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed((seed * 1_000_003 + b) % (2**63))
                outs = self._run_batch([ids[i] for i in batch], n_run, gen_config, stop)
            for i, o in zip(batch, outs, strict=True):
                results[i] = o * n if greedy else o
            bar.update(len(batch))
        bar.close()
        return [r for r in results if r is not None]

    def count_tokens(self, texts: list[str]) -> int:
        """Tokens in completions (for throughput numbers)."""
        return sum(len(self.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
