"""The pre-registered study of the CFA readings (``docs/cfa-study.md``, section "Plan"), run and decided.

Every run is a CleanerCLIP defense on a development victim (paper protocol, seeds 0-2, BadNet and
BadCLIP) with the Table 1 defense schedule and one configuration of the CFA options. The stages
follow the plan, each on what the previous one picked, and the picks are made here by the plan's
rules, not by hand:

1. each reading alone (seed 0);
2. the stage-1 winner combined with the best reading that sets a different option (seed 0);
3. knobs one at a time on the better of those two (seed 0);
4. the final candidate on seeds 1 and 2, then the default rule against CleanCLIP over seeds 0-2.

Reading A (the defaults) and CleanCLIP are the development Table 1's cells
(``reproduce_table1.py``), the same victims, schedule and seeds. Cells are cached in
``--out/runs-paper/<attack>-seed<s>-<tag>`` (the Table 1 cache layout), so an interrupted study
resumes where it stopped.

Usage::

    python benchmarks/cfa_study.py --jobs 2             # run (or resume) every stage
    python benchmarks/cfa_study.py --cached-only        # tabulate finished cells; stop at the first gap
    python benchmarks/cfa_study.py --caption-style cluttered --stages 1   # the readings on cluttered captions

``--caption-style cluttered`` fine-tunes every run (CleanCLIP's and reading A's too, which are then
run, not reused) on the toy world's cluttered captions, where a positive sub-caption is a true
simplification of its caption; its outputs are named ``cfa-study-cluttered*``. ``--stages N`` stops
after stage N (its tables are written; the default rule needs all four).

Writes ``--out/cfa-study.md`` / ``.json`` and two charts: the seed-0 stages (``cfa-study-stages.png``)
and ASR@1 per epoch of the final candidate against CleanCLIP (``cfa-study-epochs.png``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import machine_lines  # noqa: E402
from reproduce_table1 import cell_folder, keep_rows, log_line, run_cells  # noqa: E402

ATTACKS = ("badnet", "badclip")
DEV_SEEDS = (0, 1, 2)
BA_TOLERANCE = 2.0  # points of BA@1 below CleanCLIP's that a configuration may lose
TIE = 1.0  # points of mean ASR@1 within which the configuration closer to its base wins
TOY_WORDBANKS = "src/cleanerclip_tool/toyworld/wordbanks"


@dataclass(frozen=True, eq=False)
class Config:
    """One configuration of the CFA options: a label, its ``PurifyConfig`` overrides, a cache tag.

    Two configurations with the same overrides are the same cells, whatever their labels.
    """

    label: str
    overrides: dict[str, Any] = field(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and self.tag == other.tag

    def __hash__(self) -> int:
        return hash(self.tag)

    @property
    def tag(self) -> str:
        if not self.overrides:
            return ""
        parts = []
        for key, value in sorted(self.overrides.items()):
            text = Path(str(value)).name if key == "wordbanks" else f"{value:g}" if isinstance(value, float) else value
            parts.append(f"{key}={text}")
        return "-cfa-" + "-".join(parts)

    @property
    def methods(self) -> tuple[str, ...]:
        """The rows its cells hold: A's are Table 1's cells (every row); the others CleanerCLIP's alone."""
        return ("clean", "cleanclip", "cleanerclip") if not self.overrides else ("cleanerclip",)

    def combined(self, other: Config) -> Config:
        return Config(f"{self.label} + {other.label}", {**self.overrides, **other.overrides})

    def options(self) -> set[str]:
        """The options this configuration sets, (τ+, τ−) counted as one."""
        return {"tau" if k in ("tau_pos", "tau_neg") else k for k in self.overrides}

    def distance(self, base: Config) -> int:
        """How many options differ from ``base`` ((τ+, τ−) as one): the tie-break of the stage rule."""
        keys = set(self.overrides) | set(base.overrides)
        changed = {"tau" if k in ("tau_pos", "tau_neg") else k for k in keys if self.value(k) != base.value(k)}
        return len(changed)

    def value(self, key: str) -> Any:
        from cleanerclip_tool.config import PurifyConfig

        return self.overrides.get(key, getattr(PurifyConfig(), key))


READING_A = Config("A (reconstruction)")
STAGE1 = (
    Config("B cfa_side=text", {"cfa_side": "text"}),
    Config("C1 cfa_schedule=alternate", {"cfa_schedule": "alternate"}),
    Config("F cfa_schedule=interleave", {"cfa_schedule": "interleave"}),
    Config("D cfa_t2i=own_negative", {"cfa_t2i": "own_negative"}),
    Config("D cfa_t2i=batch_and_own", {"cfa_t2i": "batch_and_own"}),
    Config("E cfa_temperature=scale (0.3, 0.5)", {"cfa_temperature": "scale", "tau_pos": 0.3, "tau_neg": 0.5}),
    Config("E cfa_temperature=scale_divide", {"cfa_temperature": "scale_divide"}),
    Config("G cfa_form=binary", {"cfa_form": "binary"}),
    Config("H negative_set=own", {"negative_set": "own"}),
)
# stage 3, in the order the plan cuts from the end (word banks first, then K)
KNOBS = (
    ("λ2 = 0.25", {"lambda2": 0.25}),
    ("λ2 = 4", {"lambda2": 4.0}),
    ("(τ+, τ−) = (0.3, 0.3)", {"tau_pos": 0.3, "tau_neg": 0.3}),
    ("K = 64", {"samples": 64}),
    ("toy word banks", {"wordbanks": str(REPO / TOY_WORDBANKS)}),
)


def rank(
    scores: dict[Config, dict[str, tuple[float, float]]],
    baseline_ba: dict[str, float],
    base: Config,
    order: list[Config],
) -> tuple[list[Config], float]:
    """The stage rule: configurations best first, and the BA tolerance that applied.

    ``scores[c][attack] = (asr, ba)``. Eligible: BA@1 within the tolerance of CleanCLIP's on every
    attack (2 points; grown by whole points until one configuration is eligible). Among the eligible,
    lowest mean ASR@1; configurations within ``TIE`` of the best go to the one with fewer options
    changed from ``base``, then the earlier in ``order``. The rest follow by mean ASR@1, ineligible last.
    """
    tolerance = BA_TOLERANCE
    worst_gap = max(max(baseline_ba[a] - s[a][1] for a in baseline_ba) for s in scores.values())
    while True:
        eligible = [c for c in order if all(baseline_ba[a] - scores[c][a][1] <= tolerance for a in baseline_ba)]
        if eligible or tolerance >= worst_gap:
            break
        tolerance += 1.0

    def mean_asr(c: Config) -> float:
        return statistics.mean(scores[c][a][0] for a in baseline_ba)

    by_asr = sorted(eligible, key=lambda c: (mean_asr(c), order.index(c)))
    ranked: list[Config] = []
    while by_asr:
        best = mean_asr(by_asr[0])
        tied = [c for c in by_asr if mean_asr(c) <= best + TIE]
        pick = min(tied, key=lambda c: (c.distance(base), order.index(c)))
        ranked.append(pick)
        by_asr.remove(pick)
    rest = sorted((c for c in order if c not in eligible), key=lambda c: (mean_asr(c), order.index(c)))
    return ranked + rest, tolerance


def beats(
    candidate: dict[int, dict[str, tuple[float, float]]],
    baseline: dict[int, dict[str, tuple[float, float]]],
) -> dict[str, Any]:
    """The default rule: per seed the mean ASR@1 over the attacks; the candidate wins when its BA@1
    (mean over seeds) is within 2 points of CleanCLIP's on each attack and its mean ASR@1 is lower by
    more than the larger of the two seed standard deviations."""
    seeds = sorted(candidate)
    per_seed = {
        name: [statistics.mean(cells[s][a][0] for a in ATTACKS) for s in seeds]
        for name, cells in (("candidate", candidate), ("cleanclip", baseline))
    }
    stats = {name: (statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0) for name, v in per_seed.items()}
    ba = {
        name: {a: statistics.mean(cells[s][a][1] for s in seeds) for a in ATTACKS}
        for name, cells in (("candidate", candidate), ("cleanclip", baseline))
    }
    ba_ok = all(ba["cleanclip"][a] - ba["candidate"][a] <= BA_TOLERANCE for a in ATTACKS)
    margin = max(stats["candidate"][1], stats["cleanclip"][1])
    asr_ok = stats["candidate"][0] < stats["cleanclip"][0] - margin
    return {
        "per_seed": per_seed,
        "mean_sd": stats,
        "ba": ba,
        "ba_ok": ba_ok,
        "asr_ok": asr_ok,
        "margin": margin,
        "wins": ba_ok and asr_ok,
    }


class Study:
    """Runs (or reads) the cells; ``cached_only`` never trains and raises ``Missing`` at a gap."""

    def __init__(self, out: Path, jobs: int, cached_only: bool, caption_style: str = "plain") -> None:
        self.out, self.jobs, self.cached_only, self.caption_style = out, jobs, cached_only, caption_style
        self.reports: dict[tuple[Config, str, int], dict[str, Any]] = {}

    def cells(self, configs: list[Config], seeds: tuple[int, ...]) -> None:
        keys = [(c, a, s) for c in configs for s in seeds for a in ATTACKS if (c, a, s) not in self.reports]
        if not keys:
            return
        if self.cached_only:
            for key in keys:
                self.reports[key] = self._cached(*key)
            return
        jobs = [
            {
                "attack": a,
                "seed": s,
                "scale": 1.0,
                "out": self.out,
                "methods": c.methods,
                "overrides": c.overrides,
                "tag": c.tag,
                "protocol": "paper",
                "caption_style": self.caption_style,
            }
            for c, a, s in keys
        ]
        for key, report in zip(keys, run_cells(jobs, parallel=self.jobs, threads=1), strict=True):
            self.reports[key] = report

    def _cached(self, config: Config, attack: str, seed: int) -> dict[str, Any]:
        done = cell_folder(self.out, "paper", attack, seed, config.tag, self.caption_style) / "report.json"
        if not done.is_file():
            raise Missing(f"{config.label}, {attack} seed {seed}")
        return keep_rows(json.loads(done.read_text(encoding="utf-8")), config.methods)

    def row(self, config: Config, attack: str, seed: int, method: str = "cleanerclip") -> dict[str, Any]:
        report = self.reports[(config, attack, seed)]
        return next(r for r in report["results"] if r["method"] == method)

    def score(self, config: Config, seed: int, method: str = "cleanerclip") -> dict[str, tuple[float, float]]:
        rows = {a: self.row(config, a, seed, method) for a in ATTACKS}
        return {a: (row["asr"]["1"], row["ba"]["1"]) for a, row in rows.items()}


class Missing(Exception):
    """A cell the plan needs has not run (``--cached-only``)."""


def stage_table(study: Study, ranked: list[Config], tolerance: float) -> list[str]:
    baseline = study.score(READING_A, 0, "cleanclip")
    lines = [
        "| rank | configuration | BadNet ASR@1 | BadNet BA@1 | BadCLIP ASR@1 | BadCLIP BA@1 | mean ASR@1 |",
        "|---|---|---|---|---|---|---|",
        "| — | CleanCLIP (baseline) | "
        + " | ".join(f"{baseline[a][0]:.1f} | {baseline[a][1]:.1f}" for a in ATTACKS)
        + f" | {statistics.mean(baseline[a][0] for a in ATTACKS):.1f} |",
    ]
    for i, c in enumerate(ranked, 1):
        s = study.score(c, 0)
        eligible = all(baseline[a][1] - s[a][1] <= tolerance for a in ATTACKS)
        lines.append(
            f"| {i if eligible else '✗'} | {c.label} | "
            + " | ".join(f"{s[a][0]:.1f} | {s[a][1]:.1f}" for a in ATTACKS)
            + f" | {statistics.mean(s[a][0] for a in ATTACKS):.1f} |"
        )
    lines += [
        "",
        f"BA tolerance that applied: {tolerance:g} points below CleanCLIP's BA@1 on both victims "
        "(✗: outside it, not ranked).",
    ]
    return lines


def run_study(study: Study, stages: int = 4) -> dict[str, Any]:
    """The four stages and the default rule (or the first ``stages``); the Markdown lines and the record."""
    md: list[str] = []
    record: dict[str, Any] = {"stages": []}
    # stage 1
    study.cells([READING_A], (0,))
    stage1 = [READING_A, *STAGE1]
    study.cells(list(STAGE1), (0,))
    cc0 = study.score(READING_A, 0, "cleanclip")
    ba0 = {a: cc0[a][1] for a in ATTACKS}
    scores = {c: study.score(c, 0) for c in stage1}
    ranked1, tol1 = rank(scores, ba0, READING_A, stage1)
    r1 = ranked1[0]
    md += ["## Stage 1: each reading alone (seed 0)", "", *stage_table(study, ranked1, tol1), ""]
    md += [f"Winner R1: **{r1.label}**.", ""]
    record["stages"].append(_stage_record(1, study, ranked1, tol1))
    if stages < 2:
        md += ["Stopped after stage 1 (`--stages 1`).", ""]
        return {"markdown": md, "record": record, "final": None, "stage1": ranked1, "stage3": []}

    # stage 2
    r2 = next((c for c in ranked1[1:] if c.overrides and not (c.options() & r1.options())), None)
    base3 = r1
    if r2 is not None and r1.overrides:
        combo = r1.combined(r2)
        study.cells([combo], (0,))
        scores2 = {c: study.score(c, 0) for c in (r1, combo)}
        ranked2, tol2 = rank(scores2, ba0, READING_A, [r1, combo])
        base3 = ranked2[0]
        md += [f"## Stage 2: R1 combined with R2 = {r2.label} (seed 0)", ""]
        md += [*stage_table(study, ranked2, tol2), "", f"Base of stage 3: **{base3.label}**.", ""]
        record["stages"].append(_stage_record(2, study, ranked2, tol2))
    else:
        md += ["## Stage 2: skipped", "", "No ranked reading sets an option R1 does not (or R1 is A).", ""]

    if stages < 3:
        md += ["Stopped after stage 2 (`--stages 2`).", ""]
        return {"markdown": md, "record": record, "final": None, "stage1": ranked1, "stage3": []}

    # stage 3
    knobbed = [
        Config(f"{base3.label}; {label}", {**base3.overrides, **o})
        for label, o in KNOBS
        if any(base3.value(k) != v for k, v in o.items())
    ]
    study.cells(knobbed, (0,))
    stage3 = [base3, *knobbed]
    ranked3, tol3 = rank({c: study.score(c, 0) for c in stage3}, ba0, base3, stage3)
    final = ranked3[0]
    md += [f"## Stage 3: knobs one at a time on {base3.label} (seed 0)", ""]
    md += [*stage_table(study, ranked3, tol3), "", f"Final candidate: **{final.label}**.", ""]
    record["stages"].append(_stage_record(3, study, ranked3, tol3))

    # stage 4 and the default rule
    study.cells([READING_A], (1, 2))
    study.cells([final], (1, 2))
    candidate = {s: study.score(final, s) for s in DEV_SEEDS}
    cleanclip = {s: study.score(READING_A, s, "cleanclip") for s in DEV_SEEDS}
    verdict = beats(candidate, cleanclip)
    md += ["## Stage 4: the final candidate on seeds 0-2 against CleanCLIP", ""]
    md += [
        "| seed | "
        + " | ".join(f"{a} ASR@1 / BA@1" for a in ATTACKS)
        + " | CleanCLIP "
        + " | CleanCLIP ".join(f"{a}" for a in ATTACKS)
        + " |"
    ]
    md += ["|---|" + "---|" * (2 * len(ATTACKS))]
    for s in DEV_SEEDS:
        md.append(
            f"| {s} | "
            + " | ".join(f"{candidate[s][a][0]:.1f} / {candidate[s][a][1]:.1f}" for a in ATTACKS)
            + " | "
            + " | ".join(f"{cleanclip[s][a][0]:.1f} / {cleanclip[s][a][1]:.1f}" for a in ATTACKS)
            + " |"
        )
    (cm, csd), (bm, bsd) = verdict["mean_sd"]["candidate"], verdict["mean_sd"]["cleanclip"]
    md += [
        "",
        f"Mean ASR@1 over BadNet and BadCLIP, per seed: candidate {_fmt(verdict['per_seed']['candidate'])} "
        f"({cm:.1f} ± {csd:.1f}); CleanCLIP {_fmt(verdict['per_seed']['cleanclip'])} ({bm:.1f} ± {bsd:.1f}). "
        f"Margin needed: {verdict['margin']:.1f}. BA@1 (mean over seeds): candidate "
        + ", ".join(f"{a} {verdict['ba']['candidate'][a]:.1f}" for a in ATTACKS)
        + "; CleanCLIP "
        + ", ".join(f"{a} {verdict['ba']['cleanclip'][a]:.1f}" for a in ATTACKS)
        + ".",
        "",
        (
            f"**Verdict: {final.label} beats CleanCLIP by the plan's rule; it becomes the default reading.**"
            if verdict["wins"]
            else f"**Verdict: {final.label} does not beat CleanCLIP by the plan's rule "
            f"(BA within {BA_TOLERANCE:g} points: {'yes' if verdict['ba_ok'] else 'no'}; ASR lower by more "
            f"than the margin: {'yes' if verdict['asr_ok'] else 'no'}); the default stays reading A.**"
        ),
        "",
    ]
    record["final"] = {"label": final.label, "overrides": final.overrides, **verdict}
    record["final"]["per_seed_cells"] = {str(s): candidate[s] for s in DEV_SEEDS}
    record["cleanclip_cells"] = {str(s): cleanclip[s] for s in DEV_SEEDS}
    return {"markdown": md, "record": record, "final": final, "stage1": ranked1, "stage3": ranked3}


def _fmt(values: list[float]) -> str:
    return " / ".join(f"{v:.1f}" for v in values)


def _stage_record(n: int, study: Study, ranked: list[Config], tolerance: float) -> dict[str, Any]:
    return {
        "stage": n,
        "tolerance": tolerance,
        "ranked": [{"label": c.label, "overrides": c.overrides, "cells": study.score(c, 0)} for c in ranked],
    }


def charts(study: Study, result: dict[str, Any], out: Path, stem: str = "cfa-study") -> list[str]:
    """Seed-0 stage bars (mean ASR@1 and the worse BA@1 gap) and ASR@1 per epoch, candidate vs CleanCLIP."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stage1 = result["stage1"]
    later = [c for c in result["stage3"] if c not in stage1]
    configs = [*stage1, *later]
    cc = study.score(READING_A, 0, "cleanclip")
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(configs) + 1.6))
    y = list(range(len(configs)))
    asr = [statistics.mean(study.score(c, 0)[a][0] for a in ATTACKS) for c in configs]
    gap = [max(cc[a][1] - study.score(c, 0)[a][1] for a in ATTACKS) for c in configs]
    ax.barh(y, asr, color=["#c44e52" if g > BA_TOLERANCE else "#4c72b0" for g in gap])
    ax.axvline(statistics.mean(cc[a][0] for a in ATTACKS), color="black", linestyle="--", label="CleanCLIP")
    ax.set_yticks(y, [c.label for c in configs], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("mean ASR@1 of BadNet and BadCLIP, seed 0 (%)\nred: BA@1 more than 2 points below CleanCLIP's")
    ax.legend(fontsize=7)
    fig.tight_layout()
    stages_png = out / f"{stem}-stages.png"
    fig.savefig(stages_png, dpi=120)
    plt.close(fig)

    final = result["final"]
    if final is None:
        return [f"![stages]({stages_png.name})", ""]
    series = [
        (READING_A, "cleanclip", "CleanCLIP", "-", "#4c72b0"),
        (final, "cleanerclip", f"CleanerCLIP, {final.label}", "-", "#c44e52"),
    ]
    if final != READING_A:  # the shipped reading beside the candidate, unless they are the same cells
        series.append((READING_A, "cleanerclip", "CleanerCLIP, A", ":", "#999999"))
    fig, axes = plt.subplots(1, len(ATTACKS), figsize=(9, 3.4), sharey=True)
    for ax, attack in zip(axes, ATTACKS, strict=True):
        for config, method, label, style, color in series:
            for seed in DEV_SEEDS:
                history = study.row(config, attack, seed, method)["history"]
                ax.plot(
                    [h["epoch"] for h in history],
                    [h["asr_top1"] for h in history],
                    linestyle=style,
                    color=color,
                    alpha=0.8,
                    label=label if seed == 0 else None,
                )
        ax.set_title(f"{attack}, seeds 0-2")
        ax.set_xlabel("epoch (ASR@1 on 200 test images per epoch)")
        ax.set_ylim(-2, 102)
    axes[0].set_ylabel("ASR@1 (%)")
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    epochs_png = out / f"{stem}-epochs.png"
    fig.savefig(epochs_png, dpi=120)
    plt.close(fig)
    return [f"![stages]({stages_png.name})", "", f"![ASR per epoch]({epochs_png.name})", ""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--jobs", type=int, default=2, help="cells at once, one single-thread process each")
    parser.add_argument("--cached-only", action="store_true", help="tabulate finished cells, train nothing")
    parser.add_argument("--caption-style", choices=("plain", "cluttered"), default="plain")
    parser.add_argument("--stages", type=int, choices=(1, 2, 3, 4), default=4, help="stop after this stage")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    study = Study(args.out, args.jobs, args.cached_only, args.caption_style)
    stem = "cfa-study" if args.caption_style == "plain" else f"cfa-study-{args.caption_style}"
    flags = "".join(
        [
            "" if args.caption_style == "plain" else f" --caption-style {args.caption_style}",
            "" if args.stages == 4 else f" --stages {args.stages}",
        ]
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    head = [
        "# CFA readings study: development victims (paper protocol, seeds 0-2, BadNet and BadCLIP)",
        "",
        'Plan: `docs/cfa-study.md`, section "Plan" (pre-registered). Every run: the Table 1 defense schedule '
        "(2,000 clean fine-tune pairs, 10 epochs, batch 64, lr 1e-4, K = 512 unless a knob says otherwise, "
        "defense seed = victim seed), λ1 = λ2 = 1, (τ+, τ−) = (0.5, 0.3) unless the configuration says "
        "otherwise. Top-1, %, on the toy test split.",
        "",
        f"Command: `python benchmarks/cfa_study.py{flags}` (commit {commit}). Captions: {args.caption_style}.",
        "",
        " / ".join(machine_lines()),
        "",
    ]
    try:
        result = run_study(study, args.stages)
    except Missing as gap:
        log_line(f"stopped at the first cell not run: {gap}")
        print(f"not run yet: {gap}")
        return 1
    md = head + result["markdown"] + charts(study, result, args.out, stem)
    md += [f"This invocation took {(time.perf_counter() - started) / 60:.1f} min (cached cells are read, not re-run)."]
    (args.out / f"{stem}.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    (args.out / f"{stem}.json").write_text(json.dumps(result["record"], indent=2, default=str) + "\n", encoding="utf-8")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
