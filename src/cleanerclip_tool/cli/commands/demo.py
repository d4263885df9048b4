"""``cleanerclip demo``: the whole story on the toy world in a few minutes (scan, purify x3, scan, report)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from cleanerclip_tool.cli.common import console, handle_errors, print_json
from cleanerclip_tool.cli.options import CaptionStyleOpt, DeviceOpt, JsonOpt
from cleanerclip_tool.cli.render import RunRenderer


class DemoDisplay(RunRenderer):
    """One Rich live area for the whole demo: a stage bar over the shared task + training bars."""

    def __init__(self, quiet: bool = False) -> None:
        super().__init__(quiet=quiet)
        self.stage: Any = None

    def __call__(self, event: Any) -> None:
        from cleanerclip_tool.toyworld.demo import DemoPhase

        if isinstance(event, DemoPhase):
            if self.stage is None:
                self.stage = self.progress.add_task("demo", total=event.total, metrics="")
            self.progress.update(self.stage, completed=event.index - 1, description=f"demo: {event}")
            if not self.quiet:
                console.print(f"[bold]{event}[/]", markup=True, highlight=False)
        else:
            super().__call__(event)


def render_report(report: dict[str, Any], *, wide: bool = False) -> None:
    """The paper's Table 1 layout, one row per defense, in 80 columns (``wide``: every Top-k)."""
    from cleanerclip_tool.cli.tables import add_rate_columns, print_table, rate_cells, rate_ks, rate_table

    ba_ks, asr_ks = rate_ks(report["topk"], wide=wide)
    table = rate_table(f"{report['model']}: {report['attack']} → {report['target']} (toy world test split, %)")
    table.add_column("defense", no_wrap=True)
    add_rate_columns(table, ba_ks, asr_ks)
    table.add_column("s", justify="right", no_wrap=True)
    for row in report["results"]:
        seconds = f"{row['seconds']:.0f}" if row["seconds"] else ""
        table.add_row(row["label"], *rate_cells(row, ba_ks, asr_ks, scale=1.0), seconds)
    print_table(table, wide=wide)
    if report.get("reference"):
        from cleanerclip_tool.toyworld.demo import floor_note

        console.print(floor_note(report), markup=False, highlight=False)
    console.print(f"wall time {report['wall_seconds']:.0f} s", markup=False)
    for name, path in report["files"].items():
        console.print(f"{name}: {path}", markup=False, highlight=False)


@handle_errors
def demo_command(
    attack: Annotated[
        str, typer.Option("--attack", "-a", help="Shipped backdoored toy model: toy:<attack>.")
    ] = "badnet",
    quick: Annotated[
        bool, typer.Option("--quick", help="About a minute: fewer pairs, epochs and test images.")
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Report folder. [default: ./cleanerclip-demo-<attack>]")
    ] = None,
    device: DeviceOpt = "auto",
    wide: Annotated[bool, typer.Option("--wide", help="Show every Top-k in the table.")] = False,
    caption_style: CaptionStyleOpt = "plain",
    json_out: JsonOpt = False,
) -> None:
    """Scan a backdoored toy model, purify it with FT, CleanCLIP, CleanerCLIP and PAR, compare (Table 1)."""
    from cleanerclip_tool.devices import resolve_device
    from cleanerclip_tool.toyworld.demo import DemoSettings, run_demo
    from cleanerclip_tool.toyworld.registry import resolve_toy_model
    from cleanerclip_tool.toyworld.world import check_caption_style

    resolve_toy_model(attack)  # unknown name -> exit 2 listing the shipped toy models
    check_caption_style(caption_style)
    folder = out or Path(f"cleanerclip-demo-{attack}")
    settings = dataclasses.replace(DemoSettings.quick() if quick else DemoSettings(), caption_style=caption_style)
    with DemoDisplay(quiet=json_out) as display:
        report = run_demo(folder, attack=attack, settings=settings, device=resolve_device(device), on_event=display)
    if json_out:
        print_json(report)
    else:
        render_report(report, wide=wide)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
