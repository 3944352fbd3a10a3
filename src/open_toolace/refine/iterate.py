"""ToolACE-R's model-aware iterative training: train on what the current model still gets wrong, and on
fixing its own answers, until that stops shrinking.

Each iteration i, over a labeled pool (seed examples, a user's dataset):

1. load base model + the current adapter as a generator; `sample_and_score` the pool (k answers, T);
2. `select` the examples below the pass-rate threshold + a replayed share of the solved ones;
3. the training set: the invocation samples of the selected examples (`training.tasks.build_invocation`
   with the mixture config, so distractors and abstentions are as in SFT) + the refinement corpus built
   from the same scored answers (`refine.corpus.build_refinement`, `keep_share`);
4. train the LoRA adapter on it, continuing the previous iteration's adapter.

The loop stops when the selection stops shrinking (`stopped_shrinking`: iteration i selects no fewer
examples than i-1, so training no longer reduces what the model gets wrong; the adapter of i-1 is final),
when nothing is selected, or after `iterations`. Every step is a resumable stage (`pipeline.manifest.Ctx`)
with its own manifest in the output dir, so a killed run continues without redoing finished work:

    <out>/config.yaml, manifest.json, pool.jsonl (the pool as sampled), tools.jsonl (distractor pool),
          toolace_r.json (summary: per-iteration audits, stop reason, final adapter)
    <out>/iter<i>/scored.jsonl    id, pass_rate, answers, verdicts per pool example (joined to pool by id)
                  selected.jsonl  the selected examples
                  samples.jsonl   the iteration's training set (+ samples_report.json)
                  adapter/        the iteration's LoRA adapter (training.train output dir)
                  eval/           per-iteration BFCL (eval_categories set)
                  audit.json      pool, pass-rate histogram, selection, corpus report, tokens, seconds

    summary = run_toolace_r(ToolaceRConfig(train=TrainConfig(model="tiny-random")), examples, "runs/tr")
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from open_toolace import generation
from open_toolace.config import check_saved_config, save_config
from open_toolace.formats import ToolCall, render_calls
from open_toolace.formats.tools import tool_record
from open_toolace.io import Manifest, atomic_write_json, read_json, read_jsonl, write_jsonl
from open_toolace.pipeline.bootstrap import train_adapter
from open_toolace.pipeline.manifest import Ctx, Generators, MakeGenerator, NoHooks, StageHooks, console
from open_toolace.refine.config import ToolaceRConfig
from open_toolace.refine.corpus import build_refinement
from open_toolace.refine.selection import Score, sample_and_score, score_example, select, stopped_shrinking
from open_toolace.training.mixture import TaskMixConfig, task_counts, token_counter, token_report
from open_toolace.training.tasks import (
    NO_CALL,
    REFINEMENT,
    build_invocation,
    collect_tools,
    dedupe,
    identifier_name,
    with_identifier_names,
)

__all__ = ["SUMMARY", "ToolaceRConfig", "prepare_pool", "run_toolace_r"]

SUMMARY = "toolace_r.json"
# Settings that may change between a kill and its resume without invalidating finished iterations.
RESUME_FREE = ("iterations", "backend_args", "train.torch_threads", "train.dataloader_num_workers")
_REFINEMENT_KEYS = ("candidates", "kept", "keep_share", "achieved_keep_share", "malformed_fix", "duplicates",
                    "skipped")  # fmt: skip
_TRAIN_KEYS = ("global_step", "first_loss", "last_loss", "supervised_tokens", "tokens", "resumed_from")


class _Prefixed:
    """The caller's hooks, seeing the loop's stages under a prefix (`bootstrap.toolace_r.iter1.train`)."""

    def __init__(self, hooks: StageHooks, prefix: str):
        self.hooks, self.prefix = hooks, prefix

    def at(self, stage: str, point: str) -> None:
        self.hooks.at(self.prefix + stage, point)

    def train_callbacks(self, stage: str) -> list:
        return self.hooks.train_callbacks(self.prefix + stage)


def _trainable(ex: dict) -> str | None:
    """Why the example cannot be scored or trained on (None: it can): a pool member that can never pass
    would stay selected forever, and one without an invocation target teaches nothing."""
    from open_toolace.evaluate.dataset import item_from_example

    if ex.get("calls") is None:
        return "unlabeled"
    try:
        if {c["name"] for c in ex["calls"]} - {tool_record(t)["name"] for t in ex.get("tools") or []}:
            return "call_to_unlisted_tool"
        item_from_example(ex)  # what the scorer needs (a user turn last, valid tool docs, ground truth)
        render_calls([ToolCall.from_dict(c) for c in ex["calls"]])
    except (ValueError, KeyError, TypeError):
        return "unscorable_or_unrenderable"
    return None


def prepare_pool(
    examples: Iterable[dict], mix: TaskMixConfig, limit: int | None = None, seed: int = 0
) -> tuple[list[dict], dict[str, int]]:
    """The pool as it is sampled and trained on: identifier names when the mixture uses them (the model
    is sampled over the names it is trained on), only examples the scorer and the invocation builder can
    take, unique ids (scored answers are joined back by id), at most `limit` of them (a seeded random
    subset, in their input order). Returns the pool and skip counts by reason."""
    skipped: Counter = Counter()
    seen: Counter = Counter()
    pool = []
    for ex in examples:
        ex = with_identifier_names(ex) if mix.identifier_names else ex
        reason = _trainable(ex)
        if reason:
            skipped[reason] += 1
            continue
        seen[str(ex["id"])] += 1
        if seen[str(ex["id"])] > 1:
            skipped["duplicate_id_renamed"] += 1
            ex = {**ex, "id": f"{ex['id']}#{seen[str(ex['id'])] - 1}"}
        pool.append(ex)
    if limit is not None and len(pool) > limit:
        keep = set(random.Random(f"toolace_r:pool:{seed}").sample(range(len(pool)), limit))
        skipped["over_pool_limit"] = len(pool) - limit
        pool = [ex for j, ex in enumerate(pool) if j in keep]
    return pool, dict(sorted(skipped.items()))


def _seed(cfg: ToolaceRConfig, i: int, step: int) -> int:
    return cfg.seed * 1000 + i * 10 + step


def _check_config(cfg: ToolaceRConfig, out: Path) -> None:
    check_saved_config(
        out / "config.yaml", cfg, RESUME_FREE, refused=f"{out} holds a ToolACE-R run of another config",
        hint="Resume with the same config (iterations may grow), or choose another output dir.",
    )  # fmt: skip


def _sha1(rows: list[Any]) -> str:
    return hashlib.sha1(json.dumps(rows, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def run_toolace_r(
    cfg: ToolaceRConfig,
    examples: Iterable[dict],
    out_dir: str | Path,
    *,
    tools: Iterable[Any] = (),
    make_generator: MakeGenerator = generation.make_generator,
    generators: Generators | None = None,
    hooks: StageHooks | None = None,
    hook_prefix: str = "",
    score: Score = score_example,
    count_tokens: Callable[[str], int] | None = None,
    progress: bool = True,
    check_config: bool = True,
) -> dict[str, Any]:
    """Run (or resume) the loop in `out_dir`; returns the summary also written to `<out>/toolace_r.json`.

    `tools`: extra tool docs for the distractor pool (besides the pool's own tools). `generators`: share a
    caller's one-live-model holder (`toolace run`), else one is built with `make_generator` (tests script
    it). `hooks` see every stage as `hook_prefix + name`. `score(text, example)` judges an answer (default:
    THE scorer). `count_tokens` counts supervised tokens (default: the base model's tokenizer).
    `check_config=False` skips the saved-config check (a caller that checks its own config does)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if check_config:
        _check_config(cfg, out)
    save_config(cfg, out / "config.yaml")
    mix = cfg.mixture()
    gens = generators or Generators(make_generator, cfg.backend, cfg.train.model, dict(cfg.backend_args))
    hooks = hooks or NoHooks()
    ctx = Ctx(out, Manifest.open(out), gens, _Prefixed(hooks, hook_prefix) if hook_prefix else hooks)
    pool, skipped = prepare_pool(examples, mix, cfg.pool_limit, cfg.seed)
    extra = [tool_record(t) for t in tools]
    if mix.identifier_names:
        extra = [{**t, "name": identifier_name(t["name"])} for t in extra]

    def pool_stage() -> dict[str, Any]:
        if not pool:
            raise ValueError(f"toolace-r: no usable labeled example in the pool (skipped: {skipped})")
        write_jsonl(out / "pool.jsonl", pool)
        write_jsonl(out / "tools.jsonl", collect_tools(pool, extra))
        return {"pool": len(pool), "skipped": skipped, "sha1": _sha1(pool)}

    if ctx.stage("pool", pool_stage).get("sha1") != _sha1(pool):
        raise ValueError(f"{out} was started on another pool of examples; resume with the same data")
    loop = _Loop(cfg, ctx, mix, read_jsonl(out / "pool.jsonl"), read_jsonl(out / "tools.jsonl"), score,
                 count_tokens, progress)  # fmt: skip
    adapter: str | None = cfg.train.adapter
    prev_selected: int | None = None
    audits: list[dict[str, Any]] = []
    stop = "max_iterations"
    for i in range(1, cfg.iterations + 1):
        console.rule(f"ToolACE-R iteration {i}/{cfg.iterations}")
        reason, adapter, prev_selected = loop.iteration(i, adapter, prev_selected)
        audits.append(read_json(out / f"iter{i}" / "audit.json"))
        if reason is not None:
            stop = reason
            break
    if generators is None:
        gens.release()
    summary = {
        "pool": len(loop.pool),
        "pool_skipped": skipped,
        "iterations_run": len(audits),
        "iterations_trained": sum(1 for a in audits if a["trained"]),
        "stop_reason": stop,
        "selected": [a["selection"]["selected"] for a in audits],
        "adapter": adapter,
        "adapter_rel": ctx.rel(adapter),  # relative to <out>
        "iterations": audits,
    }
    atomic_write_json(out / SUMMARY, summary)
    console.print(f"[bold green]ToolACE-R done[/bold green] · {stop} · adapter {adapter}")
    return summary


@dataclass
class _Loop:
    """One iteration's stages over the loop's fixed inputs (pool, distractor pool, mixture, scorer)."""

    cfg: ToolaceRConfig
    ctx: Ctx
    mix: TaskMixConfig
    pool: list[dict]
    distractors: list[dict]
    score: Score
    count_tokens: Callable[[str], int] | None
    progress: bool

    def count(self, text: str) -> int:
        if self.count_tokens is None:  # the tokenizer loads only when a samples stage runs
            self.count_tokens = token_counter(self.cfg.train.model)
        return self.count_tokens(text)

    def iteration(
        self, i: int, start: str | None, prev_selected: int | None
    ) -> tuple[str | None, str | None, int]:
        """Iteration `i` from adapter `start`: (stop reason or None, adapter after it, selected count)."""
        ctx, d, S = self.ctx, self.ctx.path(f"iter{i}"), f"iter{i}"
        ctx.stage(f"{S}.score", lambda: self.sample(i, d, start))
        n_sel = ctx.stage(f"{S}.select", lambda: self.select(i, d))["selected"]
        reason = None
        if n_sel == 0:
            reason = "nothing_selected"
        elif prev_selected is not None and stopped_shrinking(prev_selected, n_sel):
            reason = (
                "not_shrinking"  # training on i-1's selection no longer shrank it: i-1's adapter is final
            )
        if reason is None:
            ctx.stage(f"{S}.samples", lambda: _samples(self, d, i))
            if not read_jsonl(d / "samples.jsonl"):
                reason = "no_training_data"
        adapter = start
        if reason is None:
            adapter = str(d / "adapter")
            ctx.stage(f"{S}.train", lambda: self.train(i, d, start))
            if self.cfg.eval_categories:
                ctx.stage(f"{S}.eval", lambda: _evaluate(self.cfg, ctx, d, str(d / "adapter"), self.progress))
        ctx.stage(f"{S}.audit", lambda: _audit(ctx, d, i, start, adapter, reason))
        return reason, adapter, n_sel

    def sample(self, i: int, d: Path, start: str | None) -> dict[str, Any]:
        """k answers per pool example from the current model, scored -> scored.jsonl."""
        cfg = self.cfg
        gen = self.ctx.generators.get(start)
        scored = sample_and_score(
            gen, self.pool, cfg.k, cfg.temperature, self.mix.prompt_set, self.score, _seed(cfg, i, 1),
            cfg.max_new_tokens, progress=self.progress,
        )  # fmt: skip
        rows = [{"id": s.example["id"], "pass_rate": s.pass_rate, "answers": s.answers,
                 "verdicts": s.verdicts} for s in scored]  # fmt: skip
        write_jsonl(d / "scored.jsonl", rows)
        fn = getattr(gen, "count_tokens", None)
        n_tokens = fn([a for r in rows for a in r["answers"]]) if callable(fn) else None
        return {"answers": sum(len(r["answers"]) for r in rows), "sampling_tokens": n_tokens}

    def select(self, i: int, d: Path) -> dict[str, Any]:
        """Below-threshold examples + the solved replay -> selected.jsonl; the record is the stage info."""
        cfg = self.cfg
        rates = [r["pass_rate"] for r in read_jsonl(d / "scored.jsonl")]
        selected, record = select(self.pool, rates, cfg.threshold, cfg.solved_share, _seed(cfg, i, 2), cfg.k)
        write_jsonl(d / "selected.jsonl", selected)
        return record

    def train(self, i: int, d: Path, start: str | None) -> dict[str, Any]:
        """LoRA training of the iteration, continuing `start` (training.train resumes its checkpoints)."""
        info = train_adapter(
            self.ctx, f"iter{i}.train", self.cfg.train, model=self.cfg.train.model,
            samples=d / "samples.jsonl", out=d / "adapter", init_adapter=start, seed=self.cfg.seed + i,
            prompt_set=self.mix.prompt_set,
        )  # fmt: skip
        data = read_json(d / "adapter" / "train_metrics.json").get("data", {})
        return {**info, "supervised_tokens": data.get("loss_tokens"), "tokens": data.get("tokens")}


def _samples(loop: _Loop, d: Path, i: int) -> dict[str, Any]:
    """The iteration's training set: invocation samples of the selected examples + the refinement corpus
    from this iteration's scored answers, shuffled (seeded). Writes samples.jsonl + samples_report.json."""
    cfg, mix, by_id = loop.cfg, loop.mix, {ex["id"]: ex for ex in loop.pool}
    selected = read_jsonl(d / "selected.jsonl")
    skipped: Counter = Counter()
    inv = build_invocation(selected, loop.distractors, replace(mix, seed=_seed(cfg, i, 3)), skipped=skipped)
    inv = dedupe(inv) if mix.dedupe else inv
    ref: list[dict] = []
    ref_report = None
    if cfg.refinement_from != "none":
        ids = {ex["id"] for ex in selected}
        rows = [r for r in read_jsonl(d / "scored.jsonl") if cfg.refinement_from == "all" or r["id"] in ids]
        scored = [
            {"example": by_id[r["id"]], "answers": r["answers"], "verdicts": r["verdicts"]} for r in rows
        ]
        ref, ref_report = build_refinement(
            scored, cfg.keep_share, prompts=mix.prompt_set, seed=_seed(cfg, i, 4)
        )
    samples = inv + ref
    random.Random(f"toolace_r:{_seed(cfg, i, 5)}").shuffle(samples)
    write_jsonl(d / "samples.jsonl", samples)
    report = {
        "selected": len(selected),
        "total": len(samples),
        "tasks": task_counts(samples),
        "invocation": {
            "samples": len(inv),
            "no_call": sum(1 for s in inv if s["completion"][0]["content"] == NO_CALL),
            "skipped": dict(sorted(skipped.items())),
        },
        "refinement_from": cfg.refinement_from,
        "refinement": ref_report,
        **token_report(samples, loop.count, ("invocation", REFINEMENT)),
    }
    atomic_write_json(d / "samples_report.json", report)
    return {"samples": len(samples), "tasks": report["tasks"]}


def _evaluate(cfg: ToolaceRConfig, ctx: Ctx, d: Path, adapter: str, progress: bool) -> dict[str, Any]:
    """BFCL of the iteration's adapter -> iter<i>/eval/ (the run's eval stage does the final one)."""
    from open_toolace.evaluate import evaluate_bfcl
    from open_toolace.pipeline.eval import headline

    scores = evaluate_bfcl(
        ctx.generators.get(adapter),
        cfg.eval_categories,
        cfg.eval_limit,
        d / "eval",
        max_new_tokens=cfg.eval_max_new_tokens,
        seed=cfg.seed,
        progress=progress,
        prompts=cfg.mixture().prompt_set,
        meta={"model": cfg.train.model, "adapter": adapter, "backend": cfg.backend},
    )
    return {"overall": headline(scores), "n_items": scores.get("n_items")}


def _audit(
    ctx: Ctx, d: Path, i: int, start: str | None, adapter: str | None, stopped: str | None
) -> dict[str, Any]:
    """The iteration's audit.json, from its stages' outputs and manifest entries (so a resumed iteration
    reports what its finished stages did, with their own seconds)."""
    S = f"iter{i}"
    stages = {n: ctx.manifest.get(f"{S}.{n}") or {} for n in ("score", "select", "samples", "train", "eval")}
    rec = stages["select"]
    report = read_json(d / "samples_report.json") if (d / "samples_report.json").exists() else {}
    ref = report.get("refinement") or {}
    trained = stopped is None
    train = stages["train"]
    audit = {
        "iteration": i,
        "adapter_in": ctx.rel(start) if start else None,
        "adapter_out": ctx.rel(adapter) if trained and adapter else None,
        "trained": trained,
        "stopped": stopped,
        "pool": rec.get("pool"),
        "histogram": rec.get("histogram"),
        "selection": {k: rec.get(k) for k in ("unsolved", "solved", "solved_kept", "selected", "threshold")},
        "samples": {"total": report.get("total"), "tasks": report.get("tasks")},
        "refinement": {k: ref.get(k) for k in _REFINEMENT_KEYS},
        "supervised_tokens_in_samples": report.get("supervised_tokens"),
        "train": {k: train.get(k) for k in _TRAIN_KEYS} if trained else None,
        "sampling_tokens": stages["score"].get("sampling_tokens"),
        "bfcl": stages["eval"].get("overall"),
        "seconds": {n: s.get("seconds") for n, s in stages.items() if s},
        "wall_s": round(sum(s.get("seconds") or 0 for s in stages.values()), 2),
    }
    atomic_write_json(d / "audit.json", audit)
    return {"selected": rec.get("selected"), "trained": trained, "stopped": stopped}
