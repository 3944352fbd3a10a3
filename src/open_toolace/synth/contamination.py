"""Hygiene against the benchmark: no synthesized query may equal, or overlap >= 0.7 in word Jaccard with,
any BFCL user turn.

`ContaminationIndex` holds the BFCL v4 user turns (every `BFCL_v4_*.json` in bfcl_eval's data, read with
importlib.resources) and answers `best(text) -> (jaccard, bfcl_turn)` exactly, without comparing against
every turn: each word set is indexed by its *prefix* under a global rare-first word order, and two sets
with Jaccard >= t must share a word within their prefixes of length |s| - ceil(t*|s|) + 1 (prefix
filtering, Chaudhuri et al. 2006). A size filter then drops candidates that cannot reach t.

    index = bfcl_index()                        # built once per process (~1 s)
    index.best("What's the weather in Paris?")  # (0.33, 'What is the weather like in Paris ...')
    kept, rejects = drop_contaminated(examples, index)
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

_WORD = re.compile(r"[a-z0-9]+")


def word_set(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if (a or b) else 1.0


def _user_turns(obj: Any) -> Iterator[str]:
    """Every `{"role": "user", "content": str}` anywhere in a BFCL record (turns are nested lists)."""
    if isinstance(obj, dict):
        if obj.get("role") == "user" and isinstance(obj.get("content"), str):
            yield obj["content"]
        else:
            for v in obj.values():
                yield from _user_turns(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _user_turns(v)


def bfcl_user_turns() -> list[str]:
    """All distinct BFCL v4 user turns shipped with bfcl_eval (JSON Lines, or one JSON document)."""
    root = resources.files("bfcl_eval").joinpath("data")
    turns: dict[str, None] = {}
    for f in sorted(root.iterdir(), key=lambda p: p.name):
        if not (f.name.startswith("BFCL_v4_") and f.name.endswith(".json")):
            continue
        text = f.read_text(encoding="utf-8")
        try:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError:
            records = [json.loads(text)]
        for rec in records:  # user turns live under "question"; the rest (initial state) is large
            for t in _user_turns(rec.get("question", rec) if isinstance(rec, dict) else rec):
                turns.setdefault(t, None)
    return list(turns)


def _prefix_len(n: int, t: float) -> int:
    return n - math.ceil(t * n - 1e-9) + 1


class ContaminationIndex:
    def __init__(self, texts: list[str], threshold: float = 0.7):
        if not 0 < threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")
        self.threshold = threshold
        self.texts = list(texts)
        self.sets = [word_set(t) for t in self.texts]
        self.exact = {" ".join(sorted(s)): i for i, s in enumerate(self.sets)}
        self.freq = Counter(w for s in self.sets for w in s)
        self.postings: dict[str, list[int]] = defaultdict(list)
        for i, s in enumerate(self.sets):
            for w in self._ordered(s)[: _prefix_len(len(s), threshold)]:
                self.postings[w].append(i)

    def _ordered(self, s: frozenset[str]) -> list[str]:
        return sorted(s, key=lambda w: (self.freq.get(w, 0), w))

    def best(self, text: str) -> tuple[float, str | None]:
        """The highest Jaccard (exact when >= threshold) with any indexed text, and that text."""
        s = word_set(text)
        if not s:
            return 0.0, None
        hit = self.exact.get(" ".join(sorted(s)))
        if hit is not None:
            return 1.0, self.texts[hit]
        t = self.threshold
        cands = {i for w in self._ordered(s)[: _prefix_len(len(s), t)] for i in self.postings.get(w, ())}
        best, best_i = 0.0, None
        for i in cands:
            other = self.sets[i]
            if not (t * len(s) - 1e-9 <= len(other) <= len(s) / t + 1e-9):
                continue
            j = jaccard(s, other)
            if j > best:
                best, best_i = j, i
        return best, (self.texts[best_i] if best_i is not None else None)

    def is_contaminated(self, text: str) -> bool:
        return self.best(text)[0] >= self.threshold

    def __len__(self) -> int:
        return len(self.texts)


@cache
def bfcl_index(threshold: float = 0.7) -> ContaminationIndex:
    return ContaminationIndex(bfcl_user_turns(), threshold)


def check_example(ex: dict, index: ContaminationIndex) -> tuple[float, str | None]:
    """The worst (highest) overlap of any user turn of the example with the index."""
    worst: tuple[float, str | None] = (0.0, None)
    for m in ex.get("messages") or []:
        if m.get("role") == "user":
            score = index.best(m.get("content", ""))
            if score[0] > worst[0]:
                worst = score
    return worst


def drop_contaminated(examples: list[dict], index: ContaminationIndex) -> tuple[list[dict], list[dict]]:
    """(kept, rejects): rejects carry reason `bfcl_contamination`, the score and the BFCL turn matched."""
    kept, rejects = [], []
    for ex in examples:
        score, match = check_example(ex, index)
        if score >= index.threshold:
            rejects.append({"reason": "bfcl_contamination", "stage": "contamination", "score": round(score, 3),
                            "bfcl_turn": match, "record": ex})  # fmt: skip
        else:
            kept.append(ex)
    return kept, rejects
