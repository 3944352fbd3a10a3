"""Aggregate formulas on fixed inputs (docs/evaluation.md)."""

from __future__ import annotations

import pytest

from open_toolace.evaluate.aggregate import category_scores, compute_scores, summarize


def rows(category: str, correct: int, total: int, honest: int | None = None) -> list[dict]:
    out = []
    for i in range(total):
        r = {
            "id": f"{category}_{i}",
            "category": category,
            "valid": i < correct,
            "error_type": None if i < correct else "value_error:others",
        }
        if honest is not None:
            r["honest_valid"] = i < honest
        out.append(r)
    return out


def test_category_scores_counts_and_error_types():
    cats = category_scores(rows("multiple", 3, 4) + rows("irrelevance", 8, 10, honest=5))
    assert cats["multiple"] == {
        "total": 4,
        "correct": 3,
        "accuracy": 0.75,
        "error_types": {"value_error:others": 1},
    }
    assert cats["irrelevance"]["accuracy"] == 0.8 and cats["irrelevance"]["honest_accuracy"] == 0.5


def test_bfcl_formulas():
    data = (
        rows("simple_python", 8, 10)
        + rows("simple_java", 1, 2)
        + rows("simple_javascript", 0, 4)
        + rows("multiple", 6, 10)
        + rows("parallel", 4, 10)
        + rows("parallel_multiple", 2, 10)
        + rows("live_simple", 3, 4)
        + rows("live_multiple", 1, 16)
        + rows("irrelevance", 9, 10, honest=6)
        + rows("live_irrelevance", 1, 2, honest=0)
        + rows("live_relevance", 1, 1)
    )
    s = compute_scores(data)["summary"]
    simple = (0.8 + 0.5 + 0.0) / 3  # unweighted over languages
    assert s["simple"]["accuracy"] == pytest.approx(simple)
    non_live = (simple + 0.6 + 0.4 + 0.2) / 4
    assert s["non_live_ast"]["accuracy"] == pytest.approx(non_live)
    assert s["non_live_ast"]["over"] == ["simple", "multiple", "parallel", "parallel_multiple"]
    assert s["live_ast"]["accuracy"] == pytest.approx(4 / 20)  # item-weighted, not (0.75 + 0.0625) / 2
    assert s["irrelevance"]["accuracy"] == pytest.approx((0.9 + 0.5) / 2)
    assert s["irrelevance_honest"]["accuracy"] == pytest.approx((0.6 + 0.0) / 2)
    assert s["relevance"]["accuracy"] == 1.0
    assert s["overall"]["accuracy"] == pytest.approx((non_live + 0.2 + 0.7) / 3)
    assert s["overall_honest"]["accuracy"] == pytest.approx((non_live + 0.2 + 0.3) / 3)
    assert s["all_items"]["accuracy"] == pytest.approx(36 / 79)


def test_partial_runs_use_only_what_ran():
    s = summarize(category_scores(rows("parallel", 1, 4) + rows("simple_python", 1, 2)))
    assert s["non_live_ast"]["accuracy"] == pytest.approx((0.5 + 0.25) / 2)
    assert s["overall"]["over"] == ["non_live_ast"]
    assert "live_ast" not in s and "irrelevance" not in s


def test_dataset_summary_has_no_bfcl_groups():
    s = compute_scores(rows("simple", 1, 2) + rows("irrelevance", 1, 1, honest=0), bfcl_groups=False)[
        "summary"
    ]
    assert set(s) == {"irrelevance", "irrelevance_honest", "all_items"}
    assert s["all_items"]["accuracy"] == pytest.approx(2 / 3)
