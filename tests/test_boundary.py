"""The library core never imports a UI library, and the CLI's help never imports torch."""

from __future__ import annotations

import json
import subprocess
import sys

CORE_MODULES = [
    "cleanerclip_tool",
    "cleanerclip_tool.config",
    "cleanerclip_tool.errors",
    "cleanerclip_tool.events",
    "cleanerclip_tool.resources",
    "cleanerclip_tool.data.captions",
    "cleanerclip_tool.data.images",
]
OPTIONAL_CORE = [
    "cleanerclip_tool.models.load",
    "cleanerclip_tool.models.save",
    "cleanerclip_tool.hub",
    "cleanerclip_tool.augment",
    "cleanerclip_tool.losses",
    "cleanerclip_tool.engine",
    "cleanerclip_tool.attacks",
    "cleanerclip_tool.eval",
    "cleanerclip_tool.toyworld",
]

PROBE = """
import importlib, importlib.util, json, sys
mods = json.loads(sys.argv[1])
loaded = []
for name in mods:
    if importlib.util.find_spec(name) is None:
        continue
    importlib.import_module(name)
    loaded.append(name)
ui = sorted(m for m in ("textual", "typer", "rich", "click") if m in sys.modules)
print(json.dumps({"loaded": loaded, "ui": ui}))
"""


def _probe(modules: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(modules)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_core_imports_no_ui_library() -> None:
    result = _probe(CORE_MODULES + OPTIONAL_CORE)
    assert set(CORE_MODULES) <= set(result["loaded"])
    assert result["ui"] == [], f"library core imported UI modules: {result['ui']}"


def test_help_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from cleanerclip_tool.cli.app import app\n"
        "from typer.testing import CliRunner\n"
        "r = CliRunner().invoke(app, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print('torch' in sys.modules, 'open_clip' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"], out.stdout + out.stderr
