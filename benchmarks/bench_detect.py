"""Detection figures of ``cleanerclip detect`` (trigger inversion) on the toy world.

Runs the inversion on clean and backdoored toy models (and purified ones, if given) in each mode of
``--modes``, then prints one row per model (verdict, suspected target, score, seconds) and, per
mode and separately for the fit seeds and the other seeds, the detection rate per attack (flagged
AND the target named), the false positives among clean models and the AUROC of the score (victims
vs clean).

Modes: ``collapse`` is the label-free score (one trigger that makes the image embeddings collapse,
DECREE; score = the mask's L1 fraction of the image, lower = more suspect); ``classes`` is one
trigger per class, scored by the median/MAD anomaly index and, against ``--reference``, by the
smallest L1 ratio to the reference.

Threshold rules (fixed before any model of another seed was looked at), on the models of the
``--fit-seeds`` (default 0, 1, 2):

- anomaly index: T = max(2.0, the smallest multiple of 0.25 above every clean model's score). 2.0 is
  Neural Cleanse's cut-off; the 0.25 step avoids tuning T to a hair above one clean model.
- reference ratio (``--reference``, default toy:clean): T_ref = min(0.5, the largest multiple of
  0.05 strictly below every other fit-seed clean model's ratio).
- collapse: T_collapse = the largest multiple of 0.0025 at or below 0.8 x the smallest fit-seed
  clean model's L1 fraction. The 0.8 margin is the spread measured between repeated searches on one
  clean model (30 vs 36 pixels), so a clean model of another seed is not called a backdoor for
  sitting a little below the fit seeds' minimum.

    python benchmarks/bench_detect.py                                   # the shipped toy models
    python benchmarks/bench_detect.py --modes collapse --victims benchmarks/results/victims --victim-seeds 0,1,2
    python benchmarks/bench_detect.py --model DIR@clean/1 --model DIR@clean/2 --model DIR@badnet/3
    python benchmarks/bench_detect.py --model PURIFIED_DIR@badnet/0/purified --json-out figures.json

``SPEC@ATTACK/SEED[/purified]`` says what a model is: ``clean`` or the attack it was poisoned with,
its training seed, and whether it was purified (purified models are reported, never scored as
victims or clean). Shipped ``toy:NAME`` models carry this in their build record; paper-protocol
victims (``--victims ROOT``: every ``ATTACK-rateR-seedS/`` folder with a ``cell.json``, as
``benchmarks/calibrate_victims.py`` writes them) in their ``cell.json``. ``--victim-seeds`` picks
their seeds (default 0, 1, 2: the development seeds; the evaluation seeds are added explicitly).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import machine_lines

MODES = ("collapse", "classes")
WORKING_ASR = 0.85  # the victim recipe's bar (calibrate_victims.py): a backdoor that works


@dataclass
class Entry:
    spec: str
    attack: str | None  # None = clean
    seed: int
    purified: bool = False
    target: str | None = None
    known_asr: float | None = None  # the victim's own trigger, ASR@1 in percent, where its record has it

    @property
    def label(self) -> str:
        if self.spec.startswith("toy:"):
            return self.spec
        path = Path(self.spec.rstrip("/"))
        return path.parent.name if path.name == "model" else path.name  # purify's OUT/model


def shipped_entries() -> list[Entry]:
    from cleanerclip_tool.toyworld.registry import BUILD_RECORD, list_toy_models, resolve_toy_model

    out = []
    for name in list_toy_models():
        record = json.loads((resolve_toy_model(name) / BUILD_RECORD).read_text())
        settings = record["settings"]
        attack = settings.get("attack")
        out.append(Entry(f"toy:{name}", attack, int(settings.get("seed", 0)), target=settings.get("target")))
    return out


def victim_entries(root: Path, seeds: set[int]) -> list[Entry]:
    """The paper-protocol victims under ``root`` (one folder with a ``cell.json`` each) of the given seeds."""
    out = []
    for cell in sorted(root.glob("*/cell.json")):
        record = json.loads(cell.read_text())
        if int(record["seed"]) not in seeds:
            continue
        settings = record.get("settings", {})
        asr = record.get("asr", {}).get("1")
        out.append(
            Entry(str(cell.parent), record["attack"], int(record["seed"]), target=settings.get("target"), known_asr=asr)
        )
    return out


def parse_entry(text: str) -> Entry:
    spec, _, what = text.rpartition("@")
    if not spec:
        raise SystemExit(f"--model {text!r}: expected SPEC@ATTACK/SEED[/purified]")
    parts = what.split("/")
    attack = None if parts[0] == "clean" else parts[0]
    from cleanerclip_tool.toyworld.captions import TARGET_LABEL

    return Entry(
        spec,
        attack,
        int(parts[1]) if len(parts) > 1 else 0,
        "purified" in parts[2:],
        None if attack is None else TARGET_LABEL,
    )


def auroc(positives: list[float], negatives: list[float]) -> float | None:
    """P(score of a victim > score of a clean model), ties count half."""
    if not positives or not negatives:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def choose_threshold(scores: list[float]) -> float:
    """The written rule: max(2.0, the smallest multiple of 0.25 strictly above every fit-seed clean score)."""
    top = max(scores, default=0.0)
    return max(2.0, (math.floor(top / 0.25) + 1) * 0.25)


def choose_ratio_threshold(ratios: list[float]) -> float:
    """The rule with a reference: min(0.5, the largest multiple of 0.05 strictly below every fit-seed clean ratio)."""
    low = min(ratios, default=1.0)
    return min(0.5, (math.ceil(low / 0.05) - 1) * 0.05)


def choose_collapse_threshold(fractions: list[float]) -> float:
    """The collapse rule: the largest multiple of 0.0025 at or below 0.8 x the smallest fit-seed clean L1 fraction."""
    low = min(fractions, default=0.0)
    return math.floor(round(0.8 * low / 0.0025, 9)) * 0.0025


def known_trigger_asr(loaded, eval_set, entry: Entry) -> float | None:
    """The scan's top-1 ASR of the model's own trigger (as poisoned) toward its target."""
    if entry.attack is None:
        return None
    from cleanerclip_tool.app.triggers import build_triggers
    from cleanerclip_tool.eval.scan import scan

    triggers = build_triggers(loaded.card, [entry.attack], toy=True)  # as poisoned: the card's settings and seed
    report = scan(loaded, eval_set, triggers, target=entry.target, topk=(1,), workers=0)
    return report.results[0].asr["1"]


def run_mode(loaded, images, cfg, mode: str) -> dict:
    """One detect run in ``mode``; the row's fields of that mode."""
    from cleanerclip_tool.eval.detect import detect

    started = time.perf_counter()
    report = detect(loaded, images, config=dataclasses.replace(cfg, mode=mode))
    seconds = round(time.perf_counter() - started, 1)
    if mode == "collapse":
        return {
            "collapse_score": report.score,
            "collapse_target": report.suspected_target,
            "collapse_l1": report.collapse.l1 if report.collapse.reached else None,
            "collapse_heldout_asr": report.heldout_asr,
            "collapse_similarity": report.collapse.heldout_similarity,
            "collapse_text": report.collapse.text_alignment,
            "collapse_seconds": seconds,
        }
    return {
        "score": report.score,
        "suspected_target": report.suspected_target,
        "heldout_asr": report.heldout_asr,
        "min_l1": min((c.l1 for c in report.classes), default=float("nan")),
        "seconds": seconds,
        "l1": [c.l1 if math.isfinite(c.l1) else None for c in report.classes],
        "classnames": images.classnames,
    }


def split_figures(rows, split: str, flag: str, named: str, score: str, sign: int, mode: str, skip=None) -> None:
    scored = [r for r in rows if flag in r and not (skip and skip(r))]
    clean = [r for r in scored if r["attack"] == "clean"]
    victims = [r for r in scored if r["attack"] != "clean"]
    per_attack: dict[str, list[bool]] = {}
    for r in victims:
        per_attack.setdefault(r["attack"], []).append(r[named])
    rates = ", ".join(f"{a} {sum(v)}/{len(v)}" for a, v in sorted(per_attack.items())) or "no victims"
    flagged = sum(r[flag] for r in victims)
    fp = sum(r[flag] for r in clean)
    area = auroc([sign * r[score] for r in victims], [sign * r[score] for r in clean])
    print(
        f"{split}, {mode}: detected (flagged + target named): {rates}; flagged {flagged}/{len(victims)} victims; "
        f"false positives {fp}/{len(clean)}; AUROC {'n/a' if area is None else f'{area:.3f}'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], help="SPEC@ATTACK/SEED[/purified] (repeatable).")
    parser.add_argument("--no-shipped", action="store_true", help="Leave out the shipped toy:NAME models.")
    parser.add_argument("--victims", type=Path, default=None, help="Folder of paper-protocol victims (cell.json).")
    parser.add_argument("--victim-seeds", default="0,1,2", help="Seeds of the --victims folders to run.")
    parser.add_argument("--modes", default="collapse,classes", help="collapse, classes, or both (comma-separated).")
    parser.add_argument("--fit-seeds", default="0,1,2", help="Seeds the thresholds are chosen on.")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--images", type=int, default=None, help="Images read per model (default: DetectConfig's).")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-scan", action="store_true", help="Skip the known-trigger scan column.")
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument("--cache", type=Path, default=None, help="Rows of models already run (same config): reused.")
    parser.add_argument("--reference", default="toy:clean", help="Reference model of the L1-ratio score.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in MODES for m in modes):
        raise SystemExit(f"--modes: choose from {', '.join(MODES)}")

    from cleanerclip_tool.eval.detect import DetectConfig, load_detect_images, reference_ratios
    from cleanerclip_tool.eval.evalset import load_eval_set
    from cleanerclip_tool.models.load import load_model
    from cleanerclip_tool.toyworld import default_world

    entries = ([] if args.no_shipped else shipped_entries()) + [parse_entry(m) for m in args.model]
    if args.victims is not None:
        entries += victim_entries(args.victims, {int(s) for s in args.victim_seeds.split(",") if s.strip()})
    fit_seeds = {int(s) for s in args.fit_seeds.split(",") if s.strip()}
    overrides = {
        k: v
        for k, v in (("steps", args.steps), ("batch_size", args.batch_size), ("max_images", args.images))
        if v is not None
    }
    cfg = DetectConfig(**overrides)
    test = default_world().test
    eval_set = load_eval_set(test)
    cached = json.loads(args.cache.read_text()) if args.cache is not None and args.cache.is_file() else {}
    rows = []
    for entry in entries:
        row = {
            "model": entry.label,
            "attack": entry.attack or "clean",
            "seed": entry.seed,
            "purified": entry.purified,
            "target": entry.target,
            "spec": entry.spec,
            "known_trigger_asr": None if entry.known_asr is None else entry.known_asr / 100,
        }
        loaded = images = None
        for mode in modes:
            key = json.dumps({**dataclasses.asdict(cfg), "mode": mode}, sort_keys=True)
            hit = cached.get(key, {}).get(entry.spec)
            if hit is None:
                if loaded is None:
                    loaded = load_model(entry.spec)
                    images = load_detect_images(test, loaded.preprocess, max_images=cfg.max_images, seed=cfg.seed)
                hit = run_mode(loaded, images, cfg, mode)
                if args.cache is not None:
                    cached.setdefault(key, {})[entry.spec] = hit
                    args.cache.write_text(json.dumps(cached, indent=1) + "\n")
                print(
                    f"  done {entry.label} ({mode}): "
                    f"{json.dumps({k: v for k, v in hit.items() if k not in ('l1', 'classnames')})}",
                    file=sys.stderr,
                    flush=True,
                )
            row.update(hit)
        if row["known_trigger_asr"] is None and not args.no_scan and entry.attack is not None:
            loaded = loaded or load_model(entry.spec)
            row["known_trigger_asr"] = known_trigger_asr(loaded, eval_set, entry)
        rows.append(row)

    for line in machine_lines():
        print(line)
    print(
        f"detect config: {json.dumps({k: v for k, v in dataclasses.asdict(cfg).items() if v is not None})} "
        f"(steps / batch None = the mode's defaults: collapse 300 / 32, classes 200 / 16)"
    )
    known = lambda r: "-" if r["known_trigger_asr"] is None else f"{100 * r['known_trigger_asr']:.1f}%"  # noqa: E731
    kind = lambda r: r["attack"] + (" (purified)" if r["purified"] else "")  # noqa: E731

    if "collapse" in modes:
        clean_fit = [r["collapse_score"] for r in rows if r["attack"] == "clean" and r["seed"] in fit_seeds]
        t_collapse = choose_collapse_threshold(clean_fit)
        for r in rows:
            r["collapse_flagged"] = r["collapse_score"] < t_collapse
            r["collapse_named"] = (
                r["collapse_flagged"] and r["attack"] != "clean" and r["collapse_target"] == r["target"]
            )
        print(
            f"\ncollapse (label-free): score = L1 fraction of the smallest mask whose stamped images' embeddings reach "
            f"mean mutual cosine {cfg.collapse_goal}; T_collapse = {t_collapse:g} (rule: largest multiple of 0.0025 "
            f"<= 0.8 x the smallest clean fraction on seeds {sorted(fit_seeds)}; clean fit fractions "
            f"{[round(s, 4) for s in clean_fit]}). 'text' = cosine of the collapsed embedding to the target's text "
            f"embedding (a diagnostic, not in the verdict)\n"
        )
        header = (
            f"{'model':<24} {'kind':<17} {'seed':>4} {'L1 px':>6} {'score':>7} {'verdict':<8} {'target?':<9} "
            f"{'invASR':>6} {'knownASR':>8} {'text':>5} {'s':>5}"
        )
        print(header)
        print("-" * len(header))
        for r in rows:
            l1 = "-" if r["collapse_l1"] is None else f"{r['collapse_l1']:.1f}"
            print(
                f"{r['model'][:24]:<24} {kind(r)[:17]:<17} {r['seed']:>4} {l1:>6} {r['collapse_score']:>7.4f} "
                f"{'BACKDOOR' if r['collapse_flagged'] else 'clean':<8} {r['collapse_target']:<9} "
                f"{100 * r['collapse_heldout_asr']:>5.1f}% {known(r):>8} {r['collapse_text']:>5.2f} "
                f"{r['collapse_seconds']:>5.0f}"
            )

    ref_row = None
    if "classes" in modes:
        clean_fit = [r["score"] for r in rows if r["attack"] == "clean" and r["seed"] in fit_seeds]
        threshold = choose_threshold(clean_fit)
        for r in rows:
            r["flagged"] = r["score"] > threshold
            r["named"] = r["flagged"] and r["attack"] != "clean" and r["suspected_target"] == r["target"]
        ref_row = next((r for r in rows if r["spec"] == args.reference), None)
        if ref_row is not None:
            ref_l1 = [math.inf if v is None else v for v in ref_row["l1"]]
            for r in rows:
                ratios = reference_ratios([math.inf if v is None else v for v in r["l1"]], ref_l1)
                j = int(np.argmin(ratios))
                r["ref_ratio"], r["ref_target"] = float(ratios[j]), r["classnames"][j]
            clean_ref_fit = [
                r["ref_ratio"]
                for r in rows
                if r["attack"] == "clean" and r["seed"] in fit_seeds and r["spec"] != args.reference
            ]
            ref_threshold = choose_ratio_threshold(clean_ref_fit)
            for r in rows:
                r["ref_flagged"] = r["spec"] != args.reference and r["ref_ratio"] < ref_threshold
                r["ref_named"] = r["ref_flagged"] and r["attack"] != "clean" and r["ref_target"] == r["target"]
        print(
            f"\nclasses: anomaly index T = {threshold:g} (rule: max(2.0, next 0.25 above every clean score on seeds "
            f"{sorted(fit_seeds)}); clean fit scores {[round(s, 2) for s in clean_fit]})"
        )
        if ref_row is not None:
            print(
                f"reference score: min over classes of L1(model) / L1({args.reference}); T_ref = {ref_threshold:g} "
                f"(rule: min(0.5, last 0.05 below every other clean ratio on the fit seeds); clean fit ratios "
                f"{[round(x, 2) for x in clean_ref_fit]})"
            )
        print()
        header = (
            f"{'model':<24} {'kind':<17} {'seed':>4} {'index':>5} {'verdict':<8} {'target?':<9} "
            f"{'invASR':>6} {'knownASR':>8} {'ratio':>5} {'w/ ref':<8} {'target?':<9} {'s':>5}"
        )
        print(header)
        print("-" * len(header))
        for r in rows:
            ref = (
                ("-", "-", "-")
                if "ref_ratio" not in r or r["spec"] == args.reference
                else (f"{r['ref_ratio']:.2f}", "BACKDOOR" if r["ref_flagged"] else "clean", r["ref_target"])
            )
            print(
                f"{r['model'][:24]:<24} {kind(r)[:17]:<17} {r['seed']:>4} {r['score']:>5.2f} "
                f"{'BACKDOOR' if r['flagged'] else 'clean':<8} {r['suspected_target']:<9} "
                f"{100 * r['heldout_asr']:>5.1f}% {known(r):>8} {ref[0]:>5} {ref[1]:<8} {ref[2]:<9} "
                f"{r['seconds']:>5.0f}"
            )

    print()
    for split, keep in (("fit seeds", lambda s: s in fit_seeds), ("other seeds", lambda s: s not in fit_seeds)):
        part = [r for r in rows if keep(r["seed"]) and not r["purified"]]
        if not part:
            print(f"{split}: no models")
            continue
        if "collapse" in modes:
            split_figures(part, split, "collapse_flagged", "collapse_named", "collapse_score", -1, "collapse")
            text_area = auroc(
                [r["collapse_text"] for r in part if r["attack"] != "clean"],
                [r["collapse_text"] for r in part if r["attack"] == "clean"],
            )
            print(
                f"{split}, collapse text alignment (diagnostic, no verdict): AUROC "
                f"{'n/a' if text_area is None else f'{text_area:.3f}'}"
            )
            working = [r for r in part if r["known_trigger_asr"] is None or r["known_trigger_asr"] >= WORKING_ASR]
            if len(working) < len(part):
                split_figures(
                    working,
                    f"{split} without victims whose own trigger reaches ASR@1 < {100 * WORKING_ASR:g}%",
                    "collapse_flagged",
                    "collapse_named",
                    "collapse_score",
                    -1,
                    "collapse",
                )
        if "classes" in modes:
            split_figures(part, split, "flagged", "named", "score", 1, "anomaly index")
            if ref_row is not None:
                split_figures(
                    part,
                    split,
                    "ref_flagged",
                    "ref_named",
                    "ref_ratio",
                    -1,
                    "reference ratio",
                    skip=lambda r: r["spec"] == args.reference,
                )
    for mode, key in (("collapse", "collapse_seconds"), ("classes", "seconds")):
        seconds = [r[key] for r in rows if key in r]
        if seconds:
            print(
                f"{mode}: seconds per model: median {np.median(seconds):.1f}, max {max(seconds):.1f} "
                f"(torch threads {torch.get_num_threads()})"
            )
    if args.json_out is not None:
        args.json_out.write_text(json.dumps({"modes": modes, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
