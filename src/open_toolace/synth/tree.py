"""The API context tree (domain -> functionality -> API) that seeds synthesis, read from `tree.yaml`.

Each API leaf is an `ApiSpec`: what it does, the verb phrases a user says to ask for it, and its
parameters with their value kinds and phrasings (see the header of tree.yaml for the line format).
`load_tree()` parses and checks the file once; a mistake names the domain, API and parameter.

    domains = load_tree()                 # list[Domain], in file order
    api = domains[0].apis[0]              # ApiSpec(name='search_flights', ...)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from open_toolace.synth.values import Kind, kind_schema, parse_kind


class _NoDefault:
    """'This parameter has no default' (None is a real default); survives deepcopy as the same object."""

    def __repr__(self) -> str:
        return "NO_DEFAULT"

    def __copy__(self) -> _NoDefault:
        return self

    def __deepcopy__(self, memo: dict) -> _NoDefault:
        return self


NO_DEFAULT: Any = _NoDefault()
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class TreeError(ValueError):
    """The domain tree file has a mistake; the message names where."""


@dataclass(frozen=True)
class ParamSpec:
    name: str
    kind: Kind
    required: bool
    phrases: tuple[str, ...]  # each holds "{v}"; for a bool, the ways of saying "true"
    false_phrases: tuple[str, ...]  # a bool's ways of saying "false" (written "~..." in the file)
    description: str
    default: Any = NO_DEFAULT

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT


@dataclass(frozen=True)
class ApiSpec:
    name: str
    description: str
    domain: str
    functionality: str
    intents: tuple[str, ...]
    params: tuple[ParamSpec, ...]


@dataclass(frozen=True)
class Domain:
    name: str
    context: tuple[str, ...]  # sentences a user may say before the request
    functionalities: tuple[str, ...]
    apis: tuple[ApiSpec, ...]


def parse_param(name: str, line: str, where: str) -> ParamSpec:
    """`"enum:a,b?=a | in {v} / as {v} | Description."` -> ParamSpec."""
    parts = [p.strip() for p in str(line).split(" | ")]
    if len(parts) < 2:
        raise TreeError(f"{where}: expected 'KIND | phrases | description', got {line!r}")
    kind_text, phrase_text = parts[0], parts[1]
    description = parts[2] if len(parts) > 2 else name.replace("_", " ").capitalize() + "."
    default: Any = NO_DEFAULT
    if "=" in kind_text:
        kind_text, raw = kind_text.split("=", 1)
        default = yaml.safe_load(raw)
    required = not kind_text.endswith("?")
    kind_text = kind_text.rstrip("?")
    try:
        kind = parse_kind(kind_text)
    except ValueError as e:
        raise TreeError(f"{where}: {e}") from e
    phrases = tuple(p.strip() for p in phrase_text.split(" / ") if p.strip())
    true_p = tuple(p for p in phrases if not p.startswith("~"))
    false_p = tuple(p[1:].strip() for p in phrases if p.startswith("~"))
    if not _NAME.match(name):
        raise TreeError(f"{where}: parameter name {name!r} is not snake_case")
    if kind.name == "bool":
        if not true_p or any("{v}" in p for p in phrases):
            raise TreeError(f"{where}: a bool needs phrases without {{v}} ('yes phrase / ~no phrase')")
    elif not true_p or any("{v}" not in p for p in true_p) or false_p:
        raise TreeError(f"{where}: every phrase must hold {{v}}: {phrase_text!r}")
    if default is not NO_DEFAULT:
        if required:
            raise TreeError(f"{where}: a default needs an optional parameter ('?=')")
        schema = kind_schema(kind)
        if "enum" in schema and default not in schema["enum"]:
            raise TreeError(f"{where}: default {default!r} is not one of {schema['enum']}")
    return ParamSpec(name, kind, required, true_p, false_p, description, default)


def parse_tree(data: dict) -> list[Domain]:
    if not isinstance(data, dict) or not data:
        raise TreeError("the tree must be a mapping of domains")
    domains, seen = [], set()
    for dname, body in data.items():
        if not isinstance(body, dict):
            raise TreeError(f"{dname}: expected a mapping of functionalities")
        context = tuple(str(c) for c in body.get("ctx", ()))
        apis, funcs = [], []
        for fname, fbody in body.items():
            if fname == "ctx":
                continue
            funcs.append(fname)
            for aname, a in (fbody or {}).items():
                where = f"{dname} / {fname} / {aname}"
                if aname in seen:
                    raise TreeError(f"{where}: API name used twice")
                if not _NAME.match(aname) or not isinstance(a, dict):
                    raise TreeError(f"{where}: bad API name or body")
                seen.add(aname)
                intents = a.get("i") or []
                if isinstance(intents, str):
                    intents = [intents]
                params = tuple(
                    parse_param(p, line, f"{where} / {p}") for p, line in (a.get("p") or {}).items()
                )
                if not intents or not a.get("d") or not params:
                    raise TreeError(f"{where}: needs d (description), i (intents) and p (parameters)")
                apis.append(ApiSpec(aname, str(a["d"]), dname, fname, tuple(intents), params))
        domains.append(Domain(dname, context, tuple(funcs), tuple(apis)))
    return domains


@cache
def _load_default() -> tuple[Domain, ...]:
    text = resources.files("open_toolace.synth").joinpath("tree.yaml").read_text(encoding="utf-8")
    return tuple(parse_tree(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))))


def load_tree(path: str | Path | None = None) -> list[Domain]:
    """The packaged tree, or a tree file of your own in the same format."""
    if path is None:
        return list(_load_default())
    p = Path(path)
    if not p.exists():
        raise TreeError(f"domain tree not found: {p}")
    return parse_tree(yaml.safe_load(p.read_text(encoding="utf-8")))


def split_domains(domains: list[Domain], held_out: list[str]) -> tuple[list[Domain], list[Domain]]:
    """(seed domains, held-out domains); an unknown held-out name is an error, not a silent no-op."""
    names = {d.name for d in domains}
    unknown = sorted(set(held_out) - names)
    if unknown:
        raise TreeError(f"held-out domain(s) {unknown} not in the tree; known: {sorted(names)}")
    return [d for d in domains if d.name not in held_out], [d for d in domains if d.name in held_out]
