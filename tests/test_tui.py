"""TUI: the form's validation (library rules, per field), the before/after table, the recent list, and a Pilot check."""

from __future__ import annotations

import asyncio

import pytest

from cleanerclip_tool.config import PurifyConfig
from cleanerclip_tool.tui.screens.configure import FIELDS, field_errors
from cleanerclip_tool.tui.screens.scan import COLUMNS, comparison_rows


def form(**changes: str) -> dict[str, str]:
    defaults = PurifyConfig()
    values = {f.name: "" if getattr(defaults, f.name) is None else str(getattr(defaults, f.name)) for f in FIELDS}
    values["out"] = "out"
    values.update(changes)
    return values


def test_defaults_are_valid_and_build_the_config() -> None:
    errors, config = field_errors(form(), rows=None)
    assert errors == {}
    assert config == PurifyConfig(out="out")


@pytest.mark.parametrize(
    ("field", "text", "needle"),
    [
        ("tau_pos", "0", "tau_pos must be > 0"),
        ("tau_neg", "-1", "tau_neg must be > 0"),
        ("samples", "x", "integer"),
        ("lr", "nan", "finite"),
        ("epochs", "0", "epochs must be >= 1"),
        ("out", "", "required"),
        ("workers", "-1", "workers"),
        ("warmup", "-1", "warmup"),
        ("cfa_side", "sideways", "cfa_side must be"),
    ],
)
def test_bad_values_are_marked_on_their_field(field: str, text: str, needle: str) -> None:
    errors, config = field_errors(form(**{field: text}), rows=None)
    assert config is None
    assert needle in errors[field]


def test_data_size_checks_once_data_is_loaded() -> None:
    errors, config = field_errors(form(samples="30", batch_size="8"), rows=24)
    assert config is None and "larger than the data (24 rows)" in errors["samples"]
    errors, _ = field_errors(form(samples="8", batch_size="32"), rows=24)
    assert "batch size 32" in errors["batch_size"]


def test_comparison_rows_put_before_and_after_side_by_side() -> None:
    def report(ba: float, asr: float) -> dict:
        return {
            "results": [
                {
                    "attack": "badnet",
                    "asr_target": "heart",
                    "target": None,
                    "ba": {"1": ba, "5": 1.0},
                    "asr": {"1": asr, "5": asr},
                }
            ]
        }

    rows = comparison_rows({"before": report(0.5, 0.9), "after": report(0.45, 0.1)})
    assert rows == [
        ("badnet", "before", "heart", "50.0", "100.0", "90.0", "90.0"),
        ("badnet", "after", "heart", "45.0", "100.0", "10.0", "10.0"),
        ("badnet", "change", "heart", "-5.0", "+0.0", "-80.0", "-80.0"),
    ]
    assert len(rows[0]) == len(COLUMNS)
    only_before = comparison_rows({"before": report(0.5, 0.9)})
    assert only_before == [
        ("badnet", "before", "heart", "50.0", "100.0", "90.0", "90.0"),
        ("badnet", "after", "heart", "-", "-", "-", "-"),
    ]


def test_recent_models_are_kept_newest_first(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CLEANERCLIP_CACHE", str(tmp_path))
    from cleanerclip_tool.tui.state import read_recent, remember_recent

    remember_recent("toy:clean")
    remember_recent("/m/a")
    assert remember_recent("toy:clean") == ["toy:clean", "/m/a"]
    assert read_recent() == ["toy:clean", "/m/a"]
    (tmp_path / "tui-recent.json").write_text("{broken")
    assert read_recent() == []


def test_pilot_tau_zero_marks_field_and_disables_start(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CLEANERCLIP_CACHE", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    from cleanerclip_tool.tui.app import CleanerClipApp

    async def drive() -> None:
        app = CleanerClipApp()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("f3")
            await pilot.pause()
            assert app.query_one("TabbedContent").active == "configure"
            app.query_one("#f-out").value = str(tmp_path / "out")
            app.query_one("#f-tau_pos").value = "0"
            await pilot.pause()
            assert app.query_one("#row-tau_pos").has_class("invalid")
            assert "tau_pos must be > 0" in str(app.query_one("#e-tau_pos").render())
            assert app.query_one("#start").disabled
            app.query_one("#f-tau_pos").value = "0.5"
            await pilot.pause()
            assert not app.query_one("#row-tau_pos").has_class("invalid")
            assert app.query_one("#start").disabled  # still: no model and no data yet
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert "saved" in str(app.query_one("#config-status").render()), app.focused
        assert "tau_pos = 0.5" in (tmp_path / "cleanerclip-tui.toml").read_text()

    asyncio.run(drive())


def test_form_edits_a_copy_of_its_base_config() -> None:
    base = PurifyConfig(seed=7, checkpoint_every=3, inmodal_weight=0.5)
    errors, config = field_errors(form(epochs="2"), rows=None, base=base)
    assert errors == {}
    assert (config.seed, config.checkpoint_every, config.inmodal_weight, config.epochs) == (7, 3, 0.5, 2)
    # a bad value that has no field on the form is still refused, shown on the first field
    errors, config = field_errors(form(), rows=None, base=PurifyConfig(grad_clip=-1.0))
    assert config is None and "grad_clip" in errors[FIELDS[0].name]


def test_pilot_load_then_save_keeps_settings_that_are_not_on_the_form(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CLEANERCLIP_CACHE", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    from cleanerclip_tool.config import build_purify_config
    from cleanerclip_tool.tui.app import CleanerClipApp

    toml = tmp_path / "cleanerclip-tui.toml"
    toml.write_text(
        '[purify]\nseed = 7\ncheckpoint_every = 3\nnegative_set = "own"\nspacy_model = "sm"\n'
        'epochs = 4\nout = "runs/a"\n'
    )

    async def drive() -> None:
        app = CleanerClipApp()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("f3")
            await pilot.pause()
            await pilot.press("ctrl+l")
            await pilot.pause()
            assert app.query_one("#f-epochs").value == "4"
            app.query_one("#f-epochs").value = "5"
            await pilot.pause()
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert "saved" in str(app.query_one("#config-status").render())

    asyncio.run(drive())
    saved = build_purify_config(toml)
    assert (saved.seed, saved.checkpoint_every, saved.negative_set, saved.spacy_model) == (7, 3, "own", "sm")
    assert (saved.epochs, saved.out) == (5, "runs/a")


def test_pilot_start_applies_the_purify_data_checks(tmp_path, monkeypatch) -> None:
    """Data the CLI's purify refuses (too many bad rows) does not start a run from the TUI either."""
    monkeypatch.setenv("CLEANERCLIP_CACHE", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    from types import SimpleNamespace

    from cleanerclip_tool.data.captions import CaptionRow, CaptionTable, SkippedRow
    from cleanerclip_tool.tui.app import CleanerClipApp

    rows = [CaptionRow(line, tmp_path / f"{line}.png", "a caption", f"{line}.png") for line in (2, 3)]
    bad = [SkippedRow(line, f"{line}.png", "missing") for line in (5, 7, 9)]
    table = CaptionTable(tmp_path / "captions.csv", tmp_path, "filepath", "title", rows, bad)

    async def drive() -> None:
        app = CleanerClipApp()
        async with app.run_test(size=(80, 24)) as pilot:
            app.session.loaded, app.session.table = SimpleNamespace(card=None), table
            await pilot.press("f3")
            await pilot.pause()
            app.query_one("#f-out").value = str(tmp_path / "out")
            app.query_one("#f-method").value = "ft"
            app.query_one("#f-batch_size").value = "2"
            await pilot.pause()
            errors = [f.name for f in FIELDS if str(app.query_one(f"#e-{f.name}").render())]
            assert not app.query_one("#start").disabled, errors
            await pilot.press("ctrl+t")
            await pilot.pause()
            status = str(app.query_one("#config-status").render())
            assert "data check failed" in status and "3 of 5 rows are bad" in status, status
            assert app.query_one("TabbedContent").active == "configure"
            assert not app.query_one("RunScreen").running
        assert (tmp_path / "out" / "skipped.csv").is_file()

    asyncio.run(drive())


def test_with_method_takes_the_new_recipe_where_the_old_defaults_stand() -> None:
    from cleanerclip_tool.config import METHOD_DEFAULTS

    par = PurifyConfig().with_method("par")
    assert {k: getattr(par, k) for k in METHOD_DEFAULTS["par"]} == METHOD_DEFAULTS["par"]
    typed = PurifyConfig(lr=5e-4).with_method("par")
    assert typed.lr == 5e-4 and typed.epochs == METHOD_DEFAULTS["par"]["epochs"]  # what the user set stays
    assert par.with_method("cleanerclip") == PurifyConfig()


def test_pilot_picking_par_fills_in_its_recipe(tmp_path, monkeypatch) -> None:
    """The method list offers PAR; picking it shows PAR's learning rate and epochs on the form and keeps
    its schedule (lr_start, lr_end, warmup_epochs) in the config the run gets."""
    monkeypatch.setenv("CLEANERCLIP_CACHE", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    from cleanerclip_tool.config import METHOD_DEFAULTS
    from cleanerclip_tool.tui.app import CleanerClipApp

    assert "par" in next(f for f in FIELDS if f.name == "method").choices
    recipe = METHOD_DEFAULTS["par"]

    async def drive() -> None:
        app = CleanerClipApp()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("f3")
            await pilot.pause()
            app.query_one("#f-epochs").value = "7"  # typed by the user: kept
            app.query_one("#f-method").value = "par"
            await pilot.pause()
            assert app.query_one("#f-lr").value == str(recipe["lr"])
            assert app.query_one("#f-epochs").value == "7"
            app.query_one("#f-out").value = str(tmp_path / "out")
            await pilot.pause()
            config = app.session.config
            assert config is not None and config.method == "par"
            assert (config.lr_start, config.lr_end, config.warmup_epochs) == (
                recipe["lr_start"],
                recipe["lr_end"],
                recipe["warmup_epochs"],
            )

    asyncio.run(drive())


def test_every_cfa_reading_is_a_choice_on_the_form() -> None:
    from cleanerclip_tool.config import CFA_READINGS

    on_form = {f.name: f.choices for f in FIELDS}
    assert {name: on_form.get(name) for name in CFA_READINGS} == CFA_READINGS
    errors, config = field_errors(form(cfa_schedule="alternate", cfa_side="text"), rows=None)
    assert errors == {} and (config.cfa_schedule, config.cfa_side) == ("alternate", "text")
