"""A round's data: invocation caps sized to seed answers, and full triplets from each kept item."""

from __future__ import annotations

from open_toolace import evolve
from open_toolace.evolve import budget
from open_toolace.evolve.triplets import sample_kind
from open_toolace.pipeline.config import EvolveConfig

WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
FORECAST = dict(WEATHER, name="get_weather_forecast", description="Forecast for a city.")
POOL = [
    {
        "name": name,
        "description": f"{name} tool.",
        "parameters": {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]},
    }
    for name in ("book_flight", "find_recipe", "convert_currency", "track_parcel", "list_movies")
] + [FORECAST]


def chars(texts: list[str]) -> int:  # a "tokenizer": one token per character
    return sum(len(t) for t in texts)


def example(kind: str, calls: list[dict]) -> dict:
    return {"id": kind, "messages": [{"role": "user", "content": "q"}], "tools": [WEATHER],
            "calls": calls, "meta": {"type": kind}}  # fmt: skip


def test_answer_budgets_cover_the_longest_seed_answer_per_type():
    one = {"name": "get_weather", "arguments": {"city": "Paris"}}
    seed = [
        example("single", [one]),
        example("parallel", [one] * 4),
        example("irrelevance", []),  # `[]` sets no budget
        {"id": "u", "messages": [], "tools": [], "calls": None},
    ]
    b = budget.answer_budgets(seed, chars, margin=16, floor=8)
    single, parallel = (
        len('[get_weather(city="Paris")]'),
        len("[" + ", ".join(['get_weather(city="Paris")'] * 4) + "]"),
    )
    assert b["single"] >= single + 16 and b["single"] % 8 == 0 and b["single"] - (single + 16) < 8
    assert b["parallel"] >= parallel + 16 and b[budget.ANY_TYPE] == b["parallel"]
    assert "irrelevance" not in b
    items = [{"meta": {"type": "single"}}, {"meta": {"type": "parallel"}}, {"meta": {"type": "multiple"}}, {}]
    groups = budget.group_by_budget(items, b, default=99)
    assert groups == {b["single"]: [0], b["parallel"]: [1, 2, 3]}  # unseen types get the longest cap
    assert budget.group_by_budget(items, {}, default=99) == {99: [0, 1, 2, 3]}
    assert budget.answer_budgets(seed, chars, floor=64)["single"] == 64


def test_round_sampling_defaults_size_caps_and_stop_loops():
    ev = EvolveConfig()
    assert ev.invoke_max_new_tokens is None and ev.invocation_sampling(0).stop_runaway is True
    assert ev.tool_sampling(0).stop_runaway is True
    assert ev.mix.abstention_share == 1.0 and not ev.mix.abstention_keep_other_tools


def kept_item(i: int) -> dict:
    return {
        "id": f"k{i}",
        "messages": [{"role": "user", "content": f"What is the weather in city {i}?"}],
        "tools": [WEATHER, dict(WEATHER, name=f"weather_alert_{i}", description="Alerts.")],
        "calls": [{"name": "get_weather", "arguments": {"city": f"C{i}"}}],
        "meta": {"type": "single"},
    }


def shows(prompt: str, name: str) -> bool:
    """The prompt lists tool `name`, in JSON or as a Python signature (whatever the prompt set)."""
    return f'"{name}"' in prompt or f"def {name}(" in prompt


def test_full_triplets_one_of_each_kind_per_item_with_pool_distractors():
    items = [kept_item(i) for i in range(6)]
    replay = [
        {"id": f"s{i}", "prompt": [{"role": "user", "content": f"p{i}"}],
         "completion": [{"role": "assistant", "content": "[x()]"}], "task": "invocation"}
        for i in range(40)
    ]  # fmt: skip
    samples, rep = evolve.build_triplets(items, replay, 0.25, EvolveConfig().mix, POOL, seed=3)
    kinds = rep["kinds"]
    assert kinds["invocation"] == kinds["abstention"] == kinds["tool_generation"] == 6
    assert kinds["replay"] == round(18 * 0.25 / 0.75)
    assert abs(sum(rep["shares"].values()) - 1) < 1e-3 and rep["total"] == len(samples)
    pool_names = {t["name"] for t in POOL}
    for s in samples:
        prompt = s["prompt"][0]["content"]
        if sample_kind(s) == "abstention":
            # never the needed tool, never the item's own tools, never a look-alike of the needed one
            assert not shows(prompt, "get_weather") and "weather_alert" not in prompt
            assert "get_weather_forecast" not in prompt
            assert any(shows(prompt, n) for n in pool_names)
    n_with_pool = sum(
        any(shows(s["prompt"][0]["content"], n) for n in pool_names)
        for s in samples
        if sample_kind(s) == "invocation"
    )
    assert n_with_pool >= 1, "invocation samples draw distractors from the pool"


def test_sample_kind():
    inv = {"id": "a", "task": "invocation", "completion": [{"role": "assistant", "content": " [] "}]}
    assert sample_kind(inv) == "abstention" and sample_kind(dict(inv, id="replay:a")) == "replay"
    assert sample_kind(dict(inv, completion=[{"role": "assistant", "content": "[f()]"}])) == "invocation"
