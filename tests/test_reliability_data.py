"""Promise 4: a data folder full of bad files and bad rows. The run completes on the good rows and
``skipped.csv`` lists every bad one with its CSV line number, path and reason."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from engine_fixtures import draw_caption_set, tiny_loaded
from PIL import Image

from cleanerclip_tool.config import PurifyConfig
from cleanerclip_tool.data.captions import MAX_CAPTION_CHARS, load_caption_table
from cleanerclip_tool.data.images import open_rgb
from cleanerclip_tool.engine import purify
from cleanerclip_tool.errors import DataError


def _bad_folder(root: Path) -> tuple[Path, dict[str, str], list[str]]:
    """16 good rows, 4 odd-but-valid image modes, 5 undecodable images, 5 bad rows.
    Returns (folder, {path: expected reason fragment}, odd-mode paths)."""
    folder = draw_caption_set(root, n=16)
    img = folder / "img"
    Image.new("CMYK", (32, 32), (0, 128, 0, 0)).save(img / "cmyk.jpg")
    Image.new("P", (32, 32), 3).save(img / "palette.png")
    Image.new("RGBA", (32, 32), (10, 200, 10, 128)).save(img / "alpha.png")
    Image.fromarray(np.full((32, 32), 40_000, dtype=np.uint16)).save(img / "deep16.png")
    buffer = io.BytesIO()
    Image.effect_noise((64, 64), 60).convert("RGB").save(buffer, "JPEG")
    (img / "truncated.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    buffer = io.BytesIO()
    Image.effect_noise((64, 64), 60).convert("RGB").save(buffer, "PNG")
    (img / "truncated.png").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    (img / "empty.jpg").write_bytes(b"")
    (img / "text.jpg").write_text("<html>not an image</html>\n")
    Image.new("L", (200, 200)).save(img / "bomb.png")  # over the small pixel limit the test sets
    odd = ["img/cmyk.jpg", "img/palette.png", "img/alpha.png", "img/deep16.png"]
    undecodable = ["img/truncated.jpg", "img/truncated.png", "img/empty.jpg", "img/text.jpg", "img/bomb.png"]
    text = (folder / "captions.csv").read_text()
    lines = ["\ufeff" + text.splitlines()[0], *text.splitlines()[1:]]  # a BOM before the header
    lines += [f"{p},a picture of a thing" for p in odd + undecodable]
    expected = {
        "img/missing.png": "not found",
        "img/000.png": "empty caption",
        "img/001.png": f"longer than {MAX_CAPTION_CHARS}",
        "../outside.png": "escapes the data root",
    }
    lines += [
        "img/missing.png,a missing file",
        "img/000.png,   ",
        "img/001.png," + "word " * 1000,
        "../outside.png,outside the root",
    ]
    data = "\n".join(lines).encode("utf-8") + b"\nimg/002.png,caf\xe9 latin-1 bytes\n"
    expected["img/002.png"] = "UTF-8"
    data += b'img/003.png,"a quote that never ends\n'
    (folder / "captions.csv").write_bytes(data)
    (root.parent / "outside.png").write_bytes((img / "000.png").read_bytes())
    for path in undecodable:
        expected[path] = "unreadable image"
    return folder, expected, odd


def test_run_completes_on_good_rows_and_reports_the_bad(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100 * 100)
    folder, expected, odd = _bad_folder(tmp_path / "root" / "data")
    for path in odd:  # CMYK, palette, alpha and 16-bit images decode to 8-bit RGB
        assert open_rgb(folder / path).mode == "RGB"
    with pytest.raises(DataError, match="decompression bomb"):
        open_rgb(folder / "img" / "bomb.png")
    table = load_caption_table(folder)
    assert len(table.rows) == 25  # 16 + 4 odd modes + 5 that only a full decode rejects
    out = tmp_path / "out"
    config = PurifyConfig(method="ft", epochs=1, batch_size=5, lr=1e-3, warmup=1, workers=0, out=str(out), seed=1)
    result = purify(tiny_loaded(), table, config)
    assert result.model_dir is not None and (result.model_dir / "open_clip_model.safetensors").is_file()
    assert result.steps == 5 and not result.stopped
    with (out / "skipped.csv").open(newline="", encoding="utf-8") as fh:
        reported = list(csv.DictReader(fh))
    by_path = {row["path"]: row for row in reported}
    for path, reason in expected.items():
        assert path in by_path, (path, reported)
        assert reason.lower() in by_path[path]["reason"].lower(), by_path[path]
        assert int(by_path[path]["line"]) >= 2
    assert not set(odd) & set(by_path)
    assert by_path["img/missing.png"]["line"] == str(16 + 9 + 2)  # header is line 1, then 16 + 9 image rows
    broken = [row for row in reported if "broken CSV row" in row["reason"]]
    assert [row["line"] for row in broken] == ["32"]  # the unclosed quote: reported, not swallowed
    assert result.skipped_rows == len(reported)


def _cli(args: list[str]):
    from typer.testing import CliRunner

    from cleanerclip_tool.cli.app import app

    return CliRunner().invoke(app, args, env={"COLUMNS": "300", "NO_COLOR": "1"})


def test_strict_stops_before_training_with_the_full_report(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100 * 100)
    folder, expected, odd = _bad_folder(tmp_path / "root" / "data")
    out = tmp_path / "out"
    # The model does not exist: the data check must stop the run before anything is loaded.
    result = _cli(
        ["purify", "/nonexistent/model.pt", "--data", str(folder), "--out", str(out), "--strict", "--method", "ft"]
    )
    assert result.exit_code == 2, result.output
    assert "--strict: 11 bad row(s), first at line 22" in result.output and "Traceback" not in result.output
    with (out / "skipped.csv").open(newline="", encoding="utf-8") as fh:
        reported = {row["path"]: row["reason"] for row in csv.DictReader(fh)}
    assert set(expected) <= set(reported) and not set(odd) & set(reported)
    assert "truncated" in reported["img/truncated.jpg"] and "decompression bomb" in reported["img/bomb.png"]
    assert sorted(p.name for p in out.iterdir()) == ["skipped.csv"]


def test_too_many_bad_rows_stop_with_a_clear_message(tmp_path: Path) -> None:
    folder, _expected, _odd = _bad_folder(tmp_path / "root" / "data")
    out = tmp_path / "out"
    result = _cli(
        [
            "purify",
            "/nonexistent/model.pt",
            "--data",
            str(folder),
            "--out",
            str(out),
            "--method",
            "ft",
            "--max-skipped-fraction",
            "0.1",
        ]
    )
    assert result.exit_code == 2, result.output
    assert "6 of 31 rows are bad (19% > max_skipped_fraction 0.1)" in result.output
    assert (out / "skipped.csv").is_file()
    again = _cli(["purify", "/nonexistent/model.pt", "--data", str(folder), "--out", str(out), "--method", "ft"])
    assert "not empty" not in again.output  # only skipped.csv there: the fixed run may reuse the folder


def test_paths_outside_the_data_root_need_allow_outside_root(tmp_path: Path) -> None:
    """Promise 5: ``../``, absolute paths and symlinks leading out are refused unless allowed."""
    folder = draw_caption_set(tmp_path / "data", n=2)
    outside = tmp_path / "secret.png"
    outside.write_bytes((folder / "img" / "000.png").read_bytes())
    (folder / "img" / "link.png").symlink_to(outside)
    rows = [
        "filepath,title",
        "img/000.png,inside",
        "../secret.png,dot dot",
        f"{outside},absolute",
        "img/link.png,a symlink out",
        "img/../../secret.png,normalised out",
    ]
    (folder / "captions.csv").write_text("\n".join(rows) + "\n")
    table = load_caption_table(folder)
    assert [r.relpath for r in table.rows] == ["img/000.png"]
    assert {s.line: s.reason.split(" (")[0] for s in table.skipped} == {
        3: "image path escapes the data root",
        4: "absolute image path",
        5: "image path escapes the data root",
        6: "image path escapes the data root",
    }
    allowed = load_caption_table(folder, allow_outside_root=True)
    assert len(allowed.rows) == 5 and not allowed.skipped
