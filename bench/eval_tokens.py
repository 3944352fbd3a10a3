"""`bench/eval.py --prompt-tokens`: the prompt tokens of the BFCL set (what the prefill costs) and the tokens
of a correct answer, per category; no generation. A mode of bench/eval.py, not a script of its own."""

from __future__ import annotations

import argparse
from pathlib import Path

from _results import command_line

from open_toolace.io import atomic_write_json


def _answer_tokens(tok, item: dict) -> int | None:
    """Tokens of one correct answer in python call syntax (None: a name or key with no pythonic form)."""
    from open_toolace.evaluate.bfcl import reference_calls
    from open_toolace.formats import ToolCall, render_calls

    try:
        text = render_calls([ToolCall(c["name"], c["arguments"]) for c in reference_calls(item)])
    except ValueError:
        return None
    return len(tok(text, add_special_tokens=False).input_ids)


def count_prompt_tokens(args: argparse.Namespace) -> int:
    """Prompt tokens per category, and the share every request repeats: the invocation system prompt
    before its function list. Writes bench/results/eval_prompt_tokens.json."""
    from open_toolace.evaluate import load_bfcl, resolve_categories
    from open_toolace.evaluate.bfcl import invocation_request
    from open_toolace.models import load_model
    from open_toolace.prompts import apply_chat_template, get_prompts

    _, tok = load_model(args.model)
    shared = len(tok(get_prompts(args.prompt_set)["invocation"]["system"].split("{functions}")[0]).input_ids)
    rows = {}
    for cat in resolve_categories(args.categories):
        items = load_bfcl([cat], args.limit)
        n = [
            len(tok(apply_chat_template(tok, invocation_request(it, args.prompt_set))).input_ids)
            for it in items
        ]
        rows[cat] = {"items": len(n), "prompt_tokens": sum(n), "mean": round(sum(n) / len(n)), "max": max(n)}
        # what a correct answer costs to generate: the budget max_new_tokens must cover
        answers = sorted(a for a in (_answer_tokens(tok, it) for it in items) if a is not None)
        if answers and not cat.endswith("irrelevance"):
            rows[cat]["answer_tokens"] = {"p50": answers[len(answers) // 2],
                                          "p95": answers[int(0.95 * (len(answers) - 1))], "max": answers[-1]}  # fmt: skip
    total, items = sum(r["prompt_tokens"] for r in rows.values()), sum(r["items"] for r in rows.values())
    result = {
        "model": args.model,
        "prompt_set": args.prompt_set,
        "categories": rows,
        "items": items,
        "prompt_tokens": total,
        "mean_per_item": round(total / items),
        "shared_system_prefix_tokens": shared,
        "shared_share_of_prefill": round(shared * items / total, 3),
        "command": command_line(
            "eval.py", ["--prompt-tokens", "--categories", args.categories, "--prompt-set", args.prompt_set]
        ),
    }
    name = (
        "eval_prompt_tokens.json"
        if args.prompt_set == "bfcl"
        else f"eval_prompt_tokens_{args.prompt_set}.json"
    )
    out = atomic_write_json(Path(args.json).with_name(name), result)
    print(f"{'category':<26}{'items':>7}{'tokens':>10}{'mean':>7}{'max':>7}{'answer p50/p95/max':>20}")
    for cat, r in rows.items():
        a = r.get("answer_tokens")
        ans = f"{a['p50']}/{a['p95']}/{a['max']}" if a else "-"
        print(f"{cat:<26}{r['items']:>7}{r['prompt_tokens']:>10}{r['mean']:>7}{r['max']:>7}{ans:>20}")
    print(f"{'total':<26}{items:>7}{total:>10}{result['mean_per_item']:>7}")
    print(f"shared system prefix: {shared} tokens per request = {100 * result['shared_share_of_prefill']:.0f}% "
          f"of the prompt tokens; wrote {out}")  # fmt: skip
    return 0
