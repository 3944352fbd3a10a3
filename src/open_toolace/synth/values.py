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
import string

from open_toolace.synth.kinds import (
    COMPOSITE,
    MONTHS,
    NUMBER_ARRAYS,
    SCALAR_TYPES,
    Kind,
    Value,
    famous_cities,
    join_list,
    pools,
    region_spellings,
)
from open_toolace.synth.numbers import draw_number, draw_number_array


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
        return draw_number(kind, rng, schema)
    return _draw_string(kind, rng)
