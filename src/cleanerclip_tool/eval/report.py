"""One renderer for the reports people look at: ``scan --report`` and ``cleanerclip demo``.

A report is a ``ReportDoc``: a title, a few lines of context, a Table-1-style table of BA / ASR
per row (attacks for a scan, defenses for the demo) and per model (one column group for a single
scan, before/after for two), extra Markdown sections and charts. ``render_markdown`` writes
``report.md``; ``write_bar_chart`` the PNG of BA@1 and ASR@1 per row, one bar per model;
``write_line_chart`` the demo's per-epoch curves. Rates are percent here (the paper's unit).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Cell:
    """BA and ASR of one model on one row, percent by k (``{"1": 97.3, ...}``)."""

    row: str
    series: str
    ba: dict[str, float | None]
    asr: dict[str, float | None]
    note: str = ""  # e.g. "→ heart", shown after the rates


@dataclass
class ReportDoc:
    title: str
    intro: list[str]
    row_label: str  # "attack" or "Defense"
    topk: list[str]
    series: list[str]  # model labels, in column / bar order
    cells: list[Cell]
    sections: list[tuple[str, list[str]]] = field(default_factory=list)  # (heading, Markdown lines)
    charts: list[tuple[str, str]] = field(default_factory=list)  # (alt text, file name next to report.md)
    ba_label: str | None = None  # BA does not depend on the row (a scan's clean images): one bar group so named
    asr_threshold: float | None = None  # a gate's --fail-above, in %: drawn across the ASR panel

    @property
    def rows(self) -> list[str]:
        return list(dict.fromkeys(c.row for c in self.cells))

    def cell(self, row: str, series: str) -> Cell | None:
        return next((c for c in self.cells if c.row == row and c.series == series), None)


def _fmt(value: float | None) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1f}"


def render_markdown(doc: ReportDoc) -> str:
    """``report.md``: the table (one line per row and model), the charts, the extra sections."""
    ks = doc.topk
    many = len(doc.series) > 1
    head = [doc.row_label, *(["model"] if many else []), *(f"BA@{k}" for k in ks), *(f"ASR@{k}" for k in ks)]
    notes = any(c.note for c in doc.cells)
    if notes:
        head.append("ASR toward")
    lines = [f"# {doc.title}", "", *doc.intro, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in doc.rows:
        for series in doc.series:
            cell = doc.cell(row, series)
            if cell is None:
                continue
            cells = [row, *([series] if many else [])]
            cells += [_fmt(cell.ba.get(k)) for k in ks] + [_fmt(cell.asr.get(k)) for k in ks]
            if notes:
                cells.append(cell.note)
            lines.append("| " + " | ".join(cells) + " |")
    for alt, name in doc.charts:
        lines += ["", f"![{alt}]({name})"]
    for heading, body in doc.sections:
        lines += ["", f"## {heading}", "", *body]
    return "\n".join(lines) + "\n"


def write_bar_chart(doc: ReportDoc, path: Path, *, k: str = "1") -> Path:
    """BA@k and ASR@k per row, one bar per model (before/after side by side), values on the bars."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed; must precede pyplot's import
    import matplotlib.pyplot as plt
    import numpy as np

    rows = doc.rows
    width = 0.8 / max(1, len(doc.series))
    ba_rows = [rows[0]] if doc.ba_label else rows
    fig, axes = plt.subplots(
        1,
        2,
        figsize=(max(7.0, 1.1 * (len(rows) + len(ba_rows)) + 3), 4),
        constrained_layout=True,
        gridspec_kw={"width_ratios": [max(len(ba_rows), 1.5), max(len(rows), 1.5)]},
    )
    colors = ["#c0392b", "#2e86c1", "#27ae60", "#8e44ad", "#d68910"]
    panels = (("ba", f"BA@{k} (%)", ba_rows), ("asr", f"ASR@{k} (%)", rows))
    for ax, (metric, title, panel_rows) in zip(axes, panels, strict=True):
        x = np.arange(len(panel_rows))
        for i, series in enumerate(doc.series):
            values = []
            for row in panel_rows:
                cell = doc.cell(row, series)
                value = getattr(cell, metric).get(k) if cell else None
                values.append(float("nan") if value is None else value)
            offset = (i - (len(doc.series) - 1) / 2) * width
            bars = ax.bar(x + offset, values, width, label=series, color=colors[i % len(colors)])
            labels = ["" if math.isnan(v) else f"{v:.0f}" for v in values]
            ax.bar_label(bars, labels=labels, fontsize=7, padding=1)
        ax.set_title(title)
        names = [doc.ba_label] if metric == "ba" and doc.ba_label else panel_rows
        tilt = len(names) > 4
        ax.set_xticks(x, names, rotation=30 if tilt else 0, ha="right" if tilt else "center")
        ax.set_ylim(0, 109)
        ax.grid(axis="y", alpha=0.3)
    if doc.asr_threshold is not None:
        axes[1].axhline(doc.asr_threshold, color="black", linestyle="--", linewidth=1, label="gate threshold")
    if len(doc.series) > 1 or doc.asr_threshold is not None:
        axes[1].legend(fontsize=8, loc="upper right")
    fig.suptitle(doc.title, fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_line_chart(
    path: Path,
    title: str,
    series: Sequence[tuple[str, Sequence[int], dict[str, Sequence[float]]]],
    panels: Sequence[tuple[str, str]],
) -> Path:
    """Curves per epoch: ``series`` is (label, epochs, {key: values}); one panel per (key, title)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), constrained_layout=True, squeeze=False)
    for label, epochs, values in series:
        for ax, (key, _title) in zip(axes[0], panels, strict=True):
            ax.plot(list(epochs), list(values.get(key, [])), marker="o", label=label)
    for ax, (_key, panel_title) in zip(axes[0], panels, strict=True):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(panel_title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


__all__ = ["Cell", "ReportDoc", "render_markdown", "write_bar_chart", "write_line_chart"]
