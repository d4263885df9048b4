"""Write the toy world's own word banks (``src/cleanerclip_tool/toyworld/wordbanks/``).

Why a second set of banks: the shipped general banks hold ~3000 English terms each, so a CFA
negative of a toy caption nearly always swaps in a word the toy world never shows ("a small red
banana"), an easy negative that teaches a 32x32 shape model nothing. The paper draws replacements
from the domain's own vocabulary (WordNet over natural-image captions); for the toy world that
vocabulary is its 10 shapes, 10 size/colour adjectives and 4 relations, so negatives are hard ones
("a small red star" for a red heart). ``tests/test_toyworld.py`` checks the files match
``toyworld/captions.py``.

Usage: ``python scripts/build_toy_wordbanks.py``
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from cleanerclip_tool.toyworld.captions import wordbank_texts  # noqa: E402


def main() -> int:
    folder = REPO / "src" / "cleanerclip_tool" / "toyworld" / "wordbanks"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in wordbank_texts().items():
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
        print(f"wrote {folder / name}.txt")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
