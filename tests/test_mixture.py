"""The training mixture (`training.mixture`): ratios, caps, supervised-token shares, the build CLI."""

from __future__ import annotations

import json

import pytest

from open_toolace.data.records import make_example
from open_toolace.training.mixture import TaskMixConfig, build_mixture, task_counts
from open_toolace.training.tasks import dedupe, identifier_name
from task_data import examples, tool


def test_mixture_ratios_caps_dedupe_and_report():
    exs = examples() + [dict(examples()[2], id="c2")]  # a duplicate of c under another id
    cfg = TaskMixConfig(
        distractors_min=0,
        distractors_max=0,
        shuffle_tools=False,
        abstention_share=0.0,
        adaption_ratio=2.0,
        tool_generation_cap=2,
        invocation_ratio=1.0,
        token_shares=None,
        seed=0,
    )
    mix, report = build_mixture(exs, cfg)
    assert report["tasks"]["invocation"] == {"built": 6, "unique": 5, "kept": 5}  # c2 deduped
    assert report["tasks"]["tool_generation"]["kept"] == 2
    assert report["tasks"]["adaption"] == {"built": 4, "unique": 4, "kept": 8}
    assert task_counts(mix) == {"adaption": 8, "invocation": 5, "tool_generation": 2}
    assert len({s["id"] for s in mix}) == len(mix)  # repeats get distinct ids
    assert report["no_call"] == 1 and report["total"] == 15
    assert set(mix[0]) == {"prompt", "completion", "task", "id"}
    assert build_mixture(exs, cfg) == (mix, report)  # deterministic
    no_adaption = TaskMixConfig(adaption_ratio=0.0, token_shares=None)
    assert task_counts(build_mixture(exs, no_adaption)[0]).get("adaption") is None
    assert len(dedupe(mix + mix)) == len(dedupe(mix))


def _many_examples(n: int) -> list[dict]:
    return [
        make_example(
            f"e{i}",
            [{"role": "user", "content": f"weather in city number {i}"}],
            [
                tool(
                    f"get_weather_{i}", "city", desc=f"weather report number {i} " + "with details " * (i % 5)
                )
            ],
            [{"name": f"get_weather_{i}", "arguments": {"city": f"C{i}"}}],
            source="t",
        )
        for i in range(n)
    ]


def test_mixture_by_supervised_token_shares():
    from open_toolace.training.mixture import supervised_tokens

    exs = _many_examples(60)
    words = lambda text: len(text.split())  # noqa: E731 - a stand-in tokenizer
    shares = {"invocation": 0.6, "tool_generation": 0.3, "adaption": 0.1}
    mix, report = build_mixture(
        exs, TaskMixConfig(token_shares=shares, abstention_share=0), count_tokens=words
    )
    sup = report["supervised_tokens"]
    # what the report says is what the samples hold, counted with the given tokenizer
    for task in ("invocation", "tool_generation", "adaption"):
        assert sup[task] == sum(supervised_tokens(s, words) for s in mix if s["task"] == task)
    assert sup["total"] == sum(sup[t] for t in shares) and report["token_count"] == "tokenizer"
    # the shares hold to within one sample, and the scarcest task (invocation: short answers) is used up
    for task, share in shares.items():
        assert abs(report["supervised_token_shares"][task] - share) < 0.05
    assert report["tasks"]["invocation"]["kept"] == report["tasks"]["invocation"]["unique"]
    assert report["tasks"]["tool_generation"]["kept"] < report["tasks"]["tool_generation"]["unique"]
    # a total cap, and a task without a share is dropped
    small, rep2 = build_mixture(
        exs,
        TaskMixConfig(token_shares={"invocation": 1.0}, supervised_tokens=100, abstention_share=0),
        count_tokens=words,
    )
    assert (
        task_counts(small) == {"invocation": len(small)} and 80 <= rep2["supervised_tokens"]["total"] <= 120
    )
    assert build_mixture(exs, TaskMixConfig(token_shares=shares), count_tokens=words) == build_mixture(
        exs, TaskMixConfig(token_shares=shares), count_tokens=words
    )  # deterministic
    # without a tokenizer the counts are estimates, and say so
    assert build_mixture(exs, TaskMixConfig())[1]["token_count"].startswith("estimate")
    with pytest.raises(ValueError, match="token_shares"):
        TaskMixConfig(token_shares={"invocation": 1.0, "bogus": 1.0})


def test_mixture_makes_names_identifiers():
    ex = make_example(
        "m",
        [{"role": "user", "content": "trends for AAPL"}],
        [tool("Market Trends API", "symbol")],
        [{"name": "Market Trends API", "arguments": {"symbol": "AAPL"}}],
        source="t",
    )
    mix, _ = build_mixture([ex], TaskMixConfig(abstention_share=0, distractors_max=0))
    inv = next(s for s in mix if s["task"] == "invocation")
    assert inv["completion"][0]["content"] == '[Market_Trends_API(symbol="AAPL")]'
    assert "Market_Trends_API" in inv["prompt"][0]["content"]
    assert identifier_name("3d.view-port") == "_3d.view_port"


def test_config_rejects_bad_values():
    with pytest.raises(ValueError):
        TaskMixConfig(distractors_min=3, distractors_max=1)
    with pytest.raises(ValueError):
        TaskMixConfig(abstention_share=1.5)


def test_build_cli_on_real_data(shared_data, tmp_path, capsys):
    from open_toolace.cli import main

    out = tmp_path / "samples.jsonl"
    rc = main(
        [
            "train",
            "build",
            "--data",
            str(shared_data / "sealtools_dev.jsonl"),
            str(shared_data / "sealtools_tools.jsonl"),
            "--out",
            str(out),
            "--set",
            "tool_generation_cap=50",
            "--set",
            "seed=1",
            "--set",
            "token_shares=null",
        ]
    )
    assert rc == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    counts = task_counts(rows)
    report = json.loads(out.with_suffix(".report.json").read_text())
    assert counts["tool_generation"] == 50
    assert counts["adaption"] == report["tasks"]["adaption"]["kept"] >= 4076  # every Seal-Tools doc
    usable = 700 - sum(report["skipped"].values())  # a skipped query is counted, never silently lost
    assert usable >= 690
    assert counts["invocation"] == usable + round(0.2 * usable)  # every usable query + its abstention share
    printed = capsys.readouterr().out
    assert "adaption" in printed and "tool_generation" in printed and str(report["total"]) in printed
    # by default the mixture is set by supervised tokens, counted with the embedded model's tokenizer
    data = [str(shared_data / "sealtools_dev.jsonl"), str(shared_data / "sealtools_tools.jsonl")]
    assert main(["train", "build", "--data", *data, "--out", str(out)]) == 0
    report = json.loads(out.with_suffix(".report.json").read_text())
    assert report["token_count"] == "tokenizer"
    for task, share in {"invocation": 0.6, "tool_generation": 0.25, "adaption": 0.15}.items():
        assert abs(report["supervised_token_shares"][task] - share) < 0.02, report["supervised_token_shares"]
    assert "supervised tokens" in capsys.readouterr().out


def test_source_cap_limits_examples_per_source():
    exs = [
        make_example(
            f"{src}{i}",
            [{"role": "user", "content": f"q {src} {i}"}],
            [tool("f", "a")],
            [{"name": "f", "arguments": {"a": str(i)}}],
            source=src,
        )
        for src, n in (("big", 10), ("small", 2))
        for i in range(n)
    ]
    mix, report = build_mixture(
        exs, TaskMixConfig(source_cap=3, abstention_share=0, distractors_max=0, token_shares=None)
    )
    assert report["examples_by_source"] == {"big": 3, "small": 2}
    assert task_counts(mix)["invocation"] == 5
    assert task_counts(mix)["adaption"] == 1  # adaption still sees every tool
