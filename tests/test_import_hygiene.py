"""The layers import one way: every import statement of the package, read from its source.

``test_boundary.py`` checks what importing a module *loads*; this checks what the source *says*,
including the imports inside functions that keep start-up cheap (they would slip past a runtime
probe until the function runs). The rules:

* the generic layers (models, eval, attacks, engine, data, augment, losses, config, and the small
  shared modules below them) never import the faces (cli, tui) or the application layer (app);
* models, eval, attacks and engine never import the toy world: it plugs in through registries
  (``models.specs``) and the application layer asks it for its defaults;
* the TUI never imports the CLI: both call the application layer.

Run as a script to check another tree: ``python tests/test_import_hygiene.py path/to/src``.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "cleanerclip_tool"
SRC = Path(__file__).resolve().parent.parent / "src"

GENERIC = frozenset(
    {"models", "eval", "attacks", "engine", "data", "augment", "losses", "config", "devices", "errors", "events"}
)
UPPER = frozenset({"app", "cli", "tui"})
NO_TOYWORLD = frozenset({"models", "eval", "attacks", "engine"})

#: (importing layer, imported layer) pairs that must not occur.
FORBIDDEN: frozenset[tuple[str, str]] = frozenset(
    {(low, high) for low in GENERIC for high in UPPER}
    | {(layer, "toyworld") for layer in NO_TOYWORLD}
    | {("tui", "cli")}
)


@dataclass(frozen=True)
class Edge:
    """One import statement: ``module`` (a file of the package) imports ``target`` at ``line``."""

    module: str
    target: str
    line: int

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def layer(module: str) -> str | None:
    """``cleanerclip_tool.eval.scan`` -> ``eval``; None for the package itself or other packages."""
    parts = module.split(".")
    if parts[0] != PACKAGE or len(parts) < 2:
        return None
    return parts[1]


def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, src: Path) -> list[Edge]:
    """Every module ``path`` imports, at any depth (functions, ``if TYPE_CHECKING``, try blocks).

    ``from pkg import name`` counts as importing ``pkg.name`` too (it may be a sub-module: ``from
    cleanerclip_tool import toyworld``); relative imports are resolved; a literal
    ``importlib.import_module("...")`` / ``__import__("...")`` counts as an import.
    """
    module = module_name(path, src)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    edges: list[Edge] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            edges += [Edge(module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            edges.append(Edge(module, base, node.lineno))
            edges += [Edge(module, f"{base}.{alias.name}", node.lineno) for alias in node.names if alias.name != "*"]
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                edges.append(Edge(module, first.value, node.lineno))
    return edges


def _is_dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Attribute):
        return func.attr == "import_module"
    return isinstance(func, ast.Name) and func.id in ("import_module", "__import__")


def forbidden_imports(src: Path = SRC) -> list[Edge]:
    """The import statements under ``src/cleanerclip_tool`` that break a layering rule."""
    bad: list[Edge] = []
    seen: set[tuple[str, int, str | None]] = set()
    for path in sorted((src / PACKAGE).rglob("*.py")):
        for edge in imports_of(path, src):
            pair = (layer(edge.module), layer(edge.target))
            key = (edge.module, edge.line, pair[1])
            if pair in FORBIDDEN and key not in seen:  # ``from a.b import c``: one report, not two
                seen.add(key)
                bad.append(edge)
    return bad


def test_no_import_runs_against_the_layers() -> None:
    bad = forbidden_imports()
    assert not bad, "forbidden imports:\n" + "\n".join(map(str, bad))


def test_the_rules_cover_what_the_issue_names() -> None:
    for pair in [
        ("models", "toyworld"),
        ("eval", "toyworld"),
        ("attacks", "toyworld"),
        ("engine", "toyworld"),
        ("tui", "cli"),
        ("models", "app"),
        ("config", "cli"),
        ("losses", "tui"),
        ("data", "app"),
    ]:
        assert pair in FORBIDDEN, pair
    # The application layer and the faces may use the toy world; the toy world may use the app layer (demo).
    for pair in [("app", "toyworld"), ("cli", "toyworld"), ("toyworld", "app"), ("cli", "app"), ("tui", "app")]:
        assert pair not in FORBIDDEN, pair


def test_the_checker_sees_every_form_of_import(tmp_path: Path) -> None:
    """A planted tree with each way of spelling a forbidden import: all are found, the allowed ones not."""
    pkg = tmp_path / PACKAGE
    for sub in ("models", "eval", "attacks", "engine", "tui", "toyworld", "cli", "app"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "models" / "load.py").write_text(
        "def f():\n    from cleanerclip_tool.toyworld.registry import resolve_toy_model\n"  # inside a function
    )
    (pkg / "eval" / "__init__.py").write_text("from cleanerclip_tool import toyworld\n")  # the sub-module form
    (pkg / "attacks" / "toy.py").write_text("from ..toyworld import triggers\n")  # relative
    (pkg / "engine" / "loop.py").write_text(
        "import importlib\ntry:\n    import cleanerclip_tool.app.scan\nexcept ImportError:\n    pass\n"
        "importlib.import_module('cleanerclip_tool.toyworld.world')\n"
    )
    (pkg / "tui" / "scan.py").write_text("from cleanerclip_tool.cli.commands import scan\n")
    (pkg / "config.py").write_text("if True:\n    from cleanerclip_tool.tui import app\n")
    (pkg / "app" / "scan.py").write_text("from cleanerclip_tool.toyworld import default_world\n")  # allowed
    (pkg / "toyworld" / "demo.py").write_text("from cleanerclip_tool.app.triggers import build_triggers\n")  # allowed
    found = {(e.module, layer(e.target)) for e in forbidden_imports(tmp_path)}
    assert found == {
        ("cleanerclip_tool.models.load", "toyworld"),
        ("cleanerclip_tool.eval", "toyworld"),
        ("cleanerclip_tool.attacks.toy", "toyworld"),
        ("cleanerclip_tool.engine.loop", "app"),
        ("cleanerclip_tool.engine.loop", "toyworld"),
        ("cleanerclip_tool.tui.scan", "cli"),
        ("cleanerclip_tool.config", "tui"),
    }


if __name__ == "__main__":
    roots = [Path(arg) for arg in sys.argv[1:]] or [SRC]
    problems = [edge for root in roots for edge in forbidden_imports(root)]
    print("\n".join(map(str, problems)) or "no forbidden imports")
    sys.exit(1 if problems else 0)
