"""Packages depend downward only: core <- train, eval_lab <- demo <- app.py (DESIGN.md section 4).

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


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every absolute module `path` imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


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
