"""Human-readable outputs of an evaluation run: report.md, a bar chart PNG, and `compare` across runs.

toolace eval compare runs/eval/base runs/eval/r1     # prints a markdown delta table
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from open_toolace.evaluate.compare import paired_table
from open_toolace.io import atomic_write_text, read_json

# Summary keys in display order, with labels that say what each number is.
LABELS: dict[str, str] = {
    "overall": "overall — over what was run (BFCL irrelevance)",
    "overall_honest": "overall — over what was run (honest irrelevance)",
    "non_live_ast": "non-live AST (unweighted)",
    "simple": "simple AST (mean of languages run)",
    "live_ast": "live AST (item-weighted)",
    "irrelevance": "irrelevance — BFCL (unparseable output counts as abstention)",
    "irrelevance_honest": "irrelevance — honest (only an empty call list / refusal prose)",
    "relevance": "live relevance",
    "all_items": "all items (micro-average)",
}


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}"


def _header(scores: dict[str, Any]) -> list[str]:
    model = scores.get("model") or "?"
    bits = [f"model `{model}`"]
    if scores.get("adapter"):
        bits.append(f"adapter `{scores['adapter']}`")
    if scores.get("backend"):
        bits.append(f"backend {scores['backend']}")
    if scores.get("benchmark") == "dataset":
        bits.append(f"dataset `{scores.get('dataset')}`")
    else:
        bits.append("benchmark BFCL (bfcl-eval ast_checker)")
        if scores.get("limit"):
            bits.append(f"first {scores['limit']} items per category")
    t = scores.get("timing") or {}
    line = f"{scores.get('n_items', 0)} items"
    if t.get("generated_items"):
        line += f"; generated {t['generated_items']} in {t['generation_seconds']:.0f} s this run"
    return ["# Evaluation report", "", " · ".join(bits), "", line, ""]


def headroom_table(h: dict[str, Any]) -> list[str]:
    """Markdown lines for scores.json's `headroom` section: greedy, maj@K, pass@K per summary group and
    category, so a run report shows at a glance what a vote-and-train round could gain (maj@K - greedy)."""
    k = h["k"]
    lines = [
        f"## Headroom: greedy vs maj@{k} and pass@{k} (accuracy %; {k} samples at T={h['temperature']:g})",
        "",
        f"maj@{k}: the vote's pick among the {k} samples, scored by the checker; maj@{k} − greedy is what a "
        f"self-evolution round (vote, train) can distill at best. pass@{k}: some sample is right.",
        "",
    ]
    t = h.get("timing") or {}
    if t.get("generated_items"):
        lines += [f"Sampled {t['generated_items']} items in {t['generation_seconds']:.0f} s this run.", ""]
    lines += [
        f"| metric | items | greedy | maj@{k} | pass@{k} | maj@{k} − greedy |",
        "|---|---:|---:|---:|---:|---:|",
    ]

    def line(label: str, n: int, g: float, m: float, p: float) -> str:
        return f"| {label} | {n} | {pct(g)} | {pct(m)} | {pct(p)} | {100 * (m - g):+.1f} |"

    summary = h.get("summary", {})
    for key, label in LABELS.items():
        if key in summary:
            s = summary[key]
            lines.append(line(label, s["items"], s["greedy"], s["maj_at_k"], s["pass_at_k"]))
    for cat, c in h.get("categories", {}).items():
        lines.append(line(cat, c["n_items"], c["greedy"], c["maj_at_k"], c["pass_at_k"]))
        if "greedy_honest" in c:
            honest = (c["greedy_honest"], c["maj_at_k_honest"], c["pass_at_k_honest"])
            lines.append(line(f"{cat} (honest)", c["n_items"], *honest))
    return lines + [""]


def refinement_table(r: dict[str, Any]) -> list[str]:
    """Markdown lines for scores.json's `refinement` section: accuracy after each self-refinement step per
    summary group and category, with what refinement fixed and broke and what it cost, so a run report
    shows whether re-reading its own answers helps this model (step N − step 0) and at what price."""
    n = r["n_steps"]
    tok_key = r.get("token_field", "tokens_per_item")
    tok_label = "tokens/item" if tok_key == "tokens_per_item" else "≈tokens/item (chars/4)"
    steps = " | ".join(f"step {s}" for s in range(n + 1))
    lines = [
        f"## Adaptive self-refinement: up to {n} steps (accuracy %)",
        "",
        "Step 0 is the greedy answer; each step shows the model its previous answer and asks again, until two "
        "answers in a row are equal (normalized calls) or the step limit. Stopped items keep their answer. "
        "w→r / r→w: items refinement fixed / broke (first vs final answer).",
        "",
    ]
    t = r.get("timing") or {}
    if t.get("refined_items"):
        lines += [f"Refined {t['refined_items']} items in {t['refine_seconds']:.0f} s this run.", ""]
    lines += [
        f"| metric | items | {steps} | final − greedy | w→r | r→w | mean steps | malformed | {tok_label} |",
        "|---|---:|" + "---:|" * (n + 1) + "---:|---:|---:|---:|---:|---:|",
    ]

    def line(label: str, m: dict[str, Any], acc: list[float], w2r: int, r2w: int) -> str:
        cells = " | ".join(pct(a) for a in acc)
        delta = f"{100 * (acc[-1] - acc[0]):+.1f}"
        tail = f"{m['mean_steps']:.2f} | {m['malformed']} | {m[tok_key]:.0f}"
        return f"| {label} | {m['items']} | {cells} | {delta} | {w2r} | {r2w} | {tail} |"

    summary = r.get("summary", {})
    for key, label in LABELS.items():
        if key in summary:
            m = summary[key]
            lines.append(line(label, m, m["accuracy_by_step"], m["wrong_to_right"], m["right_to_wrong"]))
    for cat, c in r.get("categories", {}).items():
        lines.append(line(cat, c, c["accuracy_by_step"], c["wrong_to_right"], c["right_to_wrong"]))
        if "honest_accuracy_by_step" in c:
            h = (c["honest_accuracy_by_step"], c["honest_wrong_to_right"], c["honest_right_to_wrong"])
            lines.append(line(f"{cat} (honest)", c, *h))
    return lines + [""]


def render_report(scores: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    lines = _header(scores)
    summary = scores.get("summary", {})
    lines += ["## Summary (accuracy %)", "", "| metric | accuracy | over | items |", "|---|---:|---|---:|"]
    for key, label in LABELS.items():
        if key in summary:
            m = summary[key]
            lines.append(f"| {label} | {pct(m['accuracy'])} | {', '.join(m['over'])} | {m['items']} |")
    lines += ["", "Formulas: docs/evaluation.md. Aggregates use only the categories run.", ""]
    if scores.get("headroom"):
        lines += headroom_table(scores["headroom"])
    if scores.get("refinement"):
        lines += refinement_table(scores["refinement"])

    cats = scores.get("categories", {})
    no_call: dict[str, int] = defaultdict(int)
    examples: dict[tuple[str, str], str] = {}
    for r in rows:
        if r.get("n_calls") == 0 and "irrelevance" not in r["category"]:
            no_call[r["category"]] += 1
        if not r["valid"]:
            examples.setdefault((r["category"], r.get("error_type") or "unknown"), r["id"])
    lines += [
        "## Per category",
        "",
        "| category | items | correct | accuracy | honest accuracy | no-call outputs |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for cat, c in cats.items():
        honest = pct(c["honest_accuracy"]) if "honest_accuracy" in c else ""
        lines.append(
            f"| {cat} | {c['total']} | {c['correct']} | {pct(c['accuracy'])} | {honest} | {no_call[cat]} |"
        )
    lines += ["", "## Errors by type", ""]
    for cat, c in cats.items():
        if not c["error_types"]:
            continue
        wrong = c["total"] - c["correct"]
        lines += [
            f"### {cat} ({wrong} wrong of {c['total']})",
            "",
            "| error type | count | % of items | example |",
            "|---|---:|---:|---|",
        ]
        for et, n in c["error_types"].items():
            lines.append(f"| {et} | {n} | {pct(n / c['total'])} | {examples.get((cat, et), '')} |")
        lines.append("")
    if scores.get("rejects"):
        lines += [
            "## Rejected records",
            "",
            f"{len(scores['rejects'])} record(s) could not be used; see rejects.jsonl.",
            "",
        ]
    return "\n".join(lines) + "\n"


def write_report(out_dir: str | Path, scores: dict[str, Any], rows: list[dict[str, Any]]) -> Path:
    return atomic_write_text(Path(out_dir) / "report.md", render_report(scores, rows))


def write_chart(path: str | Path, scores: dict[str, Any]) -> Path:
    """Horizontal bars: summary metrics, then every category (irrelevance with its honest number beside)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, values, colors = [], [], []
    for key in LABELS:
        if key in scores.get("summary", {}) and key != "all_items":
            labels.append(key.replace("_", " "))
            values.append(100 * scores["summary"][key]["accuracy"])
            colors.append("#d62728" if "honest" in key else "#1f77b4")
    for cat, c in scores.get("categories", {}).items():
        labels.append(cat)
        values.append(100 * c["accuracy"])
        colors.append("#7f7f7f")
        if "honest_accuracy" in c:
            labels.append(f"{cat} (honest)")
            values.append(100 * c["honest_accuracy"])
            colors.append("#d62728")
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(labels) + 1.2))
    y = list(range(len(labels)))[::-1]
    ax.barh(y, values, color=colors)
    ax.set_yticks(y, labels, fontsize=8)
    for yi, v in zip(y, values, strict=True):
        ax.text(min(v + 1, 92), yi, f"{v:.1f}", va="center", fontsize=7)
    ax.set_xlim(0, 100)
    ax.set_xlabel("accuracy %")
    title = scores.get("model") or "evaluation"
    if scores.get("adapter"):
        title += f" + {Path(str(scores['adapter'])).name}"
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(p)
    return p


def compare(dirs: list[str | Path]) -> str:
    """Markdown table of every metric across run dirs, Δ in points against the first dir; then the paired
    difference per category on the items each dir shares with the first (`evaluate.compare`)."""
    if len(dirs) < 2:
        raise ValueError("compare needs at least two run directories")
    runs = [(Path(d), read_json(Path(d) / "scores.json")) for d in dirs]
    names = [f"{p.name}" for p, _ in runs]
    metrics: list[tuple[str, str, str]] = []  # (label, section, key)
    for key, label in LABELS.items():
        if any(key in s.get("summary", {}) for _, s in runs):
            metrics.append((label, "summary", key))
    seen: list[str] = []
    for _, s in runs:
        seen += [c for c in s.get("categories", {}) if c not in seen]
    for cat in seen:
        metrics.append((cat, "categories", cat))
        if any("honest_accuracy" in s.get("categories", {}).get(cat, {}) for _, s in runs):
            metrics.append((f"{cat} (honest)", "honest", cat))

    def value(s: dict, section: str, key: str) -> float | None:
        if section == "summary":
            m = s.get("summary", {}).get(key)
            return m["accuracy"] if m else None
        c = s.get("categories", {}).get(key)
        if not c:
            return None
        return c.get("honest_accuracy") if section == "honest" else c["accuracy"]

    head = "| metric | " + " | ".join(names) + " |"
    lines = [head, "|---|" + "---:|" * len(names)]
    for label, section, key in metrics:
        vals = [value(s, section, key) for _, s in runs]
        cells = [pct(vals[0])]
        for v in vals[1:]:
            if v is None or vals[0] is None:
                cells.append(pct(v))
            else:
                cells.append(f"{pct(v)} ({100 * (v - vals[0]):+.1f})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    n_items = [str(s.get("n_items", "?")) for _, s in runs]
    lines.append("| items | " + " | ".join(n_items) + " |")
    return "\n".join(lines) + "\n\n" + paired_table(dirs)
