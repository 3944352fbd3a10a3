"""Offline seed synthesis: scale, determinism, rule checks, type coverage, BFCL hygiene, unlabeled queries, CLI."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter

import pytest

from open_toolace.checks import check_calls
from open_toolace.data.records import example_user_text, validate_example
from open_toolace.synth.apis import OPS, build_pool
from open_toolace.synth.contamination import bfcl_index
from open_toolace.synth.seed import HELD_OUT, SynthConfig, run_synthesis, synthesize, synthesize_offline
from open_toolace.synth.stats import type_coverage
from open_toolace.synth.tree import load_tree, split_domains
from open_toolace.synth.unlabeled import synthesize_queries
from open_toolace.synth.verify import underivable


@pytest.fixture(scope="module")
def big():
    """The default-size set, made once for the module (a few seconds)."""
    return synthesize_offline(SynthConfig(n=6000, progress=False))


@pytest.fixture(scope="module")
def queries():
    return synthesize_queries(SynthConfig(n=1500, progress=False))


def test_scale_unique_apis_domains(big):
    ex = big.examples
    assert len(ex) == 6000
    assert len({"\n".join(m["content"] for m in e["messages"]) for e in ex}) == 6000
    assert len({e["messages"][-1]["content"] for e in ex}) >= 5000
    stats = big.stats()
    assert stats["pool_apis"] >= 300 and stats["apis_called"] >= 300
    assert stats["domains"] >= 30 and stats["pool_domains"] >= 30
    assert stats["distinct_templates"] >= 3000
    assert set(stats["types"]) == {
        "single",
        "multiple",
        "parallel",
        "parallel_multiple",
        "irrelevance",
        "multi_turn",
    }
    assert {0, 1, 2, 3} <= set(stats["calls_per_sample"])


def test_every_sample_passes_rule_checker(big):
    for ex in big.examples:
        assert validate_example(ex) == []
        assert check_calls(ex["calls"], ex["tools"], query=example_user_text(ex), grounding="lenient") == []
        assert (
            underivable(ex["calls"], example_user_text(ex), ex["tools"]) == []
        )  # values read back by verify.py's parser
        names = {t["name"] for t in ex["tools"]}
        assert {c["name"] for c in ex["calls"]} <= names
        if ex["meta"]["type"] == "irrelevance":
            assert ex["calls"] == [] and ex["tools"]
        if ex["meta"]["type"] == "multi_turn":
            assert [m["role"] for m in ex["messages"]] == ["user", "assistant", "tool", "assistant", "user"]


def test_type_coverage(big):
    cov = type_coverage([p["tool"] for p in big.pool])
    for key in ("string", "integer", "number", "boolean", "enum(string)", "array", "object", "default",
                "minimum", "pattern"):  # fmt: skip
        assert cov.get(key, 0) > 0, key
    args = big.stats()["argument_types"]
    assert {"string", "integer", "number", "boolean", "array", "object"} <= set(args)
    ops = Counter(op.split(":")[0] for p in big.pool for op in p["ops"])
    assert set(ops) == set(OPS)
    forms = big.stats()["value_phrasings"]
    dates = [f for f in forms if f.startswith("date_")]
    assert len(dates) >= 6  # dates said in many formats; the call always has ISO
    assert {"count_words", "money_symbol", "money_words", "time_12h", "list", "bool_false"} <= set(forms)


def test_dates_in_calls_are_iso_while_queries_vary(big):
    iso = __import__("re").compile(r"^\d{4}-\d{2}-\d{2}$")
    seen_non_iso_query = False
    for ex in big.examples[:800]:
        if any(f.startswith("date_") and f != "date_iso" for f in ex["meta"]["forms"]):
            seen_non_iso_query = True
            for c in ex["calls"]:
                for v in json.dumps(c["arguments"]).split('"'):
                    if len(v) == 10 and v[4:5] == "-" and v[:4].isdigit():
                        assert iso.match(v)
    assert seen_non_iso_query


def test_no_bfcl_contamination(big, queries):
    index = bfcl_index(0.7)
    assert len(index) > 4000
    for ex in big.examples + queries:
        for m in ex["messages"]:
            if m["role"] == "user":
                score, match = index.best(m["content"])
                assert score < 0.7, (m["content"], match)


def test_deterministic_under_seed():
    a = synthesize(SynthConfig(n=150, progress=False, contamination=False))
    b = synthesize(SynthConfig(n=150, progress=False, contamination=False))
    c = synthesize(SynthConfig(n=150, seed=1, progress=False, contamination=False))
    assert a == b
    assert [e["messages"] for e in a] != [e["messages"] for e in c]


def test_pool_deterministic_and_names_unique():
    seed_domains, held = split_domains(load_tree(), HELD_OUT)
    p1 = [a.tool() for a in build_pool(seed_domains, random.Random(3))]
    p2 = [a.tool() for a in build_pool(seed_domains, random.Random(3))]
    assert p1 == p2
    assert len({t["name"] for t in p1}) == len(p1)
    assert len(seed_domains) >= 30 and len(held) == len(HELD_OUT)


def test_unlabeled_queries_from_held_out_domains(queries):
    assert len(queries) == 1500
    assert len({q["messages"][0]["content"] for q in queries}) == 1500
    seed_domains, _ = split_domains(load_tree(), HELD_OUT)
    seed_names = {d.name for d in seed_domains}
    for q in queries:
        assert q["tools"] == [] and q["calls"] is None
        assert [m["role"] for m in q["messages"]] == ["user"]
        assert q["meta"]["domain"] in HELD_OUT and q["meta"]["domain"] not in seed_names
        assert validate_example(q) == []
    assert len({q["meta"]["domain"] for q in queries}) == len(HELD_OUT)


def test_query_mix_sets_the_kinds():
    from collections import Counter

    only = synthesize_queries(SynthConfig(n=60, progress=False, contamination=False, query_mix={"single": 1}))
    assert len(only) == 60 and {q["meta"]["type"] for q in only} == {"single"}
    mixed = synthesize_queries(SynthConfig(n=200, progress=False, contamination=False))
    assert set(Counter(q["meta"]["type"] for q in mixed)) == {"single", "parallel", "parallel_multiple"}
    with pytest.raises(ValueError, match="query_mix"):
        synthesize_queries(SynthConfig(n=5, progress=False, query_mix={"multi_turn": 1.0}))


def test_query_labels_are_handed_apart_and_the_queries_stay_unlabeled():
    cfg = SynthConfig(n=40, progress=False, contamination=False)
    labels: dict = {}
    labeled_run = synthesize_queries(cfg, labels=labels)
    assert labeled_run == synthesize_queries(cfg)  # asking for labels changes nothing in the queries
    assert set(labels) == {q["id"] for q in labeled_run}
    assert all(q["calls"] is None for q in labeled_run)
    for q in labeled_run:
        calls = labels[q["id"]]
        assert calls and all(c["name"] and isinstance(c["arguments"], dict) for c in calls)
        n = {"single": 1}.get(q["meta"]["type"])
        assert n is None or len(calls) == n


def test_seed_and_query_texts_disjoint(big, queries):
    seed_texts = {e["messages"][-1]["content"] for e in big.examples}
    assert not seed_texts & {q["messages"][0]["content"] for q in queries}


def test_pipeline_drops_and_counts_contaminated(monkeypatch):
    """The pipeline runs the contamination check: with an index built from its own queries, it must drop them."""
    import open_toolace.synth.seed as pl
    from open_toolace.synth.contamination import ContaminationIndex

    clean = synthesize(SynthConfig(n=40, progress=False, contamination=False))
    texts = [e["messages"][-1]["content"] for e in clean[:10]]
    monkeypatch.setattr(pl, "bfcl_index", lambda t: ContaminationIndex(texts, t))
    res = pl.synthesize_offline(SynthConfig(n=40, progress=False))
    dropped = [r for r in res.rejects if r["reason"] == "bfcl_contamination"]
    assert len(dropped) == 10
    assert {r["record"]["messages"][-1]["content"] for r in dropped} == set(texts)
    assert res.stats()["reject_reasons"]["bfcl_contamination"] == 10


def test_run_synthesis_writes_sidecars_and_resumes(tmp_path):
    out = tmp_path / "seed.jsonl"
    cfg = SynthConfig(n=120, progress=False)
    stats = run_synthesis(cfg, out)
    assert stats["samples"] == 120
    for suffix in (".rejects.jsonl", ".stats.json", ".apis.jsonl", ".config.yaml"):
        assert (tmp_path / f"seed{suffix}").exists()
    assert len(out.read_text().splitlines()) == 120
    again = run_synthesis(cfg, out)
    assert again.get("skipped") is True
    assert run_synthesis(SynthConfig(n=121, progress=False), out)["samples"] == 121


def test_cli_seed_queries_and_data_stats(tmp_path):
    seed, qs = tmp_path / "seed.jsonl", tmp_path / "q.jsonl"
    run = [sys.executable, "-m", "open_toolace.cli", "synth"]
    r = subprocess.run(run + ["seed", "--config", "configs/synth.yaml", "--out", str(seed), "n=200", "--json"],
                       capture_output=True, text=True, cwd=__import__("pathlib").Path(__file__).parents[1])  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["samples"] == 200
    r = subprocess.run(run + ["queries", "--out", str(qs), "--n", "50"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert len(qs.read_text().splitlines()) == 50
    r = subprocess.run(run + ["seed", "--out", str(seed), "mix.bogus=1"], capture_output=True, text=True)
    assert r.returncode == 2 and "bogus" in r.stderr
    r = subprocess.run([sys.executable, "-m", "open_toolace.cli", "data", "stats", str(seed), "--json"],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "200" in r.stdout
