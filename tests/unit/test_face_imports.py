"""One way through the service: the faces (console, command line, HTTP API) import nothing of
taskconsole's but ``console.service``, ``console.settings``, ``console.domain`` and their own
package, imports inside functions counted. The command line also starts the console (and the
HTTP API), so it may import their launchers, nothing else of theirs."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "console"
FACES = ("tui", "cli", "web")
ALLOWED = ("console.service", "console.settings", "console.domain")
LAUNCHERS = {"cli": ("console.tui.app", "console.web")}


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def _allowed(face: str, module: str) -> bool:
    if not module.startswith("console.") and module != "console":
        return True  # the standard library and third-party packages
    if module == "console":
        return True  # console.__version__
    own = f"console.{face}"
    prefixes = ALLOWED + (own,) + LAUNCHERS.get(face, ())
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_the_faces_import_only_the_service_settings_and_domain():
    wrong = []
    for face in FACES:
        for path in sorted((PACKAGE / face).rglob("*.py")) if (PACKAGE / face).exists() else []:
            for line, module in _imports(path):
                if not _allowed(face, module):
                    wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_the_check_itself_catches_a_face_reaching_below_the_service(tmp_path):
    face = tmp_path / "face.py"
    face.write_text("def f():\n    from console.scheduler.runner import JobRunner\n")
    assert [m for _, m in _imports(face) if not _allowed("tui", m)] == ["console.scheduler.runner"]
    assert _allowed("cli", "console.tui.app") and not _allowed("cli", "console.tui.widgets")
