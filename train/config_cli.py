"""`--config NAME` plus typed `--field value` overrides for frozen config dataclasses.

Every field of the given dataclasses becomes a flag of its own type (bools take
true/false); argparse rejects unknown flags, so a misspelt override is an error.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, TypeVar

ConfigT = TypeVar("ConfigT")


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


_PARSERS = {"int": int, "float": float, "bool": _parse_bool, "str": str}


def add_override_flags(parser: argparse.ArgumentParser, config_class: type, title: str) -> None:
    """One `--name` flag per dataclass field, defaulting to None (= keep the preset's)."""
    group = parser.add_argument_group(title, "override single fields of the chosen preset")
    for field in dataclasses.fields(config_class):
        type_name = field.type if isinstance(field.type, str) else field.type.__name__
        if type_name not in _PARSERS:
            raise TypeError(f"{config_class.__name__}.{field.name}: unsupported type {type_name}")
        group.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, type=_PARSERS[type_name],
                           default=None, metavar=type_name.upper(), help="default: the preset's value")


def apply_overrides(preset: ConfigT, args: argparse.Namespace) -> ConfigT:
    """The preset with every flag the user gave replacing its field."""
    names = {field.name for field in dataclasses.fields(preset)}
    changes: dict[str, Any] = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    return dataclasses.replace(preset, **changes)


def pick_preset(presets: dict[str, ConfigT], name: str) -> ConfigT:
    if name not in presets:
        raise ValueError(f"--config must be one of {sorted(presets)}, got {name!r}")
    return presets[name]
