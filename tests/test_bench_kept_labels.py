"""bench/kept_labels.py: each round's kept answers are scored against the labels of the re-synthesized pool,
and a pool that does not re-synthesize to the saved queries is refused rather than scored wrongly."""

from __future__ import annotations

import json

import pytest

from _bench import load_bench
from open_toolace.config import save_config
from open_toolace.data.queries import unlabeled_pool
from open_toolace.io import write_jsonl
from open_toolace.pipeline.config import RunConfig
from open_toolace.pipeline.seed import _synth


def test_round_precision_splits_by_label_kind():
    kl = load_bench("kept_labels")
    labels = {
        "a": [{"name": "t", "arguments": {"x": 10}}],
        "b": [{"name": "t", "arguments": {"x": 1}}, {"name": "t", "arguments": {"x": 2}}],
        "c": [],
    }
    kept = [
        {"id": "a", "calls": [{"name": "mine", "arguments": {"n": 10}}]},  # right values, own names
        {"id": "b", "calls": [{"name": "mine", "arguments": {"n": [1, 2]}}]},  # one call for two: wrong
        {"id": "c", "calls": []},
        {"id": "z", "calls": []},  # no label: not scored
    ]
    out = kl.round_precision(kept, labels)
    assert (out["kept"], out["scored"], out["match"], out["precision"]) == (4, 3, 2, 0.667)
    assert out["by_label"] == {
        "multi": {"kept": 1, "match": 0},
        "no_call": {"kept": 1, "match": 1},
        "single": {"kept": 1, "match": 1},
    }


def test_kept_labels_scores_a_run_dir(tmp_path, capsys):
    kl = load_bench("kept_labels")
    cfg = RunConfig(name="t")
    run = tmp_path / "run"
    save_config(cfg, run / "config.yaml")
    labels: dict = {}
    pool, _ = _synth("queries", cfg.seed_data.queries_synth, cfg.seed + 1, 12, False, labels=labels)
    queries = unlabeled_pool(pool)
    write_jsonl(run / "seed" / "queries.jsonl", queries)
    right, wrong = [q["id"] for q in queries if labels.get(q["id"])][:2]
    bad = [{**c, "arguments": {k: "nope" for k in c["arguments"]}} for c in labels[wrong]]
    write_jsonl(
        run / "rounds" / "r1" / "kept.jsonl",
        [{"id": right, "calls": labels[right]}, {"id": wrong, "calls": bad}],
    )
    assert kl.main([str(run), "--json", str(tmp_path / "out.json")]) == 0
    r1 = json.loads((tmp_path / "out.json").read_text())["rounds"]["r1"]
    assert (r1["kept"], r1["scored"], r1["match"]) == (2, 2, 1)
    # a pool that no longer re-synthesizes to the saved texts has no trustworthy labels
    write_jsonl(
        run / "seed" / "queries.jsonl", [{**queries[0], "messages": [{"role": "user", "content": "hi"}]}]
    )
    with pytest.raises(SystemExit, match="re-synthesize"):
        kl.main([str(run)])
