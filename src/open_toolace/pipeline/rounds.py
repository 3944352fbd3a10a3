"""One self-evolution round over the run directory: the `evolve` steps as resumable stages.

rounds/r<r>/queries.jsonl       a fresh slice of the unlabeled pool (disjoint from earlier rounds; of
                                evolve.queries when set: + query_rejects.jsonl)
           tools.jsonl          queries with their candidate tools (generated, retrieved from the catalog,
                                or both: evolve.tool_source; + tool_rejects.jsonl)
           catalog_rejects.jsonl, distractors.jsonl   retrieve/both: catalog entries refused, and the
                                catalog tools ranked just below a query's candidates (triplet distractors)
           invocations.jsonl    + k sampled invocations each
           votes.jsonl          one vote record per item (agreement, winner, answer counts)
           voted.jsonl          items whose vote has a winner (+ vote_rejects.jsonl: those without)
           kept.jsonl           voted items that passed the rule checker: the round's new labels
           rejects.jsonl        every item lost on the way, with its step and reason
           triplets.jsonl       the round's training samples (invocation, abstention, tool generation)
           train.jsonl          what the round trains on (triplets + replay, or the restart mixture)
           adapter/             the round's LoRA adapter
           audit.json           the round's audit (evolve.audit + training + BFCL delta)
eval/r<r>/                      BFCL run directory of the round's adapter
"""

from __future__ import annotations

import random
import shutil
from dataclasses import replace
from typing import Any

from open_toolace import evolve
from open_toolace.evaluate.compare import compare_dirs, significant_drops
from open_toolace.evolve import budget
from open_toolace.io import atomic_write_json, read_json, read_jsonl, write_jsonl
from open_toolace.pipeline import catalog
from open_toolace.pipeline.bootstrap import train_adapter
from open_toolace.pipeline.config import RunConfig
from open_toolace.pipeline.eval import eval_stage, headline
from open_toolace.pipeline.manifest import Ctx, console


def _gen_seed(cfg: RunConfig, r: int, step: int) -> int:
    return cfg.seed * 1000 + r * 10 + step


def run_round(cfg: RunConfig, ctx: Ctx, r: int, prev_adapter: str, prev_eval: str) -> str:
    """Round `r` from the adapter `prev_adapter` (run-dir relative); returns the round's adapter."""
    ev, d, S = cfg.evolve, f"rounds/r{r}", f"r{r}"
    prompt_set = cfg.bootstrap.mix.prompt_set

    def p(name: str):
        return ctx.path(d, name)

    def queries() -> dict[str, Any]:
        used = {q["id"] for j in range(1, r) for q in read_jsonl(ctx.path(f"rounds/r{j}", "queries.jsonl"))}
        info: dict[str, Any] = {}
        # The user's query log is read afresh each round: keep it unchanged (or append to it) while resuming.
        if ev.queries is not None:
            source, bad = catalog.user_queries(ev.queries)
            write_jsonl(p("query_rejects.jsonl"), bad)
            info = {"source": ev.queries, "query_rejects": len(bad)}
        else:
            source = read_jsonl(ctx.path("seed", "queries.jsonl"))
        pool = [q for q in source if q["id"] not in used]
        fresh = pool[: ev.queries_per_round]
        if not fresh:
            where = ev.queries or "seed/queries.jsonl"
            raise ValueError(f"round {r}: the unlabeled query pool ({where}) is used up ({len(used)} used)")
        return {"queries": write_jsonl(p("queries.jsonl"), fresh), **info}

    def tools() -> dict[str, Any]:
        qs = read_jsonl(p("queries.jsonl"))
        info: dict[str, Any] = {}

        def generate(queries: list[dict]) -> tuple[list[dict], list[dict]]:  # the previous round's model
            gen = ctx.generators.get(ctx.path(prev_adapter))
            sampling = ev.tool_sampling(_gen_seed(cfg, r, 1))
            return evolve.generate_tools(
                gen, queries, ev.m, sampling, progress=cfg.progress, prompts=prompt_set
            )

        index = None
        if ev.tool_source != "generate":  # BM25 over the catalog (no model)
            index, catalog_rejects = catalog.round_index(cfg, ctx)
            write_jsonl(p("catalog_rejects.jsonl"), catalog_rejects)
            info = {"catalog": len(index), "catalog_rejects": len(catalog_rejects)}
        kept, rejected, retrieved = evolve.candidate_tools(
            ev.tool_source, qs, ev.m, ev.retrieve_top_n, generate, index
        )
        if index is not None:
            write_jsonl(p("distractors.jsonl"), evolve.distractor_tools(index, kept))
            info["retrieved"] = retrieved
        write_jsonl(p("tool_rejects.jsonl"), rejected)
        return {"with_tools": write_jsonl(p("tools.jsonl"), kept), "rejected": len(rejected), **info}

    def invoke() -> dict[str, Any]:
        gen = ctx.generators.get(ctx.path(prev_adapter))
        items = read_jsonl(p("tools.jsonl"))
        sampling = ev.invocation_sampling(_gen_seed(cfg, r, 2))
        budgets = {}
        if ev.invoke_max_new_tokens is None:  # a cap per query type that covers the seed's answers
            budgets = budget.answer_budgets(
                read_jsonl(ctx.path("seed", "examples.jsonl")), budget.counter_of(gen)
            )
        sampled: list[dict | None] = [None] * len(items)
        for cap, idx in budget.group_by_budget(items, budgets, sampling.max_new_tokens).items():
            outs = evolve.sample_invocations(
                gen, [items[i] for i in idx], sampling.with_(max_new_tokens=cap), cfg.progress, prompt_set
            )
            for i, o in zip(idx, outs, strict=True):
                sampled[i] = o
        return {"items": write_jsonl(p("invocations.jsonl"), sampled), "budgets": budgets}

    def vote() -> dict[str, Any]:
        voted, rejected, records = evolve.vote_items(
            read_jsonl(p("invocations.jsonl")),
            ev.vote_threshold,
            ev.keep_no_call,
            ev.min_votes,
            ev.relax_tools,
        )
        write_jsonl(p("votes.jsonl"), records)
        write_jsonl(p("vote_rejects.jsonl"), rejected)
        return {"voted": write_jsonl(p("voted.jsonl"), voted), "rejected": len(rejected)}

    def rules() -> dict[str, Any]:
        kept, rej_rules = evolve.rule_filter(read_jsonl(p("voted.jsonl")), ev.grounding, ev.coverage)
        rejected = read_jsonl(p("tool_rejects.jsonl")) + read_jsonl(p("vote_rejects.jsonl")) + rej_rules
        write_jsonl(p("rejects.jsonl"), rejected)
        return {"kept": write_jsonl(p("kept.jsonl"), kept), "rejected": len(rej_rules)}

    def triplets() -> dict[str, Any]:
        kept = read_jsonl(p("kept.jsonl"))
        replay = read_jsonl(ctx.path("bootstrap", "samples.jsonl"))
        share = ev.replay_share if ev.init == "continue" else 0.0
        mix = replace(ev.mix, prompt_set=prompt_set)  # the round teaches in the set the model was trained on
        # distractors and abstention tools: the seed's tools and every candidate tool of this round
        pool = [t for ex in read_jsonl(ctx.path("seed", "examples.jsonl")) for t in ex.get("tools") or []]
        pool += [t for it in read_jsonl(p("tools.jsonl")) for t in it.get("tools") or []]
        if ev.tool_source != "generate":  # + the catalog's near misses of this round's queries
            pool += read_jsonl(p("distractors.jsonl"))
        samples, report = evolve.build_triplets(
            kept, replay, share, mix, pool, seed=_gen_seed(cfg, r, 3), replay_balance=ev.replay_balance
        )
        write_jsonl(p("triplets.jsonl"), [s for s in samples if not s["id"].startswith("replay:")])
        if ev.init == "restart":  # the seed mixture + every round's triplets so far, from the base model
            samples = replay + [
                s for j in range(1, r + 1) for s in read_jsonl(ctx.path(f"rounds/r{j}", "triplets.jsonl"))
            ]
            random.Random(_gen_seed(cfg, r, 4)).shuffle(samples)
            report["total"] = len(samples)
        write_jsonl(p("train.jsonl"), samples)
        atomic_write_json(p("triplets_report.json"), report)
        return {"samples": len(samples), "tasks": report["tasks"]}

    def train() -> dict[str, Any]:
        if not read_jsonl(p("triplets.jsonl")):
            console.print(
                f"[yellow]round {r}: no verified sample survived; the adapter is not trained[/yellow]"
            )
            return {"adapter": prev_adapter, "skipped": "no_training_data"}
        restart = ev.init == "restart"
        info = train_adapter(
            ctx,
            f"{S}.train",
            cfg.bootstrap.train if restart else ev.train,
            model=cfg.model,
            samples=p("train.jsonl"),
            out=p("adapter"),
            init_adapter=None if restart else str(ctx.path(prev_adapter)),
            seed=cfg.seed + r,
            prompt_set=prompt_set,
        )
        return {**info, "adapter": f"{d}/adapter"}

    ctx.stage(f"{S}.queries", queries)
    ctx.stage(f"{S}.tools", tools)
    ctx.stage(f"{S}.invoke", invoke)
    ctx.stage(f"{S}.vote", vote)
    ctx.stage(f"{S}.rules", rules)
    ctx.stage(f"{S}.triplets", triplets)
    adapter = ctx.stage(f"{S}.train", train)["adapter"]

    def evaluate() -> dict[str, Any]:
        if adapter == prev_adapter:  # nothing was trained: the previous scores stand, no new generation
            src, dst = ctx.path("eval", prev_eval), ctx.path("eval", S)
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(src, dst)
            return {"overall": headline(read_json(dst / "scores.json")), "same_as": prev_eval}
        return eval_stage(cfg, ctx, S, adapter)

    ctx.stage(f"eval.{S}", evaluate)
    ctx.stage(f"{S}.audit", lambda: round_audit(ctx, r, prev_eval))
    return adapter


def round_audit(ctx: Ctx, r: int, prev_eval: str) -> dict[str, Any]:
    """evolve.audit over the round's files, plus its training and its BFCL delta; warns on a drop."""
    d = ctx.path(f"rounds/r{r}")
    report = evolve.audit(
        read_jsonl(d / "queries.jsonl"),
        read_jsonl(d / "tools.jsonl"),
        read_jsonl(d / "votes.jsonl"),
        read_jsonl(d / "kept.jsonl"),
        read_jsonl(d / "rejects.jsonl"),
        read_json(d / "triplets_report.json"),
    )
    train = ctx.manifest.get(f"r{r}.train") or {}
    before = headline(read_json(ctx.path("eval", prev_eval, "scores.json")))
    after = headline(read_json(ctx.path("eval", f"r{r}", "scores.json")))
    delta = None if before is None or after is None else after - before
    # Same items every stage: paired differences per category (+ non-live AST, honest irrelevance), so a
    # drop is flagged when its 95% interval lies below 0, not whenever the point estimate dips.
    cur = ctx.path("eval", f"r{r}")
    vs_prev = compare_dirs(ctx.path("eval", prev_eval), cur)
    boot = ctx.path("eval", "bootstrap")
    vs_boot = compare_dirs(boot, cur) if (boot / "results.jsonl").exists() else {}
    drops = significant_drops(vs_prev)
    report.update(
        round=r,
        train={k: train.get(k) for k in ("global_step", "train_loss", "last_loss", "skipped", "seconds")},
        bfcl_before=before,
        bfcl_after=after,
        bfcl_delta=delta,
        paired_vs_previous=vs_prev,
        paired_vs_bootstrap=vs_boot,
        significant_drops=drops,
        regressed=bool(drops),
    )
    atomic_write_json(d / "audit.json", report)
    if drops:
        warn_regression(r, drops, vs_prev)
    return {"kept": report["kept"], "bfcl_delta": delta, "regressed": report["regressed"]}


def warn_regression(r: int, drops: list[str], paired: dict[str, dict[str, Any]]) -> None:
    worst = ", ".join(f"{c} {100 * paired[c]['diff']:+.1f}" for c in drops)
    console.print(
        f"[bold red]⚠ round {r} significantly lowered {worst} points (95% interval below 0, paired on the "
        "same items). See its audit; consider a lower sampling temperature, a higher vote threshold, more "
        "replay, or evolve.init=restart.[/bold red]"
    )
