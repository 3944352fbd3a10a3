"""Candidate tools from a catalog (open_toolace.evolve.retrieve, pipeline.catalog, evolve.tool_source):
BM25 ranking, m / top_n, rejections, the `both` merge rule, catalog and query-log loading with broken
entries, config validation, and one tiny round with `tool_source=retrieve`. No model except the last test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from open_toolace import evolve
from open_toolace.config import load_config
from open_toolace.data.queries import read_queries, unlabeled_pool
from open_toolace.data.records import make_example
from open_toolace.data.tool_docs import read_tool_docs
from open_toolace.pipeline.catalog import load_catalog, user_queries
from open_toolace.pipeline.config import EvolveConfig, RunConfig


def tool(name: str, description: str, **params: str) -> dict:
    props = {p: {"type": "string", "description": d} for p, d in params.items()}
    return {"name": name, "description": description,
            "parameters": {"type": "object", "properties": props, "required": list(props)}}  # fmt: skip


CATALOG = [
    tool("get_weather", "Current weather conditions for a city.", city="City name"),
    tool(
        "convertCurrency", "Convert an amount of money between currencies.", amount="Amount", to="Target code"
    ),
    tool("find_recipe", "Find cooking recipes by dish name.", dish="Dish to cook"),
    tool("book_flight", "Book a plane ticket.", origin="Departure airport", destination="Arrival airport"),
    tool("get_weather_forecast", "Weather forecast for the next days.", city="City name", days="Days ahead"),
    tool("track_parcel", "Track a shipped parcel by its tracking number.", number="Tracking number"),
]


def query(i: int, text: str) -> dict:
    return make_example(f"q{i}", [{"role": "user", "content": text}], [], None, source="test", type="single")


def names(tools: list[dict]) -> list[str]:
    return [t["name"] for t in tools]


# ----------------------------------------------------------------------------- ranking


def test_bm25_ranks_the_obviously_right_tool_first():
    index = evolve.ToolIndex(CATALOG)
    cases = {
        "How much is 20 USD in euros? Please convert the currency": "convertCurrency",
        "I want to cook lasagna, any recipe?": "find_recipe",
        "Where is my parcel? tracking number 1Z999": "track_parcel",
        "Book me a flight ticket from Oslo to Rome": "book_flight",
        "What will the weather forecast be in Lima for the next 3 days?": "get_weather_forecast",
    }
    queries = [query(i, text) for i, text in enumerate(cases)]
    items, rejected = evolve.retrieve_tools(index, queries, m=1, top_n=3)
    assert rejected == []
    assert [it["tools"][0]["name"] for it in items] == list(cases.values())
    # plural and camelCase meet their tool's words: "currencies" / "convertCurrency" <- "currency", "convert"
    assert items[0]["meta"]["retrieved"][0]["score"] > 0
    again, _ = evolve.retrieve_tools(evolve.ToolIndex(CATALOG), queries, m=1, top_n=3)
    assert again == items, "deterministic"


def test_m_and_top_n_are_respected_and_items_look_like_generated_ones():
    index = evolve.ToolIndex(CATALOG)
    q = query(0, "What is the weather in Paris, and the forecast for the city?")
    (item,), rejected = evolve.retrieve_tools(index, [q], m=1, top_n=2)
    assert rejected == []
    assert names(item["tools"]) == ["get_weather_forecast"] or names(item["tools"]) == ["get_weather"]
    meta = item["meta"]
    assert len(meta["retrieved"]) == 2 and len(meta["retrieved_distractors"]) == 1
    assert meta["retrieved_distractors"] == [meta["retrieved"][1]["name"]]
    assert {names(item["tools"])[0], meta["retrieved_distractors"][0]} == {
        "get_weather",
        "get_weather_forecast",
    }
    assert meta["tool_source"] == "retrieve" and meta["source"] == "test" and meta["type"] == "single"
    assert item["calls"] is None and item["id"] == "q0" and item["messages"] == q["messages"]
    scores = [r["score"] for r in meta["retrieved"]]
    assert scores == sorted(scores, reverse=True)

    (wide,), _ = evolve.retrieve_tools(index, [q], m=2, top_n=4)
    assert len(wide["tools"]) == 2 and len(wide["meta"]["retrieved"]) <= 4
    assert names(wide["tools"]) == [r["name"] for r in wide["meta"]["retrieved"][:2]]
    assert set(wide["meta"]["retrieved_distractors"]).isdisjoint(names(wide["tools"]))
    with pytest.raises(ValueError, match="m <= top_n"):
        evolve.retrieve_tools(index, [q], m=3, top_n=2)


def test_ties_follow_catalog_order():
    twins = [tool(n, "Send an email message.", to="Recipient") for n in ("send_mail_b", "send_mail_a")]
    (item,), _ = evolve.retrieve_tools(evolve.ToolIndex(twins), [query(0, "send an email")], m=1, top_n=2)
    assert names(item["tools"]) == ["send_mail_b"] and item["meta"]["retrieved_distractors"] == [
        "send_mail_a"
    ]


def test_a_query_no_tool_matches_is_a_recorded_rejection():
    index = evolve.ToolIndex(CATALOG)
    items, rejected = evolve.retrieve_tools(index, [query(0, "zzz qqq"), query(1, "the a of")], m=1, top_n=3)
    assert items == []
    assert [(r["id"], r["step"], r["reason"]) for r in rejected] == [
        ("q0", "tools", "no_retrieved_tool"),
        ("q1", "tools", "no_retrieved_tool"),
    ]
    empty, rej = evolve.retrieve_tools(evolve.ToolIndex([]), [query(0, "weather")], m=1, top_n=1)
    assert empty == [] and rej[0]["reason"] == "no_retrieved_tool"


def test_distractor_tools_are_the_catalog_definitions_of_the_near_misses():
    index = evolve.ToolIndex(CATALOG)
    items, _ = evolve.retrieve_tools(index, [query(0, "weather forecast for the city of Lima")], m=1, top_n=3)
    got = evolve.distractor_tools(index, items)
    assert names(got) == items[0]["meta"]["retrieved_distractors"]
    assert all(t == index.get(t["name"]) for t in got)


# ----------------------------------------------------------------------------- both


def test_both_merges_generated_first_dedupes_by_name_and_keeps_single_source_items():
    qs = [query(0, "weather in Paris"), query(1, "convert 5 USD to EUR currency"), query(2, "zzz"),
          query(3, "cook a recipe")]  # fmt: skip
    index = evolve.ToolIndex(CATALOG)
    got, lost = evolve.retrieve_tools(index, qs, m=2, top_n=4)
    model_weather = tool("get_weather", "Weather, as the model wrote it.", city="City")
    generated = [
        {**qs[0], "tools": [model_weather, tool("city_time", "Local time.", city="City")], "meta": {"tool_output": "…"}},
        {**qs[3], "tools": [tool("recipe_search", "Recipes.", dish="Dish")], "meta": {}},
    ]  # fmt: skip
    gen_rejects = [
        evolve.reject(qs[1], "tools", "bad_json", "no list"),
        evolve.reject(qs[2], "tools", "bad_json"),
    ]
    items, rejected = evolve.merge_tool_items(qs, generated, gen_rejects, got, lost)

    assert [it["id"] for it in items] == ["q0", "q1", "q3"]
    q0, q1, q3 = items
    assert names(q0["tools"])[:2] == ["get_weather", "city_time"], "generated first"
    assert q0["tools"][0] == model_weather, "a name both propose keeps the model's definition"
    assert len(q0["tools"]) <= 4 and len(set(names(q0["tools"]))) == len(q0["tools"])
    assert q0["meta"]["tool_source"] == "both" and q0["meta"]["tool_origins"]["get_weather"] == "both"
    assert q0["meta"]["tool_origins"]["city_time"] == "generate" and q0["meta"]["tool_output"] == "…"
    assert set(q0["meta"]["retrieved_distractors"]).isdisjoint(names(q0["tools"]))
    # generation failed, retrieval did not: the retrieved item, with the generation's failure noted
    assert q1["meta"]["tool_source"] == "retrieve" and names(q1["tools"])[0] == "convertCurrency"
    assert q1["meta"]["generate_rejection"]["reason"] == "bad_json"
    assert q3["meta"]["tool_source"] == "both" and names(q3["tools"])[0] == "recipe_search"
    # both failed: one rejection, the generation's, with the retrieval's reason
    assert [(r["id"], r["reason"], r["retrieve_reason"]) for r in rejected] == [
        ("q2", "bad_json", "no_retrieved_tool")
    ]

    only_gen, _ = evolve.merge_tool_items(
        qs[:1], generated[:1], [], [], [evolve.reject(qs[0], "tools", "no_retrieved_tool")]
    )
    assert only_gen[0]["meta"]["tool_source"] == "generate"
    assert only_gen[0]["meta"]["retrieve_rejection"]["reason"] == "no_retrieved_tool"


def test_candidate_tools_is_the_tool_stage_of_every_source():
    qs = [query(0, "weather in Paris"), query(1, "zzz")]
    index = evolve.ToolIndex(CATALOG)
    asked: list[list[str]] = []

    def generate(queries):  # the model writes one tool for the first query and fails on the second
        asked.append([q["id"] for q in queries])
        made = [{**queries[0], "tools": [tool("city_time", "Local time.", city="City")], "meta": {}}]
        return made, [evolve.reject(queries[1], "tools", "bad_json")]

    kept, rejected, retrieved = evolve.candidate_tools("generate", qs, 2, 4, generate)
    assert [names(it["tools"]) for it in kept] == [["city_time"]] and retrieved == 0
    assert [r["reason"] for r in rejected] == ["bad_json"]
    kept, rejected, retrieved = evolve.candidate_tools("retrieve", qs, 2, 4, index=index)
    assert names(kept[0]["tools"])[0] == "get_weather" and retrieved == 1
    assert [r["reason"] for r in rejected] == ["no_retrieved_tool"]
    kept, rejected, retrieved = evolve.candidate_tools("both", qs, 2, 4, generate, index)
    assert names(kept[0]["tools"])[:2] == ["city_time", "get_weather"] and retrieved == 1
    assert [(r["reason"], r["retrieve_reason"]) for r in rejected] == [("bad_json", "no_retrieved_tool")]
    assert asked == [["q0", "q1"], ["q0", "q1"]]  # retrieve never asks the model
    with pytest.raises(ValueError, match="catalog index"):
        evolve.candidate_tools("both", qs, 2, 4, generate)
    with pytest.raises(ValueError, match="generate function"):
        evolve.candidate_tools("generate", qs, 2, 4, index=index)
    with pytest.raises(ValueError, match="tool source"):
        evolve.candidate_tools("guess", qs, 2, 4, generate, index)


def test_audit_counts_items_and_kept_per_tool_source():
    tool_items = [{"id": "a", "meta": {}}, {"id": "b", "meta": {"tool_source": "retrieve"}},
                  {"id": "c", "meta": {"tool_source": "both"}}, {"id": "d", "meta": {"tool_source": "retrieve"}}]  # fmt: skip
    kept = [dict(tool_items[1], calls=[]), dict(tool_items[2], calls=[])]
    a = evolve.audit([{}] * 5, tool_items, [], kept, [])
    assert a["tool_sources"] == {"both": 1, "generate": 1, "retrieve": 2}
    assert a["kept_by_tool_source"] == {"both": 1, "retrieve": 1}
    assert a["with_tools"] == 4 and a["kept"] == 2, "the other fields stay"


# ----------------------------------------------------------------------------- files


def write_catalog(path: Path) -> Path:
    lines = [
        json.dumps({"type": "function", "function": CATALOG[0]}),  # OpenAI tools entry
        json.dumps(CATALOG[1]),  # JSON-Schema tool object
        json.dumps(
            {
                "name": "math.factorial",
                "description": "Factorial of a number.",  # BFCL doc
                "parameters": {
                    "type": "dict",
                    "properties": {"number": {"type": "integer"}},
                    "required": ["number"],
                },
            }
        ),  # fmt: skip
        '{"name": "oops", "description": ',  # broken JSON
        json.dumps({"foo": 1}),  # not a tool
        json.dumps(
            tool("bad_tool", "Bad.") | {"parameters": {"type": "object", "properties": {}, "required": ["x"]}}
        ),  # fmt: skip
        json.dumps(tool("get_weather", "Another weather tool.", town="Town")),  # same name, other schema
        json.dumps(CATALOG[0]),  # the same tool again: merged silently
        json.dumps(CATALOG[2]),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_catalog_loading_records_every_broken_entry(tmp_path):
    path = write_catalog(tmp_path / "tools.jsonl")
    tools, rejects = read_tool_docs(path)
    assert [r["reason"] for r in rejects] == ["bad_json", "not_a_tool"] and [r["line"] for r in rejects] == [
        4,
        5,
    ]

    cfg = load_config(RunConfig, None, ["evolve.tool_source=retrieve", f"evolve.tools={path}"])
    kept, rejected = load_catalog(cfg, ctx=None)  # a given catalog needs nothing from the run dir
    assert names(kept) == ["get_weather", "convertCurrency", "math.factorial", "find_recipe"]
    assert kept[2]["parameters"]["type"] == "object", "BFCL's dict type read as JSON Schema"
    got = sorted((r["line"], r["step"], r["reason"]) for r in rejected)
    assert got == [(4, "catalog", "bad_json"), (5, "catalog", "not_a_tool"),
                   (6, "catalog", "required_not_in_properties"), (7, "catalog", "duplicate_name")]  # fmt: skip
    assert all(r["file"] == str(path) and r["message"] for r in rejected)

    body = tmp_path / "request.json"  # an OpenAI request body: {"tools": [...]}
    body.write_text(
        json.dumps({"model": "x", "tools": [{"type": "function", "function": t} for t in CATALOG]}, indent=2)
    )
    assert [t.name for t in read_tool_docs(body)[0]] == names(CATALOG)


def test_query_log_loading_plain_records_and_examples(tmp_path):
    log = tmp_path / "queries.jsonl"
    log.write_text("\n".join([
        json.dumps("How is the weather in Paris?"),
        json.dumps({"query": "Convert 3 USD to EUR", "id": "u1"}),
        json.dumps({"messages": [{"role": "system", "content": "Be brief."},
                                 {"role": "user", "content": "Track parcel 1Z9"},
                                 {"role": "assistant", "content": "Sure."}]}),  # fmt: skip
        json.dumps({"nothing": "here"}),
        json.dumps({"query": "Convert 3 USD to EUR"}),  # a repeat: dropped by the pool
        "{broken",
    ]) + "\n")  # fmt: skip
    examples, rejects = read_queries(log)
    assert [e["id"] for e in examples] == ["query-0", "u1", "query-2", "query-4"]
    assert examples[2]["messages"][-1] == {"role": "user", "content": "Track parcel 1Z9"}
    assert all(e["calls"] is None and e["tools"] == [] for e in examples)
    assert [(r["line"], r["reason"]) for r in rejects] == [(4, "not_a_query"), (6, "bad_json")]
    pool, bad = user_queries(log)
    assert [q["id"] for q in pool] == ["query-0", "u1", "query-2"]
    assert [(b["step"], b["reason"], b["line"]) for b in bad] == [
        ("queries", "not_a_query", 4),
        ("queries", "bad_json", 6),
    ]

    internal = tmp_path / "examples.jsonl"  # internal examples: their calls and tools are dropped
    ex = make_example("e1", [{"role": "user", "content": "Weather in Oslo?"}], [CATALOG[0]],
                      [{"name": "get_weather", "arguments": {"city": "Oslo"}}], source="t")  # fmt: skip
    internal.write_text(json.dumps(ex) + "\n")
    (one,) = unlabeled_pool(read_queries(internal)[0])
    assert one["id"] == "e1" and one["calls"] is None and one["tools"] == []


def test_config_validation(tmp_path):
    cat = write_catalog(tmp_path / "tools.jsonl")
    ev = EvolveConfig()
    assert (ev.tool_source, ev.tools, ev.queries, ev.retrieve_top_n) == ("generate", None, None, 8)
    EvolveConfig(tool_source="both", tools=str(cat), queries=str(cat), m=2, retrieve_top_n=2)
    with pytest.raises(ValueError, match="tool_source must be one of"):
        EvolveConfig(tool_source="search")
    with pytest.raises(ValueError, match="retrieve_top_n"):
        EvolveConfig(tool_source="retrieve", m=3, retrieve_top_n=2)
    EvolveConfig(m=3, retrieve_top_n=2)  # generate never retrieves: top_n is not checked against m
    with pytest.raises(ValueError, match="never reads a catalog"):
        EvolveConfig(tools=str(cat))
    with pytest.raises(ValueError, match="evolve.tools: .* is not a file"):
        EvolveConfig(tool_source="retrieve", tools=str(tmp_path / "nope.json"))
    with pytest.raises(ValueError, match="evolve.queries"):
        EvolveConfig(queries=str(tmp_path))


# ----------------------------------------------------------------------------- a round


def test_a_tiny_round_with_retrieved_tools(tmp_path):
    """`toolace run` with evolve.tool_source=retrieve, a user's catalog and query log: no tool-generation
    request reaches the model, the round's items carry catalog tools, broken entries are recorded."""
    torch = pytest.importorskip("torch")
    from open_toolace.generation import make_generator
    from open_toolace.generation.fake import FakeGenerator
    from open_toolace.io import read_json, read_jsonl, write_jsonl
    from open_toolace.pipeline.run import run

    weather, recipe = CATALOG[0], CATALOG[2]
    seed = [make_example(f"s{i}", [{"role": "user", "content": f"Weather in {c}?"}], [weather, recipe],
                         [{"name": "get_weather", "arguments": {"city": c}}], source="test")
            for i, c in enumerate(["Paris", "Oslo", "Lima", "Rome"])]  # fmt: skip
    write_jsonl(tmp_path / "seed.jsonl", seed)
    log = tmp_path / "my_queries.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in [
        {"query": "What is the weather in Cairo right now?"}, "zzz qqq", {"no": "query"},
        {"query": "Weather conditions in Hanoi please, and convert my money"}]) + "\n")  # fmt: skip
    catalog = write_catalog(tmp_path / "my_tools.jsonl")
    asked_for_tools = []

    def script(messages, k, sampling):
        text = "\n".join(m["content"] for m in messages)
        if "API designer" in messages[0]["content"]:
            asked_for_tools.append(text)
            return "[]"
        for city in ("Cairo", "Hanoi"):
            if city in messages[-1]["content"]:
                return f'[get_weather(city="{city}")]'
        return None  # BFCL items: the real tiny model

    def scripted(backend, model, adapter=None, **kw):
        return FakeGenerator(script, fallback=make_generator(backend, model, adapter=adapter, **kw))

    repo = Path(__file__).resolve().parents[1]
    cfg = load_config(RunConfig, repo / "configs" / "run_tiny.yaml", [
        f"seed_data.source={tmp_path / 'seed.jsonl'}", f"seed_data.queries={log}", f"out_root={tmp_path}",
        "evolve.rounds=1", "eval.base=false", "evolve.tool_source=retrieve", f"evolve.tools={catalog}",
        f"evolve.queries={log}", "evolve.m=1", "evolve.retrieve_top_n=3"])  # fmt: skip
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run(cfg, run_dir=tmp_path / "run", make_generator=scripted)
    finally:
        torch.set_num_threads(n)

    r1 = tmp_path / "run" / "rounds" / "r1"
    assert asked_for_tools == [], "retrieve never asks the model for tools"
    assert [q["id"] for q in read_jsonl(r1 / "queries.jsonl")] == ["query-0", "query-1", "query-3"]
    assert [r["reason"] for r in read_jsonl(r1 / "query_rejects.jsonl")] == ["not_a_query"]
    items = read_jsonl(r1 / "tools.jsonl")
    assert [it["id"] for it in items] == ["query-0", "query-3"]
    assert all(
        it["meta"]["tool_source"] == "retrieve" and it["tools"][0]["name"] == "get_weather" for it in items
    )
    assert all(len(it["tools"]) <= cfg.evolve.m and len(it["meta"]["retrieved"]) <= 3 for it in items)
    assert [(r["id"], r["reason"]) for r in read_jsonl(r1 / "tool_rejects.jsonl")] == [
        ("query-1", "no_retrieved_tool")
    ]
    assert {r["reason"] for r in read_jsonl(r1 / "catalog_rejects.jsonl")} == {
        "bad_json", "not_a_tool", "required_not_in_properties", "duplicate_name"}  # fmt: skip
    assert [it["meta"]["retrieved_distractors"] for it in items] == [[], ["convertCurrency"]]
    assert [t["name"] for t in read_jsonl(r1 / "distractors.jsonl")] == ["convertCurrency"]
    assert [k["id"] for k in read_jsonl(r1 / "kept.jsonl")] == ["query-0", "query-3"]
    audit = read_json(r1 / "audit.json")
    assert audit["tool_sources"] == {"retrieve": 2} and audit["kept_by_tool_source"] == {"retrieve": 2}
    assert audit["rejected_by_step"]["tools"] == {"no_retrieved_tool": 1}
    man = read_json(tmp_path / "run" / "manifest.json")["stages"]["r1.tools"]
    assert man["catalog"] == 4 and man["catalog_rejects"] == 4 and man["retrieved"] == 2
    assert "retrieve 2 → 2" in (tmp_path / "run" / "report.md").read_text()
