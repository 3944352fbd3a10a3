"""Evaluation runs: items -> prompts -> one greedy batched generation -> scorer -> run directory.

    from open_toolace.evaluate import evaluate_bfcl
    from open_toolace.generation import make_generator
    scores = evaluate_bfcl(make_generator("hf", "embedded:smollm2-135m"), ["simple_python"], limit=20,
                           out_dir="runs/eval/smollm2")

Run directory: `results.jsonl` (one scored row per item: id, category, output, decoded, valid, error_type,
...), `scores.json`, `report.md`, `scores.png`, `eval_config.yaml`, `manifest.json`.

With `samples=K > 1` a sampled pass (K texts per item at `temperature`) follows the greedy one and
scores.json gains a `headroom` section (greedy / maj@K / pass@K; `evaluate.headroom`, samples_<category>.jsonl).
With `refine=N > 0` the greedy answers are then self-refined up to N steps (`evaluate.refinement`: scores.json
`refinement`, refine_<category>.jsonl).

Resumable: rows already in results.jsonl keep their generated output (only missing items are generated);
rows are appended and fsync'ed after every `save_every` items. Every row is re-scored from its stored raw
output at the end, so a scorer fix never needs a new generation. Pending items are sorted longest prompt
first before they are cut into `save_every` chunks, so each generate call gets prompts of similar length.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from open_toolace.evaluate.aggregate import compute_scores
from open_toolace.evaluate.bfcl import invocation_request, load_bfcl, resolve_categories
from open_toolace.evaluate.config import GENERATION_KEYS, HF_EVAL_BATCH, EvalConfig, default_out_dir
from open_toolace.evaluate.scoring import score_bfcl
from open_toolace.generation import Sampling
from open_toolace.hardware import apply_threads, machine_info
from open_toolace.io import Manifest, atomic_write_json, dir_lock, write_jsonl
from open_toolace.prompts import resolve_prompt_set

if TYPE_CHECKING:
    from open_toolace.evaluate.headroom import VoteFn

RESULTS = "results.jsonl"


def load_results(path: str | Path, usable: Callable[[dict], bool] | None = None) -> dict[str, dict[str, Any]]:
    """Rows of an existing results.jsonl by id (last row wins); an unreadable line (a run killed mid-write)
    is skipped with a warning, so its item is simply generated again. `usable` says whether a row holds a
    finished generation (default: a str `output`; the sample files of `evaluate.headroom` pass their own)."""
    usable = usable or (lambda row: isinstance(row.get("output"), str))
    p = Path(path)
    rows: dict[str, dict[str, Any]] = {}
    if not p.exists():
        return rows
    bad = 0
    with p.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if isinstance(row, dict) and isinstance(row.get("id"), str) and usable(row):
                rows[row["id"]] = row
            elif not (isinstance(row, dict) and row.get("error_type") == "prompt_error"):
                bad += 1
    if bad:
        print(
            f"warning: {p}: {bad} unreadable line(s) skipped; those items are generated again",
            file=sys.stderr,
        )
    return rows


def longest_first(requests: list[list[dict]]) -> list[int]:
    """The order requests go to the backend: longest first (by rendered size), so a batch holds neighbours in
    length and pads little; ties keep their order."""
    return sorted(range(len(requests)), key=lambda i: -len(json.dumps(requests[i])))


def score_row(item: dict[str, Any], output: str) -> dict[str, Any]:
    verdict = score_bfcl(output, item, item["category"])
    decoded = verdict.get("decoded")
    row = {"id": item["id"], "category": item["category"], "output": output, **verdict}
    row["n_calls"] = len(decoded) if isinstance(decoded, list) else None
    return row


def _requests(items: list[dict[str, Any]], prompts: Any) -> tuple[list[list[dict]], list[dict], list[dict]]:
    """Chat requests for the items whose prompt renders; the others become rejected rows."""
    ok, requests, failed = [], [], []
    for item in items:
        try:
            requests.append(invocation_request(item, prompts))
            ok.append(item)
        except Exception as e:  # a bad item must not stop the run; it is recorded as invalid
            failed.append(
                {
                    "id": item["id"],
                    "category": item["category"],
                    "output": None,
                    "valid": False,
                    "error_type": "prompt_error",
                    "error": f"{type(e).__name__}: {e}",
                    "decoded": None,
                }
            )
    return requests, ok, failed


def _check_reuse(out_dir: Path, meta: dict[str, Any], fresh: bool) -> None:
    # bf16 and fp32 weights give different greedy outputs, so dtype is a generation setting too
    meta = {**meta, "dtype": meta.get("dtype") or "auto"}
    path = out_dir / "generation.json"
    results = out_dir / RESULTS
    if fresh and results.exists():
        results.unlink()
    if results.exists() and path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        old.setdefault("dtype", "auto")  # written before dtype was recorded
        old.setdefault("prompt_set", "bfcl")  # written before prompt sets existed
        diff = {k: (old.get(k), meta.get(k)) for k in GENERATION_KEYS if old.get(k) != meta.get(k)}
        if diff:
            raise ValueError(
                f"{out_dir} holds outputs generated with other settings {diff}; use another --out or --fresh"
            )
    atomic_write_json(path, {k: meta.get(k) for k in GENERATION_KEYS})


def check_pass_settings(
    out: Path, meta: dict[str, Any], extra: dict[str, Any], fresh: bool, *, files: str, name: str, what: str
) -> None:
    """A pass after the greedy one (headroom samples, refinements) reuses its files in `out` (the glob
    `files`) only when made with the same settings: the greedy rule (`GENERATION_KEYS` and dtype from
    `meta`) plus the pass's own `extra`, recorded in `out/name`; `fresh` deletes the files first. One rule
    for every pass, so they cannot drift apart; `what` names the files in the error ("samples drawn")."""
    settings = {key: meta.get(key) for key in GENERATION_KEYS}
    settings.update(dtype=meta.get("dtype") or "auto", **extra)
    paths = sorted(out.glob(files))
    path = out / name
    if fresh:
        for p in paths:
            p.unlink()
    elif paths and path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        diff = {k: (old.get(k), v) for k, v in settings.items() if old.get(k) != v}
        if diff:
            raise ValueError(f"{out} holds {what} with other settings {diff}; use another --out or --fresh")
    atomic_write_json(path, settings)


def progress_bar(show: bool, total: int, desc: str) -> Any:
    """A tqdm bar over `total` items, or None when `show` is off or nothing is to be done (so tqdm is only
    imported when a bar is drawn)."""
    if not (show and total):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="item")


def append_chunks(
    path: Path,
    requests: list[list[dict]],
    save_every: int,
    rows_of: Callable[[list[int]], Iterable[dict[str, Any]]],
    done: dict[str, dict[str, Any]],
    bar: Any = None,
) -> int:
    """The resumable loop of every pass: the indices of `requests`, longest first, cut into chunks of
    `save_every`; `rows_of(chunk)` makes the chunk's rows (one generate call), each is put in `done` by id
    and appended to `path`, which is flushed and fsync'ed after every chunk (a killed run loses at most one
    chunk). Advances `bar` per chunk; returns how many requests were done."""
    order, step, n = longest_first(requests), max(1, save_every), 0
    with path.open("a", encoding="utf-8") as f:
        for start in range(0, len(order), step):
            chunk = order[start : start + step]
            for row in rows_of(chunk):
                done[row["id"]] = row
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
            n += len(chunk)
            if bar is not None:
                bar.update(len(chunk))
    return n


def rewrite_rows(path: Path, rows: list[dict[str, Any]], done: dict[str, dict[str, Any]]) -> None:
    """Rewrite a pass's file deduplicated: this run's `rows`, then the stored rows (`done`, by id) of items
    outside this run (e.g. a larger --limit earlier), kept untouched at the end."""
    wanted = {r["id"] for r in rows}
    write_jsonl(path, rows + [r for i, r in done.items() if i not in wanted])


def evaluate_items(
    generator: Any,
    items: list[dict[str, Any]],
    out_dir: str | Path,
    *,
    bfcl_groups: bool = True,
    save_every: int = HF_EVAL_BATCH,
    max_new_tokens: int = 256,
    seed: int = 0,
    progress: bool = True,
    meta: dict[str, Any] | None = None,
    rejects: list[dict] | None = None,
    fresh: bool = False,
    prompts: Any = None,
    samples: int = 1,
    temperature: float = 0.7,
    vote: VoteFn | None = None,
    refine: int = 0,
) -> dict[str, Any]:
    """Generate what is missing, score everything, write the run directory; returns the scores dict.
    `samples > 1` adds the headroom pass (`evaluate.headroom`, with `vote`); `refine > 0` self-refinement
    of the greedy answers (`evaluate.refinement`)."""
    from open_toolace.evaluate.headroom import check_sampling, evaluate_headroom
    from open_toolace.evaluate.refinement import check_refine, evaluate_refinement
    from open_toolace.evaluate.report import write_chart, write_report

    check_sampling(samples, temperature)
    check_refine(refine)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = dict(meta or {})
    meta.setdefault("max_new_tokens", max_new_tokens)
    meta.setdefault("prompt_set", prompts if isinstance(prompts, str) else "custom" if prompts else "bfcl")
    _check_reuse(out, meta, fresh)
    ids = [it["id"] for it in items]
    if len(set(ids)) != len(ids):
        raise ValueError("item ids must be unique")
    results_path = out / RESULTS
    done = load_results(results_path)
    pending = [it for it in items if it["id"] not in done]
    requests, gen_items, failed = _requests(pending, prompts)
    sampling = Sampling(n=1, temperature=0.0, max_new_tokens=max_new_tokens, seed=seed)

    def rows_of(chunk: list[int]) -> Iterable[dict[str, Any]]:
        outs = generator.generate([requests[i] for i in chunk], sampling, progress=False)
        return (score_row(gen_items[i], texts[0]) for i, texts in zip(chunk, outs, strict=True))

    bar = progress_bar(progress, len(gen_items), "eval: generate")
    t0 = time.perf_counter()
    generated = append_chunks(results_path, requests, save_every, rows_of, done, bar)
    if bar is not None:
        bar.close()
    gen_seconds = time.perf_counter() - t0

    # Re-score every row from its raw output (resumed rows included) and rewrite the file deduplicated,
    # keeping rows of items outside this run (e.g. a larger --limit earlier) untouched at the end.
    by_id = {it["id"]: it for it in items}
    rows = [score_row(by_id[i], done[i]["output"]) for i in ids if i in done]
    rows += failed
    rewrite_rows(results_path, rows, done)

    scores = compute_scores(rows, bfcl_groups=bfcl_groups)
    scores.update(meta)
    scores["machine"] = machine_info(meta.get("dtype"))
    scores["n_items"] = len(rows)
    scores["rejects"] = rejects or []
    scores["timing"] = {
        "generated_items": generated,
        "generation_seconds": round(gen_seconds, 2),
        "items_per_second": round(generated / gen_seconds, 3) if generated and gen_seconds else None,
    }
    if samples > 1:
        scores["headroom"] = evaluate_headroom(
            generator, items, rows, out, k=samples, temperature=temperature, seed=seed,
            max_new_tokens=max_new_tokens, save_every=save_every, progress=progress, prompts=prompts,
            meta=meta, fresh=fresh, bfcl_groups=bfcl_groups, vote=vote,
        )  # fmt: skip
    if refine:
        scores["refinement"] = evaluate_refinement(
            generator, items, rows, out, n_steps=refine, seed=seed, max_new_tokens=max_new_tokens, meta=meta,
            save_every=save_every, progress=progress, prompts=prompts, fresh=fresh, bfcl_groups=bfcl_groups,
        )  # fmt: skip
    atomic_write_json(out / "scores.json", scores)
    write_report(out, scores, rows)
    write_chart(out / "scores.png", scores)
    Manifest.open(out).mark_done("eval", n_items=len(rows), generated=generated)
    return scores


def evaluate_bfcl(
    generator: Any,
    categories: str | list[str],
    limit: int | None = None,
    out_dir: str | Path = "runs/eval/bfcl",
    **kw: Any,
) -> dict[str, Any]:
    """Run BFCL `categories` (names or groups), first `limit` items each; see `evaluate_items` for kw."""
    cats = resolve_categories(categories)
    meta = {"benchmark": "bfcl", "categories_run": cats, "limit": limit, **kw.pop("meta", {})}
    return evaluate_items(generator, load_bfcl(cats, limit), out_dir, meta=meta, **kw)


def evaluate_dataset(
    generator: Any,
    path: str | Path,
    out_dir: str | Path,
    answers: str | Path | None = None,
    limit: int | None = None,
    **kw: Any,
) -> dict[str, Any]:
    """Run a BFCL-format file (see evaluate.dataset for the format); rejected records go to rejects.jsonl."""
    from open_toolace.evaluate.dataset import load_dataset

    items, rejects = load_dataset(path, answers)
    if limit is not None:
        items = items[:limit]
    if rejects:
        write_jsonl(Path(out_dir) / "rejects.jsonl", rejects)
        print(
            f"warning: {len(rejects)} record(s) of {path} rejected (see {Path(out_dir) / 'rejects.jsonl'})",
            file=sys.stderr,
        )
    if not items:
        raise ValueError(f"{path}: no usable records ({len(rejects)} rejected)")
    meta = {
        "benchmark": "dataset",
        "dataset": str(path),
        "answers": str(answers) if answers else None,
        **kw.pop("meta", {}),
    }
    return evaluate_items(generator, items, out_dir, meta=meta, rejects=rejects, bfcl_groups=False, **kw)


def generator_dtype(generator: Any, asked: str | None = None) -> str:
    """The dtype a generator really runs in (the hf backend says), else what was asked for (or `auto`):
    recorded with every score, since bf16 and fp32 weights give different greedy outputs."""
    return getattr(generator, "dtype", None) or asked or "auto"


def run_eval(cfg: EvalConfig, generator: Any = None) -> dict[str, Any]:
    """The `toolace eval` job: build the generator (unless given), run, save the resolved config."""
    out = Path(cfg.out) if cfg.out else default_out_dir(cfg)
    cfg = replace(cfg, out=str(out))
    out.mkdir(parents=True, exist_ok=True)
    with dir_lock(out):  # a second eval into this directory stops here with a clear error
        return _run_eval(cfg, out, generator)


def _run_eval(cfg: EvalConfig, out: Path, generator: Any) -> dict[str, Any]:
    from open_toolace.config import save_config
    from open_toolace.evaluate.headroom import check_sampling
    from open_toolace.evaluate.refinement import check_refine

    save_config(cfg, out / "eval_config.yaml")
    # fail on a bad category or a missing file before a model is loaded
    if cfg.dataset:
        if not Path(cfg.dataset).exists():
            raise FileNotFoundError(f"dataset file not found: {cfg.dataset}")
    elif cfg.benchmark != "bfcl":
        raise ValueError(f"unknown benchmark {cfg.benchmark!r} (bfcl; or use --dataset FILE)")
    else:
        resolve_categories(cfg.categories)
    check_sampling(cfg.samples, cfg.temperature)
    check_refine(cfg.refine)
    apply_threads(cfg.threads)
    if generator is None:
        from open_toolace.generation import make_generator

        kw = dict(cfg.backend_args)
        # hf batches prompts; an OpenAI-compatible server batches what arrives, so send that many at once;
        # vLLM schedules the whole request list itself
        key = {"hf": "batch_size", "openai": "concurrency"}.get(cfg.backend)
        batch = cfg.batch_size if cfg.batch_size is not None else {"hf": HF_EVAL_BATCH}.get(cfg.backend)
        if batch is not None and key:
            kw.setdefault(key, batch)
        generator = make_generator(cfg.backend, cfg.model, adapter=cfg.adapter, **kw)
    common = {
        "save_every": cfg.save_every,
        "max_new_tokens": cfg.max_new_tokens,
        "seed": cfg.seed,
        "progress": cfg.progress,
        "fresh": cfg.fresh,
        "samples": cfg.samples,
        "temperature": cfg.temperature,
        "refine": cfg.refine,
        "prompts": resolve_prompt_set(cfg.prompt_set, cfg.adapter),
        "meta": {
            "model": cfg.model,
            "adapter": cfg.adapter,
            "backend": cfg.backend,
            "dtype": generator_dtype(generator, cfg.backend_args.get("dtype")),
            "config": asdict(cfg),
        },
    }
    if cfg.dataset:
        return evaluate_dataset(generator, cfg.dataset, out, answers=cfg.answers, limit=cfg.limit, **common)
    return evaluate_bfcl(generator, cfg.categories, cfg.limit, out, **common)
