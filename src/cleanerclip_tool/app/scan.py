"""The one scan orchestration: load the model, pick the eval set, build the triggers, scan.

``cleanerclip scan`` builds a ``ScanConfig`` from its flags and the TUI's scan pane from its form;
both call ``run_scan``, so defaults (the toy world's test split and trigger settings), artefact
checks and device choice cannot drift apart between them. The config is frozen: a face builds it
once from parsed input, and a variant (the TUI scans the original and the purified model) is a
``dataclasses.replace`` of it, never a mutation another caller could see.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from cleanerclip_tool.attacks import PAPER_ATTACKS
from cleanerclip_tool.errors import BadInputError
from cleanerclip_tool.events import EventCallback, Info, WarningEvent, ignore_event

if TYPE_CHECKING:
    from cleanerclip_tool.app.triggers import TriggerPlan
    from cleanerclip_tool.eval.scan import ScanReport


@dataclass(frozen=True)
class ScanConfig:
    """Everything a scan needs besides the model spec; the defaults are ``cleanerclip scan``'s.

    ``params`` holds per-attack overrides (``app.triggers.parse_params``' result); ``trigger_seed``
    is an explicit ``--seed`` for the triggers, which wins over a seed the model card records (None:
    the recorded one, else ``seed``); ``target`` None discovers the target per attack; ``eval_data``
    None takes the model's default (``app.defaults.default_eval_data``); ``templates`` None takes the
    eval folder's templates.txt, else ``openai`` (or names a file of templates); ``asr_convention``
    is ``exclude`` (CleanCLIP's) or ``include`` (BadCLIP's). ``reference`` names a model (e.g.
    ``toy:clean``) scanned with the very same triggers, eval images, templates and targets as the
    model: the clean floor beside its ASR.
    """

    attacks: tuple[str, ...] = PAPER_ATTACKS
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    trigger: Path | None = None
    topk: tuple[int, ...] = (1, 3, 5, 10)
    target: str | None = None
    limit: int | None = None
    batch_size: int = 128
    workers: int | None = None
    device: str = "auto"
    seed: int = 0
    trigger_seed: int | None = None
    templates: str | None = None
    asr_convention: str = "exclude"
    eval_data: Path | None = None
    classnames: Path | None = None
    arch: str | None = None
    trust_checkpoint: bool = False
    # Leave out (and name) the attacks a non-toy model has no artefact for, instead of refusing the
    # scan: ``--attack all`` means every attack that can run.
    skip_missing_artefacts: bool = False
    reference: str | None = None

    def __post_init__(self) -> None:
        # Freeze the containers too, so a config handed to a worker thread cannot change under it.
        object.__setattr__(self, "attacks", tuple(self.attacks))
        object.__setattr__(self, "topk", tuple(self.topk))
        frozen = {name: MappingProxyType(dict(values)) for name, values in self.params.items()}
        object.__setattr__(self, "params", MappingProxyType(frozen))


def run_scan(model: str, config: ScanConfig, *, on_event: EventCallback = ignore_event) -> ScanReport:
    """Scan MODEL spec ``model`` as ``config`` says; return the ``eval.scan.ScanReport``.

    Cheap input errors (a missing ``--trigger`` file, a bad device) come before the model is loaded;
    a non-toy model without eval data or without an attack's artefact fails right after, and so
    does a ``config.reference`` that does not load (it is loaded before the long scan starts). Each
    result's ``trigger_source`` says where its trigger settings came from (``app.triggers``); with a
    reference, ``report.reference`` is ``{"spec", **its scan document}`` over the same triggers,
    measured toward the class each attack's ASR of the model was measured toward.
    """
    if config.trigger is not None and not Path(config.trigger).is_file():
        raise BadInputError("trigger file not found", where=config.trigger)
    from cleanerclip_tool.app.defaults import default_eval_data
    from cleanerclip_tool.app.triggers import ARTEFACT_HOWTO, artefact_howto, plan_triggers
    from cleanerclip_tool.devices import resolve_device
    from cleanerclip_tool.eval.evalset import load_eval_set
    from cleanerclip_tool.models.load import load_model

    device = resolve_device(config.device)
    opts = {"arch": config.arch, "trust_checkpoint": config.trust_checkpoint, "device": device, "on_event": on_event}
    loaded = load_model(model, **opts)
    reference = load_model(config.reference, **opts) if config.reference is not None else None
    eval_data = config.eval_data if config.eval_data is not None else default_eval_data(loaded.card, on_event=on_event)
    eval_set = load_eval_set(eval_data, classnames_file=config.classnames)
    plan = plan_triggers(
        loaded.card,
        config.attacks,
        overrides=config.params,
        trigger_file=config.trigger,
        seed=config.seed,
        trigger_seed=config.trigger_seed,
        skip_missing=config.skip_missing_artefacts,
    )
    if plan.skipped:
        on_event(
            WarningEvent(
                f"skipped {', '.join(plan.skipped)}: a non-toy model needs their trigger artefact; to scan "
                f"{'it' if len(plan.skipped) == 1 else 'them'}: {artefact_howto(plan.skipped)}"
            )
        )
    templates: Any = config.templates
    if templates is not None and templates not in ("openai", "simple"):
        from cleanerclip_tool.eval.evalset import read_templates

        templates = read_templates(Path(templates))  # a file, for a read-only eval folder
    report = _scan_one(loaded, eval_set, plan, config, templates, device, on_event)
    del loaded
    if reference is not None:
        on_event(Info(f"reference {config.reference}: the same triggers, images and targets"))
        targets = {row.attack: row.asr_target for row in report.results}
        ref_report = _scan_one(reference, eval_set, plan, config, templates, device, on_event, targets=targets)
        ref_doc = ref_report.to_dict()
        ref_doc.pop("reference", None)
        report.reference = {"spec": config.reference, **ref_doc}
    report.skipped = [
        {"attack": name, "reason": "needs a trigger artefact", "howto": ARTEFACT_HOWTO.get(name)}
        for name in plan.skipped
    ]
    return report


def _scan_one(
    loaded: Any,
    eval_set: Any,
    plan: TriggerPlan,
    config: ScanConfig,
    templates: Any,
    device: str,
    on_event: EventCallback,
    *,
    targets: Mapping[str, str] | None = None,
) -> ScanReport:
    """One model through ``eval.scan.scan`` with the plan's triggers; each row gets its source."""
    from cleanerclip_tool.eval.scan import scan

    report = scan(
        loaded,
        eval_set,
        plan.triggers,
        target=config.target,
        targets=targets,
        topk=config.topk,
        limit=config.limit,
        batch_size=config.batch_size,
        device=device,
        workers=config.workers,
        seed=config.seed,
        templates=templates,
        asr_convention=config.asr_convention,
        on_event=on_event,
    )
    if templates is not config.templates:
        report.templates = str(config.templates)
    for row in report.results:
        row.trigger_source = plan.sources.get(row.attack)
    return report


__all__ = ["ScanConfig", "run_scan"]
