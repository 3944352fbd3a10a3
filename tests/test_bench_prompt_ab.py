"""bench/prompt_ab.py and bench/eval.py --arms end to end on the tiny random model (a few items each)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _bench import load_bench

BENCH = Path(__file__).resolve().parents[1] / "bench"


load = load_bench


def test_parse_arms():
    arms = load("eval").parse_arms("json=bfcl,python=lean@runs/x/adapter")
    assert arms == {"json": ("bfcl", None), "python": ("lean", "runs/x/adapter")}
    with pytest.raises(SystemExit, match="bad arm"):
        load("eval").parse_arms("json")


def test_prompt_ab_runs_both_arms_on_the_same_examples_and_resumes(tmp_path):
    ab = load("prompt_ab")
    out, js, md = tmp_path / "ab", tmp_path / "ab.json", tmp_path / "ab.md"
    argv = ["--model", "tiny-random", "--seed-limit", "12", "--categories", "simple_python,irrelevance",
            "--limit", "2", "--queries", "3", "--max-new-tokens", "8", "--out", str(out), "--json", str(js),
            "--report", str(md)]  # fmt: skip
    assert ab.main(argv) == 0
    r = json.loads(js.read_text())
    a, b = r["arms"]["json"], r["arms"]["python"]
    # the same examples in both arms: the same sample ids, task by task
    ids = [
        [json.loads(x)["id"] for x in (out / arm / "samples.jsonl").read_text().splitlines()]
        for arm in r["arms"]
    ]
    assert ids[0] == ids[1] and a["train"]["samples"] == b["train"]["samples"]
    assert a["train"]["tokens"] > b["train"]["tokens"]  # JSON tools under the BFCL instruction are longer
    assert json.loads((out / "python" / "adapter" / "prompt_format.json").read_text())["prompt_set"] == "lean"
    assert r["paired_python_minus_json"]["all"]["n"] == 4
    assert a["tools"]["queries"] == 3 and "share" in b["tools"]
    assert "## BFCL" in md.read_text() and "| simple_python | 2 |" in md.read_text()
    # a second call finds every stage done and writes the same result
    before = {k: v for k, v in r.items() if k not in ("date", "command")}
    assert ab.main(argv) == 0
    after = {k: v for k, v in json.loads(js.read_text()).items() if k not in ("date", "command")}
    assert after == before


def test_eval_arms_writes_both_prompt_sets_side_by_side(tmp_path):
    ev = load("eval")
    js = tmp_path / "eval.json"
    argv = ["--model", "tiny-random", "--arms", "json=bfcl,python=lean", "--categories", "simple_python",
            "--limit", "2", "--max-new-tokens", "4", "--out", str(tmp_path / "run"), "--json", str(js)]  # fmt: skip
    assert ev.main(argv) == 0
    r = json.loads((tmp_path / "eval_arms_untrained.json").read_text())
    assert set(r["arms"]) == {"json", "python"} and r["arms"]["python"]["prompt_set"] == "lean"
    assert r["arms"]["json"]["n_items"] == 2 and r["target_seconds"] == 720
    assert r["paired_python_minus_json"]["simple_python"]["n"] == 2


def test_parse_arm_args():
    args = load("eval").parse_arm_args(["fast.stop_runaway=true", "fast.decode_segment=16"], ["base", "fast"])
    assert args == {"base": {}, "fast": {"stop_runaway": True, "decode_segment": 16}}
    for bad in (["slow.decode_segment=16"], ["fast=1"], ["fast.decode_segment"]):
        with pytest.raises(SystemExit):
            load("eval").parse_arm_args(bad, ["fast"])
