"""Annotated option aliases shared by commands, so that a flag reads the same everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ModelArg = Annotated[
    str,
    typer.Argument(
        metavar="MODEL",
        help="Weights file (.pt/.bin/.safetensors), model folder, hf-hub:org/name[@rev], ARCH:tag or toy:NAME.",
    ),
]
ScanModelArg = Annotated[
    str | None,
    typer.Argument(
        metavar="MODEL",
        help="As for purify: weights file, model folder, hf-hub:org/name[@rev], ARCH:tag or toy:NAME. "
        "[default: the model the last finished purify wrote]",
        show_default=False,
    ),
]
ArchOpt = Annotated[
    str | None,
    typer.Option(
        "--arch", help="open_clip architecture (or a model config .json) of a bare weights file. [default: detect]"
    ),
]
RevisionOpt = Annotated[
    str | None,
    typer.Option("--revision", help="Hub branch, tag or commit to pin. [default: the @rev of MODEL, else main]"),
]
TrustOpt = Annotated[
    bool,
    typer.Option(
        "--trust-checkpoint",
        help="Allow full unpickling of a checkpoint. It can run code on this machine: only for files you trust.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout and nothing else there.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]
CaptionStyleOpt = Annotated[
    str,
    typer.Option(
        "--caption-style",
        help="Toy captions: plain (the scene's words) or cluttered (inside framing, background and look "
        "phrases, as alt-text has them, so a positive sub-caption simplifies the caption).",
    ),
]
# augment's --json streams one record per caption: JSON lines, not one document.
JsonLinesOpt = Annotated[bool, typer.Option("--json", help="JSON lines on stdout, one record per caption.")]
CsvSeparatorOpt = Annotated[
    str | None,
    typer.Option(
        "--csv-separator",
        help="Column separator of DATA: ',', '\\t' (tab), ';' or '|' (open_clip_train's flag). "
        "[default: sniffed from the header]",
    ),
]
DataArg = Annotated[
    Path, typer.Argument(metavar="DATA", help="Caption CSV, or a folder holding captions.csv.", show_default=False)
]
ThreadsOpt = Annotated[
    int | None,
    typer.Option("--threads", min=1, help="torch CPU threads (fewer on a shared machine). [default: torch's choice]"),
]
