"""Config dataclasses loaded from YAML with command-line overrides (the TRL / open-r1 pattern).

Every stage has one dataclass whose fields carry `metadata={"help": ...}`. `load_config` builds it from
an optional YAML file and `key=value` overrides (dotted keys reach nested dataclasses, values are parsed
as YAML so `lr=1e-4`, `flag=true` and `cats=[a,b]` get their types). `save_config` writes the resolved
config next to an output so every artifact says how it was made.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from open_toolace.io import atomic_write_text

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or override that does not fit the dataclass."""


def _set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    node = tree
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {key!r}: {part!r} is not a section")
    node[parts[-1]] = value


def parse_overrides(overrides: list[str] | None) -> dict[str, Any]:
    """Turn `["a.b=1", "--c=x", "--d", "y"]` into a nested dict; values are parsed as YAML scalars/lists."""
    tree: dict[str, Any] = {}
    items = list(overrides or [])
    i = 0
    while i < len(items):
        item = items[i].removeprefix("--")
        if "=" in item:
            key, raw = item.split("=", 1)
        elif i + 1 < len(items):
            key, raw = item, items[i + 1]
            i += 1
        else:
            raise ConfigError(f"override {items[i]!r} has no value (use key=value)")
        key = key.replace("-", "_")
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        _set_dotted(tree, key, value)
        i += 1
    return tree


def from_dict(cls: type[T], data: dict[str, Any], path: str = "") -> T:
    """Build dataclass `cls` from a (nested) dict, rejecting unknown keys with the list of known ones."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{path or cls.__name__}: unknown key(s) {unknown}; known: {sorted(fields)}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        hint = hints.get(name)
        sub = _dataclass_of(hint)
        if sub is not None and isinstance(value, dict):
            # A partial section overrides the field's own default (e.g. a round's 1-epoch TrainConfig),
            # not the section class's defaults.
            kwargs[name] = from_dict(sub, _merged(_field_default(fields[name]), value), f"{path}{name}.")
        else:
            kwargs[name] = _coerce(hint, value, f"{path}{name}")
    return cls(**kwargs)


def _field_default(f: dataclasses.Field) -> dict[str, Any]:
    """A dataclass field's default as a dict (`{}` when it has none or it is not a dataclass)."""
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        value = f.default_factory()  # type: ignore[misc]
    elif f.default is not dataclasses.MISSING:
        value = f.default
    else:
        return {}
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else {}


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`, section by section."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _coerce(hint: Any, value: Any, where: str) -> Any:
    """Give scalars the field's declared type: YAML reads `3e-4` as a string and `1` as an int."""
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if value is None or any(isinstance(value, t) for t in options if isinstance(t, type) and t is not float):
        return value
    for t in options:
        if t is float and isinstance(value, (int, float, str)) and not isinstance(value, bool):
            try:
                return float(value)
            except ValueError:
                continue
        if t is int and isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                continue
        if t is str and isinstance(value, (int, float)):
            return str(value)
    if float in options or int in options:
        raise ConfigError(f"{where}: expected {hint}, got {value!r}")
    return value


def _merge_dict(base: dict, new: dict) -> dict:
    out = dict(base)
    for k, v in new.items():
        out[k] = _merge_dict(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _dataclass_of(hint: Any) -> type | None:
    if dataclasses.is_dataclass(hint):
        return hint  # type: ignore[return-value]
    for arg in typing.get_args(hint):
        if dataclasses.is_dataclass(arg):
            return arg  # type: ignore[return-value]
    return None


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """YAML file (optional) + `key=value` overrides -> dataclass `cls`, defaults filling the rest."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"config file not found: {p}")
        try:
            loaded = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML: {e}") from e
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p}: top level must be a mapping")
        data = loaded
    data = _merge_dict(data, parse_overrides(overrides))
    return from_dict(cls, data)


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def save_config(config: Any, path: str | Path) -> Path:
    """Write the resolved config as YAML (atomically) and return the path."""
    p = Path(path)
    atomic_write_text(p, yaml.safe_dump(to_dict(config), sort_keys=False))
    return p


def _flat(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def check_saved_config(
    saved: Path, config: Any, free: Sequence[str], *, refused: str, hint: str, new_at_default: bool = False
) -> None:
    """Refuse to resume an output dir whose saved config (`saved`, a config.yaml; none: nothing to check)
    differs from `config`: its finished work would not match. The ConfigError lists every changed dotted
    key, `  key: old -> new`. Keys in `free` (and below them) may change between a kill and its resume;
    with `new_at_default`, so may a key the saved config lacks that `config` leaves at its class default
    (a setting added after the run started, doing what the run did). `refused` and `hint` frame the error."""
    if not saved.exists():
        return
    old, new = _flat(yaml.safe_load(saved.read_text()) or {}), _flat(to_dict(config))
    defaults = _flat(to_dict(type(config)())) if new_at_default else {}
    lines = [
        f"  {k}: {old.get(k)!r} -> {new.get(k)!r}"
        for k in sorted(set(old) | set(new))
        if old.get(k) != new.get(k)
        and not any(k == f or k.startswith(f + ".") for f in free)
        and not (k not in old and k in defaults and new.get(k) == defaults[k])
    ]
    if lines:
        raise ConfigError(f"{refused}; changed settings:\n" + "\n".join(lines) + f"\n{hint}")


def help_text(cls: type) -> str:
    """One line per field: name, default and help — for `--help` epilogs and docs."""
    lines = []
    for f in dataclasses.fields(cls):
        default = (
            f.default
            if f.default is not dataclasses.MISSING
            else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else "<required>"  # type: ignore[misc]
            )
        )
        lines.append(f"  {f.name} (default: {default!r}): {f.metadata.get('help', '')}")
    return "\n".join(lines)
