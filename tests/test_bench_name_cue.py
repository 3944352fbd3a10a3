"""bench/name_cue.py: the shared-word cue counted in a samples file and in an eval directory."""

from __future__ import annotations

import json

from _bench import load_bench

cue = load_bench("name_cue")


def row(tools: list[str], request: str, answer: str, task: str = "invocation") -> dict:
    system = "You can call these Python functions:\n\n" + "\n\n".join(
        f"def {t}(x: str):\n    pass" for t in tools
    )
    return {
        "prompt": [{"role": "system", "content": system}, {"role": "user", "content": request}],
        "completion": [{"role": "assistant", "content": answer}],
        "task": task,
        "id": "x",
    }


def test_shares_a_word_splits_camel_case_and_dots():
    assert cue.shares_a_word("What's the weather in Paris?", ["weather.getForecast"])
    assert cue.shares_a_word("a forecast for Rome", ["weather.getForecast"])
    assert not cue.shares_a_word("add 5 to 3", ["sum", "svc.run_job"])


def test_sample_counts_answer_by_cue():
    rows = [
        row(["get_weather"], "weather in Paris", '[get_weather(x="Paris")]'),
        row(["sum"], "add 5 to 3", '[sum(x="5")]'),
        row(["book_hotel"], "weather in Paris", "[]"),
        row(["get_weather"], "weather in Rome", "[]"),
        row(["t"], "ignored", "{}", task="tool_generation"),
    ]
    assert cue.sample_counts(rows) == {
        "call/none": 1,
        "call/shared": 1,
        "no_call/none": 1,
        "no_call/shared": 1,
    }


def test_eval_counts_reads_a_results_file(tmp_path):
    item = cue.load_category("simple_python")[0]
    out = {"id": item["id"], "category": "simple_python", "output": "[]", "valid": False}
    (tmp_path / "results.jsonl").write_text(json.dumps(out) + "\n")
    got = cue.eval_counts(tmp_path)["simple_python"]
    assert sum(c[0] for c in got.values()) == 1 and sum(c[1] for c in got.values()) == 1
    assert sum(c[2] for c in got.values()) == 0
