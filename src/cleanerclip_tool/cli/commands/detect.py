"""``cleanerclip detect MODEL``: invert a trigger and say whether it is anomalously easy.

Without a reference the default is the label-free collapse score; with one, the per-class ratio."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cleanerclip_tool.cli.common import StopOnSignals, console, handle_errors, json_text, print_json
from cleanerclip_tool.cli.options import ArchOpt, DeviceOpt, JsonOpt, ModelArg, TrustOpt
from cleanerclip_tool.errors import BadInputError


def render_report(report: dict[str, Any]) -> None:
    """The verdict, then the evidence: the collapse trigger, or the classes most suspect first (80 columns)."""
    backdoor = report["verdict"] == "backdoor"
    colour = "bold red" if backdoor else ("yellow" if report["verdict"] == "stopped" else "bold green")
    source = report["model"].get("source", "?")
    console.print(f"[{colour}]{report['verdict'].upper()}[/] {_escape(source)}", markup=True)
    if report.get("mode") == "collapse":
        _render_collapse(report)
    else:
        _render_classes(report)
    console.print(f"rule: {report['rule']}", markup=False)
    if report["trigger_png"]:
        console.print(f"trigger PNG: {report['trigger_png']}", markup=False)
        console.print(f"preview PNG: {report['preview_png']}", markup=False)
    console.print(
        f"{report['fit_images']} fitting images, {report['steps_run']} steps, {report['seconds']:.1f} s on "
        f"{report['device']}",
        markup=False,
    )


def _render_collapse(report: dict[str, Any]) -> None:
    c = report["collapse"]
    crossed = report["score"] < report["threshold"]
    size = "not reached" if c["l1"] is None else f"{c['l1']:.1f} px"
    console.print(
        f"collapsing trigger: mask {size} = {report['score']:.4f} of the image "
        f"({'<' if crossed else 'not <'} threshold {report['threshold']:g})",
        markup=False,
    )
    console.print(
        f"  stamped held-out images: mutual cosine {c['heldout_similarity']:.3f} "
        f"(clean {c['clean_similarity']:.3f}), {100 * c['target_share']:.0f}% in {report['suspected_target']}",
        markup=False,
    )
    console.print(
        f"suspected target: {report['suspected_target']}  (ASR {100 * report['heldout_asr']:.1f}% on "
        f"{report['heldout_images']} held-out images of other classes)",
        markup=False,
    )


def _render_classes(report: dict[str, Any]) -> None:
    from rich.table import Table

    relation = ">" if report["reference"] is None else "<"
    crossed = (report["score"] > report["threshold"]) if relation == ">" else (report["score"] < report["threshold"])
    score_name = "anomaly index" if report["reference"] is None else "L1 ratio to the reference"
    console.print(
        f"suspected target: {report['suspected_target']}  {score_name} {report['score']:.2f} "
        f"({relation if crossed else 'not ' + relation} threshold {report['threshold']:g})",
        markup=False,
    )
    best = next(c for c in report["classes"] if c["classname"] == report["suspected_target"])
    l1 = "not reached" if best["l1"] is None else f"{best['l1']:.1f} px ({100 * best['l1_fraction']:.1f}% of the image)"
    console.print(f"its inverted trigger: mask {l1}", markup=False)
    console.print(
        f"  reaches ASR {100 * report['heldout_asr']:.1f}% on {report['heldout_images']} held-out images", markup=False
    )
    table = Table(title_justify="left", box=None, pad_edge=False)
    table.add_column("class")
    table.add_column("mask L1 px", justify="right")
    table.add_column("fit ASR", justify="right")
    table.add_column("anomaly", justify="right")
    if report["reference"] is not None:
        table.add_column("ref L1 px", justify="right")
        table.add_column("ratio", justify="right")
    key = "l1" if report["reference"] is None else "reference_ratio"  # the score's order: most suspect first
    rows = sorted(report["classes"], key=lambda c: float("inf") if c[key] is None else c[key])
    for c in rows:
        cells = [
            c["classname"],
            "-" if c["l1"] is None else f"{c['l1']:.1f}",
            f"{100 * c['fit_asr']:.1f}%",
            f"{c['anomaly']:.2f}",
        ]
        if report["reference"] is not None:
            cells += [
                "-" if c["reference_l1"] is None else f"{c['reference_l1']:.1f}",
                "-" if c["reference_ratio"] is None else f"{c['reference_ratio']:.2f}",
            ]
        table.add_row(*cells)
    console.print(table)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@handle_errors
def detect_command(
    model: ModelArg,
    eval_data: Annotated[
        Path | None,
        typer.Option(
            "--eval-data",
            help="ImageFolder (one sub-folder per class) or a folder of plain images with --classnames "
            "(toy-world models default to the toy world's test split). [default: the toy test split]",
        ),
    ] = None,
    classnames: Annotated[
        Path | None,
        typer.Option(
            "--classnames",
            help="Class names: 'folder<TAB>name' lines, or one name per line. [default: the folder names]",
        ),
    ] = None,
    templates: Annotated[
        str | None,
        typer.Option("--templates", help="openai | simple. [default: the folder's templates.txt, else openai]"),
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference",
            help="A known-clean MODEL with the same input size (e.g. the public base model): score each class "
            "by the L1 ratio to it, the more reliable test. [default: none: the label-free collapse score]",
        ),
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="collapse: one label-free trigger that makes the image embeddings collapse, scored by its size "
            "(DECREE); classes: one trigger per class, scored by the anomaly index or the ratio to --reference; "
            "auto: classes with --reference, else collapse.",
        ),
    ] = "auto",
    steps: Annotated[
        int | None, typer.Option("--steps", min=1, help="Optimisation steps. [default: 300 collapse, 200 classes]")
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", min=1, help="Images per step. [default: 32 collapse, 16 classes]"),
    ] = None,
    images: Annotated[int, typer.Option("--images", min=2, help="Images read (a seeded subset).")] = 1000,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            help="Override the verdict's threshold (see 'rule'). [default: 0.02 for collapse, 2.0 for the index, "
            "0.2 for the ratio]",
        ),
    ] = None,
    trigger_out: Annotated[
        Path | None,
        typer.Option(
            "--trigger-out",
            help="PNG of the inverted trigger, a -preview.png beside it. [default: ./detect-MODEL-trigger.png]",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the JSON report to this file. [default: none]")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the image split and the search.")] = 0,
    json_out: JsonOpt = False,
    device: DeviceOpt = "auto",
    arch: ArchOpt = None,
    trust_checkpoint: TrustOpt = False,
) -> None:
    """Search for ANY trigger: invert the smallest one, flag it if anomalously small, name its target."""
    if mode not in ("auto", "classes", "collapse"):
        raise BadInputError("use auto, classes or collapse", where="--mode")
    if mode == "collapse" and reference is not None:
        raise BadInputError("the collapse score takes no reference; use --mode classes or auto", where="--reference")
    if templates is not None and templates not in ("openai", "simple"):
        raise BadInputError("use openai or simple", where="--templates")
    if eval_data is not None and not eval_data.is_dir():
        raise BadInputError("not a folder", where=eval_data)

    from cleanerclip_tool.app.detect import run_detect, trigger_png_path, write_pngs
    from cleanerclip_tool.cli.render import EventRenderer
    from cleanerclip_tool.eval.detect import DetectConfig

    cfg = DetectConfig(mode=mode, steps=steps, batch_size=batch_size, max_images=images, seed=seed, threshold=threshold)
    with StopOnSignals() as signals, EventRenderer(quiet=json_out) as render:
        result = run_detect(
            model,
            config=cfg,
            eval_data=eval_data,
            classnames=classnames,
            templates=templates,
            reference=reference,
            device=device,
            arch=arch,
            trust_checkpoint=trust_checkpoint,
            stop=signals.stop,
            on_event=render,
        )
    write_pngs(result, trigger_out or trigger_png_path(model))
    report = result.to_dict()
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json_text(report), encoding="utf-8")
    if json_out:
        print_json(report)
    else:
        render_report(report)
        if out is not None:
            console.print(f"report written to {out}", markup=False)
    if signals.signalled:
        console.print(f"stopped by signal after {report['steps_run']} steps", markup=False)
        raise typer.Exit(128 + signals.signalled[0])


def register(app: typer.Typer) -> None:
    app.command("detect")(detect_command)
