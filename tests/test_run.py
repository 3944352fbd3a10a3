"""End-to-end `toolace run` on tiny-random: stages, round files, report, and resume after a failure or a kill.

The in-process tests pass `run` a `make_generator` whose generator scripts the rounds' tool and invocation
sampling (a random tiny model never writes a valid tool list, so its rounds would stop at the tool step) and
hands every other request (BFCL evaluation) to the real tiny-random model; training is real too. The subprocess test kills a
real process (SIGKILL) in the middle of bootstrap training and resumes it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from faults import FailAt, InjectedFailure
from open_toolace.config import ConfigError, load_config
from open_toolace.data.records import make_example
from open_toolace.generation import make_generator
from open_toolace.generation.fake import FakeGenerator
from open_toolace.io import read_json, read_jsonl, write_jsonl
from open_toolace.pipeline.run import RunConfig, run

TOOLS = {
    "get_weather": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
    "convert_currency": {
        "name": "convert_currency",
        "description": "Convert money between currencies.",
        "parameters": {
            "type": "object",
            "properties": {"amount": {"type": "number"}, "to": {"type": "string"}},
            "required": ["amount", "to"],
        },
    },
    "find_recipe": {
        "name": "find_recipe",
        "description": "Find a recipe by dish name.",
        "parameters": {"type": "object", "properties": {"dish": {"type": "string"}}, "required": ["dish"]},
    },
}
CITIES = ["Paris", "Oslo", "Lima", "Cairo", "Quito", "Hanoi", "Perth", "Bern", "Riga", "Sofia"]


def write_data(d: Path) -> tuple[Path, Path]:
    seed = []
    for i, city in enumerate(CITIES):
        seed.append(
            make_example(
                f"w{i}",
                [{"role": "user", "content": f"Weather in {city}?"}],
                [TOOLS["get_weather"], TOOLS["find_recipe"]],
                [{"name": "get_weather", "arguments": {"city": city}}],
                source="test",
            )
        )
        seed.append(
            make_example(
                f"c{i}",
                [{"role": "user", "content": f"Convert {i + 2} USD to EUR"}],
                [TOOLS["convert_currency"]],
                [{"name": "convert_currency", "arguments": {"amount": i + 2, "to": "EUR"}}],
                source="test",
            )
        )
    seed.append(
        make_example(
            "n0", [{"role": "user", "content": "Tell me a joke"}], [TOOLS["get_weather"]], [], source="test"
        )
    )
    queries = [
        make_example(
            f"q{i}", [{"role": "user", "content": f"How warm is it in {c} today?"}], [], None, source="test"
        )
        for i, c in enumerate(CITIES)
    ]
    write_jsonl(d / "seed.jsonl", seed)
    write_jsonl(d / "queries.jsonl", queries)
    return d / "seed.jsonl", d / "queries.jsonl"


def round_script(messages, k, sampling):
    """Round sampler: tools for weather queries; invocations that mostly agree, some malformed. Requests that
    are not a round's (BFCL items) return None: the real model answers them."""
    text = messages[-1]["content"]
    if "How warm is it" not in text and "API designer" not in messages[0]["content"]:
        return None
    city = next((c for c in CITIES if c in text), "Paris")
    if "API designer" in messages[0]["content"]:  # tool generation
        return (
            json.dumps([TOOLS["get_weather"], TOOLS["find_recipe"]])
            if city != "Lima"
            else "Sure! here: [{broken"
        )
    if city == "Oslo":  # every sample calls a tool it was not given: the vote finds no valid one
        return f'[get_forecast(city="{city}")]'
    return f'[get_weather(city="{city}")]' if k < sampling.n - 1 else "[get_weather(city="


def scripted(backend, model, adapter=None, **kw):
    return FakeGenerator(round_script, fallback=make_generator(backend, model, adapter=adapter, **kw))


def tiny_cfg(tmp: Path, seed_file: Path, queries: Path, *extra: str) -> RunConfig:
    repo = Path(__file__).resolve().parents[1]
    return load_config(
        RunConfig,
        repo / "configs" / "run_tiny.yaml",
        [
            f"seed_data.source={seed_file}",
            f"seed_data.queries={queries}",
            f"out_root={tmp}",
            "bootstrap.mix.prompt_set=bfcl",  # round_script writes its tools as JSON lists
            *extra,
        ],
    )


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny matrices: a second intra-op thread only adds sync cost (and a lot of it on a shared machine).
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def artifacts(run_dir: Path) -> dict[str, object]:
    """What must not differ between an interrupted-and-resumed run and an uninterrupted one."""
    out: dict[str, object] = {}
    for p in sorted(run_dir.rglob("*.jsonl")):
        rel = str(p.relative_to(run_dir))
        if "checkpoint-" in rel:
            continue
        rows = read_jsonl(p)
        out[rel] = [r for r in rows if not isinstance(r, dict) or "seconds" not in r]
    for p in sorted(run_dir.glob("eval/*/scores.json")):
        s = read_json(p)
        out[str(p.relative_to(run_dir))] = {"categories": s["categories"], "summary": s["summary"]}
    for p in sorted(run_dir.glob("rounds/*/audit.json")):
        a = read_json(p)
        a["train"].pop("seconds", None)
        out[str(p.relative_to(run_dir))] = a
    return out


def test_run_end_to_end_then_resume_after_injected_failures(tmp_path):
    seed_file, queries = write_data(tmp_path)
    ref_dir = tmp_path / "ref"
    scores = run(tiny_cfg(tmp_path, seed_file, queries), run_dir=ref_dir, make_generator=scripted)
    assert set(scores) == {"base", "bootstrap", "r1", "r2"}
    assert all(isinstance(v, float) for v in scores.values())

    man = read_json(ref_dir / "manifest.json")["stages"]
    for name in (
        "seed",
        "queries",
        "eval.base",
        "bootstrap.samples",
        "bootstrap.train",
        "eval.bootstrap",
        "r1.queries",
        "r1.tools",
        "r1.invoke",
        "r1.vote",
        "r1.rules",
        "r1.triplets",
        "r1.train",
        "eval.r1",
        "r1.audit",
        "r2.audit",
    ):
        assert man[name]["status"] == "done", name
    r1 = ref_dir / "rounds" / "r1"
    q1 = [q["id"] for q in read_jsonl(r1 / "queries.jsonl")]
    q2 = [q["id"] for q in read_jsonl(ref_dir / "rounds/r2/queries.jsonl")]
    assert q1 == ["q0", "q1", "q2"] and q2 == ["q3", "q4", "q5"], "fresh, disjoint slices"
    rejects = {r["id"]: (r["step"], r["reason"]) for r in read_jsonl(r1 / "rejects.jsonl")}
    # every sample of q1 calls a tool it was not given: none is valid, so the vote drops it
    assert rejects == {"q1": ("vote", "no_valid"), "q2": ("tools", "bad_json")}
    assert [k["id"] for k in read_jsonl(r1 / "kept.jsonl")] == ["q0"]
    votes = read_jsonl(r1 / "votes.jsonl")
    assert [round(v["agreement"], 2) for v in votes] == [1.0, 0.0]  # over valid samples
    assert (r1 / "adapter" / "adapter_model.safetensors").exists()
    assert (r1 / "adapter" / "adapter_config.json").exists()
    assert man["r1.train"]["adapter"] == "rounds/r1/adapter"
    audit = read_json(r1 / "audit.json")
    assert audit["queries"] == 3 and audit["kept"] == 1 and audit["rejected"] == 2
    assert audit["bfcl_after"] == scores["r1"] and audit["bfcl_before"] == scores["bootstrap"]
    paired = audit["paired_vs_previous"]
    assert paired["all"]["n"] == 4 and paired["non_live_ast"]["n"] == 2 and "irrelevance_honest" in paired
    assert audit["paired_vs_bootstrap"]["all"] == paired["all"], "round 1's previous stage is the bootstrap"
    assert audit["regressed"] == bool(audit["significant_drops"])
    shares = audit["training_samples"]["shares"]
    assert set(shares) == {"invocation", "abstention", "tool_generation", "replay"}
    train_rows = read_jsonl(r1 / "train.jsonl")
    assert any(s["id"].startswith("replay:") for s in train_rows), "seed replay in the round's training set"

    report = (ref_dir / "report.md").read_text()
    assert (ref_dir / "accuracy.png").stat().st_size > 1000
    for needle in (
        "| metric | base | bootstrap | r1 | r2 |",
        "simple_python (n=2)",
        "irrelevance (n=2)",
        "Self-evolution audit",
        "vote: no_valid 1",
        "### Paired deltas per category",
        "first 2 items",
        "## Machine",
        "| eval.bootstrap |",
        "| bootstrap.train |",
    ):
        assert needle in report, needle

    # `toolace report RUN` re-renders from the files alone
    (ref_dir / "report.md").unlink()
    from open_toolace.cli import main

    assert main(["report", str(ref_dir)]) == 0
    assert (ref_dir / "report.md").read_text() == report
    assert main(["report", str(tmp_path / "nope")]) == 2

    # Interrupt a second run with the same config at several points; resume each time with the same call.
    run_dir = tmp_path / "resumed"
    cfg = tiny_cfg(tmp_path, seed_file, queries)
    for point in ("bootstrap.train:step1", "r1.tools:before_done", "r1.train:start", "eval.r2:before_done"):
        with pytest.raises(InjectedFailure):
            run(cfg, run_dir=run_dir, make_generator=scripted, hooks=FailAt.parse(point))
    assert run(cfg, run_dir=run_dir, make_generator=scripted) == scores
    assert artifacts(run_dir) == artifacts(ref_dir)
    boot = read_json(run_dir / "bootstrap/adapter/train_metrics.json")
    assert boot["resumed_from"] and boot["resumed_from"].endswith("checkpoint-1"), "training resumed"

    # A finished run is not redone; a different config is refused (more rounds are allowed: see below).
    before = read_json(run_dir / "manifest.json")
    run(cfg, run_dir=run_dir, make_generator=scripted)
    assert read_json(run_dir / "manifest.json") == before
    with pytest.raises(ConfigError, match="evolve.k"):
        run(tiny_cfg(tmp_path, seed_file, queries, "evolve.k=4"), run_dir=run_dir)


def test_round_without_survivors_keeps_the_adapter(tmp_path, monkeypatch):
    """A model that never writes a tool list: rounds record the rejections, skip training, keep scores."""
    seed_file, queries = write_data(tmp_path)
    cfg = tiny_cfg(
        tmp_path, seed_file, queries, "evolve.rounds=1", "eval.base=false", "eval.headroom_samples=2"
    )
    scores = run(cfg, run_dir=tmp_path / "run")
    d = tmp_path / "run"
    man = read_json(d / "manifest.json")["stages"]
    assert man["r1.train"]["skipped"] == "no_training_data"
    assert man["r1.train"]["adapter"] == "bootstrap/adapter"
    assert man["eval.r1"]["same_as"] == "bootstrap" and scores["r1"] == scores["bootstrap"]
    rejects = read_jsonl(d / "rounds/r1/rejects.jsonl")
    assert len(rejects) == 3 and all(r["step"] == "tools" and r["reason"] for r in rejects)
    report = (d / "report.md").read_text()
    assert "not trained (no_training_data)" in report
    # the bootstrap's headroom (2 samples per item) is in its scores and the run report; rounds skip it
    assert read_json(d / "eval/bootstrap/scores.json")["headroom"]["k"] == 2
    assert "## Headroom: greedy vs maj@2 and pass@2" in report


@pytest.mark.slow  # two fresh interpreters importing torch + bfcl-eval: ~50 s; the in-process test covers resume
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_cli_killed_mid_training_resumes(tmp_path):
    """A run SIGKILLed right after a training checkpoint; `toolace run` with the same config finishes it."""
    seed_file, queries = write_data(tmp_path)
    overrides = [
        f"seed_data.source={seed_file}",
        f"seed_data.queries={queries}",
        "evolve.rounds=0",
        "eval.base=false",
    ]
    out = str(tmp_path / "cli")
    args = [
        sys.executable,
        "-m",
        "open_toolace.cli",
        "run",
        "configs/run_tiny.yaml",
        *overrides,
        "--out",
        out,
    ]
    repo = Path(__file__).resolve().parents[1]
    killed = (  # the same run in a process of its own, with a hook that SIGKILLs it after checkpoint 1
        "import json, sys; sys.path.insert(0, sys.argv[1]); from faults import FailAt\n"
        "from open_toolace.config import load_config\n"
        "from open_toolace.pipeline.run import RunConfig, run\n"
        "cfg = load_config(RunConfig, 'configs/run_tiny.yaml', json.loads(sys.argv[2]))\n"
        "run(cfg, run_dir=sys.argv[3], hooks=FailAt.parse('bootstrap.train:step1:kill'))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.run(
        [sys.executable, "-c", killed, str(Path(__file__).parent), json.dumps(overrides), out],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert first.returncode == -9, first.stderr[-2000:]
    assert list((tmp_path / "cli/bootstrap/adapter").glob("checkpoint-1"))
    assert not (tmp_path / "cli/bootstrap/adapter/train_metrics.json").exists()
    second = subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "BFCL overall: bootstrap" in second.stdout
    metrics = read_json(tmp_path / "cli/bootstrap/adapter/train_metrics.json")
    assert metrics["resumed_from"].endswith("checkpoint-1") and metrics["global_step"] == 2
    report = subprocess.run(
        [sys.executable, "-m", "open_toolace.cli", "report", str(tmp_path / "cli")],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert report.returncode == 0 and (tmp_path / "cli/report.md").exists()


def test_check_resume_allows_only_resume_free_changes(tmp_path):
    from open_toolace.config import save_config
    from open_toolace.pipeline.run import check_resume

    cfg = load_config(RunConfig, None, ["model=tiny-random"])
    save_config(cfg, tmp_path / "config.yaml")
    check_resume(cfg, tmp_path)
    check_resume(
        load_config(
            RunConfig,
            None,
            ["model=tiny-random", "evolve.rounds=5", "progress=false", "backend_args.batch_size=4"],
        ),
        tmp_path,
    )
    with pytest.raises(ConfigError, match=r"evolve.vote_threshold: 0.6 -> 0.8"):
        check_resume(
            load_config(RunConfig, None, ["model=tiny-random", "evolve.vote_threshold=0.8"]), tmp_path
        )
    with pytest.raises(ConfigError, match="bootstrap.train.learning_rate"):
        check_resume(
            load_config(RunConfig, None, ["model=tiny-random", "bootstrap.train.learning_rate=1"]), tmp_path
        )


def test_run_refuses_a_directory_another_run_holds(tmp_path):
    from open_toolace.io import DirBusyError, dir_lock

    with dir_lock(tmp_path), pytest.raises(DirBusyError):
        run(load_config(RunConfig, None, ["model=tiny-random"]), run_dir=tmp_path)
    assert not (tmp_path / "config.yaml").exists()  # refused before it wrote anything


RUN_CONFIGS = ("demo", "run_tiny", "bootstrap_levers", "cpu", "gpu")


@pytest.mark.parametrize("name", RUN_CONFIGS)
def test_shipped_run_configs_load(name):
    # a typo'd key in a shipped run config is a ConfigError here, not an hour into `toolace run`
    path = Path(__file__).parent.parent / "configs" / f"{name}.yaml"
    cfg = load_config(RunConfig, path, [])
    assert cfg.name and cfg.out_root
    if name == "gpu":  # it has not run on a GPU yet: its header says so until it has
        assert "UNVERIFIED" in path.read_text(encoding="utf-8")[:400]
        assert cfg.backend == "vllm"
