"""The README.md of a saved model: a Hugging Face model card, written with ``huggingface_hub``.

``save_model`` writes it next to the weights and ``cleanerclip push`` writes it again with what
only a push knows (the repository, a license, the before/after scan). The card is built from the
model's ``cleanerclip_card.json`` alone, so it says nothing the folder cannot prove: the starting
model's provenance, every setting of the purification that changed the weights, the clean data's
size and hash, the versions that ran it, the weights' sha256.

The YAML header is ``huggingface_hub.ModelCardData``: ``library_name: open_clip`` (the Hub's
"Use this model" snippet and search), ``base_model`` when the starting model came from the Hub (so
the Hub lists this model under its base's fine-tunes), ``tags`` and ``license``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from cleanerclip_tool.models.card import ModelCard

BASE_TAGS: tuple[str, ...] = ("clip", "open_clip", "cleanerclip", "backdoor-defense")

#: Purification settings in the card's order: (history key, label in the card).
PURIFY_SETTINGS: tuple[tuple[str, str], ...] = (
    ("method", "method"),
    ("samples", "K (CFA samples per epoch)"),
    ("lambda1", "λ1 (CleanCLIP loss weight)"),
    ("lambda2", "λ2 (CFA loss weight)"),
    ("tau_pos", "τ+ (positive sub-captions)"),
    ("tau_neg", "τ− (negative sub-captions)"),
    ("negative_set", "negative set"),
    ("cfa_t2i", "CFA text-to-image negatives"),
    ("cfa_side", "CFA trains (tower)"),
    ("cfa_temperature", "CFA temperature reading"),
    ("cfa_form", "CFA loss form"),
    ("cfa_schedule", "CFA schedule"),
    ("epochs", "epochs"),
    ("steps", "optimizer steps run"),
    ("batch_size", "batch size (per process, at the end)"),
    ("batch_size_requested", "batch size asked for"),
    ("lr", "peak learning rate"),
    ("warmup", "warmup steps"),
    ("lr_schedule", "learning-rate schedule"),
    ("weight_decay", "weight decay"),
    ("precision", "precision"),
    ("seed", "seed"),
    ("spacy_model", "spaCy model (sub-captions)"),
    ("wordbanks", "word banks"),
    ("synonym_source", "EDA synonym source"),
)

_TEMPLATE = "---\n{{ card_data }}\n---\n\n{{ body }}\n"


def last_purify(card: ModelCard) -> dict[str, Any] | None:
    """The newest purification recorded in the card's history, if any."""
    return next((h for h in reversed(card.history) if h.get("action") == "purify"), None)


def base_model_of(card: ModelCard) -> dict[str, Any]:
    """Where the weights started: the purify run's record of its input, else the card's own source."""
    entry = last_purify(card)
    if entry and isinstance(entry.get("base"), dict):
        return dict(entry["base"])
    return {"source": card.source, "kind": card.kind, "revision": card.revision}


def hub_repo_of(base: Mapping[str, Any]) -> str | None:
    """The Hub repository id of a starting model (``hf-hub:org/name[@rev]`` or a recorded ``hub_repo``)."""
    if base.get("hub_repo"):
        return str(base["hub_repo"]).strip("/")
    source = str(base.get("source") or "")
    if source.startswith("hf-hub:"):
        return source[len("hf-hub:") :].partition("@")[0].strip("/") or None
    return None


def render_model_card(
    card: ModelCard,
    *,
    repo_id: str | None = None,
    license: str | None = None,
    scan: Mapping[str, Any] | None = None,
    extra_tags: Sequence[str] = (),
) -> str:
    """The model card's text: YAML metadata (``huggingface_hub.ModelCardData``) and the Markdown body.

    ``scan`` is a scan report as ``cleanerclip scan --report`` writes it (``report.json``): its
    models' BA / ASR per attack become the before/after table. ``license`` falls back to the
    license the starting model's card named (recorded at purify time).
    """
    from huggingface_hub import ModelCard as HubModelCard
    from huggingface_hub import ModelCardData

    base = base_model_of(card)
    entry = last_purify(card)
    attacks = sorted({str(r["attack"]) for m in _scan_models(scan) for r in m.get("results", [])})
    tags = list(dict.fromkeys([*BASE_TAGS, *(f"method:{entry['method']}" for e in [entry] if e), *extra_tags]))
    tags += [f"scanned:{a}" for a in attacks if f"scanned:{a}" not in tags]
    data = ModelCardData(
        base_model=hub_repo_of(base),
        library_name="open_clip",
        license=license or base.get("license") or None,
        tags=tags,
        pipeline_tag="zero-shot-image-classification",
    )
    body = "\n".join(_body(card, base, entry, repo_id=repo_id, scan=scan))
    return HubModelCard.from_template(data, template_str=_TEMPLATE, body=body).content


def _body(
    card: ModelCard,
    base: dict[str, Any],
    entry: dict[str, Any] | None,
    *,
    repo_id: str | None,
    scan: Mapping[str, Any] | None,
) -> list[str]:
    name = repo_id or card.architecture
    lines = [f"# {name}", ""]
    if entry:
        lines += [
            f"`{base.get('source')}` fine-tuned by [cleanerclip](https://pypi.org/project/cleanerclip/) "
            f"(`cleanerclip purify`) with **{entry.get('method')}** to remove a data-poisoning backdoor.",
        ]
    else:
        lines += [f"Saved by cleanerclip from `{card.source}` ({card.kind}); no purification is recorded."]
    lines += ["", "## Model", "", "| | |", "|---|---|"]
    lines += _rows(
        [
            ("architecture", f"`{card.architecture}`"),
            ("parameters", f"{card.parameters:,}"),
            ("weights", "`open_clip_model.safetensors`"),
            ("weights sha256", f"`{card.sha256}`"),
        ]
    )
    lines += ["", "## Starting model", "", "| | |", "|---|---|"]
    hub = hub_repo_of(base)
    lines += _rows(
        [
            ("source", f"`{base.get('source')}`"),
            ("kind", base.get("kind")),
            ("Hub repository", f"[{hub}](https://huggingface.co/{hub})" if hub else None),
            ("revision", f"`{base['revision']}`" if base.get("revision") else None),
            ("architecture", f"`{base['architecture']}`" if base.get("architecture") else None),
            ("weights sha256", f"`{base['sha256']}`" if base.get("sha256") else None),
            ("license", base.get("license")),
        ]
    )
    if entry:
        lines += ["", "## Purification", "", "| setting | value |", "|---|---|"]
        lines += _rows([(label, _fmt(entry.get(key))) for key, label in PURIFY_SETTINGS])
        for change in entry.get("batch_size_changes") or []:
            lines.append(
                f"\nThe batch size was lowered from {change.get('from')} to {change.get('to')} at step "
                f"{change.get('step')} ({change.get('reason')}): fewer in-batch negatives from there on."
            )
        data = entry.get("data") or {}
        poisoning = entry.get("poisoning") or {}
        if data:
            heading = "Training data (a poisoned set)" if poisoning else "Clean data"
            lines += ["", f"### {heading}", "", "| | |", "|---|---|"]
            lines += _rows(
                [
                    ("caption file", f"`{_name(data.get('csv'))}`"),
                    ("rows used", data.get("rows")),
                    ("rows skipped", data.get("skipped")),
                    ("caption file sha256", f"`{data.get('sha256')}`"),
                ]
            )
        if poisoning:
            lines += ["", "### Poisoning in that data", "", "| | |", "|---|---|"]
            lines += _rows(
                [
                    ("attack", poisoning.get("attack")),
                    ("target", poisoning.get("target")),
                    ("poisoned rows", poisoning.get("count")),
                    ("trigger parameters", f"`{json.dumps(poisoning.get('trigger_params'), default=str)}`"),
                    ("trigger seed", poisoning.get("trigger_seed")),
                    ("artefact sha256", f"`{poisoning.get('artefact_sha256')}`"),
                    ("manifest sha256", f"`{poisoning.get('manifest_sha256')}`"),
                ]
            )
        versions = entry.get("versions") or {}
        if versions:
            lines += ["", "### Software", "", "| | |", "|---|---|"]
            lines += _rows([(k, f"`{v}`") for k, v in versions.items()])
    if scan is not None:
        lines += ["", *_scan_section(scan)]
    earlier = [h for h in card.history if h is not entry]
    if earlier:
        lines += ["", "## Earlier history", ""]
        for i, h in enumerate(earlier, 1):
            title = h.get("action") or h.get("method") or "step"
            lines.append(f"{i}. **{title}** ({h.get('saved', 'undated')})")
            for key, value in h.items():
                if key not in ("action", "saved"):
                    lines.append(f"   - {key}: `{json.dumps(value, default=str)}`")
    spec = f"hf-hub:{repo_id}" if repo_id else "local-dir:/path/to/this/folder"
    lines += [
        "",
        "## Use",
        "",
        "```python",
        "import open_clip",
        "",
        f"model, _, preprocess = open_clip.create_model_and_transforms({json.dumps(spec)})",
        f"tokenizer = open_clip.get_tokenizer({json.dumps(spec)})",
        "```",
        "",
        "Check it yourself (exit 3 when a trigger still works):",
        "",
        "```bash",
        f"cleanerclip scan {spec} --eval-data VAL_DIR --attack badnet,blended,sig,wanet --fail-above 0.2",
        "```",
    ]
    return lines


def _scan_models(scan: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The scans of a report: ``{"scans": [...]}`` (``scan --report``) or one ``scan --json`` document."""
    if not scan:
        return []
    if isinstance(scan.get("scans"), list):
        return list(scan["scans"])
    return [scan]


def _scan_section(scan: Mapping[str, Any]) -> list[str]:
    scans = _scan_models(scan)
    if not scans:
        return []
    labels = [str(s.get("label") or s.get("model", {}).get("source", f"model {i + 1}")) for i, s in enumerate(scans)]
    title = "## Backdoor scan: before and after" if len(scans) > 1 else "## Backdoor scan"
    lines = [title, "", "Top-1 rates in % (BA: clean accuracy; ASR: share of triggered images sent to the target)."]
    lines += ["", "| attack | " + " | ".join(f"{h} ({lab})" for lab in labels for h in ("BA@1", "ASR@1")) + " |"]
    lines.append("|---|" + "---|" * (2 * len(scans)))
    attacks = list(dict.fromkeys(str(r["attack"]) for s in scans for r in s.get("results", [])))
    for attack in attacks:
        cells = []
        for s in scans:
            row = next((r for r in s.get("results", []) if r["attack"] == attack), None)
            cells += [_pct(row, "ba"), _pct(row, "asr")] if row else ["", ""]
        lines.append(f"| {attack} | " + " | ".join(cells) + " |")
    first = scans[-1]
    lines += [
        "",
        f"Eval data: `{_name(first.get('eval_data'))}`, {first.get('classes')} classes; "
        f"{first.get('asr_convention_note', '')}.",
    ]
    return lines


def _pct(row: Mapping[str, Any], key: str) -> str:
    value = (row.get(key) or {}).get("1")
    return "" if value is None else f"{100 * value:.1f}"


def _rows(pairs: list[tuple[str, Any]]) -> list[str]:
    return [f"| {k} | {v} |" for k, v in pairs if v not in (None, "", "`None`")]


def _fmt(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return ", ".join(f"{k} `{v}`" for k, v in value.items() if v is not None)
    return f"`{value}`"


def _name(path: Any) -> str:
    """A file's name, not the author's home folder: a card is public."""
    from pathlib import PurePath

    return PurePath(str(path)).name if path else ""


__all__ = ["BASE_TAGS", "base_model_of", "hub_repo_of", "last_purify", "render_model_card"]
