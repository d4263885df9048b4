"""``cleanerclip scan MODEL``: Top-k BA / ASR under built-in triggers, with target discovery."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cleanerclip_tool.attacks.toy import toy_trigger_defaults  # re-exported: tests and the TUI import it here
from cleanerclip_tool.cli.common import console, handle_errors, parse_int_list, print_json
from cleanerclip_tool.cli.options import ArchOpt, DeviceOpt, JsonOpt, ModelArg, TrustOpt
from cleanerclip_tool.cli.render import EventRenderer
from cleanerclip_tool.errors import BadInputError


def parse_params(items: list[str] | None, attacks: list[str]) -> dict[str, dict[str, Any]]:
    """``--param [attack.]name=value`` (value as JSON, else text) -> {attack: {name: value}}."""
    from cleanerclip_tool.attacks import trigger_class

    out: dict[str, dict[str, Any]] = {a: {} for a in attacks}
    for item in items or []:
        if "=" not in item:
            raise BadInputError(f"expected NAME=VALUE, got {item!r}", where="--param")
        key, raw = item.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        scope, _, name = key.strip().rpartition(".")
        targets = [scope] if scope else attacks
        if scope and scope not in attacks:
            raise BadInputError(f"--param for {scope!r}, which is not among the attacks", where="--param")
        matched = False
        for attack in targets:
            fields = {f.name for f in dataclasses.fields(trigger_class(attack).Params)}
            if name in fields:
                out[attack][name] = value
                matched = True
        if not matched:
            raise BadInputError(f"no attack among {', '.join(targets)} has a parameter {name!r}", where="--param")
    return out


def parse_attacks(text: str) -> list[str]:
    from cleanerclip_tool.attacks import PAPER_ATTACKS, list_triggers

    names: list[str] = []
    for part in (p.strip().lower() for p in text.split(",")):
        if not part:
            continue
        chosen = list(PAPER_ATTACKS) if part == "all" else [part]
        for name in chosen:
            if name not in list_triggers():
                raise BadInputError(
                    f"unknown attack {name!r}", where="--attack", hint=f"known: all, {', '.join(list_triggers())}"
                )
            if name not in names:
                names.append(name)
    if not names:
        raise BadInputError("no attack given", where="--attack")
    return names


def require_artefacts(names: list[str], params: dict[str, dict[str, Any]]) -> None:
    """SSBA and BadCLIP on a non-toy model need the user's encoder / patch: say so before loading."""
    from cleanerclip_tool.attacks.toy import artefact_param

    missing = [n for n in names if artefact_param(n) is not None and params[n].get(artefact_param(n)) is None]
    if missing:
        howto = {"ssba": "--param ssba.encoder=ENC.safetensors (cleanerclip trigger train-ssba)",
                 "badclip": "--param badclip.patch=PATCH.png (cleanerclip trigger optimize-badclip)"}
        raise BadInputError(
            f"{', '.join(missing)} need{'s' if len(missing) == 1 else ''} a trigger artefact for a non-toy model",
            where="--trigger",
            hint="pass --trigger FILE, or " + "; ".join(howto[n] for n in missing)
            + "; or leave them out, e.g. --attack badnet,blended,sig,wanet",
        )


def artefact_params(attack: str, trigger_file: Path | None) -> dict[str, Any]:
    """Route ``--trigger FILE`` to the parameter of each attack that takes a file."""
    if trigger_file is None:
        return {}
    is_weights = trigger_file.suffix.lower() == ".safetensors"
    if attack == "ssba" and is_weights:
        return {"encoder": str(trigger_file)}
    if attack == "badclip" and not is_weights:
        return {"patch": str(trigger_file)}
    if attack == "custom" and not is_weights:
        return {"image": str(trigger_file)}
    return {}


def render_table(report: dict[str, Any]) -> None:
    """The paper's Table 1 layout: one row per attack, Top-k BA then Top-k ASR columns."""
    from rich.table import Table

    ks = [str(k) for k in report["topk"]]
    table = Table(title=f"scan of {report['model'].get('source', '?')} on {report['eval_data']}", title_justify="left")
    table.add_column("attack")
    for k in ks:
        table.add_column(f"BA@{k}", justify="right")
    for k in ks:
        table.add_column(f"ASR@{k}", justify="right")
    table.add_column("ASR toward")
    table.add_column("trigger pulls to (share, growth)")
    table.add_column("n clean / trig", justify="right")
    table.add_column("s", justify="right")
    for row in report["results"]:
        toward = row["target"] if row["target"] is not None else f"{row['asr_target']} (auto)"
        table.add_row(
            row["attack"],
            *[f"{100 * row['ba'][k]:.1f}" for k in ks],
            *[f"{100 * row['asr'][k]:.1f}" for k in ks],
            toward,
            f"{row['discovered_target']} ({100 * row['discovered_share']:.1f}%, {100 * row['discovered_growth']:+.1f})",
            f"{row['n_clean']} / {row['n_triggered']}",
            f"{row['seconds']:.1f}",
        )
    console.print(table, width=max(console.width, 150))  # Table 1 is wide; do not squash it to 80 columns
    console.print(
        f"{report['asr_convention_note']}; rates in %; {report['classes']} classes, templates: "
        f"{report['templates']}; device {report['device']} ({report['precision']})",
        markup=False,
    )


@handle_errors
def scan_command(
    model: ModelArg,
    attack: Annotated[
        str,
        typer.Option(
            "--attack",
            "-a",
            help="Attack name(s), comma-separated, or 'all' (the "
            "paper's six: badnet, blended, sig, wanet, ssba, badclip).",
        ),
    ] = "all",
    eval_data: Annotated[
        Path | None,
        typer.Option(
            "--eval-data",
            help="ImageFolder: one sub-folder per class (toy-world models default to the toy world's test split).",
        ),
    ] = None,
    classnames: Annotated[
        Path | None, typer.Option("--classnames", help="Class names: 'folder<TAB>name' lines.")
    ] = None,
    templates: Annotated[
        str | None,
        typer.Option("--templates", help="openai | simple (default: the eval folder's templates.txt, else openai)."),
    ] = None,
    topk: Annotated[str, typer.Option("--topk", help="Comma-separated k values.")] = "1,3,5,10",
    target: Annotated[
        str, typer.Option("--target", help="Target class, or 'auto' to discover it per attack.")
    ] = "auto",
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Scan a seeded random subset of N images.")
    ] = None,
    trigger: Annotated[
        Path | None,
        typer.Option(
            "--trigger",
            help="Trigger artefact: a patch image (badclip), your image (custom) or an SSBA encoder (.safetensors).",
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="Trigger parameter [attack.]name=value (repeatable), e.g. badnet.size_px=5."),
    ] = None,
    asr_include_target: Annotated[
        bool,
        typer.Option("--asr-include-target", help="Count target-class images in ASR too (BadCLIP's convention)."),
    ] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 128,
    workers: Annotated[int | None, typer.Option("--workers", min=0, help="DataLoader workers (default: auto).")] = None,
    device: DeviceOpt = "auto",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the triggers and of --limit's subset.")] = 0,
    json_out: JsonOpt = False,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the JSON report to this file.")] = None,
    arch: ArchOpt = None,
    trust_checkpoint: TrustOpt = False,
) -> None:
    """Scan a model for backdoors: Top-k BA on clean images, Top-k ASR under each trigger."""
    ks = parse_int_list(topk, "--topk")
    if templates is not None and templates not in ("openai", "simple"):
        raise BadInputError("use openai or simple", where="--templates")
    names = parse_attacks(attack)
    overrides = parse_params(param, names)
    if trigger is not None and not trigger.is_file():
        raise BadInputError("trigger file not found", where=trigger)

    from cleanerclip_tool.attacks import get_trigger
    from cleanerclip_tool.eval.evalset import load_eval_set
    from cleanerclip_tool.eval.scan import resolve_device, scan
    from cleanerclip_tool.models.load import load_model

    device = resolve_device(device)
    with EventRenderer(quiet=json_out) as render:
        loaded = load_model(model, arch=arch, trust_checkpoint=trust_checkpoint, device=device, on_event=render)
        toy = _is_toy(loaded.card)
        if eval_data is None:
            if not toy:
                raise BadInputError(
                    "--eval-data is required (an ImageFolder: one sub-folder per class)", where="--eval-data"
                )
            from cleanerclip_tool.toyworld import default_world

            eval_data = default_world(on_event=render).test
        eval_set = load_eval_set(eval_data, classnames_file=classnames)
        chosen: dict[str, dict[str, Any]] = {}
        seeds: dict[str, int] = {}
        for name in names:
            params, toy_seed = toy_trigger_defaults(loaded.card, name) if toy else ({}, None)
            params.update(artefact_params(name, trigger))
            params.update(overrides[name])
            chosen[name], seeds[name] = params, seed if toy_seed is None else int(toy_seed)
        if not toy:
            require_artefacts(names, chosen)
        triggers = [get_trigger(name, seed=seeds[name], **chosen[name]) for name in names]
        report = scan(
            loaded,
            eval_set,
            triggers,
            target=None if target.strip().lower() == "auto" else target,
            topk=ks,
            limit=limit,
            batch_size=batch_size,
            device=device,
            workers=workers,
            seed=seed,
            templates=templates,
            asr_convention="include" if asr_include_target else "exclude",
            on_event=render,
        ).to_dict()
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    if json_out:
        print_json(report)
    else:
        render_table(report)
        if out is not None:
            console.print(f"report written to {out}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("scan")(scan_command)


def _is_toy(card: Any) -> bool:
    try:
        from cleanerclip_tool.toyworld.registry import is_toy_model
    except ImportError:
        return False
    return bool(is_toy_model(card))
