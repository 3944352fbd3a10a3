"""KV-cache plumbing of the `hf` backend: prefill a batch (sharing the prefix all its prompts start with), move
the cache into a preallocated `StaticCache`, and keep only some rows. Built on transformers' public cache API
(`DynamicCache`/`StaticCache`, `update`, `batch_select_indices`); `generate()` continues from these caches.

Row layout of a batch: [shared prefix][padding][the row's own tokens], attention mask 0 on the padding, and
positions that count real tokens only (what `generate()` derives from the mask), so the padding between the
prefix and a row's tokens shifts nothing. With no shared prefix that is plain left padding.
"""

from __future__ import annotations

from typing import Any

MIN_SHARED_PREFIX = 16  # tokens; below this a separate prefix forward costs more than it saves

PrefixKV = list[tuple[Any, Any]]  # per layer: keys, values of one row, (1, kv_heads, prefix_len, head_dim)


def shared_prefix_len(ids: list[list[int]], minimum: int = MIN_SHARED_PREFIX) -> int:
    """Tokens every sequence starts with, leaving each at least one of its own (generate() feeds the last prompt
    token itself); 0 when that is under `minimum`."""
    p = min(len(x) for x in ids) - 1
    first = ids[0]
    for x in ids[1:]:
        k = 0
        while k < p and x[k] == first[k]:
            k += 1
        p = k
    return p if p >= minimum else 0


def full_attention_only(config: Any) -> bool:
    """Whether every layer's cache is a plain full-attention K/V cache (no sliding window, no recurrent state):
    what prefix sharing and the static cache need."""
    from transformers import StaticCache

    try:
        layers = StaticCache(config=config, max_cache_len=1).layers
    except Exception:  # a model family whose caches StaticCache does not know
        return False
    return all(getattr(layer, "is_sliding", True) is False for layer in layers)


def prefix_kv(model: Any, prefix: list[int]) -> PrefixKV:
    """Keys and values of `prefix` (one row), per layer."""
    import torch

    device = next(model.parameters()).device
    with torch.no_grad():
        out = model(input_ids=torch.tensor([prefix], device=device), use_cache=True, logits_to_keep=1)
    return [(layer.keys, layer.values) for layer in out.past_key_values.layers]


def _prefill_rows(
    model: Any, input_ids: Any, mask: Any, prefix: PrefixKV | None, chunk: int | None
) -> tuple[Any, int]:
    """The cache of these rows, and how many padding columns after the prefix it leaves out (the columns
    before the first own token of any of these rows: padding in all of them, so nothing to compute)."""
    import torch
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    start = 0
    if prefix:
        n = input_ids.shape[0]
        for i, (k, v) in enumerate(prefix):
            cache.update(k.expand(n, -1, -1, -1).contiguous(), v.expand(n, -1, -1, -1).contiguous(), i)
        start = prefix[0][0].shape[2]
    end = input_ids.shape[1] - 1
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    own = mask[:, start:end].any(0).nonzero()
    first = start + int(own[0]) if len(own) else end
    # The cache holds columns [0, start) and [first, end); the mask the model sees must match it.
    kv_mask = torch.cat([mask[:, :start], mask[:, first:]], dim=1)
    skip = first - start
    # In column chunks: each chunk's queries attend only to the keys up to its own end, so the attention
    # skips most of the causal upper triangle (CPU SDPA with a padding mask computes every block).
    step = chunk or max(end - first, 1)
    for s in range(first, end, step):
        e = min(s + step, end)
        with torch.no_grad():
            model(
                input_ids=input_ids[:, s:e],
                attention_mask=kv_mask[:, : e - skip],
                position_ids=pos[:, s:e],
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=1,  # only the cache is needed; full-vocab logits per position are costly
            )
    return cache, skip


def _with_skipped(t: Any, rows: int, start: int, skip: int, like: Any) -> Any:
    """`t` (rows, heads, columns, dim) with `skip` zero columns put back at `start` (masked: never read)."""
    import torch

    if not skip:
        return t
    zeros = like.new_zeros(rows, like.shape[1], skip, like.shape[3])
    return zeros if t is None else torch.cat([t[:, :, :start], zeros, t[:, :, start:]], dim=2)


def prefill(
    model: Any,
    input_ids: Any,
    mask: Any,
    prefix: PrefixKV | None,
    rows: int | None = None,
    chunk: int | None = None,
) -> Any:
    """The KV cache of every column but the last (generate() feeds that one itself), or None when that is empty:
    `prefix` (the first `len` columns, shared by all rows) copied into each row, then forwards over the rest,
    `rows` rows and `chunk` columns at a time (None: all at once). A group of rows starts at its first own
    token: the padding columns before it get zeros in the cache (masked out)."""
    from transformers import DynamicCache

    step = rows or input_ids.shape[0]
    parts = [
        _prefill_rows(model, input_ids[r : r + step], mask[r : r + step], prefix, chunk)
        for r in range(0, input_ids.shape[0], step)
    ]
    if len(parts) == 1 and not parts[0][1]:
        return parts[0][0] if parts[0][0].get_seq_length() else None
    filled = [c for c, _ in parts if c.get_seq_length()]
    if not filled:
        return None
    start = prefix[0][0].shape[2] if prefix else 0
    cache = DynamicCache(config=model.config)
    for i, ref in enumerate(filled[0].layers):
        keys, values = [], []
        for r, (c, skip) in zip(range(0, input_ids.shape[0], step), parts, strict=True):
            n = min(step, input_ids.shape[0] - r)
            layer = c.layers[i] if c.get_seq_length() else None
            keys.append(_with_skipped(getattr(layer, "keys", None), n, start, skip, ref.keys))
            values.append(_with_skipped(getattr(layer, "values", None), n, start, skip, ref.values))
        cache.update(_cat(keys), _cat(values), i)
    return cache


def _cat(parts: list[Any]) -> Any:
    import torch

    return parts[0] if len(parts) == 1 else torch.cat(parts)


def to_static(cache: Any, config: Any, max_cache_len: int) -> Any:
    """The same keys/values in a preallocated cache written in place. Why: a dynamic cache concatenates every
    layer's whole K/V at every new token, which cost more than the attention itself on CPU."""
    from transformers import StaticCache

    static = StaticCache(config=config, max_cache_len=max_cache_len)
    for i, layer in enumerate(cache.layers):
        static.update(layer.keys, layer.values, i)
    return static


def select_rows(cache: Any, keep: Any) -> Any:
    """The cache of the rows `keep` (a sorted 1-D index tensor) only.

    A static cache is compacted in place: kept rows move to the front of its tensors, which are then viewed
    as the first `len(keep)` rows. Why: a new zero-filled cache plus a copy touched ~2 GB of fresh pages at
    batches of 128 (page faults cost more than the copy here)."""
    from transformers import StaticCache

    if not isinstance(cache, StaticCache):
        cache.batch_select_indices(keep)
        return cache
    rows = keep.tolist()
    if rows != sorted(rows):
        raise ValueError("select_rows: keep must be sorted")
    for layer in cache.layers:
        for t in (layer.keys, layer.values):
            for i, r in enumerate(rows):
                if i != r:  # r > i: row r is read before anything overwrites it (rows are sorted)
                    t[i].copy_(t[r])
        layer.keys, layer.values = layer.keys[: len(rows)], layer.values[: len(rows)]
    return cache
