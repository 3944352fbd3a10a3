"""Opaque tool names for call samples (`TaskMixConfig.alias_share`).

Why: in a synthesized mixture a call's request nearly always shares a word with the called tool's name
(1,489 of 1,763 call samples of the cpu bootstrap), while a constructed abstention's tools are drawn
*unlike* the needed one, so most no-call samples share none. The model learns the shortcut "no shared word
-> `[]`": the cpu bootstrap answers `[]` on 37 of the 99 live_simple items whose request shares no word
with the function's name, against 10 of 159 that do (docs/bootstrap_levers.md). Renaming the called tool of
a share of call samples to a name that shares no word with the request (its description and parameters
unchanged) takes the cue away, so the description has to decide; it also shows unusual names (CamelCase,
initialisms, generic service verbs: `ChaFod`, `requests.get`) to be copied exactly.

    opaque_aliases({"get_weather"}, messages, {"get_weather", "book_hotel"}, rng)  # -> {"get_weather": "svc.run_job"}
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable

from open_toolace.formats import ToolCall, render_calls
from open_toolace.formats.tools import name_words

_SPACES = ("api", "svc", "core", "ops", "client", "backend", "engine", "hub", "gateway", "app")
_VERBS = ("run", "execute", "handle", "process", "invoke", "dispatch", "perform", "submit", "trigger")
_OBJECTS = ("job", "task", "action", "op", "request", "item", "entry", "call", "step")
_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


def _generic(rng: random.Random) -> str:  # svc.run_job, ops.handle, GatewayInvoke
    verb, space, obj = rng.choice(_VERBS), rng.choice(_SPACES), rng.choice(_OBJECTS)
    return rng.choice(
        (f"{space}.{verb}_{obj}", f"{space}.{verb}", f"{space.capitalize()}{verb.capitalize()}")
    )


def _code(rng: random.Random) -> str:  # TQ_4821, fn_k17, Op9b
    n = rng.randint(2, 9999)
    return rng.choice((f"{rng.choice(_LETTERS)}{rng.choice(_LETTERS)}_{n}", f"fn_{rng.choice(_LETTERS).lower()}{n}",
                       f"Op{n}{rng.choice(_LETTERS).lower()}"))  # fmt: skip


def _initials(name: str, rng: random.Random) -> str:  # calculate_compound_interest -> CCI_v2, cci
    letters = "".join(w[0] for w in name_words(name) if w[0].isalpha())
    if len(letters) < 2:
        return _code(rng)
    return rng.choice((letters.upper(), f"{letters.upper()}_v{rng.randint(1, 9)}", f"{letters}_tool"))


def word_stems(text: str) -> set[str]:
    """Word stems (first five letters of each word of three or more) of a request or a name."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text)
    return {w[:5] for w in re.split(r"[^a-z0-9]+", spaced.lower()) if len(w) > 2}


def opaque_aliases(
    needed: Iterable[str], messages: list[dict], taken: Iterable[str], rng: random.Random, tries: int = 8
) -> dict[str, str]:
    """`{name: alias}` for each needed tool: an identifier that shares no word stem with the messages' text
    and is unlike every name in `taken`. Empty when a needed name occurs in an assistant or tool turn (an
    earlier call: renaming would contradict the history) or no alias was found in `tries`."""
    text = " ".join(str(m.get("content") or "") for m in messages)
    history = " ".join(
        str(m.get("content") or "") for m in messages if m.get("role") not in ("system", "user")
    )
    needed = sorted(needed)
    if any(n in history for n in needed):
        return {}
    words, used, out = word_stems(text), set(taken), {}
    for name in needed:
        for _ in range(tries):
            style = rng.choice((_generic, _code, _initials))
            alias = style(name, rng) if style is _initials else style(rng)
            if alias not in used and not (word_stems(alias) & words) and alias.lower() != name.lower():
                break
        else:
            return {}
        out[name] = alias
        used.add(alias)
    return out


def renamed(tools: list[dict], calls: list[dict], alias: dict[str, str]) -> tuple[list[dict], str]:
    """The tools and the rendered calls with each name in `alias` replaced by its alias."""
    tools = [{**t, "name": alias.get(t["name"], t["name"])} for t in tools]
    calls = [ToolCall.from_dict({**c, "name": alias.get(c["name"], c["name"])}) for c in calls]
    return tools, render_calls(calls)
