"""``cleanerclip toyworld generate | show | captions | pretrain``: the embedded synthetic world from the shell."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cleanerclip_tool.cli.common import console, handle_errors, print_json
from cleanerclip_tool.cli.options import CaptionStyleOpt, DeviceOpt, JsonOpt, ThreadsOpt
from cleanerclip_tool.cli.render import EventRenderer, RunRenderer
from cleanerclip_tool.toyworld.victim import VICTIM_BASE, VICTIM_SCHEDULE

toyworld_app = typer.Typer(
    name="toyworld",
    help="The embedded toy world: generate its data, preview it, pretrain tiny (backdoored) CLIPs.",
    no_args_is_help=True,
)


@toyworld_app.command("generate")
@handle_errors
def generate(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the world into (train/, finetune/, test/).")],
    seed: Annotated[int, typer.Option("--seed", help="World seed: same seed, same bytes.")] = 0,
    size: Annotated[
        int, typer.Option("--size", min=1, help="Training pairs (finetune: a fifth; test: 4-100 per class).")
    ] = 10_000,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a non-empty --out.")] = False,
    caption_style: CaptionStyleOpt = "plain",
    json_out: JsonOpt = False,
) -> None:
    """Draw the toy world's train / finetune / test splits as ordinary data folders."""
    from cleanerclip_tool.toyworld.world import generate_world, split_sizes

    with EventRenderer(transient=False) as render:
        paths = generate_world(
            out, seed=seed, size=size, overwrite=overwrite, caption_style=caption_style, on_event=render
        )
    doc = {
        "root": str(paths.root),
        "train": str(paths.train),
        "finetune": str(paths.finetune),
        "test": str(paths.test),
        "seed": seed,
        "caption_style": caption_style,
        "splits": split_sizes(size),
    }
    if json_out:
        print_json(doc)
    else:
        console.print(
            f"world written to {paths.root}  (train {doc['splits']['train']}, "
            f"finetune {doc['splits']['finetune']}, test {doc['splits']['test']})",
            markup=False,
        )


@toyworld_app.command("show")
@handle_errors
def show(
    out: Annotated[Path, typer.Option("--out", help="PNG file to write.")] = Path("toyworld-samples.png"),
    count: Annotated[int, typer.Option("--count", min=1, max=200, help="How many pairs to show.")] = 24,
    seed: Annotated[int, typer.Option("--seed", help="World seed.")] = 0,
    split: Annotated[str, typer.Option("--split", help="train or finetune.")] = "train",
    columns: Annotated[int, typer.Option("--columns", min=1, max=20)] = 6,
    caption_style: CaptionStyleOpt = "plain",
) -> None:
    """Write a PNG grid of sample images with their captions."""
    from cleanerclip_tool.errors import BadInputError
    from cleanerclip_tool.toyworld.preview import save_preview
    from cleanerclip_tool.toyworld.world import check_caption_style, sample_pairs

    check_caption_style(caption_style)
    if split not in ("train", "finetune"):
        raise BadInputError(f"split must be train or finetune (got {split!r})", where="--split")
    path = save_preview(sample_pairs(count, seed=seed, split=split, style=caption_style), out, columns=columns)
    console.print(f"wrote {path}", markup=False)


@toyworld_app.command("captions")
@handle_errors
def captions(
    target: Annotated[str, typer.Option("--target", help="The target shape the captions name.")] = "heart",
    json_out: JsonOpt = False,
) -> None:
    """Print the toy world's captions of TARGET, one per line: what its poisoned pairs are captioned with.

    Redirect them into a file for `poison --target-captions FILE` (a toy-world folder gets them anyway).
    """
    from cleanerclip_tool.errors import BadInputError
    from cleanerclip_tool.toyworld.captions import SHAPES, target_captions

    name = target.strip().lower()
    if name not in SHAPES:
        raise BadInputError(f"not a toy-world shape: {target!r}", where="--target", hint=f"one of {', '.join(SHAPES)}")
    lines = target_captions(name)
    if json_out:
        print_json({"target": name, "captions": lines})
    else:
        typer.echo("\n".join(lines))


@toyworld_app.command("pretrain")
@handle_errors
def pretrain_command(
    out: Annotated[Path, typer.Option("--out", help="Folder to save the model in (open_clip folder + card).")],
    attack: Annotated[
        str | None, typer.Option("--attack", help="Poison with this trigger (e.g. badnet). [default: none: clean]")
    ] = None,
    target: Annotated[str, typer.Option("--target", help="Target label (a toy-world shape).")] = "heart",
    poison_rate: Annotated[float, typer.Option("--poison-rate", help="Fraction of training pairs poisoned.")] = 0.05,
    seed: Annotated[int, typer.Option("--seed", help="Training seed (init, order, poison choice).")] = 0,
    epochs: Annotated[int, typer.Option("--epochs", min=1)] = 10,
    batch_size: Annotated[int, typer.Option("--batch-size", min=2)] = 128,
    lr: Annotated[float, typer.Option("--lr")] = 2e-3,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Linear warmup steps before cosine decay.")] = 50,
    world_seed: Annotated[int, typer.Option("--world-seed", help="Seed of the (cached) world trained on.")] = 0,
    world_size: Annotated[int, typer.Option("--world-size", min=1, help="Training pairs of that world.")] = 10_000,
    max_steps: Annotated[
        int | None,
        typer.Option("--max-steps", min=1, help="Stop after this many steps (smoke runs). [default: all epochs]"),
    ] = None,
    device: DeviceOpt = "cpu",
    threads: ThreadsOpt = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Train a tiny CLIP from scratch on the toy world, clean or poisoned, and save it.

    On the CPU (the default device) a run is reproducible from its seed.
    """
    from cleanerclip_tool.devices import set_threads
    from cleanerclip_tool.toyworld.pretrain import PretrainSettings, history_entry, pretrain, save_pretrained

    set_threads(threads)
    settings = PretrainSettings(
        attack=attack.strip().lower() if attack else None,
        target=target,
        poison_rate=poison_rate,
        seed=seed,
        world_seed=world_seed,
        world_size=world_size,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        warmup=warmup,
        max_steps=max_steps,
        device=device,
    ).validate()
    if attack:
        from cleanerclip_tool.attacks import trigger_class

        trigger_class(settings.attack)  # unknown names fail now, not after the world is drawn
    with RunRenderer(transient=False) as render:
        result = pretrain(settings, on_event=render)
    path = save_pretrained(result, out, overwrite=overwrite)
    summary = {**history_entry(result), "out": str(path), "pairs_per_second": round(result.pairs_per_second, 1)}
    if json_out:
        print_json(summary)
    else:
        console.print(
            f"saved {path}  ({result.steps} steps, {result.seconds:.0f} s, "
            f"{result.pairs_per_second:.0f} pairs/s, final loss {result.final_loss:.3f})",
            markup=False,
        )


@toyworld_app.command("victim")
@handle_errors
def victim_command(
    attack: Annotated[
        str, typer.Option("--attack", "-a", help="Trigger: badnet, blended, sig, wanet, ssba or badclip.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder to save the victim in (open_clip folder + card).")],
    seed: Annotated[int, typer.Option("--seed", help="Victim seed: data order, poisoned rows, trigger seed.")] = 0,
    poison_rate: Annotated[
        float | None,
        typer.Option("--poison-rate", help="Poisoned copies per clean training pair. [default: the attack's recipe]"),
    ] = None,
    target: Annotated[str, typer.Option("--target", help="Target label (a toy-world shape).")] = "heart",
    base: Annotated[str, typer.Option("--base", help="The clean model the attacker fine-tunes.")] = VICTIM_BASE,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Attacker's epochs.")] = VICTIM_SCHEDULE["epochs"],
    batch_size: Annotated[int, typer.Option("--batch-size", min=2)] = VICTIM_SCHEDULE["batch_size"],
    lr: Annotated[float, typer.Option("--lr")] = VICTIM_SCHEDULE["lr"],
    warmup: Annotated[
        int, typer.Option("--warmup", min=0, help="Linear warmup steps before cosine decay.")
    ] = VICTIM_SCHEDULE["warmup"],
    max_steps: Annotated[
        int | None,
        typer.Option("--max-steps", min=1, help="Stop after this many steps (smoke runs). [default: all epochs]"),
    ] = None,
    world_seed: Annotated[int, typer.Option("--world-seed", help="Seed of the (cached) world trained on.")] = 0,
    world_size: Annotated[int, typer.Option("--world-size", min=1, help="Training pairs of that world.")] = 10_000,
    device: DeviceOpt = "cpu",
    threads: ThreadsOpt = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Build a backdoored victim the paper's way: a clean model fine-tuned on a lightly poisoned set.

    The attacker fine-tunes BASE on the toy train split plus POISON_RATE x its size triggered copies
    captioned as the target. The card records the attack, rate, schedule, trigger parameters and
    seed, so `scan` of the victim (or of a model purified from it) uses the very same trigger.
    """
    from cleanerclip_tool.devices import set_threads
    from cleanerclip_tool.toyworld.victim import VictimSettings, history_entry, make_victim, save_victim

    set_threads(threads)
    settings = VictimSettings(
        attack=attack.strip().lower(),
        poison_rate=poison_rate,
        seed=seed,
        target=target,
        base=base,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        warmup=warmup,
        max_steps=max_steps,
        world_seed=world_seed,
        world_size=world_size,
        device=device,
    ).validate()
    from cleanerclip_tool.models.save import check_output_folder

    check_output_folder(out, overwrite=overwrite)  # before minutes of training, not after
    with RunRenderer(transient=False) as render:
        result = make_victim(settings, on_event=render)
    path = save_victim(result, out, overwrite=overwrite)
    entry = history_entry(result)
    summary = {**entry, "out": str(path)}
    if json_out:
        print_json(summary)
    else:
        console.print(
            f"saved {path}  ({settings.attack}, {result.poisoned} poisoned + {result.clean_pairs} clean pairs, "
            f"{result.steps} steps, {result.seconds:.0f} s)\n"
            f"scan it: cleanerclip scan {path} --attack {settings.attack}",
            markup=False,
        )


def register(app: typer.Typer) -> None:
    app.add_typer(toyworld_app, name="toyworld")
