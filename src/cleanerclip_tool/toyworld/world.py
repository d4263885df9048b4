"""Generating the toy world: seeded train / finetune / test splits written as ordinary data folders.

Why a generated world: tests and demos need image–caption data and a backdoored CLIP without a
GPU, a network or a natural image set. The world is drawn procedurally (``draw.py``) from scenes
described by a fixed grammar (``captions.py``), so captions carry adjectives, relations and nouns.

Determinism: image ``i`` of split ``k`` is drawn from ``np.random.default_rng([seed, k, i])`` alone,
so the same seed gives the same bytes whatever the split sizes, and the splits never share a stream.

Layout written (every command reads it like user data)::

    DIR/world.json                    what was generated (version, seed, sizes, vocabulary)
    DIR/train/captions.csv + images   pretraining pairs (filepath,title)
    DIR/finetune/captions.csv + ...   clean pairs for purification (disjoint stream)
    DIR/test/<shape>/*.png            zero-shot ImageFolder, one shape per image
    DIR/test/templates.txt            prompt ensemble ("a small red {}")
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from cleanerclip_tool.errors import BadInputError
from cleanerclip_tool.events import EventCallback, TaskFinished, TaskProgress, TaskStarted, ignore_event
from cleanerclip_tool.toyworld.captions import (
    CAPTION_STYLES,
    COLOUR_WORDS,
    CONTAINERS,
    RELATIONS,
    SAY_COLOUR_PROBABILITY,
    SAY_SIZE_PROBABILITY,
    SHAPES,
    SIZE_WORDS,
    TARGET_LABEL,
    Scene,
    ShapeSpec,
    caption_for,
    clutter,
    zero_shot_templates,
)
from cleanerclip_tool.toyworld.draw import IMAGE_SIZE, INNER_DIAMETER, SIZES, Placement, render

# Bump when a change to drawing or captions changes the bytes: the cache key includes it.
WORLD_VERSION = "3"
DEFAULT_SEED = 0
DEFAULT_SIZE = 10_000  # training pairs: pretraining 10 epochs on them takes minutes on 1-2 shared CPU cores
SINGLE_SHAPE_FRACTION = 0.4
SPLIT_STREAMS = {"train": 0, "finetune": 1, "test": 2}
CLUTTER_STREAM = 7  # the caption style's own random stream: a style never changes an image
PROGRESS_EVERY = 500


@dataclass(frozen=True)
class WorldPaths:
    """Where a generated world lives; ``train``/``finetune`` are caption CSVs, ``test`` an ImageFolder."""

    root: Path
    train: Path
    finetune: Path
    test: Path

    @classmethod
    def at(cls, root: str | Path) -> WorldPaths:
        root = Path(root)
        return cls(root, root / "train" / "captions.csv", root / "finetune" / "captions.csv", root / "test")


def split_sizes(size: int) -> dict[str, int]:
    """Pairs per split for ``size`` training pairs: finetune = size/5, test = per-class count x 10.

    A fifth mirrors the prototype's 20k pretraining / 4k fine-tuning; the test split has between 4
    and 100 images per class (50 in the default world: 500 images, BA to about +-2%) so tiny worlds
    (tests) stay tiny.
    """
    per_class = min(100, max(4, size // 200))
    return {"train": size, "finetune": max(1, size // 5), "test": per_class * len(SHAPES)}


def _spec(rng: np.random.Generator, shape: str | None = None, size: str | None = None) -> ShapeSpec:
    return ShapeSpec(
        shape=shape if shape is not None else SHAPES[rng.integers(len(SHAPES))],
        colour=COLOUR_WORDS[rng.integers(len(COLOUR_WORDS))],
        size=size if size is not None else SIZE_WORDS[rng.integers(len(SIZE_WORDS))],
        say_colour=bool(rng.random() < SAY_COLOUR_PROBABILITY),
        say_size=bool(rng.random() < SAY_SIZE_PROBABILITY),
    )


def sample_scene(rng: np.random.Generator) -> Scene:
    """A random scene: 40% one shape, else two shapes in one of the four relations."""
    if rng.random() < SINGLE_SHAPE_FRACTION:
        return Scene(_spec(rng))
    relation = RELATIONS[rng.integers(len(RELATIONS))]
    if relation == "inside":
        outer = _spec(rng, shape=CONTAINERS[rng.integers(len(CONTAINERS))], size="big")
        inner = _spec(rng, size="small")
        while inner.colour == outer.colour:  # same colour would make the inner shape invisible
            inner = _spec(rng, shape=inner.shape, size="small")
        return Scene(inner, relation, outer)
    first, second = _spec(rng), _spec(rng)
    return Scene(first, relation, second)


def _place_in(rng: np.random.Generator, spec: ShapeSpec, x0: float, x1: float, y0: float, y1: float) -> Placement:
    """Place a shape with its whole extent inside the box [x0, x1) x [y0, y1)."""
    d = SIZES[spec.size]
    r = d / 2
    cx = rng.uniform(x0 + r, max(x0 + r, x1 - r))
    cy = rng.uniform(y0 + r, max(y0 + r, y1 - r))
    return Placement(spec.shape, spec.colour, cx, cy, d)


def layout(scene: Scene, rng: np.random.Generator) -> list[Placement]:
    """Where the scene's shapes go so that the caption's relation is true in the picture."""
    full, half = float(IMAGE_SIZE), IMAGE_SIZE / 2
    if scene.object is None:
        return [_place_in(rng, scene.subject, 0, full, 0, full)]
    subject, obj = scene.subject, scene.object
    if scene.relation == "above":
        return [_place_in(rng, subject, 0, full, 0, half), _place_in(rng, obj, 0, full, half, full)]
    if scene.relation == "below":
        return [_place_in(rng, subject, 0, full, half, full), _place_in(rng, obj, 0, full, 0, half)]
    if scene.relation == "beside":
        left_first = rng.random() < 0.5
        a = _place_in(rng, subject, 0 if left_first else half, half if left_first else full, 0, full)
        b = _place_in(rng, obj, half if left_first else 0, full if left_first else half, 0, full)
        return [a, b]
    if scene.relation == "inside":
        outer = _place_in(rng, obj, 0, full, 0, full)
        # The heart's and ring's interiors sit slightly off their bounding-box centre.
        dy = 0.08 * outer.diameter if obj.shape == "heart" else 0.0
        inner = Placement(subject.shape, subject.colour, outer.cx, outer.cy - dy, INNER_DIAMETER)
        return [outer, inner]
    raise ValueError(f"unknown relation {scene.relation!r}")


def check_caption_style(style: str, where: str = "--caption-style") -> str:
    if style not in CAPTION_STYLES:
        raise BadInputError(f"unknown caption style {style!r}", where=where, hint=f"one of {', '.join(CAPTION_STYLES)}")
    return style


def styled_caption(caption: str, *, seed: int, split: str, index: int, style: str = "plain") -> str:
    """Pair ``index``'s caption in ``style`` ("plain": as it is), from the style's own random stream."""
    if check_caption_style(style, where="caption_style") == "plain":
        return caption
    return clutter(caption, np.random.default_rng([seed, CLUTTER_STREAM, SPLIT_STREAMS[split], index]))


def draw_pair(seed: int, split: str, index: int, style: str = "plain") -> tuple[Image.Image, str, Scene]:
    """Image ``index`` of ``split`` for ``seed``: (RGB image, caption, scene). Pure function of its arguments.

    ``style`` changes the caption's words only, never the image or the scene.
    """
    rng = np.random.default_rng([seed, SPLIT_STREAMS[split], index])
    scene = sample_scene(rng)
    caption = styled_caption(caption_for(scene), seed=seed, split=split, index=index, style=style)
    return render(layout(scene, rng), rng), caption, scene


def draw_test_image(seed: int, index: int) -> tuple[Image.Image, str, Scene]:
    """Test image ``index``: a single shape of class ``SHAPES[index % 10]`` (balanced classes)."""
    rng = np.random.default_rng([seed, SPLIT_STREAMS["test"], index])
    scene = Scene(_spec(rng, shape=SHAPES[index % len(SHAPES)]))
    return render(layout(scene, rng), rng), caption_for(scene), scene


def _write_pairs(folder: Path, seed: int, split: str, count: int, on_event: EventCallback, style: str) -> None:
    (folder / "images").mkdir(parents=True)
    task = f"toyworld {split}"
    on_event(TaskStarted(task, total=count, description=f"drawing {count} {split} pairs"))
    with (folder / "captions.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["filepath", "title"])
        for i in range(count):
            image, caption, _ = draw_pair(seed, split, i, style)
            rel = f"images/{i:06d}.png"
            image.save(folder / rel, format="PNG")
            writer.writerow([rel, caption])
            if (i + 1) % PROGRESS_EVERY == 0 or i + 1 == count:
                on_event(TaskProgress(task, completed=i + 1, total=count))
    on_event(TaskFinished(task, metrics={"pairs": count}))


def _write_test(folder: Path, seed: int, count: int, on_event: EventCallback) -> None:
    for shape in SHAPES:
        (folder / shape).mkdir(parents=True)
    task = "toyworld test"
    on_event(TaskStarted(task, total=count, description=f"drawing {count} test images"))
    for i in range(count):
        image, _, scene = draw_test_image(seed, i)
        image.save(folder / scene.subject.shape / f"{i:06d}.png", format="PNG")
        if (i + 1) % PROGRESS_EVERY == 0 or i + 1 == count:
            on_event(TaskProgress(task, completed=i + 1, total=count))
    (folder / "templates.txt").write_text("\n".join(zero_shot_templates()) + "\n", encoding="utf-8")
    on_event(TaskFinished(task, metrics={"images": count}))


def _manifest(seed: int, size: int, style: str) -> dict:
    return {
        "caption_style": style,
        "world_version": WORLD_VERSION,
        "seed": seed,
        "size": size,
        "splits": split_sizes(size),
        "image_size": IMAGE_SIZE,
        "shapes": list(SHAPES),
        "colours": list(COLOUR_WORDS),
        "sizes": list(SIZE_WORDS),
        "relations": list(RELATIONS),
        "say_size_probability": SAY_SIZE_PROBABILITY,
        "say_colour_probability": SAY_COLOUR_PROBABILITY,
        "target_label": TARGET_LABEL,
    }


def _build_into(tmp: Path, seed: int, size: int, on_event: EventCallback, style: str = "plain") -> None:
    sizes = split_sizes(size)
    _write_pairs(tmp / "train", seed, "train", sizes["train"], on_event, style)
    _write_pairs(tmp / "finetune", seed, "finetune", sizes["finetune"], on_event, style)
    _write_test(tmp / "test", seed, sizes["test"], on_event)
    # Written last: its presence marks a complete world.
    (tmp / "world.json").write_text(json.dumps(_manifest(seed, size, style), indent=2) + "\n", encoding="utf-8")


def generate_world(
    out: str | Path,
    *,
    seed: int = DEFAULT_SEED,
    size: int | None = None,
    overwrite: bool = False,
    caption_style: str = "plain",
    on_event: EventCallback = ignore_event,
) -> WorldPaths:
    """Draw the world for ``seed`` with ``size`` training pairs into ``out``, captions in ``caption_style``.

    The world is built in a temporary sibling folder and renamed into place, so a reader (or a
    concurrent test generating the same cached world) never sees half a world.
    """
    size = DEFAULT_SIZE if size is None else int(size)
    if size < 1:
        raise BadInputError(f"size must be >= 1 (got {size})", where="toyworld")
    check_caption_style(caption_style)
    out = Path(out).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise BadInputError("output exists and is not empty", where=out, hint="use --overwrite or another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        _build_into(tmp, seed, size, on_event, caption_style)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return WorldPaths.at(out)


def world_cache_path(seed: int = DEFAULT_SEED, size: int = DEFAULT_SIZE) -> Path:
    """The cache folder of a world: ``cache_dir()/toyworld/<version>-<seed>-<size>``."""
    from cleanerclip_tool.resources import cache_dir

    return cache_dir() / "toyworld" / f"{WORLD_VERSION}-{seed}-{size}"


def cached_world(
    *, seed: int = DEFAULT_SEED, size: int = DEFAULT_SIZE, on_event: EventCallback = ignore_event
) -> WorldPaths:
    """The world for (seed, size), generated once into the cache and reused after."""
    root = world_cache_path(seed, size)
    if (root / "world.json").is_file():
        return WorldPaths.at(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        _build_into(tmp, seed, size, on_event)
        try:
            os.replace(tmp, root)  # atomic; fails if a concurrent process got there first
        except OSError:
            if not (root / "world.json").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return WorldPaths.at(root)


def default_world(on_event: EventCallback = ignore_event) -> WorldPaths:
    """The default world (seed 0, 10k training pairs), cached under ``cache_dir()/toyworld``."""
    return cached_world(seed=DEFAULT_SEED, size=DEFAULT_SIZE, on_event=on_event)


def world_of(data: str | Path) -> Path | None:
    """The toy world a data folder (or caption CSV) belongs to: the folder whose ``world.json``
    (written last by ``generate_world``, so it marks a whole world) sits at or above the data, one
    level at most (``WORLD/train``, ``WORLD/train/captions.csv``, ``WORLD``); None otherwise.

    ``world.json`` is the robust signal: 32x32 images alone could be anyone's thumbnails.
    """
    path = Path(data).expanduser()
    folder = path if path.is_dir() else path.parent
    for candidate in (folder, folder.parent):
        manifest = candidate / "world.json"
        if not manifest.is_file():
            continue
        try:
            record = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and "world_version" in record and "shapes" in record:
            return candidate
    return None


def sample_pairs(
    count: int, *, seed: int = DEFAULT_SEED, split: str = "train", style: str = "plain"
) -> list[tuple[Image.Image, str]]:
    """``count`` (image, caption) pairs drawn in memory, for previews; same as the files ``generate`` writes."""
    return [draw_pair(seed, split, i, style)[:2] for i in range(count)]


def styled_captions(world: WorldPaths, style: str = "plain", split: str = "finetune") -> Path:
    """The caption CSV of a world's ``train`` or ``finetune`` split with its captions in ``style``.

    A style the world was generated with is its own ``captions.csv``. Otherwise (a plain world, the
    cached default one included) the restyled captions go to ``captions-<style>.csv`` beside it, once:
    the same rows and image paths, each caption the very one ``generate --caption-style`` would write
    for that pair (its index is the image's file name). Written to a temporary file and renamed, so
    parallel runs that want the same file never read half of it.
    """
    source = {"train": world.train, "finetune": world.finetune}[split]
    manifest = json.loads((world.root / "world.json").read_text(encoding="utf-8"))
    have = manifest.get("caption_style", "plain")
    if check_caption_style(style) == have:
        return source
    if have != "plain":
        raise BadInputError(
            f"this world's captions are {have}; only a plain world's captions can be restyled",
            where=world.root,
            hint=f"generate the world with --caption-style {style}",
        )
    out = source.with_name(f"captions-{style}.csv")
    if out.is_file():
        return out
    with source.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    seed = int(manifest["seed"])
    styled = [rows[0]]
    for line, (rel, caption) in enumerate(rows[1:], start=2):
        try:
            index = int(Path(rel).stem)
        except ValueError:
            where = f"{source}, row {line}, column 1"
            raise BadInputError(f"not a toy-world image name: {rel!r}", where=where) from None
        styled.append([rel, styled_caption(caption, seed=seed, split=split, index=index, style=style)])
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh, lineterminator="\n").writerows(styled)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
