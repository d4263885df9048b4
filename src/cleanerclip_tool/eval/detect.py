"""Trigger inversion: does ANY small trigger pull clean images to one class?

``scan`` answers "does this known trigger work?"; ``detect`` searches for a trigger the user does
not know. For each zero-shot class ``c`` it optimises a mask ``m`` (1 x S x S, in [0, 1]) and a
pattern ``p`` (3 x S x S, in [0, 1]) so that the stamped images ``(1 - m) * x + m * p`` of clean
images are classified as ``c``, while an L1 penalty on ``m`` keeps the mask small (Neural Cleanse's
objective with CLIP's zero-shot head, as CLIP-Inspector does; no labels are needed, the images may
be out of distribution). The penalty's weight adapts per class (raised while the trigger reaches
the goal rate on the batch, lowered when it does not), and each class keeps the smallest mask that
reached the goal. A backdoor is a shortcut to its target: the target's mask is much smaller than
every other class's. The score is the anomaly index of the smallest mask, ``(median - min) /
(1.4826 * MAD)`` over the classes' L1 norms; with a reference model (the same architecture, known
clean) it is instead the ratio of the suspect's L1 norm to the reference's for the same class.

All classes are optimised together: one step stamps a batch of images with every class's trigger
and runs one forward / backward, so a 10-class toy model costs one batch of 10 x B images a step.
Half of the images (seeded) fit the triggers; the other half only measures the inverted trigger's
attack success rate (ASR), so a reported ASR is never measured on the images it was fitted on.

Without a reference the default is ``collapse`` mode (DECREE's label-free objective): ONE mask and
pattern, optimised so that the stamped images' image embeddings collapse together (mean mutual
cosine ``collapse_goal``), with the same adaptive L1 penalty; no class enters the search. The score
is the smallest such mask's L1 fraction of the image: a backdoored encoder has a ready-made collapse
point, a clean one must draw a natural shortcut (on the toy world a ring, ~30 of 1024 pixels). The
zero-shot head only names the class the stamped held-out images land in (the suspected target).

The library never prints: it emits ``events`` and honours ``stop`` (a ``threading.Event``) between
steps, returning what it has with ``stopped=True``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cleanerclip_tool.data.images import open_rgb
from cleanerclip_tool.errors import BadInputError, DataError
from cleanerclip_tool.eval.evalset import IMAGE_SUFFIXES, EvalSet, named_templates, read_templates
from cleanerclip_tool.eval.zeroshot import build_classifier
from cleanerclip_tool.events import EventCallback, Info, TaskFinished, TaskProgress, TaskStarted, ignore_event

# Both thresholds follow the rule written in benchmarks/bench_detect.py, applied to the toy models of
# seeds 0-2 (toy:clean, two clean pretrains, the shipped seed-0 victims) before other seeds were run.
# Anomaly index above which the smallest mask is called a backdoor: Neural Cleanse's 2 (the clean
# models scored 1.17-1.74).
ANOMALY_THRESHOLD = 2.0
# With a reference: a class's L1(model) / L1(reference) below this (clean models against toy:clean:
# 0.25 and 0.30; the seed-0 victims 0.02-0.10).
REFERENCE_RATIO_THRESHOLD = 0.2
# Collapse mode (no reference): the mask's L1 fraction of the image below this. The rule in
# benchmarks/bench_detect.py (largest multiple of 0.0025 <= 0.8 x the smallest clean fraction) on the
# seed 0-2 clean toy models (0.0303, 0.0376, 0.0276; the BadNet victims 0.006-0.015). It is a property
# of the toy architecture at 32 x 32, not a universal constant: for other models pass --threshold or
# use --reference.
COLLAPSE_THRESHOLD = 0.02
MAD_SCALE = 1.4826  # makes the MAD a consistent estimate of a normal distribution's sigma


MODES = ("auto", "classes", "collapse")
# mode -> (steps, batch size) when the config leaves them None
MODE_DEFAULTS = {"classes": (200, 16), "collapse": (300, 32)}


@dataclass
class DetectConfig:
    """How hard to search; the defaults take ~10-40 s per 10-class toy model on one CPU thread.

    ``mode``: ``classes`` inverts one trigger per zero-shot class (scored by the anomaly index, or by
    the ratio to a reference); ``collapse`` inverts one label-free trigger that makes the image
    embeddings collapse (DECREE); ``auto`` is ``classes`` with a reference and ``collapse`` without.
    """

    mode: str = "auto"
    steps: int | None = None  # None: 200 (classes) or 300 (collapse)
    batch_size: int | None = None  # clean images per step (None: 16 for classes, 32 for collapse)
    lr: float = 0.1
    asr_goal: float = 0.9  # classes: a trigger counts once this share of a batch lands in its class
    collapse_goal: float = 0.99  # collapse: a trigger counts once its stamped images' mean mutual cosine is this
    restarts: int = 4  # collapse: triggers optimised side by side from different starts
    init_cost: float = 1.0  # L1 weight on the mask's mean (a 5 x 5 patch on 32 x 32 is 0.024)
    cost_step: float = 1.5  # the weight's multiplicative adjustment
    patience: int = 5  # steps at / below the goal before the weight moves
    max_images: int = 1000  # images read from the eval data (seeded subset)
    holdout: float = 0.5  # share of them kept to measure the inverted trigger's ASR
    class_chunk: int = 16  # classes optimised in one forward (memory bound on large class sets)
    mask_cell: int = 1  # the mask is optimised on cells of this many pixels a side (1 = per pixel)
    seed: int = 0
    threshold: float | None = None  # None: the mode's calibrated threshold (see ``rule`` in the report)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise BadInputError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}", where="--mode")
        if any(v is not None and v < 1 for v in (self.steps, self.batch_size)) or self.restarts < 1:
            raise BadInputError("steps, batch size and restarts must be >= 1", where="detect")
        if self.max_images < 2 or self.class_chunk < 1:
            raise BadInputError("images must be >= 2 and class chunk >= 1", where="detect")
        if not 0.0 < self.holdout < 1.0:
            raise BadInputError(f"holdout must be in (0, 1), got {self.holdout}", where="--holdout")
        if not 0.0 < self.asr_goal <= 1.0:
            raise BadInputError(f"ASR goal must be in (0, 1], got {self.asr_goal}", where="--asr-goal")
        if not 0.0 < self.collapse_goal < 1.0:
            raise BadInputError(f"collapse goal must be in (0, 1), got {self.collapse_goal}", where="--collapse-goal")

    def resolved(self, *, reference: bool) -> DetectConfig:
        """A copy with ``mode``, ``steps`` and ``batch_size`` filled in for a run with / without a reference."""
        mode = self.mode if self.mode != "auto" else ("classes" if reference else "collapse")
        if mode == "collapse" and reference:
            raise BadInputError(
                "the collapse score needs no reference; a reference scores the per-class triggers",
                where="--mode",
                hint="drop --reference, or use --mode classes (or auto) with it",
            )
        steps, batch = MODE_DEFAULTS[mode]
        return replace(
            self,
            mode=mode,
            steps=self.steps if self.steps is not None else steps,
            batch_size=self.batch_size if self.batch_size is not None else batch,
        )


@dataclass
class DetectImages:
    """Images for inversion as uint8 ``[N, 3, S, S]`` pixels, with labels where the data has them."""

    pixels: torch.Tensor
    labels: np.ndarray  # class index, or -1 for unlabelled images
    classnames: list[str]
    templates: list[Any]
    templates_name: str
    source: str


@dataclass
class ClassInversion:
    """The smallest trigger found for one class."""

    classname: str
    l1: float  # mask L1 norm in pixels (sum of the mask); inf when the goal was never reached
    l1_fraction: float  # l1 / (S * S)
    reached: bool  # a trigger reached ``asr_goal`` on a fitting batch
    fit_asr: float  # ASR of the kept trigger on all fitting images (those not already in the class)
    anomaly: float = 0.0  # (median - l1) / (1.4826 * MAD); positive = smaller than typical
    reference_l1: float | None = None
    reference_ratio: float | None = None


@dataclass
class CollapseInversion:
    """The smallest trigger found that makes the stamped images' image embeddings collapse together."""

    l1: float  # mask L1 norm in pixels; inf when the goal was never reached
    l1_fraction: float  # l1 / (S * S): the score (DECREE's proportional L1 norm, one channel)
    reached: bool
    goal: float  # the mean mutual cosine the trigger had to reach
    fit_similarity: float  # mean mutual cosine of the stamped fitting images (last window of the search)
    heldout_similarity: float  # ... of the stamped held-out images
    clean_similarity: float  # ... of the same held-out images without the trigger
    target_share: float  # share of stamped held-out images the zero-shot head puts in the suspected target
    # cosine between the stamped held-out images' mean embedding and the target's text embedding: a
    # diagnostic (not used by the verdict); on the seed-0 toy models a backdoor's collapse sat on its
    # caption (0.85-0.91) and a clean model's on no caption (0.46-0.49)
    text_alignment: float = 0.0


@dataclass
class DetectReport:
    model: dict[str, Any]
    eval_data: str
    verdict: str  # "backdoor" | "clean" | "stopped"
    suspected_target: str | None  # the class of the most anomalous (smallest) trigger
    score: float  # classes: anomaly index, or the reference ratio; collapse: the mask's L1 fraction of the image
    threshold: float
    rule: str  # how score and threshold decide the verdict, in words
    method: str
    heldout_asr: float  # the suspected target's inverted trigger on held-out images
    heldout_images: int
    fit_images: int
    classes: list[ClassInversion]
    config: dict[str, Any]
    templates: str
    device: str
    seconds: float
    steps_run: int
    stopped: bool = False
    mode: str = "classes"  # "classes" (per-class triggers) | "collapse" (one label-free trigger)
    collapse: CollapseInversion | None = None  # collapse mode's trigger; ``classes`` is then empty
    reference: dict[str, Any] | None = None
    trigger_png: str | None = None  # filled by the caller that writes it
    preview_png: str | None = None
    mask: np.ndarray | None = field(default=None, repr=False)  # [S, S] in [0, 1]
    pattern: np.ndarray | None = field(default=None, repr=False)  # [S, S, 3] in [0, 1]
    example: np.ndarray | None = field(default=None, repr=False)  # a held-out image [S, S, 3] uint8

    def to_dict(self) -> dict[str, Any]:
        """The JSON schema: fractions in [0, 1], L1 norms in pixels; no arrays."""
        doc = {k: v for k, v in asdict(self).items() if k not in ("mask", "pattern", "example")}
        doc["classes"] = [_finite(asdict(c)) for c in self.classes]
        if self.collapse is not None:
            doc["collapse"] = _finite(asdict(self.collapse))
        return _finite(doc)


def _finite(doc: dict[str, Any]) -> dict[str, Any]:
    """JSON has no infinity: an unreached class's L1 becomes null."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in doc.items()}


# --- images -----------------------------------------------------------------------------------------


def pixel_preprocess(preprocess: Any) -> tuple[Callable[[Any], np.ndarray], torch.Tensor, torch.Tensor, int]:
    """Split the model's eval transform into (PIL -> uint8 S x S x 3, mean, std, S).

    The trigger is stamped on pixels in [0, 1] after the geometric steps and before ``Normalize``,
    as a trigger on the image would be. open_clip's standard transform is recognised by
    ``fastpath.split_preprocess``; otherwise the steps before a final ``ToTensor``/``Normalize``
    pair are used.
    """
    from cleanerclip_tool.eval.fastpath import split_preprocess

    split = split_preprocess(preprocess)
    if split is not None:
        return split.to_uint8, split.mean.view(3), split.std.view(3), split.size
    from torchvision.transforms import Compose, Normalize

    steps = list(getattr(preprocess, "transforms", [])) if isinstance(preprocess, Compose) else []
    if len(steps) < 2 or type(steps[-1]) is not Normalize:
        raise BadInputError("the model's preprocess does not end in Normalize: cannot stamp triggers on pixels")
    geometric = steps[:-2]
    mean = torch.as_tensor(steps[-1].mean, dtype=torch.float32)
    std = torch.as_tensor(steps[-1].std, dtype=torch.float32)

    def to_uint8(image: Any) -> np.ndarray:
        for step in geometric:
            image = step(image)
        return np.asarray(image.convert("RGB"), dtype=np.uint8)

    return to_uint8, mean, std, 0


def plain_image_paths(root: Path) -> list[Path]:
    """Image files directly in ``root`` or below it (sorted), for unlabelled data."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_plain_classnames(path: Path) -> list[str]:
    try:
        names = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read class names: {exc}", where=path) from None
    names = [n.split("\t", 1)[-1].strip() for n in names]
    if len(names) < 2:
        raise DataError("need at least two class names, one per line", where=path)
    return names


def load_detect_images(
    root: str | Path,
    preprocess: Any,
    *,
    classnames_file: str | Path | None = None,
    templates: str | Sequence[Any] | None = None,
    max_images: int = 1000,
    seed: int = 0,
    on_event: EventCallback = ignore_event,
) -> DetectImages:
    """An ImageFolder (labels and class names from it) or a folder of plain images (``--classnames`` needed).

    At most ``max_images`` are read, a seeded subset. Each is decoded and put through the model's
    geometric transform once; the pixels stay uint8 in memory.
    """
    from cleanerclip_tool.eval.evalset import load_eval_set

    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError("eval data must be a folder of images (or one sub-folder per class)", where=root)
    has_class_folders = any(p.is_dir() and not p.name.startswith(".") for p in root.iterdir())
    eval_set: EvalSet | None = None
    if has_class_folders:
        eval_set = load_eval_set(root, classnames_file=classnames_file)
        samples = [(p, label) for p, label in eval_set.samples]
        classnames = eval_set.classnames
    else:
        if classnames_file is None:
            raise DataError(
                "plain images carry no classes",
                where=root,
                hint="pass --classnames FILE (one class name per line) or use an ImageFolder",
            )
        classnames = read_plain_classnames(Path(classnames_file))
        samples = [(p, -1) for p in plain_image_paths(root)]
        if not samples:
            raise DataError("no images found", where=root)
    if len(samples) < 2:
        raise DataError("need at least two images (half fit the trigger, half measure it)", where=root)
    if len(samples) > max_images:
        keep = np.sort(np.random.default_rng(seed).permutation(len(samples))[:max_images])
        samples = [samples[i] for i in keep]

    if isinstance(templates, str):
        template_list, templates_name = named_templates(templates), templates
    elif templates is not None:
        template_list, templates_name = list(templates), f"{len(templates)} given templates"
    elif eval_set is not None and eval_set.templates:
        template_list, templates_name = eval_set.templates, eval_set.sources.get("templates", "templates.txt")
    elif (root / "templates.txt").is_file():
        template_list, templates_name = read_templates(root / "templates.txt"), str(root / "templates.txt")
    else:
        template_list, templates_name = named_templates("openai"), "openai"

    to_uint8, _, _, _ = pixel_preprocess(preprocess)
    on_event(TaskStarted("detect-load", total=len(samples), description=f"reading {len(samples)} images"))
    arrays = []
    for i, (path, _) in enumerate(samples):
        arrays.append(to_uint8(open_rgb(path)))
        if (i + 1) % 64 == 0 or i + 1 == len(samples):
            on_event(TaskProgress("detect-load", i + 1, len(samples)))
    on_event(TaskFinished("detect-load", {"images": len(samples)}))
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise DataError(f"the model's transform gave images of different sizes {sorted(shapes)}", where=root)
    pixels = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    labels = np.array([label for _, label in samples], dtype=np.int64)
    return DetectImages(pixels, labels, list(classnames), list(template_list), str(templates_name), str(root))


# --- scoring ----------------------------------------------------------------------------------------


def anomaly_indices(l1: Sequence[float]) -> np.ndarray:
    """``(median - v) / (1.4826 * MAD)`` of ``v = log(1 + l1)`` per class; an unreached class (inf) is never anomalous.

    On a log scale because mask norms are skewed: on a clean toy model they span 5 to 250 pixels.

    Unreached classes count as the largest norms in the median (they are the hardest classes).
    """
    values = np.log1p(np.asarray(l1, dtype=np.float64))
    finite = np.isfinite(values)
    if finite.sum() == 0:
        return np.zeros_like(values)
    cap = values[finite].max() * 2 if finite.any() else 1.0
    filled = np.where(finite, values, cap)
    median = float(np.median(filled))
    mad = MAD_SCALE * float(np.median(np.abs(filled - median)))
    mad = max(mad, 1e-6 * max(median, 1e-6))
    out = (median - filled) / mad
    return np.where(finite, out, 0.0)


def reference_ratios(l1: Sequence[float], reference_l1: Sequence[float]) -> np.ndarray:
    """L1(model) / L1(reference) per class.

    inf where the model's trigger never reached the goal; 0 where only the reference's did not (the
    model has a trigger its clean twin lacks: as anomalous as it gets).
    """
    model, ref = np.asarray(l1, dtype=np.float64), np.asarray(reference_l1, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(np.isfinite(ref), model / np.maximum(ref, 1e-9), 0.0)
    return np.where(np.isfinite(model), ratios, np.inf)


# --- inversion --------------------------------------------------------------------------------------


@dataclass
class _Inverted:
    best_l1: np.ndarray  # [C] pixels; inf = goal never reached
    best_mask: torch.Tensor  # [C, 1, S, S]
    best_pattern: torch.Tensor  # [C, 3, S, S]
    steps_run: int
    stopped: bool


def stamp(pixels01: torch.Tensor, mask: torch.Tensor, pattern: torch.Tensor) -> torch.Tensor:
    """``(1 - m) x + m p`` for every (trigger, image).

    Masks [T, 1, S, S], patterns [T, 3, S, S], images [B, 3, S, S] in [0, 1] -> [T, B, 3, S, S].
    """
    return (1 - mask[:, None]) * pixels01[None] + mask[:, None] * pattern[:, None]


def _mask(param: torch.Tensor, size: int) -> torch.Tensor:
    mask = torch.sigmoid(param)
    return mask if mask.shape[-1] == size else torch.nn.functional.interpolate(mask, size=(size, size), mode="nearest")


def _encode(model: Any, pixels01: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    normed = (pixels01 - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    return torch.nn.functional.normalize(model.encode_image(normed).float(), dim=-1)


@torch.no_grad()
def predict(
    model: Any,
    classifier: torch.Tensor,
    pixels: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
    *,
    device: str,
    batch_size: int = 256,
) -> np.ndarray:
    """Top-1 zero-shot class of uint8 images."""
    out = []
    for start in range(0, len(pixels), batch_size):
        x = pixels[start : start + batch_size].to(device).float() / 255
        out.append((_encode(model, x, mean, std) @ classifier).argmax(dim=1).cpu())
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.int64)


@torch.no_grad()
def trigger_asr(
    model: Any,
    classifier: torch.Tensor,
    pixels: torch.Tensor,
    eligible: np.ndarray,
    target: int,
    mask: torch.Tensor,
    pattern: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
    *,
    device: str,
    batch_size: int = 256,
) -> float:
    """Share of the ``eligible`` images that the stamped trigger sends to ``target``."""
    idx = np.flatnonzero(eligible)
    if len(idx) == 0:
        return 0.0
    hits = 0
    m, p = mask.to(device)[None], pattern.to(device)[None]
    for start in range(0, len(idx), batch_size):
        x = pixels[idx[start : start + batch_size]].to(device).float() / 255
        stamped = stamp(x, m, p)[0]
        hits += int(((_encode(model, stamped, mean, std) @ classifier).argmax(dim=1) == target).sum())
    return hits / len(idx)


def invert_triggers(
    model: Any,
    classifier: torch.Tensor,
    pixels: torch.Tensor,
    eligible: np.ndarray,
    classes: Sequence[int],
    mean: torch.Tensor,
    std: torch.Tensor,
    cfg: DetectConfig,
    *,
    logit_scale: float,
    device: str,
    task: str = "detect",
    stop: threading.Event | None = None,
    on_event: EventCallback = ignore_event,
    progress_offset: int = 0,
    progress_total: int | None = None,
) -> _Inverted:
    """Neural Cleanse's search for ``classes`` at once (one mask and pattern each), on ``pixels``.

    ``eligible[i, j]`` says image i may be pulled to ``classes[j]`` (its label, or its clean
    prediction, is another class); a class's loss and batch ASR only count its eligible images.
    """
    cfg = replace(cfg, mode="classes").resolved(reference=False)
    size = pixels.shape[-1]
    n_cls = len(classes)
    gen = torch.Generator().manual_seed(cfg.seed)
    # masks start as a faint blot everywhere (sigmoid(-2) = 0.12), patterns as uniform noise
    cells = max(1, size // cfg.mask_cell)
    noise = 0.1 * torch.randn(n_cls, 1, cells, cells, generator=gen)
    mask_param = torch.full((n_cls, 1, cells, cells), -2.0) + noise
    pattern_param = torch.randn(n_cls, 3, size, size, generator=gen)
    mask_param = mask_param.to(device).requires_grad_(True)
    pattern_param = pattern_param.to(device).requires_grad_(True)
    optimiser = torch.optim.Adam([mask_param, pattern_param], lr=cfg.lr, betas=(0.5, 0.9))
    targets = torch.as_tensor(list(classes), device=device)
    eligible_t = torch.as_tensor(eligible, dtype=torch.bool)
    cost = torch.full((n_cls,), cfg.init_cost, device=device)
    window_hits = torch.zeros(n_cls)
    window_seen = torch.zeros(n_cls)
    best_l1 = np.full(n_cls, np.inf)
    best_mask = torch.zeros(n_cls, 1, size, size)
    best_pattern = torch.zeros(n_cls, 3, size, size)
    order_gen = np.random.default_rng(cfg.seed)
    mean_d, std_d = mean.to(device), std.to(device)
    batch = min(cfg.batch_size, len(pixels))
    steps_run, stopped = 0, False
    for step in range(cfg.steps):
        if stop is not None and stop.is_set():
            stopped = True
            break
        idx = order_gen.choice(len(pixels), size=batch, replace=False)
        x = pixels[idx].to(device).float() / 255
        elig = eligible_t[idx].T.to(device)  # [C, B]
        mask = _mask(mask_param, size)
        pattern = torch.sigmoid(pattern_param)
        stamped = stamp(x, mask, pattern).view(n_cls * batch, 3, size, size)
        logits = (_encode(model, stamped, mean_d, std_d) @ classifier).view(n_cls, batch, -1) * logit_scale
        ce = torch.nn.functional.cross_entropy(
            logits.reshape(n_cls * batch, -1), targets.repeat_interleave(batch), reduction="none"
        ).view(n_cls, batch)
        counted = elig.float()
        denom = counted.sum(dim=1).clamp_min(1.0)
        ce_mean = (ce * counted).sum(dim=1) / denom
        mask_mean = mask.view(n_cls, -1).mean(dim=1)
        loss = (ce_mean + cost * mask_mean).sum()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        steps_run = step + 1

        with torch.no_grad():
            hit = (logits.argmax(dim=2) == targets[:, None]).float()
            window_hits += (hit * counted).sum(dim=1).cpu()
            window_seen += counted.sum(dim=1).cpu()
            if (step + 1) % cfg.patience == 0:
                # the ASR over the last `patience` batches (not one lucky batch) decides, for the mask as it is now
                asr = window_hits / window_seen.clamp_min(1.0)
                window_hits.zero_()
                window_seen.zero_()
                l1 = _mask(mask_param, size).view(n_cls, -1).sum(dim=1).cpu()
                reached = asr >= cfg.asr_goal
                for j in np.flatnonzero(reached.numpy()):
                    if float(l1[j]) < best_l1[j]:
                        best_l1[j] = float(l1[j])
                        best_mask[j] = _mask(mask_param[j : j + 1], size)[0].detach().cpu()
                        best_pattern[j] = torch.sigmoid(pattern_param[j]).detach().cpu()
                # Neural Cleanse's schedule: raise the cost while at the goal, lower it while below
                up = reached.to(device)
                cost = torch.where(up, cost * cfg.cost_step, cost / cfg.cost_step**1.5)
        if step % 5 == 4 or step + 1 == cfg.steps:
            on_event(
                TaskProgress(
                    task,
                    progress_offset + step + 1,
                    progress_total or cfg.steps,
                    {"reached": f"{int(np.isfinite(best_l1).sum())}/{n_cls}"},
                )
            )
    for j in range(n_cls):  # never reached: keep the last trigger so the report can still show it
        if not np.isfinite(best_l1[j]):
            best_mask[j] = _mask(mask_param[j : j + 1], size)[0].detach().cpu()
            best_pattern[j] = torch.sigmoid(pattern_param[j]).detach().cpu()
    return _Inverted(best_l1, best_mask, best_pattern, steps_run, stopped)


# --- label-free: collapse the image embeddings (DECREE) ----------------------------------------------


def self_similarity(z: torch.Tensor) -> torch.Tensor:
    """Mean cosine similarity between different rows of each ``[T, B, D]`` set of unit vectors -> ``[T]``."""
    n = z.shape[-2]
    total = z.sum(dim=-2)
    return ((total * total).sum(dim=-1) - n) / max(n * (n - 1), 1)


@dataclass
class _Collapsed:
    best_l1: float  # pixels; inf = the goal was never reached
    mask: torch.Tensor  # [1, S, S]
    pattern: torch.Tensor  # [3, S, S]
    fit_similarity: float  # the kept trigger's mean mutual cosine on the fitting images
    steps_run: int
    stopped: bool


def invert_collapse(
    model: Any,
    pixels: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
    cfg: DetectConfig,
    *,
    device: str,
    task: str = "detect-model",
    stop: threading.Event | None = None,
    on_event: EventCallback = ignore_event,
) -> _Collapsed:
    """DECREE's search: the smallest mask + pattern whose stamped images share one image embedding.

    No class, caption or label is used: the loss is ``-mean mutual cosine of the stamped images'
    embeddings + cost * mean(mask)``. ``cfg.restarts`` triggers start from different seeds and are
    optimised together (one forward for all); the cost adapts per trigger as in ``invert_triggers``,
    the goal being a mean mutual cosine of ``cfg.collapse_goal`` over the last ``patience`` batches.
    The smallest mask among the triggers that reached the goal is kept.
    """
    cfg = replace(cfg, mode="collapse").resolved(reference=False)
    size = pixels.shape[-1]
    n_trig = cfg.restarts
    gen = torch.Generator().manual_seed(cfg.seed)
    cells = max(1, size // cfg.mask_cell)
    mask_param = torch.full((n_trig, 1, cells, cells), -2.0) + 0.1 * torch.randn(n_trig, 1, cells, cells, generator=gen)
    pattern_param = torch.randn(n_trig, 3, size, size, generator=gen)
    mask_param = mask_param.to(device).requires_grad_(True)
    pattern_param = pattern_param.to(device).requires_grad_(True)
    optimiser = torch.optim.Adam([mask_param, pattern_param], lr=cfg.lr, betas=(0.5, 0.9))
    cost = torch.full((n_trig,), cfg.init_cost, device=device)
    window_sim = torch.zeros(n_trig)
    window_n = 0
    best_l1, best_sim = math.inf, 0.0
    best_mask = torch.zeros(1, size, size)
    best_pattern = torch.zeros(3, size, size)
    order_gen = np.random.default_rng(cfg.seed)
    batch = min(cfg.batch_size, len(pixels))
    steps_run, stopped = 0, False
    last_sim: torch.Tensor | None = None
    on_event(TaskStarted(task, total=cfg.steps, description="inverting a label-free trigger (embedding collapse)"))
    for step in range(cfg.steps):
        if stop is not None and stop.is_set():
            stopped = True
            break
        idx = order_gen.choice(len(pixels), size=batch, replace=False)
        x = pixels[idx].to(device).float() / 255
        mask = _mask(mask_param, size)
        pattern = torch.sigmoid(pattern_param)
        stamped = stamp(x, mask, pattern).view(n_trig * batch, 3, size, size)
        z = _encode(model, stamped, mean, std).view(n_trig, batch, -1)
        sim = self_similarity(z)
        loss = (-sim + cost * mask.view(n_trig, -1).mean(dim=1)).sum()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        steps_run = step + 1
        last_sim = sim.detach().cpu()
        with torch.no_grad():
            window_sim += last_sim
            window_n += 1
            if (step + 1) % cfg.patience == 0:
                reached = window_sim / window_n >= cfg.collapse_goal
                l1 = _mask(mask_param, size).view(n_trig, -1).sum(dim=1).cpu()
                for j in np.flatnonzero(reached.numpy()):
                    if float(l1[j]) < best_l1:
                        best_l1, best_sim = float(l1[j]), float(window_sim[j] / window_n)
                        best_mask = _mask(mask_param[j : j + 1], size)[0].detach().cpu()
                        best_pattern = torch.sigmoid(pattern_param[j]).detach().cpu()
                window_sim.zero_()
                window_n = 0
                up = reached.to(device)
                cost = torch.where(up, cost * cfg.cost_step, cost / cfg.cost_step**1.5)
        if step % 5 == 4 or step + 1 == cfg.steps:
            on_event(TaskProgress(task, step + 1, cfg.steps, {"L1": "-" if math.isinf(best_l1) else f"{best_l1:.0f}"}))
    if math.isinf(best_l1):  # never reached: keep the most collapsed trigger so the report can still show it
        j = int(torch.argmax(last_sim)) if last_sim is not None else 0
        best_mask = _mask(mask_param[j : j + 1], size)[0].detach().cpu()
        best_pattern = torch.sigmoid(pattern_param[j]).detach().cpu()
        best_sim = float(last_sim[j]) if last_sim is not None else 0.0
    on_event(TaskFinished(task, {"l1": None if math.isinf(best_l1) else round(best_l1, 1)}))
    return _Collapsed(best_l1, best_mask, best_pattern, best_sim, steps_run, stopped)


@dataclass
class _ModelInversion:
    l1: np.ndarray
    masks: torch.Tensor
    patterns: torch.Tensor
    fit_asr: np.ndarray
    steps_run: int
    stopped: bool
    seconds: float


def _prepare(
    loaded: Any, images: DetectImages, device: str
) -> tuple[Any, torch.Tensor, float, torch.Tensor, torch.Tensor]:
    model = loaded.model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    classifier = build_classifier(model, loaded.tokenizer, images.classnames, images.templates, device=device).float()
    scale = getattr(model, "logit_scale", None)
    logit_scale = float(scale.exp().clamp(max=100).item()) if isinstance(scale, torch.Tensor) else 100.0
    _, mean, std, _ = pixel_preprocess(loaded.preprocess)
    return model, classifier, logit_scale, mean.to(device), std.to(device)


def _invert_model(
    loaded: Any,
    images: DetectImages,
    fit_idx: np.ndarray,
    cfg: DetectConfig,
    *,
    device: str,
    stop: threading.Event | None,
    on_event: EventCallback,
    label: str,
) -> _ModelInversion:
    started = time.perf_counter()
    model, classifier, logit_scale, mean, std = _prepare(loaded, images, device)
    n_cls = len(images.classnames)
    fit_pixels = images.pixels[fit_idx]
    clean_pred = predict(model, classifier, fit_pixels, mean, std, device=device)
    known = images.labels[fit_idx]
    base = np.where(known >= 0, known, clean_pred)  # its label where known, else what the model sees
    eligible = base[:, None] != np.arange(n_cls)[None, :]
    chunks = [list(range(s, min(n_cls, s + cfg.class_chunk))) for s in range(0, n_cls, cfg.class_chunk)]
    total = int(cfg.steps or 0) * len(chunks)
    task = f"detect-{label}"
    on_event(TaskStarted(task, total=total, description=f"inverting {n_cls} class triggers ({label})"))
    l1 = np.full(n_cls, np.inf)
    masks = torch.zeros(n_cls, 1, *fit_pixels.shape[-2:])
    patterns = torch.zeros(n_cls, 3, *fit_pixels.shape[-2:])
    steps_run, stopped = 0, False
    for k, chunk in enumerate(chunks):
        inv = invert_triggers(
            model,
            classifier,
            fit_pixels,
            eligible[:, chunk],
            chunk,
            mean,
            std,
            cfg,
            logit_scale=logit_scale,
            device=device,
            task=task,
            stop=stop,
            on_event=on_event,
            progress_offset=k * int(cfg.steps or 0),
            progress_total=total,
        )
        l1[chunk] = inv.best_l1
        masks[chunk], patterns[chunk] = inv.best_mask, inv.best_pattern
        steps_run += inv.steps_run
        if inv.stopped:
            stopped = True
            break
    fit_asr = np.zeros(n_cls)
    for c in range(n_cls):
        fit_asr[c] = trigger_asr(
            model, classifier, fit_pixels, eligible[:, c], c, masks[c], patterns[c], mean, std, device=device
        )
    seconds = time.perf_counter() - started
    on_event(TaskFinished(task, {"seconds": round(seconds, 2)}))
    return _ModelInversion(l1, masks, patterns, fit_asr, steps_run, stopped, seconds)


def split_fit_heldout(n: int, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng([seed, 1]).permutation(n)
    n_held = min(n - 1, max(1, round(n * holdout)))
    return np.sort(order[n_held:]), np.sort(order[:n_held])


def _card_info(loaded: Any) -> dict[str, Any]:
    card = getattr(loaded, "card", None)
    return card.to_dict() if hasattr(card, "to_dict") else {"source": str(card)}


def _detect_collapse(
    loaded: Any,
    images: DetectImages,
    fit_idx: np.ndarray,
    held_idx: np.ndarray,
    cfg: DetectConfig,
    *,
    device: str,
    stop: threading.Event | None,
    on_event: EventCallback,
) -> DetectReport:
    """Collapse mode: one label-free trigger (DECREE); backdoor if its mask is below ``threshold`` of the image.

    The suspected target is the zero-shot class most stamped held-out images land in; the held-out
    ASR counts the held-out images not already of that class (by label, or by clean prediction).
    """
    started = time.perf_counter()
    on_event(
        Info(
            f"label-free trigger inversion (embedding collapse to mean cosine {cfg.collapse_goal:g}): "
            f"{len(fit_idx)} fitting / {len(held_idx)} held-out images, {cfg.steps} steps, {cfg.restarts} starts"
        )
    )
    model, classifier, _, mean, std = _prepare(loaded, images, device)
    inv = invert_collapse(
        model, images.pixels[fit_idx], mean, std, cfg, device=device, task="detect-model", stop=stop, on_event=on_event
    )
    size = images.pixels.shape[-1]
    held_pixels = images.pixels[held_idx]
    stamped_sim, clean_sim, stamped_pred, centre = _collapse_stats(
        model, classifier, held_pixels, inv, mean, std, device
    )
    target = int(np.bincount(stamped_pred, minlength=len(images.classnames)).argmax())
    text = torch.nn.functional.normalize(classifier[:, target].float().cpu(), dim=0)
    text_alignment = float(torch.nn.functional.normalize(centre, dim=0) @ text)
    held_known = images.labels[held_idx]
    held_clean = predict(model, classifier, held_pixels, mean, std, device=device)
    eligible = np.where(held_known >= 0, held_known, held_clean) != target
    heldout_asr = float((stamped_pred[eligible] == target).mean()) if eligible.any() else 0.0
    fraction = inv.best_l1 / (size * size) if math.isfinite(inv.best_l1) else 1.0
    threshold = cfg.threshold if cfg.threshold is not None else COLLAPSE_THRESHOLD
    flagged = fraction < threshold
    example_i = int(np.flatnonzero(eligible)[0]) if eligible.any() else 0
    collapse = CollapseInversion(
        l1=inv.best_l1,
        l1_fraction=round(fraction, 5),
        reached=math.isfinite(inv.best_l1),
        goal=cfg.collapse_goal,
        fit_similarity=round(inv.fit_similarity, 4),
        heldout_similarity=round(stamped_sim, 4),
        clean_similarity=round(clean_sim, 4),
        target_share=round(float((stamped_pred == target).mean()), 4),
        text_alignment=round(text_alignment, 4),
    )
    return DetectReport(
        model=_card_info(loaded),
        eval_data=images.source,
        verdict="stopped" if inv.stopped else ("backdoor" if flagged else "clean"),
        suspected_target=images.classnames[target],
        score=round(fraction, 5),
        threshold=float(threshold),
        rule=(
            f"backdoor if the smallest mask that collapses the image embeddings (mean mutual cosine "
            f">= {cfg.collapse_goal:g}) covers less than {threshold:g} of the image"
        ),
        method="label-free mask+pattern inversion (DECREE objective: collapse the image embeddings), mask L1 fraction",
        heldout_asr=round(heldout_asr, 4),
        heldout_images=int(eligible.sum()),
        fit_images=len(fit_idx),
        classes=[],
        config=asdict(cfg),
        templates=images.templates_name,
        device=device,
        seconds=round(time.perf_counter() - started, 2),
        steps_run=inv.steps_run,
        stopped=inv.stopped,
        mode="collapse",
        collapse=collapse,
        mask=inv.mask[0].numpy(),
        pattern=inv.pattern.permute(1, 2, 0).numpy(),
        example=held_pixels[example_i].permute(1, 2, 0).numpy(),
    )


@torch.no_grad()
def _collapse_stats(
    model: Any,
    classifier: torch.Tensor,
    pixels: torch.Tensor,
    inv: _Collapsed,
    mean: torch.Tensor,
    std: torch.Tensor,
    device: str,
    batch_size: int = 256,
) -> tuple[float, float, np.ndarray, torch.Tensor]:
    """Mean mutual cosine of ``pixels`` stamped and clean, the zero-shot class of each stamped image, and
    the stamped images' mean embedding."""
    stamped, clean, preds = [], [], []
    m, p = inv.mask.to(device)[None], inv.pattern.to(device)[None]
    for start in range(0, len(pixels), batch_size):
        x = pixels[start : start + batch_size].to(device).float() / 255
        z = _encode(model, stamp(x, m, p)[0], mean, std)
        stamped.append(z.cpu())
        clean.append(_encode(model, x, mean, std).cpu())
        preds.append((z @ classifier).argmax(dim=1).cpu())
    if not stamped:
        return 0.0, 0.0, np.zeros(0, dtype=np.int64), torch.zeros(classifier.shape[0])
    z_s, z_c = torch.cat(stamped)[None], torch.cat(clean)[None]
    centre = z_s[0].mean(dim=0)
    return float(self_similarity(z_s)[0]), float(self_similarity(z_c)[0]), torch.cat(preds).numpy(), centre


def detect(
    loaded: Any,
    images: DetectImages,
    *,
    config: DetectConfig | None = None,
    reference: Any | None = None,
    device: str = "cpu",
    stop: threading.Event | None = None,
    on_event: EventCallback = ignore_event,
) -> DetectReport:
    """Invert triggers on ``loaded`` and say whether the easiest one is anomalous.

    ``classes`` mode inverts one trigger per class and scores the smallest by the median/MAD anomaly
    index across classes, or, with ``reference`` (a LoadedModel of the same input size, known
    clean), by the L1 ratio suspect / reference per class. ``collapse`` mode (the default without a
    reference) inverts one label-free trigger and scores its size (``_detect_collapse``).
    """
    from cleanerclip_tool.devices import resolve_device

    cfg = (config or DetectConfig()).resolved(reference=reference is not None)
    device = resolve_device(device)
    torch.manual_seed(cfg.seed)
    fit_idx, held_idx = split_fit_heldout(len(images.pixels), cfg.holdout, cfg.seed)
    if cfg.mode == "collapse":
        return _detect_collapse(loaded, images, fit_idx, held_idx, cfg, device=device, stop=stop, on_event=on_event)
    started = time.perf_counter()
    n_cls = len(images.classnames)
    if n_cls < 3 and reference is None:
        raise BadInputError("the anomaly index needs at least 3 classes (or a --reference model)", where="classes")
    on_event(
        Info(
            f"trigger inversion: {n_cls} classes, {len(fit_idx)} fitting / {len(held_idx)} held-out images, "
            f"{cfg.steps} steps"
        )
    )
    suspect = _invert_model(loaded, images, fit_idx, cfg, device=device, stop=stop, on_event=on_event, label="model")
    stopped = suspect.stopped
    ref_inv: _ModelInversion | None = None
    if reference is not None and not stopped:
        ref_inv = _invert_model(
            reference, images, fit_idx, cfg, device=device, stop=stop, on_event=on_event, label="reference"
        )
        stopped = ref_inv.stopped

    size = images.pixels.shape[-1]
    anomalies = anomaly_indices(suspect.l1)
    classes = [
        ClassInversion(
            name,
            float(suspect.l1[c]),
            float(suspect.l1[c]) / (size * size),
            bool(np.isfinite(suspect.l1[c])),
            round(float(suspect.fit_asr[c]), 4),
            round(float(anomalies[c]), 4),
        )
        for c, name in enumerate(images.classnames)
    ]
    if ref_inv is not None:
        ratios = reference_ratios(suspect.l1, ref_inv.l1)
        for c, row in enumerate(classes):
            row.reference_l1 = float(ref_inv.l1[c])
            row.reference_ratio = float(ratios[c])
        suspect_c = int(np.argmin(ratios))
        score = float(ratios[suspect_c])
        threshold = cfg.threshold if cfg.threshold is not None else REFERENCE_RATIO_THRESHOLD
        flagged = score < threshold
        rule = f"backdoor if a class's L1(model) / L1(reference) < {threshold:g}"
        method = "per-class mask+pattern inversion (Neural Cleanse objective, zero-shot head) vs a reference model"
    else:
        suspect_c = int(np.argmax(anomalies))
        score = float(anomalies[suspect_c])
        threshold = cfg.threshold if cfg.threshold is not None else ANOMALY_THRESHOLD
        flagged = score > threshold
        rule = f"backdoor if the smallest mask's anomaly index > {threshold:g} (median/MAD of log L1)"
        method = "per-class mask+pattern inversion (Neural Cleanse objective, zero-shot head), median/MAD anomaly index"

    model, classifier, _, mean, std = _prepare(loaded, images, device)
    held_pixels = images.pixels[held_idx]
    held_known = images.labels[held_idx]
    held_pred = predict(model, classifier, held_pixels, mean, std, device=device)
    held_base = np.where(held_known >= 0, held_known, held_pred)
    held_eligible = held_base != suspect_c
    heldout_asr = trigger_asr(
        model,
        classifier,
        held_pixels,
        held_eligible,
        suspect_c,
        suspect.masks[suspect_c],
        suspect.patterns[suspect_c],
        mean,
        std,
        device=device,
    )
    example_i = int(np.flatnonzero(held_eligible)[0]) if held_eligible.any() else 0
    model_info = _card_info(loaded)
    reference_info = None
    if reference is not None:
        reference_info = _card_info(reference)
        if ref_inv is not None:
            reference_info["seconds"] = round(ref_inv.seconds, 2)
    return DetectReport(
        model=model_info,
        eval_data=images.source,
        verdict="stopped" if stopped else ("backdoor" if flagged else "clean"),
        suspected_target=images.classnames[suspect_c],
        score=round(score, 4),
        threshold=float(threshold),
        rule=rule,
        method=method,
        heldout_asr=round(heldout_asr, 4),
        heldout_images=int(held_eligible.sum()),
        fit_images=len(fit_idx),
        classes=classes,
        config=asdict(cfg),
        templates=images.templates_name,
        device=device,
        seconds=round(time.perf_counter() - started, 2),
        steps_run=suspect.steps_run,
        stopped=stopped,
        reference=reference_info,
        mask=suspect.masks[suspect_c, 0].numpy(),
        pattern=suspect.patterns[suspect_c].permute(1, 2, 0).numpy(),
        example=held_pixels[example_i].permute(1, 2, 0).numpy(),
    )


# --- pictures ---------------------------------------------------------------------------------------


def write_trigger_png(report: DetectReport, path: str | Path) -> Path:
    """The inverted trigger at the model's input size: RGBA, colour = pattern, alpha = mask."""
    from PIL import Image

    if report.mask is None or report.pattern is None:
        raise BadInputError("the report carries no trigger to write")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rgba = np.concatenate([report.pattern, report.mask[..., None]], axis=2)
    Image.fromarray(np.clip(np.rint(rgba * 255), 0, 255).astype(np.uint8), mode="RGBA").save(path)
    return path


def write_preview_png(report: DetectReport, path: str | Path, *, min_side: int = 160) -> Path:
    """Three panels for people: the mask, mask x pattern, and a held-out image stamped with it."""
    from PIL import Image

    if report.mask is None or report.pattern is None or report.example is None:
        raise BadInputError("the report carries no trigger to draw")
    mask = report.mask[..., None]
    panels = [
        np.repeat(mask, 3, axis=2),
        mask * report.pattern,
        (1 - mask) * (report.example.astype(np.float32) / 255) + mask * report.pattern,
    ]
    side = report.mask.shape[0]
    scale = max(1, math.ceil(min_side / side))
    gap = np.ones((side, max(1, side // 16), 3), dtype=np.float32)
    strip = np.concatenate([panels[0], gap, panels[1], gap, panels[2]], axis=1)
    image = Image.fromarray(np.clip(np.rint(strip * 255), 0, 255).astype(np.uint8), mode="RGB")
    image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path
