"""Layers: imports point down, and nothing below ``tui/`` imports Textual.

Each module is imported in a fresh interpreter and ``sys.modules`` inspected (as Harlequin
does), and every ``console.*`` import is checked against the layer order in DESIGN.md.
"""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "console"
# Higher number = higher layer; a module may import only its own layer or lower ones.
LAYERS = {"domain": 0, "settings": 0, "db": 1, "notify": 2, "jobs": 3, "scheduler": 4, "service": 5,
          "cli": 6, "tui": 6, "web": 6, "__main__": 7, "__init__": 0}


def modules() -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        out.append(".".join(rel.parts).removesuffix(".__init__"))
    return out


def layer_of(module: str) -> int:
    parts = module.split(".")
    return LAYERS[parts[1]] if len(parts) > 1 else 0


def test_no_textual_below_tui():
    below = [m for m in modules() if ".tui" not in m and m != "console.__main__"]
    code = (
        "import importlib, sys\n"
        f"for name in {below!r}:\n"
        "    importlib.import_module(name)\n"
        "    if any(m == 'textual' or m.startswith('textual.') for m in sys.modules):\n"
        "        print(name); break\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{out.stdout.strip()} pulls in Textual"


def test_imports_point_down():
    wrong = []
    for module in modules():
        path = PACKAGE.parent / Path(*module.split("."))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("console.") and layer_of(name) > layer_of(module):
                    wrong.append(f"{module} imports {name}")
    assert not wrong, "\n".join(wrong)
