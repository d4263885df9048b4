"""``cleanerclip scan MODEL``: Top-k BA / ASR under built-in triggers, with target discovery."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cleanerclip_tool.cli.common import console, handle_errors, parse_int_list, print_json
from cleanerclip_tool.cli.options import ArchOpt, DeviceOpt, JsonOpt, ModelArg, TrustOpt
from cleanerclip_tool.cli.render import EventRenderer
from cleanerclip_tool.errors import BadInputError


def render_table(report: dict[str, Any]) -> None:
    """The paper's Table 1 layout: one row per attack, Top-k BA then Top-k ASR columns."""
    from rich.table import Table

    ks = [str(k) for k in report["topk"]]
    table = Table(title=f"scan of {report['model'].get('source', '?')} on {report['eval_data']}", title_justify="left")
    table.add_column("attack")
    for k in ks:
        table.add_column(f"BA@{k}", justify="right")
    for k in ks:
        table.add_column(f"ASR@{k}", justify="right")
    table.add_column("ASR toward")
    table.add_column("trigger pulls to (share, growth)")
    table.add_column("n clean / trig", justify="right")
    table.add_column("s", justify="right")
    for row in report["results"]:
        toward = row["target"] if row["target"] is not None else f"{row['asr_target']} (auto)"
        table.add_row(
            row["attack"],
            *[f"{100 * row['ba'][k]:.1f}" for k in ks],
            *[f"{100 * row['asr'][k]:.1f}" for k in ks],
            toward,
            f"{row['discovered_target']} ({100 * row['discovered_share']:.1f}%, {100 * row['discovered_growth']:+.1f})",
            f"{row['n_clean']} / {row['n_triggered']}",
            f"{row['seconds']:.1f}",
        )
    console.print(table, width=max(console.width, 150))  # Table 1 is wide; do not squash it to 80 columns
    console.print(
        f"{report['asr_convention_note']}; rates in %; {report['classes']} classes, templates: "
        f"{report['templates']}; device {report['device']} ({report['precision']})",
        markup=False,
    )


@handle_errors
def scan_command(
    model: ModelArg,
    model_b: Annotated[
        str | None,
        typer.Argument(
            metavar="MODEL_B",
            help="A second model, scanned the same way and compared with MODEL (before/after); the gate and "
            "the exit code judge MODEL_B.",
            show_default=False,
        ),
    ] = None,
    attack: Annotated[
        str,
        typer.Option(
            "--attack",
            "-a",
            help="Attack name(s), comma-separated, or 'all' (the "
            "paper's six: badnet, blended, sig, wanet, ssba, badclip).",
        ),
    ] = "all",
    eval_data: Annotated[
        Path | None,
        typer.Option(
            "--eval-data",
            help="ImageFolder: one sub-folder per class (toy-world models default to the toy world's test split).",
        ),
    ] = None,
    classnames: Annotated[
        Path | None, typer.Option("--classnames", help="Class names: 'folder<TAB>name' lines.")
    ] = None,
    templates: Annotated[
        str | None,
        typer.Option("--templates", help="openai | simple (default: the eval folder's templates.txt, else openai)."),
    ] = None,
    topk: Annotated[str, typer.Option("--topk", help="Comma-separated k values.")] = "1,3,5,10",
    target: Annotated[
        str, typer.Option("--target", help="Target class, or 'auto' to discover it per attack.")
    ] = "auto",
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Scan a seeded random subset of N images.")
    ] = None,
    trigger: Annotated[
        Path | None,
        typer.Option(
            "--trigger",
            help="Trigger artefact: a patch image (badclip), your image (custom) or an SSBA encoder (.safetensors).",
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="Trigger parameter [attack.]name=value (repeatable), e.g. badnet.size_px=5."),
    ] = None,
    asr_include_target: Annotated[
        bool,
        typer.Option("--asr-include-target", help="Count target-class images in ASR too (BadCLIP's convention)."),
    ] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 128,
    workers: Annotated[int | None, typer.Option("--workers", min=0, help="DataLoader workers (default: auto).")] = None,
    device: DeviceOpt = "auto",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the triggers and of --limit's subset.")] = 0,
    json_out: JsonOpt = False,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the JSON report to this file.")] = None,
    arch: ArchOpt = None,
    trust_checkpoint: TrustOpt = False,
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference",
            metavar="MODEL",
            help="Also scan this model (e.g. the one before purification) and show both; same as "
            "`scan REFERENCE MODEL`.",
        ),
    ] = None,
    fail_above: Annotated[
        float | None,
        typer.Option(
            "--fail-above",
            metavar="FRACTION",
            help="CI gate: exit 3 when any attack's ASR (see --fail-metric) exceeds this fraction (0.2 = 20%).",
        ),
    ] = None,
    fail_metric: Annotated[
        str, typer.Option("--fail-metric", metavar="asr@K", help="The rate --fail-above checks: asr@1, asr@5, ...")
    ] = "asr@1",
    fail_on_discovery: Annotated[
        float | None,
        typer.Option(
            "--fail-on-discovery",
            metavar="GROWTH",
            help="CI gate: exit 3 when a trigger raises any class's Top-1 share by more than this fraction over "
            "clean images, target unknown (0.1 = 10 points).",
        ),
    ] = None,
    report_dir: Annotated[
        Path | None,
        typer.Option(
            "--report",
            metavar="DIR",
            help="Write report.md, chart.png (BA@1 / ASR@1 per attack, before/after bars for two models) and "
            "report.json into DIR.",
        ),
    ] = None,
) -> None:
    """Scan a model for backdoors: Top-k BA on clean images, Top-k ASR under each trigger.

    Exit codes: 0 done (the gate passed); 1 the scan failed; 2 bad input.

    Exit code 3: the CI gate (--fail-above, --fail-on-discovery) found a backdoor.
    """
    from cleanerclip_tool.app.gate import Gate, enforce

    ks = parse_int_list(topk, "--topk")
    gate = Gate(fail_above=fail_above, metric=fail_metric, fail_on_discovery=fail_on_discovery).validate(ks)
    if reference is not None and model_b is not None:
        raise BadInputError("name a second MODEL or --reference, not both", where="--reference")
    specs = [reference, model] if reference is not None else [model] if model_b is None else [model, model_b]
    if templates is not None and templates not in ("openai", "simple"):
        raise BadInputError("use openai or simple", where="--templates")
    from cleanerclip_tool.app.scan import ScanConfig, run_scan
    from cleanerclip_tool.app.triggers import parse_attacks, parse_params

    names = parse_attacks(attack)
    config = ScanConfig(
        attacks=tuple(names),
        params=parse_params(param, names),
        trigger=trigger,
        topk=tuple(ks),
        target=None if target.strip().lower() == "auto" else target,
        limit=limit,
        batch_size=batch_size,
        workers=workers,
        device=device,
        seed=seed,
        templates=templates,
        asr_convention="include" if asr_include_target else "exclude",
        eval_data=eval_data,
        classnames=classnames,
        arch=arch,
        trust_checkpoint=trust_checkpoint,
    )
    from cleanerclip_tool.app.report import scans_document, write_scan_report

    reports = []
    with EventRenderer(quiet=json_out) as render:
        for spec in specs:
            reports.append(run_scan(spec, config, on_event=render).to_dict())
    verdict = gate.verdict(reports[-1]) if gate.active else None
    document = scans_document(reports, verdict)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    files = write_scan_report(report_dir, reports, gate=verdict) if report_dir is not None else {}
    if json_out:
        print_json(document)
    else:
        for report in reports:
            render_table(report)
        if out is not None:
            console.print(f"report written to {out}", markup=False)
        for name, path in files.items():
            console.print(f"{name}: {path}", markup=False, highlight=False)
        if verdict is not None:
            console.print(f"gate {'passed' if verdict['passed'] else 'FAILED'}: {specs[-1]}", markup=False)
            for line in verdict["failures"]:
                console.print(f"  {line}", markup=False, highlight=False)
    if verdict is not None:
        enforce(verdict, specs[-1])


def register(app: typer.Typer) -> None:
    app.command("scan")(scan_command)
