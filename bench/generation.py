"""Benchmark: the self-evolution sampling workload through the batched `hf` backend vs a naive loop.

Workload: invocation prompts built from BFCL simple_python + multiple questions (prompts.render_invocation),
n samples each at T=1.0, top_k=50. Both sides run on the same model in the same process, with the same
stopping rules (EOS, or the `]` closing a leading call list), so the ratio measures batching + the shared
prompt cache, not a different stopping rule.
  - naive: one prompt, one sample, one `model.generate` call at a time;
  - hf:    HFGenerator.generate(all prompts, n=...) (length-sorted left-padded batches, prompt prefilled
           once per prompt and its KV cache repeated n times).

    nice .venv/bin/python bench/generation.py            # 32 prompts x 5 samples, 64 new tokens (~10+ min)
    nice .venv/bin/python bench/generation.py --quick    # 8 prompts x 5 samples, 32 new tokens
    ... --dtype bfloat16                                 # also time the hf backend in bf16 (AVX512-BF16)

Prints a table and writes bench/results/generation.json.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import platform
import time
from pathlib import Path

import torch

from open_toolace.generation import Sampling
from open_toolace.generation.batching import StopOnText
from open_toolace.generation.hf import HFGenerator
from open_toolace.hardware import machine_info
from open_toolace.io import atomic_write_json
from open_toolace.models import DEFAULT_MODEL, load_model
from open_toolace.prompts import apply_chat_template, render_invocation

RESULTS = Path(__file__).resolve().parent / "results" / "generation.json"


def bfcl_requests(count: int) -> list[list[dict]]:
    """`count` invocation prompts, half from simple_python and half from multiple (first items of each)."""
    data = importlib.resources.files("bfcl_eval") / "data"
    per = {"simple_python": (count + 1) // 2, "multiple": count // 2}
    requests = []
    for category, k in per.items():
        lines = (data / f"BFCL_v4_{category}.json").read_text(encoding="utf-8").splitlines()
        for line in lines[:k]:
            item = json.loads(line)
            requests.append(render_invocation(item["function"], item["question"][0]))
    return requests


def run_naive(model, tok, requests, n, max_new_tokens, top_k, seed) -> tuple[float, list[str]]:
    from transformers import GenerationConfig, StoppingCriteriaList

    cfg = GenerationConfig(
        do_sample=True,
        temperature=1.0,
        top_k=top_k,
        max_new_tokens=max_new_tokens,
        eos_token_id=model.generation_config.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    texts = []
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    for messages in requests:
        ids = tok(apply_chat_template(tok, messages), return_tensors="pt", add_special_tokens=False)
        width = ids["input_ids"].shape[1]
        for _ in range(n):
            stop = StoppingCriteriaList([StopOnText(tok, width, None, call_end=True)])
            with torch.no_grad():
                out = model.generate(**ids, generation_config=cfg, stopping_criteria=stop)
            texts.append(tok.decode(out[0, width:], skip_special_tokens=True))
    return time.perf_counter() - t0, texts


def run_hf(gen: HFGenerator, requests, n, max_new_tokens, top_k, seed) -> tuple[float, list[str]]:
    t0 = time.perf_counter()
    outs = gen.generate(
        requests,
        Sampling(n=n, temperature=1.0, top_k=top_k, max_new_tokens=max_new_tokens, seed=seed),
        progress=False,
    )
    return time.perf_counter() - t0, [t for o in outs for t in o]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--n", type=int, default=5)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--top-k", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=8, help="hf backend: prompts per batch")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--dtype", default=None, help="also time the hf backend in this dtype (e.g. bfloat16)")
    ap.add_argument("--quick", action="store_true", help="8 prompts x n, 32 new tokens")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    if args.quick:
        args.prompts, args.max_new_tokens = 8, 32
    if args.threads:
        torch.set_num_threads(args.threads)

    requests = bfcl_requests(args.prompts)
    model, tok = load_model(args.model, dtype="float32", device="cpu")
    prompt_tokens = [
        len(tok(apply_chat_template(tok, r), add_special_tokens=False)["input_ids"]) for r in requests
    ]
    gen = HFGenerator(model_obj=model, tokenizer=tok, batch_size=args.batch_size)
    kw = dict(n=args.n, max_new_tokens=args.max_new_tokens, top_k=args.top_k, seed=args.seed)

    def ntok(texts):
        return sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts)

    rows = []
    t_naive, naive_texts = run_naive(model, tok, requests, **kw)
    print(f"naive loop: {t_naive:.1f}s", flush=True)
    rows.append(
        {
            "method": "naive loop (1 prompt x 1 sample per generate)",
            "dtype": "float32",
            "seconds": t_naive,
            "completions": len(naive_texts),
            "new_tokens": ntok(naive_texts),
        }
    )
    t_hf, hf_texts = run_hf(gen, requests, **kw)
    print(f"hf backend: {t_hf:.1f}s", flush=True)
    rows.append(
        {
            "method": f"hf backend (batch {args.batch_size} prompts, shared prompt cache)",
            "dtype": "float32",
            "seconds": t_hf,
            "completions": len(hf_texts),
            "new_tokens": ntok(hf_texts),
        }
    )
    if args.dtype:
        model_b, _ = load_model(args.model, dtype=args.dtype, device="cpu")
        gen_b = HFGenerator(model_obj=model_b, tokenizer=tok, batch_size=args.batch_size)
        t_b, b_texts = run_hf(gen_b, requests, **kw)
        rows.append(
            {
                "method": f"hf backend (batch {args.batch_size} prompts, shared prompt cache)",
                "dtype": args.dtype,
                "seconds": t_b,
                "completions": len(b_texts),
                "new_tokens": ntok(b_texts),
            }
        )
    for r in rows:
        r["tokens_per_s"] = r["new_tokens"] / r["seconds"]
        r["completions_per_s"] = r["completions"] / r["seconds"]
        r["speedup_vs_naive"] = t_naive / r["seconds"]

    print(
        f"\nmodel {args.model} | {args.prompts} prompts (mean {sum(prompt_tokens) / len(prompt_tokens):.0f} tokens) "
        f"x n={args.n} | max_new_tokens {args.max_new_tokens} | T=1.0 top_k {args.top_k} | threads {torch.get_num_threads()}"
    )
    print(
        f"| {'method':<55} | {'dtype':<8} | {'s':>7} | {'new tok':>7} | {'tok/s':>6} | {'compl/s':>7} | {'vs naive':>8} |"
    )
    print(f"|{'-' * 57}|{'-' * 10}|{'-' * 9}|{'-' * 9}|{'-' * 8}|{'-' * 9}|{'-' * 10}|")
    for r in rows:
        print(
            f"| {r['method']:<55} | {r['dtype']:<8} | {r['seconds']:7.1f} | {r['new_tokens']:7d} | "
            f"{r['tokens_per_s']:6.1f} | {r['completions_per_s']:7.2f} | {r['speedup_vs_naive']:7.2f}x |"
        )
    result = {
        "benchmark": "generation",
        "workload": {
            "model": args.model,
            "prompts": args.prompts,
            "n": args.n,
            "max_new_tokens": args.max_new_tokens,
            "temperature": 1.0,
            "top_k": args.top_k,
            "batch_size": args.batch_size,
            "seed": args.seed,
            "prompt_tokens_mean": sum(prompt_tokens) / len(prompt_tokens),
            "quick": args.quick,
        },
        "machine": {
            **machine_info("float32" + (f" and {args.dtype}" if args.dtype else "")),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "loadavg_at_end": list(__import__("os").getloadavg()),
        },
        "rows": rows,
        "speedup": t_naive / t_hf,
        "target_speedup": 3.0,
        "samples": {"naive": naive_texts[:3], "hf": hf_texts[:3]},
    }
    atomic_write_json(args.out, result)
    print(f"\nspeedup hf vs naive: {t_naive / t_hf:.2f}x (target >= 3x) -> {args.out}")


if __name__ == "__main__":
    main()
