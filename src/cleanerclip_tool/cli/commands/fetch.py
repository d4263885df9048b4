"""``cleanerclip fetch MODEL``: download into the Hugging Face cache and print where it is."""

from __future__ import annotations

import typer

from cleanerclip_tool.cli.common import handle_errors, print_json
from cleanerclip_tool.cli.options import JsonOpt, ModelArg, RevisionOpt


def register(app: typer.Typer) -> None:
    app.command("fetch")(fetch)


@handle_errors
def fetch(model: ModelArg, revision: RevisionOpt = None, json_: JsonOpt = False) -> None:
    """Download an hf-hub: model (or ARCH:tag weights) into the cache; print the local path on stdout."""
    from cleanerclip_tool.cli.common import console
    from cleanerclip_tool.cli.render import print_event
    from cleanerclip_tool.errors import BadInputError

    if model.startswith("hf-hub:"):
        from cleanerclip_tool.hub import fetch_model

        result = fetch_model(model, revision=revision, on_event=(lambda _e: None) if json_ else print_event)
        if json_:
            print_json(
                {"model": model, "repo_id": result.repo_id, "revision": result.revision, "path": str(result.path)}
            )
            return
        console.print(f"{result.repo_id} at commit {result.revision}", markup=False)
        typer.echo(str(result.path))
        return
    if ":" in model and not model.startswith(("toy:", "local-dir:")):
        from cleanerclip_tool.models.load import download_pretrained_weights

        path = download_pretrained_weights(model)
        if json_:
            print_json({"model": model, "repo_id": None, "revision": None, "path": str(path)})
        else:
            typer.echo(str(path))
        return
    raise BadInputError(
        "fetch downloads hf-hub:org/name or ARCH:tag models; local files and toy models need no fetching",
        where=model,
    )
