"""Eval sets: an ImageFolder (one sub-folder per class) with class names and prompt templates.

Class names come from, in order: ``--classnames FILE`` or the folder's ``classnames.txt`` (lines
``folder<TAB>class name``, or one name per line in sorted-folder order), then ImageNet's wnid
folders (``n01440764``, ...) mapped to open_clip's ``IMAGENET_CLASSNAMES`` when the folder holds
all 1000 of them, else the folder name with ``_`` as a space. Templates come from the folder's
``templates.txt`` (one per line, ``{}`` = class name) unless the caller names open_clip's
``openai`` (80 prompts) or ``simple`` set.

CleanCLIP's and BadCLIP's eval layout loads too: a folder with ``labels.csv`` (columns ``image``, a
path relative to the folder, and ``label``, a class index) and ``classes.py``, a Python dict literal
with ``classes`` and ``templates`` (lambdas such as ``lambda s: f"a photo of a {s}."``). Their code
runs that file with ``eval``; here it is untrusted input: it is parsed (``ast``), never run, and
only string lists and single-f-string lambdas are accepted.
"""

from __future__ import annotations

import ast
import csv
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
    if (root / LABELS_CSV).is_file():
        return load_labels_csv(root, classnames_file=classnames_file)
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


LABELS_CSV = "labels.csv"
CLASSES_PY = "classes.py"


def load_labels_csv(root: Path, *, classnames_file: str | Path | None = None) -> EvalSet:
    """CleanCLIP's layout: ``labels.csv`` (image, label index) + class names and templates.

    Class names: ``--classnames FILE`` (one per line, line i = label i), else ``classnames.txt``,
    else ``classes.py``'s ``classes``. Templates: ``templates.txt``, else ``classes.py``'s.
    """
    sources: dict[str, str] = {"layout": f"{LABELS_CSV} (CleanCLIP)"}
    config = read_classes_py(root / CLASSES_PY) if (root / CLASSES_PY).is_file() else {}
    names_path = Path(classnames_file) if classnames_file else root / "classnames.txt"
    if classnames_file or names_path.is_file():
        try:
            classnames = [ln.strip() for ln in names_path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read class names: {exc}", where=names_path) from None
        sources["classnames"] = str(names_path)
    elif config.get("classes"):
        classnames = list(config["classes"])
        sources["classnames"] = str(root / CLASSES_PY)
    else:
        raise DataError(
            f"{LABELS_CSV} gives class indices but no class names were found",
            where=root,
            hint=f"add {CLASSES_PY} or classnames.txt (one name per line, line i = label i), or pass --classnames",
        )
    samples = _read_labels(root, len(classnames))
    templates = None
    if (root / "templates.txt").is_file():
        templates = read_templates(root / "templates.txt")
        sources["templates"] = str(root / "templates.txt")
    elif config.get("templates"):
        templates = list(config["templates"])
        sources["templates"] = str(root / CLASSES_PY)
    folders = [str(i) for i in range(len(classnames))]
    return EvalSet(root, folders, classnames, samples, templates, sources)


def _read_labels(root: Path, n_classes: int) -> list[tuple[Path, int]]:
    path = root / LABELS_CSV
    base = root.resolve()
    samples: list[tuple[Path, int]] = []
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in ("image", "label") if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(
                    f"no column {' or '.join(repr(c) for c in missing)} (header: {reader.fieldnames})",
                    where=f"{path}, row 1",
                )
            for row_number, row in enumerate(reader, start=2):
                where = f"{path}, row {row_number}"
                try:
                    label = int(str(row["label"]).strip())
                except ValueError:
                    raise DataError(
                        f"label {row['label']!r} is not a class index", where=f"{where}, column label"
                    ) from None
                if not 0 <= label < n_classes:
                    raise DataError(f"label {label} outside 0..{n_classes - 1}", where=f"{where}, column label")
                image = (root / str(row["image"]).strip()).resolve()
                if not image.is_relative_to(base):
                    raise DataError(
                        f"image {row['image']!r} is outside the eval folder",
                        where=f"{where}, column image",
                        hint="paths must be relative to the folder holding labels.csv",
                    )
                samples.append((image, label))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {LABELS_CSV}: {exc}", where=path) from None
    if not samples:
        raise DataError(f"no rows in {LABELS_CSV}", where=path)
    return samples


def read_classes_py(path: Path) -> dict[str, list[str]]:
    """``classes`` and ``templates`` from CleanCLIP's ``classes.py`` without running it.

    The file is a dict literal whose templates are lambdas; it is parsed with ``ast`` and a template
    is accepted only as ``lambda s: f"...{s}..."`` (turned into ``"...{}..."``). Anything else (a
    call, an attribute, an expression inside the f-string) is a ``DataError``, never executed.
    """
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path), mode="eval")
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError) as exc:
        raise DataError(f"cannot parse {CLASSES_PY}: {exc}", where=path) from None
    if not isinstance(tree.body, ast.Dict):
        raise DataError(f"{CLASSES_PY} must be a dict literal", where=path)
    out: dict[str, list[str]] = {}
    for key, value in zip(tree.body.keys, tree.body.values, strict=True):
        if not isinstance(key, ast.Constant) or key.value not in ("classes", "templates"):
            continue  # e.g. CleanCLIP's "superclasses"
        if not isinstance(value, ast.List):
            raise DataError(f"{key.value!r} must be a list", where=f"{path}, line {value.lineno}")
        if key.value == "classes":
            if not all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in value.elts):
                raise DataError("'classes' must be a list of strings", where=f"{path}, line {value.lineno}")
            out["classes"] = [e.value for e in value.elts]  # type: ignore[union-attr]
        else:
            out["templates"] = [_template_of(e, path) for e in value.elts]
    return out


def _template_of(node: ast.expr, path: Path) -> str:
    """``lambda s: f"a photo of a {s}."`` -> ``"a photo of a {}."``; anything else is refused."""
    where = f"{path}, line {getattr(node, 'lineno', '?')}"
    if not (isinstance(node, ast.Lambda) and len(node.args.args) == 1 and isinstance(node.body, ast.JoinedStr)):
        raise DataError("a template must be lambda s: f'...{s}...'", where=where)
    name = node.args.args[0].arg
    parts: list[str] = []
    for part in node.body.values:
        if isinstance(part, ast.Constant) and isinstance(part.value, str):
            parts.append(part.value)
        elif (
            isinstance(part, ast.FormattedValue)
            and isinstance(part.value, ast.Name)
            and part.value.id == name
            and part.format_spec is None
            and part.conversion == -1
        ):
            parts.append("{}")
        else:
            raise DataError("a template may only insert the class name ({s})", where=where)
    template = "".join(parts)
    if "{}" not in template:
        raise DataError("a template must insert the class name", where=where)
    return template
