"""The files behind `evolve.tool_source: retrieve | both` and `evolve.queries`: which tool catalog a round
retrieves from and which query log it slices, read where a round's stage needs them.

    evolve.tools: my_tools.json      the catalog (any tool-file shape data.tool_docs reads)
    evolve.tools: null               the seed examples' tools + seed/apis.jsonl (the seed's API pool) if any
    evolve.queries: my_queries.jsonl the unlabeled requests (data.queries: examples or a plain query log)

Broken entries are records, never a crash: catalog entries that are not tools or fail the rule checker go
to `rounds/r<r>/catalog_rejects.jsonl`, query records with no request to `rounds/r<r>/query_rejects.jsonl`
(each with its file and line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from open_toolace.data.queries import read_queries, unlabeled_pool
from open_toolace.data.tool_docs import iter_tool_docs
from open_toolace.evolve.common import Rejection, reject
from open_toolace.evolve.retrieve import ToolIndex, catalog_tools
from open_toolace.io import read_jsonl
from open_toolace.pipeline.config import RunConfig
from open_toolace.pipeline.manifest import Ctx


def _file_rejection(r: dict, file: str) -> Rejection:
    """A tool-file reader's `Reject` as a round's rejection record (step `catalog`)."""
    line = r.get("line")
    return reject(
        {"id": f"catalog-line:{line}"}, "catalog", str(r.get("reason")), str(r.get("detail", ""))[:300],
        line=line, file=file, record=str(r.get("record"))[:300],
    )  # fmt: skip


def _read_catalog_file(path: Path, name: str) -> tuple[list[Any], list[dict], list[Rejection]]:
    """A catalog file's tools, where each came from (`{file, line}`), and its unreadable records."""
    tools, where, rejects = [], [], []
    for item in iter_tool_docs(path):
        if isinstance(item, tuple):
            where.append({"file": name, "line": item[0]})
            tools.append(item[1])
        else:
            rejects.append(_file_rejection(item, name))
    return tools, where, rejects


def catalog_entries(
    tools_file: str | None, seed_examples: list[dict], apis_file: Path | None = None
) -> tuple[list[Any], list[dict], list[Rejection]]:
    """The raw entries a round retrieves from, where each came from, and the file's unreadable records:
    `tools_file` (`evolve.tools`) when set; else the seed examples' tools, then the seed's API pool
    (`apis_file`, the seed stage's `apis.jsonl`, when it exists)."""
    if tools_file is not None:
        return _read_catalog_file(Path(tools_file), tools_file)
    tools, where, rejects = [], [], []
    for ex in seed_examples:
        for t in ex.get("tools") or []:
            tools.append(t)
            where.append({"file": "seed/examples.jsonl", "example": ex.get("id")})
    if apis_file is not None and apis_file.is_file():
        more, more_where, rejects = _read_catalog_file(apis_file, f"seed/{apis_file.name}")
        tools, where = tools + more, where + more_where
    return tools, where, rejects


def load_catalog(cfg: RunConfig, ctx: Ctx) -> tuple[list[dict], list[Rejection]]:
    """The round's tool catalog (validated, unique names; `evolve.retrieve.catalog_tools`) and every entry
    refused on the way (`catalog_entries` of the run's seed stage)."""
    if cfg.evolve.tools is not None:
        tools, where, rejects = catalog_entries(cfg.evolve.tools, [])
    else:
        examples = read_jsonl(ctx.path("seed", "examples.jsonl"))
        tools, where, rejects = catalog_entries(None, examples, ctx.path("seed", "apis.jsonl"))
    kept, bad = catalog_tools(tools, where)
    return kept, rejects + bad


def round_index(cfg: RunConfig, ctx: Ctx) -> tuple[ToolIndex, list[Rejection]]:
    """A BM25 index over the round's catalog, and the catalog's rejections. An empty catalog is a config
    error (retrieval was asked for and nothing can be retrieved), raised with where it came from."""
    tools, rejects = load_catalog(cfg, ctx)
    if not tools:
        where = cfg.evolve.tools or "the seed examples' tools (and seed/apis.jsonl)"
        first = f"; first problem: {rejects[0]['reason']}: {rejects[0]['message']}" if rejects else ""
        raise ValueError(f"evolve.tool_source={cfg.evolve.tool_source}: no usable tool in {where}{first}")
    return ToolIndex(tools), rejects


def user_queries(path: str | Path) -> tuple[list[dict], list[Rejection]]:
    """The user's unlabeled queries (`evolve.queries`), distinct and unlabeled, in file order, and the
    records refused (as `step: "queries"` rejection records with file and line)."""
    examples, rejects = read_queries(path)
    bad = [
        reject(
            {"id": f"query-line:{r.get('line')}"},
            "queries",
            str(r.get("reason")),
            str(r.get("detail", ""))[:300],
            line=r.get("line"),
            file=str(path),
        )  # fmt: skip
        for r in rejects
    ]
    return unlabeled_pool(examples), bad
