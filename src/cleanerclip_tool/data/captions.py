"""Reading an image–caption table (DATA spec) without trusting it.

DATA is a CSV file or a folder holding ``captions.csv``. Image paths are relative to the CSV's
folder and must stay inside it (resolved, normalised, symlinks followed) unless the caller allows
otherwise. Bad rows are collected with their CSV line number and reason instead of stopping the
read, so a run can go on with the good rows and report the rest in ``skipped.csv``.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cleanerclip_tool.errors import DataError

IMAGE_KEY_CANDIDATES = ("filepath", "image", "image_path", "path", "file", "filename", "img")
CAPTION_KEY_CANDIDATES = ("title", "caption", "text", "captions", "sentence")
SEPARATORS = {",": ",", "\t": "\t", "tab": "\t", "\\t": "\t", ";": ";", "|": "|"}
MAX_CAPTION_CHARS = 4096  # longer captions are almost surely a broken row; CLIP reads 77 tokens anyway


@dataclass(frozen=True)
class CaptionRow:
    """One usable row: ``line`` is the CSV line number (header is line 1)."""

    line: int
    image: Path
    caption: str
    relpath: str


@dataclass(frozen=True)
class SkippedRow:
    line: int
    path: str
    reason: str


@dataclass
class CaptionTable:
    csv_path: Path
    root: Path
    image_key: str
    caption_key: str
    rows: list[CaptionRow] = field(default_factory=list)
    skipped: list[SkippedRow] = field(default_factory=list)
    separator: str = ","

    @property
    def captions(self) -> list[str]:
        return [row.caption for row in self.rows]

    def __len__(self) -> int:
        return len(self.rows)


def resolve_data_spec(spec: str | Path) -> Path:
    """The CSV file a DATA spec names (the file itself, or ``captions.csv`` in a folder)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        candidate = path / "captions.csv"
        if not candidate.is_file():
            raise DataError("folder has no captions.csv", where=path, hint="pass the CSV file itself")
        return candidate
    if not path.exists():
        raise DataError("data not found", where=path)
    if not path.is_file():
        raise DataError("not a file or folder", where=path)
    return path


def _pick_column(header: list[str], wanted: str | None, candidates: Iterable[str], what: str, where: Path) -> str:
    if wanted and wanted in header:
        return wanted
    for name in candidates:
        if name in header:
            return name
    raise DataError(
        f"no {what} column (looked for {wanted!r}); the header has {', '.join(map(repr, header)) or 'nothing'}",
        where=f"{where}, line 1",
        hint=f"name it with --{'image' if what == 'image path' else 'caption'}-key"
        + (" (or the separator with --csv-separator)" if len(header) == 1 else ""),
    )


def is_inside(path: Path, root: Path) -> bool:
    """True when the resolved ``path`` lies under the resolved ``root`` (symlinks followed)."""
    try:
        resolved = Path(os.path.realpath(path))
        base = Path(os.path.realpath(root))
    except (OSError, ValueError):
        return False
    return resolved == base or base in resolved.parents


def guard_path(raw: str, root: Path, *, allow_outside_root: bool = False) -> tuple[Path | None, str | None]:
    """Resolve a CSV image path against ``root``; return (path, None) or (None, reason)."""
    if not raw or not raw.strip():
        return None, "empty image path"
    if "\x00" in raw:
        return None, "image path contains a NUL byte"
    candidate = Path(raw.strip())
    if candidate.is_absolute() and not allow_outside_root:
        return None, "absolute image path (outside the data root; use --allow-outside-root)"
    full = candidate if candidate.is_absolute() else root / candidate
    if not allow_outside_root and not is_inside(full, root):
        return None, "image path escapes the data root (use --allow-outside-root)"
    return full, None


def parse_separator(text: str | None) -> str | None:
    """``--csv-separator``: ``,``, a tab (``\\t`` as typed in a shell, or ``tab``), ``;`` or ``|``; None sniffs."""
    if text is None or text == "":
        return None
    if text not in SEPARATORS:
        raise DataError(f"unknown separator {text!r}", where="--csv-separator", hint="use ',', '\\t' (tab), ';' or '|'")
    return SEPARATORS[text]


def sniff_separator(text: str) -> str:
    """The separator of a caption table from its header line: a tab when the header has one and no
    comma (open_clip_train's default TSV), else ``;`` or ``|`` the same way, else a comma."""
    header = text.split("\n", 1)[0]
    for sep in ("\t", ";", "|"):
        if sep in header and "," not in header:
            return sep
    return ","


def load_caption_table(
    spec: str | Path,
    *,
    image_key: str | None = "filepath",
    caption_key: str | None = "title",
    allow_outside_root: bool = False,
    check_exists: bool = True,
    separator: str | None = None,
) -> CaptionTable:
    """Read a caption CSV or TSV; bad rows go to ``table.skipped`` with line numbers and reasons.

    The file is decoded as UTF-8 (a BOM is accepted); rows with undecodable bytes are skipped, not
    fatal. ``separator`` None sniffs it from the header (``sniff_separator``). A file with no
    usable header is a ``DataError``.
    """
    csv_path = resolve_data_spec(spec)
    root = csv_path.parent
    try:
        raw = csv_path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror or exc}", where=csv_path) from None
    text = raw.decode("utf-8", errors="surrogateescape")
    if text.startswith("\ufeff"):
        text = text[1:]
    # strict: a stray or unclosed quote is a broken row (reported), not a caption that silently
    # swallows the lines after it up to the end of the file.
    delimiter = parse_separator(separator) or sniff_separator(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise DataError("empty CSV (no header row)", where=csv_path) from None
    except csv.Error as exc:
        raise DataError(f"unreadable header: {exc}", where=f"{csv_path}, line 1") from None
    header = [h.strip() for h in header]
    img_col = _pick_column(header, image_key, IMAGE_KEY_CANDIDATES, "image path", csv_path)
    cap_col = _pick_column(header, caption_key, CAPTION_KEY_CANDIDATES, "caption", csv_path)
    img_idx, cap_idx = header.index(img_col), header.index(cap_col)
    table = CaptionTable(csv_path=csv_path, root=root, image_key=img_col, caption_key=cap_col, separator=delimiter)

    line = reader.line_num
    while True:
        start_line = line + 1
        try:
            fields_ = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            table.skipped.append(SkippedRow(start_line, "", f"broken CSV row: {exc}"))
            line = reader.line_num
            continue
        line = reader.line_num
        if not fields_ or all(not f.strip() for f in fields_):
            continue
        rel = fields_[img_idx] if img_idx < len(fields_) else ""
        caption = fields_[cap_idx] if cap_idx < len(fields_) else ""
        if _has_surrogates(rel) or _has_surrogates(caption):
            table.skipped.append(SkippedRow(start_line, _printable(rel), "not valid UTF-8"))
            continue
        if len(fields_) < len(header):
            table.skipped.append(SkippedRow(start_line, rel, f"expected {len(header)} columns, found {len(fields_)}"))
            continue
        caption = " ".join(caption.split())
        if not caption:
            table.skipped.append(SkippedRow(start_line, rel, "empty caption"))
            continue
        if len(caption) > MAX_CAPTION_CHARS:
            table.skipped.append(SkippedRow(start_line, rel, f"caption longer than {MAX_CAPTION_CHARS} characters"))
            continue
        path, reason = guard_path(rel, root, allow_outside_root=allow_outside_root)
        if path is None:
            table.skipped.append(SkippedRow(start_line, rel, reason or "bad path"))
            continue
        if check_exists and not path.is_file():
            table.skipped.append(SkippedRow(start_line, rel, "image file not found"))
            continue
        table.rows.append(CaptionRow(line=start_line, image=path, caption=caption, relpath=rel.strip()))
    return table


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _printable(text: str) -> str:
    return text.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")


def write_skipped_csv(skipped: Iterable[SkippedRow], path: str | Path) -> Path:
    """Write ``line,path,reason`` rows so the user can fix their data."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["line", "path", "reason"])
        for row in skipped:
            writer.writerow([row.line, row.path, row.reason])
    return path
