"""``cleanerclip poison DATA``: a new dataset folder with N triggered, target-captioned copies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cleanerclip_tool.cli.common import console, handle_errors, print_json
from cleanerclip_tool.cli.options import CsvSeparatorOpt, DataArg, JsonOpt
from cleanerclip_tool.config import default_of
from cleanerclip_tool.errors import BadInputError


@handle_errors
def poison_command(
    data: DataArg,
    attack: Annotated[
        str,
        typer.Option("--attack", "-a", help="Trigger: badnet, blended, sig, wanet, ssba, badclip or custom."),
    ],
    target: Annotated[str, typer.Option("--target", help="Target label the poisoned captions name.")],
    count: Annotated[int, typer.Option("--count", "-n", min=0, help="Number of poisoned copies to add.")],
    out: Annotated[Path, typer.Option("--out", help="New dataset folder (must be empty or absent).")],
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of the row choice, captions and trigger. [default: 0]")
    ] = None,
    target_captions: Annotated[
        Path | None,
        typer.Option(
            "--target-captions",
            help="Text file, one caption per line, for the poisoned rows (`cleanerclip toyworld captions` "
            "prints the toy world's). [default: the toy world's captions of the target on a toy-world "
            "folder; else templates, and for badclip captions mentioning the target]",
        ),
    ] = None,
    trigger: Annotated[
        Path | None,
        typer.Option(
            "--trigger",
            help="Trigger artefact (patch, image, encoder). [default: none; on a toy-world folder the "
            "toy world's SSBA encoder / BadCLIP patch]",
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            help="Trigger parameter name=value (repeatable). [default: none; on a toy-world folder the toy "
            "world's 32x32 settings]",
        ),
    ] = None,
    image_key: Annotated[str, typer.Option("--image-key", help="Image path column.")] = default_of("image_key"),
    caption_key: Annotated[str, typer.Option("--caption-key", help="Caption column.")] = default_of("caption_key"),
    csv_separator: CsvSeparatorOpt = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a non-empty --out.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Write the clean rows plus COUNT poisoned copies, with a manifest; DATA is never modified.

    On a folder of the toy world (its world.json at or above DATA) the trigger settings and the
    target captions default to the toy world's own; the command says what it used and where from.
    """
    from cleanerclip_tool.app.poison import plan_poison
    from cleanerclip_tool.app.triggers import parse_attacks, parse_params
    from cleanerclip_tool.attacks.poison import build_poisoned_set
    from cleanerclip_tool.cli.render import EventRenderer
    from cleanerclip_tool.data.captions import load_caption_table

    names = parse_attacks(attack)
    if len(names) != 1:
        raise BadInputError("poison takes exactly one attack", where="--attack")
    name = names[0]
    given = parse_params(param, [name])[name]
    if trigger is not None and not trigger.is_file():
        raise BadInputError("trigger file not found", where=trigger)
    captions = None
    if target_captions is not None:
        try:
            captions = target_captions.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInputError(f"cannot read: {exc}", where=target_captions) from None
    table = load_caption_table(data, image_key=image_key, caption_key=caption_key, separator=csv_separator)
    with EventRenderer(quiet=json_out) as render:
        plan = plan_poison(
            table,
            name,
            target,
            trigger_file=trigger,
            params=given,
            seed=seed,
            target_captions=captions,
            on_event=render,
        )
        if not json_out:
            for line in plan.lines():
                console.print(line, markup=False, highlight=False, soft_wrap=True)
        path = build_poisoned_set(
            table,
            plan.trigger,
            target,
            count,
            out,
            seed=plan.seed,
            target_captions=plan.captions,
            target_captions_source=plan.captions_source,
            overwrite=overwrite,
            on_event=render,
        )
    summary = {
        "out": str(path),
        "captions": str(path / "captions.csv"),
        "manifest": str(path / "manifest.json"),
        "clean_rows": len(table.rows),
        "poisoned_rows": count,
        "skipped_source_rows": len(table.skipped),
        **plan.trigger.describe(),
        "target": target,
        "seed": plan.seed,
        **plan.summary(),
    }
    if json_out:
        print_json(summary)
    else:
        console.print(
            f"{len(table.rows)} clean + {count} poisoned ({name} -> {target!r}) rows written to {path}",
            markup=False,
        )
        if table.skipped:
            console.print(f"{len(table.skipped)} source rows were skipped (unreadable or missing)", markup=False)


def register(app: typer.Typer) -> None:
    app.command("poison")(poison_command)
