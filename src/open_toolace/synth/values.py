"""Argument values and the many ways a user says them.

A *kind* names what a parameter holds (`city`, `date`, `count:night`, `money`, `list:city`, `enum:a,b`...).
`draw(kind, rng, schema)` returns a `Value`: the canonical value that goes into the call (ISO dates, plain
numbers, lists) and the text the query uses for it ("March 4th, 2026", "three nights", "$1,250",
"Oslo, Bergen and Tromso"). Numeric kinds for calculators: `num:LO:HI:DEC` (a float, "3.75"), `whole:LO:HI`
("seven", "42", "2,500"), `rate:LO:HI[:DEC]` (a percent range; the call holds the fraction 0.0425 for
"4.25%"), `numbers:LO:HI:DEC[:MIN:MAX]` (a list, "4, 8.5 and 15") and `point:LO:HI[:DEC[:DIM]]` (a tuple of
DIM numbers, "(3, -2)"). Every text is chosen so the canonical value can be read back from the query;
`verify.py` checks that with its own parser, independently of this file.

    rng = random.Random(0)
    draw(parse_kind("date"), rng)   # Value(value='2026-03-14', text='14 March 2026', form='date_eu')
"""

from __future__ import annotations

import datetime as dt
import random
import re
import string
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
        return {"type": "array", "items": {"type": "integer" if _decimals(kind) == 0 else "number"}}
    if kind.name == "point":  # a tuple: JSON Schema says "array of exactly DIM numbers"
        dim = _dim(kind)
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


def int_range(kind: Kind) -> tuple[int, int]:
    defaults = {
        "count": (1, 9),
        "int": (1, 50),
        "year": (1990, 2026),
        "minutes": (10, 180),
        "percent": (5, 60),
    }
    lo, hi = defaults.get(kind.name, (1, 50))
    if kind.name in ("int", "whole") and len(kind.args) >= 2:
        lo, hi = int(kind.args[0]), int(kind.args[1])
    return lo, hi


def _fmt_number(x: float | int, sep: str = ",") -> str:
    """Digits as people write them: thousands separators, and every decimal the value has (up to six:
    values are rounded to at most six places, so the text reads back as exactly the value)."""
    if isinstance(x, float) and not x.is_integer():
        return f"{x:{sep}.6f}".rstrip("0").rstrip(".")
    return f"{int(x):{sep}}"


def _decimals(kind: Kind, default: int = 0) -> int:
    return int(kind.args[2]) if len(kind.args) > 2 else default


def _dim(kind: Kind) -> int:
    return int(kind.args[3]) if len(kind.args) > 3 else 2


def _uniform(kind: Kind, rng: random.Random, lo: float, hi: float, dec: int) -> float | int:
    """A number in the kind's range (args LO:HI) with `dec` decimals; whole numbers come back as int."""
    if len(kind.args) >= 2:
        lo, hi = float(kind.args[0]), float(kind.args[1])
    x = round(rng.uniform(lo, hi), dec) + 0.0  # + 0.0: no "-0" in a query
    return int(x) if dec == 0 else x


def _integer(rng: random.Random, lo: int, hi: int, schema: dict | None) -> int:
    if schema:
        lo = max(lo, int(schema.get("minimum", lo)))
        hi = min(hi, int(schema.get("maximum", hi)))
    return rng.randint(lo, max(lo, hi))


def draw_date(rng: random.Random, d: dt.date | None = None) -> Value:
    """A date in 2025-2027 (or `d`), said in one of eight formats; the call gets ISO `YYYY-MM-DD`."""
    if d is None:
        d = dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(0, 3 * 365))
    m, day, y = MONTHS[d.month - 1], d.day, d.year
    suffix = "th" if 11 <= day <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    forms = [
        ("date_iso", d.isoformat()),
        ("date_us", f"{m} {day}, {y}"),
        ("date_eu", f"{day} {m} {y}"),
        ("date_abbr", f"{m[:3]} {day}, {y}"),
        ("date_slash_us", f"{d.month}/{day}/{y}"),
        ("date_ordinal", f"the {day}{suffix} of {m} {y}"),
        ("date_us_ordinal", f"{m} {day}{suffix}, {y}"),
        ("date_dotted_eu", f"{day:02d}.{d.month:02d}.{y}"),
    ]
    form, text = rng.choice(forms)
    return Value(d.isoformat(), text, form)


def draw_time(rng: random.Random) -> Value:
    h, mi = rng.randint(6, 22), rng.choice((0, 0, 15, 30, 45))
    h12, ampm = (h - 12 if h > 12 else h), ("PM" if h >= 12 else "AM")
    # "7:15 PM" and "7:15 p.m." keep the minutes a word of their own ("7:15pm" would hide them)
    forms = [("time_24h", f"{h:02d}:{mi:02d}"), ("time_12h", f"{h12}:{mi:02d} {ampm}"),
             ("time_12h_dots", f"{h12}:{mi:02d} {ampm[0].lower()}.m.")]  # fmt: skip
    form, text = rng.choice(forms)
    return Value(f"{h:02d}:{mi:02d}", text, form)


def _draw_number(kind: Kind, rng: random.Random, schema: dict | None) -> Value:
    name = kind.name
    integral = (schema or {}).get("type") == "integer"
    if name == "count":
        n = _integer(rng, *int_range(kind), schema)
        noun = kind.args[0] if kind.args else "item"
        noun = noun if n == 1 else plural(noun)
        if n <= 12 and rng.random() < 0.4:
            return Value(n, f"{NUMBER_WORDS[n]} {noun}", "count_words")
        return Value(n, f"{n} {noun}", "count_digits")
    if name in ("int", "year"):
        n = _integer(rng, *int_range(kind), schema)
        return Value(n, str(n), name)
    if name == "whole":  # a whole number as people say it: "seven", "42", "2,500"
        n = _integer(rng, *int_range(kind), schema)
        if 0 <= n <= 12 and rng.random() < 0.35:
            return Value(n, NUMBER_WORDS[n], "whole_words")
        return Value(n, _fmt_number(n), "whole_digits")
    if name == "rate":  # a rate the call holds as a fraction (0.0425), said as "4.25%" or "0.0425"
        pct = _uniform(kind, rng, 1, 10, _decimals(kind, 2))
        frac = round(pct / 100, 10)  # verify.py reads "4.25%" back with the same rounding
        if rng.random() < 0.2:  # most people say a rate as a percent; some write the fraction itself
            return Value(frac, _fmt_number(frac), "rate_fraction")
        form, text = rng.choice([("rate_percent", f"{_fmt_number(pct)}%"),
                                 ("rate_percent_words", f"{_fmt_number(pct)} percent")])  # fmt: skip
        return Value(frac, text, form)
    if name == "money":
        if kind.args:  # money:LO:HI, rounded to two significant digits so it reads like a real amount
            lo, hi = int(kind.args[0]), int(kind.args[1])
            raw = rng.randint(lo, hi)
            step = 10 ** max(0, len(str(raw)) - 2)
            amount: float | int = max(lo, raw // step * step)
        else:
            amount = rng.choice((rng.randint(5, 300), rng.randint(10, 400) * 5, rng.randint(200, 4000)))
        if not integral and not kind.args and rng.random() < 0.25:
            amount = round(rng.randint(500, 20000) / 100, 2)
        t = _fmt_number(amount)
        forms = [("money_symbol", f"${t}"), ("money_words", f"{t} dollars"), ("money_code", f"{t} USD")]
        form, text = rng.choice(forms)
        return Value(amount, text, form)
    if name == "rating":
        r = round(rng.randint(20, 50) / 10, 1)
        return (Value(int(r), f"{int(r)} stars", "rating") if integral or r.is_integer()
                else Value(r, f"{r} stars", "rating"))  # fmt: skip
    if name == "num":
        lo, hi, dec = (
            (float(kind.args[0]), float(kind.args[1]), int(kind.args[2])) if kind.args else (0, 100, 1)
        )
        x = round(rng.uniform(lo, hi), 0 if integral else dec)
        x = int(x) if integral or dec == 0 else x
        return Value(x, _fmt_number(x), "number")
    if name in UNITS:
        lo, hi = {
            "km": (1, 250),
            "kg": (1, 40),
            "minutes": (10, 180),
            "percent": (5, 60),
            "degrees": (16, 28),
        }[name]
        x: float | int = rng.randint(lo, hi)
        if name in ("km", "kg") and not integral and rng.random() < 0.3:
            x = x + rng.choice((0.5, 0.25, 0.75))
        if schema and "maximum" in schema:
            x = min(x, schema["maximum"])
        words = UNITS[name][0 if x == 1 else 1]
        unit = rng.choice(words)
        sep = "" if unit.startswith(("%", "°", " ")) else " "
        return Value(x, f"{_fmt_number(x)}{sep}{unit}", f"{name}_unit")
    raise ValueError(f"not a numeric kind: {kind}")


def draw_number_array(kind: Kind, rng: random.Random) -> Value:
    """`numbers:LO:HI:DEC[:MIN:MAX]` -> a data list ("4, 8.5 and 15"); `point:LO:HI[:DEC[:DIM]]` ->
    coordinates ("(3, -2)" or "x = 3, y = -2"). Numbers in lists carry no thousands separator, so
    "1200, 40 and 7" cannot be read as other numbers."""
    dec = _decimals(kind)
    if kind.name == "point":
        xs = [_uniform(kind, rng, -10, 10, dec) for _ in range(_dim(kind))]
        texts = [_fmt_number(x, "") for x in xs]
        if len(xs) <= 3 and rng.random() < 0.15:
            return Value(
                xs, ", ".join(f"{a} = {t}" for a, t in zip("xyz", texts, strict=False)), "point_axes"
            )
        return Value(xs, "(" + ", ".join(texts) + ")", "point_tuple")
    lo_n, hi_n = (int(kind.args[3]), int(kind.args[4])) if len(kind.args) > 4 else (3, 6)
    xs = []
    for _ in range(4 * hi_n):
        x = _uniform(kind, rng, 1, 100, dec)
        if x not in xs:  # distinct, so every item is one stated number
            xs.append(x)
        if len(xs) == hi_n:
            break
    xs = xs[: rng.randint(lo_n, len(xs))] if len(xs) > lo_n else xs
    texts = [_fmt_number(x, "") for x in xs]
    if rng.random() < 0.25:  # pasted as a list literal
        return Value(xs, "[" + ", ".join(texts) + "]", "numbers_brackets")
    return Value(xs, join_list(texts, rng), "numbers")


def _draw_string(kind: Kind, rng: random.Random) -> Value:
    name = kind.name
    if name == "date":
        return draw_date(rng)
    if name == "time":
        return draw_time(rng)
    if name == "id":
        prefix = kind.args[0] if kind.args else "ID"
        v = f"{prefix}-{rng.randint(10000, 99999)}"
        return Value(v, v, "id")
    if name == "email":
        first, last = rng.choice(pools()["first_name"]).lower(), rng.choice(pools()["last_name"]).lower()
        v = f"{first}.{last}@{rng.choice(('example.com', 'mail.test', 'corp.example'))}"
        return Value(v, v, "email")
    if name == "phone":
        v = f"+1 {rng.randint(200, 989)} 555 {rng.randint(1000, 9999)}"
        return Value(v, v, "phone")
    if name == "zip":
        v = "".join(rng.choice(string.digits) for _ in range(5))
        return Value(v, v, "zip")
    if name == "person":
        v = f"{rng.choice(pools()['first_name'])} {rng.choice(pools()['last_name'])}"
        return Value(v, v, "name")
    if name == "csv":  # one string holding a comma-separated list: "NWTR,BFAN", said "NWTR, BFAN and CBFR"
        items = rng.sample(pools()[kind.args[0]], rng.randint(2, 3))
        return Value(",".join(items), join_list(items, rng), "csv")
    if name in COMPOSITE:
        return draw_composite(name, rng)
    v = rng.choice(pools()[name])
    return Value(v, v, "pool")


def draw_composite(name: str, rng: random.Random) -> Value:
    """A "City, Region" value, said whole ("Riga, Latvia") about half the time, else by the city alone
    (a famous one) or with the region in its other spelling ("Austin, Texas" for "Austin, TX")."""
    v = rng.choice(pools()[name])
    city, region = v.split(", ", 1)
    short = [
        ("composite_" + ("state" if len(o) > 2 else "abbr"), f"{city}, {o}")
        for o in sorted(region_spellings(region) - {region})
        if name != "city_country"
    ]  # a country has one spelling ("Tbilisi, GA" would be wrong)
    if city in famous_cities():
        short.append(("composite_city", city))
    if short and rng.random() < 0.5:
        form, text = rng.choice(short)
        return Value(v, text, form)
    return Value(v, v, "composite_full")


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


def draw(kind: Kind, rng: random.Random, schema: dict | None = None, n_items: int | None = None) -> Value:
    """Draw one value of `kind`, respecting `schema` (enum, minimum/maximum, integer vs number, arrays)."""
    schema = schema or {}
    if kind.name in NUMBER_ARRAYS:
        return draw_number_array(kind, rng)
    if schema.get("type") == "array" or kind.item is not None:
        item_kind = kind.item or kind
        n = n_items or rng.randint(1 if kind.item is None else 2, 3)
        items: list[Value] = []
        for _ in range(n * 4):
            v = draw(item_kind, rng, schema.get("items"))
            if all(v.value != o.value for o in items):
                items.append(v)
            if len(items) == n:
                break
        return Value([v.value for v in items], join_list([v.text for v in items], rng), "list")
    if "enum" in schema or kind.name == "enum":
        options = schema.get("enum") or list(kind.args)
        v = rng.choice(options)
        text = v.replace("_", " ") if isinstance(v, str) else str(v)
        if isinstance(v, str) and rng.random() < 0.3:
            text = text.capitalize() if text.islower() else text
        return Value(v, text, "enum")
    if kind.name == "bool":
        v = rng.random() < 0.6
        return Value(v, "", "bool_true" if v else "bool_false")
    if kind.name in SCALAR_TYPES:
        return _draw_number(kind, rng, schema)
    return _draw_string(kind, rng)
