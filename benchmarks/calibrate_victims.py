"""Calibrate the paper-protocol toy victims: attack x poisoning rate x victim seed -> BA@1, ASR@1.

A victim is ``toy:clean`` fine-tuned by the attacker on the toy train split plus a poisoned fraction
(``toyworld.victim.make_victim``, the library call behind ``cleanerclip toyworld victim``). The rule
the shipped recipes follow (``toyworld.victim.VICTIM_RECIPES``): per attack, the lowest rate of the
grid at which every development seed (0, 1, 2) reaches ASR@1 >= 85% with BA@1 no more than one
point below ``toy:clean``'s. Rates and schedules are chosen on seeds 0-2 only; evaluation seeds
(10-12) are built with the chosen recipe and never used to choose.

Usage::

    python benchmarks/calibrate_victims.py --attacks badnet --rates 0.01,0.02,0.03 --seeds 0
    python benchmarks/calibrate_victims.py --attacks all --seeds 0,1,2 --jobs 2   # recipe rates
    python benchmarks/calibrate_victims.py --summary    # every cached cell, nothing built

Each cell runs in its own single-thread process (``--jobs`` at once) and is cached under ``--root``
(default ``benchmarks/results/victims``): the victim folder and its ``cell.json`` (BA/ASR from
``app.scan.run_scan`` with the trigger the card records), so a grid resumes and
``reproduce_table1.py`` reuses the victims. The table is printed as Markdown with the rule's verdict.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

ATTACKS = ("badnet", "blended", "sig", "wanet", "ssba", "badclip")
ASR_MIN = 85.0  # the rule: ASR@1 at least this on every development seed ...
BA_DROP_MAX = 1.0  # ... with BA@1 at most this many points below toy:clean
DEFAULT_ROOT = REPO / "benchmarks" / "results" / "victims"


def log(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def victim_folder(root: Path, attack: str, rate: float, seed: int) -> Path:
    return root / f"{attack}-rate{rate:g}-seed{seed}"


def scan_rates(model: str, attack: str) -> dict[str, Any]:
    """BA/ASR (percent) at Top-1/3/5/10 through the shipped scan, trigger from the model's card."""
    from cleanerclip_tool.app.scan import ScanConfig, run_scan

    report = run_scan(model, ScanConfig(attacks=(attack,), target="heart", workers=0, device="cpu"))
    result = report.results[0]
    return {
        "ba": {k: round(100 * v, 2) for k, v in result.ba.items()},
        "asr": {k: None if v is None else round(100 * v, 2) for k, v in result.asr.items()},
    }


def build_cell(attack: str, rate: float, seed: int, root: str) -> dict[str, Any]:
    """One victim: build (unless cached), scan, record ``cell.json``."""
    import torch

    torch.set_num_threads(1)
    from cleanerclip_tool.toyworld.victim import VictimSettings, make_victim, save_victim

    folder = victim_folder(Path(root), attack, rate, seed)
    record_path = folder / "cell.json"
    settings = VictimSettings(attack=attack, poison_rate=rate, seed=seed).validate()
    if record_path.is_file():
        record = json.loads(record_path.read_text(encoding="utf-8"))
        if record.get("settings") == json.loads(json.dumps(settings.to_dict())):
            return record
    t0 = time.perf_counter()
    result = make_victim(settings)
    save_victim(result, folder, overwrite=True)
    rates = scan_rates(str(folder), attack)
    record = {
        "attack": attack,
        "rate": rate,
        "seed": seed,
        "settings": settings.to_dict(),
        "poisoned_pairs": result.poisoned,
        "steps": result.steps,
        "train_seconds": round(result.seconds, 1),
        "seconds": round(time.perf_counter() - t0, 1),
        **rates,
        "model": str(folder),
    }
    record_path.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    log(f"{attack} rate {rate:g} seed {seed}: BA@1 {record['ba']['1']} ASR@1 {record['asr']['1']}")
    return record


def _job(args: tuple[str, float, int, str]) -> dict[str, Any]:
    return build_cell(*args)


def clean_ba() -> float:
    """toy:clean's BA@1 on the test split, the reference of the BA rule."""
    return scan_rates("toy:clean", "badnet")["ba"]["1"]


def verdicts(cells: list[dict[str, Any]], clean: float) -> list[str]:
    lines = [
        "| attack | rate | poisoned pairs | seeds | BA@1 per seed | ASR@1 per seed | ASR@1 mean ± sd | rule |",
        "|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for cell in cells:
        groups.setdefault((cell["attack"], cell["rate"]), []).append(cell)
    for (attack, rate), group in sorted(groups.items()):
        group.sort(key=lambda c: c["seed"])
        asr = [c["asr"]["1"] for c in group]
        ok = all(c["asr"]["1"] >= ASR_MIN and c["ba"]["1"] >= clean - BA_DROP_MAX for c in group)
        sd = statistics.stdev(asr) if len(asr) > 1 else 0.0
        ba = " / ".join(f"{c['ba']['1']:.1f}" for c in group)
        lines.append(
            f"| {attack} | {rate:g} | {group[0]['poisoned_pairs']} | {','.join(str(c['seed']) for c in group)} | "
            f"{ba} | {' / '.join(f'{a:.1f}' for a in asr)} | "
            f"{statistics.mean(asr):.1f} ± {sd:.1f} | {'pass' if ok else 'fail'} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    from cleanerclip_tool.toyworld.victim import VICTIM_RECIPES, VICTIM_SCHEDULE

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attacks", default="all", help=f"comma-separated of {', '.join(ATTACKS)}, or all")
    parser.add_argument("--rates", default=None, help="comma-separated poisoning rates (default: each recipe's)")
    parser.add_argument("--seeds", default="0,1,2", help="victim seeds")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="cells at once (1 thread each)")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="victim cache")
    parser.add_argument("--json", type=Path, default=None, help="also write the cells here")
    parser.add_argument("--summary", action="store_true", help="tabulate every cached cell; build nothing")
    args = parser.parse_args(argv)
    if args.summary:
        cells = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(args.root.glob("*/cell.json"))]
        if args.attacks != "all":
            cells = [c for c in cells if c["attack"] in args.attacks.split(",")]
        wanted = {int(s) for s in args.seeds.split(",")}
        cells = [c for c in cells if c["seed"] in wanted]
        clean = clean_ba()
        print(
            "\n".join([f"toy:clean BA@1 {clean:.1f}; rule: ASR@1 >= {ASR_MIN:g} and BA@1 >= {clean - BA_DROP_MAX:.1f}"])
        )
        print("\n".join(verdicts(cells, clean)))
        seconds = [c["train_seconds"] for c in cells]
        if seconds:
            print(f"\nattacker fine-tune per victim: median {statistics.median(seconds):.0f} s (one thread, 2 jobs)")
        return 0
    attacks = ATTACKS if args.attacks == "all" else tuple(a.strip() for a in args.attacks.split(","))
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = []
    for attack in attacks:
        rates = [float(r) for r in args.rates.split(",")] if args.rates else [VICTIM_RECIPES[attack]["poison_rate"]]
        jobs += [(attack, rate, seed, str(args.root)) for rate in rates for seed in seeds]
    args.root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if args.jobs > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            cells = list(pool.map(_job, jobs))
    else:
        cells = [_job(job) for job in jobs]
    clean = clean_ba()
    lines = [
        "# Paper-protocol toy victims: calibration",
        "",
        f"Attacker: `toy:clean` fine-tuned (method ft) for {VICTIM_SCHEDULE['epochs']} epochs, batch "
        f"{VICTIM_SCHEDULE['batch_size']}, lr {VICTIM_SCHEDULE['lr']:g}, warmup {VICTIM_SCHEDULE['warmup']} on "
        "the toy train split (10,000 pairs) plus rate x 10,000 poisoned copies; trigger seed = victim seed. "
        f"Rule: ASR@1 >= {ASR_MIN:g}% on every seed and BA@1 >= toy:clean's {clean:.1f} - {BA_DROP_MAX:g}.",
        "",
        *verdicts(cells, clean),
        "",
        f"Command: `python benchmarks/calibrate_victims.py --attacks {args.attacks} "
        f"{'--rates ' + args.rates + ' ' if args.rates else ''}--seeds {args.seeds}`; "
        f"wall time {(time.perf_counter() - started) / 60:.1f} min (cached cells count 0).",
    ]
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({"clean_ba": clean, "cells": cells}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
