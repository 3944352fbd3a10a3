"""Evaluation runs end to end: run directory, resume, --dataset, compare, CLI, and a tiny-random model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from open_toolace.evaluate import evaluate_bfcl, evaluate_dataset, item_from_example, load_bfcl, load_dataset
from open_toolace.evaluate.bfcl import item_messages, reference_calls
from open_toolace.evaluate.report import compare
from open_toolace.evaluate.runner import EvalConfig, load_results, run_eval
from open_toolace.formats import ToolCall, render_calls
from open_toolace.generation.fake import FakeGenerator


def answer_for(item: dict) -> str:
    """A correct output rendered from the item's possible answers ([] for irrelevance, a call for relevance)."""
    if item["category"] == "live_relevance":
        return render_calls([ToolCall(item["function"][0]["name"], {})])
    return render_calls([ToolCall(c["name"], c["arguments"]) for c in reference_calls(item)])


def oracle(items: list[dict], wrong: set[str] = frozenset()) -> FakeGenerator:
    by_query = {item_messages(it)[-1]["content"]: it for it in items}

    def respond(messages):
        it = by_query[messages[-1]["content"]]
        return "I do not know." if it["id"] in wrong else answer_for(it)

    return FakeGenerator(respond)


CATS = ["simple_python", "multiple", "parallel", "irrelevance"]


def test_run_dir_outputs_and_scores(tmp_path):
    items = load_bfcl(CATS, 3)
    gen = oracle(items, wrong={"multiple_1"})
    scores = evaluate_bfcl(gen, CATS, limit=3, out_dir=tmp_path, progress=False)
    for name in ["results.jsonl", "scores.json", "report.md", "scores.png", "manifest.json"]:
        assert (tmp_path / name).exists(), name
    assert (tmp_path / "scores.png").read_bytes()[:4] == b"\x89PNG"
    assert len(gen.calls) == 1 and len(gen.calls[0]["requests"]) == 12  # one batched call, greedy
    assert gen.calls[0]["temperature"] == 0.0
    cats = scores["categories"]
    assert cats["simple_python"]["accuracy"] == 1.0 and cats["parallel"]["accuracy"] == 1.0
    assert cats["multiple"]["correct"] == 2 and cats["multiple"]["error_types"] == {
        "multiple_function_checker:wrong_count": 1
    }
    assert cats["irrelevance"]["accuracy"] == 1.0 and cats["irrelevance"]["honest_accuracy"] == 1.0
    assert scores["summary"]["non_live_ast"]["accuracy"] == pytest.approx((1 + 2 / 3 + 1) / 3)
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [it["id"] for it in items]
    assert {"id", "category", "output", "decoded", "valid", "error_type"} <= set(rows[0])
    report = (tmp_path / "report.md").read_text()
    assert (
        "non-live AST" in report and "multiple_function_checker:wrong_count" in report and "honest" in report
    )
    assert json.loads((tmp_path / "scores.json").read_text())["n_items"] == 12


def test_resume_generates_only_missing_and_dedupes(tmp_path):
    items = load_bfcl(["simple_python"], 4)
    evaluate_bfcl(oracle(items), "simple_python", limit=4, out_dir=tmp_path, progress=False, save_every=2)
    path = tmp_path / "results.jsonl"
    lines = path.read_text().splitlines()
    # keep two rows, duplicate one, and leave a torn last line as a killed run would
    path.write_text(lines[0] + "\n" + lines[1] + "\n" + lines[1] + "\n" + lines[2][:25])
    gen = oracle(items)
    scores = evaluate_bfcl(gen, "simple_python", limit=4, out_dir=tmp_path, progress=False)
    assert sum(len(c["requests"]) for c in gen.calls) == 2
    assert scores["n_items"] == 4 and scores["categories"]["simple_python"]["accuracy"] == 1.0
    assert len(load_results(path)) == 4 and len(path.read_text().splitlines()) == 4
    # a bigger limit later generates only the new items; nothing is regenerated
    gen = oracle(load_bfcl(["simple_python"], 6))
    evaluate_bfcl(gen, "simple_python", limit=6, out_dir=tmp_path, progress=False)
    assert sum(len(c["requests"]) for c in gen.calls) == 2


def test_outputs_of_other_settings_are_not_mixed(tmp_path):
    items = load_bfcl(["simple_python"], 2)
    evaluate_bfcl(
        oracle(items), "simple_python", limit=2, out_dir=tmp_path, progress=False, max_new_tokens=64
    )
    with pytest.raises(ValueError, match="other settings"):
        evaluate_bfcl(
            oracle(items), "simple_python", limit=2, out_dir=tmp_path, progress=False, max_new_tokens=32
        )
    gen = oracle(items)
    evaluate_bfcl(
        gen, "simple_python", limit=2, out_dir=tmp_path, progress=False, max_new_tokens=32, fresh=True
    )
    assert len(gen.calls[0]["requests"]) == 2
    # bf16 weights give other greedy outputs than fp32: a dtype change is a settings change too
    with pytest.raises(ValueError, match="dtype"):
        evaluate_bfcl(
            oracle(items),
            "simple_python",
            limit=2,
            out_dir=tmp_path,
            progress=False,
            max_new_tokens=32,
            meta={"dtype": "bfloat16"},
        )


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


FN = {
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {
        "type": "dict",
        "properties": {
            "city": {"type": "string", "description": "city"},
            "days": {"type": "integer", "description": "days"},
        },
        "required": ["city"],
    },
}
FN_OPENAI = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Time in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def test_dataset_with_field_and_answer_file(tmp_path):
    q = [
        {
            "id": "w0",
            "question": [[{"role": "user", "content": "Weather in Paris?"}]],
            "function": [FN],
            "ground_truth": [{"get_weather": {"city": ["Paris"], "days": ["", 1]}}],
        },
        {
            "id": "w1",
            "question": "Weather in Rome and Oslo for 3 days?",
            "function": [FN],
            "ground_truth": [
                {"get_weather": {"city": ["Rome"], "days": [3]}},
                {"get_weather": {"city": ["Oslo"], "days": [3]}},
            ],
        },
        {
            "id": "w2",
            "question": [{"role": "user", "content": "What time is it in Lima?"}],
            "function": [FN, FN_OPENAI],
            "ground_truth": [{"get_time": {"city": ["Lima"]}}],
        },
        {"id": "w3", "question": "Tell me a joke.", "function": [FN], "ground_truth": []},
        {"id": "w4", "question": "Weather?", "function": [FN], "ground_truth": [{"nope": {}}]},  # rejected
        {"question": "no id", "function": [FN], "ground_truth": []},  # rejected
    ]
    path = write_jsonl(tmp_path / "qs.jsonl", q)
    items, rejects = load_dataset(path)
    assert [it["category"] for it in items] == ["simple", "parallel", "multiple", "irrelevance"]
    assert [r["line"] for r in rejects] == [5, 6] and "not among the offered" in rejects[0]["reason"]
    assert items[2]["function"][1]["parameters"]["type"] == "dict"  # OpenAI tool converted for the checker
    outputs = {
        "Weather in Paris?": '[get_weather(city="Paris")]',
        "Weather in Rome and Oslo for 3 days?": '[get_weather(city="Oslo", days=3), get_weather(city="Rome", days=3)]',
        "What time is it in Lima?": '{"name": "get_time", "arguments": {"city": "Lima"}}',
        "Tell me a joke.": "[get_weather(city=",
    }
    gen = FakeGenerator(lambda m: outputs[m[-1]["content"]])
    scores = evaluate_dataset(gen, path, tmp_path / "run", progress=False)
    cats = scores["categories"]
    assert all(cats[c]["accuracy"] == 1.0 for c in ["simple", "parallel", "multiple"])
    assert cats["irrelevance"]["accuracy"] == 1.0 and cats["irrelevance"]["honest_accuracy"] == 0.0
    assert set(scores["summary"]) == {"irrelevance", "irrelevance_honest", "all_items"}
    assert len(scores["rejects"]) == 2 and (tmp_path / "run" / "rejects.jsonl").exists()

    # the same questions with a separate possible-answer file (BFCL's layout)
    qs = write_jsonl(
        tmp_path / "q2.jsonl", [{k: v for k, v in r.items() if k != "ground_truth"} for r in q[:4]]
    )
    ans = write_jsonl(
        tmp_path / "a2.jsonl", [{"id": r["id"], "ground_truth": r["ground_truth"]} for r in q[:4]]
    )
    items2, rejects2 = load_dataset(qs, ans)
    assert not rejects2 and [it["ground_truth"] for it in items2] == [it["ground_truth"] for it in items]


def test_real_bfcl_file_as_dataset(tmp_path):
    """A slice of BFCL's own files through --dataset scores exactly like the benchmark path."""
    items = load_bfcl(["parallel"], 3)
    qs = write_jsonl(
        tmp_path / "q.json", [{k: it[k] for k in ("id", "question", "function")} for it in items]
    )
    ans = write_jsonl(
        tmp_path / "a.json", [{"id": it["id"], "ground_truth": it["ground_truth"]} for it in items]
    )
    loaded, rejects = load_dataset(qs, ans)
    assert not rejects and [it["category"] for it in loaded] == ["parallel"] * 3  # from the id prefix
    scores = evaluate_dataset(
        oracle(items, wrong={"parallel_2"}), qs, tmp_path / "run", answers=ans, progress=False
    )
    assert scores["categories"]["parallel"]["correct"] == 2


def test_item_from_example_scores_reference_calls():
    from open_toolace.evaluate import score_bfcl

    ex = {
        "id": "ex1",
        "messages": [{"role": "user", "content": "Weather in Paris for 2 days"}],
        "tools": [
            {
                "name": "get_weather",
                "description": "Weather.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "city": {"type": "string"},
                        "days": {"type": "integer"},
                        "unit": {"type": "string", "default": "c"},
                    },
                    "required": ["city"],
                },
            }
        ],
        "calls": [{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}],
    }
    it = item_from_example(ex)
    assert it["category"] == "simple"
    assert score_bfcl('[get_weather(city="paris", days=2)]', it)["valid"]  # BFCL string normalisation
    assert score_bfcl('[get_weather(city="Paris", days=2, unit="c")]', it)["valid"]  # default accepted
    assert not score_bfcl('[get_weather(city="Paris", days=3)]', it)["valid"]
    assert item_from_example({**ex, "calls": []})["category"] == "irrelevance"


def test_converted_example_file_as_dataset(tmp_path):
    """`toolace data convert`'s output is a --dataset as it is; a broken record is a reject with a reason."""
    tools = [{"name": "get_time", "description": "Time.", "parameters": {"type": "object",
             "properties": {"city": {"type": "string"}}, "required": ["city"]}}]  # fmt: skip
    recs = [
        {"id": "c0", "messages": [{"role": "user", "content": "Time in Lima?"}], "tools": tools,
         "calls": [{"name": "get_time", "arguments": {"city": "Lima"}}]},
        # API-Bank style: the call that follows a tool result
        {"id": "c1", "messages": [{"role": "user", "content": "Time where I am?"},
                                  {"role": "assistant", "content": "[where_am_i()]"},
                                  {"role": "tool", "content": "Oslo"}], "tools": tools,
         "calls": [{"name": "get_time", "arguments": {"city": "Oslo"}}]},
        {"id": "c2", "messages": [{"role": "user", "content": "Tell me a joke."}], "tools": tools, "calls": []},
        {"id": "c3", "messages": [{"role": "user", "content": "Time?"}], "tools": "get_time", "calls": []},
        {"id": "c4", "messages": [{"role": "user", "content": "Time?"}], "tools": tools, "calls": None},
        {"id": "c5", "messages": [{"role": "assistant", "content": "Hi"}], "tools": tools, "calls": []},
    ]  # fmt: skip
    path = write_jsonl(tmp_path / "converted.jsonl", recs)
    items, rejects = load_dataset(path)
    assert [(it["id"], it["category"]) for it in items] == [
        ("c0", "simple"),
        ("c1", "simple"),
        ("c2", "irrelevance"),
    ]
    reasons = {r["id"]: r["reason"] for r in rejects}
    assert set(reasons) == {"c3", "c4", "c5"}
    assert (
        "'tools' must be a list" in reasons["c3"]
        and "unlabeled" in reasons["c4"]
        and "tool result" in reasons["c5"]
    )
    outputs = {
        "Time in Lima?": '[get_time(city="lima")]',
        "Oslo": '[get_time(city="Oslo")]',
        "Tell me a joke.": "[]",
    }
    scores = evaluate_dataset(
        FakeGenerator(lambda m: outputs[m[-1]["content"]]), path, tmp_path / "run", progress=False
    )
    assert (
        scores["categories"]["simple"]["correct"] == 2
        and scores["categories"]["irrelevance"]["honest_accuracy"] == 1.0
    )


def test_compare_and_cli(tmp_path, capsys):
    from open_toolace.cli import main

    items = load_bfcl(["simple_python", "irrelevance"], 3)
    a, b = tmp_path / "a", tmp_path / "b"
    evaluate_bfcl(
        oracle(items, wrong={"simple_python_0", "simple_python_1"}),
        ["simple_python", "irrelevance"],
        limit=3,
        out_dir=a,
        progress=False,
    )
    evaluate_bfcl(oracle(items), ["simple_python", "irrelevance"], limit=3, out_dir=b, progress=False)
    table = compare([a, b])
    assert "| simple_python | 33.3 | 100.0 (+66.7) |" in table
    assert main(["eval", "compare", str(a), str(b), "--write", str(tmp_path / "cmp.md")]) == 0
    assert "(+66.7)" in capsys.readouterr().out and (tmp_path / "cmp.md").exists()
    assert main(["eval", "--categories", "multi_turn_base", "--out", str(tmp_path / "x")]) == 2
    assert "out of scope" in capsys.readouterr().err


def test_run_eval_from_config(tmp_path):
    items = load_bfcl(["live_simple", "live_relevance"], 2)
    cfg = EvalConfig(
        model="fake", categories="live_simple,live_relevance", limit=2, out=str(tmp_path), progress=False
    )
    scores = run_eval(cfg, generator=oracle(items))
    assert scores["categories"]["live_simple"]["accuracy"] == 1.0
    assert scores["categories"]["live_relevance"]["accuracy"] == 1.0
    assert (tmp_path / "eval_config.yaml").exists() and scores["model"] == "fake"


def test_run_eval_refuses_a_directory_another_eval_holds(tmp_path, capsys):
    from open_toolace.cli import main
    from open_toolace.io import DirBusyError, dir_lock

    items = load_bfcl(["simple_python"], 2)
    cfg = EvalConfig(model="fake", categories="simple_python", limit=2, out=str(tmp_path), progress=False)
    with dir_lock(tmp_path):
        with pytest.raises(DirBusyError):
            run_eval(cfg, generator=oracle(items))
        assert main(["eval", "--model", "fake", "--categories", "simple_python", "--out", str(tmp_path)]) == 2
    assert "in use by another process" in capsys.readouterr().err
    assert not (tmp_path / "results.jsonl").exists()
    assert run_eval(cfg, generator=oracle(items))["categories"]["simple_python"]["accuracy"] == 1.0


def test_tiny_random_model_end_to_end(tmp_path, capsys):
    """`toolace eval` with a real (random) HF model on the hf backend: 5 items of two categories."""
    from open_toolace.cli import main

    argv = [
        "eval",
        "--model",
        "tiny-random",
        "--backend",
        "hf",
        "--categories",
        "simple_python,irrelevance",
        "--limit",
        "5",
        "--out",
        str(tmp_path),
        "--max-new-tokens",
        "8",
        "--batch-size",
        "5",
        "--no-progress",
    ]
    assert main(argv) == 0
    assert "irrelevance" in capsys.readouterr().out
    for name in ["results.jsonl", "scores.json", "report.md", "scores.png", "eval_config.yaml"]:
        assert (tmp_path / name).stat().st_size > 0
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["n_items"] == 10 and scores["model"] == "tiny-random" and scores["backend"] == "hf"
    assert {c: v["total"] for c, v in scores["categories"].items()} == {"simple_python": 5, "irrelevance": 5}
    for c in scores["categories"].values():
        assert 0.0 <= c["accuracy"] <= 1.0 and c["correct"] + sum(c["error_types"].values()) == c["total"]
    assert scores["timing"]["generated_items"] == 10
    rows = load_results(tmp_path / "results.jsonl")
    assert len(rows) == 10 and all(isinstance(r["output"], str) for r in rows.values())


@pytest.mark.parametrize(
    "backend,batch_size,expected",
    [("hf", None, {"batch_size": 128}), ("hf", 16, {"batch_size": 16}), ("openai", None, {}),
     ("openai", 4, {"concurrency": 4}), ("vllm", 8, {})],
)  # fmt: skip
def test_run_eval_batch_size_per_backend(tmp_path, monkeypatch, backend, batch_size, expected):
    """hf batches 128 prompts unless told otherwise; openai only gets a concurrency when one is asked for."""
    import open_toolace.generation as generation

    items = load_bfcl(["simple_python"], 1)
    seen = {}

    def fake_make_generator(name, model, adapter=None, **kw):
        seen.update(kw)
        return oracle(items)

    monkeypatch.setattr(generation, "make_generator", fake_make_generator)
    cfg = EvalConfig(model="m", backend=backend, categories="simple_python", limit=1, out=str(tmp_path),
                     batch_size=batch_size, progress=False)  # fmt: skip
    assert run_eval(cfg)["categories"]["simple_python"]["accuracy"] == 1.0
    assert seen == expected
