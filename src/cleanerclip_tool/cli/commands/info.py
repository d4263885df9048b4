"""``cleanerclip info MODEL``: what a model is — architecture, size, source, hash."""

from __future__ import annotations

import typer

from cleanerclip_tool.cli.common import handle_errors, print_json
from cleanerclip_tool.cli.options import ArchOpt, JsonOpt, ModelArg, RevisionOpt, TrustOpt


def register(app: typer.Typer) -> None:
    app.command("info")(info)


@handle_errors
def info(
    model: ModelArg,
    arch: ArchOpt = None,
    revision: RevisionOpt = None,
    trust_checkpoint: TrustOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Show a model's architecture, parameter count, source, weights sha256 and Hub revision."""
    from rich.table import Table

    from cleanerclip_tool.cli.common import console
    from cleanerclip_tool.cli.render import print_event
    from cleanerclip_tool.models.load import load_model

    on_event = (lambda _event: None) if json_ else print_event
    loaded = load_model(model, arch=arch, revision=revision, trust_checkpoint=trust_checkpoint, on_event=on_event)
    card = loaded.card
    summary = {
        "architecture": card.architecture,
        "parameters": card.parameters,
        "source": card.source,
        "kind": card.kind,
        "path": card.path,
        "sha256": card.sha256,
        "revision": card.revision,
        "image_size": card.image_size,
        "context_length": card.context_length,
        "embed_dim": card.embed_dim,
        "history": card.history,
    }
    if json_:
        print_json({**summary, "model_cfg": card.model_cfg, "preprocess_cfg": card.preprocess_cfg})
        return
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold cyan")
    table.add_column(overflow="fold")  # paths and hashes are shown whole, folded if need be
    for key, value in summary.items():
        if key == "history":
            value = "; ".join(str(h.get("action") or h.get("method") or h) for h in value) or "none"
        elif key == "parameters":
            value = f"{value:,}"
        table.add_row(key.replace("_", " "), "—" if value is None else str(value))
    console.print(table)
