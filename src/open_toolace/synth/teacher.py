"""Teacher mode: ToolACE's synthesis driven by an LLM behind an OpenAI-compatible server.

  TSS  tool self-evolution synthesis: for sampled (domain, functionality) leaves of the tree the teacher
       writes an API as JSON, then rewrites it with an evolution operator (apis.OPS); every version passes
       `check_tools` or is rejected with its reasons.
  SDG  self-guided dialog generation with three agents: the *user* agent writes a request that needs the
       chosen tool(s), the *assistant* agent answers in the target format (the invocation prompt of
       prompts.py, so the teacher answers as the student will), the *tool* agent simulates results for
       multi-turn dialogs, after which the user agent asks again.
  DLV  dual-layer verification: the rule layer (verify.verify_example) and the model layer, a *judge* that
       flags hallucinated values and calls inconsistent with the request.

Every teacher output is parsed with json / calls.parse_calls (never eval); what cannot be parsed is a reject
with a reason, never a crash. The agents' templates are `prompts.PROMPTS["teacher_*"]` (override them with
`TeacherConfig.prompts`, a YAML file); each system prompt marks its role as `[agent: NAME]`.

    gen = make_generator("openai", "my-teacher", base_url="http://127.0.0.1:8000/v1", stop_at_call_end=False)
    examples, rejects = teacher_synthesize(gen, seed_domains, TeacherConfig(n_apis=20, n_dialogs=50))
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from open_toolace.checks import Reason, check_tools
from open_toolace.data.records import make_example
from open_toolace.formats import CallParseError, ToolCall, parse_calls, render_calls
from open_toolace.generation import Sampling
from open_toolace.prompts import format_tools, load_prompts, render_invocation, render_teacher
from open_toolace.synth.tree import Domain
from open_toolace.synth.verify import reject, verify_example

OPERATION_TEXT = {
    "add_parameter": "add one useful optional parameter",
    "add_constraint": "constrain one parameter (an enum of allowed values, a minimum/maximum, or a pattern)",
    "change_type": "change the type of one parameter to a better fitting one",
    "nest_object": "group two related parameters into one object parameter",
    "add_array": "turn one parameter into an array of values",
    "add_defaults": "give the optional parameters sensible defaults",
}
NEEDS = {
    "single": "exactly one call of `{name}`",
    "multiple": "exactly one call of `{name}`",
    "parallel": "`{name}` called {k} times with different values, in one message",
    "irrelevance": "what `{name}` does",
    "multi_turn": "exactly one call of `{name}`",
}


@dataclass
class TeacherConfig:
    model: str = field(default="teacher", metadata={"help": "model name the server serves"})
    base_url: str = field(
        default="http://127.0.0.1:8000/v1", metadata={"help": "OpenAI-compatible URL (.../v1)"}
    )
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "env var holding the API key"})
    concurrency: int = field(default=8, metadata={"help": "parallel requests"})
    temperature: float = field(default=0.7, metadata={"help": "sampling temperature of the agents"})
    max_new_tokens: int = field(default=768, metadata={"help": "token limit of each answer"})
    n_apis: int = field(default=40, metadata={"help": "APIs to synthesize (TSS)"})
    evolve_steps: int = field(default=1, metadata={"help": "evolution rewrites per API"})
    n_dialogs: int = field(default=200, metadata={"help": "dialogs to generate (SDG)"})
    mix: dict = field(
        default_factory=lambda: {
            "single": 0.3,
            "multiple": 0.25,
            "parallel": 0.2,
            "irrelevance": 0.1,
            "multi_turn": 0.15,
        },
        metadata={"help": "dialog type -> share"},
    )
    judge: bool = field(default=True, metadata={"help": "run the model layer of verification"})
    prompts: str | None = field(
        default=None, metadata={"help": "YAML of prompt overrides (prompts.load_prompts)"}
    )


def extract_json(text: str) -> Any:
    """The first JSON object or list in `text` (code fences and prose around it allowed); ValueError if none."""
    text = re.sub(r"```(?:json)?", "", text)
    dec = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch in "{[":
            try:
                return dec.raw_decode(text[i:])[0]
            except json.JSONDecodeError:
                continue
    raise ValueError("no JSON object in the answer")


@lru_cache(maxsize=4)
def _prompts(path: str | None) -> dict:
    return load_prompts(path)


def _msg(role: str, cfg: TeacherConfig, **values: Any) -> list[dict]:
    return render_teacher(role, _prompts(cfg.prompts), **values)


def _ask(gen: Any, requests: list[list[dict]], cfg: TeacherConfig, seed: int) -> list[str]:
    if not requests:
        return []
    sampling = Sampling(temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens, seed=seed)
    outs = gen.generate(requests, sampling, progress=False)
    return [o[0] if o else "" for o in outs]


def _parse_tool(text: str) -> tuple[dict | None, list[Reason]]:
    from open_toolace.formats.tools import ToolFormatError, parse_tool

    try:
        tool = parse_tool(extract_json(text)).to_dict()
    except (ValueError, ToolFormatError) as e:
        return None, [Reason("bad_json", f"teacher API is not a tool definition: {e}")]
    reasons = check_tools([tool])
    return (None, reasons) if reasons else (tool, [])


def synthesize_apis(
    gen: Any, domains: list[Domain], cfg: TeacherConfig, rng: random.Random
) -> tuple[list[dict], list[dict]]:
    """TSS: [(tool, domain)] as `{"tool", "domain", "ops"}` rows, and rejects."""
    from open_toolace.synth.apis import OPS

    leaves = [(d, f) for d in domains for f in d.functionalities]
    picks = [rng.choice(leaves) for _ in range(cfg.n_apis)]
    reqs = [_msg("api", cfg, domain=d.name, functionality=f,
                 examples=", ".join(a.name for a in d.apis if a.functionality == f)) for d, f in picks]  # fmt: skip
    rows, rejects, names = [], [], set()
    for (d, f), text in zip(picks, _ask(gen, reqs, cfg, rng.randrange(1 << 30)), strict=True):
        tool, reasons = _parse_tool(text)
        if tool is None:
            rejects.append(reject({"teacher_output": text, "domain": d.name}, reasons, "tss"))
            continue
        rows.append({"tool": tool, "domain": d.name, "functionality": f, "ops": []})
    for _ in range(cfg.evolve_steps):
        ops = [rng.choice(OPS) for _ in rows]
        reqs = [
            _msg("evolve", cfg, api=json.dumps(r["tool"]), operation=OPERATION_TEXT[op])
            for r, op in zip(rows, ops, strict=True)
        ]
        for r, op, text in zip(rows, ops, _ask(gen, reqs, cfg, rng.randrange(1 << 30)), strict=True):
            tool, reasons = _parse_tool(text)
            if tool is None or tool["name"] != r["tool"]["name"]:
                reasons = reasons or [Reason("renamed", "the evolved API changed its name")]
                rejects.append(reject({"teacher_output": text, "base": r["tool"]}, reasons, "tss_evolve"))
                continue
            r["tool"], r["ops"] = tool, [*r["ops"], op]
    kept = []
    for r in rows:  # one definition per name: a second API with a taken name would make calls ambiguous
        if r["tool"]["name"] in names:
            rejects.append(
                reject(r, [Reason("duplicate_name", f"API name {r['tool']['name']!r} taken")], "tss")
            )
            continue
        names.add(r["tool"]["name"])
        kept.append(r)
    return kept, rejects


def _conversation(messages: list[dict]) -> str:
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages)


def generate_dialogs(
    gen: Any, apis: list[dict], cfg: TeacherConfig, rng: random.Random
) -> tuple[list[dict], list[dict]]:
    """SDG: dialogs (internal records) from the agents, and rejects; then the rule layer and the judge."""
    if not apis:
        return [], []
    kinds, weights = zip(*[(k, w) for k, w in cfg.mix.items() if w > 0], strict=True)
    plans = []
    for i in range(cfg.n_dialogs):
        kind = rng.choices(kinds, weights)[0]
        target = rng.choice(apis)
        others = [a for a in apis if a["tool"]["name"] != target["tool"]["name"]]
        far = [a for a in others if a["domain"] != target["domain"]]
        if kind == "irrelevance":
            offered = rng.sample(far, min(len(far), rng.randint(1, 3)))
            if not offered:
                continue
        else:
            offered = [
                target,
                *rng.sample(others, min(len(others), 0 if kind == "single" else rng.randint(1, 3))),
            ]
        rng.shuffle(offered)
        need = NEEDS[kind].format(name=target["tool"]["name"], k=rng.randint(2, 3))
        plans.append(
            {
                "i": i,
                "kind": kind,
                "target": target,
                "tools": [a["tool"] for a in offered],
                "need": need,
                "messages": [],
            }
        )
    seed = rng.randrange(1 << 30)
    rejects: list[dict] = []

    def user_turn(ps: list[dict]) -> None:
        reqs = [_msg("user", cfg, tools=format_tools([p["target"]["tool"]] if p["kind"] == "irrelevance" else p["tools"]),
                     history=("Conversation so far:\n" + _conversation(p["messages"]) + "\n") if p["messages"] else "",
                     need=p["need"]) for p in ps]  # fmt: skip
        for p, text in zip(ps, _ask(gen, reqs, cfg, seed), strict=True):
            p["messages"].append({"role": "user", "content": text.strip()})

    def assistant_turn(ps: list[dict]) -> list[dict]:
        ok = []
        for p, text in zip(
            ps,
            _ask(
                gen,
                [render_invocation(p["tools"], p["messages"], _prompts(cfg.prompts)) for p in ps],
                cfg,
                seed + 1,
            ),
            strict=True,
        ):
            if not p["messages"][-1]["content"]:
                rejects.append(reject(p, [Reason("empty_user_turn", "the user agent said nothing")], "sdg"))
                continue
            try:
                p["calls"] = [c.to_dict() for c in parse_calls(text)]
            except CallParseError as e:
                rejects.append(
                    reject(
                        {**p, "teacher_output": text}, [Reason("unparsable_call", f"{e.reason}: {e}")], "sdg"
                    )
                )
                continue
            if (p["kind"] == "irrelevance") != (not p["calls"]):
                rejects.append(
                    reject(
                        p, [Reason("wrong_call_count", f"a {p['kind']} dialog answered {text[:80]!r}")], "sdg"
                    )
                )
                continue
            ok.append(p)
        return ok

    user_turn(plans)
    plans = assistant_turn(plans)
    multi = [p for p in plans if p["kind"] == "multi_turn"]
    if multi:  # tool agent answers the first call, the assistant replies, the user asks for something else
        by_name = {a["tool"]["name"]: a["tool"] for a in apis}
        tool_reqs = [
            _msg(
                "tool",
                cfg,
                api=json.dumps(by_name.get(p["calls"][0]["name"], {})),
                call=json.dumps(p["calls"][0]),
            )
            for p in multi
        ]
        for p, text in zip(multi, _ask(gen, tool_reqs, cfg, seed + 2), strict=True):
            p["first"] = {"messages": list(p["messages"]), "calls": p["calls"]}  # verified below, as history
            p["messages"] += [{"role": "assistant", "content": render_calls([ToolCall.from_dict(c) for c in p["calls"]])},
                              {"role": "tool", "content": text.strip() or "{}"}]  # fmt: skip
        replies = _ask(
            gen,
            [
                _msg("reply", cfg, request=p["messages"][0]["content"], result=p["messages"][-1]["content"])
                for p in multi
            ],
            cfg,
            seed + 3,
        )
        for p, text in zip(multi, replies, strict=True):
            p["messages"].append({"role": "assistant", "content": text.strip() or "Done."})
            others = [t["name"] for t in p["tools"] if t["name"] != p["calls"][0]["name"]]
            p["need"] = NEEDS["single"].format(name=rng.choice(others)) if others else p["need"]
        user_turn(multi)
        kept_multi = {id(p) for p in assistant_turn(multi)}
        plans = [p for p in plans if p["kind"] != "multi_turn" or id(p) in kept_multi]
    examples = []
    for p in plans:
        ex = make_example(f"synth-teacher-{p['i']:06d}", p["messages"], p["tools"], p["calls"], source="synth",
                          mode="teacher", kind="call" if p["calls"] else "no_call", type=p["kind"], domain=p["target"]["domain"],
                          apis=[c["name"] for c in p["calls"]], ops=p["target"]["ops"], teacher=cfg.model)  # fmt: skip
        reasons = verify_example(ex)
        if not reasons and "first" in p:  # a hallucinated call in the history is bad data too
            first = make_example(
                "first", p["first"]["messages"], p["tools"], p["first"]["calls"], source="synth"
            )
            reasons = verify_example(first)
        if reasons:
            rejects.append(reject(ex, reasons, "rule"))
        else:
            examples.append(ex)
    if cfg.judge:
        examples, judged = judge(gen, examples, cfg, seed + 4)
        rejects += judged
    return examples, rejects


def judge(gen: Any, examples: list[dict], cfg: TeacherConfig, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """The model layer: the teacher as judge of hallucination and consistency; (kept, rejects)."""
    reqs = [_msg("judge", cfg, tools=format_tools(ex["tools"]), conversation=_conversation(ex["messages"]),
                 calls=render_calls([ToolCall.from_dict(c) for c in ex["calls"]])) for ex in examples]  # fmt: skip
    kept, rejects = [], []
    for ex, text in zip(examples, _ask(gen, reqs, cfg, seed), strict=True):
        try:
            verdict = extract_json(text)
            if not isinstance(verdict, dict) or not {"hallucination", "consistent"} <= set(verdict):
                raise ValueError("missing keys")
        except ValueError as e:
            rejects.append(reject(ex, [Reason("judge_unparsable", f"{e}: {text[:120]!r}")], "judge"))
            continue
        why = str(verdict.get("reason", ""))
        if verdict["hallucination"] is not False:
            rejects.append(reject(ex, [Reason("judge_hallucination", why)], "judge"))
        elif verdict["consistent"] is not True:
            rejects.append(reject(ex, [Reason("judge_inconsistent", why)], "judge"))
        else:
            kept.append(ex)
    return kept, rejects


def teacher_synthesize(
    gen: Any, domains: list[Domain], cfg: TeacherConfig, seed: int = 0
) -> tuple[list[dict], list[dict], list[dict]]:
    """TSS then SDG then verification: (examples, rejects, api rows)."""
    rng = random.Random(f"teacher:{seed}")
    apis, rejects = synthesize_apis(gen, domains, cfg, rng)
    examples, more = generate_dialogs(gen, apis, cfg, rng)
    return examples, rejects + more, apis


def make_teacher(cfg: TeacherConfig) -> Any:
    from open_toolace.generation import make_generator

    return make_generator("openai", cfg.model, base_url=cfg.base_url, api_key_env=cfg.api_key_env,
                          concurrency=cfg.concurrency, stop_at_call_end=False, on_error="empty")  # fmt: skip
