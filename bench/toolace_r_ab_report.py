"""The Markdown report of bench/toolace_r_ab.py (docs/results/toolace-r-ab.md), rendered from its JSON record."""

from __future__ import annotations

from typing import Any

from _ab import pct


def _d(p: dict | None) -> str:
    return "–" if not p else f"{100 * p['diff']:+.1f} [{100 * p['ci95'][0]:+.1f}, {100 * p['ci95'][1]:+.1f}]"


def render_report(r: dict[str, Any]) -> str:
    arms, paired, b, m, s0 = r["arms"], r["paired_minus_sft"], r["budget"], r["machine"], r["sft0"]
    lines = [
        "# ToolACE-R vs plain SFT at an equal training-token budget, with and without refinement", "",
        f"`{r['command']}` · {r['date']} · {r['model']} ({r['prompt_set']} prompts) · {r['seed_examples']} seed "
        f"examples · {m.get('cpu')}, {m.get('cores')} cores, generation {m.get('dtype')}", "",
        f"Shared start sft0: {s0['samples']} samples, {s0['train_tokens']:,} tokens, {s0['wall_s']:.0f} s. "
        f"ToolACE-R: `{r['toolace_r_config']}`.", "",
        f"Budget: ToolACE-R trained {b['toolace_r_train_tokens']:,} tokens, plain SFT {b['sft_train_tokens']:,} "
        f"(ratio {b['ratio']}; within ±{100 * b['tolerance']:.0f}%: {b['within_tolerance']}). Rule: {b['rule']}.",
        "", "## Cost of each arm after sft0", "",
        "| arm | training tokens | supervised tokens | samples | sampling tokens | sampling (s) | training (s) "
        "| wall (s) |", "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for a, v in arms.items():
        c = v["cost"]
        lines.append(f"| {a} | {c['train_tokens']:,} | {c['supervised_tokens']:,} | {c['train_samples']} | "
                     f"{c['sampling_tokens']:,} | {c['sampling_s']:.0f} | {c['train_s']:.0f} | {c['wall_s']:.0f} |")  # fmt: skip
    cols = list(paired)
    lines += ["", f"## BFCL accuracy % (greedy; +refine: after adaptive refinement, N={r['refine']}); Δ against "
              "plain SFT greedy with its paired 95% interval", "",
              "| category | items | sft | " + " | ".join(f"{c} (Δ)" for c in cols) + " |",
              "|---|---:|---:|" + "---:|" * len(cols)]  # fmt: skip
    for cat, p in paired[cols[0]].items() if cols else []:
        cells = [f"{pct(paired[c].get(cat, {}).get('b'))} ({_d(paired[c].get(cat))})" for c in cols]
        lines.append(f"| {cat} | {p['n']} | {pct(p['a'])} | " + " | ".join(cells) + " |")
    for a, v in arms.items():
        ref = v.get("refinement")
        if not ref:
            continue
        tf = ref["token_field"]
        lines += ["", f"## Refinement of {a}: accuracy after each step, transitions, cost", "",
                  "| category | accuracy by step % | wrong→right | right→wrong | refined − greedy (95%) | mean "
                  f"steps | malformed | {tf} | s/item |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for cat, s in ref["categories"].items():
            rows = [(cat, "accuracy_by_step", "wrong_to_right", "right_to_wrong", cat)]
            if "honest_accuracy_by_step" in s:
                rows.append((f"{cat} (honest)", "honest_accuracy_by_step", "honest_wrong_to_right",
                             "honest_right_to_wrong", f"{cat}_honest"))  # fmt: skip
            for name, acc, wr, rw, k in rows:
                lines.append(f"| {name} | {' → '.join(pct(x) for x in s[acc])} | {s[wr]} | {s[rw]} | "
                             f"{_d(ref['refined_minus_greedy'].get(k))} | {s['mean_steps']:.2f} | {s['malformed']} "
                             f"| {s[tf]:.0f} | {s['seconds_per_item']:.2f} |")  # fmt: skip
        drops = ref["significant_drops"]
        lines.append(
            f"\nRefinement lowers accuracy beyond noise on: {', '.join(drops) if drops else 'nothing'}."
        )
    if len([a for a in arms if a != "sft"]) < 2:
        lines += ["", "Keep-share ablation: not run (`--keep-shares 0.2,0.8` adds one ToolACE-R arm each)."]
    return "\n".join(lines) + "\n"
