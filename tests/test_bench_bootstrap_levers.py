"""bench/bootstrap_levers.py over two hand-made run directories: the table's numbers and the paired interval."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from _bench import load_bench

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load():
    return load_bench("bootstrap_levers")


def make_run(root: Path, name: str, right: int, lr: float, **train_metrics) -> Path:
    run = root / name
    (run / "bootstrap" / "adapter").mkdir(parents=True)
    (run / "eval" / "bootstrap").mkdir(parents=True)
    cfg = {"seed_data": {"source": "synth", "limit": 10}, "bootstrap": {"train": {"learning_rate": lr},
                                                                      "mix": {"abstention_share": 0.2}}}  # fmt: skip
    (run / "config.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    tm = {"global_step": 3, "tokens_seen": 1234, "wall_s": 60.0, "tokens_per_s": 20.5, "first_loss": 2.0,
          "last_loss": 1.0, **train_metrics}  # fmt: skip
    (run / "bootstrap" / "adapter" / "train_metrics.json").write_text(json.dumps(tm), encoding="utf-8")
    write_eval(run / "eval" / "bootstrap", "simple_python", right)
    return run


def write_eval(out: Path, category: str, right: int, seconds: float | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rows = [{"id": f"{category}_{i}", "category": category, "output": "[f()]", "valid": i < right}
            for i in range(10)]  # fmt: skip
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    scores = {"categories": {category: {"accuracy": right / 10, "total": 10}}}
    if seconds is not None:
        scores["timing"] = {"generation_seconds": seconds}
    (out / "scores.json").write_text(json.dumps(scores), encoding="utf-8")


def test_summary_table_and_paired_difference(tmp_path, capsys):
    a, b = make_run(tmp_path, "base", 3, 3e-4), make_run(tmp_path, "lr", 8, 1e-3)
    out = tmp_path / "levers.json"
    assert load().main([str(a), str(b), "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["arms"]["base"]["accuracy"] == {"simple_python": 30.0}
    assert res["arms"]["lr"]["learning_rate"] == 1e-3 and res["arms"]["lr"]["train"]["tokens"] == 1234
    p = res["paired"]["lr - base"]["simple_python"]
    assert p["n"] == 10 and p["diff"] == 50.0 and p["ci95"][0] > 0  # items 3..7 right only in lr
    assert "| lr | 3 | 1,234 | 1.0 | 80.0 |" in capsys.readouterr().out


def test_a_run_resumed_without_progress_has_no_token_count(tmp_path, capsys):
    # its train_metrics counted only the steps after the resume: no number beats a wrong one
    old = make_run(tmp_path, "old", 3, 1e-3, resumed_from="checkpoint-2")
    new = make_run(tmp_path, "new", 3, 1e-3, resumed_from="checkpoint-2", counts_all_steps=True)
    assert load().main([str(old), str(new), "--json", str(tmp_path / "l.json")]) == 0
    table = capsys.readouterr().out
    assert "| old | 3 | ? | ? | 30.0 |" in table and "| new | 3 | 1,234 | 1.0 | 30.0 |" in table


def test_extra_eval_dirs_are_summarized_and_paired_under_their_prefix(tmp_path):
    a, b = make_run(tmp_path, "base", 3, 1e-3), make_run(tmp_path, "arm", 3, 1e-3)
    write_eval(a / "heldout-x", "x", 2, seconds=12.5)
    write_eval(b / "heldout-x", "x", 9, seconds=20.0)
    out = tmp_path / "l.json"
    assert (
        load().main([str(a), str(b), "--extra", "heldout-x", "--extra", "missing", "--json", str(out)]) == 0
    )
    res = json.loads(out.read_text())
    assert res["arms"]["arm"]["accuracy"] == {"simple_python": 30.0, "heldout-x/x": 90.0}
    assert res["arms"]["base"]["generation_s"]["heldout-x"] == 12.5
    paired = res["paired"]["arm - base"]
    assert paired["simple_python"]["diff"] == 0.0 and paired["heldout-x/x"]["diff"] == 70.0
