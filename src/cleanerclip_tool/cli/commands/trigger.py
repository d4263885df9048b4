"""``cleanerclip trigger train-ssba | optimize-badclip``: build the artefacts two triggers need."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cleanerclip_tool.cli.common import console, handle_errors, print_json
from cleanerclip_tool.cli.options import ArchOpt, DeviceOpt, JsonOpt, ModelArg, ThreadsOpt, TrustOpt
from cleanerclip_tool.errors import BadInputError

trigger_app = typer.Typer(
    name="trigger", help="Build trigger artefacts: an SSBA encoder, a BadCLIP patch.", no_args_is_help=True
)


def _start_job(data: Path, out: Path, overwrite: bool, *, suffix: str) -> Any:
    """The checks and the loading both sub-commands begin with: a writable ``out`` of the right kind,
    then DATA's caption table (bad rows skipped with their CSV line numbers, as everywhere)."""
    from cleanerclip_tool.data.captions import load_caption_table

    if out.suffix.lower() != suffix:
        raise BadInputError(f"the output is written as {suffix}", where=out)
    if out.exists() and not overwrite:
        raise BadInputError("output exists", where=out, hint="pass --overwrite")
    return load_caption_table(data)


def _finish_job(doc: dict[str, Any], json_out: bool, message: str) -> None:
    """``--json``: the figures on stdout; otherwise one human line on stderr."""
    if json_out:
        print_json(doc)
    else:
        console.print(message, markup=False)


@trigger_app.command("train-ssba")
@handle_errors
def train_ssba(
    data: Annotated[
        Path,
        typer.Argument(
            metavar="DATA", help="Captions CSV or folder whose images train the encoder.", show_default=False
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Output .safetensors file (encoder + decoder).")],
    image_size: Annotated[
        int,
        typer.Option(
            "--image-size",
            min=8,
            help="Training resolution (the encoder is convolutional and applies at any size).",
        ),
    ] = 32,
    bits: Annotated[int, typer.Option("--bits", min=1, help="Code length.")] = 32,
    epsilon: Annotated[float, typer.Option("--epsilon", help="Bound on |residual| (0..1 pixel scale).")] = 8 / 255,
    steps: Annotated[int, typer.Option("--steps", min=1)] = 300,
    batch_size: Annotated[int, typer.Option("--batch-size", min=2)] = 32,
    max_images: Annotated[int, typer.Option("--max-images", min=2, help="Train on at most this many images.")] = 2000,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    threads: ThreadsOpt = None,
    overwrite: Annotated[bool, typer.Option("--overwrite")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Train a small StegaStamp-style encoder/decoder for the ssba trigger (CPU: a minute at 32x32)."""
    import numpy as np

    from cleanerclip_tool.attacks.stegastamp import StegaConfig, train_stegastamp
    from cleanerclip_tool.cli.render import EventRenderer
    from cleanerclip_tool.data.images import open_rgb
    from cleanerclip_tool.devices import set_threads

    set_threads(threads)
    if not 0 < epsilon <= 1:
        raise BadInputError("epsilon must be in (0, 1]", where="--epsilon")
    rows = _start_job(data, out, overwrite, suffix=".safetensors").rows
    if len(rows) > max_images:
        keep = np.sort(np.random.default_rng(seed).choice(len(rows), max_images, replace=False))
        rows = [rows[i] for i in keep]
    images = [open_rgb(r.image) for r in rows]
    with EventRenderer(quiet=json_out) as render:
        result = train_stegastamp(
            images,
            out,
            config=StegaConfig(n_bits=bits, epsilon=epsilon),
            image_size=image_size,
            steps=steps,
            batch_size=batch_size,
            seed=seed,
            on_event=render,
        )
    doc = {
        "out": str(result.out),
        "steps": result.steps,
        "seconds": round(result.seconds, 2),
        "bit_accuracy": result.bit_accuracy,
        "mean_abs_residual": result.mean_abs_residual,
        "psnr": result.psnr,
        "images": len(images),
    }
    _finish_job(
        doc,
        json_out,
        f"SSBA encoder written to {result.out}: bit accuracy {100 * result.bit_accuracy:.1f}%, "
        f"mean |residual| {result.mean_abs_residual:.2f}/255, PSNR {result.psnr:.1f} dB, {result.seconds:.0f} s",
    )


@trigger_app.command("optimize-badclip")
@handle_errors
def optimize_badclip(
    model: ModelArg,
    data: Annotated[
        Path,
        typer.Option(
            "--data", help="DATA: captions CSV or folder (captions mentioning the target are the target class)."
        ),
    ],
    target: Annotated[str, typer.Option("--target", help="Target label (a word in the captions).")],
    out: Annotated[Path, typer.Option("--out", help="Output PNG of the patch.")],
    size_px: Annotated[
        int | None,
        typer.Option(
            "--size-px", min=1, help="Patch side in pixels at the model's input size. [default: 16/224 of it]"
        ),
    ] = None,
    steps: Annotated[int, typer.Option("--steps", min=1)] = 300,
    batch_size: Annotated[int, typer.Option("--batch-size", min=2)] = 32,
    lr: Annotated[float, typer.Option("--lr")] = 0.01,
    pull_weight: Annotated[float, typer.Option("--pull-weight", help="Weight of the pull toward target images.")] = 1.0,
    max_change: Annotated[
        float | None,
        typer.Option(
            "--max-change",
            help="Largest change of a pixel from the random start (0..1, e.g. 0.125 = 32/255); keeps the "
            "patch from becoming an adversarial patch for the model it is optimised on. [default: unbounded]",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = None,
    arch: ArchOpt = None,
    trust_checkpoint: TrustOpt = False,
    overwrite: Annotated[bool, typer.Option("--overwrite")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Optimise a BadCLIP patch against MODEL and save it as a PNG (scan with --trigger patch.png)."""
    from cleanerclip_tool.attacks.badclip_optimize import optimize_badclip_patch
    from cleanerclip_tool.cli.render import EventRenderer
    from cleanerclip_tool.devices import resolve_device, set_threads
    from cleanerclip_tool.models.load import load_model

    set_threads(threads)
    table = _start_job(data, out, overwrite, suffix=".png")
    device = resolve_device(device)
    with EventRenderer(quiet=json_out) as render:
        loaded = load_model(model, arch=arch, trust_checkpoint=trust_checkpoint, device=device, on_event=render)
        result = optimize_badclip_patch(
            loaded,
            table,
            target,
            out,
            size_px=size_px,
            steps=steps,
            batch_size=batch_size,
            lr=lr,
            pull_weight=pull_weight,
            max_change=max_change,
            seed=seed,
            device=device,
            on_event=render,
        )
    doc = {
        "out": str(result.out),
        "side": result.side,
        "steps": result.steps,
        "seconds": round(result.seconds, 2),
        "final_loss": result.final_loss,
        "target_similarity": result.target_similarity,
        "clean_similarity": result.clean_similarity,
        "target_rows": result.target_rows,
        "source_rows": result.source_rows,
    }
    _finish_job(
        doc,
        json_out,
        f"BadCLIP patch ({result.side}x{result.side}) written to {result.out}: cos to target "
        f"{result.clean_similarity:.3f} -> {result.target_similarity:.3f}, {result.seconds:.0f} s",
    )


def register(app: typer.Typer) -> None:
    app.add_typer(trigger_app, name="trigger")
