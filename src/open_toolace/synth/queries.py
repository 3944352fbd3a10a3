"""Queries with ground-truth calls, built from the API pool: the offline stand-in for ToolACE's dialog agents.

A query is an opener ("Could you {c}?") around clauses; a clause is an API's intent ("find flights")
followed by one phrase per argument ("from {v}", "on {v}"), each value said in one of its natural forms.
Sample types (BFCL's categories, so the seed data covers what is evaluated):

    single             one tool offered, one call
    multiple           the right tool among 2-4 distractors (same domain first), one call
    parallel           one tool called 2-3 times (several values of one argument, or several requests)
    parallel_multiple  2-3 different tools called in one request, plus distractors
    irrelevance        no offered tool fits: the answer is no call (`calls: []`)
    multi_turn         an earlier request, its call and tool result, then a new request

    rng = random.Random(0)
    sample = make_sample("single", api, pool_index, rng)   # Sample(messages, tools, calls, meta)
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from dataclasses import dataclass, field

from open_toolace.formats import ToolCall, render_calls
from open_toolace.synth.apis import Api
from open_toolace.synth.values import Value, draw, draw_date, join_list, pools

TYPES = ("single", "multiple", "parallel", "parallel_multiple", "irrelevance", "multi_turn")
OPENERS = (
    "{c}.", "Please {c}.", "Can you {c}?", "Could you {c}?", "Could you please {c}?", "I need you to {c}.",
    "I'd like you to {c}.", "Help me {c}.", "Would you {c}?", "Hey, {c}.", "Quick one: {c}.",
    "Go ahead and {c}.", "Hi! Can you {c}?", "Please {c}, thanks.", "Can you please {c} for me?",
    "{c}, please.", "I'd appreciate it if you could {c}.", "When you get a chance, {c}.",
    "Hello, could you {c}?", "Do me a favor and {c}.", "Would you be able to {c}?", "Is it possible to {c}?",
    "Assistant, {c}.", "Real quick, {c}.", "Okay, {c}.",
)  # fmt: skip
SAME_JOINERS = (", and ", ", and also ", "; also ", ", as well as ")
MULTI_JOINERS = (", and ", ", and then ", ", then ", "; also ", ", and after that ")
NEXT_SENTENCES = ("Also, {c}.", "Then {c}.", "After that, {c}.", "And {c}, please.", "Additionally, {c}.")
REPLIES = ("Done.", "All set.", "I've taken care of that.", "Here is what I found.", "That went through.")
_WORD = re.compile(r"[a-z]+")
VARIABLE_KINDS = {"date", "person", "enum"} | set(pools())
_GENERIC_WORDS = {"get", "list", "find", "search", "show", "set", "create", "the", "a", "an", "of", "for",
                  "to", "in", "and", "or", "by", "with", "on", "from", "at", "is", "my", "your", "new"}  # fmt: skip


@dataclass
class Sample:
    messages: list[dict]
    tools: list[dict]
    calls: list[dict]
    meta: dict = field(default_factory=dict)


@dataclass
class Clause:
    api: Api
    values: list[dict[str, Value]]  # one value set per call the clause asks for
    text: str
    skeleton: str

    def calls(self) -> list[dict]:
        return [{"name": self.api.name, "arguments": arguments(self.api, v)} for v in self.values]


def _glue(parts: list[str]) -> str:
    out = ""
    for p in parts:
        out += p if (not out or p[:1] in ",:;.") else " " + p
    return out


def _spec_order(api: Api, name: str) -> int:
    """Where the leaf named `name` (maybe renamed by evolution, e.g. city -> cities) sits in the tree's order."""
    names = [p.name for p in api.spec.params]
    spec_name = next((p.spec.name for _, p in api.leaves() if p.name == name), name)
    return names.index(spec_name) if spec_name in names else len(names)


def draw_values(api: Api, rng: random.Random, mention_p: float = 0.45) -> dict[str, Value]:
    """Values for the required leaves and, with probability `mention_p`, each optional one."""
    out: dict[str, Value] = {}
    used: set[str] = set()
    for _, p in api.leaves():
        if not (p.required or rng.random() < mention_p):
            continue
        for _ in range(4):  # two arguments of one call should not say the same thing ("from Oslo to Oslo")
            v = draw(p.spec.kind, rng, p.schema)
            if json.dumps(v.value) not in used:
                break
        if p.spec.kind.name == "bool" and not v.value and not p.spec.false_phrases:
            if not p.required:
                continue
            v = Value(True, "", "bool_true")
        used.add(json.dumps(v.value))
        out[p.name] = v
    _order_dates(api, out, rng)
    return out


def _order_dates(api: Api, values: dict[str, Value], rng: random.Random) -> None:
    """Later date parameters follow the first one by 1-14 days (a stay ends after it starts)."""
    names = sorted(
        (n for n, v in values.items() if v.form.startswith("date_")), key=lambda n: _spec_order(api, n)
    )
    if len(names) < 2:
        return
    d = dt.date.fromisoformat(values[names[0]].value)
    for n in names[1:]:
        d = d + dt.timedelta(days=rng.randint(1, 14))
        values[n] = draw_date(rng, d)


def arguments(api: Api, values: dict[str, Value]) -> dict:
    """The call's arguments: leaf values placed into the API's (possibly nested) layout."""
    args: dict = {}
    for item in api.layout:
        if hasattr(item, "members"):
            sub = {m.name: values[m.name].value for m in item.members if m.name in values}  # type: ignore[union-attr]
            if sub:
                args[item.name] = sub
        elif item.name in values:
            args[item.name] = values[item.name].value
    return args


def _phrase(api: Api, name: str, v: Value, rng: random.Random, text: str | None = None) -> tuple[str, str]:
    p = next(p for _, p in api.leaves() if p.name == name)
    if p.spec.kind.name == "bool":
        ph = rng.choice(p.spec.phrases if v.value else p.spec.false_phrases)
        return ph, ph
    ph = rng.choice(p.spec.phrases)
    return ph, ph.replace("{v}", v.text if text is None else text)


def _phrases(api: Api, values: dict[str, Value], rng: random.Random) -> list[tuple[str, str, str]]:
    """(parameter, phrase skeleton, phrase text): required arguments in tree order, optional ones shuffled."""
    required = {p.name for _, p in api.leaves() if p.required}
    req = sorted((n for n in values if n in required), key=lambda n: _spec_order(api, n))
    opt = [n for n in values if n not in required]
    rng.shuffle(opt)
    out = [(n, *_phrase(api, n, values[n], rng)) for n in req + opt]
    # "... and notify me" reads as the end of a request, not its middle
    return [o for o in out if not o[1].startswith("and ")] + [o for o in out if o[1].startswith("and ")]


def make_clause(api: Api, rng: random.Random, mention_p: float = 0.45) -> Clause:
    values = draw_values(api, rng, mention_p)
    intent = rng.choice(api.spec.intents)
    parts = [("", intent, intent), *_phrases(api, values, rng)]
    return Clause(api, [values], _glue([t for *_, t in parts]), _glue([s for _, s, _ in parts]))


def make_parallel_clause(api: Api, rng: random.Random, k: int, mention_p: float = 0.35) -> Clause | None:
    """Either several values of one argument ("weather in Oslo, Lima and Quito") or several requests."""
    intent = rng.choice(api.spec.intents)
    base = draw_values(api, rng, mention_p)
    # vary an argument that names a thing (a city, a person, a title, a date), not an amount or an id
    vary = [p.name for _, p in api.leaves()
            if p.name in base and p.required and not p.is_array and p.spec.kind.name in VARIABLE_KINDS
            and not any('"' in ph for ph in p.spec.phrases)]  # fmt: skip
    if vary and rng.random() < 0.5:
        n = rng.choice(vary)
        p = next(p for _, p in api.leaves() if p.name == n)
        seen, vals = {json.dumps(base[n].value)}, [base[n]]
        for _ in range(k * 4):
            v = draw(p.spec.kind, rng, p.schema)
            if json.dumps(v.value) not in seen and all(v.text != o.text for o in base.values()):
                seen.add(json.dumps(v.value))
                vals.append(v)
            if len(vals) == k:
                break
        if len(vals) < 2:
            return None
        sets = [{**base, n: v} for v in vals]
        listed = join_list([v.text for v in vals], rng)
        parts = [("", intent, intent)]
        for name, ph_s, ph_t in _phrases(api, base, rng):
            parts.append(
                (name, *_phrase(api, n, vals[0], rng, text=listed)) if name == n else (name, ph_s, ph_t)
            )
        return Clause(api, sets, _glue([t for *_, t in parts]), _glue([s for _, s, _ in parts]))
    sets, texts, skels = [base], [], []
    for _ in range(k - 1):
        sets.append(draw_values(api, rng, mention_p))
    if len({json.dumps(arguments(api, s), sort_keys=True) for s in sets}) < len(sets):
        return None
    joiner = rng.choice(SAME_JOINERS)
    for i, s in enumerate(sets):
        parts = _phrases(api, s, rng)
        text, skel = _glue([t for *_, t in parts]), _glue([sk for _, sk, _ in parts])
        if i:  # "..., and : lentil soup" -> "..., and lentil soup"
            text, skel = text.lstrip(",:; "), skel.lstrip(",:; ")
        texts.append(text)
        skels.append(skel)
    return Clause(
        api, sets, _glue([intent, joiner.join(texts).strip()]), _glue([intent, joiner.join(skels).strip()])
    )


def sentence(clauses: list[Clause], rng: random.Random, context: tuple[str, ...] = ()) -> tuple[str, str]:
    """(query, skeleton): the clauses in one opener, or the later ones as follow-up sentences."""
    opener = rng.choice(OPENERS)
    if len(clauses) > 1 and rng.random() < 0.4:
        first = opener.replace("{c}", clauses[0].text)
        first_s = opener.replace("{c}", clauses[0].skeleton)
        rest = [rng.choice(NEXT_SENTENCES) for _ in clauses[1:]]
        text = " ".join(
            [tidy(first)] + [r.replace("{c}", c.text) for r, c in zip(rest, clauses[1:], strict=True)]
        )
        skel = " ".join(
            [first_s] + [r.replace("{c}", c.skeleton) for r, c in zip(rest, clauses[1:], strict=True)]
        )
    else:
        joiners = [rng.choice(MULTI_JOINERS) for _ in clauses[1:]]
        body, body_s = clauses[0].text, clauses[0].skeleton
        for j, c in zip(joiners, clauses[1:], strict=True):
            body, body_s = body + j + c.text, body_s + j + c.skeleton
        text, skel = opener.replace("{c}", body), opener.replace("{c}", body_s)
    text, skel = tidy(text), tidy(skel)
    if context and rng.random() < 0.3:
        ctx = rng.choice(context)
        text, skel = f"{ctx} {text}", f"{ctx} {skel}"
    return text, skel


def tidy(text: str) -> str:
    """Punctuation left by phrase joins (", ." / ",," / "p.m..") and a capital first letter."""
    text = re.sub(r"\s+([,.?;])", r"\1", text)
    text = re.sub(r"[,;]+([.?!])", r"\1", text)
    text = re.sub(r",{2,}", ",", text).replace(".m..", ".m.")
    return text[:1].upper() + text[1:]


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
        c = make_clause(api, rng)
        text, skel = sentence([c], rng, context)
        others = unrelated(api, pool, rng, rng.randint(1, 4))
        if not others:
            return None
        return Sample(
            [{"role": "user", "content": text}], _tools(others, rng), [], _meta(skel, [c], targets=[])
        )
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
