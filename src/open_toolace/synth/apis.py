"""The API pool: tree leaves turned into JSON-Schema tools by evolution operators (ToolACE's TSS, offline).

Each `ApiSpec` from the tree becomes one or more `Api` variants (different names, different evolutions).
An evolution operator rewrites the parameter layout:

    add_parameter   an optional parameter from a generic set (language, currency, max_results, ...)
    add_constraint  an enum over a value pool, a min/max range, an id pattern, a date format
    change_type     integer <-> number, or an enum relaxed to a plain string
    nest_object     two or three parameters grouped into one object parameter
    add_array       a scalar parameter turned into an array of them (the query then names 1-3 values)
    add_defaults    optional parameters given defaults (and a required enum made optional with one)

    pool = build_pool(load_tree(), random.Random(0), variants=2)
    pool[0].tool()     # {"name": ..., "description": ..., "parameters": {"type": "object", ...}}
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from open_toolace.synth.generics import GENERIC, generic_fits
from open_toolace.synth.kinds import SCALAR_TYPES, kind_schema, plural, pools
from open_toolace.synth.numbers import int_range
from open_toolace.synth.tree import NO_DEFAULT, ApiSpec, Domain, ParamSpec

OPS = ("add_parameter", "add_constraint", "change_type", "nest_object", "add_array", "add_defaults")

_INT_KINDS = {"count", "int", "year", "minutes", "percent", "degrees", "whole"}
_NUM_KINDS = {"money", "km", "kg", "num", "rating"}
_ARRAYABLE = {"id", "email", "person", "enum"}  # plus every pool kind


@dataclass
class Param:
    """One leaf parameter of an evolved API: its tree spec plus the schema evolution gave it."""

    spec: ParamSpec
    name: str
    schema: dict  # JSON-Schema fragment without description/default
    required: bool
    description: str
    default: Any = NO_DEFAULT

    @property
    def is_array(self) -> bool:
        return self.schema.get("type") == "array"


@dataclass
class Group:
    """An object parameter made by `nest_object`; required when any member is."""

    name: str
    description: str
    members: list[Param]

    @property
    def required(self) -> bool:
        return any(m.required for m in self.members)


@dataclass
class Api:
    name: str
    base: str  # the tree API it came from: variants of one base never meet in a sample
    spec: ApiSpec
    description: str
    layout: list[Param | Group]
    ops: list[str] = field(default_factory=list)
    frozen: dict | None = None  # the tool definition, fixed once the pool is built (see `freeze`)

    @property
    def domain(self) -> str:
        return self.spec.domain

    def leaves(self) -> Iterator[tuple[str | None, Param]]:
        """(group name or None, leaf) for every leaf parameter, in layout order."""
        for item in self.layout:
            if isinstance(item, Group):
                for m in item.members:
                    yield item.name, m
            else:
                yield None, item

    def freeze(self) -> Api:
        """Fix the definition: samples then share one dict per API instead of rebuilding it."""
        self.frozen = None
        self.frozen = self.tool()
        return self

    def row(self) -> dict:
        """The API as an `.apis.jsonl` row: its tool, domain, base API and evolution ops."""
        return {"tool": self.tool(), "domain": self.domain, "base": self.base, "ops": self.ops}

    def tool(self) -> dict:
        """The tool definition (Tool.to_dict() shape)."""
        if self.frozen is not None:
            return self.frozen
        props: dict[str, Any] = {}
        for item in self.layout:
            if isinstance(item, Group):
                props[item.name] = {
                    "type": "object",
                    "description": item.description,
                    "properties": {m.name: _leaf_schema(m) for m in item.members},
                    "required": [m.name for m in item.members if m.required],
                }
            else:
                props[item.name] = _leaf_schema(item)
        required = [i.name for i in self.layout if i.required]
        return {"name": self.name, "description": self.description,
                "parameters": {"type": "object", "properties": props, "required": required}}  # fmt: skip


def _leaf_schema(p: Param) -> dict:
    out = {**copy.deepcopy(p.schema), "description": p.description}
    if p.default is not NO_DEFAULT:
        out["default"] = p.default
    return out


def _date_hint(p: ParamSpec) -> str:
    fmt = {"date": " Format YYYY-MM-DD.", "time": " Format HH:MM, 24-hour."}.get(p.kind.name, "")
    return p.description + fmt


def api_from_spec(spec: ApiSpec, name: str | None = None) -> Api:
    """The un-evolved tool; an object parameter of the tree becomes a `Group` where its first member is."""
    of_group = {m: g for g in spec.groups for m in g.members}
    layout: list[Param | Group] = []
    groups: dict[str, Group] = {}
    for p in spec.params:
        leaf = Param(p, p.name, kind_schema(p.kind), p.required, _date_hint(p), p.default)
        g = of_group.get(p.name)
        if g is None:
            layout.append(leaf)
        elif g.name in groups:
            groups[g.name].members.append(leaf)
        else:
            groups[g.name] = Group(g.name, g.description, [leaf])
            layout.append(groups[g.name])
    return Api(name or spec.name, spec.name, spec, spec.description, layout)


# ---------------------------------------------------------------- operators (each returns a label or None)


def op_add_parameter(api: Api, rng: random.Random) -> str | None:
    names = {p.name for _, p in api.leaves()} | {i.name for i in api.layout}
    kinds = {p.spec.kind.name for _, p in api.leaves()}
    options = [
        g for g in GENERIC if g.name not in names and g.kind.name not in kinds and generic_fits(g.name, api)
    ]
    if not options:
        return None
    g = rng.choice(options)
    api.layout.append(Param(g, g.name, kind_schema(g.kind), False, g.description, g.default))
    return f"add_parameter:{g.name}"


def op_add_constraint(api: Api, rng: random.Random) -> str | None:
    options = []
    for _, p in api.leaves():
        s = p.schema.get("items", p.schema) if p.is_array else p.schema
        k = p.spec.kind.item or p.spec.kind
        if k.name in pools() and "enum" not in s and len(pools()[k.name]) >= 6:
            options.append(("enum", p, s))
        elif k.name in _INT_KINDS and s.get("type") == "integer" and "maximum" not in s:
            options.append(("range", p, s))
        elif k.name in ("id", "date", "time", "email") and "pattern" not in s and "format" not in s:
            options.append((k.name, p, s))
    if not options:
        return None
    what, p, s = rng.choice(options)
    k = p.spec.kind.item or p.spec.kind
    if what == "enum":
        pool = pools()[k.name]
        s["enum"] = sorted(rng.sample(pool, min(len(pool), rng.randint(5, 9))))
    elif what == "range":
        lo, hi = int_range(k)
        s["minimum"], s["maximum"] = (1 if k.name == "count" else lo), hi
    elif what == "id":
        s["pattern"] = f"^{k.args[0] if k.args else 'ID'}-[0-9]{{5}}$"
    elif what == "date":
        s["format"], s["pattern"] = "date", r"^\d{4}-\d{2}-\d{2}$"
    elif what == "time":
        s["pattern"] = r"^([01]\d|2[0-3]):[0-5]\d$"
    else:
        s["format"] = "email"
    return f"add_constraint:{what}:{p.name}"


def op_change_type(api: Api, rng: random.Random) -> str | None:
    options = []
    for _, p in api.leaves():
        k = p.spec.kind
        if p.is_array or p.spec.kind.item is not None:
            continue
        if k.name in _INT_KINDS and p.schema.get("type") == "integer":
            options.append(("integer->number", p))
        elif k.name in _NUM_KINDS and p.schema.get("type") == "number":
            options.append(("number->integer", p))
        elif "enum" in p.schema and p.default is NO_DEFAULT:
            options.append(("enum->string", p))
    if not options:
        return None
    what, p = rng.choice(options)
    if what == "integer->number":
        p.schema["type"] = "number"
        p.schema.pop("maximum", None)
    elif what == "number->integer":
        p.schema["type"] = "integer"
    else:
        opts = p.schema.pop("enum")
        p.description += " One of: " + ", ".join(map(str, opts)) + "."
    return f"change_type:{what}:{p.name}"


_PAIRS = [(("origin", "destination"), "route"), (("from_city", "to_city"), "route"),
          (("start_date", "end_date"), "date_range"), (("check_in", "check_out"), "stay"),
          (("date", "time"), "when"), (("pickup_address", "dropoff_address"), "trip")]  # fmt: skip
_GROUP_NAMES = ("filters", "options", "preferences", "criteria", "settings")


def op_nest_object(api: Api, rng: random.Random) -> str | None:
    top = [i for i in api.layout if isinstance(i, Param)]
    if len(top) < 3 or any(isinstance(i, Group) for i in api.layout):
        return None
    by_name = {p.name: p for p in top}
    pairs = [(names, g) for names, g in _PAIRS if all(n in by_name for n in names)]
    optional = [p for p in top if not p.required]
    if pairs and (len(optional) < 2 or rng.random() < 0.5):
        names, gname = rng.choice(pairs)
        members = [by_name[n] for n in names]
        desc = (
            f"{gname.replace('_', ' ').capitalize()}: "
            + " and ".join(n.replace("_", " ") for n in names)
            + "."
        )
    elif len(optional) >= 2:
        members = optional[: rng.randint(2, min(3, len(optional)))]
        gname = rng.choice(_GROUP_NAMES)
        desc = f"Optional {gname}: " + ", ".join(m.name.replace("_", " ") for m in members) + "."
    else:
        return None
    if gname in by_name:
        return None
    first = api.layout.index(members[0])
    api.layout = [i for i in api.layout if i not in members]
    api.layout.insert(min(first, len(api.layout)), Group(gname, desc, members))
    return f"nest_object:{gname}"


def op_add_array(api: Api, rng: random.Random) -> str | None:
    names = {p.name for _, p in api.leaves()}
    options = []
    for _, p in api.leaves():
        k = p.spec.kind
        if p.is_array or k.item is not None or p.default is not NO_DEFAULT:
            continue
        quoted = any('"' in ph for ph in p.spec.phrases)  # 'saying "a and b"' would not say two values
        # a formula or a fact takes one unit, one scale, one currency ("3 feet and inches to cm" asks nothing)
        fixed = api.spec.kind != "service" and k.name in ("enum", "currency")
        if (
            (k.name in pools() or k.name in _ARRAYABLE)
            and p.schema.get("type") == "string"
            and not (quoted or fixed)
        ):
            options.append(p)
    if not options:
        return None
    p = rng.choice(options)
    new = p.name if p.name.endswith("s") else plural(p.name)
    if new in names and new != p.name:
        return None
    p.schema = {"type": "array", "items": p.schema}
    p.name = new
    p.description = "One or more values. " + p.description
    return f"add_array:{new}"


def op_add_defaults(api: Api, rng: random.Random) -> str | None:
    done = []
    for _, p in api.leaves():
        if p.default is not NO_DEFAULT or p.is_array:
            continue
        t = p.schema.get("type")
        designed = p.spec.kind.name == "enum" and "enum" in p.schema  # options an API designer chose
        if not p.required and designed:
            p.default = p.schema["enum"][0]
        elif not p.required and t == "boolean":
            p.default = False
        elif not p.required and t == "integer" and p.spec.kind.name in ("int", "count"):
            lo, hi = int_range(p.spec.kind)
            p.default = lo if p.spec.kind.name == "count" else min(max(10, lo), hi)
        elif p.required and designed and api.spec.kind == "service" and rng.random() < 0.5:
            # (not on calculators and look-ups: "convert 3 feet" with a silent default target says nothing)
            p.required, p.default = False, p.schema["enum"][0]
        else:
            continue
        p.description += (
            f" Defaults to {p.default!r}." if isinstance(p.default, str) else f" Defaults to {p.default}."
        )
        done.append(p.name)
    return f"add_defaults:{','.join(done)}" if done else None


OPERATORS = {
    "add_parameter": op_add_parameter,
    "add_constraint": op_add_constraint,
    "change_type": op_change_type,
    "nest_object": op_nest_object,
    "add_array": op_add_array,
    "add_defaults": op_add_defaults,
}


def evolve(api: Api, rng: random.Random, n_ops: int, ops: tuple[str, ...] = OPS) -> Api:
    """A copy of `api` with up to `n_ops` distinct operators applied (ones that do not fit are skipped)."""
    out = copy.deepcopy(api)
    for op in rng.sample(list(ops), len(ops)):
        if len(out.ops) >= n_ops:
            break
        label = OPERATORS[op](out, rng)
        if label:
            out.ops.append(label)
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def variant_name(spec: ApiSpec, style: str) -> str:
    """snake keeps the tree name; camel: `circleArea` (`geometry.circleArea`); dotted: `domain.name`, or
    for a name that is already dotted the flat `geometry_circle_area`."""
    if style == "camel":
        head, *rest = spec.name.split("_")
        return head + "".join(w.capitalize() for w in rest)
    if style == "dotted":
        return spec.name.replace(".", "_") if "." in spec.name else f"{_slug(spec.domain)}.{spec.name}"
    return spec.name


def build_pool(
    domains: list[Domain], rng: random.Random, variants: int = 2, max_ops: int = 3, ops: tuple[str, ...] = OPS
) -> list[Api]:
    """Every tree API as `variants` evolved tools: the first keeps the tree's name, the others get a
    camelCase or `domain.name` name and a different evolution."""
    if not 1 <= variants <= 3:
        raise ValueError("variants must be 1, 2 or 3")
    pool = []
    for d in domains:
        for spec in d.apis:
            base = api_from_spec(spec)
            styles = ["snake", *rng.sample(["camel", "dotted"], 2)]
            # a style that leaves the name as it is ("mechanics.momentum" has no camelCase) goes last
            names = list(dict.fromkeys(variant_name(spec, st) for st in styles))
            for v in range(variants):
                n_ops = rng.randint(0 if v == 0 else 1, max_ops)
                api = evolve(base, rng, n_ops, ops)
                if v >= len(names):
                    continue
                api.name = names[v]
                pool.append(api.freeze())
    return pool


__all__ = ["OPS", "Api", "Group", "Param", "SCALAR_TYPES", "build_pool", "evolve"]
