#!/usr/bin/env python
"""Sub-captions per second, cold (empty cache: spaCy + SceneGraphParser) and cached (second run).

    python benchmarks/bench_subcaptions.py [--n 2000] [--batch-size 256]

Captions are distinct, real-looking sentences drawn from templates with a fixed seed (each is
parsed: no duplicates to flatter the cold figure). spaCy's load time is reported apart from the
cold rate. "cached" is a new ``SubCaptioner`` in the same process reading the SQLite cache (no
in-process memo), i.e. what a second ``cleanerclip augment`` / purify run sees.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import tempfile
import time
from pathlib import Path

SUBJECTS = ["man", "woman", "dog", "cat", "child", "horse", "bird", "girl", "boy", "chef", "player", "cow"]
OBJECTS = ["ball", "table", "car", "tree", "bench", "frisbee", "bike", "umbrella", "cake", "phone", "kite", "boat"]
ADJECTIVES = ["small", "big", "red", "old", "young", "brown", "wooden", "happy", "white", "tall", "black", "shiny"]
VERBS = ["riding", "holding", "sitting on", "standing next to", "looking at", "playing with", "walking past", "eating"]
PLACES = ["in the park", "on the beach", "at night", "in a kitchen", "on a street", "near a lake", ""]
META = ["", "", "a photo of ", "close up of ", "an image of "]


def make_captions(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out: dict[str, None] = {}
    while len(out) < n:
        count = rng.choice(["a", "a", "the", "two", "three"])
        subj = rng.choice(SUBJECTS)
        subj = subj + ("ren" if subj == "child" else "s") if count in ("two", "three") else subj
        text = (
            f"{rng.choice(META)}{count} {rng.choice(ADJECTIVES)} {subj} {rng.choice(VERBS)} "
            f"a {rng.choice(ADJECTIVES)} {rng.choice(OBJECTS)} {rng.choice(PLACES)}"
        ).strip()
        text = text.replace(" a a", " an a").replace(" a o", " an o") + rng.choice(["", ".", "!"])
        if text.startswith(("a o", "a a")):
            text = "an" + text[1:]
        out[text] = None
    return list(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()

    import spacy

    from cleanerclip_tool.augment import SubCaptioner
    from cleanerclip_tool.augment import nlp as aug_nlp

    captions = make_captions(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite"
        cold = SubCaptioner(cache_path=db, batch_size=args.batch_size)
        t0 = time.perf_counter()
        aug_nlp.load_nlp(cold.spacy_model)
        aug_nlp.scene_graph(aug_nlp.load_nlp(cold.spacy_model)("warm up"))
        load_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        records = cold.batch(captions, seed=0)
        cold_s = time.perf_counter() - t0

        warm = SubCaptioner(cache_path=db, batch_size=args.batch_size)
        t0 = time.perf_counter()
        again = warm.batch(captions, seed=0)
        cached_s = time.perf_counter() - t0
        assert again == records and warm.stats.parsed_now == 0

        t0 = time.perf_counter()
        warm.batch(captions, seed=1)
        memo_s = time.perf_counter() - t0

    n = len(captions)
    rows = [
        ("machine", f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}"),
        ("versions", f"python {platform.python_version()}, spaCy {spacy.__version__}, model {cold.model_id}"),
        ("captions (distinct)", f"{n}"),
        ("parse failures", f"{sum(1 for r in records if not r.parsed)}"),
        ("spaCy load (not in rates)", f"{load_s:.2f} s"),
        ("cold: sub-captions/s", f"{n / cold_s:,.0f}  ({cold_s:.2f} s)"),
        ("cached (SQLite): sub-captions/s", f"{n / cached_s:,.0f}  ({cached_s:.3f} s)"),
        ("in-process memo, new seed: /s", f"{n / memo_s:,.0f}  ({memo_s:.3f} s)"),
        ("cached / cold", f"{cold_s / cached_s:,.0f}x"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"{'metric':<{width}} | value")
    print(f"{'-' * width}-+-{'-' * 40}")
    for key, value in rows:
        print(f"{key:<{width}} | {value}")


if __name__ == "__main__":
    main()
