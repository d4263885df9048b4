from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from cleanerclip_tool.data.captions import guard_path, load_caption_table, write_skipped_csv
from cleanerclip_tool.data.images import open_rgb
from cleanerclip_tool.errors import DataError


def _img(path: Path, mode: str = "RGB", size=(8, 8)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    color = {"RGB": (10, 20, 30), "RGBA": (10, 20, 30, 128), "CMYK": (1, 2, 3, 4), "L": 7, "P": 3}.get(mode, 0)
    Image.new(mode, size, color).save(path)
    return path


def test_reads_rows_and_reports_bad_ones(tmp_path: Path) -> None:
    _img(tmp_path / "a.png")
    _img(tmp_path / "sub" / "b.png")
    (tmp_path / "captions.csv").write_text(
        "filepath,title\n"
        "a.png,a red square\n"
        'sub/b.png,"a blue, round circle"\n'
        "missing.png,nothing here\n"
        "../escape.png,outside\n"
        "a.png,   \n"
        "/etc/passwd,absolute\n",
        encoding="utf-8",
    )
    table = load_caption_table(tmp_path)
    assert [r.caption for r in table.rows] == ["a red square", "a blue, round circle"]
    assert [r.line for r in table.rows] == [2, 3]
    reasons = {s.line: s.reason for s in table.skipped}
    assert reasons[4] == "image file not found"
    assert "escapes the data root" in reasons[5]
    assert reasons[6] == "empty caption"
    assert "absolute" in reasons[7]
    out = write_skipped_csv(table.skipped, tmp_path / "skipped.csv")
    assert out.read_text().splitlines()[0] == "line,path,reason"


def test_bom_other_column_names_and_bad_utf8(tmp_path: Path) -> None:
    _img(tmp_path / "a.png")
    data = "\ufeffimage,caption\na.png,café au lait\n".encode() + b"a.png,bad \xff byte\n"
    csv_path = tmp_path / "data.csv"
    csv_path.write_bytes(data)
    table = load_caption_table(csv_path)
    assert table.image_key == "image" and table.caption_key == "caption"
    assert table.captions == ["café au lait"]
    assert table.skipped[0].line == 3 and table.skipped[0].reason == "not valid UTF-8"


def test_missing_columns_name_the_header(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text("foo,bar\n1,2\n")
    with pytest.raises(DataError, match=r"line 1.*'foo', 'bar'"):
        load_caption_table(tmp_path / "c.csv")


def test_missing_data_and_folder_without_csv(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_caption_table(tmp_path / "nope.csv")
    with pytest.raises(DataError, match=r"no captions\.csv"):
        load_caption_table(tmp_path)


def test_symlink_out_of_root_is_refused(tmp_path: Path) -> None:
    outside = _img(tmp_path / "outside" / "x.png")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside, root / "link.png")
    path, reason = guard_path("link.png", root)
    assert path is None and "escapes" in (reason or "")
    path, reason = guard_path("link.png", root, allow_outside_root=True)
    assert path is not None and reason is None


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "CMYK", "L", "P", "I;16"])
def test_open_rgb_converts_modes(tmp_path: Path, mode: str) -> None:
    ext = "jpg" if mode == "CMYK" else "png"
    img = open_rgb(_img(tmp_path / f"x.{ext}", mode))
    assert img.mode == "RGB" and img.size == (8, 8)


def test_open_rgb_rejects_truncated_and_non_images(tmp_path: Path) -> None:
    good = tmp_path / "good.jpg"
    Image.effect_noise((64, 64), 50).convert("RGB").save(good, quality=90)
    truncated = tmp_path / "trunc.jpg"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DataError, match=r"trunc\.jpg"):
        open_rgb(truncated)
    fake = tmp_path / "fake.jpg"
    fake.write_text("not an image")
    with pytest.raises(DataError, match="not an image"):
        open_rgb(fake)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(DataError):
        open_rgb(empty)


def test_open_clip_train_tsv_is_sniffed(tmp_path: Path) -> None:
    """open_clip_train's default caption file is tab-separated (filepath<TAB>title)."""
    _img(tmp_path / "a.png")
    (tmp_path / "train.tsv").write_text("filepath\ttitle\na.png\ta red, round circle\n", encoding="utf-8")
    table = load_caption_table(tmp_path / "train.tsv")
    assert table.separator == "\t" and [r.caption for r in table.rows] == ["a red, round circle"]
    for typed in ("\\t", "tab", "\t"):  # as typed in a shell (open_clip_train's --csv-separator "\t")
        assert load_caption_table(tmp_path / "train.tsv", separator=typed).rows
    with pytest.raises(DataError, match="--csv-separator"):
        load_caption_table(tmp_path / "train.tsv", separator=",")  # one column: the hint names the flag
    with pytest.raises(DataError, match="unknown separator"):
        load_caption_table(tmp_path / "train.tsv", separator=":")


def test_cleanclip_image_caption_layout_loads(tmp_path: Path) -> None:
    """CleanCLIP / BadCLIP write image,caption CSVs."""
    _img(tmp_path / "images" / "a.png")
    (tmp_path / "train.csv").write_text("image,caption\nimages/a.png,a red square\n", encoding="utf-8")
    table = load_caption_table(tmp_path / "train.csv")
    assert (table.image_key, table.caption_key) == ("image", "caption") and len(table.rows) == 1
