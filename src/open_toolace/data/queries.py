"""Unlabeled queries (a user's query log, the rounds' query pool) from a file.

A round needs requests, not answers, so besides every example format `read_examples` knows (their calls
and tools are dropped) a query file may be the plain shapes a log is kept in: one JSON string per line, or
an object with the request under `query` (or `question`, `prompt`, `text`) or a `messages` list
(chat turns; the last user turn is the request). A record with no request text is a `Reject`
(`not_a_query`), with its line, never a crash; a record without `id` gets `query-<index>` (its position,
so ids stay put when the log grows at the end).

    queries, rejects = read_queries("my_queries.jsonl")
    pool = unlabeled_pool(queries)      # distinct requests, tools [] and calls null
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from open_toolace.data.adapters import detect_format, read_examples
from open_toolace.data.records import ROLES, Reject, example_query, is_reject, make_example, make_reject
from open_toolace.data.sources import iter_records, sniff_record
from open_toolace.io import DataFileError

QUERY_KEYS = ("query", "question", "prompt", "text")


def _plain_text(rec: Any) -> str | None:
    if isinstance(rec, str):
        return rec
    if isinstance(rec, dict):
        for key in QUERY_KEYS:
            if isinstance(rec.get(key), str):
                return rec[key]
    return None


def _is_plain(path: str | Path) -> bool:
    """Whether a file holds bare request records rather than examples of a known format: its first record
    is not detected as one (or is a `question` string, which BFCL's lists of turns never are)."""
    try:
        rec = sniff_record(path)
    except DataFileError:
        return False  # read_examples names the problem
    if not (
        _plain_text(rec) is not None or (isinstance(rec, dict) and isinstance(rec.get("messages"), list))
    ):
        return False
    if isinstance(rec, dict) and isinstance(rec.get("question"), str):
        return True
    try:
        detect_format(path)
    except DataFileError:
        return True
    return False


def _messages(rec: Any) -> list[dict] | str:
    """The chat turns of a plain record, or why there are none."""
    if isinstance(rec, dict) and isinstance(rec.get("messages"), list):
        msgs = rec["messages"]
        if not all(
            isinstance(m, dict) and m.get("role") in ROLES and isinstance(m.get("content"), str) for m in msgs
        ):
            return f"every message must be {{'role': one of {ROLES}, 'content': str}}"
        if not any(m["role"] == "user" for m in msgs):
            return "no user turn in 'messages'"
        while msgs and msgs[-1]["role"] != "user":  # the request to serve is the last user turn
            msgs = msgs[:-1]
        return [{"role": m["role"], "content": m["content"]} for m in msgs]
    text = _plain_text(rec)
    if text is None:
        return f"no request: expected a string, 'messages', or one of {list(QUERY_KEYS)}"
    return [{"role": "user", "content": text}]


def iter_plain_queries(path: str | Path, source: str = "queries") -> Iterator[dict | Reject]:
    """Unlabeled examples (`calls: null`) from a file of plain request records (module docstring)."""
    for item in iter_records(path):
        if not isinstance(item, tuple):
            yield item
            continue
        line, index, rec = item
        msgs = _messages(rec)
        if isinstance(msgs, str):
            yield make_reject(line, "not_a_query", rec, msgs, index=index)
            continue
        if not msgs[-1]["content"].strip():
            yield make_reject(line, "not_a_query", rec, "the request is empty", index=index)
            continue
        rid = rec.get("id") if isinstance(rec, dict) else None
        meta = dict(rec["meta"]) if isinstance(rec, dict) and isinstance(rec.get("meta"), dict) else {}
        meta = {**meta, "source": meta.get("source") or source, "line": line, "kind": "unlabeled"}
        yield make_example(str(rid) if rid not in (None, "") else f"query-{index}", msgs, [], None, **meta)


def read_queries(path: str | Path, fmt: str = "auto") -> tuple[list[dict], list[Reject]]:
    """Unlabeled queries of a file and the records refused (with line and reason).

    `fmt="auto"`: a file of plain request records is read by `iter_plain_queries`, anything else by
    `read_examples` (format detected); another `fmt` is passed to `read_examples`. The examples keep
    their calls here: `unlabeled_pool` drops them."""
    if fmt == "auto":
        if _is_plain(path):
            examples: list[dict] = []
            rejects: list[Reject] = []
            for item in iter_plain_queries(path):
                (rejects if is_reject(item) else examples).append(item)  # type: ignore[arg-type]
            return examples, rejects
        fmt = detect_format(path)
    return read_examples(path, fmt)


def unlabeled_pool(examples: Iterable[dict]) -> list[dict]:
    """Distinct requests, first seen kept (by request text and by id, so rounds can slice by id), as
    unlabeled examples: `tools: []`, `calls: null` (the round finds tools and labels itself)."""
    seen_text, seen_id, out = set(), set(), []
    for ex in examples:
        q = example_query(ex).strip()
        if q and q not in seen_text and ex.get("id") not in seen_id:
            seen_text.add(q)
            seen_id.add(ex.get("id"))
            out.append({**ex, "tools": [], "calls": None})
    return out
