"""Frozen run configurations: the one home of defaults.

The CLI, the TUI and the TOML loader each build one ``PurifyConfig``; everything below receives
explicit values. Defaults are the CleanerCLIP paper's: batch 64, 10 epochs, AdamW
with weight decay 0.1 and betas (0.9, 0.999), λ1 = 1, τ− = 0.3; values the paper lost are marked
as reconstructions where they are used.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from cleanerclip_tool.errors import BadInputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

Method = Literal["cleanerclip", "cleanclip", "ft", "par"]
Precision = Literal["amp", "bf16", "fp32"]
NegativeSet = Literal["batch", "own"]

# The readings of the CFA loss whose equations the paper lost (docs/cfa-study.md, "Readings"). The
# first value of each is the default and reproduces docs/cfa-reconstruction.md exactly.
NEGATIVE_SETS: tuple[str, ...] = ("batch", "own")  # L_I2T's negatives: every row of S in the batch, or i's own
CFA_SIDES: tuple[str, ...] = ("both", "text", "image")  # which tower L_CFA trains (the other is detached)
CFA_T2I: tuple[str, ...] = ("batch_images", "own_negative", "batch_and_own")  # L_T2I's negatives
CFA_TEMPERATURES: tuple[str, ...] = ("replace", "scale", "scale_divide")  # s/τ, e^t·τ·s, e^t·s/τ
CFA_FORMS: tuple[str, ...] = ("softmax", "binary")  # InfoNCE, or a logistic (NCE) term per pair
# one summed loss; CleanCLIP and CFA-only steps in turn; or CFA-only steps passing S about once per epoch
CFA_SCHEDULES: tuple[str, ...] = ("joint", "alternate", "interleave")

#: The config fields that choose a reading of the CFA loss, with their allowed values.
CFA_READINGS: dict[str, tuple[str, ...]] = {
    "negative_set": NEGATIVE_SETS,
    "cfa_side": CFA_SIDES,
    "cfa_t2i": CFA_T2I,
    "cfa_temperature": CFA_TEMPERATURES,
    "cfa_form": CFA_FORMS,
    "cfa_schedule": CFA_SCHEDULES,
}

METHODS: tuple[str, ...] = ("cleanerclip", "cleanclip", "ft", "par")
PRECISIONS: tuple[str, ...] = ("amp", "bf16", "fp32")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class PurifyConfig:
    """Everything a purification run needs besides the model and the data."""

    method: str = "cleanerclip"
    # CFA: K captions drawn at random from the whole set each epoch [paper §3.3, §4.1].
    samples: int = 1000
    lambda1: float = 1.0  # [paper] weight of the CleanCLIP objective
    lambda2: float = 1.0  # [reconstructed] weight of the CFA loss
    tau_pos: float = 0.5  # [reconstructed] τ+ ≥ τ−; the paper's value was lost
    tau_neg: float = 0.3  # [paper] "a τ− of 0.3 yields strong defense performance"
    negative_set: str = "batch"  # [reconstructed] negatives: own sub-caption or all in S
    # [reconstructed] Readings of the lost CFA equations, each defended in docs/cfa-study.md; the
    # defaults are the reconstruction of docs/cfa-reconstruction.md.
    cfa_side: str = "both"  # "text": image features enter L_CFA without gradient; "image": the reverse
    cfa_t2i: str = "batch_images"  # L_T2I's negatives: other images of the batch, i's own negative, or both
    cfa_temperature: str = "replace"  # logits s/τ; "scale": e^t·τ·s; "scale_divide": e^t·s/τ (e^t: model's)
    cfa_form: str = "softmax"  # InfoNCE over positive + negatives; "binary": -log σ per positive / negative
    # λ1·L_CleanCLIP + λ2·L_CFA each step; "alternate": CleanCLIP steps and CFA-only steps on batches
    # of S in turn; "interleave": CFA-only steps spread over the epoch, passing S about once
    cfa_schedule: str = "joint"
    clip_weight: float = 1.0  # [CleanCLIP code] weights inside L_CleanCLIP
    inmodal_weight: float = 1.0
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-5  # [CleanCLIP README fine-tune recipe]; the paper's value was lost
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    warmup: int = 10_000  # steps of linear warmup before cosine decay [paper]
    # Warmup as a share of the run's epochs; when set it replaces ``warmup`` (PAR's recipe: 0.5).
    warmup_epochs: float | None = None
    lr_start: float | None = None  # learning rate at warmup step 0; unset: CleanCLIP's ramp from ~0
    lr_end: float = 0.0  # where the cosine ends
    # PAR: a distance term whose batch mean exceeds this stops pushing [PAR code, --loss-thresh].
    par_threshold: float = 2.15
    grad_clip: float | None = 1.0
    accum_steps: int = 1
    precision: str = "amp"
    device: str = "auto"
    workers: int = 2
    seed: int = 0
    checkpoint_every: int = 500  # steps; a checkpoint is also written at each epoch end
    keep_checkpoints: int = 1  # newest checkpoints kept; an older one goes only after the new one reads back
    max_bad_steps: int = 20  # non-finite losses tolerated (each skips its step) before the run stops
    max_skipped_fraction: float = 0.5  # above this share of bad rows the data is wrong, not noisy: stop
    # This many unreadable rows one after another means a broken folder (an unmounted disk, the wrong
    # root), not noise: stop with a message instead of training on substitutes.
    max_bad_rows_in_a_row: int = 50
    # On out-of-memory, lower the batch to the largest size a probe found to fit and go on (warning that
    # the contrastive objective changed: fewer in-batch negatives) instead of stopping with the advice.
    auto_batch: bool = False
    out: str | None = None
    spacy_model: str | None = None
    wordbanks: str | None = None
    image_key: str = "filepath"
    caption_key: str = "title"
    csv_separator: str | None = None  # None: sniffed from the header (open_clip_train's TSV, or CSV)
    extra: dict[str, Any] = field(default_factory=dict)

    def problems(self) -> dict[str, str]:
        """Every bad value, as field name -> message; empty when the config is valid.

        The one home of the range rules: ``validate`` raises from it, and the TUI marks each message on
        its form field instead of parsing a joined string back apart. A message that covers two fields
        is listed under each of them that is wrong.
        """
        problems: dict[str, str] = {}
        if self.method not in METHODS:
            problems["method"] = f"method must be one of {', '.join(METHODS)} (got {self.method!r})"
        if self.precision not in PRECISIONS:
            problems["precision"] = f"precision must be one of {', '.join(PRECISIONS)} (got {self.precision!r})"
        if self.device not in DEVICES and not str(self.device).startswith("cuda:"):
            problems["device"] = f"device must be auto, cpu, cuda or cuda:N (got {self.device!r})"
        for name, allowed in CFA_READINGS.items():
            value = getattr(self, name)
            if value not in allowed:
                choices = ", ".join(repr(a) for a in allowed[:-1]) + f" or {allowed[-1]!r}"
                problems[name] = f"{name} must be {choices} (got {value!r})"
        for name in ("tau_pos", "tau_neg", "lr", "par_threshold"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                problems[name] = f"{name} must be > 0 (got {value})"
        for name in ("lambda1", "lambda2", "clip_weight", "inmodal_weight", "weight_decay"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                problems[name] = f"{name} must be >= 0 (got {value})"
        for name in (
            "samples",
            "epochs",
            "batch_size",
            "accum_steps",
            "checkpoint_every",
            "keep_checkpoints",
            "max_bad_steps",
            "max_bad_rows_in_a_row",
        ):
            if getattr(self, name) < 1:
                problems[name] = f"{name} must be >= 1 (got {getattr(self, name)})"
        if not (math.isfinite(self.max_skipped_fraction) and 0 <= self.max_skipped_fraction <= 1):
            problems["max_skipped_fraction"] = (
                f"max_skipped_fraction must be in [0, 1] (got {self.max_skipped_fraction})"
            )
        for name in ("warmup", "workers"):
            if getattr(self, name) < 0:
                problems[name] = "warmup and workers must be >= 0"
        for name in ("warmup_epochs", "lr_start"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                problems[name] = f"{name} must be >= 0 or unset (got {value})"
        if not (math.isfinite(self.lr_end) and self.lr_end >= 0):
            problems["lr_end"] = f"lr_end must be >= 0 (got {self.lr_end})"
        if self.csv_separator not in (None, ",", "\t", "\\t", "tab", ";", "|"):
            problems["csv_separator"] = (
                f"csv_separator must be ',', '\\t' (tab), ';' or '|' (got {self.csv_separator!r})"
            )
        if not isinstance(self.auto_batch, bool):
            problems["auto_batch"] = f"auto_batch must be true or false (got {self.auto_batch!r})"
        if self.grad_clip is not None and not self.grad_clip > 0:
            problems["grad_clip"] = f"grad_clip must be > 0 or unset (got {self.grad_clip})"
        return problems

    def validate(self) -> PurifyConfig:
        """Raise ``BadInputError`` listing every bad value (from ``problems``); return self for chaining."""
        # dict.fromkeys: a message shared by two fields (warmup and workers) is said once.
        messages = list(dict.fromkeys(self.problems().values()))
        if messages:
            raise BadInputError("; ".join(messages), where="config")
        return self

    @classmethod
    def for_method(cls, method: str, **changes: Any) -> PurifyConfig:
        """The defaults with ``method``'s own recipe (``METHOD_DEFAULTS``) under ``changes``."""
        return cls(**{**METHOD_DEFAULTS.get(method, {}), "method": method, **changes})

    def with_method(self, method: str) -> PurifyConfig:
        """Switch to ``method``: each recipe setting still at the old method's default takes the new
        method's (what a user picking PAR in a form expects), and a setting the user changed stays."""
        old, new = PurifyConfig.for_method(self.method), PurifyConfig.for_method(method)
        keys = set(METHOD_DEFAULTS.get(self.method, {})) | set(METHOD_DEFAULTS.get(method, {}))
        changes = {k: getattr(new, k) for k in sorted(keys) if getattr(self, k) == getattr(old, k)}
        return self.replace(method=method, **changes)

    def replace(self, **changes: Any) -> PurifyConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: A method's published recipe where it differs from the defaults above. Applied beneath a TOML file
#: and flags (``build_purify_config``, ``PurifyConfig.for_method``), so each value can be overridden.
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    # PAR [PAR code, train.py / trigger.sh]: AdamW betas (0.9, 0.98), weight decay 1e-4; lr 3e-5 falling
    # linearly to the peak 3e-6 over half an epoch, then cosine to 1e-9; 2 epochs. (Their batch, 256 per
    # GPU, is left to --batch-size.)
    "par": {
        "epochs": 2,
        "lr": 3e-6,
        "lr_start": 3e-5,
        "lr_end": 1e-9,
        "warmup_epochs": 0.5,
        "beta2": 0.98,
        "weight_decay": 1e-4,
    },
}


def config_field_names(cls: type = PurifyConfig) -> set[str]:
    return {f.name for f in fields(cls)}


def default_of(name: str, cls: type = PurifyConfig) -> Any:
    """The default of one config field, for the places that need it before a config exists.

    Command-line options and library signatures read it from here so that a default is written
    once, on the dataclass, and cannot drift between the CLI, the TUI and the library.
    """
    for f in fields(cls):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
            raise KeyError(f"{cls.__name__}.{name} has no default")
    raise KeyError(f"{cls.__name__} has no field {name!r}")


def load_toml(path: str | Path, section: str = "purify") -> dict[str, Any]:
    """Read one section of a cleanerclip TOML file (a missing section means the whole file)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise BadInputError("config file not found", where=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise BadInputError(f"not valid TOML: {exc}", where=path) from None
    table = doc.get(section, doc)
    if not isinstance(table, dict):
        raise BadInputError(f"[{section}] must be a table", where=path)
    return table


def build_purify_config(toml_path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> PurifyConfig:
    """Defaults, then the method's recipe (``METHOD_DEFAULTS``), then the TOML file, then explicit overrides
    (flags win); validated."""
    values: dict[str, Any] = {}
    known = config_field_names()
    if toml_path is not None:
        table = load_toml(toml_path)
        unknown = sorted(set(table) - known)
        if unknown:
            raise BadInputError(f"unknown setting(s) {', '.join(unknown)}", where=toml_path)
        values.update(table)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    values = {**METHOD_DEFAULTS.get(values.get("method", default_of("method")), {}), **values}
    try:
        config = PurifyConfig(**values)
    except TypeError as exc:
        raise BadInputError(str(exc), where=toml_path or "config") from None
    return config.validate()


def dump_toml(config: PurifyConfig, section: str = "purify") -> str:
    """The TOML text ``build_purify_config`` reads back (used by the TUI's Save and by reports)."""
    lines = [f"[{section}]"]
    for key, value in config.to_dict().items():
        if value is None or key == "extra":
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float)):
            text = repr(value)
        else:
            text = '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"
