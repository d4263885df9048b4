"""``cleanerclip toyworld generate | show | pretrain``: the embedded synthetic world from the shell."""

from __future__ import annotations

from pathlib import Path

import typer

from cleanerclip_tool.cli.common import console, handle_errors, print_json
from cleanerclip_tool.cli.render import EventRenderer, RunRenderer

toyworld_app = typer.Typer(
    name="toyworld",
    help="The embedded toy world: generate its data, preview it, pretrain tiny (backdoored) CLIPs.",
    no_args_is_help=True,
)


@toyworld_app.command("generate")
@handle_errors
def generate(
    out: Path = typer.Option(..., "--out", help="Folder to write the world into (train/, finetune/, test/)."),
    seed: int = typer.Option(0, "--seed", help="World seed: same seed, same bytes."),
    size: int = typer.Option(
        10_000, "--size", min=1, help="Training pairs (finetune: a fifth; test: 4-100 per class)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty --out."),
    json_out: bool = typer.Option(False, "--json", help="Print the paths as JSON on stdout."),
) -> None:
    """Draw the toy world's train / finetune / test splits as ordinary data folders."""
    from cleanerclip_tool.toyworld.world import generate_world, split_sizes

    with EventRenderer(transient=False) as render:
        paths = generate_world(out, seed=seed, size=size, overwrite=overwrite, on_event=render)
    doc = {
        "root": str(paths.root),
        "train": str(paths.train),
        "finetune": str(paths.finetune),
        "test": str(paths.test),
        "seed": seed,
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
    out: Path = typer.Option(Path("toyworld-samples.png"), "--out", help="PNG file to write."),
    count: int = typer.Option(24, "--count", min=1, max=200, help="How many pairs to show."),
    seed: int = typer.Option(0, "--seed", help="World seed."),
    split: str = typer.Option("train", "--split", help="train or finetune."),
    columns: int = typer.Option(6, "--columns", min=1, max=20),
) -> None:
    """Write a PNG grid of sample images with their captions."""
    from cleanerclip_tool.errors import BadInputError
    from cleanerclip_tool.toyworld.preview import save_preview
    from cleanerclip_tool.toyworld.world import sample_pairs

    if split not in ("train", "finetune"):
        raise BadInputError(f"split must be train or finetune (got {split!r})", where="--split")
    path = save_preview(sample_pairs(count, seed=seed, split=split), out, columns=columns)
    console.print(f"wrote {path}", markup=False)


@toyworld_app.command("pretrain")
@handle_errors
def pretrain_command(
    out: Path = typer.Option(..., "--out", help="Folder to save the model in (open_clip folder + card)."),
    attack: str | None = typer.Option(None, "--attack", help="Poison with this trigger (e.g. badnet); clean if unset."),
    target: str = typer.Option("heart", "--target", help="Target label (a toy-world shape)."),
    poison_rate: float = typer.Option(0.05, "--poison-rate", help="Fraction of training pairs poisoned."),
    seed: int = typer.Option(0, "--seed", help="Training seed (init, order, poison choice)."),
    epochs: int = typer.Option(10, "--epochs", min=1),
    batch_size: int = typer.Option(128, "--batch-size", min=2),
    lr: float = typer.Option(2e-3, "--lr"),
    warmup: int = typer.Option(50, "--warmup", min=0, help="Linear warmup steps before cosine decay."),
    world_seed: int = typer.Option(0, "--world-seed", help="Seed of the (cached) world trained on."),
    world_size: int = typer.Option(10_000, "--world-size", min=1, help="Training pairs of that world."),
    max_steps: int | None = typer.Option(None, "--max-steps", min=1, help="Stop after this many steps (smoke runs)."),
    device: str = typer.Option("cpu", "--device", help="cpu (reproducible from the seed), cuda, cuda:N or auto."),
    threads: int | None = typer.Option(None, "--threads", help="torch CPU threads."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out."),
    json_out: bool = typer.Option(False, "--json", help="Print the run summary as JSON on stdout."),
) -> None:
    """Train a tiny CLIP from scratch on the toy world, clean or poisoned, and save it."""
    import torch

    from cleanerclip_tool.toyworld.pretrain import PretrainSettings, history_entry, pretrain, save_pretrained

    if threads:
        torch.set_num_threads(threads)
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


def register(app: typer.Typer) -> None:
    app.add_typer(toyworld_app, name="toyworld")
