"""Numbers as people say them: counts ("three nights"), whole numbers ("seven", "2,500"), rates ("4.25%",
sent as 0.0425), money ("$1,250"), floats, numbers with units, and arrays of numbers (a data list
"4, 8.5 and 15", a point "(3, -2)"). `draw_number` and `draw_number_array` are what `values.draw` calls
for the numeric kinds of `kinds.py`; every text reads back as exactly its value (`verify.py`).
"""

from __future__ import annotations

import random

from open_toolace.synth.kinds import (
    NUMBER_WORDS,
    UNITS,
    Kind,
    Value,
    join_list,
    kind_decimals,
    kind_dim,
    plural,
)


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


def fmt_number(x: float | int, sep: str = ",") -> str:
    """Digits as people write them: thousands separators, and every decimal the value has (up to six:
    values are rounded to at most six places, so the text reads back as exactly the value)."""
    if isinstance(x, float) and not x.is_integer():
        return f"{x:{sep}.6f}".rstrip("0").rstrip(".")
    return f"{int(x):{sep}}"


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


def draw_number(kind: Kind, rng: random.Random, schema: dict | None) -> Value:
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
        return Value(n, fmt_number(n), "whole_digits")
    if name == "rate":  # a rate the call holds as a fraction (0.0425), said as "4.25%" or "0.0425"
        pct = _uniform(kind, rng, 1, 10, kind_decimals(kind, 2))
        frac = round(pct / 100, 10)  # verify.py reads "4.25%" back with the same rounding
        if rng.random() < 0.2:  # most people say a rate as a percent; some write the fraction itself
            return Value(frac, fmt_number(frac), "rate_fraction")
        form, text = rng.choice([("rate_percent", f"{fmt_number(pct)}%"),
                                 ("rate_percent_words", f"{fmt_number(pct)} percent")])  # fmt: skip
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
        t = fmt_number(amount)
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
        return Value(x, fmt_number(x), "number")
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
        return Value(x, f"{fmt_number(x)}{sep}{unit}", f"{name}_unit")
    raise ValueError(f"not a numeric kind: {kind}")


def draw_number_array(kind: Kind, rng: random.Random) -> Value:
    """`numbers:LO:HI:DEC[:MIN:MAX]` -> a data list ("4, 8.5 and 15"); `point:LO:HI[:DEC[:DIM]]` ->
    coordinates ("(3, -2)" or "x = 3, y = -2"). Numbers in lists carry no thousands separator, so
    "1200, 40 and 7" cannot be read as other numbers."""
    dec = kind_decimals(kind)
    if kind.name == "point":
        xs = [_uniform(kind, rng, -10, 10, dec) for _ in range(kind_dim(kind))]
        texts = [fmt_number(x, "") for x in xs]
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
    texts = [fmt_number(x, "") for x in xs]
    if rng.random() < 0.25:  # pasted as a list literal
        return Value(xs, "[" + ", ".join(texts) + "]", "numbers_brackets")
    return Value(xs, join_list(texts, rng), "numbers")
