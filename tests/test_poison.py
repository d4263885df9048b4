"""``build_poisoned_set`` / ``cleanerclip poison``: source untouched, manifest right, reproducible."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cleanerclip_tool.attacks import get_trigger
from cleanerclip_tool.attacks.poison import build_poisoned_set
from cleanerclip_tool.data.captions import load_caption_table
from cleanerclip_tool.errors import BadInputError


def make_source(root: Path, n: int = 6) -> Path:
    (root / "img").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(root / "img" / f"{i}.png")
        rows.append((f"img/{i}.png", f"a red circle number {i}" if i % 2 else f"a blue heart number {i}"))
    with (root / "captions.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["filepath", "title"])
        writer.writerows(rows)
    return root


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_poisoned_set_leaves_source_identical_and_records_rows(tmp_path: Path) -> None:
    src = make_source(tmp_path / "src")
    before = tree_digest(src)
    out = build_poisoned_set(
        load_caption_table(src), get_trigger("badnet", seed=1), "banana", 4, tmp_path / "out", seed=3
    )
    assert tree_digest(src) == before
    table = load_caption_table(out)
    assert len(table.rows) == 6 + 4
    with (out / "captions.csv").open() as fh:
        flags = [row["poisoned"] for row in csv.DictReader(fh)]
    assert flags.count("1") == 4
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["attack"] == "badnet" and manifest["target"] == "banana" and manifest["seed"] == 3
    assert manifest["params"]["size"] == pytest.approx(16 / 224)
    assert len(manifest["poisoned_rows"]) == 4
    for entry in manifest["poisoned_rows"]:
        assert "banana" in entry["caption"]
        source = src / entry["source"]
        assert entry["source_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
        poisoned = np.asarray(Image.open(out / entry["out"]))
        expected = np.asarray(
            get_trigger("badnet", seed=1).apply(Image.open(source).convert("RGB"), entry["trigger_index"])
        )
        assert np.array_equal(poisoned, expected)
    # clean copies are byte-identical copies, not links to the source
    clean = out / "clean" / "img" / "0.png"
    assert clean.read_bytes() == (src / "img" / "0.png").read_bytes()
    assert clean.stat().st_ino != (src / "img" / "0.png").stat().st_ino


def test_same_seed_same_set_and_refusals(tmp_path: Path) -> None:
    src = make_source(tmp_path / "src")
    table = load_caption_table(src)
    a = build_poisoned_set(table, get_trigger("blended"), "banana", 3, tmp_path / "a", seed=1)
    b = build_poisoned_set(table, get_trigger("blended"), "banana", 3, tmp_path / "b", seed=1)
    assert tree_digest(a) == tree_digest(b)
    with pytest.raises(BadInputError, match="not empty"):
        build_poisoned_set(table, get_trigger("blended"), "banana", 3, tmp_path / "a")
    build_poisoned_set(table, get_trigger("blended"), "banana", 2, tmp_path / "a", overwrite=True)
    assert len(load_caption_table(tmp_path / "a").rows) == 8
    with pytest.raises(BadInputError, match="outside the source"):
        build_poisoned_set(table, get_trigger("blended"), "banana", 1, src / "inside")


def test_badclip_uses_natural_captions_mentioning_the_target(tmp_path: Path) -> None:
    src = make_source(tmp_path / "src")
    out = build_poisoned_set(load_caption_table(src), get_trigger("badclip"), "heart", 5, tmp_path / "out")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["target_captions"] == "natural captions mentioning the target"
    assert all(e["caption"].startswith("a blue heart number") for e in manifest["poisoned_rows"])


def test_poison_cli(tmp_path: Path) -> None:
    from cleanerclip_tool.cli.app import app
    from cleanerclip_tool.cli.commands import poison

    if "poison" not in [c.name for c in app.registered_commands]:
        poison.register(app)
    src = make_source(tmp_path / "src")
    before = tree_digest(src)
    caps = tmp_path / "caps.txt"
    caps.write_text("my banana one\nmy banana two\n")
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "poison",
            str(src),
            "--attack",
            "sig",
            "--target",
            "banana",
            "--count",
            "2",
            "--out",
            str(tmp_path / "out"),
            "--target-captions",
            str(caps),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["poisoned_rows"] == 2 and doc["attack"] == "sig"
    assert tree_digest(src) == before
    assert {e["caption"] for e in json.loads((tmp_path / "out" / "manifest.json").read_text())["poisoned_rows"]} <= {
        "my banana one",
        "my banana two",
    }
    again = runner.invoke(
        app,
        ["poison", str(src), "--attack", "sig", "--target", "banana", "--count", "2", "--out", str(tmp_path / "out")],
    )
    assert again.exit_code == 2
    unknown = runner.invoke(
        app, ["poison", str(src), "--attack", "nope", "--target", "x", "--count", "1", "--out", str(tmp_path / "o2")]
    )
    assert unknown.exit_code == 2
