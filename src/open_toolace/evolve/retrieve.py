"""Candidate tools from a catalog: BM25 retrieval over a pool of real tool definitions (no model).

Query-aware generation (`sample.generate_tools`) asks the model to *invent* the tools a query needs; a user
with a real API catalog wants the round to pick from *those* tools instead, so the labels it trains on call
APIs that exist. This module ranks a catalog against each unlabeled query with BM25 (the `bm25s` library)
and returns items shaped exactly like `generate_tools`' kept items, so the rest of the round (invocation
samples, vote, rules, triplets) runs unchanged:

    index = ToolIndex(catalog)                                   # Tool dicts / Tools, unique names
    items, rejected = retrieve_tools(index, queries, m=3, top_n=8)

Per query the `top_n` best tools with a BM25 score > 0 are ranked (ties: catalog order). The best `m` are
the query's candidate tools (`tools`: the pool the invocation samples and the vote choose from); the rest of
the `top_n` are kept by name in `meta.retrieved_distractors` (look-alikes the model was not offered, hard
negatives for the triplet builder; `distractor_tools` gives their definitions). `meta.retrieved` holds the
ranked names with their scores, `meta.tool_source` is `"retrieve"`. A query no tool scores > 0 on is the
rejection `{"step": "tools", "reason": "no_retrieved_tool"}`.

`merge_tool_items` is `evolve.tool_source: both` (rule in its docstring); `candidate_tools` is a round's
whole tool stage for any source; `catalog_tools` validates and dedupes a catalog first (a broken entry is a
recorded rejection, never a crash). Pure: no I/O.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from open_toolace.checks import validate_tool
from open_toolace.data.records import example_query
from open_toolace.evolve.common import Item, Rejection, reject
from open_toolace.formats.tools import Tool, ToolFormatError, as_tool, tool_record

# Tool rule codes that do not make a catalog tool unusable: the value is only unconstrained there.
CATALOG_WARNINGS = frozenset({"unknown_type"})

# ----------------------------------------------------------------------------- text and tokens


def split_words(text: str) -> str:
    """`getWeatherForecast` / `get_weather.forecast` -> `get Weather Forecast` / `get weather forecast`:
    BM25's tokenizer keeps `_` inside a word, so identifiers are split before they are counted."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text)
    return re.sub(r"[_.\-/]+", " ", spaced)


def tool_text(tool: Tool | dict) -> str:
    """What a tool is found by: its name as words, its description, and each top-level parameter's name,
    description and string enum values (the vocabulary a request that needs the tool tends to use)."""
    t = tool_record(tool)
    parts = [split_words(t["name"]), str(t.get("description") or "")]
    props = (t.get("parameters") or {}).get("properties") or {}
    for pname, schema in props.items() if isinstance(props, dict) else ():
        parts.append(split_words(str(pname)))
        if isinstance(schema, dict):
            parts.append(str(schema.get("description") or ""))
            enum = schema.get("enum")
            if isinstance(enum, list):
                parts += [str(v) for v in enum if isinstance(v, str)]
    return " ".join(p for p in parts if p)


def _s_stem(words: list[str]) -> list[str]:
    """Harman's S-stemmer (plural endings only): `forecasts`/`forecast`, `currencies`/`currency` meet,
    with no stemming library and no surprise (a light rule, applied to catalog and query alike)."""
    out = []
    for w in words:
        if len(w) > 3 and w.endswith("ies") and not w.endswith(("eies", "aies")):
            w = w[:-3] + "y"
        elif len(w) > 3 and w.endswith("s") and not w.endswith(("us", "ss")):
            w = w[:-1]  # Harman's `es` -> `e` rule drops the same letter, so one rule serves both
        out.append(w)
    return out


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """`bm25s.tokenize` (lower case, English stop words, words of 2+ characters) after `split_words`, with
    the S-stemmer; strings out, so the index builds its own vocabulary (deterministic)."""
    import bm25s

    if not texts:
        return []
    return bm25s.tokenize(
        [split_words(t) for t in texts],
        stopwords="en",
        stemmer=_s_stem,
        return_ids=False,
        show_progress=False,
    )


# ----------------------------------------------------------------------------- the catalog


def catalog_tools(
    tools: Iterable[Any], where: Sequence[dict] | None = None
) -> tuple[list[dict], list[Rejection]]:
    """A catalog's usable tools (internal dicts, catalog order) and a rejection for each entry that is not.

    An entry must read as a tool (`as_tool`: any shape `parse_tool` knows) and pass the rule checker
    (`checks.validate_tool`; `unknown_type` is only a warning): a tool the checker refuses would make every
    call to it fail the round's rule filter. Names are unique: a repeat with the same definition (the seed
    examples repeat their tools) is merged silently, one with another definition is `duplicate_name` (the
    first one stays: calls to a name must mean one schema). Rejections: `step: "catalog"`, `index`, `name`,
    plus `where[index]` when given (e.g. `{"file", "line"}`: where the user fixes the entry)."""
    kept: list[dict] = []
    seen: dict[str, dict] = {}
    rejected: list[Rejection] = []
    for i, entry in enumerate(tools):
        item = {"id": f"catalog:{i}"}
        at = {"index": i, **(where[i] if where is not None else {})}
        try:
            tool = as_tool(entry)
        except (ToolFormatError, TypeError, ValueError, AttributeError, RecursionError) as e:
            rejected.append(reject(item, "catalog", "not_a_tool", str(e)[:300], name=None, **at))
            continue
        reasons = [r for r in validate_tool(tool) if r.code not in CATALOG_WARNINGS]
        if reasons:
            rejected.append(
                reject(item, "catalog", reasons[0].code, reasons[0].message[:300], name=tool.name, **at)
            )
            continue
        rec = tool.to_dict()
        if tool.name in seen:
            if seen[tool.name] != rec:
                msg = f"{tool.name!r} is defined twice, differently; the first definition is kept"
                rejected.append(reject(item, "catalog", "duplicate_name", msg, name=tool.name, **at))
            continue
        seen[tool.name] = rec
        kept.append(rec)
    return kept, rejected


class ToolIndex:
    """A BM25 index (`bm25s.BM25`, Lucene scoring) over a catalog of tools with unique names.

    Built once per round over the whole catalog; `rank` scores every query against every tool, so a
    catalog of thousands of tools costs milliseconds per query. Deterministic: same catalog and queries,
    same ranking (ties broken by catalog order)."""

    def __init__(self, tools: Sequence[Tool | dict], *, k1: float = 1.5, b: float = 0.75) -> None:
        self.tools: list[dict] = [tool_record(t) for t in tools]
        self._by_name = {t["name"]: t for t in self.tools}
        if len(self._by_name) != len(self.tools):
            raise ValueError("ToolIndex: tool names must be unique (pass the catalog through catalog_tools)")
        corpus = tokenize([tool_text(t) for t in self.tools])
        self._bm25 = None
        if any(corpus):
            import bm25s

            self._bm25 = bm25s.BM25(k1=k1, b=b)
            self._bm25.index(corpus, show_progress=False)

    def __len__(self) -> int:
        return len(self.tools)

    def get(self, name: str) -> dict | None:
        """The catalog's definition of the tool `name` (None if the catalog has none)."""
        return self._by_name.get(name)

    def rank(self, queries: Sequence[str], top_n: int) -> list[list[tuple[dict, float]]]:
        """Per query, at most `top_n` `(tool, score)` pairs with score > 0, best first."""
        if self._bm25 is None or top_n < 1 or not queries:
            return [[] for _ in queries]
        docs, scores = self._bm25.retrieve(
            tokenize(list(queries)), k=len(self.tools), sorted=True, show_progress=False
        )
        out = []
        for row_docs, row_scores in zip(docs, scores, strict=True):
            hits = [(int(d), float(s)) for d, s in zip(row_docs, row_scores, strict=True) if s > 0]
            hits.sort(key=lambda h: (-h[1], h[0]))  # ties: catalog order, not the top-k selection's
            out.append([(self.tools[d], s) for d, s in hits[:top_n]])
        return out


# ----------------------------------------------------------------------------- a round's tools


def retrieve_tools(
    index: ToolIndex, queries: Sequence[Item], m: int, top_n: int
) -> tuple[list[Item], list[Rejection]]:
    """Candidate tools from the catalog for each unlabeled query (module docstring): `(items, rejections)`.

    A kept item is the query with `tools` = its best `m` tools, `calls: None`, and in `meta`:
    `tool_source: "retrieve"`, `retrieved` (`[{name, score}]`, the ranked `top_n`), `retrieved_distractors`
    (the names ranked after the best `m`). A query with no tool scoring > 0 is rejected
    (`no_retrieved_tool`)."""
    if m < 1 or top_n < m:
        raise ValueError(f"retrieve_tools: need 1 <= m <= top_n, got m={m}, top_n={top_n}")
    queries = list(queries)
    ranked = index.rank([example_query(q) for q in queries], top_n)
    kept, rejected = [], []
    for q, hits in zip(queries, ranked, strict=True):
        if not hits:
            msg = f"no tool of the {len(index)}-tool catalog shares a word with the query"
            rejected.append(reject(q, "tools", "no_retrieved_tool", msg))
            continue
        meta = {
            **q.get("meta", {}),
            "tool_source": "retrieve",
            "retrieved": [{"name": t["name"], "score": round(s, 4)} for t, s in hits],
            "retrieved_distractors": [t["name"] for t, _ in hits[m:]],
        }
        kept.append({**q, "tools": [dict(t) for t, _ in hits[:m]], "calls": None, "meta": meta})
    return kept, rejected


def candidate_tools(
    source: str,
    queries: Sequence[Item],
    m: int,
    top_n: int,
    generate: Callable[[Sequence[Item]], tuple[list[Item], list[Rejection]]] | None = None,
    index: ToolIndex | None = None,
) -> tuple[list[Item], list[Rejection], int]:
    """A round's tool stage (`evolve.tool_source`): `generate(queries)` (the model writes each query's
    tools: `generate_tools` bound to a model), BM25 over `index` (`retrieve`), or both merged
    (`merge_tool_items`). Returns `(items with candidate tools, rejections, queries retrieval served)`."""
    if source not in ("generate", "retrieve", "both"):
        raise ValueError(f"tool source must be generate, retrieve or both, got {source!r}")
    kept: list[Item] = []
    rejected: list[Rejection] = []
    if source != "retrieve":
        if generate is None:
            raise ValueError(f"tool source {source!r} needs a generate function")
        kept, rejected = generate(queries)
    if source == "generate":
        return kept, rejected, 0
    if index is None:
        raise ValueError(f"tool source {source!r} needs a catalog index")
    got, lost = retrieve_tools(index, queries, m, top_n)
    if source == "retrieve":
        return got, lost, len(got)
    return (*merge_tool_items(queries, kept, rejected, got, lost), len(got))


def _queues(rows: Iterable[dict]) -> dict[Any, deque]:
    out: dict[Any, deque] = defaultdict(deque)
    for row in rows:
        out[row.get("id")].append(row)
    return out


def _pop(queues: dict[Any, deque], key: Any) -> dict | None:
    q = queues.get(key)
    return q.popleft() if q else None


def merge_tool_items(
    queries: Sequence[Item],
    generated: Sequence[Item],
    generated_rejects: Sequence[Rejection],
    retrieved: Sequence[Item],
    retrieved_rejects: Sequence[Rejection],
) -> tuple[list[Item], list[Rejection]]:
    """`tool_source: both`: one item per query with the generated and the retrieved candidates together.

    Rule: the generated tools first (at most m, as `generate_tools` keeps them), then the retrieved best m
    whose names are not taken yet, so an item has at most 2m tools and a name means one definition (the
    model's, when both propose it). `retrieved_distractors` drops the names now among the item's tools.
    `meta.tool_source` is `both` when both gave tools, else the one that did (the other's failure is in
    `meta.generate_rejection` / `meta.retrieve_rejection`); `meta.tool_origins` maps each tool name to
    `generate`, `retrieve` or `both`. Only a query both fail on is a rejection: the generation's record
    (the model's failure is the more telling), with `retrieve_reason` added. Query order is kept."""
    g, gr, r, rr = (
        _queues(generated),
        _queues(generated_rejects),
        _queues(retrieved),
        _queues(retrieved_rejects),
    )
    items, rejected = [], []
    for q in queries:
        qid = q.get("id")
        gi, ri, g_rej, r_rej = _pop(g, qid), _pop(r, qid), _pop(gr, qid), _pop(rr, qid)
        if gi is None and ri is None:
            base = g_rej or reject(q, "tools", "no_tool", "neither generation nor retrieval gave a tool")
            rejected.append({**base, "retrieve_reason": (r_rej or {}).get("reason", "no_retrieved_tool")})
            continue
        if ri is None:
            names = [t["name"] for t in gi["tools"]]
            meta = {
                **gi.get("meta", {}),
                "tool_source": "generate",
                "tool_origins": dict.fromkeys(names, "generate"),
            }
            if r_rej:
                meta["retrieve_rejection"] = {"reason": r_rej.get("reason"), "message": r_rej.get("message")}
            items.append({**gi, "meta": meta})
            continue
        if gi is None:
            names = [t["name"] for t in ri["tools"]]
            meta = {**ri.get("meta", {}), "tool_origins": dict.fromkeys(names, "retrieve")}
            if g_rej:
                meta["generate_rejection"] = {"reason": g_rej.get("reason"), "message": g_rej.get("message")}
            items.append({**ri, "meta": meta})
            continue
        tools = list(gi["tools"])
        origins = {t["name"]: "generate" for t in tools}
        for t in ri["tools"]:
            if t["name"] in origins:
                origins[t["name"]] = "both"
            else:
                tools.append(t)
                origins[t["name"]] = "retrieve"
        r_meta = ri.get("meta", {})
        meta = {
            **gi.get("meta", {}),
            "tool_source": "both",
            "tool_origins": origins,
            "retrieved": r_meta.get("retrieved", []),
            "retrieved_distractors": [n for n in r_meta.get("retrieved_distractors", []) if n not in origins],
        }
        items.append({**gi, "tools": tools, "calls": None, "meta": meta})
    return items, rejected


def distractor_tools(index: ToolIndex, items: Iterable[Item]) -> list[dict]:
    """The definitions of every name in the items' `meta.retrieved_distractors`, once each, in first-seen
    order: what the triplet stage adds to its distractor pool (the catalog tools a query nearly matched)."""
    out, seen = [], set()
    for it in items:
        for name in (it.get("meta") or {}).get("retrieved_distractors") or []:
            tool = index.get(name)
            if tool is not None and name not in seen:
                seen.add(name)
                out.append(dict(tool))
    return out
