"""Trigger inversion for every face: load the model (and a clean reference), pick its eval images,
run ``eval.detect.detect``. ``cleanerclip detect`` and the TUI's Detect action both call this."""

from __future__ import annotations

import re
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


def trigger_png_path(model: str, directory: str | Path | None = None) -> Path:
    """The default PNG: ``detect-<model>-trigger.png`` in ``directory`` (the working directory when None).

    The spec is made file-name safe; purify's ``OUT/model`` folder is named after ``OUT``.
    """
    path = Path(model.rstrip("/"))
    name = path.parent.name if path.name == "model" and path.parent.name else path.name
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name or model).strip("-.") or "model"
    return Path(directory or "") / f"detect-{stem}-trigger.png"


def write_pngs(report: Any, png: str | Path) -> Any:
    """Write the report's inverted trigger to ``png`` and its preview beside it (``-preview.png``); fill both paths."""
    from cleanerclip_tool.eval.detect import write_preview_png, write_trigger_png

    png = Path(png)
    report.trigger_png = str(write_trigger_png(report, png))
    report.preview_png = str(write_preview_png(report, png.with_name(png.stem + "-preview.png")))
    return report


def detect_models(
    models: dict[str, str],
    eval_path: str | None,
    on_event: EventCallback,
    stop: threading.Event | None = None,
    out_dir: str | Path | None = None,
) -> dict[str, dict[str, Any]]:
    """``{"before": spec, "after": dir}`` -> the detect report of each, as the TUI shows it.

    Each model's inverted trigger is written like the CLI writes it (``trigger_png_path`` in
    ``out_dir``, the working directory when None); the reports carry the paths.
    """
    reports: dict[str, dict[str, Any]] = {}
    for which, spec in models.items():
        report = run_detect(spec, eval_data=eval_path, device="cpu", stop=stop, on_event=on_event)
        if stop is not None and stop.is_set():
            break
        png = trigger_png_path(spec, out_dir)
        if which != "before" and any(r.get("trigger_png") == str(png) for r in reports.values()):
            png = png.with_name(f"detect-{which}-{png.name.removeprefix('detect-')}")  # two models, one name
        reports[which] = write_pngs(report, png).to_dict()
    return reports
