"""``scan --report DIR``: the scan (or the before/after pair of scans) as files people look at.

``report.json`` holds every scan document as ``scan --json`` prints it, labelled, plus the gate's
verdict; ``report.md`` and ``chart.png`` (BA@1 and ASR@1 per attack, before/after bars when two
models were scanned) come from the renderer the demo uses too (``eval.report``). ``cleanerclip
push --scan DIR`` puts the same numbers in the model card.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any

REPORT_SCHEMA = "cleanerclip-scan-report/1"


def model_label(report: Mapping[str, Any]) -> str:
    """A short name for a scanned model: ``toy:badnet``, ``hf-hub:org/name``, a folder's last two parts."""
    source = str(report.get("model", {}).get("source") or "model")
    if ":" in source and not Path(source).exists():
        return source
    parts = PurePath(source).parts
    return "/".join(parts[-2:]) if len(parts) > 1 else source


def labels_for(reports: Sequence[Mapping[str, Any]]) -> list[str]:
    labels = [model_label(r) for r in reports]
    if len(set(labels)) < len(labels):
        labels = [f"{label} ({i + 1})" for i, label in enumerate(labels)]
    return labels


def scan_report_doc(
    reports: Sequence[Mapping[str, Any]], labels: Sequence[str], gate: Mapping[str, Any] | None = None
) -> Any:
    """The scans as the shared renderer's ``ReportDoc``: one row per attack, one series per model."""
    from cleanerclip_tool.eval.report import Cell, ReportDoc

    ks = [str(k) for k in reports[-1]["topk"]]
    last, judged = reports[-1], labels[-1]  # the gate judges the last model, never its reference
    reports, labels = with_references(reports, labels)
    cells = []
    for label, report in zip(labels, reports, strict=True):
        for row in report["results"]:
            toward = row["target"] if row.get("target") is not None else f"{row.get('asr_target')} (auto)"
            cells.append(
                Cell(
                    row["attack"],
                    label,
                    {k: _pct(row["ba"].get(k)) for k in ks},
                    {k: _pct(row["asr"].get(k)) for k in ks},
                    note=toward,
                )
            )
    title = "Backdoor scan: " + (" vs ".join(labels) if len(labels) > 1 else labels[0])
    intro = [
        f"Rates in % on `{last['eval_data']}` ({last['classes']} classes, templates {last['templates']}); "
        f'{last["asr_convention_note"]}. ASR toward "(auto)" is toward the class the trigger pulls to most.',
    ]
    discovery = ["| attack | model | pulls Top-1 toward | clean share | triggered share | growth |"]
    discovery.append("|---|---|---|---|---|---|")
    for attack in dict.fromkeys(c.row for c in cells):
        for label, report in zip(labels, reports, strict=True):
            row = next((r for r in report["results"] if r["attack"] == attack), None)
            if row is None:
                continue
            discovery.append(
                f"| {row['attack']} | {label} | {row['discovered_target']} | "
                f"{100 * row.get('discovered_clean_share', 0.0):.1f} | {100 * row['discovered_share']:.1f} | "
                f"{100 * row.get('discovered_growth', 0.0):+.1f} |"
            )
    triggers = ["| attack | seed | parameters | artefact sha256 | settings from |", "|---|---|---|---|---|"]
    for row in last["results"]:
        params = json.dumps(row.get("params", {}), default=str, sort_keys=True)
        source = (row.get("trigger_source") or {}).get("text", "")
        triggers.append(
            f"| {row['attack']} | {row.get('seed')} | `{params}` | {row.get('artefact_sha256') or ''} | {source} |"
        )
    models = ["| model | source | weights sha256 | device |", "|---|---|---|---|"]
    for label, report in zip(labels, reports, strict=True):
        model = report.get("model", {})
        models.append(f"| {label} | `{model.get('source')}` | `{model.get('sha256')}` | {report.get('device')} |")
    sections = [("Target discovery", discovery), ("Triggers", triggers), ("Models", models)]
    if gate is not None:
        verdict = "passed" if gate["passed"] else f"**failed** (exit {gate['exit_code']})"
        rule = []
        if gate.get("fail_above") is not None:
            rule.append(f"`--fail-above {gate['fail_above']}` on {gate['fail_metric']}")
        if gate.get("fail_on_discovery") is not None:
            rule.append(f"`--fail-on-discovery {gate['fail_on_discovery']}`")
        body = [f"{judged}: {verdict} ({', '.join(rule)})", ""] + [f"- {line}" for line in gate["failures"]]
        sections.insert(0, ("Gate", body))
    return ReportDoc(
        title=title,
        intro=intro,
        row_label="attack",
        topk=ks,
        series=list(labels),
        cells=cells,
        sections=sections,
        charts=[("BA@1 and ASR@1 per attack", "chart.png")],
        ba_label="clean images",  # a scan's BA is measured once per model, not per attack
        asr_threshold=_pct(gate["fail_above"]) if gate and gate.get("fail_metric") == "asr@1" else None,
    )


def with_references(
    reports: Sequence[Mapping[str, Any]], labels: Sequence[str]
) -> tuple[list[Mapping[str, Any]], list[str]]:
    """The scans with each ``--reference`` scan after its model's, labelled ``toy:clean (ref)`` (or,
    with two models, ``toy:clean (ref of LABEL)``: each model's reference ran that model's triggers)."""
    out_reports: list[Mapping[str, Any]] = []
    out_labels: list[str] = []
    for label, report in zip(labels, reports, strict=True):
        out_reports.append(report)
        out_labels.append(label)
        reference = report.get("reference")
        if reference:
            out_reports.append(reference)
            name = str(reference.get("spec") or model_label(reference))
            out_labels.append(f"{name} (ref)" if len(reports) == 1 else f"{name} (ref of {label})")
    return out_reports, out_labels


def scans_document(reports: Sequence[Mapping[str, Any]], gate: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What ``scan --json`` / ``--out`` print: one scan's document (with ``gate`` when one ran), or,
    for two models, ``{"schema", "scans": [labelled documents], "gate"}`` as in ``report.json``."""
    if len(reports) == 1:
        return {**reports[0], **({"gate": gate} if gate is not None else {})}
    labels = labels_for(reports)
    return {
        "schema": REPORT_SCHEMA,
        "scans": [{"label": label, **report} for label, report in zip(labels, reports, strict=True)],
        "gate": gate,
    }


def write_scan_report(
    folder: Path,
    reports: Sequence[Mapping[str, Any]],
    *,
    gate: Mapping[str, Any] | None = None,
    chart: bool = True,
) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and ``chart.png`` into ``folder``; return their paths."""
    from cleanerclip_tool.eval.report import render_markdown, write_bar_chart

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    labels = labels_for(reports)
    doc = scan_report_doc(reports, labels, gate)
    files = {"json": folder / "report.json", "markdown": folder / "report.md"}
    if chart:
        files["chart"] = write_bar_chart(doc, folder / "chart.png")
    else:
        doc.charts = []
    document = {
        "schema": REPORT_SCHEMA,
        "scans": [{"label": label, **report} for label, report in zip(labels, reports, strict=True)],
        "gate": gate,
    }
    files["json"].write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    files["markdown"].write_text(render_markdown(doc), encoding="utf-8")
    return files


def _pct(value: float | None) -> float | None:
    return None if value is None else 100 * value


__all__ = [
    "REPORT_SCHEMA",
    "labels_for",
    "model_label",
    "scan_report_doc",
    "scans_document",
    "with_references",
    "write_scan_report",
]
