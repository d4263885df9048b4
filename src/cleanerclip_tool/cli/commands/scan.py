"""``cleanerclip scan MODEL``: Top-k BA / ASR under built-in triggers, with target discovery."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from cleanerclip_tool.cli.common import console, handle_errors, parse_int_list, print_json
from cleanerclip_tool.cli.render import EventRenderer


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


def register(app: typer.Typer) -> None:
    @app.command("scan")
    @handle_errors
    def scan_command(
        model: str = typer.Argument(..., help="MODEL spec: file, folder, hf-hub:ORG/NAME, ARCH:TAG or toy:NAME."),
        attack: str = typer.Option(
            "all",
            "--attack",
            "-a",
            help="Attack name(s), comma-separated, or 'all' (the "
            "paper's six: badnet, blended, sig, wanet, ssba, badclip).",
        ),
        eval_data: Path | None = typer.Option(
            None,
            "--eval-data",
            help="ImageFolder: one sub-folder per class (toy-world models default to the toy world's test split).",
        ),
        classnames: Path | None = typer.Option(None, "--classnames", help="Class names: 'folder<TAB>name' lines."),
        templates: str | None = typer.Option(
            None, "--templates", help="openai | simple (default: the eval folder's templates.txt, else openai)."
        ),
        topk: str = typer.Option("1,3,5,10", "--topk", help="Comma-separated k values."),
        target: str = typer.Option("auto", "--target", help="Target class, or 'auto' to discover it per attack."),
        limit: int | None = typer.Option(None, "--limit", min=1, help="Scan a seeded random subset of N images."),
        trigger: Path | None = typer.Option(
            None,
            "--trigger",
            help="Trigger artefact: a patch image (badclip), your image (custom) or an SSBA encoder (.safetensors).",
        ),
        param: list[str] | None = typer.Option(
            None, "--param", help="Trigger parameter [attack.]name=value (repeatable), e.g. badnet.size_px=5."
        ),
        asr_include_target: bool = typer.Option(
            False, "--asr-include-target", help="Count target-class images in ASR too (BadCLIP's convention)."
        ),
        batch_size: int = typer.Option(128, "--batch-size", min=1),
        workers: int | None = typer.Option(None, "--workers", min=0, help="DataLoader workers (default: auto)."),
        device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N"),
        seed: int = typer.Option(0, "--seed", help="Seed of the triggers and of --limit's subset."),
        json_out: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout."),
        out: Path | None = typer.Option(None, "--out", help="Also write the JSON report to this file."),
        arch: str | None = typer.Option(None, "--arch", help="Architecture when a weights file does not carry it."),
        trust_checkpoint: bool = typer.Option(
            False, "--trust-checkpoint", help="Allow pickled checkpoints (can run code)."
        ),
    ) -> None:
        """Scan a model for backdoors: Top-k BA on clean images, Top-k ASR under each trigger."""
        ks = parse_int_list(topk, "--topk")
        if templates is not None and templates not in ("openai", "simple"):
            raise typer.BadParameter("use openai or simple", param_hint="--templates")
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
        with EventRenderer(quiet=json_out) as render:
            report = run_scan(model, config, on_event=render).to_dict()
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
        if json_out:
            print_json(report)
        else:
            render_table(report)
            if out is not None:
                console.print(f"report written to {out}", markup=False)
