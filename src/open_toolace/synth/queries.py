"""How a request is said: the offline stand-in for the user turns of ToolACE's dialog agents.

A query is an opener ("Could you {c}?") around clauses; a clause is an API's intent ("find flights")
followed by one phrase per argument ("from {v}", "on {v}"), each value said in one of its natural forms.
`make_clause(api, rng)` and `make_parallel_clause(api, rng, k)` build clauses with the calls they ask for;
`sentence(clauses, rng, context)` joins them into one request. The sample types built from them
(single, multiple, parallel, ..., abstentions) are `synth/samples.py`.

    rng = random.Random(0)
    text, skeleton = sentence([make_clause(api, rng)], rng)
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from dataclasses import dataclass

from open_toolace.synth.apis import Api
from open_toolace.synth.kinds import Value, join_list, pools
from open_toolace.synth.tree import ParamSpec
from open_toolace.synth.values import draw, draw_date

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
VARIABLE_KINDS = {"date", "person", "enum"} | set(pools())
# On calculators and look-ups a stated number is the thing asked about ("the factorial of 5, 7 and 9",
# "its population in 1990 and 2010"), so it may vary too; on services a number is a detail (3 nights).
NUMERIC_VARIABLE_KINDS = {"whole", "num", "year"}


@dataclass
class Clause:
    api: Api
    values: list[dict[str, Value]]  # one value set per call the clause asks for
    text: str
    skeleton: str

    def calls(self) -> list[dict]:
        return [{"name": self.api.name, "arguments": arguments(self.api, v)} for v in self.values]


_JOIN_WORDS = {"the", "a", "an", "to", "of", "for", "in", "on", "and", "with", "at", "by", "from"}
_DOUBLED = re.compile(r"\b(" + "|".join(sorted(_JOIN_WORDS)) + r")\s+\1\b", re.I)


def _glue(parts: list[str]) -> str:
    """Phrases joined by spaces; a function word that ends one phrase and starts the next is said once
    ("lived in" + "in 2004" -> "lived in 2004")."""
    out = ""
    for p in parts:
        if not out or p[:1] in ",:;.":
            out += p
            continue
        last, _, rest = p.partition(" ")
        if rest and last.lower() in _JOIN_WORDS and out.rsplit(" ", 1)[-1].lower() == last.lower():
            p = rest
        out += " " + p
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
    # A bare identifier reads right only straight after the intent ("track flight FL-12345"); later ones say
    # what they are ("... with coupon code SAVE-70371"), or a query becomes a run of codes.
    for i, (n, skel, text) in enumerate(out):
        p = next(p for _, p in api.leaves() if p.name == n)
        if i > 0 and skel == "{v}" and p.spec.kind.name == "id":
            noun = re.sub(r"_id$", "", p.spec.name).replace("_", " ")
            out[i] = (n, f"with {noun} {skel}", f"with {noun} {text}")
    # an optional "... and notify me" reads as the end of a request, not its middle; a required "and {v}"
    # stays in tree order, where it completes the phrase before it ("between (1, 2) and (4, 6)")
    last = [o for o in out if o[0] not in required and o[1].startswith("and ")]
    return [o for o in out if o not in last] + last


def make_clause(api: Api, rng: random.Random, mention_p: float = 0.45, omit: str | None = None) -> Clause:
    """One request of `api` with its values; `omit` leaves that argument out (a request missing a value)."""
    values = draw_values(api, rng, mention_p)
    values.pop(omit, None)
    intent = rng.choice(api.spec.intents)
    parts = [("", intent, intent), *_phrases(api, values, rng)]
    return Clause(api, [values], _glue([t for *_, t in parts]), _glue([s for _, s, _ in parts]))


def _listable(api: Api, spec: ParamSpec) -> bool:
    """Whether one phrase of this parameter can carry several values. A number is listed only as the last
    required argument and never glued to a unit, so no other number runs into the list ("a = 2, 3 and 4,
    b = 5", "6, 8 and 9%"). A calculator's option is not listed either ("124 grams and pounds to kg")."""
    if any('"' in ph for ph in spec.phrases):
        return False
    if spec.kind.name in VARIABLE_KINDS:
        return not (api.spec.kind == "calculator" and spec.kind.name == "enum")
    last = [p.name for p in api.spec.params if p.required][-1:]
    return (api.spec.kind != "service" and spec.kind.name in NUMERIC_VARIABLE_KINDS and [spec.name] == last
            and all(ph.endswith("{v}") or re.search(r"\{v\}\s", ph) for ph in spec.phrases))  # fmt: skip


def make_parallel_clause(api: Api, rng: random.Random, k: int, mention_p: float = 0.35) -> Clause | None:
    """Either several values of one argument ("weather in Oslo, Lima and Quito") or several requests."""
    intent = rng.choice(api.spec.intents)
    base = draw_values(api, rng, mention_p)
    # vary an argument that names a thing (a city, a person, a title, a date), not an amount or an id
    vary = [p.name for _, p in api.leaves()
            if p.name in base and p.required and not p.is_array and _listable(api, p.spec)]  # fmt: skip
    if vary and rng.random() < 0.5:
        n = rng.choice(vary)
        p = next(p for _, p in api.leaves() if p.name == n)
        # no listed value may repeat another argument of the call ("from pounds to pounds")
        seen, vals = {json.dumps(o.value) for o in base.values()}, [base[n]]
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
    """Punctuation left by phrase joins (", ." / ",," / "p.m.."), a function word said twice where a phrase
    meets its value ("in in progress"), and a capital first letter."""
    text = _DOUBLED.sub(r"\1", text)
    text = re.sub(r"\s+([,.?;])", r"\1", text)
    text = re.sub(r"[,;]+([.?!])", r"\1", text)
    text = re.sub(r",{2,}", ",", text).replace(".m..", ".m.")
    return text[:1].upper() + text[1:]
