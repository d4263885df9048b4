"""Detection figures of ``cleanerclip detect`` (trigger inversion) on the toy world.

Runs the inversion on clean and backdoored toy models (and purified ones, if given), then prints one
row per model (verdict, suspected target, anomaly index, seconds), the known trigger's ASR from the
scan beside it, and per attack the detection rate (flagged AND the target named), the false
positives among clean models and the AUROC of the score (victims vs clean).

Threshold rule (fixed before any model of another seed was looked at): on the models of the
``--fit-seeds`` (default 0, 1, 2), T = max(2.0, the smallest multiple of 0.25 above every clean
model's score). 2.0 is Neural Cleanse's anomaly-index cut-off; the 0.25 step avoids tuning T to a
hair above one clean model. With the reference model (``--reference``, default toy:clean), the score
is the smallest L1(model) / L1(reference) over the classes and T_ref = min(0.5, the largest multiple
of 0.05 strictly below every other fit-seed clean model's ratio). Figures are then reported
separately for the fit seeds and the others.

    python benchmarks/bench_detect.py                                   # the shipped toy models
    python benchmarks/bench_detect.py --model DIR@clean/1 --model DIR@clean/2 --model DIR@badnet/3
    python benchmarks/bench_detect.py --model PURIFIED_DIR@badnet/0/purified --json-out figures.json

``SPEC@ATTACK/SEED[/purified]`` says what a model is: ``clean`` or the attack it was poisoned with,
its training seed, and whether it was purified (purified models are reported, never scored as
victims or clean). Shipped ``toy:NAME`` models carry this in their build record.
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


@dataclass
class Entry:
    spec: str
    attack: str | None  # None = clean
    seed: int
    purified: bool = False
    target: str | None = None

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


def known_trigger_asr(loaded, eval_set, entry: Entry) -> float | None:
    """The scan's top-1 ASR of the model's own trigger (as poisoned) toward its target."""
    if entry.attack is None:
        return None
    from cleanerclip_tool.app.triggers import build_triggers
    from cleanerclip_tool.eval.scan import scan

    triggers = build_triggers(loaded.card, [entry.attack], toy=True)  # as poisoned: the card's settings and seed
    report = scan(loaded, eval_set, triggers, target=entry.target, topk=(1,), workers=0)
    return report.results[0].asr["1"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], help="SPEC@ATTACK/SEED[/purified] (repeatable).")
    parser.add_argument("--no-shipped", action="store_true", help="Leave out the shipped toy:NAME models.")
    parser.add_argument("--fit-seeds", default="0,1,2", help="Seeds the threshold is chosen on.")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-scan", action="store_true", help="Skip the known-trigger scan column.")
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument("--cache", type=Path, default=None, help="Rows of models already run (same config): reused.")
    parser.add_argument("--reference", default="toy:clean", help="Reference model of the L1-ratio score.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from cleanerclip_tool.eval.detect import DetectConfig, detect, load_detect_images, reference_ratios
    from cleanerclip_tool.eval.evalset import load_eval_set
    from cleanerclip_tool.models.load import load_model
    from cleanerclip_tool.toyworld import default_world

    entries = ([] if args.no_shipped else shipped_entries()) + [parse_entry(m) for m in args.model]
    fit_seeds = {int(s) for s in args.fit_seeds.split(",") if s.strip()}
    overrides = {k: v for k, v in (("steps", args.steps), ("batch_size", args.batch_size)) if v is not None}
    cfg = DetectConfig(**overrides)
    test = default_world().test
    eval_set = load_eval_set(test)
    cached = json.loads(args.cache.read_text()) if args.cache is not None and args.cache.is_file() else {}
    key = json.dumps(dataclasses.asdict(cfg), sort_keys=True)
    rows = []
    for entry in entries:
        hit = cached.get(key, {}).get(entry.spec)
        if hit is not None:
            rows.append(
                {
                    **hit,
                    "seed": entry.seed,
                    "purified": entry.purified,
                    "attack": entry.attack or "clean",
                    "target": entry.target,
                }
            )
            continue
        loaded = load_model(entry.spec)
        images = load_detect_images(test, loaded.preprocess, max_images=cfg.max_images, seed=cfg.seed)
        started = time.perf_counter()
        report = detect(loaded, images, config=cfg)
        seconds = time.perf_counter() - started
        asr = None if args.no_scan else known_trigger_asr(loaded, eval_set, entry)
        rows.append(
            {
                "model": entry.label,
                "attack": entry.attack or "clean",
                "seed": entry.seed,
                "purified": entry.purified,
                "target": entry.target,
                "score": report.score,
                "suspected_target": report.suspected_target,
                "heldout_asr": report.heldout_asr,
                "min_l1": min((c.l1 for c in report.classes), default=float("nan")),
                "known_trigger_asr": asr,
                "seconds": round(seconds, 1),
                "spec": entry.spec,
                "l1": [c.l1 if math.isfinite(c.l1) else None for c in report.classes],
                "classnames": images.classnames,
            }
        )
        if args.cache is not None:
            cached.setdefault(key, {})[entry.spec] = rows[-1]
            args.cache.write_text(json.dumps(cached, indent=1) + "\n")
        print(
            f"  done {entry.label}: score {report.score:.2f} -> {report.suspected_target} ({seconds:.0f} s)",
            file=sys.stderr,
            flush=True,
        )

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

    for line in machine_lines():
        print(line)
    print(
        f"detect config: steps {cfg.steps}, batch {cfg.batch_size}, ASR goal {cfg.asr_goal}, "
        f"{cfg.max_images} images (half held out), seed {cfg.seed}"
    )
    print(
        f"threshold T = {threshold:g} (rule: max(2.0, next 0.25 above every clean score on seeds "
        f"{sorted(fit_seeds)}); clean fit scores {[round(s, 2) for s in clean_fit]})\n"
    )
    if ref_row is not None:
        print(
            f"reference score: min over classes of L1(model) / L1({args.reference}); T_ref = {ref_threshold:g} "
            f"(rule: min(0.5, last 0.05 below every other clean ratio on the fit seeds); clean fit ratios "
            f"{[round(x, 2) for x in clean_ref_fit]})\n"
        )
    header = (
        f"{'model':<20} {'kind':<15} {'seed':>4} {'index':>5} {'verdict':<8} {'target?':<9} "
        f"{'invASR':>6} {'knownASR':>8} {'ratio':>5} {'w/ ref':<8} {'target?':<9} {'s':>5}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        kind = r["attack"] + (" (purified)" if r["purified"] else "")
        known = "-" if r["known_trigger_asr"] is None else f"{100 * r['known_trigger_asr']:.1f}%"
        ref = (
            ("-", "-", "-")
            if "ref_ratio" not in r or r["spec"] == args.reference
            else (f"{r['ref_ratio']:.2f}", "BACKDOOR" if r["ref_flagged"] else "clean", r["ref_target"])
        )
        print(
            f"{r['model'][:20]:<20} {kind:<15} {r['seed']:>4} {r['score']:>5.2f} "
            f"{'BACKDOOR' if r['flagged'] else 'clean':<8} {r['suspected_target']:<9} "
            f"{100 * r['heldout_asr']:>5.1f}% {known:>8} {ref[0]:>5} {ref[1]:<8} {ref[2]:<9} {r['seconds']:>5.0f}"
        )

    print()
    for split, keep in (("fit seeds", lambda s: s in fit_seeds), ("other seeds", lambda s: s not in fit_seeds)):
        part = [r for r in rows if keep(r["seed"]) and not r["purified"]]
        if not part:
            print(f"{split}: no models")
            continue
        for mode, flag, named, score, sign in (
            ("anomaly index", "flagged", "named", "score", 1),
            ("reference ratio", "ref_flagged", "ref_named", "ref_ratio", -1),
        ):
            scored = [r for r in part if flag in r and not (mode != "anomaly index" and r["spec"] == args.reference)]
            clean = [r for r in scored if r["attack"] == "clean"]
            victims = [r for r in scored if r["attack"] != "clean"]
            per_attack: dict[str, list[bool]] = {}
            for r in victims:
                per_attack.setdefault(r["attack"], []).append(r[named])
            rates = ", ".join(f"{a} {sum(v)}/{len(v)}" for a, v in per_attack.items()) or "no victims"
            fp = sum(r[flag] for r in clean)
            area = auroc([sign * r[score] for r in victims], [sign * r[score] for r in clean])
            print(
                f"{split}, {mode}: detected (flagged + target named): {rates}; false positives {fp}/{len(clean)}; "
                f"AUROC {'n/a' if area is None else f'{area:.3f}'}"
            )
    seconds = [r["seconds"] for r in rows]
    if seconds:
        print(
            f"seconds per model: median {np.median(seconds):.1f}, max {max(seconds):.1f} "
            f"(torch threads {torch.get_num_threads()})"
        )
    if args.json_out is not None:
        args.json_out.write_text(json.dumps({"threshold": threshold, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
