"""The API context tree (domain -> functionality -> API) that seeds synthesis, read from `tree.yaml` (web and
service APIs) and `tree_compute.yaml` (calculators and fact look-ups): one tree, kept in two files by theme.

Each API leaf is an `ApiSpec`: what it does, the verb phrases a user says to ask for it, and its
parameters with their value kinds and phrasings (see the header of tree.yaml for the line format).
A parameter may also be an object of member parameters (`{d: ..., p: {member: line, ...}}`), which the
pool turns into a nested `object` property, and an API name may be dotted (`geometry.circle_area`).
`load_tree()` parses and checks the files once; a mistake names the file, domain, API and parameter.

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

from open_toolace.synth.kinds import COMPOSITE, FORMAT_EXAMPLE, Kind, kind_schema, parse_kind


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
_API_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$")  # one optional family prefix
TREE_FILES = ("tree.yaml", "tree_compute.yaml")
# What an API is: a service call (book, send, search), a calculator (a formula over stated numbers) or a
# look-up of facts; the pool adds only generic parameters that make sense for it (generics.generic_fits).
API_KINDS = ("service", "calculator", "lookup")


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
class GroupSpec:
    """An object parameter designed in the tree: its members are leaves of `ApiSpec.params`."""

    name: str
    description: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class ApiSpec:
    name: str
    description: str
    domain: str
    functionality: str
    intents: tuple[str, ...]
    params: tuple[ParamSpec, ...]  # every leaf, group members included, in tree order
    groups: tuple[GroupSpec, ...] = ()
    kind: str = "service"


@dataclass(frozen=True)
class Domain:
    name: str
    context: tuple[str, ...]  # sentences a user may say before the request
    functionalities: tuple[str, ...]
    apis: tuple[ApiSpec, ...]
    kind: str = "service"


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
    base = kind.item or kind
    # a composite place or a comma-separated list may be said in part ("in Boston" -> "Boston, MA")
    if (base.name in COMPOSITE or base.name == "csv") and not FORMAT_EXAMPLE.search(description):
        raise TreeError(
            f"{where}: a {base.name} parameter's description must give its format with an "
            "example (\"e.g. 'Tucson, AZ'\")"
        )
    if default is not NO_DEFAULT:
        if required:
            raise TreeError(f"{where}: a default needs an optional parameter ('?=')")
        schema = kind_schema(kind)
        if "enum" in schema and default not in schema["enum"]:
            raise TreeError(f"{where}: default {default!r} is not one of {schema['enum']}")
    return ParamSpec(name, kind, required, true_p, false_p, description, default)


def _parse_params(body: dict, where: str) -> tuple[tuple[ParamSpec, ...], tuple[GroupSpec, ...]]:
    """Leaves and designed groups of one API; a group is `name: {d: description, p: {member: line}}`."""
    leaves: list[ParamSpec] = []
    groups: list[GroupSpec] = []
    for name, line in (body or {}).items():
        if not isinstance(line, dict):
            leaves.append(parse_param(name, line, f"{where} / {name}"))
            continue
        gwhere, body_p = f"{where} / {name}", line.get("p") or {}
        if not _NAME.match(name) or not line.get("d") or not body_p or not isinstance(body_p, dict):
            raise TreeError(f"{gwhere}: an object parameter needs a snake_case name, d and p (its members)")
        if any(isinstance(ml, dict) for ml in body_p.values()):
            raise TreeError(f"{gwhere}: objects nest one level deep")
        members = [parse_param(m, ml, f"{gwhere} / {m}") for m, ml in body_p.items()]
        groups.append(GroupSpec(name, str(line["d"]), tuple(m.name for m in members)))
        leaves.extend(members)
    names = [p.name for p in leaves] + [g.name for g in groups]
    if len(set(names)) < len(names):  # values are keyed by leaf name, so members must be unique too
        raise TreeError(f"{where}: parameter and member names must be unique within an API")
    return tuple(leaves), tuple(groups)


def parse_tree(data: dict) -> list[Domain]:
    if not isinstance(data, dict) or not data:
        raise TreeError("the tree must be a mapping of domains")
    domains, seen = [], set()
    for dname, body in data.items():
        if not isinstance(body, dict):
            raise TreeError(f"{dname}: expected a mapping of functionalities")
        context = tuple(str(c) for c in body.get("ctx", ()))
        dkind = str(body.get("kind", "service"))
        if dkind not in API_KINDS:
            raise TreeError(f"{dname}: kind must be one of {API_KINDS}, got {dkind!r}")
        apis, funcs = [], []
        for fname, fbody in body.items():
            if fname in ("ctx", "kind"):
                continue
            funcs.append(fname)
            for aname, a in (fbody or {}).items():
                where = f"{dname} / {fname} / {aname}"
                if aname in seen:
                    raise TreeError(f"{where}: API name used twice")
                if not _API_NAME.match(aname) or not isinstance(a, dict):
                    raise TreeError(f"{where}: bad API name or body")
                seen.add(aname)
                intents = a.get("i") or []
                if isinstance(intents, str):
                    intents = [intents]
                params, groups = _parse_params(a.get("p"), where)
                if not intents or not a.get("d") or not params:
                    raise TreeError(f"{where}: needs d (description), i (intents) and p (parameters)")
                apis.append(ApiSpec(aname, str(a["d"]), dname, fname, tuple(intents), params, groups, dkind))
        domains.append(Domain(dname, context, tuple(funcs), tuple(apis), dkind))
    return domains


def _read_yaml(text: str) -> Any:
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@cache
def _load_default() -> tuple[Domain, ...]:
    """The packaged files as one tree: domains and API names must be unique across them."""
    merged: dict = {}
    for fname in TREE_FILES:
        data = _read_yaml(resources.files("open_toolace.synth").joinpath(fname).read_text(encoding="utf-8"))
        try:
            parse_tree(data)  # checked alone first, so a mistake names its file
        except TreeError as e:
            raise TreeError(f"{fname}: {e}") from e
        twice = sorted(set(data) & set(merged))
        if twice:
            raise TreeError(f"{fname}: domain(s) {twice} already defined in another tree file")
        merged.update(data)
    return tuple(parse_tree(merged))  # repeats the API-name check across the files


def load_tree(path: str | Path | None = None) -> list[Domain]:
    """The packaged tree (tree.yaml + tree_compute.yaml), or a tree file of your own in the same format."""
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
