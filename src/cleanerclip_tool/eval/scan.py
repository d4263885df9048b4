"""The trigger scan: zero-shot Top-k BA on clean images, Top-k ASR under each trigger, and where
each trigger pulls when the target is unknown.

One pass over the images does everything: each image is decoded once and yields a clean view (BA,
clean Top-1 shares) and one view per attack (ASR), triggered at native size, preprocessed, and all
views of a batch go through the model in one forward. Per image we keep only the top-k class
indices (as tensors until the end), so ASR toward the given target, and toward the discovered one,
are computed after the pass. Text embeddings are computed once per class set. The image work of
batch k+1 overlaps the forward of batch k (a background thread, or DataLoader workers when cores
are left over by the forward); on CUDA the model runs under fp16 autocast. With open_clip's
standard preprocess a view stays uint8 from decode to batch (``fastpath``): triggers work on
arrays and ToTensor + Normalize run once per batch, giving the per-image path's tensors exactly.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from cleanerclip_tool.attacks.base import Trigger
from cleanerclip_tool.data.images import open_rgb
from cleanerclip_tool.devices import resolve_device
from cleanerclip_tool.errors import BadInputError
from cleanerclip_tool.eval.evalset import EvalSet, named_templates
from cleanerclip_tool.eval.fastpath import BatchPreprocess, split_preprocess
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
    ba: dict[str, float | None]  # None: k > classes
    asr: dict[
        str, float | None
    ]  # None: k > classes or no triggered image counted; toward ``target``, or toward the discovered class with auto
    discovered_target: str
    discovered_share: float  # Top-1 share of that class on triggered images
    seconds: float  # this attack's image work (trigger + preprocess + decode share) + forward share
    asr_target: str = ""  # the class ``asr`` is measured toward
    discovered_clean_share: float = 0.0  # its Top-1 share on clean images
    discovered_growth: float = 0.0  # share - clean share; near 0 means the trigger pulls nowhere
    discovered_asr: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    artefact_sha256: str | None = None
    images_per_second: float = 0.0
    # Where the trigger's settings came from, as the caller (``app.scan``) says: origin, text, flags.
    trigger_source: dict[str, Any] | None = None


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
    clean_seconds: float  # image work of the clean view + its share of the forward time
    clean_images_per_second: float
    views: int = 1  # model inputs per eval image: the clean view + one per attack
    scan_seconds: float = 0.0  # wall time of the whole pass
    scan_images_per_second: float = 0.0  # model inputs (images x views) per wall second
    forward_seconds: float = 0.0  # of which in the model and classifier
    skipped: list[dict[str, Any]] = field(default_factory=list)  # attacks asked for but not run, and why
    # A reference model scanned with the same triggers (``scan --reference``): its spec + its document.
    reference: dict[str, Any] | None = None

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
            "views": self.views,
            "scan_seconds": self.scan_seconds,
            "scan_images_per_second": self.scan_images_per_second,
            "forward_seconds": self.forward_seconds,
            "skipped": self.skipped,
            "reference": self.reference,
        }


class ScanViews(torch.utils.data.Dataset):
    """Per eval sample: the clean view and one view per trigger, all from ONE decode, preprocessed.

    Decoding dominates the image work (a PNG/JPEG decode costs more than most triggers), so the
    clean and the triggered views share it. Each item also carries the seconds spent on each view
    (the decode split evenly), so per-attack time is reported without a pass per attack.

    When ``preprocess`` is open_clip's standard eval transform (``fastpath.split_preprocess``) and
    ``fast`` is on, a view stays a uint8 array from decode to batch: triggers run on the array
    (``Trigger.apply_uint8``), and ToTensor + Normalize run once per batch in :meth:`collate`, with
    the same float32 operations, so the model sees the very tensors the per-image path builds. Any
    other preprocess (or ``fast=False``, the reference path) is called per view on PIL images.
    """

    def __init__(
        self,
        samples: Sequence[tuple[Any, int, int]],
        preprocess: Callable,
        triggers: Sequence[Trigger | None],
        *,
        fast: bool = True,
    ):
        self.samples = list(samples)  # (path, label, index in the eval set)
        self.preprocess = preprocess
        self.triggers = list(triggers)  # None = the clean view
        self.batch_preprocess: BatchPreprocess | None = split_preprocess(preprocess) if fast else None

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[Any, int, np.ndarray]:
        path, label, index = self.samples[i]
        fast = self.batch_preprocess
        started = time.perf_counter()
        image = open_rgb(path)
        array = np.asarray(image, dtype=np.uint8) if fast is not None else None
        decode = (time.perf_counter() - started) / len(self.triggers)
        views: list[Any] = []
        seconds = np.empty(len(self.triggers), dtype=np.float64)
        for v, trigger in enumerate(self.triggers):
            started = time.perf_counter()
            # index in the eval set: the same image gets the same trigger draw in every scan
            if fast is not None:
                view = array if trigger is None else trigger.apply_uint8(array, index)
                views.append(fast.to_uint8(view))
            else:
                views.append(self.preprocess(image if trigger is None else trigger.apply(image, index)))
            seconds[v] = time.perf_counter() - started + decode
        return (np.stack(views) if fast is not None else torch.stack(views)), label, seconds

    def collate(self, items: Sequence[tuple[Any, int, np.ndarray]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Stack a batch: images [n, views, 3, S, S] float, labels [n], seconds [n, views].

        On the fast path the batch's ToTensor + Normalize happen here, once; their time is shared
        evenly by the views (every view is the same number of pixels).
        """
        labels = torch.tensor([item[1] for item in items], dtype=torch.int64)
        seconds = torch.from_numpy(np.stack([item[2] for item in items]))
        if self.batch_preprocess is None:
            return torch.stack([item[0] for item in items]), labels, seconds
        started = time.perf_counter()
        images = self.batch_preprocess.batch(torch.from_numpy(np.stack([item[0] for item in items])))
        seconds += (time.perf_counter() - started) / seconds.numel()
        return images, labels, seconds


class _Prefetcher:
    """Iterate ``loader`` in a background thread, ``depth`` batches ahead.

    With no DataLoader workers the image work of batch k+1 then overlaps the forward of batch k:
    PIL decoding and torch's kernels release the GIL. An exception in the thread is re-raised in
    the caller; closing stops the thread at its next batch.
    """

    _DONE = object()

    def __init__(self, loader: Any, depth: int = 2) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(loader,), name="scan-prefetch", daemon=True)
        self._thread.start()

    def _run(self, loader: Any) -> None:
        try:
            for batch in loader:
                if self._stop.is_set():
                    return
                self._queue.put(batch)
            self._queue.put(self._DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._queue.put(exc)

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self._queue.get()
            if item is self._DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():  # unblock a put() waiting on a full queue
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)
        self._thread.join()


def auto_workers(n_images: int, batch_size: int, device: str = "cpu") -> int:
    """DataLoader worker processes for the image work; 0 = the in-process prefetch thread.

    Workers are not worth their start-up (~0.15 s) for a few batches. On CPU they also only pay
    when a core is left over by the forward's torch threads: otherwise the worker takes a core from
    a forward whose threads wait for each other at every op, and the forward slows by more than the
    image work it hides (measured on 2 busy cores, toy model: a worker made the scan 1.5-2x slower
    than the prefetch thread even with the forward on one thread, and starts in ~0.15 s).
    """
    if n_images < 4 * batch_size:
        return 0
    cores = os.cpu_count() or 1
    if device.startswith("cuda"):
        return max(0, min(8, cores - 1))
    return max(0, min(8, cores - torch.get_num_threads()))


@dataclass
class ViewPredictions:
    """What one pass over the eval samples yields: top-k per image and view, and the timings."""

    topk: np.ndarray  # [N, views, maxk] class indices, best first
    labels: np.ndarray  # [N]
    view_seconds: np.ndarray  # [views]: image work of each view + its share of the forward time
    wall_seconds: float  # the whole pass, first decode to last top-k
    forward_seconds: float  # time in encode_image + classifier (synchronised on CUDA)


def predict_views(
    model: torch.nn.Module,
    classifier: torch.Tensor,
    dataset: ScanViews,
    *,
    maxk: int,
    batch_size: int,
    device: str,
    workers: int,
    task: str = "scan",
    on_event: EventCallback = ignore_event,
) -> ViewPredictions:
    """One pass: every view of a batch of images goes through the model in one forward.

    ``batch_size`` counts model inputs (images x views), so memory does not grow with the number of
    attacks. Top-k indices stay tensors until the end: no per-image Python work in the loop.
    """
    views = len(dataset.triggers)
    per_batch = max(1, batch_size // views)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=per_batch,
        shuffle=False,
        num_workers=workers,
        collate_fn=dataset.collate,
        pin_memory=device.startswith("cuda"),
        persistent_workers=False,
        prefetch_factor=4 if workers > 0 else None,
    )
    batches: Any = loader if workers > 0 else _Prefetcher(loader)
    cuda = device.startswith("cuda")
    k = min(maxk, classifier.shape[1])
    tops: list[torch.Tensor] = []
    labels: list[torch.Tensor] = []
    seconds = torch.zeros(views, dtype=torch.float64)
    forward = 0.0
    done = 0
    started = time.perf_counter()
    on_event(TaskStarted(task, total=len(dataset), description=f"scanning {len(dataset)} images x {views} views"))
    try:
        with torch.inference_mode():
            for images, batch_labels, batch_seconds in batches:
                n = images.shape[0]
                images = images.view(n * views, *images.shape[2:]).to(device, non_blocking=True)
                forward_started = time.perf_counter()
                with torch.autocast("cuda", dtype=torch.float16, enabled=cuda):
                    features = model.encode_image(images)
                features = torch.nn.functional.normalize(features.float(), dim=-1)
                top = (features @ classifier).topk(k, dim=1).indices.view(n, views, k)
                tops.append(top.to("cpu", non_blocking=True))
                if cuda:
                    torch.cuda.synchronize(device)
                forward += time.perf_counter() - forward_started
                labels.append(batch_labels)
                seconds += batch_seconds.sum(dim=0)
                done += n
                on_event(TaskProgress(task, done, len(dataset)))
    finally:
        if isinstance(batches, _Prefetcher):
            batches.close()
    wall = time.perf_counter() - started
    on_event(TaskFinished(task, {"images": done, "views": views, "seconds": round(wall, 3)}))
    # every view is the same number of model inputs: each costs an equal share of the forward time
    view_seconds = (seconds + forward / views).numpy()
    return ViewPredictions(
        torch.cat(tops).numpy() if tops else np.zeros((0, views, k), dtype=np.int64),
        torch.cat(labels).numpy() if labels else np.zeros(0, dtype=np.int64),
        view_seconds,
        wall,
        forward,
    )


def _rates(values: dict[int, float | None]) -> dict[str, float | None]:
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
    fast_preprocess: bool = True,
    targets: Mapping[str, str] | None = None,
    on_event: EventCallback = ignore_event,
) -> ScanReport:
    """Scan ``loaded`` (a LoadedModel: model, preprocess, tokenizer, card) with each trigger.

    ``target=None`` discovers the target per attack and reports ASR toward it; ``templates`` is a
    named open_clip set (``openai``/``simple``), a list of templates, or None for the eval folder's
    ``templates.txt`` (falling back to ``openai``). ``fast_preprocess=False`` forces the per-image
    PIL path (``ScanViews``' reference); the fast path gives the same tensors, only sooner.
    ``targets`` (attack name -> class) measures those attacks' ASR toward their own class instead:
    a reference model is scanned toward the classes the model's scan found.
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
    target_of = {name: eval_set.class_index(cls) for name, cls in (targets or {}).items()}
    samples = select_samples(eval_set, limit, seed)
    workers = auto_workers(len(samples), batch_size, device) if workers is None else workers
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

    dataset = ScanViews(samples, loaded.preprocess, [None, *attacks], fast=fast_preprocess)
    passed = predict_views(
        model, classifier, dataset, maxk=maxk, batch_size=batch_size, device=device, workers=workers, on_event=on_event
    )
    labels = passed.labels
    clean_top = passed.topk[:, 0]
    clean_seconds = float(passed.view_seconds[0])
    ba = _rates(benign_accuracy(clean_top, labels, ks, num_classes))
    results: list[AttackResult] = []
    for view, trigger in enumerate(attacks, start=1):
        trig_top = passed.topk[:, view]
        seconds = float(passed.view_seconds[view])
        found = discover_target(clean_top[:, 0], trig_top[:, 0], num_classes)
        found_asr, found_n = attack_success_rate(trig_top, labels, found.target, ks, asr_convention, num_classes)
        toward = target_of.get(trigger.name, target_index)
        if toward is not None:
            asr, n_triggered = attack_success_rate(trig_top, labels, toward, ks, asr_convention, num_classes)
            asr_target = eval_set.classnames[toward]
        else:
            asr, n_triggered, asr_target = found_asr, found_n, eval_set.classnames[found.target]
        described = trigger.describe()
        results.append(
            AttackResult(
                attack=trigger.name,
                params=described["params"],
                target=eval_set.classnames[toward] if toward is not None else None,
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
                images_per_second=round(len(labels) / seconds, 2) if seconds > 0 else 0.0,
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
        views=1 + len(attacks),
        scan_seconds=round(passed.wall_seconds, 4),
        scan_images_per_second=(
            round(len(labels) * (1 + len(attacks)) / passed.wall_seconds, 2) if passed.wall_seconds > 0 else 0.0
        ),
        forward_seconds=round(passed.forward_seconds, 4),
    )
