"""bench/round_yield.py: the label check compares values (not the model's own names), the vote is scored at
each threshold with every drop counted, and the script runs end to end on the tiny random model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _bench import load_bench
from test_bench_tool_writing import adapter

REPO = Path(__file__).resolve().parents[1]
TOOL = {"name": "area", "description": "Area.", "parameters": {"type": "object", "properties": {
    "base": {"type": "number", "description": "b"}, "height": {"type": "number", "description": "h"}},
    "required": ["base", "height"]}}  # fmt: skip


def test_label_match_reads_values_not_names():
    ry = load_bench("round_yield")
    label = [{"name": "triangle_area", "arguments": {"base": 10, "height": 5, "unit": "cm"}}]
    own = [{"name": "area", "arguments": {"b": "10", "h": 5.0, "units": " CM"}}]
    assert ry.label_match(own, label) is True
    assert ry.label_match([{"name": "area", "arguments": {"b": 10, "h": 6, "u": "cm"}}], label) is False
    assert ry.label_match(own + own, label) is False  # as many calls as the label
    assert ry.label_match([], []) is True and ry.label_match([], label) is False
    pct = [{"name": "chance", "arguments": {"p": 0.57, "n": 24, "show_steps": True}}]
    assert ry.label_match([{"name": "c", "arguments": {"pct": 57, "trials": 24}}], pct) is True  # 57% as 57
    assert ry.label_match([{"name": "c", "arguments": {"pct": 57}}], pct) is False  # 24 is stated
    assert ry.label_match(None, label) is None and ry.label_match(own, None) is None


def test_score_votes_counts_kept_drops_and_matches_per_threshold():
    ry = load_bench("round_yield")
    items = [
        {"id": "a", "tools": [TOOL], "samples": ["[area(base=10, height=5)]"] * 3 + ["[area(base=1, height=5)]"] * 2},
        {"id": "b", "tools": [TOOL], "samples": ["[area(base=2, height=5)]"] * 3 + ["[area(base=2, color=1)]"] * 2},
        {"id": "c", "tools": [TOOL], "samples": ["[nope(x=1)]"] * 5},
    ]  # fmt: skip
    labels = {
        "a": [{"name": "t", "arguments": {"x": 10, "y": 5}}],
        "b": [{"name": "t", "arguments": {"x": 3}}],
    }
    low = ry.score_votes(items, 0.6, labels, keep_no_call=False, grounding="off")
    assert low["kept"] == 2 and low["kept_match"] == 1 and low["kept_scored"] == 2
    assert low["dropped"] == {"vote:no_valid": 1}
    high = ry.score_votes(items, 0.8, labels, keep_no_call=False, grounding="off")
    assert high["kept"] == 1 and high["dropped"] == {"vote:below_threshold": 1, "vote:no_valid": 1}


def test_score_fallback_keeps_the_greedy_answer_else_the_vote():
    ry = load_bench("round_yield")
    greedy = [
        {"id": "a", "tools": [TOOL], "samples": ["[area(base=10, height=5)]"]},  # valid: kept as is
        {"id": "b", "tools": [TOOL], "samples": ["[area(base=2, color=1)]"]},  # invalid: the vote decides
        {"id": "c", "tools": [TOOL], "samples": ["[nope(x=1)]"]},  # invalid, and so is every sample
    ]
    sampled = [
        {"id": "a", "tools": [TOOL], "samples": ["[area(base=1, height=5)]"] * 5},
        {"id": "b", "tools": [TOOL], "samples": ["[area(base=3, height=5)]"] * 4 + ["[area(base=2)]"]},
        {"id": "c", "tools": [TOOL], "samples": ["[nope(x=1)]"] * 5},
    ]  # fmt: skip
    labels = {
        "a": [{"name": "t", "arguments": {"x": 10, "y": 5}}],
        "b": [{"name": "t", "arguments": {"x": 3}}],
    }
    out = ry.score_fallback(greedy, sampled, 0.6, labels, keep_no_call=False, grounding="off")
    assert (out["kept"], out["from_greedy"], out["from_vote"]) == (2, 1, 1)
    assert out["kept_match"] == 2  # a's greedy answer (not its voted base=1), b's voted base=3
    assert out["dropped"] == {"vote:no_valid": 1}  # c; a's vote is not counted once a is kept


def test_round_yield_runs_on_the_tiny_model(tmp_path, monkeypatch):
    ry = load_bench("round_yield")
    js = tmp_path / "ry.json"
    argv = [str(adapter(tmp_path / "a", "lean")), "--config", str(REPO / "configs" / "run_tiny.yaml"),
            "--queries", "3", "--temperatures", "0.5", "--out", str(tmp_path / "out"), "--json", str(js)]  # fmt: skip
    assert ry.main(argv) == 0
    res = json.loads(js.read_text())
    tools = res["tool_stage"]
    assert res["queries"] == 3 and tools["valid"] + sum(tools["rejected"].values()) == 3
    modes = ("off", "numbers", "off/relax", "numbers/relax")
    keys = {f"{t}/{c}" for t in ("0.4", "0.6", "0.8") for c in modes}
    assert set(res["vote"]["0.5"]) == keys | {f"{k}/fallback" for k in keys}
    assert set(res["greedy"]) == {*modes, "note"}
    assert res["labeled_queries"] == 3  # every query's synthesized label is at hand for scoring
    assert res["greedy"]["off"]["kept_scored"] == res["greedy"]["off"]["kept"]
    for r in res["vote"]["0.5"].values():  # every query with a tool is kept or dropped once, fallback too
        assert r["kept"] + sum(r["dropped"].values()) == tools["valid"]
    # a rerun with the same settings rescores the saved samples without loading a model
    import open_toolace.generation as generation

    def no_model(*a, **k):
        raise AssertionError("the model was loaded again")

    monkeypatch.setattr(generation, "make_generator", no_model)
    assert ry.main([*argv, "--thresholds", "0.5", "--coverage", "off"]) == 0
    again = json.loads(js.read_text())
    assert again["tool_stage"] == tools and set(again["vote"]["0.5"]) == {
        "0.5/off",
        "0.5/off/relax",
        "0.5/off/fallback",
        "0.5/off/relax/fallback",
    }
    with pytest.raises(AssertionError, match="loaded again"):
        ry.main([*argv, "--fresh"])


def test_round_yield_retrieves_from_the_queries_own_apis(tmp_path):
    ry = load_bench("round_yield")
    js = tmp_path / "ry.json"
    argv = [str(adapter(tmp_path / "a", "lean")), "--config", str(REPO / "configs" / "run_tiny.yaml"),
            "--queries", "4", "--temperatures", "0.5", "--thresholds", "0.6", "--coverage", "off",
            "--out", str(tmp_path / "out"), "--json", str(js), "--catalog", "pool",
            "evolve.tool_source=retrieve"]  # fmt: skip
    assert ry.main(argv) == 0
    res = json.loads(js.read_text())
    tools = res["tool_stage"]
    assert res["overrides"] == ["evolve.tool_source=retrieve"]
    # every query was written from an API of the catalog, so BM25 finds a tool for each
    assert tools["catalog"] > 0 and tools["retrieved"] == tools["valid"] == 4
    kept = [json.loads(line) for line in (tmp_path / "out" / "tools_kept.jsonl").read_text().splitlines()]
    assert all(it["meta"]["tool_source"] == "retrieve" and len(it["tools"]) == res["m"] for it in kept)
