"""Experiment: ToolACE-R iterative training vs plain SFT at an equal training-token budget, each with and
without adaptive self-refinement (the measurement of the ToolACE-R issue).

Design (everything not named here is the same for both arms):

- Shared start. One seed set (offline synthesis through the run config, as bench/prompt_ab.py does, or
  `--seed-from DIR` to reuse an earlier run's `seed/examples.jsonl`), one SFT mixture (`bootstrap.mix`) and
  one epoch of `bootstrap.train` -> adapter `sft0/` (`--sft0-from DIR` reuses an adapter trained on the very
  same samples file, checked by SHA-1). Both arms continue sft0, so what is compared is what each does with
  the next budget, not two different starts.
- ToolACE-R arm: `refine.iterate.run_toolace_r` over the seed examples from sft0, with the run config's
  `bootstrap.toolace_r` (iterations, k, temperature, threshold, solved_share, keep_share, train). Its budget
  B is what its iterations really trained: the sum of `tokens_seen` (prompt + completion tokens forwarded,
  which is what CPU time follows) in each trained iteration's `train_metrics.json`.
- Plain-SFT arm, trained after ToolACE-R so that B is known: it continues sft0 on the same mixture. The
  mixture is re-shuffled for each pass (seeded). Samples are taken in that order, skipping any that would
  overshoot B x 1.05, until B x 0.95 is reached. So the arm is a prefix of further epochs. Tokens are counted
  the way the trainer counts them (`training.data.tokenize_sample` with the max_length cut). It trains one
  pass over that file with the TrainConfig of a ToolACE-R iteration (`bootstrap.toolace_r.train`), so the
  optimizer settings are equal. Its real `tokens_seen` is reported and checked against B. Sampling tokens: 0.
- `--keep-shares 0.2,0.8` (optional ablation): one more ToolACE-R arm per keep share of the refinement corpus.
  Each runs in its own dir and is not budget-matched, since the keep share changes the corpus size; their
  tokens are reported.
- Evaluation: all final adapters side by side (`evaluate_side_by_side`, greedy, alternating order) on
  `--categories` (default: the issue's six; `--limit` None = full categories). Then each arm's stored greedy
  outputs are refined (`evaluate_items(..., refine=N)`; no greedy item is generated again).
  Reported:
  - paired 95% intervals against plain SFT (greedy) per category, honest irrelevance included, for
    ToolACE-R, SFT+refine and ToolACE-R+refine;
  - refined vs greedy per arm;
  - accuracy after every refinement step, wrong->right / right->wrong, tokens and seconds per item.

Targets: ToolACE-R >= SFT at equal budget, and refinement never below greedy beyond noise.

    .venv/bin/python bench/toolace_r_ab.py --seed-from runs/prompt-ab    # hours on 2 cores; rerun resumes
    .venv/bin/python bench/toolace_r_ab.py --config configs/run_tiny.yaml --seed-limit 8 --iterations 1 \
        --k 2 --limit 2 --categories simple_python,irrelevance --out runs/tr-ab-smoke    # tiny-random smoke

Steps (`--steps`; each skips work whose outputs exist): sft0, toolace_r, sft, eval, refine, report.
Writes bench/results/toolace_r_ab.json and docs/results/toolace-r-ab.md (run directory: --out).
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from open_toolace.config import load_config
from open_toolace.hardware import apply_threads
from open_toolace.io import read_json, read_jsonl, write_jsonl

_BENCH = str(Path(__file__).resolve().parent)
if _BENCH not in sys.path:  # a test that loads this file by path has no bench/ on sys.path
    sys.path.append(_BENCH)

from _ab import copy_seed, round_paired, write_result  # noqa: E402
from _results import machine, stamp  # noqa: E402
from toolace_r_ab_report import render_report  # noqa: E402

CATEGORIES = "simple_python,multiple,parallel,parallel_multiple,irrelevance,live_simple"
TOLERANCE = 0.05
# A ToolACE-R iteration continues an adapter, as a demo round does, so it gets a round's training settings
# by default (micro-batch 1 gives 1.3-1.5x the tokens/s of 2 on 2 cores).
# `--set bootstrap.toolace_r.train.KEY=V` overrides them. num_train_epochs is pinned because overriding any
# key of that section builds TrainConfig from the overrides alone (config.from_dict), which would silently
# replace the section's own one epoch with TrainConfig's default of three.
ITER_TRAIN = [
    "num_train_epochs=1",
    "per_device_train_batch_size=1",
    "effective_batch_size=8",
    "learning_rate=2e-4",
    "save_steps=5",
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/demo.yaml", help="run config: seed data, mixture, training")
    ap.add_argument("--model", default=None, help="base model (default: the config's)")
    ap.add_argument("--seed-limit", type=int, default=None, help="seed examples (default: the config's)")
    ap.add_argument("--seed-from", default=None, help="a run dir (or its seed/ dir) whose examples to reuse")
    ap.add_argument("--sft0-from", default=None, help="an adapter dir trained on this run's sft0 samples")
    ap.add_argument("--iterations", type=int, default=None, help="ToolACE-R iterations (default: config's)")
    ap.add_argument("--k", type=int, default=None, help="ToolACE-R samples per example (default: config's)")
    ap.add_argument("--keep-shares", default="", help="ablation: extra ToolACE-R arms, e.g. 0.2,0.8")
    ap.add_argument("--mix", action="append", default=[], metavar="KEY=VALUE", help="bootstrap.mix override")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="RunConfig override")
    ap.add_argument("--categories", default=CATEGORIES)
    ap.add_argument("--limit", type=int, default=None, help="first N items per category (default: all)")
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--refine", type=int, default=3, help="adaptive refinement steps N at inference (0: off)")
    ap.add_argument("--out", default="runs/toolace-r-ab")
    ap.add_argument("--json", default="bench/results/toolace_r_ab.json")
    ap.add_argument("--report", default="docs/results/toolace-r-ab.md")
    ap.add_argument("--steps", default="sft0,toolace_r,sft,eval,refine,report", help="comma list of steps")
    args = ap.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)  # the command line the JSON records
    steps = set(args.steps.split(","))

    from open_toolace.generation import make_generator
    from open_toolace.io import Manifest
    from open_toolace.pipeline.bootstrap import bootstrap_samples, train_adapter
    from open_toolace.pipeline.config import RunConfig
    from open_toolace.pipeline.manifest import Ctx, Generators, NoHooks
    from open_toolace.pipeline.seed import seed_examples

    over = ["evolve.rounds=0"] + [f"bootstrap.toolace_r.train.{kv}" for kv in ITER_TRAIN]
    over += [f"model={args.model}"] if args.model else []
    over += [f"seed_data.limit={args.seed_limit}"] if args.seed_limit else []
    over += [f"bootstrap.toolace_r.iterations={args.iterations}"] if args.iterations else []
    over += [f"bootstrap.toolace_r.k={args.k}"] if args.k else []
    cfg = load_config(RunConfig, args.config, over + [f"bootstrap.mix.{kv}" for kv in args.mix] + args.set)
    threads = apply_threads(cfg.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = Ctx(out, Manifest.open(out), Generators(make_generator, cfg.backend, cfg.model, {}), NoHooks())
    prompts, mixture = cfg.bootstrap.mix.prompt_set, ctx.path("bootstrap", "samples.jsonl")

    def copy() -> dict[str, Any]:  # the seed set of an earlier run (bench/prompt_ab.py's, say)
        src = Path(args.seed_from)
        src = src if (src / "examples.jsonl").exists() else src / "seed"
        return copy_seed(ctx, src, "examples.jsonl", str(src))

    def train(stage: str, tcfg: Any, samples: Path, to: Path, start: Path | None, seed: int) -> dict:
        return train_adapter(ctx, stage, tcfg, model=cfg.model, samples=samples, out=to,
                             init_adapter=str(start) if start else None, seed=seed, prompt_set=prompts)  # fmt: skip

    ctx.stage("seed", lambda: copy() if args.seed_from else seed_examples(cfg, ctx))
    if "sft0" in steps:  # the shared start: the SFT mixture and one epoch of bootstrap.train
        ctx.stage("sft0.samples", lambda: bootstrap_samples(cfg, ctx))
        ctx.stage("sft0.train", lambda: reuse_sft0(args.sft0_from, ctx) if args.sft0_from else train(
            "sft0.train", cfg.bootstrap.train, mixture, ctx.path("sft0"), None, cfg.seed))  # fmt: skip

    keep = [float(x) for x in args.keep_shares.split(",") if x.strip()]
    tr_arms = {"toolace_r": cfg.bootstrap.toolace_r.keep_share, **{f"toolace_r_keep{x:g}": x for x in keep}}
    summaries = {a: toolace_r(cfg, ctx, a, ks) for a, ks in tr_arms.items() if "toolace_r" in steps}
    if "sft" in steps:
        if not ctx.path("toolace_r", "toolace_r.json").exists():
            raise SystemExit("step sft needs the finished ToolACE-R arm (step toolace_r): B is its tokens")
        budget = trained_tokens(ctx.path("toolace_r"))
        ctx.stage("sft.samples", lambda: sft_samples(cfg, ctx, budget))
        if ctx.manifest.get("sft.samples")["budget"] != budget:
            raise SystemExit(f"{out}/sft was matched to another ToolACE-R budget; use a new --out")
        if read_jsonl(ctx.path("sft", "samples.jsonl")):  # one pass over the budget-sized prefix
            tcfg = replace(cfg.bootstrap.toolace_r.train, num_train_epochs=1.0, max_steps=-1)
            ctx.stage("sft.train", lambda: train("sft.train", tcfg, ctx.path("sft", "samples.jsonl"),
                                                 ctx.path("sft", "adapter"), ctx.path("sft0"), cfg.seed + 100))  # fmt: skip
    ctx.generators.release()

    sft = ctx.path("sft", "adapter") if ctx.manifest.is_done("sft.train") else ctx.path("sft0")  # B = 0: sft0
    adapters = {"sft": sft, **{a: final_adapter(ctx, a) for a in tr_arms}}
    dtype = cfg.backend_args.get("dtype", "auto")
    live: dict[str, Any] = {}

    def generator(arm: str) -> Any:  # every arm's model lives side by side (a few x 135M)
        if arm not in live:
            live[arm] = make_generator("hf", cfg.model, adapter=str(adapters[arm]), batch_size=args.batch_size,
                                       dtype=dtype)  # fmt: skip
        return live[arm]

    def meta(arm: str) -> dict[str, Any]:
        from open_toolace.evaluate.runner import generator_dtype

        dt = generator_dtype(generator(arm), dtype)
        return {"model": cfg.model, "adapter": str(adapters[arm]), "backend": "hf", "dtype": dt}

    key = f"{args.categories}:{args.limit}:{args.max_new_tokens}"  # another item set is another stage
    if "eval" in steps:
        ctx.stage(f"eval[{key}]", lambda: evaluate(args, cfg, ctx, adapters, generator, meta))
    if "refine" in steps and args.refine:
        for arm in adapters:
            ctx.stage(f"refine{args.refine}.{arm}[{key}]", lambda arm=arm: refine_arm(args, ctx, arm, generator,
                                                                                     meta, prompts))  # fmt: skip
    live.clear()
    if "report" in steps:
        result = summarize(args, cfg, ctx, adapters, tr_arms, threads, summaries)
        write_result(result, args.json, args.report, render_report)
    return 0


def reuse_sft0(src: str, ctx: Any) -> dict[str, Any]:
    """Copy an adapter trained on exactly this run's sft0 samples (e.g. runs/prompt-ab/json/adapter): the
    shared start costs one epoch, and an earlier A/B may already have paid it."""
    from open_toolace.training.trainer import file_sha1

    samples = ctx.path("bootstrap", "samples.jsonl")
    if read_json(Path(src) / "train_inputs.json")["samples_sha1"] != file_sha1(samples):
        raise SystemExit(f"--sft0-from {src} was trained on other samples than {samples}")
    shutil.copytree(src, ctx.path("sft0"), dirs_exist_ok=True, ignore=shutil.ignore_patterns("checkpoint-*"))
    return {"from": src, "wall_s": read_json(ctx.path("sft0", "train_metrics.json"))["wall_s"]}


def toolace_r(cfg: Any, ctx: Any, arm: str, keep_share: float) -> dict[str, Any]:
    """Run or resume one arm's ToolACE-R loop from sft0, in the run's settings (`toolace run`'s
    `bootstrap.toolace_r`). A finished loop trains nothing again; it only re-reads its audits."""
    from open_toolace.data.tool_docs import load_tool_docs
    from open_toolace.pipeline.toolace_r import toolace_r_config
    from open_toolace.refine.iterate import run_toolace_r

    tcfg = replace(toolace_r_config(cfg, str(ctx.path("sft0"))), keep_share=keep_share)
    extra = cfg.seed_data.extra_tools
    return run_toolace_r(tcfg, read_jsonl(ctx.path("seed", "examples.jsonl")), ctx.path(arm),
                         tools=[t.to_dict() for t in load_tool_docs(extra)] if extra else [],
                         progress=cfg.progress)  # fmt: skip


def iteration_metrics(loop_dir: Path) -> list[dict]:
    return [read_json(p) for p in sorted(loop_dir.glob("iter*/adapter/train_metrics.json"))]


def trained_tokens(loop_dir: Path) -> int:
    """B: the tokens ToolACE-R's trained iterations forwarded (each iteration trainer's `tokens_seen`)."""
    return sum(m["tokens_seen"] for m in iteration_metrics(loop_dir))


def budget_prefix(sizes: list[int], budget: int, seed: int) -> tuple[list[tuple[int, int]], int, int]:
    """(index, pass) of the samples the SFT arm trains on, their tokens, the passes begun. Each pass is a
    new seeded shuffle of all samples; a sample that would overshoot budget x (1 + tol) is skipped, and the
    prefix ends at budget x (1 - tol), or when a whole pass adds nothing (nothing fits the gap)."""
    lo, hi = budget * (1 - TOLERANCE), budget * (1 + TOLERANCE)
    chosen: list[tuple[int, int]] = []
    total = passes = 0
    while total < lo:
        order = list(range(len(sizes)))
        random.Random(f"toolace_r_ab:sft:{seed}:{passes}").shuffle(order)
        n = len(chosen)
        for i in order:
            if sizes[i] and total + sizes[i] <= hi and total < lo:
                chosen.append((i, passes))
                total += sizes[i]
        passes += 1
        if len(chosen) == n:
            break
    return chosen, total, passes


def sft_samples(cfg: Any, ctx: Any, budget: int) -> dict[str, Any]:
    """The SFT arm's data: `budget_prefix` over the sft0 mixture, tokens counted as the trainer counts them
    (a sample whose completion max_length cuts away is dropped by the trainer: 0 tokens)."""
    from open_toolace.models import load_tokenizer
    from open_toolace.training.data import IGNORE, tokenize_sample

    rows = read_jsonl(ctx.path("bootstrap", "samples.jsonl"))
    tok, max_len = load_tokenizer(cfg.model), cfg.bootstrap.toolace_r.train.max_length
    sizes = []
    for s in rows:
        t = tokenize_sample(s, tok, max_len)
        sizes.append(len(t["input_ids"]) if any(x != IGNORE for x in t["labels"]) else 0)
    chosen, total, passes = budget_prefix(sizes, budget, cfg.seed)
    picked = [{**rows[i], "id": f"{rows[i]['id']}#p{p}" if p else rows[i]["id"]} for i, p in chosen]
    write_jsonl(ctx.path("sft", "samples.jsonl"), picked)
    return {"budget": budget, "samples": len(chosen), "tokens": total, "passes": passes,
            "mixture_samples": len(rows), "mixture_tokens": sum(sizes)}  # fmt: skip


def final_adapter(ctx: Any, arm: str) -> Path:
    """A ToolACE-R arm's final adapter (sft0 when its loop trained nothing)."""
    summary = ctx.path(arm, "toolace_r.json")
    return Path(read_json(summary)["adapter"] or ctx.path("sft0")) if summary.exists() else ctx.path("sft0")


def evaluate(args: Any, cfg: Any, ctx: Any, adapters: dict, generator: Any, meta: Any) -> dict[str, Any]:
    """Greedy BFCL of every arm, side by side, into <out>/eval/<arm>/ (resumable per category)."""
    from open_toolace.evaluate.compare import evaluate_side_by_side

    res = evaluate_side_by_side({a: (generator(a), cfg.bootstrap.mix.prompt_set) for a in adapters},
                                args.categories, ctx.path("eval"), limit=args.limit, progress=cfg.progress,
                                max_new_tokens=args.max_new_tokens, save_every=args.batch_size,
                                meta={a: meta(a) for a in adapters})  # fmt: skip
    return {"categories": res["categories"], "items": {a: s["n_items"] for a, s in res["scores"].items()}}


def refine_arm(args: Any, ctx: Any, arm: str, generator: Any, meta: Any, prompts: str) -> dict[str, Any]:
    """Adaptive refinement of the arm's stored greedy outputs. Same settings as the greedy pass, so
    `evaluate_items` finds every greedy answer on disk and generates only the refinement steps."""
    from open_toolace.evaluate.bfcl import load_bfcl, resolve_categories
    from open_toolace.evaluate.runner import evaluate_items

    items = load_bfcl(resolve_categories(args.categories), args.limit)
    scores = evaluate_items(generator(arm), items, ctx.path("eval", arm), max_new_tokens=args.max_new_tokens,
                            save_every=args.batch_size, prompts=prompts, refine=args.refine,
                            meta={"benchmark": "bfcl", "limit": args.limit, **meta(arm)})  # fmt: skip
    return {"greedy_generated": scores["timing"]["generated_items"], **scores["refinement"]["timing"]}


def refined_rows(d: Path) -> dict[str, dict]:
    """Each item's verdicts after the last refinement step, shaped like results.jsonl rows (for pairing)."""
    rows = [
        r for p in sorted(d.glob("refine_*.jsonl")) for r in read_jsonl(p) if isinstance(r.get("valid"), list)
    ]
    return {r["id"]: {"category": r["category"], "valid": r["valid"][-1],
                      "honest_valid": (r.get("honest_valid") or [False])[-1]} for r in rows}  # fmt: skip


def arm_cost(ctx: Any, arm: str, summary: dict | None) -> dict[str, Any]:
    """An arm's cost after sft0, which both share and which is reported once: training tokens (forwarded),
    supervised tokens, samples, sampling tokens and seconds, training and wall seconds."""
    man = ctx.manifest
    if arm == "sft":
        tm = [read_json(ctx.path("sft", "adapter", "train_metrics.json"))] if man.is_done("sft.train") else []
        stages = [man.get(s) or {} for s in ("sft.samples", "sft.train")]
        sampling: dict[str, Any] = {"sampling_tokens": 0, "sampling_s": 0.0,
                                    "passes_over_mixture": stages[0].get("passes")}  # fmt: skip
        train_s, wall_s = sum(m["wall_s"] for m in tm), sum(s.get("seconds") or 0 for s in stages)
    else:
        tm, its = iteration_metrics(ctx.path(arm)), (summary or read_json(ctx.path(arm, "toolace_r.json")))
        its = its["iterations"]
        sampling = {"sampling_tokens": sum(a.get("sampling_tokens") or 0 for a in its),
                    "sampling_s": round(sum(a["seconds"].get("score") or 0 for a in its), 2),
                    "iterations": [{k: a.get(k) for k in ("iteration", "trained", "stopped", "histogram",
                                   "selection", "samples", "refinement")} for a in its]}  # fmt: skip
        train_s, wall_s = sum(a["seconds"].get("train") or 0 for a in its), sum(a["wall_s"] for a in its)
    return {"train_tokens": sum(m["tokens_seen"] for m in tm),
            "supervised_tokens": sum(m["data"]["loss_tokens"] for m in tm),
            "train_samples": sum(m["data"]["samples"] for m in tm), **sampling,
            "train_s": round(train_s, 2), "wall_s": round(wall_s, 2)}  # fmt: skip


REFINE_KEYS = ("accuracy_by_step", "honest_accuracy_by_step", "wrong_to_right", "right_to_wrong",
               "honest_wrong_to_right", "honest_right_to_wrong", "mean_steps", "malformed", "seconds_per_item")  # fmt: skip


def summarize(
    args: Any, cfg: Any, ctx: Any, adapters: dict, tr_arms: dict, threads: int, summaries: dict
) -> dict:
    """The JSON record: per arm cost, accuracy and refinement; pairs against plain SFT; budget; machine."""
    from open_toolace.evaluate.bfcl import resolve_categories
    from open_toolace.evaluate.compare import compare_rows, significant_drops
    from open_toolace.evaluate.runner import RESULTS, load_results

    ev, man = ctx.path("eval"), ctx.manifest
    greedy = {a: load_results(ev / a / RESULTS) for a in adapters}
    arms: dict[str, Any] = {}
    paired = {a: round_paired(compare_rows(greedy["sft"], greedy[a])) for a in adapters if a != "sft"}
    for arm in adapters:
        scores = read_json(ev / arm / "scores.json")
        cats = scores["categories"]
        arms[arm] = {"adapter": ctx.rel(adapters[arm]), "keep_share": tr_arms.get(arm),
                     "cost": arm_cost(ctx, arm, summaries.get(arm)),
                     "accuracy": {c: round(v["accuracy"], 4) for c, v in cats.items()},
                     "irrelevance_honest": round(cats["irrelevance"]["honest_accuracy"], 4)
                     if "irrelevance" in cats else None,
                     "stop_reason": read_json(ctx.path(arm, "toolace_r.json"))["stop_reason"]
                     if arm in tr_arms else None}  # fmt: skip
        ref = scores.get("refinement")
        if ref:
            keys, refined = (*REFINE_KEYS, ref["token_field"]), refined_rows(ev / arm)
            vs_greedy = round_paired(compare_rows(greedy[arm], refined))
            arms[arm]["refinement"] = {
                "n_steps": ref["n_steps"], "token_field": ref["token_field"],
                "categories": {c: {k: v[k] for k in keys if k in v} for c, v in ref["categories"].items()},
                "refined_minus_greedy": vs_greedy, "significant_drops": significant_drops(vs_greedy)}  # fmt: skip
            paired[f"{arm}+refine"] = round_paired(compare_rows(greedy["sft"], refined))
    b, sft_tokens = trained_tokens(ctx.path("toolace_r")), arms["sft"]["cost"]["train_tokens"]
    sft0 = read_json(ctx.path("sft0", "train_metrics.json"))
    t = cfg.bootstrap.toolace_r
    return {
        "arms": arms,
        "paired_minus_sft": paired,
        "budget": {"toolace_r_train_tokens": b, "sft_train_tokens": sft_tokens, "tolerance": TOLERANCE,
                   "ratio": round(sft_tokens / b, 4) if b else None,
                   "within_tolerance": abs(sft_tokens - b) <= TOLERANCE * b,
                   "rule": "plain SFT continues sft0 on the re-shuffled SFT mixture until it has forwarded "
                           "ToolACE-R's training tokens (tokens_seen of its trained iterations) +-5%",
                   "sft_samples": man.get("sft.samples")},
        "sft0": {"train_tokens": sft0["tokens_seen"], "supervised_tokens": sft0["data"]["loss_tokens"],
                 "samples": sft0["data"]["samples"], "wall_s": sft0["wall_s"],
                 "from": (man.get("sft0.train") or {}).get("from")},
        "toolace_r_config": {k: getattr(t, k) for k in ("iterations", "k", "temperature", "max_new_tokens",
                             "threshold", "solved_share", "keep_share", "refinement_from")},
        "model": cfg.model, "prompt_set": cfg.bootstrap.mix.prompt_set,
        "seed_examples": (man.get("seed") or {}).get("examples"),
        "categories": resolve_categories(args.categories), "limit": args.limit,
        "max_new_tokens": args.max_new_tokens, "refine": args.refine,
        "machine": machine(cfg.backend_args.get("dtype"), torch_threads=threads, python=True),
        **stamp("toolace_r_ab.py", args.argv, quote=True),
    }  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
