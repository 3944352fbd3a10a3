"""Pieces of the `hf` backend's batched decoding that need no model: the batch plan (longest prompts first,
within a row-token budget), the per-row stop criterion, and the time profile a generator keeps."""

from __future__ import annotations

import time
from typing import Any

from open_toolace.generation import call_list_end


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


PROFILE_KEYS = (
    "batches", "prefill_s", "prefill_tokens", "decode_calls", "decode_steps", "decode_row_steps",
    "decode_s", "stop_check_s", "deferred_rows",
)  # fmt: skip


def new_profile() -> dict[str, float]:
    """Where HFGenerator's time goes, summed over its calls: prefill (seconds, prompt tokens past the shared
    prefix), decode (generate() calls, steps, rows x steps, seconds, of which stop_check_s is the per-row
    stop check), rows set aside (`defer_rows`). Reset it by assigning a new one."""
    return dict.fromkeys(PROFILE_KEYS, 0)


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
        self.seconds = 0.0  # time spent in this check (decoding rows to text), for HFGenerator.profile

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        t0 = time.perf_counter()
        if self.done is None:
            self.done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for r in range(input_ids.shape[0]):
            if self.done[r]:
                continue
            text = self.tokenizer.decode(input_ids[r, self.prompt_len :], skip_special_tokens=True)
            if any(s in text for s in self.stop) or (self.call_end and call_list_end(text) is not None):
                self.done[r] = True
        self.seconds += time.perf_counter() - t0
        return self.done.clone()
