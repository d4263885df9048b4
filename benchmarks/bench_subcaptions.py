#!/usr/bin/env python
"""Sub-captions per second, cold (empty cache: spaCy + SceneGraphParser) and cached (second run).

    python benchmarks/bench_subcaptions.py [--n 4000] [--batch-size 256] [--n-process K] [--repeats 15]

Captions are distinct, real-looking sentences drawn from templates with a fixed seed (each is
parsed: no duplicates to flatter the cold figure). spaCy's load time is reported apart from the
cold rate. "cached" is a new ``SubCaptioner`` in the same process reading the SQLite cache (no
in-process memo), i.e. what a second ``cleanerclip augment`` / purify run sees. Each rate is also
given as a ratio to the issue's goals (>= 1000/s cold on 2 cores, >= 100k/s cached), next to the
load average: on a shared machine the wall-clock rates mostly measure the neighbours, so the cached
(single-process) rate is also given per CPU-second, and the cached and memo figures are the best
of ``--repeats`` runs (the median too), each a new ``SubCaptioner`` (for "cached") after a full
garbage collection.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import statistics
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


COLD_GOAL, CACHED_GOAL = 1000.0, 100_000.0  # sub-captions per second (issue 5, 2 cores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=4000, help="distinct captions (default 4000)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--n-process", type=int, default=None, help="parser processes (default: automatic)")
    parser.add_argument("--repeats", type=int, default=15, help="cached/memo runs: best and median (default 15)")
    args = parser.parse_args()

    import spacy

    from cleanerclip_tool.augment import SubCaptioner
    from cleanerclip_tool.augment import nlp as aug_nlp
    from cleanerclip_tool.augment.parsing import pool_size

    captions = make_captions(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite"
        cold = SubCaptioner(cache_path=db, batch_size=args.batch_size, n_process=args.n_process)
        t0 = time.perf_counter()
        aug_nlp.scene_graph(aug_nlp.load_nlp(cold.spacy_model)("warm up"))
        load_s = time.perf_counter() - t0

        cold_s, cold_cpu, records = _timed(lambda: cold.batch(captions, seed=0))

        def second_run():
            warm = SubCaptioner(cache_path=db, batch_size=args.batch_size)  # new object: no in-process memo
            return warm, warm.batch(captions, seed=0)

        # Best of --repeats, median alongside: a cached run takes a few hundredths of a second, and on
        # this (virtual) machine the same pure-Python loop takes up to 1.7x longer from one run to the
        # next with nothing else running; the best run is the machine's speed, the median its weather.
        cached_runs = sorted((_timed(second_run) for _ in range(args.repeats)), key=lambda t: t[0])
        for _, _, (warm, out) in cached_runs:  # checked outside the timed region
            assert out == records and warm.stats.parsed_now == 0 and warm.stats.from_disk == len(captions)
        cached_s, cached_cpu, (warm, _) = cached_runs[0]
        cached_median = statistics.median(t[0] for t in cached_runs)
        del cached_runs, out  # 15 runs' records: not kept alive during the memo runs
        memo_runs = sorted(t[0] for t in (_timed(lambda: warm.batch(captions, seed=1)) for _ in range(args.repeats)))
        memo_s, memo_median = memo_runs[0], statistics.median(memo_runs)

    n = len(captions)
    workers = pool_size(n, args.n_process)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    rows = [
        ("machine", f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}"),
        ("load average (1, 5, 15 min)", f"{load}  (figures below are only comparable on an idle machine)"),
        ("versions", f"python {platform.python_version()}, spaCy {spacy.__version__}, model {cold.model_id}"),
        ("N (distinct captions)", f"{n}, parse failures {sum(1 for r in records if not r.parsed)}"),
        ("parser processes (cold)", f"{workers or 1}" + (" (pool)" if workers else " (this process)")),
        ("spaCy load (not in rates)", f"{load_s:.2f} s"),
        ("cold: sub-captions/s", _rate(n, cold_s, cold_cpu, COLD_GOAL, workers)),
        ("cached (SQLite): sub-captions/s", _rate(n, cached_s, cached_cpu, CACHED_GOAL, 0)),
        ("cached, median run", f"{n / cached_median:,.0f}  ({cached_median:.3f} s; {args.repeats} runs)"),
        ("in-process memo, new seed: /s", f"{n / memo_s:,.0f}  ({memo_s:.3f} s; median {n / memo_median:,.0f}/s)"),
        ("cached / cold", f"{cold_s / cached_s:,.0f}x"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"{'metric':<{width}} | value")
    print(f"{'-' * width}-+-{'-' * 60}")
    for key, value in rows:
        print(f"{key:<{width}} | {value}")


def _timed(fn):
    """(wall seconds, this process's CPU seconds, result), after a full collection (not timed)."""
    gc.collect()
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w, time.process_time() - c, out


def _rate(n: int, wall: float, cpu: float, goal: float, workers: int) -> str:
    """Wall rate with its ratio to the goal; the CPU rate too when this process did all the work."""
    text = f"{n / wall:,.0f}  ({wall:.2f} s wall; {n / wall / goal:.2f}x the goal of {goal:,.0f}/s)"
    if not workers and cpu > 0:
        text += f"; per CPU-second {n / cpu:,.0f}"
    return text


if __name__ == "__main__":
    main()
