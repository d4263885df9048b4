"""Promise 10: generated CSV bytes, image paths and captions fed to the caption loader, the path
guard and the sub-captioner. Nothing may escape except the project's documented errors
(``CleanerClipError`` subclasses); every accepted row must satisfy the loader's own promises."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cleanerclip_tool.data.captions import MAX_CAPTION_CHARS, guard_path, is_inside, load_caption_table
from cleanerclip_tool.errors import CleanerClipError

FUZZ = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

_ROOT = Path(tempfile.mkdtemp(prefix="cleanerclip-fuzz-"))
(_ROOT / "data" / "img").mkdir(parents=True)
(_ROOT / "data" / "img" / "a.png").write_bytes(b"not really a png: the loader does not decode")
(_ROOT / "outside.png").write_bytes(b"x")
(_ROOT / "data" / "link.png").symlink_to(_ROOT / "outside.png")

# Pieces a CSV is made of, so that generated files are near-misses rather than pure noise.
_PIECES = st.sampled_from(
    [
        b"filepath",
        b"title",
        b",",
        b'"',
        b'""',
        b"\n",
        b"\r\n",
        b"\r",
        b"\xef\xbb\xbf",
        b"img/a.png",
        b"../outside.png",
        b"/etc/passwd",
        b"link.png",
        b"a red square",
        b"\xff\xfe",
        b"\x00",
        b"\xc3\x28",
        b" ",
        b"\t",
        b"caption",
        b";",
    ]
)
CSV_BYTES = st.one_of(
    st.binary(max_size=300),
    st.lists(_PIECES, max_size=40).map(b"".join),
    st.lists(_PIECES, max_size=30).map(lambda parts: b"filepath,title\n" + b"".join(parts)),
)


@FUZZ
@given(raw=CSV_BYTES, allow=st.booleans())
def test_caption_loader_survives_any_bytes(raw: bytes, allow: bool) -> None:
    csv_path = _ROOT / "data" / "captions.csv"
    csv_path.write_bytes(raw)
    try:
        table = load_caption_table(csv_path, allow_outside_root=allow)
    except CleanerClipError:
        return
    for row in table.rows:
        assert row.caption.strip() and len(row.caption) <= MAX_CAPTION_CHARS
        assert row.image.is_file()
        if not allow:
            assert is_inside(row.image, table.root)
    for skipped in table.skipped:
        assert skipped.line >= 2 and skipped.reason


PATH_TEXT = st.one_of(
    st.text(max_size=60),
    st.lists(
        st.sampled_from(["..", ".", "img", "a.png", "/", "//", "link.png", "~", "\x00", "C:\\", "%2e%2e"]), max_size=8
    ).map("/".join),
)


@FUZZ
@given(raw=PATH_TEXT)
def test_path_guard_never_lets_a_path_out(raw: str) -> None:
    root = _ROOT / "data"
    try:
        path, reason = guard_path(raw, root)
    except CleanerClipError:
        return
    assert (path is None) != (reason is None)
    if path is not None:
        assert is_inside(path, root), raw


@pytest.fixture(scope="module")
def subcaptioner():
    from cleanerclip_tool.augment import SubCaptioner

    return SubCaptioner(cache=False)  # spaCy loads once for the module


CAPTIONS = st.one_of(
    st.text(max_size=80),
    st.lists(
        st.sampled_from(
            [
                "a",
                "red",
                "square",
                "above",
                "the",
                "blue",
                "circle",
                "dog",
                "on",
                ",",
                ".",
                "and",
                "of",
                "big",
                "Ünïcödé",
                "🙂",
                "\n",
                "  ",
                "left",
                "with",
            ]
        ),
        max_size=15,
    ).map(" ".join),
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(caption=CAPTIONS, seed=st.integers(0, 2**31))
def test_subcaptioner_survives_any_caption(subcaptioner, caption: str, seed: int) -> None:
    try:
        positive = subcaptioner.positive(caption)
        negative, operation = subcaptioner.negative(positive, random.Random(seed))
    except CleanerClipError:
        return
    assert isinstance(positive, str) and isinstance(negative, str)
    assert operation in {"adjective", "relation", "noun", "none"}
