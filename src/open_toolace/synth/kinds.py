"""Value kinds: what a parameter holds, and the word lists, pools and units its values are said with.

A kind names what a parameter holds (`city`, `date`, `count:night`, `money`, `list:city`, `enum:a,b`,
`num:LO:HI:DEC`...). `parse_kind(text)` reads one, `kind_schema(kind)` gives the JSON-Schema fragment a
parameter of that kind starts from, and `Value` is one drawn argument: the canonical value for the call and
the text the query says it with. Drawing values is `values.py` (strings, dates) and `numbers.py` (numbers).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                "eleven", "twelve")  # fmt: skip
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")  # fmt: skip
# Plural forms the simple "+s" rule gets wrong.
PLURALS = {"person": "people", "child": "children", "night": "nights", "box": "boxes", "class": "classes",
           "copy": "copies", "city": "cities", "entry": "entries", "story": "stories", "bus": "buses",
           "category": "categories", "company": "companies", "country": "countries", "sheep": "sheep"}  # fmt: skip
# Units a number-with-unit kind is said in: kind -> (singular unit words, plural unit words).
UNITS = {
    "km": (["km", "kilometers"], ["km", "kilometers"]),
    "kg": (["kg", "kilograms"], ["kg", "kilograms"]),
    "minutes": (["minute"], ["minutes", "mins"]),
    "percent": (["%", " percent"], ["%", " percent"]),
    "degrees": (["degrees", "°C"], ["degrees", "°C"]),
}
# JSON-Schema type of each scalar kind; anything not listed is a string drawn from pools.yaml.
SCALAR_TYPES = {
    "count": "integer", "int": "integer", "year": "integer", "minutes": "integer", "percent": "integer",
    "num": "number", "money": "number", "km": "number", "kg": "number", "degrees": "integer",
    "rating": "number", "bool": "boolean", "whole": "integer", "rate": "number",
}  # fmt: skip
FORMATTED = {"date", "time", "id", "email", "phone", "zip", "enum", "person", "csv"}
# Composite places whose one string joins a city and its region: "Austin, TX" (city_st), "Austin, Texas"
# (city_state), "Riga, Latvia" (city_country). The query says the whole value, or (the parameter description
# fixing the format with an example, which tree.py requires) only part of it: the city alone when pools.yaml's
# `famous_city` says its region is obvious, or the region in its other spelling ("Austin, Texas" for "Austin, TX").
COMPOSITE = ("city_st", "city_state", "city_country")
# What such a parameter's description must hold (tree.py) and what lets the verifier accept a value said in
# part (verify.py): the format with a quoted example, "... in the format 'City, ST', e.g. 'Tucson, AZ'."
FORMAT_EXAMPLE = re.compile(r"e\.g\. '[^']+,[^']+'")
# Kinds whose one value is an array of numbers: `numbers` (a data list), `point` (a fixed-size tuple).
NUMBER_ARRAYS = {"numbers", "point"}


@dataclass(frozen=True)
class Kind:
    """What a parameter holds. `name` is the kind, `args` its settings, `item` the element kind of a list."""

    name: str
    args: tuple[str, ...] = ()
    item: Kind | None = None

    def __str__(self) -> str:
        if self.item is not None:
            return f"list:{self.item}"
        return ":".join((self.name, *self.args)) if self.args else self.name


@dataclass(frozen=True)
class Value:
    """A drawn argument: `value` goes into the call, `text` into the query, `form` names the phrasing."""

    value: Any
    text: str
    form: str


@cache
def pools() -> dict[str, tuple[str, ...]]:
    data = _pool_data()
    out = {k: tuple(str(x) for x in v) for k, v in data.items() if isinstance(v, list)}
    states = us_states()
    out["city_state"] = tuple(f"{c}, {states[s]}" for c, s in (v.split(", ", 1) for v in out["city_st"]))
    return out


@cache
def _pool_data() -> dict:
    text = resources.files("open_toolace.synth").joinpath("pools.yaml").read_text(encoding="utf-8")
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@cache
def us_states() -> dict[str, str]:
    """Two-letter US state code -> state name ("TX" -> "Texas"), from pools.yaml."""
    return {str(k): str(v) for k, v in _pool_data()["us_state"].items()}


@cache
def famous_cities() -> frozenset[str]:
    """Cities whose state or country is obvious from the name alone (a query may say just "Boston")."""
    return frozenset(str(c) for c in _pool_data()["famous_city"])


def region_spellings(region: str) -> set[str]:
    """The ways a region is written: "TX" -> {"TX", "Texas"}, "Texas" -> {"Texas", "TX"}, "Latvia" -> itself."""
    states = us_states()
    out = {region}
    if region in states:
        out.add(states[region])
    out |= {k for k, v in states.items() if v == region}
    return out


def parse_kind(text: str) -> Kind:
    """`"list:city"` -> Kind("list", item=Kind("city")); `"enum:a,b"` -> Kind("enum", ("a", "b"))."""
    text = text.strip()
    if text.startswith("list:"):
        return Kind("list", item=parse_kind(text[5:]))
    name, _, rest = text.partition(":")
    if name == "enum":
        return Kind("enum", tuple(o.strip() for o in rest.split(",") if o.strip()))
    args = tuple(rest.split(":")) if rest else ()
    if name not in SCALAR_TYPES and name not in FORMATTED | NUMBER_ARRAYS and name not in pools():
        raise ValueError(f"unknown value kind {text!r}")
    if name == "csv" and (len(args) != 1 or args[0] not in pools()):
        raise ValueError(f"csv needs a pool to draw from (csv:ticker), got {text!r}")
    return Kind(name, args)


def kind_schema(kind: Kind) -> dict:
    """The JSON-Schema fragment (without description) a parameter of this kind gets before evolution."""
    if kind.item is not None:
        return {"type": "array", "items": kind_schema(kind.item)}
    if kind.name == "enum":
        return {"type": "string", "enum": list(kind.args)}
    if kind.name == "numbers":
        return {"type": "array", "items": {"type": "integer" if kind_decimals(kind) == 0 else "number"}}
    if kind.name == "point":  # a tuple: JSON Schema says "array of exactly DIM numbers"
        dim = kind_dim(kind)
        return {"type": "array", "items": {"type": "number"}, "minItems": dim, "maxItems": dim}
    schema: dict[str, Any] = {"type": SCALAR_TYPES.get(kind.name, "string")}
    if kind.name == "count":
        schema["minimum"] = 1
    return schema


def plural(noun: str) -> str:
    last = noun.split()[-1]
    if last in PLURALS:
        return noun[: -len(last)] + PLURALS[last]
    if last.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if last.endswith("y") and last[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def kind_decimals(kind: Kind, default: int = 0) -> int:
    return int(kind.args[2]) if len(kind.args) > 2 else default


def kind_dim(kind: Kind) -> int:
    return int(kind.args[3]) if len(kind.args) > 3 else 2


def join_list(texts: list[str], rng: random.Random) -> str:
    if len(texts) == 1:
        return texts[0]
    if any("," in t for t in texts):  # "Austin, TX and Riga, Latvia"; "Austin, TX; Boston, MA; and Riga"
        return " and ".join(texts) if len(texts) == 2 else "; ".join(texts[:-1]) + "; and " + texts[-1]
    style = rng.randrange(3)
    if style == 0:
        return ", ".join(texts[:-1]) + " and " + texts[-1]
    if style == 1 and len(texts) > 2:
        return ", ".join(texts[:-1]) + ", and " + texts[-1]
    return " and ".join(texts) if len(texts) == 2 else ", ".join(texts)
