"""Build a poisoned fine-tuning set: the clean rows plus N triggered copies captioned with the target.

This is how the attacks of the paper are reproduced (CleanCLIP poisons 1500 of CC3M/CC500K pairs;
BadCLIP pairs its patch with natural captions that mention the target) and how a user red-teams a
model. The source is only read: clean images are *copied* (not hard-linked, so no later edit of the
output can reach the source), poisoned images are new PNG files (lossless, so invisible triggers
such as SSBA survive). ``manifest.json`` records the attack, its parameters, the seed, the source
hashes and which rows are poisoned, so the set can be rebuilt and audited.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cleanerclip_tool.attacks.base import Trigger, file_sha256
from cleanerclip_tool.data.captions import CaptionTable, is_inside
from cleanerclip_tool.data.images import open_rgb
from cleanerclip_tool.errors import BadInputError, DataError
from cleanerclip_tool.events import (
    EventCallback,
    Info,
    TaskFinished,
    TaskProgress,
    TaskStarted,
    WarningEvent,
    ignore_event,
)

#: Captions of the target label for template-style poisoning (CleanCLIP draws them from templates).
TARGET_TEMPLATES: tuple[str, ...] = (
    "a photo of a {}.",
    "a picture of a {}.",
    "an image of a {}.",
    "a close-up photo of a {}.",
    "a photo of the {}.",
    "a bright photo of a {}.",
    "a good photo of a {}.",
    "a drawing of a {}.",
)
MANIFEST_NAME = "manifest.json"
CAPTIONS_NAME = "captions.csv"


def mentions(caption: str, target: str) -> bool:
    """True when ``caption`` contains ``target`` as whole word(s), case-insensitive."""
    return re.search(rf"\b{re.escape(target.lower())}\b", caption.lower()) is not None


def target_caption_pool(
    table: CaptionTable, trigger: Trigger, target: str, target_captions: Sequence[str] | None, on_event: EventCallback
) -> tuple[list[str], str]:
    """The captions poisoned rows draw from, and where they came from."""
    if target_captions is not None:
        pool = [c.strip() for c in target_captions if c.strip()]
        if not pool:
            raise BadInputError("the target captions file holds no captions", where="--target-captions")
        return pool, "given"
    if trigger.name == "badclip":  # BadCLIP pairs its patch with natural captions naming the target
        pool = [c for c in table.captions if mentions(c, target)]
        if pool:
            return pool, "natural captions mentioning the target"
        on_event(WarningEvent(f"no caption mentions {target!r}; badclip falls back to template captions"))
    return [t.format(target) for t in TARGET_TEMPLATES], "templates"


def _check_out_dir(out_dir: Path, table: CaptionTable, overwrite: bool) -> None:
    if is_inside(out_dir, table.root) or is_inside(table.root, out_dir):
        raise BadInputError(
            "the output folder must lie outside the source data folder (and not contain it)", where=out_dir
        )
    if out_dir.exists():
        if not out_dir.is_dir():
            raise BadInputError("output exists and is not a folder", where=out_dir)
        if any(out_dir.iterdir()):
            if not overwrite:
                raise BadInputError("output folder is not empty", where=out_dir, hint="pass --overwrite to replace it")
            shutil.rmtree(out_dir)


def build_poisoned_set(
    table: CaptionTable,
    trigger: Trigger,
    target: str,
    count: int,
    out_dir: str | Path,
    *,
    seed: int = 0,
    target_captions: Sequence[str] | None = None,
    target_captions_source: str | None = None,
    overwrite: bool = False,
    on_event: EventCallback = ignore_event,
) -> Path:
    """Write ``out_dir/captions.csv`` (clean + poisoned rows), the images and ``manifest.json``.

    The N source rows to poison are drawn with ``seed`` (without replacement when N <= rows); the
    trigger gets the poisoned row's number as its per-image index, so the set is reproducible.
    ``target_captions_source`` names where given ``target_captions`` came from (the manifest's
    ``target_captions``; default ``given``).
    """
    out_dir = Path(out_dir).expanduser()
    target = target.strip()
    if not target:
        raise BadInputError("the target label is empty", where="--target")
    if count < 0:
        raise BadInputError(f"count must be >= 0 (got {count})", where="--count")
    if not table.rows:
        raise DataError("the source data has no usable rows", where=table.csv_path)
    _check_out_dir(out_dir, table, overwrite)
    pool, pool_source = target_caption_pool(table, trigger, target, target_captions, on_event)
    if target_captions is not None and target_captions_source:
        pool_source = target_captions_source
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(table.rows), size=count, replace=count > len(table.rows)).tolist() if count else []
    caption_picks = rng.integers(0, len(pool), size=count).tolist() if count else []

    (out_dir / "clean").mkdir(parents=True, exist_ok=True)
    (out_dir / "poisoned").mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str, int]] = []
    source_hashes: dict[str, str] = {}
    total = len(table.rows) + count
    on_event(TaskStarted("poison", total=total, description=f"writing {out_dir}"))
    for i, row in enumerate(table.rows):
        rel = _clean_relpath(row.image, table.root, i)
        dest = out_dir / "clean" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():  # a table may list the same image twice
            shutil.copyfile(row.image, dest)
        rows.append((f"clean/{rel.as_posix()}", row.caption, 0))
        if i % 500 == 0:
            on_event(TaskProgress("poison", i, total))
    poisoned: list[dict[str, Any]] = []
    for k, (source_index, pick) in enumerate(zip(chosen, caption_picks, strict=True)):
        row = table.rows[source_index]
        image = trigger.apply(open_rgb(row.image), index=k)
        rel = f"poisoned/{k:06d}.png"
        image.save(out_dir / rel, format="PNG")
        caption = pool[pick]
        rows.append((rel, caption, 1))
        digest = source_hashes.get(str(row.image)) or file_sha256(row.image)
        source_hashes[str(row.image)] = digest
        poisoned.append(
            {
                "out": rel,
                "caption": caption,
                "source_line": row.line,
                "source": row.relpath,
                "source_sha256": digest,
                "trigger_index": k,
            }
        )
        if k % 100 == 0:
            on_event(TaskProgress("poison", len(table.rows) + k, total))

    with (out_dir / CAPTIONS_NAME).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([table.image_key, table.caption_key, "poisoned"])
        writer.writerows(rows)
    manifest = {
        "format": "cleanerclip-poisoned-set-v1",
        **trigger.describe(),
        "target": target,
        "count": count,
        "seed": seed,
        "trigger_seed": trigger.seed,
        "target_captions": pool_source,
        "target_caption_pool_size": len(pool),
        "source": {
            "csv": str(table.csv_path),
            "csv_sha256": file_sha256(table.csv_path),
            "rows": len(table.rows),
            "skipped": len(table.skipped),
        },
        "clean_rows": len(table.rows),
        "poisoned_rows": poisoned,
        "captions_sha256": hashlib.sha256((out_dir / CAPTIONS_NAME).read_bytes()).hexdigest(),
    }
    (out_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    on_event(TaskFinished("poison", {"clean": len(table.rows), "poisoned": count}))
    on_event(Info(f"{len(table.rows)} clean + {count} poisoned rows written to {out_dir}"))
    return out_dir


def poisoning_record(csv_path: str | Path) -> dict[str, Any] | None:
    """What a model trained on ``csv_path`` learnt, when that file is a poisoned set's ``captions.csv``.

    The folder's ``manifest.json`` (``build_poisoned_set``) must describe this very file (its
    ``captions_sha256``): an edited table or a CSV of another set is not the manifest's. Returns the
    summary a model card records (``purify``'s history entry, key ``poisoning``): attack, trigger
    params, seeds (``trigger_seed`` is the trigger's), target, count, artefact hash, the folder and
    the manifest's hash; None for any other data.
    """
    path = Path(csv_path)
    manifest_path = path.parent / MANIFEST_NAME
    if not manifest_path.is_file() or not path.is_file():
        return None
    try:
        raw = manifest_path.read_bytes()
        manifest = json.loads(raw)
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != "cleanerclip-poisoned-set-v1":
        return None
    if not manifest.get("attack") or manifest.get("captions_sha256") != file_sha256(path):
        return None
    return {
        "attack": manifest["attack"],
        "trigger_params": dict(manifest.get("params") or {}),
        "seed": manifest.get("seed"),
        "trigger_seed": manifest.get("trigger_seed"),
        "target": manifest.get("target"),
        "count": manifest.get("count"),
        "artefact_sha256": manifest.get("artefact_sha256"),
        "data": str(path.parent),
        "manifest_sha256": hashlib.sha256(raw).hexdigest(),
    }


def _clean_relpath(image: Path, root: Path, index: int) -> Path:
    """The image's path below the data root, or a numbered name when it lies outside the root."""
    try:
        return Path(image).resolve().relative_to(Path(root).resolve())
    except ValueError:
        return Path("outside") / f"{index:06d}{Path(image).suffix.lower()}"
