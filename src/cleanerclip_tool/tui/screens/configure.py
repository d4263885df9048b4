"""Configure pane: the PurifyConfig fields as a form; every value is checked by the library's own validate()."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Collapsible, Input, Label, Select, Static

from cleanerclip_tool.config import CFA_READINGS, METHODS, PRECISIONS, PurifyConfig
from cleanerclip_tool.tui.messages import StartRun

DEFAULT_TOML = "cleanerclip-tui.toml"


@dataclass(frozen=True)
class Field:
    name: str  # PurifyConfig attribute
    label: str
    kind: type  # int, float or str
    choices: tuple[str, ...] = ()  # a Select instead of an Input
    folded: bool = False  # in the collapsed "CFA reading" section under the buttons


FIELDS: tuple[Field, ...] = (
    Field("method", "method", str, METHODS),
    Field("samples", "samples K", int),
    Field("lambda1", "λ1", float),
    Field("lambda2", "λ2", float),
    Field("tau_pos", "τ+", float),
    Field("tau_neg", "τ−", float),
    Field("epochs", "epochs", int),
    Field("batch_size", "batch size", int),
    Field("lr", "learning rate", float),
    # On the form because its default (10,000 steps, the paper's) is longer than a short run: with
    # it a one-epoch run on a small set trains at a tiny fraction of the learning rate.
    Field("warmup", "warmup steps", int),
    Field("workers", "data workers", int),
    Field("device", "device", str),
    Field("precision", "precision", str, PRECISIONS),
    Field("out", "out folder", str),
    # Readings of the lost CFA equations (docs/cfa-study.md), folded away under the buttons: the
    # defaults are the reconstruction, and the study is what changes them.
    Field("negative_set", "I2T negatives", str, CFA_READINGS["negative_set"], folded=True),
    Field("cfa_t2i", "T2I negatives", str, CFA_READINGS["cfa_t2i"], folded=True),
    Field("cfa_side", "trains (tower)", str, CFA_READINGS["cfa_side"], folded=True),
    Field("cfa_temperature", "temperature", str, CFA_READINGS["cfa_temperature"], folded=True),
    Field("cfa_form", "loss form", str, CFA_READINGS["cfa_form"], folded=True),
    Field("cfa_schedule", "schedule", str, CFA_READINGS["cfa_schedule"], folded=True),
)


def field_errors(
    values: dict[str, str], rows: int | None, base: PurifyConfig | None = None
) -> tuple[dict[str, str], PurifyConfig | None]:
    """Per-field messages for the form's text values, and the config when there are none.

    Parsing is the form's job; range rules come from ``PurifyConfig.problems`` so the TUI can never
    accept what the CLI would refuse. The form edits a copy of ``base`` (the loaded TOML, else the
    defaults): settings that have no field on the form are kept, not reset. ``rows`` (usable data
    rows, if loaded) adds the engine's data-size checks.
    """
    errors: dict[str, str] = {}
    parsed: dict[str, Any] = {}
    for f in FIELDS:
        text = values.get(f.name, "").strip()
        if f.kind is str:
            parsed[f.name] = text or None
            continue
        try:
            value = f.kind(text)
        except ValueError:
            errors[f.name] = f"not a{'n integer' if f.kind is int else ' number'}: {text!r}"
            continue
        if f.kind is float and not math.isfinite(value):
            errors[f.name] = "must be a finite number"
            continue
        parsed[f.name] = value
    if not parsed.get("out"):
        errors["out"] = "an output folder is required"
    if parsed.get("device") is None:
        parsed["device"] = "auto"
    if errors:
        return errors, None
    config = (base or PurifyConfig()).replace(**parsed)
    for name, problem in config.problems().items():
        # A setting that is not on the form (from a loaded TOML) is reported on the first field.
        errors.setdefault(name if name in values else FIELDS[0].name, problem)
    if rows is not None and not errors:
        if config.method == "cleanerclip" and config.samples > rows:
            errors["samples"] = f"samples K={config.samples} is larger than the data ({rows} rows)"
        if config.batch_size > rows:
            errors["batch_size"] = f"batch size {config.batch_size} is larger than the data ({rows} rows)"
    return errors, (None if errors else config)


class ConfigureScreen(VerticalScroll):
    PANE_KEYS: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("ctrl+t", "start", "Start"),
        ("ctrl+s", "save", "Save TOML"),
        ("ctrl+l", "load", "Load TOML"),
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # What the form edits: the defaults, or the config last loaded from a TOML file. Its values
        # that have no field on the form go through Save unchanged.
        self.base = PurifyConfig()
        self.method = self.base.method  # the method whose recipe the form shows

    def compose(self) -> ComposeResult:
        yield from self.field_rows(f for f in FIELDS if not f.folded)
        with Horizontal(classes="row"):
            yield Label("TOML file", classes="field-label")
            yield Input(DEFAULT_TOML, id="toml-path", compact=True)
        with Horizontal(classes="row buttons"):
            yield Button("Start", id="start", variant="success", compact=True, disabled=True)
            yield Button("Save", id="save", compact=True)
            yield Button("Load", id="load-toml", compact=True)
        yield Static("", id="config-status", classes="status")
        with Collapsible(title="CFA reading (docs/cfa-study.md)", collapsed=True, id="cfa-reading"):
            yield from self.field_rows(f for f in FIELDS if f.folded)

    def field_rows(self, fields: Iterable[Field]) -> ComposeResult:
        for f in fields:
            with Horizontal(classes="field", id=f"row-{f.name}"):
                yield Label(f.label, classes="field-label")
                value = getattr(self.base, f.name)
                if f.choices:
                    yield Select(
                        [(c, c) for c in f.choices], value=value, allow_blank=False, id=f"f-{f.name}", compact=True
                    )
                else:
                    yield Input("" if value is None else str(value), id=f"f-{f.name}", compact=True)
                yield Static("", classes="field-error", id=f"e-{f.name}")

    def on_mount(self) -> None:
        self.revalidate()

    # --- form <-> config ----------------------------------------------------------------------
    def values(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for f in FIELDS:
            widget = self.query_one(f"#f-{f.name}")
            blank = isinstance(widget, Select) and widget.value is Select.BLANK
            out[f.name] = "" if blank else str(widget.value)
        return out

    def fill(self, config: PurifyConfig) -> None:
        for f in FIELDS:
            value = getattr(config, f.name)
            widget = self.query_one(f"#f-{f.name}")
            widget.value = value if isinstance(widget, Select) else ("" if value is None else str(value))
        self.revalidate()

    def suggest_out(self, model_spec: str) -> None:
        """An out folder named after the model, filled only while the field is empty."""
        box = self.query_one("#f-out", Input)
        if not box.value.strip():
            stem = Path(model_spec.split(":")[-1]).name or "model"
            box.value = f"purified-{stem}"

    def revalidate(self) -> PurifyConfig | None:
        session = getattr(self.app, "session", None)
        table = getattr(session, "table", None)
        errors, config = field_errors(self.values(), len(table.rows) if table is not None else None, self.base)
        for f in FIELDS:
            message = errors.get(f.name, "")
            self.query_one(f"#e-{f.name}", Static).update(message)
            self.query_one(f"#row-{f.name}").set_class(bool(message), "invalid")
        missing = [what for what, ok in (("a model", session and session.loaded), ("data", table)) if not ok]
        start = self.query_one("#start", Button)
        start.disabled = config is None or bool(missing)
        if config is None:
            self.set_status(f"{len(errors)} field(s) need fixing before Start")
        elif missing:
            self.set_status(f"form is valid; resolve {' and '.join(missing)} before Start")
        else:
            self.set_status("ready: Start (ctrl+t) trains in the Run pane")
        if session is not None:
            session.config = config
        return config

    @on(Select.Changed, "#f-method")
    def _method_changed(self, event: Select.Changed) -> None:
        """Picking a method with its own recipe (PAR) fills in that recipe where the form still shows
        the previous method's defaults; values the user typed stay."""
        new = str(event.value)
        if new == self.method or event.value is Select.BLANK:
            return
        old_defaults, new_defaults = PurifyConfig.for_method(self.method), PurifyConfig.for_method(new)
        self.base = self.base.replace(method=self.method).with_method(new)
        for f in FIELDS:
            widget = self.query_one(f"#f-{f.name}")
            shows_old_default = isinstance(widget, Input) and widget.value.strip() == str(getattr(old_defaults, f.name))
            if f.name != "method" and shows_old_default:
                widget.value = str(getattr(new_defaults, f.name))
        self.method = new

    @on(Input.Changed)
    @on(Select.Changed)
    def _changed(self, event: Input.Changed | Select.Changed) -> None:
        if event.control.id != "toml-path":
            self.revalidate()

    # --- actions -------------------------------------------------------------------------------
    def action_start(self, resume: bool = False) -> None:
        config = self.revalidate()
        if config is None or self.query_one("#start", Button).disabled:
            self.set_status("Start is disabled: fix the marked fields (and resolve model and data) first")
            return
        from cleanerclip_tool.app.preflight import preflight
        from cleanerclip_tool.errors import CleanerClipError
        from cleanerclip_tool.tui.messages import describe_error

        try:
            # The data checks ``cleanerclip purify`` makes (too many bad rows, a run of them): a run
            # on data the CLI would refuse must not start here either.
            warnings: list = []
            config = preflight(self.app.session.table, config, Path(config.out), on_event=warnings.append)
        except CleanerClipError as exc:
            self.set_status(f"data check failed: {describe_error(exc)}")
            return
        if warnings:
            self.set_status("; ".join(w.message for w in warnings))
        self.post_message(StartRun(config, resume=resume))

    def action_save(self) -> None:
        from cleanerclip_tool.config import dump_toml

        config = self.revalidate()
        if config is None:
            self.set_status("cannot save: fix the marked fields first")
            return
        path = Path(self.query_one("#toml-path", Input).value.strip() or DEFAULT_TOML)
        try:
            path.write_text(dump_toml(config), encoding="utf-8")
        except OSError as exc:
            self.set_status(f"cannot write {path}: {exc}")
            return
        self.set_status(f"saved {path}")

    def action_load(self) -> None:
        from cleanerclip_tool.config import build_purify_config
        from cleanerclip_tool.errors import BadInputError

        path = Path(self.query_one("#toml-path", Input).value.strip() or DEFAULT_TOML)
        try:
            config = build_purify_config(path)
        except BadInputError as exc:
            self.set_status(str(exc))
            return
        self.base, self.method = config, config.method
        self.fill(config)
        self.set_status(f"loaded {path}")

    @on(Button.Pressed, "#start")
    def _start_pressed(self) -> None:
        self.action_start()

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#load-toml")
    def _load_pressed(self) -> None:
        self.action_load()

    def set_status(self, text: str) -> None:
        self.query_one("#config-status", Static).update(text)
