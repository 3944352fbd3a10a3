"""Complexity control (ToolACE): a sample's difficulty is the target model's loss on it, the mean token
negative log-likelihood of the gold completion (the rendered calls, or `[]`) given the invocation prompt.
Samples too easy (the model already knows them) or too hard (likely noise, or beyond the model) are dropped
to rejects with their loss; the kept ones carry `meta["difficulty"]`.

    losses = completion_nll(examples, "tiny-random")              # list[float]; NaN = no loss tokens
    kept, rejects = complexity_filter(examples, losses, low=0.05, high=4.0)
    kept, rejects = complexity_filter(examples, losses, low=0.1, high=0.9, quantiles=True)
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any


def _pair(tok: Any, ex: dict, max_length: int) -> tuple[list[int], list[int]] | None:
    from open_toolace.formats import ToolCall, render_calls
    from open_toolace.prompts import apply_chat_template, render_invocation

    prompt = apply_chat_template(
        tok, render_invocation(ex["tools"], ex["messages"]), add_generation_prompt=True
    )
    completion = render_calls([ToolCall.from_dict(c) for c in ex["calls"] or []]) + (tok.eos_token or "")
    p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    c_ids = tok(completion, add_special_tokens=False)["input_ids"]
    if not c_ids or len(c_ids) >= max_length:
        return None  # the completion would be cut away: no loss tokens (NaN), dropped by the filter
    return p_ids[-(max_length - len(c_ids)) :], c_ids  # keep the end of a long prompt


@lru_cache(maxsize=1)
def _load(spec: str, dtype: str, device: str) -> tuple[Any, Any]:
    """The scoring model, kept for the next call (one synthesis run scores in several passes)."""
    from open_toolace.models import load_model

    return load_model(spec, dtype=dtype, device=device)


def completion_nll(
    examples: list[dict],
    model_spec: str = "tiny-random",
    *,
    batch_size: int = 8,
    max_length: int = 1024,
    device: str = "cpu",
    dtype: str = "float32",
    model: Any = None,
    tokenizer: Any = None,
    progress: bool = True,
) -> list[float]:
    """Mean per-token NLL of each example's completion under the model (HF transformers)."""
    import torch
    from tqdm.auto import tqdm

    if model is None or tokenizer is None:
        model, tokenizer = _load(model_spec, dtype, device)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    pairs = [_pair(tokenizer, ex, max_length) for ex in examples]
    losses = [math.nan] * len(examples)
    order = sorted((i for i, p in enumerate(pairs) if p is not None), key=lambda i: -sum(map(len, pairs[i])))
    dev = next(model.parameters()).device
    bar = tqdm(total=len(order), desc="complexity (loss)", disable=not progress)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        seqs = [pairs[i][0] + pairs[i][1] for i in idx]  # type: ignore[index]
        width = max(map(len, seqs))
        keep = max(len(pairs[i][1]) for i in idx) + 1  # type: ignore[index]
        # Left padding puts every completion at the end of its row, so only the last `keep` positions need
        # logits (a 49k vocabulary times the whole prompt would dominate the time and the memory).
        ids = torch.full((len(idx), width), pad, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for r, seq in enumerate(seqs):
            ids[r, width - len(seq) :] = torch.tensor(seq)
            mask[r, width - len(seq) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.no_grad():
            out = model(input_ids=ids.to(dev), attention_mask=mask.to(dev), position_ids=positions.to(dev),
                        logits_to_keep=keep)  # fmt: skip
        logits = out.logits[:, -keep:].float()
        logprobs = torch.log_softmax(logits[:, :-1], dim=-1)  # position j predicts token j+1 of the window
        for r, i in enumerate(idx):
            c = pairs[i][1]  # type: ignore[index]
            target = torch.tensor(c, device=logprobs.device)
            picked = logprobs[r, keep - 1 - len(c) :, :].gather(-1, target[:, None]).squeeze(-1)
            losses[i] = float(-picked.mean())
        bar.update(len(idx))
    bar.close()
    return losses


def _quantile(values: list[float], q: float) -> float:
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def complexity_filter(
    examples: list[dict], losses: list[float], low: float | None = None, high: float | None = None,
    quantiles: bool = False,
) -> tuple[list[dict], list[dict]]:  # fmt: skip
    """(kept, rejects): keep `low <= loss <= high` (bounds as quantiles of the finite losses if asked)."""
    if len(examples) != len(losses):
        raise ValueError("one loss per example")
    finite = [x for x in losses if math.isfinite(x)]
    if quantiles and finite:
        low = _quantile(finite, low) if low is not None else None
        high = _quantile(finite, high) if high is not None else None
    kept, rejects = [], []
    for ex, loss in zip(examples, losses, strict=True):
        reason = None
        if not math.isfinite(loss):
            reason = "no_loss_tokens"
        elif low is not None and loss < low:
            reason = "too_easy"
        elif high is not None and loss > high:
            reason = "too_hard"
        if reason:
            rejects.append({"reason": reason, "stage": "complexity", "loss": loss if math.isfinite(loss) else None,
                            "band": [low, high], "record": ex})  # fmt: skip
        else:
            ex = {**ex, "meta": {**ex["meta"], "difficulty": round(loss, 4)}}
            kept.append(ex)
    return kept, rejects
