"""Paired comparison of two evaluations, and side-by-side evaluation of several arms (resumable)."""

from __future__ import annotations

import json

import pytest

from open_toolace.evaluate import load_bfcl
from open_toolace.evaluate.compare import (
    TIMING,
    compare_dirs,
    compare_rows,
    evaluate_side_by_side,
    paired_difference,
    paired_table,
)
from open_toolace.evaluate.report import compare
from open_toolace.generation.fake import FakeGenerator
from test_eval_runner import oracle


def test_paired_difference_matches_hand_computation():
    a = [1, 1, 0, 0, 1, 0, 1, 0]
    b = [1, 0, 1, 1, 1, 1, 1, 0]
    p = paired_difference(a, b)
    d = [0, -1, 1, 1, 0, 1, 0, 0]  # b - a
    mean = sum(d) / 8
    sd = (sum((x - mean) ** 2 for x in d) / 7) ** 0.5
    assert p["n"] == 8 and p["a"] == 0.5 and p["b"] == 0.75
    assert p["diff"] == pytest.approx(0.25)
    assert p["ci95"] == pytest.approx([mean - 1.959964 * sd / 8**0.5, mean + 1.959964 * sd / 8**0.5])
    assert (p["a_only"], p["b_only"]) == (1, 3)


def test_paired_interval_is_narrower_than_unpaired_when_items_share_difficulty():
    # the same 100 items: b fixes 10 that a misses, and both get the same easy 40 right
    a = [1] * 40 + [0] * 60
    b = [1] * 50 + [0] * 50
    p = paired_difference(a, b)
    unpaired_half = 1.96 * (0.4 * 0.6 / 100 + 0.5 * 0.5 / 100) ** 0.5
    lo, hi = p["ci95"]
    assert lo > 0 and (hi - lo) / 2 < unpaired_half  # significant paired, not unpaired


def test_paired_difference_edge_cases():
    assert paired_difference([], [])["diff"] is None
    assert paired_difference([1], [1])["ci95"] == [0.0, 0.0]
    with pytest.raises(ValueError, match="equal lengths"):
        paired_difference([1, 0], [1])


def test_compare_rows_pairs_by_id_per_category_with_honest_irrelevance():
    rows_a = {
        "x1": {"category": "simple_python", "valid": True},
        "x2": {"category": "simple_python", "valid": False},
        "i1": {"category": "irrelevance", "valid": True, "honest_valid": False},
        "only_a": {"category": "simple_python", "valid": True},
    }
    rows_b = {
        "x2": {"category": "simple_python", "valid": True},
        "x1": {"category": "simple_python", "valid": True},
        "i1": {"category": "irrelevance", "valid": True, "honest_valid": True},
    }
    out = compare_rows(rows_a, rows_b)
    assert out["simple_python"]["n"] == 2 and out["simple_python"]["b_only"] == 1
    assert out["irrelevance"]["diff"] == 0 and out["irrelevance_honest"]["diff"] == 1
    assert out["all"]["n"] == 3 and out["all"]["missing"] == 1


CATS = ["simple_python", "parallel", "irrelevance"]


def test_side_by_side_alternates_arms_times_categories_and_resumes(tmp_path):
    items = load_bfcl(CATS, 3)
    good, bad = oracle(items), oracle(items, wrong={"simple_python_0", "parallel_1"})
    res = evaluate_side_by_side(
        {"good": (good, "bfcl"), "bad": (bad, "lean")}, CATS, tmp_path, limit=3, progress=False
    )
    # one generate call per arm per category, in the order good, bad | bad, good | good, bad
    assert len(good.calls) == len(bad.calls) == 3
    assert set(res["timing"]) == {"good", "bad"} and set(CATS) <= set(res["timing"]["good"])
    assert res["scores"]["good"]["n_items"] == 9 and res["scores"]["bad"]["prompt_set"] == "lean"
    assert res["scores"]["bad"]["categories"]["simple_python"]["correct"] == 2
    # the lean arm's prompts show python signatures, the bfcl arm's a JSON list
    assert "def " in bad.calls[0]["requests"][0][0]["content"]
    assert '"name"' in good.calls[0]["requests"][0][0]["content"]
    paired = compare_dirs(tmp_path / "good", tmp_path / "bad")
    assert paired["all"]["a_only"] == 2 and paired["all"]["b_only"] == 0

    # resume: nothing is generated again, and the timing of finished categories is kept
    timing = json.loads((tmp_path / TIMING).read_text())
    again = FakeGenerator(lambda m: pytest.fail("a finished category was generated again"))
    res2 = evaluate_side_by_side(
        {"good": (again, "bfcl"), "bad": (again, "lean")}, CATS, tmp_path, limit=3, progress=False
    )
    assert res2["timing"] == timing and res2["scores"]["bad"]["n_items"] == 9


def test_side_by_side_marks_a_category_killed_half_way(tmp_path):
    items = load_bfcl(["simple_python"], 4)
    # a first run that generated two of the four items, then died before the timing was written
    from open_toolace.evaluate.runner import evaluate_items

    evaluate_items(oracle(items), items[:2], tmp_path / "a", progress=False, prompts="bfcl", max_new_tokens=128,
                   meta={"benchmark": "bfcl", "limit": 4})  # fmt: skip
    res = evaluate_side_by_side({"a": (oracle(items), "bfcl")}, ["simple_python"], tmp_path, limit=4,
                                progress=False)  # fmt: skip
    assert res["timing"]["a"]["simple_python.partial"] is True and res["scores"]["a"]["n_items"] == 4


def test_compare_command_table_has_the_paired_rows(tmp_path):
    items = load_bfcl(CATS, 3)
    evaluate_side_by_side(
        {"base": (oracle(items, wrong={"parallel_0"}), None), "new": (oracle(items), None)},
        CATS,
        tmp_path,
        limit=3,
        progress=False,
    )
    table = compare([tmp_path / "base", tmp_path / "new"])
    assert "Paired against base" in table and "| new | parallel | 3 | +33.3 |" in table
    assert paired_table([tmp_path / "base", tmp_path / "new"]) in table


def test_significant_drops_need_the_whole_interval_below_zero():
    from open_toolace.evaluate.compare import significant_drops

    drop = paired_difference([1] * 50 + [0] * 50, [0] * 100)  # -50 points on 100 items
    noise = paired_difference([1, 0] * 10, [0, 1] * 10)  # 0 on average, wide
    dip = paired_difference([1] * 3 + [0] * 17, [1] * 2 + [0] * 18)  # -5 points, interval spans 0
    assert significant_drops({"a": drop, "b": noise, "c": dip, "d": paired_difference([], [])}) == ["a"]
