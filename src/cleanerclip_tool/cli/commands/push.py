"""``cleanerclip push MODEL_DIR hf-hub:org/name``: publish a purified model with its model card."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cleanerclip_tool.cli.common import console, handle_errors, print_json
from cleanerclip_tool.cli.options import JsonOpt
from cleanerclip_tool.errors import BadInputError

if TYPE_CHECKING:
    from cleanerclip_tool.app.push import PushPlan


def register(app: typer.Typer) -> None:
    app.command("push")(push_command)


@handle_errors
def push_command(
    model_dir: Annotated[
        Path,
        typer.Argument(
            metavar="MODEL_DIR", help="The model folder `cleanerclip purify` wrote (<out>/model).", show_default=False
        ),
    ],
    target: Annotated[str, typer.Argument(metavar="TARGET", help="hf-hub:org/name (created if it does not exist).")],
    private: Annotated[bool, typer.Option("--private", help="Create the repository private.")] = False,
    revision: Annotated[
        str | None,
        typer.Option("--revision", "--branch", help="Branch to push to (created from main if needed). [default: main]"),
    ] = None,
    commit_message: Annotated[
        str | None,
        typer.Option(
            "--commit-message", help="The commit's title. [default: Upload a model purified with cleanerclip]"
        ),
    ] = None,
    license_: Annotated[
        str | None,
        typer.Option(
            "--license",
            help="License id for the card (mit, apache-2.0, other, ...). [default: the starting model's, "
            "else asked for]",
        ),
    ] = None,
    scan: Annotated[
        Path | None,
        typer.Option(
            "--scan",
            help="Scan report for the card's before/after table: a `scan --report` folder or report.json, "
            "or `scan --out`'s JSON. [default: none]",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check the folder and list what would be uploaded; send nothing.")
    ] = False,
    show_card: Annotated[bool, typer.Option("--show-card", help="Print the rendered model card on stdout.")] = False,
    endpoint: Annotated[
        str | None,
        typer.Option("--endpoint", help="Hub URL. [default: HF_ENDPOINT, else https://huggingface.co]"),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Upload a model folder to the Hugging Face Hub with a model card saying what was done to it.

    The token comes from HF_TOKEN or `hf auth login`.

    Exit codes: 0 pushed (or dry run); 1 the upload failed.

    Exit code 2: an incomplete folder, no token, no license, HF_HUB_OFFLINE set, or a token the Hub refuses.
    """
    from cleanerclip_tool.app.push import plan_push, push, resolve_token
    from cleanerclip_tool.cli.render import print_event

    on_event = (lambda _event: None) if json_ else print_event
    token = None if dry_run else resolve_token()  # cheap checks first: a large model takes a while to load
    plan = plan_push(model_dir, target, revision=revision, license=license_, scan_report=scan, on_event=on_event)
    if plan.license is None and not dry_run:
        if sys.stdin.isatty() and not json_:
            answer = typer.prompt("The starting model's card names no license; license id for this model (e.g. mit)")
            plan = plan_push(
                model_dir, target, revision=revision, license=answer.strip(), scan_report=scan, on_event=on_event
            )
        else:
            raise BadInputError(
                "the starting model's card names no license", where="--license", hint="pass --license ID (e.g. mit)"
            )
    if dry_run:
        if json_:
            print_json({"dry_run": True, **plan.to_dict(), "card": plan.card_text})
        else:
            _print_plan(plan)
        if show_card and not json_:
            typer.echo(plan.card_text, nl=False)
        return
    assert token is not None
    result = push(
        plan,
        token=token,
        private=private,
        commit_message=commit_message,
        endpoint=endpoint or os.environ.get("HF_ENDPOINT") or None,
        on_event=on_event,
    )
    if json_:
        print_json({"dry_run": False, **plan.to_dict(), **result.to_dict()})
        return
    console.print(f"pushed {result.repo_id}@{result.revision}: commit {result.commit}", markup=False)
    console.print(result.commit_url, markup=False, highlight=False)
    if show_card:
        typer.echo(plan.card_text, nl=False)


def _print_plan(p: PushPlan) -> None:
    from rich.table import Table

    console.print(
        f"dry run: would push {p.folder} to hf-hub:{p.repo_id}@{p.revision or 'main'}",
        markup=False,
        highlight=False,
    )
    table = Table(box=None, pad_edge=False)
    table.add_column("file")
    table.add_column("bytes", justify="right")
    for name, size in p.files:
        table.add_row(name + (" (rendered card)" if name == "README.md" else ""), f"{size:,}")
    console.print(table)
    console.print(f"weights sha256 {p.weights_sha256}", markup=False, highlight=False)
    lic = p.license or "none: pass --license ID (asked for when pushing from a terminal)"
    console.print(f"license {lic}", markup=False, highlight=False)
    for note in p.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
