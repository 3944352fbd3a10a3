"""ToolACE-R: model-aware selection, the self-refinement corpus, adaptive refinement (fake generators)."""

from __future__ import annotations

import itertools
import re

import pytest

from open_toolace.data.records import make_example
from open_toolace.formats import canonical_calls, parse_calls
from open_toolace.generation import Sampling
from open_toolace.generation.fake import FakeGenerator
from open_toolace.prompts import render_invocation
from open_toolace.refine import (
    MAX_PREVIOUS_CHARS,
    build_refinement,
    corpus_counts,
    histogram,
    pass_rates,
    refine,
    sample_and_score,
    score_example,
    select,
    show_previous,
    stopped_shrinking,
    transitions,
)
from open_toolace.refine.selection import Scored

WEATHER = {
    "name": "get_weather",
    "description": "current weather",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "the city"},
            "days": {"type": "integer", "description": "days ahead"},
        },
        "required": ["city"],
    },
}


def example(i: int, calls: list | None = None) -> dict:
    city = f"City{i}"
    if calls is None:
        calls = [{"name": "get_weather", "arguments": {"city": city}}]
    return make_example(
        f"ex{i}", [{"role": "user", "content": f"weather in {city}"}], [WEATHER], calls, source="t"
    )


def right(ex: dict) -> str:
    c = ex["calls"][0]["arguments"]["city"]
    return f'[get_weather(city="{c}")]'


def same_calls(text: str, ex: dict) -> bool:
    """A fast stand-in scorer for the tests that do not exercise the real one."""
    try:
        return canonical_calls(parse_calls(text)) == canonical_calls(parse_calls(right(ex)))
    except ValueError:
        return False


def city_of(messages: list[dict]) -> str:
    return re.search(r"weather in (City\d+)", messages[-1]["content"]).group(1)


# ----------------------------------------------------------------------------- selection


def test_pass_rates_sample_k_per_example_in_one_batched_call():
    exs = [example(i) for i in range(3)]
    # example i: the first i of the 4 samples are right
    gen = FakeGenerator(
        lambda m, k: (
            f'[get_weather(city="{city_of(m)}")]' if k < int(city_of(m)[4:]) else '[get_weather(city="X")]'
        )
    )
    rates = pass_rates(gen, exs, k=4, temperature=0.7, prompts="lean", score=same_calls, seed=3)
    assert rates == [0.0, 0.25, 0.5]
    (call,) = gen.calls
    assert call["n"] == 4 and call["temperature"] == 0.7 and call["seed"] == 3
    assert call["requests"] == [render_invocation(ex["tools"], ex["messages"], prompts="lean") for ex in exs]


def test_default_scorer_is_the_project_scorer():
    ex, no_call = example(1), example(2, calls=[])
    assert score_example(right(ex), ex)
    assert not score_example('[get_weather(city="Rome")]', ex)
    assert not score_example("[get_weather(city=", ex)
    assert score_example("[]", no_call)
    # BFCL credits undecodable output on a no-call item; training data must not
    assert not score_example("[get_weather(city=", no_call)
    gen = FakeGenerator([right(ex), '[get_weather(city="Rome")]'])
    assert pass_rates(gen, [ex], k=2) == [0.5]


def test_unlabeled_examples_are_refused():
    with pytest.raises(ValueError, match="unlabeled"):
        pass_rates(FakeGenerator("[]"), [{**example(0), "calls": None}], score=same_calls)


def test_select_keeps_exactly_the_unsolved_plus_the_solved_share():
    exs = [example(i) for i in range(12)]
    rates = [0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 0.0, 1.0, 0.75, 1.0, 0.5, 1.0]
    unsolved = {f"ex{i}" for i, r in enumerate(rates) if r < 0.75}
    sel, rec = select(exs, rates, threshold=0.75, solved_share=0.0, k=4)
    assert {e["id"] for e in sel} == unsolved and len(sel) == 5
    assert rec == {
        "pool": 12,
        "k": 4,
        "threshold": 0.75,
        "histogram": [2, 1, 2, 2, 5],
        "unsolved": 5,
        "solved": 7,
        "solved_kept": 0,
        "selected": 5,
        "solved_share": 0.0,
        "solved_share_of": "unsolved",
    }
    sel, rec = select(exs, rates, threshold=0.75, solved_share=0.4, seed=1, k=4)  # round(0.4 * 5) = 2
    ids = [e["id"] for e in sel]
    assert rec["solved_kept"] == 2 and rec["selected"] == 7 and len(ids) == 7
    assert unsolved <= set(ids) and all(rates[int(i[2:])] >= 0.75 for i in set(ids) - unsolved)
    assert ids == sorted(ids, key=lambda i: int(i[2:]))  # example order kept
    assert select(exs, rates, solved_share=0.4, seed=1, k=4)[0] == sel  # seeded
    # the share is of the unsolved count, capped by the solved pool
    assert select(exs, rates, solved_share=10.0, k=4)[1]["solved_kept"] == 7


def test_histogram_needs_the_k_the_rates_came_from():
    assert histogram([0.0, 0.5, 1.0, 0.5], k=2) == [1, 2, 1]
    with pytest.raises(ValueError, match="not j/4"):
        histogram([1 / 3], k=4)


def test_stopped_shrinking():
    assert not stopped_shrinking(100, 60)
    assert stopped_shrinking(60, 60) and stopped_shrinking(60, 75)


# ----------------------------------------------------------------------------- corpus


def scored_pool(n: int, n_right: int, k: int = 4) -> list[Scored]:
    """n examples with k distinct answers each, the first n_right of every example right."""
    out = []
    for i in range(n):
        ex = example(i)
        city = ex["calls"][0]["arguments"]["city"]
        answers = [
            f'[get_weather(city="{city}", days={j})]' if j < n_right else f'[get_weather(city="Wrong{j}")]'
            for j in range(k)
        ]
        out.append(Scored(ex, answers, [j < n_right for j in range(k)]))
    return out


@pytest.mark.parametrize("share", [0.0, 0.1, 0.25, 0.5, 0.8, 1.0])
def test_corpus_holds_the_configured_keep_share(share):
    scored = scored_pool(10, n_right=2)  # 20 keep and 20 fix candidates
    samples, rep = build_refinement(scored, keep_share=share, prompts="lean", seed=0)
    keeps = [s for s in samples if ":keep" in s["id"]]
    assert rep["candidates"] == {"fix": 20, "keep": 20}
    assert rep["kept"]["keep"] == len(keeps) and rep["kept"]["fix"] == len(samples) - len(keeps)
    assert rep["achieved_keep_share"] == pytest.approx(len(keeps) / len(samples), abs=1e-4)
    assert abs(rep["achieved_keep_share"] - share) <= 0.02
    assert {s["task"] for s in samples} == {"refinement"}
    assert len({s["id"] for s in samples}) == len(samples)
    assert build_refinement(scored, keep_share=share, prompts="lean", seed=0)[0] == samples  # seeded


def test_corpus_targets_fix_to_label_and_keep_to_itself():
    ex = example(7)
    prev_wrong, prev_right = '[get_weather(city="Rome")]', 'Sure: [get_weather(city="City7", days=2)]'
    samples, rep = build_refinement([Scored(ex, [prev_wrong, prev_right], [False, True])], keep_share=0.5)
    fix, keep = samples
    assert set(fix) == {"prompt", "completion", "task", "id"}
    assert fix["id"] == "refinement:ex7:fix0" and keep["id"] == "refinement:ex7:keep1"
    assert fix["completion"] == [{"role": "assistant", "content": '[get_weather(city="City7")]'}]
    assert keep["completion"][0]["content"] == '[get_weather(city="City7", days=2)]'
    assert fix["prompt"][-1]["content"].endswith(f"Previous answer: {prev_wrong}\nRefined answer:")
    # the prose around a call is not shown: the calls are re-rendered
    assert 'Previous answer: [get_weather(city="City7", days=2)]' in keep["prompt"][-1]["content"]
    assert fix["prompt"][0]["role"] == "system" and "get_weather" in fix["prompt"][0]["content"]


def test_malformed_previous_is_a_fix_shown_raw_and_capped():
    ex, no_call = example(1), example(2, calls=[])
    broken = "[get_weather(city=" + "x" * 5000
    # "right" on unparseable output (BFCL's irrelevance leniency) is still a fix
    scored = [Scored(ex, [broken], [False]), Scored(no_call, ["[get_weather(city="], [True])]
    samples, rep = build_refinement(scored, keep_share=0.0)
    assert rep["malformed_fix"] == 2 and rep["kept"] == {"fix": 2, "keep": 0}
    shown = samples[0]["prompt"][-1]["content"].split("Previous answer: ", 1)[1]
    assert shown == broken[:MAX_PREVIOUS_CHARS] + "\nRefined answer:"
    assert samples[1]["completion"][0]["content"] == "[]"
    assert show_previous("  oops [f(a=  ", max_chars=5) == "oops "


def test_corpus_dedupes_identical_example_previous_pairs():
    ex = example(3)
    answers = ['[get_weather(city="Rome")]', '[get_weather(city="Rome")]', 'Here: [get_weather(city="Rome")]']
    samples, rep = build_refinement([Scored(ex, answers, [False] * 3), Scored(ex, answers[:1], [False])])
    assert len(samples) == 1 and rep["pairs"] == 1 and rep["duplicates"] == 3


def test_corpus_counts_edge_cases():
    assert corpus_counts(10, 10, 0.5) == (10, 10)
    assert corpus_counts(10, 100, 0.5) == (10, 10)  # keeps subsampled
    assert corpus_counts(100, 10, 0.5) == (10, 10)  # fixes subsampled
    assert corpus_counts(10, 0, 0.5) == (10, 0) and corpus_counts(0, 7, 0.5) == (0, 7)  # share unreachable
    assert corpus_counts(3, 3, 0.0) == (3, 0) and corpus_counts(3, 3, 1.0) == (0, 3)
    with pytest.raises(ValueError):
        corpus_counts(1, 1, 1.5)


# ----------------------------------------------------------------------------- adaptive refinement


def previous_of(messages: list[dict]) -> str:
    m = re.search(r"Previous answer: (.*?)(?:\nRefined answer:)?$", messages[-1]["content"], re.S)
    return m.group(1)


def test_refine_stops_at_first_repeat_and_at_n_steps():
    def script(messages):
        prev = previous_of(messages)
        days = int(re.search(r"days=(\d+)", prev).group(1))
        city = city_of(messages)
        if city == "City0":  # repeats its answer (arguments re-ordered: equal under the key)
            return f'[get_weather(days={days}, city="City0")]'
        if city == "City1":  # changes once, then repeats
            return f'[get_weather(city="City1", days={min(days + 1, 6)})]'
        return f'[get_weather(city="City2", days={days + 1})]'  # never settles

    exs = [example(i) for i in range(3)]
    first = [f'[get_weather(city="City{i}", days=5)]' for i in range(3)]
    gen = FakeGenerator(script)
    res = refine(gen, [{"tools": e["tools"], "messages": e["messages"]} for e in exs], first, n_steps=3)
    assert [len(c["requests"]) for c in gen.calls] == [3, 2, 1]  # one batched call per step, active only
    assert all(c["n"] == 1 and c["temperature"] == 0.0 for c in gen.calls)
    assert res.steps == [1, 2, 3] and res.stop_reason == ["repeat", "repeat", "max_steps"]
    assert res.active_by_step == [3, 2, 1] and res.malformed == 0
    assert len(res.by_step) == 4 and res.by_step[0] == first
    assert res.by_step[3][1] == '[get_weather(city="City1", days=6)]'
    assert res.final[2] == '[get_weather(city="City2", days=8)]' == res.by_step[3][2]
    assert res.final[0] == '[get_weather(days=5, city="City0")]'  # the repeat is the answer kept
    res0 = refine(gen, [(e["tools"], e["messages"]) for e in exs], first, n_steps=0)
    assert res0.final == first and res0.stop_reason == ["none"] * 3 and len(gen.calls) == 3


def test_malformed_refinement_keeps_previous_and_is_counted():
    exs = [example(0), example(1)]
    first = ['[get_weather(city="City0")]', "[get_weather(city="]  # a malformed first answer gets refined
    outs = {"City0": "[get_weather(city=", "City1": '[get_weather(city="City1")]'}
    gen = FakeGenerator(lambda m: outs[city_of(m)] if "City1" not in previous_of(m) else outs["City1"])
    res = refine(gen, exs, first, n_steps=3, prompts="lean")
    assert res.malformed == 1 and res.malformed_by_step[0] == 1
    assert res.final[0] == first[0] and res.stop_reason[0] == "malformed" and res.steps[0] == 1
    # item 1: broken -> fixed (step 1) -> repeat (step 2)
    assert res.by_step[1][1] == '[get_weather(city="City1")]' and res.stop_reason[1] == "repeat"
    assert res.steps[1] == 2
    assert "Previous answer: [get_weather(city=" in gen.calls[0]["requests"][1][-1]["content"]


def test_refine_key_is_a_parameter():
    ex = example(0)
    spaces = itertools.count(1)
    gen = FakeGenerator(lambda m: previous_of(m) + " " * next(spaces))  # equal calls, new text each time
    res = refine(gen, [ex], ['[get_weather(city="City0")]'], n_steps=3, key=lambda t: t)
    assert res.stop_reason == ["max_steps"] and res.steps == [3]
    res = refine(gen, [ex], ['[get_weather(city="City0")]'], n_steps=3)
    assert res.stop_reason == ["repeat"] and res.steps == [1]


def test_transitions_counts():
    steps = [
        [True, False, False, True, False],
        [True, True, False, False, False],
        [True, True, True, False, False],
    ]
    t = transitions(steps)
    assert {k: t[k] for k in ("wrong_to_right", "right_to_wrong", "right_to_right", "wrong_to_wrong")} == {
        "wrong_to_right": 2,
        "right_to_wrong": 1,
        "right_to_right": 1,
        "wrong_to_wrong": 1,
    }
    assert t["items"] == 5 and t["accuracy_by_step"] == [0.4, 0.4, 0.6]
    assert t["by_step"][0] == {
        "wrong_to_right": 1,
        "right_to_wrong": 1,
        "right_to_right": 1,
        "wrong_to_wrong": 2,
    }
    with pytest.raises(ValueError):
        transitions([[True], [True, False]])


def test_selection_corpus_and_refine_share_one_flow():
    exs = [example(i) for i in range(4)]
    gen = FakeGenerator(
        lambda m, k: f'[get_weather(city="{city_of(m)}")]' if k == 0 else "[get_weather(city="
    )
    scored = sample_and_score(gen, exs, k=2, score=same_calls)
    selected, rec = select(exs, [s.pass_rate for s in scored], k=2)
    assert rec["histogram"] == [0, 4, 0] and len(selected) == 4
    samples, rep = build_refinement(scored, keep_share=0.5)
    assert rep["kept"] == {"fix": 4, "keep": 4} and rep["malformed_fix"] == 4


def test_refine_batched_smoke_with_tiny_random_hf():
    torch = pytest.importorskip("torch")
    from open_toolace.generation.hf import HFGenerator
    from open_toolace.models import load_model

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, tok = load_model("tiny-random", dtype="float32")
        hf = HFGenerator(model_obj=model, tokenizer=tok, batch_size=4)
        spy = FakeGenerator(lambda m: None, fallback=hf)  # records every batched call, hf answers
        exs = [example(i) for i in range(3)]
        res = refine(spy, exs, [right(e) for e in exs], n_steps=2, sampling=Sampling(max_new_tokens=6))
    finally:
        torch.set_num_threads(threads)
    assert len(res.final) == 3 and len(res.by_step) == 3 and all(1 <= s <= 2 for s in res.steps)
    assert [len(c["requests"]) for c in spy.calls] == res.active_by_step[: len(spy.calls)]
    assert len(spy.calls[0]["requests"]) == 3
