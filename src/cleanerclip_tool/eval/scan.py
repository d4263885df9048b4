"""The trigger scan: zero-shot Top-k BA on clean images, Top-k ASR under each trigger, and where
each trigger pulls when the target is unknown.

One clean pass gives BA (shared by every attack row) and the clean Top-1 shares; one pass per
attack gives the triggered top-k predictions. Per image we keep only the top-k class indices, so
ASR toward the given target, and toward the discovered one, are computed after the passes. Text
embeddings are computed once per class set. Images are decoded, triggered (at native size) and
preprocessed in DataLoader workers while the model runs; on CUDA the model runs under fp16 autocast.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from cleanerclip_tool.attacks.base import Trigger
from cleanerclip_tool.data.images import open_rgb
from cleanerclip_tool.errors import BadInputError
from cleanerclip_tool.eval.evalset import EvalSet, named_templates
from cleanerclip_tool.eval.metrics import (
    ASR_CONVENTIONS,
    attack_success_rate,
    benign_accuracy,
    discover_target,
)
from cleanerclip_tool.eval.zeroshot import build_classifier
from cleanerclip_tool.events import EventCallback, Info, TaskFinished, TaskProgress, TaskStarted, ignore_event


@dataclass
class AttackResult:
    """One row of the report (the documented JSON schema plus extra keys)."""

    attack: str
    params: dict[str, Any]
    target: str | None  # the target asked for; None with --target auto
    n_clean: int
    n_triggered: int  # triggered images counted for ASR
    ba: dict[str, float]
    asr: dict[str, float]  # toward ``target``, or toward the discovered class with auto
    discovered_target: str
    discovered_share: float  # Top-1 share of that class on triggered images
    seconds: float
    asr_target: str = ""  # the class ``asr`` is measured toward
    discovered_clean_share: float = 0.0  # its Top-1 share on clean images
    discovered_growth: float = 0.0  # share - clean share; near 0 means the trigger pulls nowhere
    discovered_asr: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    artefact_sha256: str | None = None
    images_per_second: float = 0.0


@dataclass
class ScanReport:
    model: dict[str, Any]
    eval_data: str
    results: list[AttackResult]
    topk: list[int]
    asr_convention: str
    classes: int
    templates: str
    device: str
    precision: str
    clean_seconds: float
    clean_images_per_second: float

    def to_dict(self) -> dict[str, Any]:
        """The documented schema: rates are fractions in [0, 1], top-k keys are strings."""
        return {
            "model": self.model,
            "eval_data": self.eval_data,
            "results": [asdict(r) for r in self.results],
            "topk": list(self.topk),
            "asr_convention": self.asr_convention,
            "asr_convention_note": (
                "ASR counts triggered images whose true class is not the target"
                if self.asr_convention == "exclude"
                else "ASR counts every triggered image, target-class images included (BadCLIP's code)"
            ),
            "classes": self.classes,
            "templates": self.templates,
            "device": self.device,
            "precision": self.precision,
            "clean_seconds": self.clean_seconds,
            "clean_images_per_second": self.clean_images_per_second,
        }


class _ScanImages(torch.utils.data.Dataset):
    """(preprocessed image, label) for eval samples, with the trigger applied before preprocess."""

    def __init__(self, samples: Sequence[tuple[Any, int, int]], preprocess: Callable, trigger: Trigger | None):
        self.samples = list(samples)  # (path, label, index in the eval set)
        self.preprocess = preprocess
        self.trigger = trigger

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, label, index = self.samples[i]
        image = open_rgb(path)
        if self.trigger is not None:
            image = self.trigger.apply(image, index)  # index in the eval set: same image, same trigger
        return self.preprocess(image), label


def resolve_device(device: str) -> str:
    """``auto`` → cuda when available, else cpu; anything but cpu / cuda / cuda:N is bad input."""
    import re

    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        raise BadInputError(f"unknown device {device!r} (use auto, cpu, cuda or cuda:N)", where="--device")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BadInputError("CUDA is not available on this machine", where="--device")
    return device


def auto_workers(n_images: int, batch_size: int) -> int:
    """Workers overlap decoding/triggering with the model; not worth their start-up for few batches."""
    if n_images < 4 * batch_size:
        return 0
    return max(0, min(8, (os.cpu_count() or 1) - 1))


@torch.no_grad()
def predict_topk(
    model: torch.nn.Module,
    classifier: torch.Tensor,
    dataset: torch.utils.data.Dataset,
    *,
    maxk: int,
    batch_size: int,
    device: str,
    workers: int,
    task: str,
    on_event: EventCallback = ignore_event,
) -> tuple[np.ndarray, np.ndarray, float]:
    """(top-k class indices [N, maxk], labels [N], seconds) for one pass over ``dataset``."""
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
        pin_memory=device.startswith("cuda"), persistent_workers=False,
    )
    use_amp = device.startswith("cuda")
    tops, labels = [], []
    done = 0
    started = time.perf_counter()
    on_event(TaskStarted(task, total=len(dataset), description=f"scanning ({task})"))
    for images, batch_labels in loader:
        images = images.to(device, non_blocking=True)
        with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
            features = model.encode_image(images)
        features = torch.nn.functional.normalize(features.float(), dim=-1)
        logits = features @ classifier
        k = min(maxk, logits.shape[1])
        tops.append(logits.topk(k, dim=1).indices.cpu().numpy())
        labels.append(batch_labels.numpy())
        done += len(batch_labels)
        on_event(TaskProgress(task, done, len(dataset)))
    seconds = time.perf_counter() - started
    on_event(TaskFinished(task, {"images": done, "seconds": round(seconds, 3)}))
    return np.concatenate(tops), np.concatenate(labels), seconds


def _rates(values: dict[int, float]) -> dict[str, float]:
    return {str(k): v for k, v in values.items()}


def select_samples(eval_set: EvalSet, limit: int | None, seed: int) -> list[tuple[Any, int, int]]:
    """All samples, or ``limit`` of them drawn with ``seed`` (kept in folder order)."""
    indexed = [(path, label, i) for i, (path, label) in enumerate(eval_set.samples)]
    if limit is None or limit >= len(indexed):
        return indexed
    if limit < 1:
        raise BadInputError(f"limit must be >= 1 (got {limit})", where="--limit")
    keep = np.sort(np.random.default_rng(seed).permutation(len(indexed))[:limit])
    return [indexed[i] for i in keep]


def scan(
    loaded: Any,
    eval_set: EvalSet,
    attacks: Sequence[Trigger],
    *,
    target: str | None = None,
    topk: Sequence[int] = (1, 3, 5, 10),
    limit: int | None = None,
    batch_size: int = 128,
    device: str = "cpu",
    workers: int | None = None,
    seed: int = 0,
    templates: str | Sequence[Any] | None = None,
    asr_convention: str = "exclude",
    on_event: EventCallback = ignore_event,
) -> ScanReport:
    """Scan ``loaded`` (a LoadedModel: model, preprocess, tokenizer, card) with each trigger.

    ``target=None`` discovers the target per attack and reports ASR toward it; ``templates`` is a
    named open_clip set (``openai``/``simple``), a list of templates, or None for the eval folder's
    ``templates.txt`` (falling back to ``openai``).
    """
    ks = sorted({int(k) for k in topk})
    if not ks or ks[0] < 1:
        raise BadInputError("top-k values must be >= 1", where="--topk")
    if batch_size < 1:
        raise BadInputError("batch size must be >= 1", where="--batch-size")
    if asr_convention not in ASR_CONVENTIONS:
        raise BadInputError(f"ASR convention must be one of {', '.join(ASR_CONVENTIONS)}", where="asr_convention")
    device = resolve_device(device)
    target_index = eval_set.class_index(target) if target is not None else None
    samples = select_samples(eval_set, limit, seed)
    workers = auto_workers(len(samples), batch_size) if workers is None else workers
    maxk = max(ks)
    num_classes = len(eval_set.classnames)

    if isinstance(templates, str):
        template_list, templates_name = named_templates(templates), templates
    elif templates is not None:
        template_list, templates_name = list(templates), f"{len(templates)} given templates"
    elif eval_set.templates:
        template_list, templates_name = eval_set.templates, eval_set.sources.get("templates", "templates.txt")
    else:
        template_list, templates_name = named_templates("openai"), "openai"

    model = loaded.model.to(device).eval()
    on_event(Info(f"zero-shot classifier: {num_classes} classes x {len(template_list)} templates"))
    with torch.autocast("cuda", dtype=torch.float16, enabled=device.startswith("cuda")):
        classifier = build_classifier(model, loaded.tokenizer, eval_set.classnames, template_list, device=device)
    classifier = classifier.float()

    run = dict(maxk=maxk, batch_size=batch_size, device=device, workers=workers, on_event=on_event)
    clean_top, labels, clean_seconds = predict_topk(
        model, classifier, _ScanImages(samples, loaded.preprocess, None), task="clean", **run
    )
    ba = _rates(benign_accuracy(clean_top, labels, ks))
    results: list[AttackResult] = []
    for trigger in attacks:
        trig_top, trig_labels, seconds = predict_topk(
            model, classifier, _ScanImages(samples, loaded.preprocess, trigger), task=trigger.name, **run
        )
        found = discover_target(clean_top[:, 0], trig_top[:, 0], num_classes)
        found_asr, found_n = attack_success_rate(trig_top, trig_labels, found.target, ks, asr_convention)
        if target_index is not None:
            asr, n_triggered = attack_success_rate(trig_top, trig_labels, target_index, ks, asr_convention)
            asr_target = eval_set.classnames[target_index]
        else:
            asr, n_triggered, asr_target = found_asr, found_n, eval_set.classnames[found.target]
        described = trigger.describe()
        results.append(
            AttackResult(
                attack=trigger.name,
                params=described["params"],
                target=eval_set.classnames[target_index] if target_index is not None else None,
                n_clean=len(labels),
                n_triggered=n_triggered,
                ba=ba,
                asr=_rates(asr),
                discovered_target=eval_set.classnames[found.target],
                discovered_share=found.share,
                seconds=round(seconds, 4),
                asr_target=asr_target,
                discovered_clean_share=found.clean_share,
                discovered_growth=found.growth,
                discovered_asr=_rates(found_asr),
                seed=trigger.seed,
                artefact_sha256=described.get("artefact_sha256"),
                images_per_second=round(len(trig_labels) / seconds, 2) if seconds > 0 else 0.0,
            )
        )
    card = getattr(loaded, "card", None)
    model_info = card.to_dict() if hasattr(card, "to_dict") else {"source": str(card)}
    return ScanReport(
        model=model_info,
        eval_data=str(eval_set.root),
        results=results,
        topk=ks,
        asr_convention=asr_convention,
        classes=num_classes,
        templates=str(templates_name),
        device=device,
        precision="fp16-autocast" if device.startswith("cuda") else "fp32",
        clean_seconds=round(clean_seconds, 4),
        clean_images_per_second=round(len(labels) / clean_seconds, 2) if clean_seconds > 0 else 0.0,
    )
