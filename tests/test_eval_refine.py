"""Self-refinement in evaluation (evaluate.refinement, `eval --refine N`) and `infer --refine N`; scripted."""

from __future__ import annotations

import json

import pytest

from helpers import scripted_answer
from open_toolace.evaluate import evaluate_bfcl, load_bfcl
from open_toolace.evaluate.bfcl import item_messages
from open_toolace.evaluate.refinement import check_refine, refine_path, refinement_scores
from open_toolace.evaluate.runner import load_results
from open_toolace.generation.fake import FakeGenerator
from open_toolace.refine import show_previous

CATS = ["simple_python", "irrelevance"]
N = 3
BROKEN = "[no_such_call(x="  # does not parse: BFCL credits it on irrelevance, the honest verdict does not
# item -> (greedy code, {previous code: next code}): R right; W, a, b, c wrong (different values); X broken
SCRIPT = {
    "simple_python_0": ("W", {"W": "R", "R": "R"}),  # wrong -> right, stops at the repeat (2 steps)
    "simple_python_1": ("R", {"R": "W", "W": "W"}),  # right -> wrong (2 steps)
    "simple_python_2": ("W", {"W": "W"}),  # stops at the first repeat (1 step)
    "irrelevance_0": ("a", {"a": "b", "b": "c", "c": "R"}),  # runs to N, fixed at the last step
    "irrelevance_1": ("R", {"R": "X"}),  # a malformed refinement keeps "[]" and stops (1 step)
    "irrelevance_2": ("X", {"X": "R", "R": "R"}),  # BFCL-right all along, honest wrong -> right (2 steps)
}


def text(item: dict, code: str) -> str:
    """`helpers.scripted_answer`, plus `X`: a broken answer."""
    return BROKEN if code == "X" else scripted_answer(item, code)


@pytest.fixture(scope="module")
def items() -> list[dict]:
    return load_bfcl(CATS, 3)


def is_refinement(messages: list[dict]) -> bool:
    return "\nPrevious answer: " in messages[-1]["content"]


def scripted(items: list[dict], cls: type = FakeGenerator) -> FakeGenerator:
    by_query = {item_messages(it)[-1]["content"]: it for it in items}
    shown = {it["id"]: {show_previous(text(it, c)): c for c in "RWabcX"} for it in items}

    def respond(messages):
        last = messages[-1]["content"]
        if not is_refinement(messages):
            it = by_query[last]
            return text(it, SCRIPT[it["id"]][0])
        query, previous = last.split("\n\nPrevious answer: ", 1)
        it = by_query[query]
        previous = previous.removesuffix("\nRefined answer:")
        return text(it, SCRIPT[it["id"]][1][shown[it["id"]][previous]])

    return cls(respond)


def refined(gen: FakeGenerator) -> int:
    return sum(len(c["requests"]) for c in gen.calls if is_refinement(c["requests"][0]))


def greedy(gen: FakeGenerator) -> int:
    return sum(len(c["requests"]) for c in gen.calls if not is_refinement(c["requests"][0]))


def run(items, out, gen=None, **kw):
    kw.setdefault("refine", N)
    return evaluate_bfcl(gen or scripted(items), CATS, limit=3, out_dir=out, progress=False, **kw)


def test_accuracy_per_step_and_transitions(tmp_path, items):
    gen = scripted(items)
    scores = run(items, tmp_path, gen)
    # one batched call per step and category, over the items still active
    steps = [len(c["requests"]) for c in gen.calls if is_refinement(c["requests"][0])]
    assert steps == [3, 2, 3, 2, 1]
    assert all(c["temperature"] == 0.0 and c["n"] == 1 for c in gen.calls)
    r = scores["refinement"]
    assert (r["n_steps"], r["n_items"]) == (N, 6)
    sp, irr = r["categories"]["simple_python"], r["categories"]["irrelevance"]
    assert sp["accuracy_by_step"] == pytest.approx([1 / 3] * 4)
    assert (sp["wrong_to_right"], sp["right_to_wrong"], sp["malformed"]) == (1, 1, 0)
    assert sp["mean_steps"] == pytest.approx(5 / 3, abs=1e-4) and sp["stop_reasons"] == {"repeat": 3}
    assert irr["accuracy_by_step"] == pytest.approx([2 / 3, 2 / 3, 2 / 3, 1.0])
    assert irr["honest_accuracy_by_step"] == pytest.approx([1 / 3, 2 / 3, 2 / 3, 1.0])
    assert (irr["wrong_to_right"], irr["right_to_wrong"], irr["malformed"]) == (1, 0, 1)
    assert (irr["honest_wrong_to_right"], irr["honest_right_to_wrong"]) == (2, 0)
    assert irr["stop_reasons"] == {"max_steps": 1, "malformed": 1, "repeat": 1}
    # step 0 is the greedy pass
    assert sp["accuracy_by_step"][0] == scores["categories"]["simple_python"]["accuracy"]
    assert irr["honest_accuracy_by_step"][0] == scores["categories"]["irrelevance"]["honest_accuracy"]
    overall = r["summary"]["overall"]
    assert overall["over"] == ["non_live_ast", "irrelevance"] and overall["items"] == 6
    assert overall["accuracy_by_step"] == pytest.approx([0.5, 0.5, 0.5, (1 / 3 + 1) / 2])
    assert overall["accuracy_by_step"][0] == pytest.approx(scores["summary"]["overall"]["accuracy"])
    assert (overall["wrong_to_right"], overall["right_to_wrong"]) == (2, 1)
    assert r["summary"]["overall_honest"]["wrong_to_right"] == 3
    assert r["summary"]["all_items"]["mean_steps"] == pytest.approx(11 / 6, abs=1e-4)
    # cost: FakeGenerator has no count_tokens, so the field says it is an estimate
    assert r["token_field"] == "tokens_per_item_est_chars_div_4" and "tokens_per_item" not in sp
    assert sp["tokens_per_item_est_chars_div_4"] > 0 and sp["wall_seconds"] >= 0
    assert r["timing"]["refined_items"] == 6
    # stored rows: answers per step, verdicts per step; row 0 equals the greedy verdict
    greedy_rows = load_results(tmp_path / "results.jsonl")
    rows = load_results(refine_path(tmp_path, "irrelevance"), usable=lambda row: True)
    for i in range(3):
        row = rows[f"irrelevance_{i}"]
        assert len(row["answers"]) == len(row["valid"]) == len(row["honest_valid"]) == N + 1
        assert row["answers"][0] == greedy_rows[row["id"]]["output"]
        assert (row["valid"][0], row["honest_valid"][0]) == (
            greedy_rows[row["id"]]["valid"],
            greedy_rows[row["id"]]["honest_valid"],
        )
    r1 = rows["irrelevance_1"]
    assert r1["answers"] == ["[]"] * 4 and (r1["steps"], r1["stop_reason"], r1["malformed"]) == (
        1,
        "malformed",
        1,
    )
    r2 = rows["irrelevance_2"]
    assert r2["valid"] == [True] * 4 and r2["honest_valid"] == [False, True, True, True]
    sp_rows = load_results(refine_path(tmp_path, "simple_python"), usable=lambda row: True)
    assert sp_rows["simple_python_0"]["valid"] == [False, True, True, True]
    assert "honest_valid" not in sp_rows["simple_python_0"]
    saved = json.loads((tmp_path / "scores.json").read_text())
    assert saved["refinement"]["categories"]["irrelevance"]["accuracy_by_step"][-1] == 1.0
    assert json.loads((tmp_path / "refine.json").read_text())["refine"] == N


def test_tokens_counted_by_the_tokenizer_when_there_is_one(tmp_path, items):
    class Counting(FakeGenerator):
        def count_tokens(self, texts):
            return sum(len(t.split()) for t in texts)

    r = run(items, tmp_path, scripted(items, Counting))["refinement"]
    assert r["token_field"] == "tokens_per_item" and "tokenizer" in r["token_count"]
    assert r["categories"]["simple_python"]["tokens_per_item"] > 0
    row = load_results(refine_path(tmp_path, "simple_python"), usable=lambda row: True)["simple_python_2"]
    assert row["token_count"] == "tokenizer" and row["steps"] == 1
    assert row["tokens"]["completion"] == len(text(items[2], "W").split())  # its one refinement output


def test_refine_0_changes_nothing(tmp_path, items):
    plain_gen = scripted(items)
    plain = run(items, tmp_path / "plain", plain_gen, refine=0)
    assert "refinement" not in plain and not list((tmp_path / "plain").glob("refine*"))
    assert refined(plain_gen) == 0
    with_n = run(items, tmp_path / "n")
    assert with_n["categories"] == plain["categories"] and with_n["summary"] == plain["summary"]
    assert "self-refinement" not in (tmp_path / "plain" / "report.md").read_text()
    plain_rows = (tmp_path / "plain" / "results.jsonl").read_text()
    assert (tmp_path / "n" / "results.jsonl").read_text() == plain_rows
    with pytest.raises(ValueError, match=">= 0"):
        check_refine(-1)


class Killed(RuntimeError):
    pass


def timeless(section: dict) -> dict:
    """The refinement section without what depends on the clock."""
    drop = {"wall_seconds", "seconds_per_item"}
    return {
        part: {k: {f: v for f, v in m.items() if f not in drop} for k, m in section[part].items()}
        for part in ("categories", "summary")
    }


def test_resume_after_a_kill_redoes_only_missing_items(tmp_path, items):
    class Crashing(FakeGenerator):
        """Dies on its third refinement call (the second item's second step), as a killed run would."""

        def generate(self, requests, sampling, progress=True):
            if is_refinement(requests[0]) and sum(is_refinement(c["requests"][0]) for c in self.calls) == 2:
                raise Killed
            return super().generate(requests, sampling, progress)

    with pytest.raises(Killed):
        run(items, tmp_path, scripted(items, Crashing), save_every=1)
    assert len(refine_path(tmp_path, "simple_python").read_text().splitlines()) == 1
    assert not (tmp_path / "scores.json").exists()

    (first,) = load_results(refine_path(tmp_path, "simple_python"), usable=lambda row: True).values()
    gen = scripted(items)
    scores = run(items, tmp_path, gen, save_every=1)
    assert greedy(gen) == 0 and refined(gen) == 11 - first["steps"]  # only what the killed run had not done
    clean = run(items, tmp_path / "clean")
    assert timeless(scores["refinement"]) == timeless(clean["refinement"])

    # finished: nothing is generated again; a torn line only costs its own item
    gen = scripted(items)
    again = run(items, tmp_path, gen)
    assert gen.calls == [] and timeless(again["refinement"]) == timeless(clean["refinement"])
    path = refine_path(tmp_path, "irrelevance")
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2]) + "\n" + lines[2][:30])
    gen = scripted(items)
    torn = run(items, tmp_path, gen)
    assert timeless(torn["refinement"]) == timeless(clean["refinement"])
    assert greedy(gen) == 0 and 1 <= refined(gen) <= 3  # one item, up to N steps
    assert len(path.read_text().splitlines()) == 3


def test_other_settings_are_not_mixed(tmp_path, items):
    run(items, tmp_path)
    with pytest.raises(ValueError, match="other settings"):
        run(items, tmp_path, refine=2)
    gen = scripted(items)
    r = run(items, tmp_path, gen, refine=2, fresh=True)["refinement"]
    assert greedy(gen) == 6 and r["n_steps"] == 2
    assert len(r["categories"]["irrelevance"]["accuracy_by_step"]) == 3


def test_refinement_scores_on_fixed_rows():
    def row(cat, i, valid, steps, reason="repeat"):
        return {"id": f"{cat}_{i}", "category": cat, "answers": ["x"] * len(valid), "valid": valid,
                "steps": steps, "stop_reason": reason, "malformed": int(reason == "malformed"),
                "tokens": {"prompt": 30, "completion": 10}, "token_count": "tokenizer", "seconds": 0.5}  # fmt: skip

    rows = [
        row("parallel", 0, [False, True, True], 2),
        row("parallel", 1, [True, True, False], 2, "max_steps"),
    ]
    rows += [row("live_simple", 0, [False, False, False], 1, "malformed")]
    r = refinement_scores(rows, 2)
    p = r["categories"]["parallel"]
    assert p["accuracy_by_step"] == [0.5, 1.0, 0.5] and (p["wrong_to_right"], p["right_to_wrong"]) == (1, 1)
    assert p["tokens_per_item"] == 40 and p["wall_seconds"] == 1.0 and p["seconds_per_item"] == 0.5
    o = r["summary"]["overall"]
    assert o["over"] == ["non_live_ast", "live_ast"] and o["accuracy_by_step"] == [0.25, 0.5, 0.25]
    assert o["malformed"] == 1 and o["mean_steps"] == pytest.approx(5 / 3, abs=1e-4)
    assert set(refinement_scores(rows, 2, bfcl_groups=False)["summary"]) == {"all_items"}


def test_report_renders_the_table(tmp_path, items):
    run(items, tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert "## Adaptive self-refinement: up to 3 steps (accuracy %)" in report
    assert "| step 0 | step 1 | step 2 | step 3 | final − greedy | w→r | r→w |" in report
    assert "≈tokens/item (chars/4)" in report and "Refined 6 items in" in report
    assert "| simple_python | 3 | 33.3 | 33.3 | 33.3 | 33.3 | +0.0 | 1 | 1 | 1.67 | 0 |" in report
    assert "| irrelevance | 3 | 66.7 | 66.7 | 66.7 | 100.0 | +33.3 | 1 | 0 | 2.00 | 1 |" in report
    assert "| irrelevance (honest) | 3 | 33.3 | 66.7 | 66.7 | 100.0 | +66.7 | 2 | 0 | 2.00 | 1 |" in report


def test_dataset_path_refines_too(tmp_path, items):
    from open_toolace.evaluate import evaluate_dataset

    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(it) + "\n" for it in items))
    gen = scripted(items)
    scores = evaluate_dataset(gen, data, tmp_path / "run", progress=False, refine=N)
    r = scores["refinement"]
    assert set(r["summary"]) == {"irrelevance", "irrelevance_honest", "all_items"}
    assert r["categories"]["irrelevance"]["accuracy_by_step"][-1] == 1.0


def test_cli_flag_reaches_the_config(tmp_path, items, monkeypatch, capsys):
    import yaml

    import open_toolace.generation as generation
    from open_toolace.cli import main

    gen = scripted(items)
    monkeypatch.setattr(generation, "make_generator", lambda *a, **kw: gen)
    argv = ["eval", "--model", "m", "--categories", "simple_python", "--limit", "3", "--out", str(tmp_path),
            "--refine", "2"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "refinement: up to 2 steps" in out and "simple_python" in out
    assert yaml.safe_load((tmp_path / "eval_config.yaml").read_text())["refine"] == 2
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["refinement"]["n_steps"] == 2 and scores["config"]["refine"] == 2
    assert refined(gen) == 5  # 3 items at step 1, 2 at step 2
    assert main(argv[:-2] + ["--refine", "-1"]) == 2
    assert ">= 0" in capsys.readouterr().err


# ----------------------------------------------------------------------------- toolace infer --refine

TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
def infer_fake(monkeypatch):
    import open_toolace.generation as generation

    box: dict = {}

    def respond(messages):
        if not is_refinement(messages):
            return "[get_weather(city='Pariss')]"
        previous = messages[-1]["content"].split("Previous answer: ", 1)[1]
        return (
            box.get("refined", "[get_weather(city='Paris')]")
            if "Pariss" in previous
            else previous.split("\n")[0]
        )

    def make(backend, model, adapter=None, **kw):
        box["gen"] = FakeGenerator(respond)
        return box["gen"]

    monkeypatch.setattr(generation, "make_generator", make)
    return box


def test_infer_refine_prints_the_final_answer_steps_and_stop_reason(infer_fake, capsys):
    from open_toolace.cli import main

    argv = ["infer", "--tools", json.dumps(TOOL), "Weather in Paris?"]
    assert main(argv + ["--refine", "3"]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == '[get_weather(city="Paris")]'
    assert (
        "refine: 2 step(s), stopped: repeat" in out.err
        and "first answer: [get_weather(city='Pariss')]" in out.err
    )
    calls = infer_fake["gen"].calls
    assert len(calls) == 3 and "Previous answer: " in calls[1]["requests"][0][-1]["content"]
    assert calls[1]["requests"][0][-1]["content"].startswith("Weather in Paris?")

    assert main(argv + ["--refine", "1", "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out) == [{"name": "get_weather", "arguments": {"city": "Paris"}}]
    assert "refine: 1 step(s), stopped: max_steps" in out.err

    infer_fake["refined"] = "[get_weather(city="  # malformed: the first answer is kept
    assert main(argv + ["--refine", "2"]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == '[get_weather(city="Pariss")]'
    assert "stopped: malformed; answer unchanged" in out.err

    assert main(argv) == 0  # no --refine: one call, nothing said about refinement
    out = capsys.readouterr()
    assert len(infer_fake["gen"].calls) == 1 and "refine" not in out.err
    assert main(argv + ["--refine", "-2"]) == 2
