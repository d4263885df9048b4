"""Trigger inversion for every face: load the model (and a clean reference), pick its eval images,
run ``eval.detect.detect``. ``cleanerclip detect`` and the TUI's Detect action both call this."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from cleanerclip_tool.app.defaults import default_eval_data
from cleanerclip_tool.events import EventCallback, ignore_event


def run_detect(
    spec: str,
    *,
    config: Any = None,
    eval_data: str | Path | None = None,
    classnames: Path | None = None,
    templates: str | None = None,
    reference: str | None = None,
    device: str = "auto",
    arch: str | None = None,
    trust_checkpoint: bool = False,
    stop: threading.Event | None = None,
    on_event: EventCallback = ignore_event,
) -> Any:
    """The ``DetectReport`` of the model ``spec``; a toy model defaults to the toy world's test split.

    ``config`` is an ``eval.detect.DetectConfig`` (its defaults when None).
    """
    from cleanerclip_tool.devices import resolve_device
    from cleanerclip_tool.eval.detect import DetectConfig, detect, load_detect_images
    from cleanerclip_tool.models.load import load_model

    cfg = config or DetectConfig()
    device = resolve_device(device)
    opts = {"arch": arch, "trust_checkpoint": trust_checkpoint, "device": device, "on_event": on_event}
    loaded = load_model(spec, **opts)
    ref = load_model(reference, **opts) if reference is not None else None
    if eval_data is None:
        eval_data = default_eval_data(loaded.card, on_event=on_event)
    images = load_detect_images(
        eval_data,
        loaded.preprocess,
        classnames_file=classnames,
        templates=templates,
        max_images=cfg.max_images,
        seed=cfg.seed,
        on_event=on_event,
    )
    return detect(loaded, images, config=cfg, reference=ref, device=device, stop=stop, on_event=on_event)


def detect_models(
    models: dict[str, str], eval_path: str | None, on_event: EventCallback, stop: threading.Event | None = None
) -> dict[str, dict[str, Any]]:
    """``{"before": spec, "after": dir}`` -> the detect report of each (no PNG written), as the TUI shows it."""
    reports: dict[str, dict[str, Any]] = {}
    for which, spec in models.items():
        reports[which] = run_detect(spec, eval_data=eval_path, device="cpu", stop=stop, on_event=on_event).to_dict()
        if stop is not None and stop.is_set():
            break
    return reports
