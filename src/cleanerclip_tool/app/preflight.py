"""Preflight: is this data set fit to train on with this config? Answered before any model loads.

A run that would stop at step 900 because a sub-folder of images is missing, or that would quietly
train on a third of the rows, wastes the user's time; the checks here read only the caption table
(and, with ``strict``, decode every image) and stop early with a report, ``skipped.csv``, in the
output folder. They live in the application layer so that every face applies them: the CLI's
``purify`` and the TUI's Start both call ``preflight``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cleanerclip_tool.errors import BadInputError
from cleanerclip_tool.events import EventCallback, WarningEvent, ignore_event


def preflight(
    table: Any, config: Any, out_dir: Path, *, strict: bool = False, on_event: EventCallback = ignore_event
) -> Any:
    """Every data-against-config check of a purify run, in the CLI's order; the config to run with.

    ``table`` is a ``data.captions.CaptionTable``, ``config`` a ``PurifyConfig``. Raises ``DataError``
    (too many bad rows, a run of them, or any with ``strict``; ``skipped.csv`` is written to
    ``out_dir`` first). Settings that do not fit the data are fitted to it with a ``WarningEvent``
    each (CleanerCLIP's K and the batch size lowered to the usable rows), or refused with
    ``BadInputError`` under ``strict``; so is a warmup longer than half the run, which the engine
    would otherwise shorten (``engine.schedule.fit_warmup``).
    """
    check_skipped(
        table,
        out_dir,
        strict=strict,
        max_fraction=config.max_skipped_fraction,
        max_in_a_row=config.max_bad_rows_in_a_row,
    )
    return fit_to_data(config, len(table), strict=strict, on_event=on_event)


def fit_to_data(config: Any, rows: int, *, strict: bool = False, on_event: EventCallback = ignore_event) -> Any:
    """``config`` with K and the batch size no larger than ``rows``; see ``preflight``."""
    from cleanerclip_tool.engine.schedule import fit_warmup, warmup_message

    def fit(field: str, flag: str, value: int, message: str) -> None:
        nonlocal config
        if strict:
            raise BadInputError(f"{message} (--strict)", where=flag)
        on_event(WarningEvent(f"{message}; using {value} (pass {flag} to choose, --strict to refuse)"))
        # The value asked for goes to the run's notes (the model card) beside the one used.
        requested = {**config.extra.get("requested", {}), field: getattr(config, field)}
        config = config.replace(**{field: value}, extra={**config.extra, "requested": requested})

    if config.method == "cleanerclip" and config.samples > rows > 0:
        fit(
            "samples", "--samples", rows, f"samples K={config.samples} is larger than the data set ({rows} usable rows)"
        )
    if config.batch_size > rows > 0:
        fit("batch_size", "--batch-size", rows, f"batch size {config.batch_size} is larger than the {rows} usable rows")
    total = (rows // config.batch_size) // config.accum_steps * config.epochs
    if strict and fit_warmup(config.warmup, total) != config.warmup:
        message = warmup_message(config.warmup, fit_warmup(config.warmup, total), total).split("; using")[0]
        raise BadInputError(f"{message} (--strict)", where="--warmup")
    return config


def longest_run(lines: list[int]) -> tuple[int, int]:
    """(length, first line) of the longest run of consecutive CSV line numbers in ``lines``."""
    best, best_start, run, start, previous = 0, 0, 0, 0, None
    for line in sorted(set(lines)):
        run, start = (run + 1, start) if previous is not None and line == previous + 1 else (1, line)
        if run > best:
            best, best_start = run, start
        previous = line
    return best, best_start


def check_skipped(
    table: object, out_dir: Path, *, strict: bool, max_fraction: float, max_in_a_row: int | None = None
) -> None:
    """Stop before training when the data is too broken to train on; write ``skipped.csv`` first.

    Too broken means more than ``max_fraction`` of the rows, or ``max_in_a_row`` consecutive rows
    (a missing sub-folder, an unmounted disk), are bad.

    ``--strict`` also decodes every image now (the run would otherwise find bad images only when it
    draws them, and substitute them), so the report is complete before any model is loaded.
    """
    from cleanerclip_tool.data.captions import SkippedRow, write_skipped_csv
    from cleanerclip_tool.data.images import open_rgb
    from cleanerclip_tool.errors import DataError

    skipped = list(table.skipped)  # type: ignore[attr-defined]
    rows = table.rows  # type: ignore[attr-defined]
    if strict:
        for row in rows:
            try:
                open_rgb(row.image)
            except DataError as exc:
                skipped.append(SkippedRow(row.line, row.relpath, exc.message))
        skipped.sort(key=lambda r: r.line)
    total = len(rows) + len(table.skipped)  # type: ignore[attr-defined]
    share = len(skipped) / total if total else 0.0
    run, run_start = longest_run([r.line for r in skipped])
    in_a_row = max_in_a_row is not None and run >= max_in_a_row
    if not skipped or (not strict and share <= max_fraction and not in_a_row):
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    report = write_skipped_csv(skipped, out_dir / "skipped.csv")
    where = table.csv_path  # type: ignore[attr-defined]
    if strict:
        raise DataError(
            f"--strict: {len(skipped)} bad row(s), first at line {skipped[0].line}; see {report}", where=where
        )
    if in_a_row and share <= max_fraction:
        raise DataError(
            f"{run} bad rows in a row (lines {run_start}-{run_start + run - 1}; max_bad_rows_in_a_row "
            f"{max_in_a_row}); see {report}",
            where=where,
            hint="fix the data (a missing folder?) or raise --max-bad-rows-in-a-row",
        )
    raise DataError(
        f"{len(skipped)} of {total} rows are bad ({share:.0%} > max_skipped_fraction {max_fraction}); see {report}",
        where=where,
        hint="fix the data or raise --max-skipped-fraction",
    )


__all__ = ["check_skipped", "fit_to_data", "longest_run", "preflight"]
