"""Architecture detection against open_clip's real registry, and saving models with shared tensors.

Real configs are large (RN50 has 102M parameters), so the state dicts here are built on the
``meta`` device: detection only reads names and shapes, and nothing is allocated.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import open_clip
import pytest
import torch
from models_fixtures import TINY_ARCH, register_tiny_arch
from tiny import make_tiny_model, tiny_cfg

from cleanerclip_tool.errors import ModelResolveError
from cleanerclip_tool.events import Info
from cleanerclip_tool.models.arch_detect import candidate_architectures, pick_architecture
from cleanerclip_tool.models.load import build_loaded_model, load_model
from cleanerclip_tool.models.save import save_model


def _meta_state_dict(name: str) -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        model = open_clip.create_model(name, pretrained=None, load_weights=False, device="meta")
    return model.state_dict()


@pytest.mark.parametrize(
    ("built_from", "expected_candidates", "picked"),
    [
        # OpenAI-derived shapes: X and X-quickgelu match; OpenAI trained with QuickGELU, so that wins.
        ("RN50", {"RN50", "RN50-quickgelu"}, "RN50-quickgelu"),
        ("ViT-B-32", {"ViT-B-32", "ViT-B-32-quickgelu"}, "ViT-B-32-quickgelu"),
        # A non-OpenAI architecture with no quickgelu twin is picked as is.
        ("ViT-B-16-plus-240", {"ViT-B-16-plus-240"}, "ViT-B-16-plus-240"),
    ],
)
def test_detection_among_real_open_clip_configs(built_from: str, expected_candidates: set, picked: str) -> None:
    candidates = candidate_architectures(_meta_state_dict(built_from))
    assert set(candidates) == expected_candidates
    assert pick_architecture(candidates) == picked


def test_state_dict_of_a_different_layout_matches_nothing() -> None:
    # timm towers (convnext) use other parameter names: no candidate, so load_model asks for --arch.
    assert candidate_architectures(_meta_state_dict("convnext_base")) == []
    # One missing block is enough to rule RN50 out.
    sd = {k: v for k, v in _meta_state_dict("RN50").items() if not k.startswith("visual.layer4.2.")}
    assert candidate_architectures(sd) == []


def test_pick_refuses_unrelated_candidates() -> None:
    assert pick_architecture([]) is None
    assert pick_architecture(["RN50", "ViT-B-32"]) is None
    assert pick_architecture(["RN50-quickgelu"]) == "RN50-quickgelu"
    # Non-OpenAI architectures ship with both activations (DFN/MetaCLIP QuickGELU, LAION GELU): no guess.
    assert pick_architecture(["ViT-H-14", "ViT-H-14-quickgelu"]) is None


def test_ambiguous_state_dict_lists_candidates_and_arch_resolves_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safetensors.torch import save_file

    register_tiny_arch(tmp_path)
    # A second, identically shaped config under another name; monkeypatch removes it afterwards
    # so other tests in this process still see one tiny architecture.
    monkeypatch.setitem(open_clip.factory._MODEL_CONFIGS, "cleanerclip-tiny-twin", tiny_cfg())
    model = make_tiny_model(5)
    weights = tmp_path / "twin.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))

    with pytest.raises(ModelResolveError, match=r"several architectures match: .*cleanerclip-tiny-twin") as err:
        load_model(str(weights))
    assert TINY_ARCH in str(err.value) and "--arch" in str(err.value.hint)

    events: list = []
    loaded = load_model(str(weights), arch="cleanerclip-tiny-twin", on_event=events.append)
    assert loaded.card.architecture == "cleanerclip-tiny-twin"
    assert not [e for e in events if isinstance(e, Info) and "detected" in e.message]  # --arch: no guessing


def test_save_handles_tied_tensors(tmp_path: Path) -> None:
    model = make_tiny_model(2)
    # Two state-dict entries sharing one storage: safetensors refuses those unless they are copied.
    model.ln_final.weight = model.transformer.resblocks[0].ln_1.weight
    with torch.no_grad():
        model.ln_final.weight.mul_(1.5)
    loaded = build_loaded_model(tiny_cfg(), model, source="test", kind="custom")
    out = save_model(model, tmp_path / "tied", loaded.card)
    plain, _, _ = open_clip.create_model_and_transforms(f"local-dir:{out}")
    plain.eval()
    text = open_clip.get_tokenizer(f"local-dir:{out}")(["a red heart"])
    with torch.no_grad():
        assert torch.equal(plain.encode_text(text), model.encode_text(text))


def test_importing_model_io_stays_cheap() -> None:
    code = (
        "import sys, cleanerclip_tool.models.load, cleanerclip_tool.models.save, "
        "cleanerclip_tool.models.arch_detect, cleanerclip_tool.hub; "
        "print(','.join(m for m in ('open_clip', 'huggingface_hub', 'typer', 'rich') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
