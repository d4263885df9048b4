"""Build the shipped toy models (``toy:clean``, ``toy:badnet`` ...) and record how they were made.

Usage::

    python scripts/build_toy_models.py [--only badnet] [--out-root DIR] [--threads 1]
    python scripts/build_toy_models.py --seeds 0,1,2 --measure-only   # BA/ASR over seeds, nothing written
    python scripts/build_toy_models.py --only badnet --protocol scratch  # the earlier from-scratch victim

``toy:clean`` is pretrained from scratch by the same library call as ``cleanerclip toyworld
pretrain``. The backdoored ``toy:<attack>`` models are the paper's victims: ``toy:clean``
fine-tuned by the attacker on a lightly poisoned set (``cleanerclip toyworld victim``, the recipe
of ``toyworld.victim.VICTIM_RECIPES``, seed 0); ``--protocol scratch`` builds the earlier victims,
pretrained from scratch at 5% poisoning. Each is saved with ``models.save.save_model`` into
``src/cleanerclip_tool/toyworld/models/<name>/`` (weights in fp16 to keep the wheel small), next to
a ``build.json`` holding the seed, the settings, the timings and the zero-shot metrics measured on
the saved (fp16) weights. ``tests/test_toyworld_models.py`` (slow) re-runs a build and compares.

Metrics come from ``cleanerclip_tool.eval.scan``: zero-shot top-1 on the world's test split with its
prompt ensemble (``templates.txt``); BA on clean images, ASR on triggered images whose true class is
not the target (the usual convention; see README, "Scan a model for backdoors"), trigger seed ``EVAL_TRIGGER_SEED`` (not
the poisoning seed).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from cleanerclip_tool.toyworld.pretrain import PretrainSettings  # noqa: E402
from cleanerclip_tool.toyworld.victim import VictimSettings  # noqa: E402

MODELS_ROOT = REPO / "src" / "cleanerclip_tool" / "toyworld" / "models"
EVAL_TRIGGER_SEED = 987_654
EVAL_ATTACK = "badnet"  # the trigger the clean model is scanned with (its ASR floor)

# The shipped models and the exact settings each is built with (everything else: PretrainSettings defaults).
SHIPPED: dict[str, dict[str, Any]] = {
    "clean": {"attack": None, "seed": 0},
    "badnet": {"attack": "badnet", "seed": 0},
    "blended": {"attack": "blended", "seed": 0},
    "sig": {"attack": "sig", "seed": 0},
    # WaNet's victim passes the calibration at no rate of the grid (seed 0 at 10%: ASR@1 80.7%), so
    # the shipped toy:wanet stays the from-scratch model (5% poisoning, ASR@1 ~91%).
    "wanet": {"attack": "wanet", "seed": 0, "protocol": "scratch"},
    # Not shipped: SSBA's invisible residual (|r| <= 8/255, the shipped encoder) is learnt only in part:
    # from scratch at 5%, ASR@1 4.9% (2026-11-29); as a victim at 5% 1.8%, at 10% 64.4% (2026-11-30).
    "badclip": {"attack": "badclip", "seed": 0},  # after build_toy_artefacts.py --only badclip on toy:clean
}


def shipped_settings(name: str, seed: int, protocol: str) -> PretrainSettings | VictimSettings:
    """How shipped model ``name`` is built: toy:clean pretrained; an attack's victim by ``protocol``."""
    spec = {**SHIPPED[name], "seed": seed}
    protocol = spec.pop("protocol", protocol)
    if spec.get("attack") and protocol == "victim":
        return VictimSettings(attack=spec["attack"], seed=seed).validate()
    return PretrainSettings(**spec).validate()


def zero_shot_metrics(
    loaded: Any, test_dir: Path, *, attack: str, trigger_params: dict[str, Any], target: str, trigger_seed: int
) -> dict[str, float]:
    """Top-1 BA and ASR (percent) from the scan module on the world's test split.

    A backdoored model is scanned with its own trigger (parameters and seed: blended's pattern,
    WaNet's warp field and SSBA's code are fixed per attack seed; per-image noise and positions
    follow the test image's index). The clean model is scanned with the BadNet trigger: its "ASR" is
    the chance of the target under a trigger without a backdoor, the floor for the others.
    """
    from cleanerclip_tool.attacks import get_trigger
    from cleanerclip_tool.eval.evalset import load_eval_set
    from cleanerclip_tool.eval.scan import scan

    trigger = get_trigger(attack, seed=trigger_seed, **trigger_params)
    report = scan(loaded, load_eval_set(test_dir), [trigger], target=target, topk=(1,), workers=0)
    result = report.results[0]
    return {
        "ba_top1": round(100 * result.ba["1"], 2),
        "asr_top1": round(100 * result.asr["1"], 2),
        "test_images": result.n_clean,
    }


def zero_unused_token_rows(model: Any, world: Any) -> int:
    """Zero the token-embedding rows no toy caption or prompt uses; returns how many were zeroed.

    The toy world uses ~40 of the CLIP tokenizer's 49,408 tokens; the other rows are their random
    initialisation, never read by toy text and never trained. Zeros compress to nothing in the
    wheel (a backdoored toy model costs ~1 MB to ship instead of ~9 MB), and every output on toy
    captions and prompts is unchanged. Words outside the world (a CFA negative's "banana") start
    from a zero row instead of a random one when such a model is purified.
    """
    import torch

    from cleanerclip_tool.data.captions import load_caption_table
    from cleanerclip_tool.toyworld.captions import SHAPES, target_captions, zero_shot_templates
    from cleanerclip_tool.toyworld.model_config import toy_tokenizer

    texts = set(load_caption_table(world.train).captions) | set(load_caption_table(world.finetune).captions)
    texts |= {t.format(s) for t in zero_shot_templates() for s in SHAPES} | set(target_captions())
    used = torch.unique(toy_tokenizer()(sorted(texts)))
    weight = model.token_embedding.weight
    keep = torch.zeros(weight.shape[0], dtype=torch.bool)
    keep[used] = True
    with torch.no_grad():
        weight[~keep] = 0
    return int((~keep).sum())


METRIC_CONVENTION = (
    "cleanerclip_tool.eval.scan, top-1 zero-shot on the world's test split with its templates.txt; ASR excludes "
    "target-class images; a backdoored model's own trigger (params and seed as poisoned); toy:clean: the badnet "
    f"trigger with seed {EVAL_TRIGGER_SEED} (the floor without a backdoor)"
)


def measure_saved(loaded: Any, world: Any, settings: PretrainSettings | VictimSettings) -> dict[str, float]:
    """The build metrics of a saved model: BA and ASR on its own trigger (toy:clean: BadNet's)."""
    from cleanerclip_tool.toyworld.triggers import toy_params

    attack = settings.attack or EVAL_ATTACK
    seed = settings.seed if settings.attack else EVAL_TRIGGER_SEED
    return zero_shot_metrics(
        loaded,
        world.test,
        attack=attack,
        target=settings.target,
        trigger_seed=seed,
        trigger_params={**toy_params(attack), **settings.trigger_params},
    )


def remeasure(name: str) -> dict[str, Any]:
    """Re-run the scan of a shipped model and update its build.json metrics (no training)."""
    from cleanerclip_tool.models.load import load_model
    from cleanerclip_tool.toyworld.world import cached_world

    folder = MODELS_ROOT / name
    record = json.loads((folder / "build.json").read_text(encoding="utf-8"))
    settings = settings_of(record)
    world = cached_world(seed=settings.world_seed, size=settings.world_size)
    record["metrics"] = measure_saved(load_model(str(folder)), world, settings)
    record["metric_convention"] = METRIC_CONVENTION
    (folder / "build.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def settings_of(record: dict[str, Any]) -> PretrainSettings | VictimSettings:
    """The settings a build record was made with (victim records carry ``protocol: victim``)."""
    settings = {k: v for k, v in record["settings"].items() if k not in ("trigger_seed", "artefact_sha256")}
    if record.get("protocol") == "victim":
        return VictimSettings(**settings)
    return PretrainSettings(**settings)


def pairs_per_second(result: Any) -> float:
    """Training throughput: recorded by pretraining; for a victim, its pairs x epochs over its seconds."""
    if hasattr(result, "pairs_per_second"):
        return float(result.pairs_per_second)
    pairs = (result.clean_pairs + result.poisoned) * result.settings.epochs
    return pairs / result.seconds if result.seconds > 0 else 0.0


def reused_victim(folder: Path, settings: VictimSettings) -> Any:
    """A ``VictimResult`` from a victim already trained with exactly ``settings`` (a cell of
    ``benchmarks/calibrate_victims.py``, trained by the same call on one thread, so the weights are the
    ones this script would train); refused when its recorded settings differ."""
    import copy

    from cleanerclip_tool.models.load import load_model
    from cleanerclip_tool.toyworld.victim import VictimResult

    loaded = load_model(str(folder))
    entry = loaded.card.history[-1] if loaded.card.history else {}
    if entry.get("action") != "toyworld-victim" or entry.get("settings") != json.loads(json.dumps(settings.to_dict())):
        raise SystemExit(f"{folder}: not a victim built with {settings.to_dict()}")
    card = copy.deepcopy(loaded.card)
    card.history = card.history[:-1]
    card.source, card.kind = settings.base, "toy"
    return VictimResult(
        model=loaded.model,
        card=card,
        settings=settings,
        seconds=float(entry["seconds"]),
        steps=int(entry["steps"]),
        poisoned=int(entry["poisoned_pairs"]),
        clean_pairs=int(entry["clean_pairs"]),
        final_loss=float(entry["final_loss"]),
    )


def build_one(
    name: str, settings: PretrainSettings | VictimSettings, out_root: Path | None, *, reuse: Path | None = None
) -> dict[str, Any]:
    """Train (pretrain, or the attacker's fine-tune of a victim), save (unless ``out_root`` is None),
    evaluate the saved weights; the build record. ``reuse``: a victim folder already trained with
    these very settings, converted instead of trained again."""
    import torch

    from cleanerclip_tool.models.load import load_model
    from cleanerclip_tool.toyworld.pretrain import pretrain, save_pretrained
    from cleanerclip_tool.toyworld.victim import make_victim, save_victim
    from cleanerclip_tool.toyworld.world import cached_world

    world = cached_world(seed=settings.world_seed, size=settings.world_size)
    victim = isinstance(settings, VictimSettings)
    if reuse is not None and isinstance(settings, VictimSettings):
        result: Any = reused_victim(reuse, settings)
    else:
        result = make_victim(settings, world=world) if victim else pretrain(settings, world=world)
    zeroed = zero_unused_token_rows(result.model, world)
    result.model = result.model.half()  # fp16 on disk: half the wheel size; the loader casts back
    save = save_victim if victim else save_pretrained
    folder = save(result, (out_root or Path(tempfile.mkdtemp())) / name, overwrite=True)
    loaded = load_model(str(folder))  # measure exactly what is shipped
    metrics = measure_saved(loaded, world, settings)
    record = {
        "name": f"toy:{name}",
        "protocol": "victim" if victim else "pretrain",
        "settings": settings.to_dict(),
        "metrics": metrics,
        "metric_convention": METRIC_CONVENTION,
        "pretrain_seconds": round(result.seconds, 1),
        "pairs_per_second": round(pairs_per_second(result), 1),
        "steps": result.steps,
        "final_loss": round(result.final_loss, 4),
        "poisoned_pairs": result.poisoned,
        "token_rows_zeroed": zeroed,
        "torch_threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if out_root is not None:
        (folder / "build.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=sorted(SHIPPED), help="build only these")
    parser.add_argument("--out-root", type=Path, default=MODELS_ROOT)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seeds", default=None, help="comma-separated seeds: measure over seeds")
    parser.add_argument("--measure-only", action="store_true", help="do not write model folders")
    parser.add_argument(
        "--reuse-root",
        type=Path,
        default=None,
        help="take victims already trained by benchmarks/calibrate_victims.py from this root (same settings)",
    )
    parser.add_argument(
        "--protocol",
        choices=("victim", "scratch"),
        default="victim",
        help="backdoored models: fine-tuned from toy:clean (the paper's victim) or pretrained from scratch",
    )
    parser.add_argument(
        "--remeasure",
        action="store_true",
        help="re-scan the shipped models and update their build.json metrics (no training)",
    )
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    names = args.only or list(SHIPPED)
    if args.remeasure:
        for name in names:
            if (MODELS_ROOT / name / "build.json").is_file():
                print(json.dumps({"name": f"toy:{name}", **remeasure(name)["metrics"]}), flush=True)
        return 0
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
    rows = []
    for name in names:
        for seed in seeds or [SHIPPED[name]["seed"]]:
            settings = shipped_settings(name, seed, args.protocol)
            out_root = None if (args.measure_only or seeds) else args.out_root
            reuse = None
            if args.reuse_root is not None and isinstance(settings, VictimSettings):
                reuse = args.reuse_root / f"{settings.attack}-rate{settings.rate:g}-seed{seed}"
                reuse = reuse if reuse.is_dir() else None
            record = build_one(name, settings, out_root, reuse=reuse)
            rows.append(record)
            print(
                json.dumps(
                    {
                        "name": record["name"],
                        "seed": seed,
                        **record["metrics"],
                        "seconds": record["pretrain_seconds"],
                        "pairs/s": record["pairs_per_second"],
                    }
                ),
                flush=True,
            )
    if seeds:
        for name in names:
            mine = [r["metrics"] for r in rows if r["name"] == f"toy:{name}"]
            for key in ("ba_top1", "asr_top1"):
                values = [m[key] for m in mine if key in m]
                if values:
                    spread = statistics.stdev(values) if len(values) > 1 else 0.0
                    print(
                        f"toy:{name} {key}: mean {statistics.mean(values):.1f} sd {spread:.1f} "
                        f"min {min(values):.1f} max {max(values):.1f} over {len(values)} seeds"
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
