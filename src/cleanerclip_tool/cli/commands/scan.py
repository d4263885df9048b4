"""``cleanerclip scan MODEL``: Top-k BA / ASR under built-in triggers, with target discovery."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cleanerclip_tool.cli.common import console, handle_errors, json_text, parse_int_list, print_json
from cleanerclip_tool.cli.options import ArchOpt, DeviceOpt, JsonOpt, ScanModelArg, ThreadsOpt, TrustOpt
from cleanerclip_tool.cli.render import EventRenderer
from cleanerclip_tool.errors import BadInputError


def render_table(report: dict[str, Any], *, wide: bool = False) -> None:
    """The paper's Table 1 layout, one row per attack, in 80 columns (``wide``: every Top-k and more).

    ``target`` is the class ASR is measured toward (``*``: discovered, with ``--target auto``);
    ``pull`` is the class whose Top-1 share the trigger grows most, and by how many points. With a
    ``--reference`` model, ``ref ASR@1`` is its ASR under the same trigger toward the same class
    (``--wide``: at every k).
    """
    from cleanerclip_tool.cli.tables import add_rate_columns, percent, print_table, rate_cells, rate_ks, rate_table

    ba_ks, asr_ks = rate_ks(report["topk"], wide=wide)
    reference = report.get("reference")
    ref_rows = {row["attack"]: row for row in reference["results"]} if reference else {}
    ref_ks = asr_ks if wide else asr_ks[:1]
    table = rate_table(f"scan of {report['model'].get('source', '?')} (%)")
    table.add_column("attack", no_wrap=True)
    add_rate_columns(table, ba_ks, asr_ks)
    if reference:  # "ref" above "ASR@1": a two-line header keeps the default table in 80 columns
        for k in ref_ks:
            table.add_column(f"ref\nASR@{k}", justify="right", no_wrap=True)
    table.add_column("target", no_wrap=True)
    table.add_column("pull", no_wrap=True)
    if wide:
        table.add_column("pull share", justify="right", no_wrap=True)
        table.add_column("n clean/trig", justify="right", no_wrap=True)
        table.add_column("s", justify="right", no_wrap=True)
    for column in table.columns:
        column.vertical = "bottom"  # one-line headers sit on the rule, beside the two-line ones
    auto = False
    for row in report["results"]:
        auto = auto or row["target"] is None
        toward = row["target"] if row["target"] is not None else f"{row['asr_target']}*"
        cells = [row["attack"], *rate_cells(row, ba_ks, asr_ks)]
        if reference:
            ref = ref_rows.get(row["attack"])
            cells += [percent(ref["asr"].get(k)) if ref else "—" for k in ref_ks]
        cells.append(toward)
        cells.append(f"{row['discovered_target']} {100 * row['discovered_growth']:+.1f}")
        if wide:
            cells.append(f"{100 * row['discovered_share']:.1f}")
            cells.append(f"{row['n_clean']}/{row['n_triggered']}")
            cells.append(f"{row['seconds']:.1f}")
        table.add_row(*cells)
    print_table(table, wide=wide)
    notes = [report["asr_convention_note"] + "."]
    if auto:
        notes.append("* target discovered per attack (--target auto).")
    notes.append("pull: the class whose Top-1 share the trigger grows most (+ points).")
    if reference:
        ba = percent(reference["results"][0]["ba"].get(ba_ks[0])) if reference["results"] else "—"
        notes.append(
            f"ref: {reference['spec']} (BA@{ba_ks[0]} {ba}) under the same triggers and targets: the clean floor."
        )
    if not wide:
        notes.append("--wide: every Top-k, shares, counts and seconds.")
    notes += trigger_source_notes(report["results"])
    notes.append(f"eval data: {report['eval_data']}")
    notes.append(f"templates: {report['templates']}")
    notes.append(f"{report['classes']} classes; device {report['device']} ({report['precision']})")
    for line in notes:
        console.print(line, markup=False, highlight=False)


def trigger_source_notes(results: list[dict[str, Any]]) -> list[str]:
    """One line per source of trigger settings, naming its attacks: ``triggers of badnet: model card (...)``."""
    groups: dict[str, list[str]] = {}
    for row in results:
        source = row.get("trigger_source")
        if source:
            groups.setdefault(source["text"], []).append(row["attack"])
    return [f"triggers of {', '.join(names)}: {text}." for text, names in groups.items()]


@handle_errors
def scan_command(
    model: ScanModelArg = None,
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
            help="ImageFolder: one sub-folder per class. [default: the toy world's test split for a toy model; "
            "required for any other]",
        ),
    ] = None,
    classnames: Annotated[
        Path | None,
        typer.Option("--classnames", help="Class names: 'folder<TAB>name' lines. [default: the folder names]"),
    ] = None,
    templates: Annotated[
        str | None,
        typer.Option(
            "--templates",
            help="openai, simple, or a file of templates ({} = class name; for a read-only eval folder). "
            "[default: the eval folder's templates.txt, else openai]",
        ),
    ] = None,
    topk: Annotated[str, typer.Option("--topk", help="Comma-separated k values.")] = "1,3,5,10",
    target: Annotated[
        str, typer.Option("--target", help="Target class, or 'auto' to discover it per attack.")
    ] = "auto",
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Scan a seeded random subset of N images. [default: all]")
    ] = None,
    trigger: Annotated[
        Path | None,
        typer.Option(
            "--trigger",
            help="Trigger artefact: a patch image (badclip), your image (custom) or an SSBA encoder "
            "(.safetensors). [default: none]",
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", help="Trigger parameter [attack.]name=value (repeatable), e.g. badnet.size_px=5. [default: none]"
        ),
    ] = None,
    asr_include_target: Annotated[
        bool,
        typer.Option("--asr-include-target", help="Count target-class images in ASR too (BadCLIP's convention)."),
    ] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 128,
    workers: Annotated[int | None, typer.Option("--workers", min=0, help="DataLoader workers. [default: auto]")] = None,
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            help="Seed of the triggers and of --limit's subset; given, it wins over the seed a model card "
            "records. [default: the recorded trigger seed, else 0]",
        ),
    ] = None,
    json_out: JsonOpt = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the JSON report to this file. [default: none]")
    ] = None,
    wide: Annotated[bool, typer.Option("--wide", help="Show every Top-k, shares, counts and seconds.")] = False,
    arch: ArchOpt = None,
    trust_checkpoint: TrustOpt = False,
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference",
            metavar="MODEL",
            help="A clean floor: scan this model (e.g. toy:clean) with the very same triggers, images and "
            "targets, and show its ASR beside each model's (ref ASR@1). [default: none]",
        ),
    ] = None,
    fail_above: Annotated[
        float | None,
        typer.Option(
            "--fail-above",
            metavar="FRACTION",
            help="CI gate: exit 3 when any attack's ASR (see --fail-metric) exceeds this fraction (0.2 = 20%). "
            "[default: no gate]",
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
            "clean images, target unknown (0.1 = 10 points). [default: no gate]",
        ),
    ] = None,
    report_dir: Annotated[
        Path | None,
        typer.Option(
            "--report",
            metavar="DIR",
            help="Write report.md, chart.png (BA@1 / ASR@1 per attack, before/after bars for two models) and "
            "report.json into DIR. [default: none]",
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
    if templates is not None and templates not in ("openai", "simple") and not Path(templates).is_file():
        raise BadInputError("use openai, simple or a templates file", where="--templates")
    from cleanerclip_tool.app.scan import ScanConfig, run_scan
    from cleanerclip_tool.app.triggers import parse_attacks, parse_params
    from cleanerclip_tool.devices import set_threads

    names = parse_attacks(attack)
    set_threads(threads)
    if model is None:
        from cleanerclip_tool.app.recent import last_purified

        model = str(last_purified())
        console.print(f"scanning the last purified model: {model}", markup=False, highlight=False, soft_wrap=True)
    specs = [model] if model_b is None else [model, model_b]
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
        seed=0 if seed is None else seed,
        trigger_seed=seed,
        templates=templates,
        asr_convention="include" if asr_include_target else "exclude",
        eval_data=eval_data,
        classnames=classnames,
        arch=arch,
        trust_checkpoint=trust_checkpoint,
        skip_missing_artefacts="all" in [part.strip().lower() for part in attack.split(",")],
        reference=reference,
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
        out.write_text(json_text(document), encoding="utf-8")
    files = write_scan_report(report_dir, reports, gate=verdict) if report_dir is not None else {}
    if json_out:
        print_json(document)
    else:
        for report in reports:
            render_table(report, wide=wide)
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
