"""The report of a `toolace run` directory: BFCL per category per stage (base, bootstrap, round 1..N), a
plot of accuracy against round, the self-evolution audit table and stage timings.

    toolace report runs/demo          # (re)writes runs/demo/report.md and runs/demo/accuracy.png

Everything is read back from the run directory (eval/<stage>/scores.json, rounds/r<r>/audit.json,
manifest.json, config.yaml), so the report can be rendered at any time, also for a run still going.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from open_toolace.evaluate.report import headroom_table, pct
from open_toolace.hardware import machine_line
from open_toolace.io import atomic_write_text, read_json

SUMMARY_ROWS = {  # summary key -> label (evaluate.aggregate's formulas, docs/evaluation.md)
    "overall": "**overall** (over what was run)",
    "non_live_ast": "non-live AST (unweighted)",
    "live_ast": "live AST (item-weighted)",
    "irrelevance": "irrelevance (BFCL verdict)",
    "irrelevance_honest": "irrelevance (honest)",
}


def stages_of(run_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    """`[(stage, scores)]` for base, bootstrap, r1, r2, ... whose eval finished, in order."""
    out = []
    names = ["base", "bootstrap"]
    rounds = sorted(int(p.name[1:]) for p in (run_dir / "eval").glob("r*") if p.name[1:].isdigit())
    names += [f"r{r}" for r in rounds]
    for name in names:
        f = run_dir / "eval" / name / "scores.json"
        if f.exists():
            out.append((name, read_json(f)))
    return out


def audits_of(run_dir: Path) -> list[dict[str, Any]]:
    files = sorted(run_dir.glob("rounds/r*/audit.json"), key=lambda p: int(p.parent.name[1:]))
    return [read_json(f) for f in files]


def score_table(stages: list[tuple[str, dict[str, Any]]]) -> list[str]:
    names = [n for n, _ in stages]
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for key, label in SUMMARY_ROWS.items():
        if any(key in s.get("summary", {}) for _, s in stages):
            vals = [pct(s.get("summary", {}).get(key, {}).get("accuracy")) for _, s in stages]
            lines.append(f"| {label} | " + " | ".join(vals) + " |")
    cats: list[str] = []
    for _, s in stages:
        cats += [c for c in s.get("categories", {}) if c not in cats]
    for c in cats:
        vals = [pct(s.get("categories", {}).get(c, {}).get("accuracy")) for _, s in stages]
        n = max((s.get("categories", {}).get(c, {}).get("total", 0) for _, s in stages), default=0)
        lines.append(f"| {c} (n={n}) | " + " | ".join(vals) + " |")
    return lines


def _hist(h: dict[str, int]) -> str:
    return " ".join(f"{k}:{v}" for k, v in h.items()) or "—"


def _rejects(by_step: dict[str, dict[str, int]]) -> str:
    parts = [
        f"{step}: " + ", ".join(f"{r} {n}" for r, n in reasons.items()) for step, reasons in by_step.items()
    ]
    return "; ".join(parts) or "—"


def audit_table(audits: list[dict[str, Any]]) -> list[str]:
    if not audits:
        return ["(no round finished yet)"]
    rows = [
        ("queries in", lambda a: a["queries"]),
        ("queries with parseable tools", lambda a: a["with_tools"]),
        ("tools generated (per query)", lambda a: f"{a['tools_generated']} ({a['tools_per_query']})"),
        ("distinct tool names", lambda a: a["distinct_tool_names"]),
        ("tool source: items → kept", _sources),
        ("vote agreement (top/k: items)", lambda a: _hist(a["vote_agreement_hist"])),
        ("mean agreement", lambda a: f"{a['mean_agreement']:.2f}"),
        ("kept", lambda a: a["kept"]),
        ("rejected", lambda a: a["rejected"]),
        ("rejected by step: reason", lambda a: _rejects(a["rejected_by_step"])),
        ("calls per kept sample", lambda a: _hist(a["calls_per_sample"])),
        ("distinct tools called", lambda a: a["distinct_called_tools"]),
        ("training samples (by task)", lambda a: _hist((a.get("training_samples") or {}).get("tasks", {}))),
        ("train loss (last)", lambda a: _loss(a.get("train", {}))),
        ("BFCL overall before → after", lambda a: f"{pct(a['bfcl_before'])} → {pct(a['bfcl_after'])}"),
        ("BFCL overall delta (points)", lambda a: _delta(a.get("bfcl_delta"))),
        ("Δ non-live AST vs previous [95%]", lambda a: _paired(a.get("paired_vs_previous"), "non_live_ast")),
        (
            "Δ non-live AST vs bootstrap [95%]",
            lambda a: _paired(a.get("paired_vs_bootstrap"), "non_live_ast"),
        ),
        ("Δ all items vs bootstrap [95%]", lambda a: _paired(a.get("paired_vs_bootstrap"), "all")),
        ("significant drops vs previous", lambda a: ", ".join(a.get("significant_drops") or []) or "none"),
    ]
    lines = [
        "| | " + " | ".join(f"round {a['round']}" for a in audits) + " |",
        "|---|" + "---|" * len(audits),
    ]
    for label, fn in rows:
        lines.append(f"| {label} | " + " | ".join(str(fn(a)).replace("|", "/") for a in audits) + " |")
    return lines


def paired_rounds_table(audits: list[dict[str, Any]]) -> list[str]:
    """Per category: each round's paired difference against the previous stage and the bootstrap."""
    groups = sorted({g for a in audits for g in (a.get("paired_vs_previous") or {})})
    if not groups:
        return []
    head = " | ".join(f"r{a['round']} vs previous | r{a['round']} vs bootstrap" for a in audits)
    lines = [
        "Points, paired on the same items, with the 95% interval (`*`: the interval lies below 0):",
        "",
        f"| category | {head} |",
        "|---|" + "---|---|" * len(audits),
    ]
    for g in groups:
        cells = []
        for a in audits:
            for key in ("paired_vs_previous", "paired_vs_bootstrap"):
                p = (a.get(key) or {}).get(g)
                star = "*" if p and p.get("n") and p["ci95"][1] < 0 else ""
                cells.append(_paired(a.get(key), g) + star)
        lines.append(f"| {g} | " + " | ".join(cells) + " |")
    return lines


def _paired(paired: dict[str, Any] | None, group: str) -> str:
    p = (paired or {}).get(group)
    if not p or not p.get("n"):
        return "—"
    lo, hi = p["ci95"]
    return f"{100 * p['diff']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}] (n={p['n']})"


def _sources(a: dict[str, Any]) -> str:
    """`generate 11 → 0, retrieve 30 → 4`: per tool source, items with tools and items kept."""
    items, kept = a.get("tool_sources"), a.get("kept_by_tool_source") or {}
    if not items:
        return "—"
    return ", ".join(f"{s} {n} → {kept.get(s, 0)}" for s, n in items.items())


def _loss(t: dict[str, Any]) -> str:
    if t.get("skipped"):
        return f"not trained ({t['skipped']})"
    return "—" if t.get("last_loss") is None else f"{t['last_loss']:.3f}"


def _delta(d: float | None) -> str:
    if d is None:
        return "—"
    return f"{100 * d:+.1f}"


def write_plot(path: Path, stages: list[tuple[str, dict[str, Any]]]) -> Path | None:
    """Accuracy (%) against stage: overall bold, each category thin."""
    if not stages:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n, _ in stages]
    x = list(range(len(names)))
    fig, ax = plt.subplots(figsize=(7, 4))
    cats: list[str] = []
    for _, s in stages:
        cats += [c for c in s.get("categories", {}) if c not in cats]
    for c in cats:
        ys = [
            100 * s["categories"][c]["accuracy"] if c in s.get("categories", {}) else None for _, s in stages
        ]
        ax.plot(x, [float("nan") if y is None else y for y in ys], marker=".", linewidth=1, label=c)
    for key, style in (("overall", "k-"), ("non_live_ast", "k--")):
        ys = [100 * s["summary"][key]["accuracy"] if key in s.get("summary", {}) else None for _, s in stages]
        if any(y is not None for y in ys):
            ax.plot(
                x,
                [float("nan") if y is None else y for y in ys],
                style,
                marker="o",
                linewidth=2.2,
                label=key.replace("_", " "),
            )
    ax.set_xticks(x, names)
    ax.set_xlabel("stage (base model, bootstrap LoRA, self-evolution rounds)")
    ax.set_ylabel("BFCL accuracy %")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path


def timing_table(manifest: dict[str, Any]) -> list[str]:
    stages = manifest.get("stages", {})
    lines = ["| stage | seconds |", "|---|---:|"]
    total = 0.0
    for name, info in stages.items():
        s = info.get("seconds")
        if s is not None:
            total += s
            lines.append(f"| {name} | {s:.0f} |")
    lines.append(f"| **total** | {total:.0f} |")
    return lines


def render(run_dir: Path) -> str:
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text()) if (run_dir / "config.yaml").exists() else {}
    manifest = read_json(run_dir / "manifest.json") if (run_dir / "manifest.json").exists() else {}
    stages, audits = stages_of(run_dir), audits_of(run_dir)
    ev, e = cfg.get("evolve", {}), cfg.get("eval", {})
    limit = e.get("limit")
    lines = [
        f"# toolace run: {run_dir.name}",
        "",
        f"Model `{cfg.get('model')}` · seed data `{cfg.get('seed_data', {}).get('source')}` · "
        f"{ev.get('rounds')} round(s) of {ev.get('queries_per_round')} queries (m={ev.get('m')}, k={ev.get('k')}, "
        f"vote ≥ {ev.get('vote_threshold')}, replay {ev.get('replay_share')}, init {ev.get('init')}) · seed "
        f"{cfg.get('seed')}",
        "",
        "## BFCL accuracy (%) per stage",
        "",
        f"Categories `{e.get('categories')}`, "
        + (f"the first {limit} items of each (a fixed subset)" if limit else "all items")
        + "; scored by bfcl-eval's ast_checker (open_toolace.evaluate; formulas in docs/evaluation.md).",
        "",
        *score_table(stages),
        "",
    ]
    regressions = [a for a in audits if a.get("regressed")]
    for a in regressions:
        lines.append(
            f"> ⚠ **round {a['round']} significantly lowered** {', '.join(a.get('significant_drops') or [])} "
            "against the previous stage (paired on the same items, 95% interval below 0)."
        )
    if regressions:
        lines.append("")
    if write_plot(run_dir / "accuracy.png", stages):
        lines += ["![BFCL accuracy against stage](accuracy.png)", ""]
    boot = run_dir / "eval" / "bootstrap" / "scores.json"
    if boot.exists() and (h := read_json(boot).get("headroom")):
        lines += [*headroom_table(h), ""]
    lines += ["## Self-evolution audit", "", *audit_table(audits), ""]
    if table := paired_rounds_table(audits):
        lines += ["### Paired deltas per category", "", *table, ""]
    for a in audits:
        if not a.get("kept"):
            lines.append(
                f"> round {a['round']} kept no verified sample ({_rejects(a['rejected_by_step'])}): its "
                "adapter was not trained and its scores are the previous stage's. See "
                f'`rounds/r{a["round"]}/rejects.jsonl` and docs/run.md ("When rounds do not improve").'
            )
    if any(not a.get("kept") for a in audits):
        lines.append("")
    lines += [
        "Files: `rounds/r<r>/` holds each round's queries, generated tools, sampled invocations, votes, "
        "kept items, rejects (with reasons), training samples, adapter and `audit.json`; `eval/<stage>/` "
        "the BFCL outputs.",
        "",
        "## Stage timings",
        "",
        *timing_table(manifest),
        "",
        "## Machine",
        "",
        "What each stage ran on (a run resumed elsewhere shows more than one machine; compare timings within one):",
        "",
        *machine_table(run_dir),
        "",
    ]
    return "\n".join(lines)


def machine_table(run_dir: Path) -> list[str]:
    """One row per stage that recorded its machine: BFCL runs (scores.json) and trainings (train_metrics)."""
    rows = []
    for name, scores in stages_of(run_dir):
        if scores.get("machine"):
            rows.append((f"eval.{name}", scores["machine"]))
    for f in [
        run_dir / "bootstrap" / "adapter" / "train_metrics.json",
        *sorted(run_dir.glob("rounds/r*/adapter/train_metrics.json")),
    ]:
        if f.exists() and read_json(f).get("machine"):
            stage = "bootstrap.train" if f.parts[-3] == "bootstrap" else f"{f.parts[-3]}.train"
            rows.append((stage, read_json(f)["machine"]))
    if not rows:
        return ["(no stage recorded its machine)"]
    return ["| stage | machine (CPU · cores · bf16 · torch threads · dtype) |", "|---|---|"] + [
        f"| {stage} | {machine_line(m)} |" for stage, m in rows
    ]


def write_run_report(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory not found: {run_dir}")
    return atomic_write_text(run_dir / "report.md", render(run_dir))
