"""Resolve a MODEL spec to an open_clip model, its transforms, its tokenizer and a card.

Every form goes through ``load_model``: weight files (CleanCLIP checkpoints, plain state dicts,
safetensors, OpenAI TorchScript), folders saved by cleanerclip or open_clip (``local-dir:``),
``hf-hub:org/name[@revision]``, open_clip ``ARCH:pretrained_tag`` and prefixed specs such as the
shipped ``toy:NAME`` models (``models.specs``: their owner maps the name to a folder).
We build the architecture without weights and load the weights ourselves, so that every file is
read the safe way and missing or unexpected keys are reported instead of ignored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cleanerclip_tool.errors import BadInputError, ModelResolveError
from cleanerclip_tool.events import EventCallback, Info, ignore_event
from cleanerclip_tool.models._quiet import quiet_open_clip
from cleanerclip_tool.models.card import ModelCard, sha256_file
from cleanerclip_tool.models.safe_load import read_weights
from cleanerclip_tool.models.specs import resolve_spec

CONFIG_NAME = "open_clip_config.json"
CARD_NAME = "cleanerclip_card.json"
# open_clip's own preference order for weights in a local folder.
FOLDER_WEIGHTS = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_model.bin",
    "open_clip_pytorch_model.pth",
    "open_clip_model.pth",
)
WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")


@dataclass
class LoadedModel:
    """A resolved model, ready for training or evaluation."""

    model: Any
    preprocess: Callable[..., Any]
    preprocess_train: Callable[..., Any]
    tokenizer: Callable[..., Any]
    card: ModelCard


def load_model(
    spec: str,
    *,
    arch: str | None = None,
    revision: str | None = None,
    trust_checkpoint: bool = False,
    device: str = "cpu",
    on_event: EventCallback = ignore_event,
) -> LoadedModel:
    """Resolve ``spec`` (see README, "MODEL") and load it onto ``device`` in eval mode."""
    spec = str(spec).strip()
    if not spec:
        raise BadInputError("empty MODEL spec")
    prefixed = resolve_spec(spec)
    if prefixed is not None:
        # A registered prefix (``toy:``, a plugin's): its owner names the folder; kind is the prefix.
        prefix, folder = prefixed
        loaded = _load_folder(folder, source=spec, kind=prefix, trust_checkpoint=trust_checkpoint)
    elif spec.startswith("hf-hub:"):
        from cleanerclip_tool.hub import fetch_model

        fetched = fetch_model(spec, revision=revision, on_event=on_event)
        loaded = _load_folder(fetched.path, source=spec, kind="hub", trust_checkpoint=trust_checkpoint)
        loaded.card.revision = fetched.revision
    elif spec.startswith("local-dir:"):
        folder = Path(spec[len("local-dir:") :]).expanduser()
        loaded = _load_folder(folder, source=spec, kind="folder", trust_checkpoint=trust_checkpoint)
    else:
        path = Path(spec).expanduser()
        if path.is_dir():
            loaded = _load_folder(path, source=spec, kind="folder", trust_checkpoint=trust_checkpoint)
        elif path.is_file():
            loaded = _load_file(path, source=spec, arch=arch, trust_checkpoint=trust_checkpoint, on_event=on_event)
        elif ":" in spec and path.suffix.lower() not in WEIGHT_SUFFIXES:
            loaded = _load_pretrained(spec)
        else:
            raise ModelResolveError("no such file or folder", where=spec, hint=_SPEC_HINT)
    loaded.model.to(device).eval()
    return loaded


_SPEC_HINT = "MODEL is a weights file, a saved folder, hf-hub:org/name[@rev], an open_clip ARCH:tag, or toy:NAME"


def build_loaded_model(
    model_cfg: dict[str, Any],
    model: Any | None = None,
    *,
    source: str,
    kind: str,
    architecture: str = "custom",
) -> LoadedModel:
    """Wrap a model built from ``model_cfg`` (fresh when ``model`` is None) with transforms and tokenizer."""

    if model is None:
        model = _build_from_cfg(model_cfg)
    preprocess_cfg = _merged_preprocess_cfg(model)
    return _assemble(model, model_cfg, preprocess_cfg, source=source, kind=kind, architecture=architecture)


# --- forms -------------------------------------------------------------------------------------


def _load_folder(folder: Path, *, source: str, kind: str, trust_checkpoint: bool) -> LoadedModel:
    if not folder.is_dir():
        raise ModelResolveError("folder not found", where=folder)
    config_path = folder / CONFIG_NAME
    if not config_path.is_file():
        raise ModelResolveError(f"folder has no {CONFIG_NAME}", where=folder, hint="is it an open_clip model folder?")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInputError(f"not valid JSON ({exc})", where=config_path) from None
    model_cfg = config.get("model_cfg") if isinstance(config, dict) else None
    if not isinstance(model_cfg, dict) or not {"embed_dim", "vision_cfg", "text_cfg"} <= set(model_cfg):
        raise BadInputError("missing or incomplete 'model_cfg' (embed_dim, vision_cfg, text_cfg)", where=config_path)
    weights = next((folder / n for n in FOLDER_WEIGHTS if (folder / n).is_file()), None)
    if weights is None:
        raise ModelResolveError(f"folder has no weights ({', '.join(FOLDER_WEIGHTS[:3])}, ...)", where=folder)
    state_dict, _fmt = read_weights(weights, trust_checkpoint=trust_checkpoint)
    model = _build_from_cfg(model_cfg)
    _load_state(model, state_dict, where=weights)
    preprocess_cfg = _merged_preprocess_cfg(model, config.get("preprocess_cfg"))
    architecture = "custom"
    history: list[dict[str, Any]] = []
    card_path = folder / CARD_NAME
    if card_path.is_file():
        try:
            saved = json.loads(card_path.read_text(encoding="utf-8"))
            architecture = str(saved.get("architecture", architecture))
            history = list(saved.get("history", []))
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError):
            raise BadInputError("not a valid cleanerclip card", where=card_path) from None
    tokenizer = _folder_tokenizer(folder, model_cfg, source=source)
    loaded = _assemble(
        model, model_cfg, preprocess_cfg, source=source, kind=kind, architecture=architecture, tokenizer=tokenizer
    )
    loaded.card.path = str(folder.absolute())
    loaded.card.sha256 = sha256_file(weights)
    loaded.card.history = history
    return loaded


def _folder_tokenizer(folder: Path, model_cfg: dict[str, Any], *, source: str) -> Any:
    """open_clip's own choice for the folder: its SimpleTokenizer, or the Hugging Face tokenizer the
    config names (SigLIP and others), read from the folder's tokenizer files."""
    import open_clip

    hf_name = model_cfg.get("text_cfg", {}).get("hf_tokenizer_name")
    try:
        with quiet_open_clip():
            return open_clip.get_tokenizer(f"local-dir:{folder}")
    except ImportError as exc:
        raise ModelResolveError(
            f"the model's Hugging Face tokenizer ({hf_name}) needs the transformers package ({exc})",
            where=source,
            hint="pip install transformers",
        ) from None
    except (OSError, ValueError) as exc:
        raise ModelResolveError(
            f"cannot load the model's tokenizer {hf_name or ''} ({' '.join(str(exc).split())[:160]})",
            where=source,
            hint="the folder needs the tokenizer files (tokenizer.json, ...) next to open_clip_config.json",
        ) from None


def _load_file(
    path: Path, *, source: str, arch: str | None, trust_checkpoint: bool, on_event: EventCallback
) -> LoadedModel:
    import open_clip

    state_dict, fmt = read_weights(path, trust_checkpoint=trust_checkpoint)
    kind = "torchscript" if fmt == "torchscript" else "file"
    if fmt == "torchscript" and arch is None:
        model, model_cfg, arch = _build_openai(state_dict, path=path, on_event=on_event)
    else:
        if arch is None:
            arch = _detect_arch(state_dict, path=path, on_event=on_event)
        if arch.endswith(".json"):
            # A config file (open_clip's model_configs layout) for architectures open_clip does not ship.
            model_cfg = _read_arch_file(Path(arch).expanduser())
            arch = Path(arch).stem
            model = _build_from_cfg(model_cfg)
        else:
            if open_clip.get_model_config(arch) is None:
                raise ModelResolveError(
                    f"unknown architecture {arch!r}",
                    where=path,
                    hint="see `open_clip.list_models()`, or pass a model config .json file",
                )
            with quiet_open_clip():
                model = open_clip.create_model(arch, pretrained=None, load_weights=False)
            model_cfg = _named_cfg(arch)
        _load_state(model, state_dict, where=path)
    loaded = _assemble(model, model_cfg, _merged_preprocess_cfg(model), source=source, kind=kind, architecture=arch)
    loaded.card.path = str(path.absolute())
    loaded.card.sha256 = sha256_file(path)
    return loaded


def _read_arch_file(path: Path) -> dict[str, Any]:
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInputError(f"cannot read the --arch config ({exc.strerror})", where=path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInputError(f"not valid JSON ({exc})", where=path) from None
    if isinstance(cfg, dict) and isinstance(cfg.get("model_cfg"), dict):
        cfg = cfg["model_cfg"]  # an open_clip_config.json works too
    if not isinstance(cfg, dict) or not {"embed_dim", "vision_cfg", "text_cfg"} <= set(cfg):
        raise BadInputError("not an open_clip model config (embed_dim, vision_cfg, text_cfg)", where=path)
    return cfg


def _named_cfg(arch: str) -> dict[str, Any]:
    """The registered config of ``arch``, saying ``quick_gelu`` explicitly so a saved folder keeps it."""
    import open_clip

    cfg = dict(open_clip.get_model_config(arch) or {})
    if arch.endswith("-quickgelu"):
        cfg["quick_gelu"] = True
    return cfg


def _detect_arch(
    state_dict: dict[str, Any], *, path: Path, on_event: EventCallback, required: bool = True
) -> str | None:
    """The one registered architecture matching the state dict by names and shapes (see arch_detect)."""
    from cleanerclip_tool.models.arch_detect import candidate_architectures, pick_architecture

    candidates = candidate_architectures(state_dict)
    arch = pick_architecture(candidates)
    if arch is not None:
        on_event(Info(f"architecture detected from parameter shapes: {arch} (override with --arch)"))
        return arch
    if not required:
        return None
    if not candidates:
        raise ModelResolveError(
            "no open_clip architecture matches this state dict's parameter names and shapes",
            where=path,
            hint="name it with --arch NAME (see `open_clip.list_models()`) or --arch my-model-config.json",
        )
    raise ModelResolveError(
        f"several architectures match: {', '.join(candidates)}", where=path, hint="pick one with --arch"
    )


def _build_openai(
    state_dict: dict[str, Any], *, path: Path, on_event: EventCallback
) -> tuple[Any, dict[str, Any], str]:
    """Build an OpenAI TorchScript archive's model the way open_clip's ``load_openai_model`` does.

    open_clip's ``build_model_from_openai_state_dict`` reads the dimensions from the state dict
    (so archives of unregistered sizes work too) and uses QuickGELU, as OpenAI trained. It casts
    weights to fp16; we cast back to fp32 and reload the archive's own tensors, so an fp32
    archive loses no precision. The card names the registered architecture when one matches.
    """
    import torch
    from open_clip.model import build_model_from_openai_state_dict

    from cleanerclip_tool.models.arch_detect import openai_model_cfg

    try:
        with quiet_open_clip():
            model = build_model_from_openai_state_dict(dict(state_dict), quick_gelu=True, cast_dtype=None)
    except (KeyError, RuntimeError, AssertionError, ValueError, ZeroDivisionError) as exc:
        raise BadInputError(
            f"TorchScript archive is not an OpenAI CLIP model ({' '.join(str(exc).split())[:160]})", where=path
        ) from None
    model.float()
    _load_state(model, state_dict, where=path)
    arch = _detect_arch(state_dict, path=path, on_event=on_event, required=False)
    if arch:
        return model, _named_cfg(arch), arch
    model_cfg = openai_model_cfg(state_dict)
    with torch.device("meta"):
        rebuilt = _build_from_cfg(model_cfg)
    if {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()} != {
        k: tuple(v.shape) for k, v in state_dict.items()
    }:
        raise BadInputError("TorchScript archive has a layout open_clip cannot save back", where=path)
    return model, model_cfg, "custom"


def _check_pretrained_spec(spec: str) -> tuple[str, str]:
    import open_clip

    arch, _, tag = spec.partition(":")
    if arch not in open_clip.list_models():
        raise ModelResolveError(f"unknown open_clip architecture {arch!r}", where=spec, hint=_SPEC_HINT)
    tags = open_clip.list_pretrained_tags_by_model(arch)
    if tag not in tags:
        raise ModelResolveError(
            f"unknown pretrained tag {tag!r} for {arch}", where=spec, hint=f"known tags: {', '.join(tags) or 'none'}"
        )
    return arch, tag


def _offline_hint(spec: str) -> str:
    return f"run `cleanerclip fetch {spec}` with network access (or copy a Hugging Face cache, HF_HOME, here)"


def _pretrained_unavailable(spec: str, exc: Exception) -> ModelResolveError:
    """open_clip wraps download and cache failures in many types; all mean the same to the user."""
    return ModelResolveError(
        f"could not get the pretrained weights ({' '.join(str(exc).split())[:120]})",
        where=spec,
        hint=_offline_hint(spec),
    )


def download_pretrained_weights(spec: str) -> Path:
    """Fetch the weights of an open_clip ``ARCH:tag`` into open_clip's cache; return the local file."""
    import open_clip

    arch, tag = _check_pretrained_spec(spec)
    try:
        with quiet_open_clip():
            path = open_clip.download_pretrained(open_clip.get_pretrained_cfg(arch, tag))
    except Exception as exc:
        raise _pretrained_unavailable(spec, exc) from None
    if not path:
        raise ModelResolveError("open_clip has no download location for this tag", where=spec)
    return Path(path)


def _load_pretrained(spec: str) -> LoadedModel:
    import open_clip

    arch, tag = _check_pretrained_spec(spec)
    try:
        with quiet_open_clip():
            model, _train, _val = open_clip.create_model_and_transforms(arch, pretrained=tag, weights_only=True)
    except Exception as exc:
        raise _pretrained_unavailable(spec, exc) from None
    model_cfg = dict(open_clip.get_model_config(arch) or {})
    loaded = _assemble(
        model, model_cfg, _merged_preprocess_cfg(model), source=spec, kind="pretrained", architecture=arch
    )
    return loaded


# --- shared pieces -----------------------------------------------------------------------------


def _build_from_cfg(model_cfg: dict[str, Any]) -> Any:
    """An open_clip model from a config dict, with open_clip's own class choice (CLIP / CustomTextCLIP)."""
    import open_clip

    cfg = dict(model_cfg)
    custom_text = cfg.pop("custom_text", False) or "hf_model_name" in cfg.get("text_cfg", {})
    if "multimodal_cfg" in cfg:
        cls = open_clip.CoCa
    else:
        cls = open_clip.CustomTextCLIP if custom_text else open_clip.CLIP
    try:
        with quiet_open_clip():
            return cls(**cfg)
    except (TypeError, ValueError, KeyError) as exc:
        raise BadInputError(
            f"model_cfg does not build an open_clip model ({exc})", where="open_clip_config.json"
        ) from None


def _load_state(model: Any, state_dict: dict[str, Any], *, where: Path) -> None:
    """Load strictly in spirit: report missing and unexpected keys and shape mismatches by name."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        f"{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s): {', '.join(missing[:4])}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {', '.join(unexpected[:4])}")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatch(es): {'; '.join(mismatched[:3])}")
    if problems:
        raise BadInputError(
            "weights do not fit the architecture: " + "; ".join(problems), where=where, hint="check --arch"
        )
    model.load_state_dict(state_dict, strict=True)


def _merged_preprocess_cfg(model: Any, saved: Any = None) -> dict[str, Any]:
    """open_clip's defaults (OpenAI mean/std, bicubic, shortest-side resize), the model's own, then the saved file's."""
    import dataclasses

    import open_clip
    from open_clip.transform import PreprocessCfg

    cfg = dataclasses.asdict(PreprocessCfg())
    cfg.update(open_clip.get_model_preprocess_cfg(model))
    if isinstance(saved, dict):
        cfg.update({k: v for k, v in saved.items() if k in cfg})
    open_clip.set_model_preprocess_cfg(model, cfg)
    return cfg


def _assemble(
    model: Any,
    model_cfg: dict[str, Any],
    preprocess_cfg: dict[str, Any],
    *,
    source: str,
    kind: str,
    architecture: str,
    tokenizer: Any = None,
) -> LoadedModel:
    import open_clip
    from open_clip.transform import PreprocessCfg, image_transform_v2

    pp = PreprocessCfg(**{k: v for k, v in preprocess_cfg.items() if k in PreprocessCfg.__dataclass_fields__})
    preprocess = image_transform_v2(pp, is_train=False)
    preprocess_train = image_transform_v2(pp, is_train=True)
    text_cfg = model_cfg.get("text_cfg", {})
    context_length = int(text_cfg.get("context_length", getattr(model, "context_length", 77)))
    if tokenizer is not None:
        pass  # the folder's own (``_folder_tokenizer``)
    elif "hf_tokenizer_name" in text_cfg:
        tokenizer = open_clip.get_tokenizer(architecture) if architecture != "custom" else None
        if tokenizer is None:
            raise ModelResolveError("custom models with Hugging Face tokenizers are not supported", where=source)
    else:
        tokenizer = open_clip.SimpleTokenizer(context_length=context_length)
    card = ModelCard(
        architecture=architecture,
        source=source,
        kind=kind,
        parameters=sum(p.numel() for p in model.parameters()),
        model_cfg=_jsonable(model_cfg),
        preprocess_cfg=_jsonable(dict(preprocess_cfg)),
    )
    return LoadedModel(
        model=model, preprocess=preprocess, preprocess_train=preprocess_train, tokenizer=tokenizer, card=card
    )


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda o: list(o) if isinstance(o, tuple) else str(o)))
