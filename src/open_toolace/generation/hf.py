"""Batched transformers generation: the `hf` backend, built for CPU sampling (self-evolution draws k samples
per query, so throughput matters more than latency).

What makes it fast compared with one `generate` call per prompt and sample:
- prompts are sorted by length and batched (`batch_size` prompts, at most `max_batch_tokens` rows x length);
- the tokens every prompt of a call starts with (the shared system prompt) run once, and their KV cache is
  copied into each row: rows are laid out [shared prefix][padding][own tokens], with positions counting real
  tokens only; with no shared prefix that is plain left padding;
- each prompt is prefilled once, then its KV cache is repeated `n` times (`num_return_sequences` would re-run
  the prompt `n` times; the prompt is most of the FLOPs here);
- on CPU: prefill `prefill_rows` rows and `prefill_chunk` tokens at a time, decode into a preallocated
  (static) KV cache, and run one-token attention as two matmuls (`cpu_attention.py`); bench/eval.py --levers
  measures each; glibc's malloc keeps freed memory (`malloc.py`);
- rows stop at EOS, at a stop string, right after the `]` closing a leading call list
  (`stop_at_call_end`); decoding runs in segments of `decode_segment` tokens and drops the rows that stopped;
  a batch's last few live rows are set aside and decoded with the other batches' last rows (`defer_rows`).
Batch planning, the stop criterion and the time profile are in `generation/batching.py`.

Reproducible: each batch is seeded from `seed` and its index under a forked RNG, so the same requests with the
same seed and settings give the same completions (the caller's global RNG is left alone).

    from open_toolace.generation.hf import HFGenerator
    gen = HFGenerator("embedded:smollm2-135m")
    gen.generate([messages], Sampling(n=5, temperature=1.0, top_k=50, max_new_tokens=64))
"""

from __future__ import annotations

import time
from typing import Any

from open_toolace.generation import GREEDY, Message, Sampling, is_runaway, kv_cache, trim_completion
from open_toolace.generation.batching import StopOnText, new_profile, plan_batches
from open_toolace.generation.cpu_attention import use_cpu_decode_attention
from open_toolace.generation.malloc import keep_freed_memory
from open_toolace.prompts import apply_chat_template


class HFGenerator:
    def __init__(
        self,
        model: str | None = None,
        adapter: str | None = None,
        *,
        dtype: str = "auto",
        device: str = "auto",
        batch_size: int = 8,
        max_batch_tokens: int | None = 163840,
        stop_at_call_end: bool = True,
        share_prompt_cache: bool = True,
        share_prefix: bool = True,
        static_cache: bool | None = None,
        prefill_rows: int | None = 8,
        prefill_chunk: int | None = 256,
        decode_segment: int | None = 32,
        stop_runaway: bool = False,
        defer_rows: int | None = 8,
        cpu_attention: bool = True,
        tune_malloc: bool = True,
        model_obj: Any = None,
        tokenizer: Any = None,
        threads: int | None = None,
        merge_adapter: bool = True,
    ):
        """`model`: a spec for `models.load_model`, or pass an already loaded `model_obj` + `tokenizer`.
        `merge_adapter`: fold a LoRA `adapter` into the base weights (`models.load_model`): the same model,
        without the adapter's extra matmuls at every layer and step.

        `share_prefix`: run the tokens all requests of a call start with (a shared system prompt) once, not
        once per row. `static_cache`: a preallocated KV cache (default: on CPU). Both need a model whose layers
        all use full attention (not Gemma-3's sliding windows); otherwise they are off. `prefill_rows`: with
        the static cache, prompts are prefilled this many rows at a time and decoded all together, and
        `prefill_chunk` tokens at a time (each chunk attends only to the keys before its end).
        `decode_segment`: decode this many tokens at a time and drop the rows that stopped in between (None:
        one generate() call). `stop_runaway`: the default of `Sampling.stop_runaway`: at each segment
        boundary, also stop a row whose new tokens end in one block repeated 8+ times (`is_runaway`: a loop
        that would run to the cap); `runaway_stops` counts them. `defer_rows`: when a batch is down to this
        many live rows at a segment boundary and the call has more batches, its last rows are set aside and
        decoded together with the other batches' last rows at the end (prompt + tokens so far prefilled again),
        so a few long rows do not each keep a batch's decode steps running alone (None: off).
        `cpu_attention`: decode steps on CPU use `cpu_attention.cpu_decode_attention`
        (switches an sdpa model, process-wide). `tune_malloc`: on CPU, keep freed memory in the process
        (`malloc.keep_freed_memory`, process-wide) rather than fault it in again at every step.
        `threads`: set torch's intra-op threads (process-wide). On a busy shared CPU, 1 thread was 3-8x faster
        than 2 (threads spin at every op's barrier while the other one is descheduled).
        """
        if threads:
            import torch

            torch.set_num_threads(threads)
        if model_obj is None:
            from open_toolace.models import load_model

            model_obj, tokenizer = load_model(
                model or "embedded:smollm2-135m",
                adapter=adapter,
                dtype=dtype,
                device=device,
                merge_adapter=merge_adapter,
            )
        elif tokenizer is None:
            raise ValueError("HFGenerator(model_obj=...) also needs tokenizer=")
        self.model, self.tokenizer = model_obj, tokenizer
        self.dtype = str(next(self.model.parameters()).dtype).removeprefix(
            "torch."
        )  # what `auto` resolved to
        self.batch_size, self.max_batch_tokens = batch_size, max_batch_tokens
        self.stop_at_call_end, self.share_prompt_cache = stop_at_call_end, share_prompt_cache
        full = kv_cache.full_attention_only(self.model.config)
        on_cpu = next(self.model.parameters()).device.type == "cpu"
        # On GPU, generate() would torch.compile a static cache's forward anew for every batch shape.
        self.static_cache = full and (on_cpu if static_cache is None else static_cache)
        self.share_prefix = full and share_prefix
        self.prefill_rows, self.decode_segment = prefill_rows, decode_segment
        self.prefill_chunk = prefill_chunk
        self.stop_runaway, self.runaway_stops = stop_runaway, 0
        self.defer_rows = defer_rows
        self.profile = new_profile()
        if cpu_attention:
            use_cpu_decode_attention(self.model)
        if tune_malloc and on_cpu:
            keep_freed_memory()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    def _gen_config(
        self,
        n_new: int,
        temperature: float,
        top_k: int | None,
        top_p: float | None,
        repetition_penalty: float | None = None,
    ):
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
        if repetition_penalty is not None:
            kw["repetition_penalty"] = repetition_penalty
        return GenerationConfig(
            max_new_tokens=n_new,
            eos_token_id=eos,
            pad_token_id=self.tokenizer.pad_token_id,
            use_cache=True,
            **kw,
        )

    def _run_batch(
        self,
        ids: list[list[int]],
        n: int,
        gen_config,
        stop: list[str] | None,
        prefix: kv_cache.PrefixKV | None = None,
        runaway: bool = False,
        generated: int = 0,
        defer: int = 0,
    ) -> tuple[list[list[str | None]], list[tuple[int, list[int]]]]:
        """Texts per prompt (n each; None for a row set aside) and the rows set aside as (row, new token
        ids). `generated`: the last this-many tokens of every prompt are the row's own earlier
        output (a set-aside row going on), so they belong to its text."""
        import torch

        device = next(self.model.parameters()).device
        p = prefix[0][0].shape[2] if prefix else 0
        tail = max(len(x) for x in ids) - p
        pad = self.tokenizer.pad_token_id
        # [shared prefix][padding][the row's own tokens]: with no shared prefix this is plain left padding, so
        # every row's last prompt token lines up with the first new token.
        input_ids = torch.tensor([x[:p] + [pad] * (tail + p - len(x)) + x[p:] for x in ids], device=device)
        mask = torch.tensor(
            [[1] * p + [0] * (tail + p - len(x)) + [1] * (len(x) - p) for x in ids], device=device
        )
        width = p + tail
        share = n > 1 and self.share_prompt_cache
        if n > 1 and not share:
            input_ids, mask = input_ids.repeat_interleave(n, dim=0), mask.repeat_interleave(n, dim=0)
        # The GPU path prefills all rows and columns at once.
        rows, chunk = (self.prefill_rows, self.prefill_chunk) if self.static_cache else (None, None)
        t0 = time.perf_counter()
        cache = kv_cache.prefill(self.model, input_ids, mask, prefix, rows, chunk)
        if share:
            # The prompt ran once per prompt; its cache is repeated n times (num_return_sequences would run it n times).
            input_ids, mask = input_ids.repeat_interleave(n, dim=0), mask.repeat_interleave(n, dim=0)
            if cache is not None:
                cache.batch_repeat_interleave(n)
        if cache is not None and self.static_cache:
            cache = kv_cache.to_static(cache, self.model.config, width + gen_config.max_new_tokens)
        prof = self.profile
        prof["batches"] += 1
        prof["prefill_s"] += time.perf_counter() - t0
        prof["prefill_tokens"] += sum(len(x) - p for x in ids) * (n if n > 1 and not share else 1)
        texts, deferred = self._decode(
            input_ids, mask, cache, width - generated, gen_config, stop, runaway, defer
        )
        texts = [None if t is None else trim_completion(t, stop, self.stop_at_call_end) for t in texts]
        return [texts[i * n : (i + 1) * n] for i in range(len(ids))], deferred

    def _decode(
        self,
        input_ids,
        mask,
        cache,
        width: int,
        gen_config,
        stop: list[str] | None,
        runaway: bool,
        defer: int = 0,
    ) -> tuple[list[str | None], list[tuple[int, list[int]]]]:
        """generate() in segments of `decode_segment` tokens; rows that stopped are dropped between segments
        (generate() itself keeps computing a finished row until the whole batch has stopped). With `defer`,
        once at most that many rows are live (and fewer than at the start) they are returned, unfinished, as
        (row, new token ids) instead."""
        import copy

        import torch
        from transformers import StoppingCriteriaList

        eos = gen_config.eos_token_id
        eos = torch.tensor(eos if isinstance(eos, list) else [eos], device=input_ids.device)
        rows = list(range(input_ids.shape[0]))  # original row of each current row
        texts: list[str | None] = [""] * len(rows)
        deferred: list[tuple[int, list[int]]] = []
        left = gen_config.max_new_tokens
        while rows:
            seg = min(left, self.decode_segment or left)
            cfg = copy.deepcopy(gen_config)
            cfg.max_new_tokens, cfg.return_dict_in_generate = seg, True  # the result carries the cache
            criterion = StopOnText(self.tokenizer, width, stop, self.stop_at_call_end)
            t0 = time.perf_counter()
            with torch.no_grad():
                res = self.model.generate(
                    input_ids=input_ids,
                    attention_mask=mask,
                    generation_config=cfg,
                    stopping_criteria=StoppingCriteriaList([criterion]),
                    **({"past_key_values": cache} if cache is not None else {}),
                )
            out, cache = res.sequences, res.past_key_values
            steps = out.shape[1] - input_ids.shape[1]
            prof = self.profile
            prof["decode_s"] += time.perf_counter() - t0
            prof["decode_calls"] += 1
            prof["decode_steps"] += steps
            prof["decode_row_steps"] += steps * out.shape[0]
            prof["stop_check_s"] += criterion.seconds
            left -= steps
            new = out[:, input_ids.shape[1] :]
            stopped = torch.isin(new, eos).any(-1)
            if criterion.done is not None:
                stopped |= criterion.done
            if runaway:
                for r in (~stopped).nonzero().flatten().tolist():
                    if is_runaway(out[r, width:].tolist()):
                        stopped[r] = True
                        self.runaway_stops += 1
            if left <= 0 or bool(stopped.all()) or new.shape[1] < seg:
                stopped[:] = True
            done = stopped.nonzero().flatten().tolist()  # decode only these: the others go on
            if done:
                decoded = self.tokenizer.batch_decode(out[done, width:], skip_special_tokens=True)
                for r, text in zip(done, decoded, strict=True):
                    texts[rows[r]] = text
            keep = (~stopped).nonzero().flatten()
            if len(keep) == 0:
                break
            if len(keep) <= defer and len(keep) < len(texts):
                for r in keep.tolist():
                    texts[rows[r]] = None
                    deferred.append((rows[r], out[r, width:].tolist()))
                self.profile["deferred_rows"] += len(keep)
                break
            rows = [rows[r] for r in keep.tolist()]
            # Continue from the full sequences: the cache holds all but the last new token, fed next time.
            input_ids = out[keep]
            mask = torch.cat([mask, mask.new_ones(mask.shape[0], new.shape[1])], dim=1)[keep]
            if len(keep) < len(stopped):
                cache = kv_cache.select_rows(cache, keep)
        return texts, deferred

    def generate(
        self,
        requests: list[list[Message]],
        sampling: Sampling = GREEDY,
        progress: bool = True,
    ) -> list[list[str]]:
        import copy

        import torch
        from tqdm.auto import tqdm

        n, temperature, top_k, top_p, max_new_tokens, stop, seed = sampling.astuple()
        if not requests:
            return []
        greedy = temperature <= 0
        n_run = 1 if greedy else n  # greedy samples are identical: decode once, copy
        gen_config = self._gen_config(max_new_tokens, temperature, top_k, top_p, sampling.repetition_penalty)
        runaway = self.stop_runaway if sampling.stop_runaway is None else sampling.stop_runaway
        texts = [apply_chat_template(self.tokenizer, r) for r in requests]
        ids = [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        batches = plan_batches(
            [len(x) for x in ids], n_run, max_new_tokens, self.batch_size, self.max_batch_tokens
        )
        p = kv_cache.shared_prefix_len(ids) if self.share_prefix else 0
        prefix = kv_cache.prefix_kv(self.model, ids[0][:p]) if p else None
        results: list[list[str] | None] = [None] * len(requests)
        dev = next(self.model.parameters()).device
        devices = [dev] if dev.type == "cuda" else []
        bar = tqdm(total=len(requests), desc=f"generate n={n}", unit="prompt", disable=not progress)
        defer = (self.defer_rows or 0) if len(batches) > 1 else 0
        # tokens written so far -> (request, sample, new ids): rows set aside at the same boundary go on together
        pending: dict[int, list[tuple[int, int, list[int]]]] = {}
        for b, batch in enumerate(batches):
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed((seed * 1_000_003 + b) % (2**63))
                outs, deferred = self._run_batch(
                    [ids[i] for i in batch], n_run, gen_config, stop, prefix, runaway, defer=defer
                )
            for i, o in zip(batch, outs, strict=True):
                results[i] = o * n if greedy else o
            for row, new in deferred:
                pending.setdefault(len(new), []).append((batch[row // n_run], row % n_run, new))
            bar.update(len(batch))
        # The rows set aside, all batches' together: each goes on from its prompt + the tokens it wrote.
        for g, (written, rows) in enumerate(sorted(pending.items())):
            cfg = copy.deepcopy(gen_config)
            cfg.max_new_tokens = max_new_tokens - written
            conts = [ids[i] + new for i, _, new in rows]
            plan = plan_batches(
                [len(x) for x in conts], 1, cfg.max_new_tokens, self.batch_size, self.max_batch_tokens
            )
            for s, order in enumerate(plan):
                part = [rows[k] for k in order]
                with torch.random.fork_rng(devices=devices):
                    torch.manual_seed((seed * 1_000_003 + len(batches) + 7919 * g + s) % (2**63))
                    outs, _ = self._run_batch(
                        [conts[k] for k in order], 1, cfg, stop, prefix, runaway, written
                    )
                for (i, j, _), (text,) in zip(part, outs, strict=True):
                    if greedy:
                        results[i] = [text] * n
                    else:
                        results[i][j] = text
        bar.close()
        return [r for r in results if r is not None]

    def count_tokens(self, texts: list[str]) -> int:
        """Tokens in completions (for throughput numbers)."""
        return sum(len(self.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
