"""The `vllm` backend (optional extra `pip install open-toolace[vllm]`, needs a CUDA GPU): the offline
`vllm.LLM` engine, with a LoRA adapter served through `LoRARequest` and `n` samples per prompt from one
prefill (`SamplingParams(n=...)`; vLLM forks the prompt's KV cache).

    from open_toolace.generation.vllm import VLLMGenerator
    gen = VLLMGenerator("embedded:smollm2-135m", adapter="runs/x/adapter_r1", tensor_parallel_size=1)
    gen.generate([messages], Sampling(n=5, temperature=1.0, top_k=50, max_new_tokens=64))

Embedded/tiny specs are resolved to their cached HF checkpoint dir first (vLLM cannot read our specs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from open_toolace.generation import GREEDY, Message, Sampling, trim_completion


def _import_vllm():
    try:
        import vllm
    except ImportError as e:
        raise ImportError(
            "the vllm backend needs vLLM and a CUDA GPU: `pip install 'open-toolace[vllm]'` "
            "(or use --backend hf on CPU)"
        ) from e
    return vllm


class VLLMGenerator:
    def __init__(
        self,
        model: str,
        adapter: str | None = None,
        *,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.85,
        max_model_len: int | None = 4096,
        max_lora_rank: int = 64,
        dtype: str = "auto",
        enable_prefix_caching: bool = True,
        stop_at_call_end: bool = True,
        seed: int = 0,
        **llm_kwargs: Any,
    ):
        vllm = _import_vllm()
        from open_toolace.models import resolve_model_path, split_adapter

        base, adapter = split_adapter(model, adapter)
        self.model_path = resolve_model_path(base)
        self.stop_at_call_end = stop_at_call_end
        self.lora_request = None
        if adapter is not None:
            from vllm.lora.request import LoRARequest

            cfg = json.loads((Path(adapter) / "adapter_config.json").read_text())
            max_lora_rank = max(max_lora_rank, int(cfg.get("r", 8)))
            self.lora_request = LoRARequest(Path(adapter).name or "adapter", 1, str(Path(adapter).resolve()))
        self.llm = vllm.LLM(
            model=self.model_path,
            tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            dtype=dtype,
            enable_lora=adapter is not None,
            max_lora_rank=max_lora_rank,
            enable_prefix_caching=enable_prefix_caching,
            seed=seed,
            **llm_kwargs,
        )
        self.tokenizer = self.llm.get_tokenizer()

    def generate(
        self,
        requests: list[list[Message]],
        sampling: Sampling = GREEDY,
        progress: bool = True,
    ) -> list[list[str]]:
        from vllm import SamplingParams

        from open_toolace.prompts import apply_chat_template

        n, temperature, top_k, top_p, max_new_tokens, stop, seed = sampling.astuple()
        if not requests:
            return []
        prompts = [apply_chat_template(self.tokenizer, r) for r in requests]
        greedy = temperature <= 0
        params = [
            SamplingParams(
                n=1 if greedy else n,
                temperature=max(temperature, 0.0),
                top_k=-1 if (top_k is None or greedy) else top_k,
                top_p=1.0 if top_p is None else top_p,
                max_tokens=max_new_tokens,
                stop=list(stop) if stop else None,
                seed=seed * 1_000_003 + i,  # per request: results do not depend on batching
                **({"repetition_penalty": rp} if (rp := sampling.repetition_penalty) is not None else {}),
            )
            for i in range(len(prompts))
        ]
        outs = self.llm.generate(prompts, params, use_tqdm=progress, lora_request=self.lora_request)
        results = []
        for out in outs:  # vLLM returns outputs in input order
            texts = [trim_completion(o.text, stop, self.stop_at_call_end) for o in out.outputs]
            results.append(texts * n if greedy else texts)
        return results
