"""Seed samples with ground-truth calls, one type at a time, built from the API pool and `synth/queries.py`.

Sample types (BFCL's categories, so the seed data covers what is evaluated):

    single             one tool offered, one call
    multiple           the right tool among 2-4 distractors (same domain first), one call
    parallel           one tool called 2-3 times (several values of one argument, or several requests)
    parallel_multiple  2-3 different tools called in one request, plus distractors
    irrelevance        no call is right (`calls: []`), of one of three kinds (`meta.abstention`):
                       far            the offered tools are from other domains and share no content word
                       near_miss      tools of the request's own domain, none of which does what it asks
                       missing_value  the right tool is offered, but the request lacks a required value
    multi_turn         an earlier request, its call and tool result, then a new request

A model that only ever sees `far` abstentions learns that "no call" means "nothing here is related": the
hard cases, a same-domain tool that cannot serve the request or a request it cannot complete, are what
BFCL's irrelevance and API-Bank's "ask for the missing value" turns test.

    rng = random.Random(0)
    sample = make_sample("single", api, pool, by_domain, rng)   # Sample(messages, tools, calls, meta)
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field

from open_toolace.formats import ToolCall, render_calls
from open_toolace.synth.apis import Api
from open_toolace.synth.queries import Clause, make_clause, make_parallel_clause, sentence

TYPES = ("single", "multiple", "parallel", "parallel_multiple", "irrelevance", "multi_turn")
# How no-call samples split: more than half are near misses (issue "Seed data that teaches real tool use").
ABSTENTION_KINDS = {"far": 0.4, "near_miss": 0.35, "missing_value": 0.25}
REPLIES = ("Done.", "All set.", "I've taken care of that.", "Here is what I found.", "That went through.")
_WORD = re.compile(r"[a-z]+")
_GENERIC_WORDS = {"get", "list", "find", "search", "show", "set", "create", "the", "a", "an", "of", "for",
                  "to", "in", "and", "or", "by", "with", "on", "from", "at", "is", "my", "your", "new"}  # fmt: skip


@dataclass
class Sample:
    messages: list[dict]
    tools: list[dict]
    calls: list[dict]
    meta: dict = field(default_factory=dict)


def content_words(api: Api) -> set[str]:
    text = f"{api.spec.name} {api.spec.description} {' '.join(api.spec.intents)}".replace("_", " ").lower()
    return {w for w in _WORD.findall(text) if w not in _GENERIC_WORDS and len(w) > 2}


def distractors(targets: list[Api], pool: list[Api], rng: random.Random, k: int, same_domain: bool,
                by_domain: dict[str, list[Api]] | None = None) -> list[Api]:  # fmt: skip
    """`k` tools that are not the answer: none shares a base API with a target; same domain first if asked."""
    bases = {a.base for a in targets}
    domains = {a.domain for a in targets}
    near = []
    if same_domain:
        near = [
            a
            for d in sorted(domains)
            for a in (by_domain or {}).get(d, pool)
            if a.base not in bases and a.domain == d
        ]
    far = [
        a
        for a in rng.sample(pool, min(len(pool), 4 * k + 8))
        if a.base not in bases and a.domain not in domains
    ]
    out: list[Api] = []
    for cand in rng.sample(near, min(len(near), k)) + far:
        if len(out) == k:
            break
        if cand.base not in {o.base for o in out}:
            out.append(cand)
    return out


def unrelated(target: Api, pool: list[Api], rng: random.Random, k: int) -> list[Api]:
    """Tools from other domains sharing no content word with the target: none of them can serve it."""
    words = content_words(target)
    out: list[Api] = []
    for cand in rng.sample(pool, min(len(pool), 12 * k)):
        if len(out) == k:
            break
        if (
            cand.domain != target.domain
            and not (content_words(cand) & words)
            and cand.base not in {o.base for o in out}
        ):
            out.append(cand)
    return out


def tool_result(api: Api, call: dict, rng: random.Random) -> str:
    """A plausible JSON tool response for a multi-turn history."""
    first = next(iter(call["arguments"].items()), ("request", api.name))
    return json.dumps({"status": "success", "id": f"R-{rng.randint(10000, 99999)}", first[0]: first[1]})


def _tools(apis: list[Api], rng: random.Random) -> list[dict]:
    tools = [a.tool() for a in apis]
    rng.shuffle(tools)
    return tools


def _meta(template: str, clauses: list[Clause], targets: list[str] | None = None) -> dict:
    """What the stats count: the template (query with values as {v}), value phrasings, APIs and operators."""
    forms = sorted({v.form for c in clauses for vs in c.values for v in vs.values()})
    apis = [c.api for c in clauses]
    return {"template": template, "forms": forms, "domain": apis[0].domain,
            "apis": [a.name for a in apis] if targets is None else targets,
            "ops": sorted({op.split(":")[0] for a in apis for op in a.ops})}  # fmt: skip


def make_sample(kind: str, api: Api, pool: list[Api], by_domain: dict[str, list[Api]], rng: random.Random,
                context: tuple[str, ...] = ()) -> Sample | None:  # fmt: skip
    """One sample of type `kind` built around `api`; None when the API cannot make that type."""
    mates = [a for a in by_domain[api.domain] if a.base != api.base]
    if kind in ("single", "multiple"):
        c = make_clause(api, rng)
        text, skel = sentence([c], rng, context)
        others = (
            distractors([api], pool, rng, rng.randint(2, 4), True, by_domain) if kind == "multiple" else []
        )
        return Sample(
            [{"role": "user", "content": text}], _tools([api, *others], rng), c.calls(), _meta(skel, [c])
        )
    if kind == "parallel":
        c = make_parallel_clause(api, rng, rng.randint(2, 3))
        if c is None:
            return None
        text, skel = sentence([c], rng, context)
        others = distractors([api], pool, rng, rng.randint(0, 2), True, by_domain)
        return Sample(
            [{"role": "user", "content": text}], _tools([api, *others], rng), c.calls(), _meta(skel, [c])
        )
    if kind == "parallel_multiple":
        picks: list[Api] = []
        want = rng.randint(1, 2)
        for a in rng.sample(mates, len(mates)):
            if a.base not in {p.base for p in picks}:
                picks.append(a)
            if len(picks) == want:
                break
        if not picks:
            return None
        clauses = [make_clause(a, rng, 0.35) for a in [api, *picks]]
        text, skel = sentence(clauses, rng, context)
        targets = [api, *picks]
        others = distractors(targets, pool, rng, rng.randint(0, 2), True, by_domain)
        calls = [c for cl in clauses for c in cl.calls()]
        return Sample(
            [{"role": "user", "content": text}], _tools(targets + others, rng), calls, _meta(skel, clauses)
        )
    if kind == "irrelevance":
        return make_abstention(api, mates, pool, by_domain, rng, context)
    if kind == "multi_turn":
        if not mates:
            return None
        second = rng.choice(mates)
        c1, c2 = make_clause(api, rng), make_clause(second, rng)
        q1, s1 = sentence([c1], rng, context)
        q2, s2 = sentence([c2], rng)
        call1 = c1.calls()[0]
        msgs = [
            {"role": "user", "content": q1},
            {"role": "assistant", "content": render_calls([ToolCall(call1["name"], call1["arguments"])])},
            {"role": "tool", "content": tool_result(api, call1, rng)},
            {"role": "assistant", "content": rng.choice(REPLIES)},
            {"role": "user", "content": q2},
        ]
        others = distractors([api, second], pool, rng, rng.randint(0, 2), True, by_domain)
        return Sample(msgs, _tools([api, second, *others], rng), c2.calls(), _meta(f"{s1} || {s2}", [c1, c2]))
    raise ValueError(f"unknown sample type {kind!r}; use one of {TYPES}")


def make_abstention(api: Api, mates: list[Api], pool: list[Api], by_domain: dict[str, list[Api]],
                    rng: random.Random, context: tuple[str, ...] = ()) -> Sample | None:  # fmt: skip
    """A no-call sample about a request for `api`, of a kind drawn from ABSTENTION_KINDS (a kind the API
    cannot make falls back to `far`: near_miss needs another API in the domain, missing_value a required
    argument that is not a flag)."""
    kind = rng.choices(list(ABSTENTION_KINDS), weights=list(ABSTENTION_KINDS.values()))[0]
    required = [p.name for _, p in api.leaves() if p.required and p.spec.kind.name != "bool"]
    near = [a for a in mates if a.base != api.base]
    if kind == "missing_value" and required:
        missing = rng.choice(required)
        c = make_clause(api, rng, omit=missing)
        others = distractors([api], pool, rng, rng.randint(0, 2), True, by_domain)
        tools, extra = [api, *others], {"missing": missing}
    elif kind == "near_miss" and near:
        c = make_clause(api, rng)
        tools, extra, want = [], {}, rng.randint(1, 3)
        for a in rng.sample(near, len(near)):  # one API per base: variants of one API read as duplicates
            if a.base not in {t.base for t in tools}:
                tools.append(a)
            if len(tools) == want:
                break
        kind = "near_miss"
    else:
        kind = "far"
        c = make_clause(api, rng)
        tools, extra = unrelated(api, pool, rng, rng.randint(1, 4)), {}
        if not tools:
            return None
    text, skel = sentence([c], rng, context)
    # `asked`: the API the request was made for (not offered unless the kind is missing_value)
    meta = {**_meta(skel, [c], targets=[]), "abstention": kind, "asked": api.name, **extra}
    return Sample([{"role": "user", "content": text}], _tools(tools, rng), [], meta)
