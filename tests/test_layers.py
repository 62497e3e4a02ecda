"""Packages depend downward only: core <- train, eval_lab <- demo <- app.py, and inside core
base <- music <- audio, data, shaping <- nets <- diffusion <- bundle <- pipeline <- cli.

Every `import` and `from ... import` in the project's modules, at any depth (function-level
imports included), is checked against the layers each package may use.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = ("core", "train", "eval_lab", "demo", "app")
ALLOWED = {
    "core": {"core"},
    "train": {"core", "train"},
    "eval_lab": {"core", "eval_lab"},
    "demo": {"core", "eval_lab", "demo"},
    "app": {"core", "eval_lab", "demo", "app"},
}
# Libraries a layer must not use: the model library stays free of the web UI.
FORBIDDEN_LIBRARIES = {"core": {"gradio"}, "train": {"gradio"}, "eval_lab": {"gradio"}}
# The rooms of core from the bottom up: a room imports itself and the rooms below it, never one
# beside or above it. A room is a package (core.music) or a module at core's root (core.limits).
CORE_LAYERS = (
    ("core.limits", "core.noise", "core.progress"),
    ("core.music",),
    ("core.audio", "core.data", "core.shaping"),
    ("core.nets",),
    ("core.diffusion",),
    ("core.bundle", "core.requests"),
    ("core.pipeline",),
    ("core.cli",),
)
CORE_FORBIDDEN_LIBRARIES = {"core.music": {"torch"}}  # melodies and metrics load without torch


def imported_modules(path: Path, depth: int = 1) -> set[str]:
    """The first `depth` dotted parts of every absolute module `path` imports ("core.music" at 2)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(".".join(alias.name.split(".")[:depth]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(".".join(node.module.split(".")[:depth]))
    return names


def core_room(dotted: str) -> str:
    """The room of core a module belongs to: "core.nets.vae" -> "core.nets", "core.pipeline" itself."""
    return ".".join(dotted.split(".")[:2])


def core_layer_violations(root: Path) -> list[str]:
    """'file imports room' for every import inside core that reaches a room beside or above the
    file's own (CORE_LAYERS), or a library its room must not use (CORE_FORBIDDEN_LIBRARIES)."""
    rank = {room: index for index, rooms in enumerate(CORE_LAYERS) for room in rooms}
    problems = []
    for path in sorted((root / "core").rglob("*.py")):
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        own = core_room(module)
        if own == "core.__init__":
            continue
        if own not in rank:
            problems.append(f"{path.relative_to(root)} is in no layer of CORE_LAYERS")
            continue
        for name in sorted(imported_modules(path, depth=2)):
            if name.split(".")[0] != "core":
                if name.split(".")[0] in CORE_FORBIDDEN_LIBRARIES.get(own, ()):
                    problems.append(f"{path.relative_to(root)} imports {name.split('.')[0]}")
                continue
            if name != own and rank.get(name, len(CORE_LAYERS)) >= rank[own]:
                problems.append(f"{path.relative_to(root)} imports {name}")
    return problems


def layer_violations(root: Path) -> list[str]:
    """'file imports package' for every import that goes against ALLOWED or FORBIDDEN_LIBRARIES."""
    problems = []
    for layer in PROJECT_PACKAGES:
        files = [root / "app.py"] if layer == "app" else sorted((root / layer).rglob("*.py"))
        for path in files:
            if not path.is_file():
                continue
            for name in sorted(imported_modules(path)):
                project_back_import = name in PROJECT_PACKAGES and name not in ALLOWED[layer]
                if project_back_import or name in FORBIDDEN_LIBRARIES.get(layer, ()):
                    problems.append(f"{path.relative_to(root)} imports {name}")
    return problems


def test_every_package_imports_only_the_layers_below_it():
    assert layer_violations(ROOT) == []


def test_every_room_of_core_imports_only_itself_and_the_rooms_below_it():
    assert core_layer_violations(ROOT) == []


def test_a_back_import_inside_core_is_reported(tmp_path):
    for room in ("music", "nets", "diffusion"):
        (tmp_path / "core" / room).mkdir(parents=True)
    (tmp_path / "core" / "music" / "melody.py").write_text("import torch\nfrom core.music.constants import X\n")
    (tmp_path / "core" / "nets" / "vae.py").write_text("from core.music.melody import f\n"
                                                       "from core.diffusion import s\n")
    (tmp_path / "core" / "diffusion" / "samplers.py").write_text("def f():\n    from core.pipeline import P\n")
    (tmp_path / "core" / "noise.py").write_text("from core.progress import SamplerProgress\n")
    (tmp_path / "core" / "stray.py").write_text("")
    assert core_layer_violations(tmp_path) == [
        "core/diffusion/samplers.py imports core.pipeline",
        "core/music/melody.py imports torch",
        "core/nets/vae.py imports core.diffusion",
        "core/noise.py imports core.progress",
        "core/stray.py is in no layer of CORE_LAYERS",
    ]


def test_a_back_import_is_reported(tmp_path):
    for package in ("core", "train", "eval_lab", "demo"):
        (tmp_path / package).mkdir()
    (tmp_path / "core" / "model.py").write_text("import numpy\n\ndef f():\n    from demo.tabs import build\n")
    (tmp_path / "eval_lab" / "run.py").write_text("from train.encode import main\nfrom core import model\n")
    (tmp_path / "train" / "fit.py").write_text("import gradio as gr\n")
    (tmp_path / "demo" / "tab.py").write_text("from eval_lab.run import main\nfrom core.model import f\n")
    (tmp_path / "app.py").write_text("from demo.tab import main\n")
    assert layer_violations(tmp_path) == [
        "core/model.py imports demo",
        "train/fit.py imports gradio",
        "eval_lab/run.py imports train",
    ]
