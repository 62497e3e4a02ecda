"""What the training CLIs share: their flags, typed config overrides, and the run itself.

Every field of the given config dataclasses becomes a `--field-name` flag of its own type
(bools take true/false) next to `--config NAME` (a preset of `train.presets`); argparse
rejects unknown flags, so a misspelt override is an error. `main()` functions turn the
parsed flags into config dataclasses; nothing past them sees the argparse namespace.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any, Callable, TypeVar

from train.configs import TrainConfig
from train.loop import TrainTask, train
from train.presets import PRESETS
from train.runtime import setup_runtime

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


def training_parser(prog: str, doc: str, data_default: Path, data_help: str, out_default: Path,
                    config_classes: tuple[tuple[type, str], ...]) -> argparse.ArgumentParser:
    """The flags every training CLI has, plus one override flag per field of `config_classes`."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0],
                                     epilog="precision: fp32, bf16, fp16 (CUDA) or auto (fp16 on CUDA, else fp32)")
    parser.add_argument("--config", default="demo", help=f"preset: {sorted(PRESETS)} (default demo)")
    parser.add_argument("--data", type=Path, default=data_default, help=data_help)
    parser.add_argument("--out", type=Path, default=out_default, help="run directory for checkpoints and metrics")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    parser.add_argument("--export", type=Path, help="model bundle directory to write the final model into")
    parser.add_argument("--init-from", type=Path, metavar="DIR",
                        help="start a new run from this model directory's weights (same model size; fine-tuning)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    for config_class, title in config_classes:
        add_override_flags(parser, config_class, title)
    return parser


def run_training(parser: argparse.ArgumentParser, args: argparse.Namespace, config: TrainConfig,
                 make_task: Callable[[], TrainTask]) -> None:
    """Build the task, train it (under torchrun: on every rank), export on rank 0.

    User mistakes (missing files, bad values) end as `parser.error` messages.
    """
    try:
        runtime = setup_runtime(args.device)
    except ValueError as error:
        parser.error(str(error))
    try:
        task = make_task()
        model, record = train(task, config, args.out, args.resume, runtime, args.init_from)
        if runtime.is_main and args.export is not None:
            task.export(model, args.export, record)
            print(f"exported {task.name} to {args.export} at step {record['step']}", file=sys.stderr)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    finally:
        runtime.close()
