"""CleanCLIP's eval layout (labels.csv + classes.py) loads, and classes.py is parsed, never run."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from cleanerclip_tool.errors import DataError
from cleanerclip_tool.eval.evalset import load_eval_set, read_classes_py

CLASSES_PY = """{
    "classes": ["tench", "goldfish", "great white shark"],

    "superclasses": [["tench"], ["goldfish"]],

    "templates": [lambda s: f"a bad photo of a {s}.", lambda s: f"a photo of many {s}.", lambda c: f"{c}"]
}
"""


def _folder(tmp_path: Path, rows: list[str], classes: str = CLASSES_PY) -> Path:
    root = tmp_path / "validation"
    (root / "images").mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (8, 8), (i * 60, 0, 0)).save(root / "images" / f"{i}.png")
    (root / "labels.csv").write_text("image,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    if classes:
        (root / "classes.py").write_text(classes, encoding="utf-8")
    return root


def test_cleanclip_layout_loads_with_its_classes_and_templates(tmp_path: Path) -> None:
    root = _folder(tmp_path, ["images/0.png,0", "images/1.png,2", "images/2.png,1"])
    evalset = load_eval_set(root)
    assert evalset.classnames == ["tench", "goldfish", "great white shark"]
    assert evalset.labels == [0, 2, 1] and evalset.samples[1][0] == (root / "images" / "1.png").resolve()
    assert evalset.templates == ["a bad photo of a {}.", "a photo of many {}.", "{}"]
    assert evalset.class_index("goldfish") == 1
    assert "labels.csv" in evalset.sources["layout"]


def test_classes_py_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    evil = f'{{"classes": ["a"], "templates": [lambda s: open({str(marker)!r}, "w").write(s)]}}'
    (tmp_path / "classes.py").write_text(evil, encoding="utf-8")
    with pytest.raises(DataError, match="template"):
        read_classes_py(tmp_path / "classes.py")
    (tmp_path / "classes.py").write_text('__import__("os").system("touch ' + str(marker) + '")', encoding="utf-8")
    with pytest.raises(DataError, match="dict literal"):
        read_classes_py(tmp_path / "classes.py")
    (tmp_path / "classes.py").write_text('{"classes": ["a"], "templates": [lambda s: f"{s.upper()}"]}')
    with pytest.raises(DataError, match="only insert"):
        read_classes_py(tmp_path / "classes.py")
    assert not marker.exists()


def test_bad_rows_name_the_row_and_column(tmp_path: Path) -> None:
    root = _folder(tmp_path, ["images/0.png,0", "images/1.png,seven"])
    with pytest.raises(DataError) as info:
        load_eval_set(root)
    assert "row 3, column label" in str(info.value.where)
    root = _folder(tmp_path / "b", ["images/0.png,3"])
    with pytest.raises(DataError, match="outside 0..2"):
        load_eval_set(root)
    root = _folder(tmp_path / "c", ["../../etc/passwd,0"])
    with pytest.raises(DataError, match="outside the eval folder") as info:
        load_eval_set(root)
    assert "column image" in str(info.value.where)


def test_class_names_from_a_file_when_there_is_no_classes_py(tmp_path: Path) -> None:
    root = _folder(tmp_path, ["images/0.png,1"], classes="")
    with pytest.raises(DataError, match="no class names"):
        load_eval_set(root)
    names = tmp_path / "names.txt"
    names.write_text("cat\ndog\n", encoding="utf-8")
    evalset = load_eval_set(root, classnames_file=names)
    assert evalset.classnames == ["cat", "dog"] and evalset.templates is None
