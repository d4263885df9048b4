"""Eval sets: an ImageFolder (one sub-folder per class) with class names and prompt templates.

Class names come from, in order: ``--classnames FILE`` or the folder's ``classnames.txt`` (lines
``folder<TAB>class name``, or one name per line in sorted-folder order), then ImageNet's wnid
folders (``n01440764``, ...) mapped to open_clip's ``IMAGENET_CLASSNAMES`` when the folder holds
all 1000 of them, else the folder name with ``_`` as a space. Templates come from the folder's
``templates.txt`` (one per line, ``{}`` = class name) unless the caller names open_clip's
``openai`` (80 prompts) or ``simple`` set.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cleanerclip_tool.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
WNID = re.compile(r"^n\d{8}$")


@dataclass
class EvalSet:
    root: Path
    folders: list[str]
    classnames: list[str]
    samples: list[tuple[Path, int]]
    templates: list[str] | None = None  # from templates.txt; None = use a named set
    sources: dict[str, str] = field(default_factory=dict)  # where class names / templates came from

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def labels(self) -> list[int]:
        return [label for _, label in self.samples]

    def class_index(self, name: str) -> int:
        """Index of a class by name or folder name (case-insensitive); ``DataError`` lists close ones."""
        wanted = name.strip().lower()
        for i, (folder, cname) in enumerate(zip(self.folders, self.classnames, strict=True)):
            if wanted in (cname.lower(), folder.lower()):
                return i
        shown = ", ".join(self.classnames[:20]) + (" ..." if len(self.classnames) > 20 else "")
        raise DataError(f"target {name!r} is not a class of the eval set", where="--target", hint=f"classes: {shown}")


def load_eval_set(root: str | Path, *, classnames_file: str | Path | None = None) -> EvalSet:
    """Read an ImageFolder; a missing or empty folder, or unreadable name files, are ``DataError``."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError("eval data must be a folder with one sub-folder per class", where=root)
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DataError("no class sub-folders", where=root, hint="ImageFolder layout: DIR/<class>/<image>")
    samples: list[tuple[Path, int]] = []
    for label, folder in enumerate(folders):
        for path in sorted((root / folder).iterdir()):
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                samples.append((path, label))
    if not samples:
        raise DataError("no images in the class folders", where=root)
    sources: dict[str, str] = {}
    names_path = Path(classnames_file) if classnames_file else root / "classnames.txt"
    if classnames_file or names_path.is_file():
        classnames = read_classnames(names_path, folders)
        sources["classnames"] = str(names_path)
    elif len(folders) == 1000 and all(WNID.match(f) for f in folders):
        from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

        classnames = list(IMAGENET_CLASSNAMES)
        sources["classnames"] = "open_clip IMAGENET_CLASSNAMES (wnid folders)"
    else:
        if any(WNID.match(f) for f in folders):
            raise DataError(
                "ImageNet wnid folders map to class names only for the full 1000-class set",
                where=root,
                hint="pass --classnames FILE with lines 'wnid<TAB>class name'",
            )
        classnames = [f.replace("_", " ") for f in folders]
        sources["classnames"] = "folder names"
    templates = None
    templates_path = root / "templates.txt"
    if templates_path.is_file():
        templates = read_templates(templates_path)
        sources["templates"] = str(templates_path)
    return EvalSet(root, folders, classnames, samples, templates, sources)


def read_classnames(path: Path, folders: Sequence[str]) -> list[str]:
    """``folder<TAB>name`` lines (any order, every folder named) or one name per sorted folder."""
    try:
        lines = [ln.rstrip("\n\r") for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read class names: {exc}", where=path) from None
    if lines and all("\t" in ln for ln in lines):
        mapping = {}
        for ln in lines:
            folder, name = ln.split("\t", 1)
            mapping[folder.strip()] = name.strip()
        missing = [f for f in folders if f not in mapping]
        if missing:
            raise DataError(f"no class name for folder(s) {', '.join(missing[:5])}", where=path)
        return [mapping[f] for f in folders]
    if len(lines) != len(folders):
        raise DataError(
            f"{len(lines)} class names for {len(folders)} folders",
            where=path,
            hint="one name per line in sorted folder order, or 'folder<TAB>name' lines",
        )
    return [ln.strip() for ln in lines]


def read_templates(path: Path) -> list[str]:
    try:
        templates = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read templates: {exc}", where=path) from None
    bad = [t for t in templates if "{}" not in t]
    if not templates or bad:
        raise DataError("every template needs a '{}' for the class name", where=path)
    return templates


def named_templates(name: str) -> list[Callable[[str], str]]:
    """open_clip's ``openai`` (80 ImageNet prompts) or ``simple`` template set."""
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES, SIMPLE_IMAGENET_TEMPLATES

    sets = {"openai": OPENAI_IMAGENET_TEMPLATES, "simple": SIMPLE_IMAGENET_TEMPLATES}
    if name not in sets:
        raise DataError(f"unknown template set {name!r}", where="--templates", hint="use openai or simple")
    return list(sets[name])
