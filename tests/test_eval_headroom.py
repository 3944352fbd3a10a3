"""Headroom diagnostic (evaluate.headroom): greedy vs maj@K vs pass@K, resume, report, CLI; scripted samples."""

from __future__ import annotations

import json

import pytest

from helpers import scripted_answer as text
from open_toolace.evaluate import evaluate_bfcl, load_bfcl
from open_toolace.evaluate.bfcl import item_messages
from open_toolace.evaluate.headroom import (
    check_sampling,
    default_vote,
    headroom_scores,
    item_headroom,
    majority,
    pass_at_k,
    samples_path,
)
from open_toolace.evaluate.runner import load_results
from open_toolace.generation.fake import FakeGenerator

CATS = ["simple_python", "irrelevance"]
K = 5
# item -> (greedy answer, the K samples): R right; W, a, b, c four different wrong answers
SCRIPT = {
    "simple_python_0": ("W", "RRRWW"),  # greedy wrong, the vote right
    "simple_python_1": ("R", "WWWRR"),  # greedy right, the vote wrong, some sample right
    "simple_python_2": ("W", "RRabc"),  # a plurality (2 of 5) is enough
    "irrelevance_0": ("R", "RRRWW"),
    "irrelevance_1": ("W", "WWWWW"),  # nothing right
    "irrelevance_2": ("R", "RRWab"),
}


@pytest.fixture(scope="module")
def items() -> list[dict]:
    return load_bfcl(CATS, 3)


def scripted(items: list[dict]) -> FakeGenerator:
    by_query = {item_messages(it)[-1]["content"]: it for it in items}

    def respond(messages, k, sampling):
        it = by_query[messages[-1]["content"]]
        greedy, samples = SCRIPT[it["id"]]
        return text(it, greedy if sampling.temperature <= 0 else samples[k])

    return FakeGenerator(respond)


def sampled(gen: FakeGenerator) -> int:
    return sum(len(c["requests"]) for c in gen.calls if c["temperature"] > 0)


def greedy(gen: FakeGenerator) -> int:
    return sum(len(c["requests"]) for c in gen.calls if c["temperature"] <= 0)


def run(items, out, gen=None, **kw):
    kw.setdefault("samples", K)
    return evaluate_bfcl(gen or scripted(items), CATS, limit=3, out_dir=out, progress=False, **kw)


def test_greedy_maj_pass_per_category_and_group(tmp_path, items):
    gen = scripted(items)
    scores = run(items, tmp_path, gen, temperature=0.8, seed=3)
    calls = [c for c in gen.calls if c["temperature"] > 0]  # one batched call per category
    assert [len(c["requests"]) for c in calls] == [3, 3]
    assert all(c["n"] == K and c["temperature"] == 0.8 and c["seed"] == 3 for c in calls)
    h = scores["headroom"]
    assert (h["k"], h["temperature"], h["n_items"], h["seed"]) == (K, 0.8, 6, 3)
    sp, irr = h["categories"]["simple_python"], h["categories"]["irrelevance"]
    assert sp == pytest.approx(
        {"n_items": 3, "greedy": 1 / 3, "maj_at_k": 2 / 3, "pass_at_k": 1.0, "k": K, "temperature": 0.8}
    )
    assert (irr["greedy"], irr["maj_at_k"], irr["pass_at_k"]) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    assert irr["maj_at_k_honest"] == pytest.approx(2 / 3)  # "[]" is an honest abstention
    # greedy numbers are the plain run's
    assert sp["greedy"] == scores["categories"]["simple_python"]["accuracy"]
    overall = h["summary"]["overall"]
    assert overall["over"] == scores["summary"]["overall"]["over"] == ["non_live_ast", "irrelevance"]
    assert overall["greedy"] == pytest.approx(scores["summary"]["overall"]["accuracy"])
    assert overall["maj_at_k"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert overall["pass_at_k"] == pytest.approx((1 + 2 / 3) / 2)
    # stored rows: the K texts, their verdicts, the vote's pick
    rows = load_results(samples_path(tmp_path, "simple_python"), usable=lambda r: True)
    r1 = rows["simple_python_1"]
    assert len(r1["outputs"]) == K and r1["valid"] == [False, False, False, True, True]
    assert r1["majority"] == r1["outputs"][0] and r1["outcome"]["maj_at_k"] == {"valid": False}
    assert r1["outcome"] == {
        "greedy": {"valid": True},
        "maj_at_k": {"valid": False},
        "pass_at_k": {"valid": True},
    }
    saved = json.loads((tmp_path / "scores.json").read_text())
    assert saved["headroom"]["categories"]["simple_python"]["pass_at_k"] == 1.0
    assert json.loads((tmp_path / "samples.json").read_text())["samples"] == K


def test_samples_1_changes_nothing(tmp_path, items):
    plain_gen = scripted(items)
    plain = run(items, tmp_path / "plain", plain_gen, samples=1)
    assert "headroom" not in plain and not list((tmp_path / "plain").glob("samples*"))
    assert sampled(plain_gen) == 0 and all(c["n"] == 1 for c in plain_gen.calls)
    with_k = run(items, tmp_path / "k")
    assert with_k["categories"] == plain["categories"] and with_k["summary"] == plain["summary"]
    assert "Headroom" not in (tmp_path / "plain" / "report.md").read_text()
    plain_rows = (tmp_path / "plain" / "results.jsonl").read_text()
    assert (tmp_path / "k" / "results.jsonl").read_text() == plain_rows


def test_vote_is_a_parameter(tmp_path, items):
    seen = []

    def last(texts, tools):
        seen.append(tools)
        return texts[-1]

    h = run(items, tmp_path / "last", vote=last)["headroom"]["categories"]
    assert h["simple_python"]["maj_at_k"] == pytest.approx(1 / 3)  # last samples: W, R, c
    assert h["irrelevance"]["maj_at_k"] == pytest.approx(0.0)
    assert seen[0] == items[0]["function"]
    # a text that is not among the samples is scored by the checker; None is wrong
    by_id = {it["id"]: it for it in items}
    answer = "Answer: " + text(by_id["simple_python_0"], "R")  # not among the samples: scored here
    fixed = run(items, tmp_path / "fixed", vote=lambda texts, tools: answer)
    assert fixed["headroom"]["categories"]["simple_python"]["maj_at_k"] == pytest.approx(1 / 3)
    none = run(items, tmp_path / "none", vote=lambda texts, tools: None)
    assert none["headroom"]["summary"]["all_items"]["maj_at_k"] == 0.0


def test_default_vote_picks_an_original_text_and_drops_ties():
    docs = [
        {"name": n, "description": n, "parameters": {"type": "dict", "properties": {a: {"type": "integer"}},
                                                     "required": [a]}}
        for n, a in (("f", "a"), ("g", "b"))
    ]  # fmt: skip
    texts = ["Sure: [f(a=1)]", "[f(a=1)]", "[g(b=2)]", "[f(a="]
    assert default_vote(texts, docs) == "Sure: [f(a=1)]"
    assert default_vote(["[f(a=1)]", "[g(b=2)]"], docs) is None  # all different
    assert default_vote(["[f(a=1)]", "[f(a=1)]", "[g(b=2)]", "[g(b=2)]"], docs) is None  # tie
    assert default_vote(["[f(a=", "[g(b="], docs) is None  # nothing parses
    assert default_vote(["[h(a=1)]", "[h(a=1)]", "[f(a=1)]"], docs) is None  # h is no tool: one valid vote
    assert default_vote(["I cannot help.", "[]", "[f(a=1)]"], docs) == "I cannot help."  # abstention wins
    assert default_vote(["[f(a=1)]", "[f(a=1)]"], []) is None  # no tool offered: no call is valid
    assert pass_at_k([{"valid": False}, {"valid": True}]) and not pass_at_k([{"valid": False}])
    item = {"id": "x", "category": "simple_python", "function": []}
    # an item whose prompt did not render: wrong everywhere, and a resumed run retries it without a warning
    row = item_headroom(item, None, {"valid": False}, default_vote)
    assert row["error_type"] == "prompt_error" and not any(o["valid"] for o in row["outcome"].values())
    assert majority(item, ["a", "b"], [{"valid": False}, {"valid": True}], lambda t, f: "b") == (
        "b",
        {"valid": True},
    )


def test_headroom_scores_on_fixed_rows():
    def row(cat, i, g, m, p):
        return {"id": f"{cat}_{i}", "category": cat,
                "outcome": {"greedy": {"valid": g}, "maj_at_k": {"valid": m}, "pass_at_k": {"valid": p}}}  # fmt: skip

    rows = [row("parallel", 0, False, True, True), row("parallel", 1, False, False, True)]
    rows += [row("live_simple", i, i == 0, i < 2, True) for i in range(4)]
    h = headroom_scores(rows, k=3, temperature=1.0)
    assert h["categories"]["live_simple"] == {
        "n_items": 4, "greedy": 0.25, "maj_at_k": 0.5, "pass_at_k": 1.0, "k": 3, "temperature": 1.0,
    }  # fmt: skip
    assert h["summary"]["overall"]["maj_at_k"] == pytest.approx((0.5 + 0.5) / 2)
    assert set(headroom_scores(rows, 3, 1.0, bfcl_groups=False)["summary"]) == {"all_items"}


def test_check_sampling():
    check_sampling(1, 0.0)
    with pytest.raises(ValueError, match=">= 1"):
        check_sampling(0, 0.7)
    with pytest.raises(ValueError, match="temperature > 0"):
        check_sampling(4, 0.0)


class Killed(RuntimeError):
    pass


def test_resume_after_a_kill_redoes_nothing(tmp_path, items):
    class Crashing(FakeGenerator):
        """Dies on its second sampled chunk, as a killed run would."""

        def generate(self, requests, sampling, progress=True):
            if sampling.temperature > 0 and sum(c["temperature"] > 0 for c in self.calls) == 1:
                raise Killed
            return super().generate(requests, sampling, progress)

    crashing = Crashing(scripted(items).responses)
    with pytest.raises(Killed):
        run(items, tmp_path, crashing, save_every=1)
    assert len(samples_path(tmp_path, "simple_python").read_text().splitlines()) == 1
    assert not (tmp_path / "scores.json").exists()

    gen = scripted(items)
    scores = run(items, tmp_path, gen, save_every=1)
    assert greedy(gen) == 0 and sampled(gen) == 5  # only the 5 items the killed run had not sampled
    clean = run(items, tmp_path / "clean")
    assert scores["headroom"]["categories"] == clean["headroom"]["categories"]

    # finished: nothing is generated again; a torn line (killed mid-write) only costs its own item
    gen = scripted(items)
    again = run(items, tmp_path, gen)
    assert gen.calls == [] and again["headroom"]["categories"] == clean["headroom"]["categories"]
    path = samples_path(tmp_path, "irrelevance")
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2]) + "\n" + lines[2][:30])
    gen = scripted(items)
    torn = run(items, tmp_path, gen)
    assert torn["headroom"]["summary"] == clean["headroom"]["summary"]
    assert sampled(gen) == 1 and greedy(gen) == 0
    assert len(path.read_text().splitlines()) == 3


def test_samples_of_other_settings_are_not_mixed(tmp_path, items):
    run(items, tmp_path)
    with pytest.raises(ValueError, match="other settings"):
        run(items, tmp_path, temperature=0.9)
    with pytest.raises(ValueError, match="other settings"):
        run(items, tmp_path, samples=3)
    gen = scripted(items)
    run(items, tmp_path, gen, samples=3, fresh=True)
    assert sampled(gen) == 6 and greedy(gen) == 6


def test_report_renders_the_table(tmp_path, items):
    run(items, tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert "## Headroom: greedy vs maj@5 and pass@5" in report
    assert "Sampled 6 items in" in report
    assert "| simple_python | 3 | 33.3 | 66.7 | 100.0 | +33.3 |" in report
    assert "| irrelevance (honest) | 3 | 66.7 | 66.7 | 66.7 | +0.0 |" in report
    assert "| overall — over what was run (BFCL irrelevance) | 6 | 50.0 | 66.7 | 83.3 | +16.7 |" in report


def test_cli_flags_reach_the_config(tmp_path, items, monkeypatch, capsys):
    import yaml

    import open_toolace.generation as generation
    from open_toolace.cli import main

    gen = scripted(items)
    monkeypatch.setattr(generation, "make_generator", lambda *a, **kw: gen)
    argv = ["eval", "--model", "m", "--categories", "simple_python", "--limit", "3", "--out", str(tmp_path),
            "--samples", "4", "--temperature", "0.9", "--seed", "7"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "headroom: 4 samples at T=0.9" in out and "simple_python" in out
    cfg = yaml.safe_load((tmp_path / "eval_config.yaml").read_text())
    assert cfg["samples"] == 4 and cfg["temperature"] == 0.9
    (s,) = [c for c in gen.calls if c["temperature"] > 0]
    assert (s["n"], s["temperature"], s["seed"]) == (4, 0.9, 7)
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["headroom"]["categories"]["simple_python"]["k"] == 4
    assert main(argv[:-6] + ["--samples", "3", "--temperature", "0"]) == 2
    assert "temperature > 0" in capsys.readouterr().err
