"""ToolACE-R's model-aware iterative training (`refine.iterate`): the stop rules, the iteration's training set,
LoRA updates, kill-and-resume, `toolace train --method toolace-r` and `bootstrap.method=toolace-r` in a run.

The loop tests script the sampling with a FakeGenerator that answers by the adapter it was built for (the
base model gets everything wrong, iteration 1's adapter solves half the pool, iteration 2's no more), so the
selection shrinks once and then stops shrinking; training is real (tiny-random, one or two steps). The CLI
and pipeline tests sample with the real tiny-random model.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import helpers
from faults import FailAt, InjectedFailure
from open_toolace.config import ConfigError, load_config
from open_toolace.data.records import make_example
from open_toolace.generation import GREEDY
from open_toolace.generation.fake import FakeGenerator
from open_toolace.io import read_json, read_jsonl, write_jsonl
from open_toolace.refine.config import ToolaceRConfig
from open_toolace.refine.iterate import prepare_pool, run_toolace_r
from open_toolace.training.config import TrainConfig
from open_toolace.training.mixture import TaskMixConfig

WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
RECIPE = {
    "name": "find_recipe",
    "description": "Find a recipe by dish name.",
    "parameters": {"type": "object", "properties": {"dish": {"type": "string"}}, "required": ["dish"]},
}
CITIES = ["Paris", "Oslo", "Lima", "Cairo", "Quito", "Hanoi"]
LEARNED = {"Paris", "Oslo", "Lima"}  # what iteration 1's adapter (and every later one) answers right


def pool() -> list[dict]:
    return [
        make_example(
            f"w{i}",
            [{"role": "user", "content": f"Weather in {city}?"}],
            [WEATHER, RECIPE],
            [{"name": "get_weather", "arguments": {"city": city}}],
            source="test",
        )
        for i, city in enumerate(CITIES)
    ]


class Scripted:
    """make_generator for the loop: a FakeGenerator per adapter; records the adapter of every generate call."""

    def __init__(self) -> None:
        self.calls: list[str | None] = []

    def __call__(self, backend, model, adapter=None, **kw):
        calls, trained = self.calls, adapter is not None

        def answer(messages, k):
            city = next(c for c in CITIES if c in messages[-1]["content"])
            if trained and city in LEARNED:
                return f'[get_weather(city="{city}")]'
            return '[get_weather(city="Nowhere")]' if k == 0 else "[get_weather(city="  # wrong, malformed

        class Counted(FakeGenerator):
            def generate(self, requests, sampling=GREEDY, progress=True):
                calls.append(adapter)
                return super().generate(requests, sampling, progress)

        return Counted(answer)


def tiny_train(**kw) -> TrainConfig:
    """One step, a checkpoint each step, room for the longest sample, a rank-4 adapter; `kw` overrides."""
    return helpers.tiny_train(
        **{"max_steps": 1, "save_steps": 1, "max_length": 384, "lora_r": 4, "lora_alpha": 8, **kw}
    )


def config(**kw) -> ToolaceRConfig:
    mix = TaskMixConfig(distractors_min=0, distractors_max=1, abstention_share=0.5, prompt_set="lean")
    base = dict(iterations=3, k=2, max_new_tokens=16, solved_share=0.0, mix=mix, train=tiny_train())
    base.update(kw)
    return ToolaceRConfig(**base)


def words(text: str) -> int:
    return len(text.split())


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_loop_trains_on_selection_plus_corpus_and_stops_when_selection_stops_shrinking(tmp_path):
    from safetensors.torch import load_file

    gen = Scripted()
    out = tmp_path / "tr"
    summary = run_toolace_r(config(), pool(), out, make_generator=gen, count_tokens=words, progress=False)
    assert summary["stop_reason"] == "not_shrinking"
    assert summary["selected"] == [6, 3, 3] and summary["iterations_trained"] == 2
    assert summary["adapter"] == str(out / "iter2" / "adapter") and summary["adapter_rel"] == "iter2/adapter"
    assert gen.calls == [None, str(out / "iter1" / "adapter"), str(out / "iter2" / "adapter")]
    for name in ("config.yaml", "manifest.json", "pool.jsonl", "tools.jsonl", "toolace_r.json"):
        assert (out / name).exists(), name
    assert load_config(ToolaceRConfig, out / "config.yaml") == config()
    # iteration 3 sampled and selected, found the selection no smaller, and trained nothing
    it3 = out / "iter3"
    assert (it3 / "scored.jsonl").exists() and (it3 / "selected.jsonl").exists()
    assert not (it3 / "samples.jsonl").exists() and not (it3 / "adapter").exists()
    assert read_json(it3 / "audit.json")["stopped"] == "not_shrinking"

    # iteration 2: the selected examples' invocation samples + the refinement corpus at its keep share
    it2 = out / "iter2"
    selected = {ex["id"] for ex in read_jsonl(it2 / "selected.jsonl")}
    assert selected == {"w3", "w4", "w5"}
    samples = read_jsonl(it2 / "samples.jsonl")
    inv = [s for s in samples if s["task"] == "invocation"]
    ref = [s for s in samples if s["task"] == "refinement"]
    assert {s["id"].split(":")[1] for s in inv} == selected
    assert {f"invocation:{i}" for i in selected} <= {s["id"] for s in inv}
    report = read_json(it2 / "samples_report.json")
    # 3 right examples (one unique keep each), 3 wrong ones with 2 distinct wrong answers: 6 fixes, 3 keeps
    assert report["refinement"]["candidates"] == {"fix": 6, "keep": 3}
    assert report["refinement"]["kept"] == {"fix": 3, "keep": 3}
    assert report["refinement"]["achieved_keep_share"] == 0.5
    assert len(ref) == 6 and sum(":keep" in s["id"] for s in ref) == 3
    assert report["supervised_tokens"]["refinement"] > 0 and report["supervised_tokens"]["invocation"] > 0
    assert set(report["supervised_token_shares"]) == {"invocation", "refinement"}

    audit = read_json(it2 / "audit.json")
    assert audit["pool"] == 6 and audit["histogram"] == [3, 0, 3]
    assert audit["selection"]["selected"] == 3 and audit["trained"] and audit["sampling_tokens"] is None
    assert audit["adapter_in"] == "iter1/adapter" and audit["adapter_out"] == "iter2/adapter"
    assert audit["train"]["global_step"] == 1 and audit["train"]["supervised_tokens"] > 0
    assert audit["wall_s"] > 0 and audit["refinement"]["achieved_keep_share"] == 0.5
    # iteration 1 (all wrong): no keep candidate, so the corpus is every fix
    r1 = read_json(out / "iter1" / "samples_report.json")["refinement"]
    assert r1["candidates"]["keep"] == 0 and r1["kept"]["fix"] == r1["candidates"]["fix"] > 0

    # LoRA weights only, trained, and iteration 2 continued iteration 1's adapter
    w1 = load_file(out / "iter1" / "adapter" / "adapter_model.safetensors")
    w2 = load_file(out / "iter2" / "adapter" / "adapter_model.safetensors")
    assert w1 and all("lora_" in k for k in w1) and w1.keys() == w2.keys()
    assert any(k for k in w1 if "lora_B" in k and w1[k].abs().sum() > 0)  # lora_B starts at zero
    assert any(not torch.equal(w1[k], w2[k]) for k in w1)
    t2 = load_config(TrainConfig, out / "iter2" / "adapter" / "train_config.yaml")
    assert t2.adapter == str(out / "iter1" / "adapter") and t2.seed == 2 and t2.prompt_set == "lean"
    from open_toolace.models import load_model

    base, _ = load_model("tiny-random", dtype="float32", device="cpu")
    tuned, _ = load_model(str(out / "iter2" / "adapter"), dtype="float32", device="cpu")
    tuned_base = {k.replace("base_model.model.", "").replace("base_layer.", ""): v
                  for k, v in tuned.state_dict().items() if "lora_" not in k}  # fmt: skip
    for k, v in base.state_dict().items():
        assert torch.equal(v, tuned_base[k]), k


def test_loop_stops_at_n_and_resumes_after_kills_without_redoing_finished_work(tmp_path):
    gen = Scripted()
    out = tmp_path / "tr"
    cfg = config(iterations=2, train=tiny_train(max_steps=2))
    kw = dict(make_generator=gen, count_tokens=words, progress=False)
    with pytest.raises(InjectedFailure):
        run_toolace_r(cfg, pool(), out, hooks=FailAt("iter2.samples"), **kw)
    iter1_metrics = (out / "iter1" / "adapter" / "train_metrics.json").stat().st_mtime_ns
    done1 = {k: v for k, v in read_json(out / "manifest.json")["stages"].items() if k.startswith("iter1.")}
    assert len(done1) == 5 and (out / "iter2" / "samples.jsonl").exists()  # written, not marked done
    with pytest.raises(InjectedFailure):  # killed right after training checkpoint 1 of iteration 2
        run_toolace_r(cfg, pool(), out, hooks=FailAt("iter2.train", "step1"), **kw)
    assert (out / "iter2" / "adapter" / "checkpoint-1").is_dir()
    summary = run_toolace_r(cfg, pool(), out, **kw)
    assert summary["stop_reason"] == "max_iterations" and summary["selected"] == [6, 3]
    assert len(gen.calls) == 2, "each iteration sampled once over the three calls"
    assert (out / "iter1" / "adapter" / "train_metrics.json").stat().st_mtime_ns == iter1_metrics
    stages = read_json(out / "manifest.json")["stages"]
    assert {k: v for k, v in stages.items() if k.startswith("iter1.")} == done1
    m2 = read_json(out / "iter2" / "adapter" / "train_metrics.json")
    assert m2["resumed_from"].endswith("checkpoint-1") and m2["global_step"] == 2

    # finished: nothing is redone; more iterations continue from the last adapter; other settings refused
    before = read_json(out / "manifest.json")
    run_toolace_r(cfg, pool(), out, **kw)
    assert read_json(out / "manifest.json") == before and len(gen.calls) == 2
    more = run_toolace_r(config(iterations=3, train=tiny_train(max_steps=2)), pool(), out, **kw)
    assert more["stop_reason"] == "not_shrinking" and gen.calls[-1] == str(out / "iter2" / "adapter")
    with pytest.raises(ConfigError, match="threshold"):
        run_toolace_r(config(iterations=3, threshold=0.5, train=tiny_train(max_steps=2)), pool(), out, **kw)
    with pytest.raises(ValueError, match="another pool"):
        run_toolace_r(config(iterations=3, train=tiny_train(max_steps=2)), pool()[:4], out, **kw)


def test_selection_only_ablation_and_unusable_pool_members(tmp_path):
    exs = [*pool()[:2], {**pool()[2], "calls": None, "id": "u"}, {**pool()[3], "id": "w0"}]
    exs.append({**pool()[4], "id": "bad", "calls": [{"name": "not_listed", "arguments": {}}]})
    cfg = config(iterations=1, refinement_from="none")
    s = run_toolace_r(
        cfg, exs, tmp_path / "tr", make_generator=Scripted(), count_tokens=words, progress=False
    )
    assert s["pool"] == 3 and s["pool_skipped"] == {
        "call_to_unlisted_tool": 1,
        "duplicate_id_renamed": 1,
        "unlabeled": 1,
    }
    assert [ex["id"] for ex in read_jsonl(tmp_path / "tr" / "pool.jsonl")] == ["w0", "w1", "w0#1"]
    samples = read_jsonl(tmp_path / "tr" / "iter1" / "samples.jsonl")
    assert samples and {x["task"] for x in samples} == {"invocation"} and s["stop_reason"] == "max_iterations"


def test_pool_limit_keeps_a_seeded_subset_in_input_order_and_records_the_rest():
    exs = [{**pool()[0], "id": f"p{i}"} for i in range(20)] + [{**pool()[1], "id": "u", "calls": None}]
    mix = config().mixture()
    a, skipped = prepare_pool(exs, mix, limit=5, seed=3)
    assert len(a) == 5 and skipped == {"over_pool_limit": 15, "unlabeled": 1}
    ids = [ex["id"] for ex in a]
    assert ids == sorted(ids, key=lambda x: int(x[1:]))  # input order kept
    assert [ex["id"] for ex in prepare_pool(exs, mix, limit=5, seed=3)[0]] == ids  # seeded
    assert [ex["id"] for ex in prepare_pool(exs, mix, limit=5, seed=4)[0]] != ids
    assert (
        len(prepare_pool(exs, mix, limit=50)[0]) == 20 and "over_pool_limit" not in prepare_pool(exs, mix)[1]
    )
    with pytest.raises(ValueError, match="pool_limit"):
        config(pool_limit=0)


def write_pool_file(d: Path) -> Path:
    rows = pool()[:3] + [
        make_example("n0", [{"role": "user", "content": "Tell me a joke"}], [WEATHER], [], source="test")
    ]
    write_jsonl(d / "pool.jsonl", rows)
    return d / "pool.jsonl"


def test_cli_method_toolace_r_reaches_the_loop(tmp_path, monkeypatch, capsys):
    from open_toolace.cli import main

    data = write_pool_file(tmp_path)
    out = tmp_path / "cli"
    args = [
        "train",
        "--method",
        "toolace-r",
        "--data",
        str(data),
        "--out",
        str(out),
        "--model",
        "tiny-random",
    ]
    sets = ["iterations=1", "k=1", "max_new_tokens=4", "train.max_steps=1", "train.lora_r=4",
            "train.max_length=384", "backend_args.batch_size=4"]  # fmt: skip
    assert main([*args, *[x for s in sets for x in ("--set", s)]]) == 0
    printed = capsys.readouterr().out
    assert "iter1: pool 4" in printed and "final adapter" in printed
    summary = read_json(out / "toolace_r.json")
    assert (
        summary["iterations_trained"] == 1
        and (out / "iter1" / "adapter" / "adapter_model.safetensors").exists()
    )
    assert read_json(out / "iter1" / "audit.json")["sampling_tokens"] > 0  # the hf generator counts tokens

    # --samples: the pool and the mixture config come from what the samples file was built from
    built = tmp_path / "mix" / "samples.jsonl"
    assert main(["train", "build", "--data", str(data), "--out", str(built), "--model", "tiny-random",
                 "--set", "prompt_set=lean", "--set", "token_shares=null"]) == 0  # fmt: skip
    seen = {}

    def fake_loop(cfg, examples, out_dir, **kw):
        seen.update(cfg=cfg, examples=examples, out=out_dir)
        return {"iterations": [], "stop_reason": "max_iterations", "adapter": None}

    monkeypatch.setattr("open_toolace.refine.iterate.run_toolace_r", fake_loop)
    assert (
        main(["train", "--method", "toolace-r", "--samples", str(built), "--out", str(tmp_path / "s")]) == 0
    )
    assert seen["cfg"].mix.prompt_set == "lean" and len(seen["examples"]) == 4
    assert seen["cfg"].train.torch_threads == "auto"
    # wrong combinations are refused with a message
    assert main(["train", "--method", "toolace-r", "--out", str(tmp_path / "x")]) == 2
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "x")]) == 2
    assert "--method toolace-r" in capsys.readouterr().err


def test_pipeline_bootstrap_toolace_r_on_the_tiny_config(tmp_path):
    from open_toolace.pipeline.run import RunConfig, run

    repo = Path(__file__).resolve().parents[1]
    assert load_config(RunConfig, repo / "configs" / "demo.yaml").bootstrap.method == "sft"
    data = write_pool_file(tmp_path)
    train = ("{max_steps: 1, per_device_train_batch_size: 2, effective_batch_size: 2, max_length: 512, "
             "save_steps: 1, lora_r: 4, lora_alpha: 8}")  # fmt: skip
    cfg = load_config(
        RunConfig,
        repo / "configs" / "run_tiny.yaml",
        [f"seed_data.source={data}", f"out_root={tmp_path}", "evolve.rounds=0", "eval.base=false",
         "bootstrap.method=toolace-r", "bootstrap.toolace_r.iterations=2", "bootstrap.toolace_r.k=2",
         "bootstrap.toolace_r.max_new_tokens=6", f"bootstrap.toolace_r.train={train}"],
    )  # fmt: skip
    run_dir = tmp_path / "run"
    scores = run(cfg, run_dir=run_dir)
    stages = read_json(run_dir / "manifest.json")["stages"]
    tr = stages["bootstrap.toolace_r"]
    assert stages["bootstrap.train"]["status"] == "done" and tr["status"] == "done"
    assert tr["adapter"].startswith("bootstrap/toolace_r/iter") and tr["iterations_trained"] >= 1
    inner = read_json(run_dir / "bootstrap" / "toolace_r" / "toolace_r.json")
    assert inner["iterations"][0]["adapter_in"] == "../adapter"  # started from the SFT adapter
    boot_eval = read_json(run_dir / "eval" / "bootstrap" / "scores.json")
    assert boot_eval["adapter"] == tr["adapter"], "eval.bootstrap scored the ToolACE-R adapter"
    assert isinstance(scores["bootstrap"], float)
    inner_cfg = load_config(ToolaceRConfig, run_dir / "bootstrap" / "toolace_r" / "config.yaml")
    assert inner_cfg.train.model == "tiny-random" and inner_cfg.mix == cfg.bootstrap.mix


def test_mixture_and_token_report_hold_the_refinement_task():
    from open_toolace.refine import build_refinement
    from open_toolace.refine.selection import Scored
    from open_toolace.training.mixture import build_mixture, token_report

    exs = pool()
    scored = [Scored(ex, ['[get_weather(city="Nowhere")]'], [False]) for ex in exs]
    corpus, _ = build_refinement(scored, keep_share=0.5)
    shares = {"invocation": 0.5, "tool_generation": 0.2, "adaption": 0.1, "refinement": 0.2}
    mix, report = build_mixture(
        exs, TaskMixConfig(token_shares=shares), count_tokens=words, refinement=corpus
    )
    assert (
        report["tasks"]["refinement"]["built"] == len(corpus)
        and report["supervised_tokens"]["refinement"] > 0
    )
    assert report["supervised_tokens"] == token_report(mix, words, ("adaption", "tool_generation", "invocation",
                                                                     "refinement"))["supervised_tokens"]  # fmt: skip
    with pytest.raises(ValueError, match="no 'refinement' share"):
        build_mixture(exs, TaskMixConfig(), count_tokens=words, refinement=corpus)
    plain, rep = build_mixture(exs, TaskMixConfig(token_shares=None), count_tokens=words)
    assert "refinement" not in rep["tasks"] and "refinement" not in rep["supervised_tokens"]
    by_counts, _ = build_mixture(exs, TaskMixConfig(token_shares=None), refinement=corpus, count_tokens=words)
    assert len(by_counts) == len(plain) + len(corpus)
