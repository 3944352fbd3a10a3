"""`sdpa_cpu`: a transformers attention implementation for CPU generation — SDPA everywhere except one-token
decode steps on CPU, which run as two grouped matmuls.

Why: on these CPUs torch's bf16 SDPA kernel with a single query is slow: 1.9x the time of `q @ K^T`, softmax,
`@ V` with a padding mask and 11x without one (16 rows x 600 cached tokens; `python bench/attention.py
--repeats 300`), and decode runs it once per layer per new token. In fp32 the two are on par.
Registered through transformers' own `AttentionInterface`, so the model code is untouched; prefill, training
and GPU runs still go through `sdpa_attention_forward`.

    from open_toolace.generation.cpu_attention import use_cpu_decode_attention
    use_cpu_decode_attention(model)   # only switches a model that uses sdpa
"""

from __future__ import annotations

from typing import Any

NAME = "sdpa_cpu"
_registered = False


def cpu_decode_attention(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[Any, None]:
    """Attention with transformers' signature: query (B, H, q, D), key/value (B, KV, k, D), a boolean mask
    (B, 1, q, k) where True attends (or None); returns (B, q, H, D)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    plain = (
        query.shape[2] != 1
        or query.device.type != "cpu"
        or dropout
        or kwargs.get("softcap") is not None
        or kwargs.get("position_bias") is not None
        or (attention_mask is not None and attention_mask.dtype.is_floating_point)
    )
    if plain:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    import torch

    b, h, _, d = query.shape
    kv = key.shape[1]
    # Grouped-query attention without repeating K/V: the h // kv query heads of a group share one K/V head.
    q = query.reshape(b, kv, h // kv, d)
    scores = torch.matmul(q, key.transpose(-1, -2)).float() * (d**-0.5 if scaling is None else scaling)
    if attention_mask is not None:
        # where() rather than masked_fill(~mask): the broadcast masked_fill took 0.8 ms of a 2.6 ms
        # scores-and-softmax step at batch 128 x 556 cached tokens, where() 0.6 ms (one-off microbenchmark)
        scores = torch.where(attention_mask, scores, float("-inf"))
    probs = scores.softmax(-1).to(value.dtype)
    out = torch.matmul(probs, value)  # (b, kv, h // kv, d)
    return out.reshape(b, h, 1, d).transpose(1, 2).contiguous(), None


def register() -> str:
    """Register `sdpa_cpu` (attention + its mask, which is sdpa's boolean mask) once; returns the name."""
    global _registered
    if not _registered:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

        AttentionInterface.register(NAME, cpu_decode_attention)
        AttentionMaskInterface.register(NAME, sdpa_mask)
        _registered = True
    return NAME


def use_cpu_decode_attention(model: Any) -> bool:
    """Switch a model on CPU from `sdpa` to `sdpa_cpu`; other implementations and devices are left alone."""
    config = getattr(model, "config", None)
    on_cpu = next(model.parameters()).device.type == "cpu"
    if not on_cpu or getattr(config, "_attn_implementation", None) != "sdpa":
        return False
    model.set_attn_implementation(register())
    return True
