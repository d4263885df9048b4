"""Each loss against a hand-written loop over the same random tensors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from cleanerclip_tool.config import PurifyConfig
from cleanerclip_tool.losses import GatheredFeatures, PurifyLoss, cfa_loss, clip_loss, inmodal_loss

torch.manual_seed(0)


def _unit(*shape: int) -> torch.Tensor:
    return F.normalize(torch.randn(*shape, dtype=torch.float64), dim=-1)


def _nll(logits: list[float], target: int) -> float:
    top = max(logits)
    return -(logits[target] - top - math.log(sum(math.exp(v - top) for v in logits)))


def test_clip_loss_matches_loop() -> None:
    img, txt, scale = _unit(6, 8), _unit(6, 8), torch.tensor(14.0, dtype=torch.float64)
    ref = 0.0
    for i in range(6):
        ref += _nll([float(scale * img[i] @ txt[j]) for j in range(6)], i) / 12
        ref += _nll([float(scale * txt[i] @ img[j]) for j in range(6)], i) / 12
    assert float(clip_loss(img, txt, scale)) == pytest.approx(ref, rel=1e-9)


def test_inmodal_loss_matches_loop() -> None:
    img, aimg, txt, atxt = _unit(5, 8), _unit(5, 8), _unit(5, 8), _unit(5, 8)
    scale = torch.tensor(20.0, dtype=torch.float64)
    ref = 0.0
    for i in range(5):
        ref += _nll([float(scale * img[i] @ aimg[j]) for j in range(5)], i) / 10
        ref += _nll([float(scale * txt[i] @ atxt[j]) for j in range(5)], i) / 10
    assert float(inmodal_loss(img, aimg, txt, atxt, scale)) == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize("negative_set", ["batch", "own"])
def test_cfa_loss_matches_equations(negative_set: str) -> None:
    b, tau_pos, tau_neg = 7, 0.5, 0.3
    img = _unit(b, 8)
    s = [1, 4, 5]
    pos, neg = _unit(len(s), 8), _unit(len(s), 8)
    i2t = t2i = 0.0
    for a, i in enumerate(s):
        u, p = img[i], pos[a]
        positive = float(u @ p) / tau_pos
        negs = (
            [float(u @ neg[j]) / tau_neg for j in range(len(s))]
            if negative_set == "batch"
            else [float(u @ neg[a]) / tau_neg]
        )
        i2t += _nll([positive, *negs], 0) / len(s)
        others = [float(p @ img[k]) / tau_neg for k in range(b) if k != i]
        t2i += _nll([positive, *others], 0) / len(s)
    got = cfa_loss(img, pos, neg, torch.tensor(s), tau_pos=tau_pos, tau_neg=tau_neg, negative_set=negative_set)
    assert float(got) == pytest.approx((i2t + t2i) / 2, rel=1e-9)


def test_cfa_loss_empty_set_is_zero_and_differentiable() -> None:
    img = _unit(4, 8).requires_grad_()
    empty = torch.zeros(0, 8, dtype=torch.float64)
    loss = cfa_loss(img, empty, empty, torch.zeros(0, dtype=torch.long), tau_pos=0.5, tau_neg=0.3)
    loss.backward()
    assert float(loss) == 0.0 and img.grad is not None


def test_smaller_tau_neg_weighs_negatives_more() -> None:
    img = _unit(6, 8)
    s = torch.tensor([0, 1, 2])
    pos, neg = _unit(3, 8), _unit(3, 8)
    hi = cfa_loss(img, pos, neg, s, tau_pos=0.5, tau_neg=1.0)
    lo = cfa_loss(img, pos, neg, s, tau_pos=0.5, tau_neg=0.1)
    assert lo > hi


def test_total_combines_terms_per_method() -> None:
    img, txt, aimg, atxt = _unit(4, 8), _unit(4, 8), _unit(4, 8), _unit(4, 8)
    pos, neg, s = _unit(2, 8), _unit(2, 8), torch.tensor([0, 3])
    scale = torch.tensor(10.0, dtype=torch.float64)
    features = GatheredFeatures(img, txt, scale, aug_image=aimg, aug_text=atxt, positive=pos, negative=neg, cfa_index=s)

    def loss(**config) -> dict[str, torch.Tensor]:
        return PurifyLoss.from_config(PurifyConfig(**config))(features)

    ft = loss(method="ft")
    assert set(ft) == {"clip", "total"} and torch.equal(ft["total"], ft["clip"])
    cc = loss(method="cleanclip", lambda1=2.0, inmodal_weight=0.5)
    assert float(cc["total"]) == pytest.approx(2.0 * (float(cc["clip"]) + 0.5 * float(cc["inmodal"])))
    cl = loss(method="cleanerclip", lambda1=1.0, lambda2=3.0)
    assert float(cl["total"]) == pytest.approx(float(cl["clip"]) + float(cl["inmodal"]) + 3.0 * float(cl["cfa"]))


def test_every_config_method_has_a_loss_preset() -> None:
    from cleanerclip_tool.config import METHODS as CONFIG_METHODS
    from cleanerclip_tool.losses import METHODS

    assert set(CONFIG_METHODS) == set(METHODS)


def test_a_new_term_is_one_function_and_one_preset(monkeypatch) -> None:
    """The extension point the loss is built for: a term registered in TERMS and weighted by a preset
    is computed, reported under its name and added into the total; nothing else changes."""
    from cleanerclip_tool import losses

    img, txt, scale = _unit(4, 8), _unit(4, 8), torch.tensor(10.0, dtype=torch.float64)
    norm = losses.LossTerm("norm", lambda f, config: (f.image - f.text).pow(2).sum(-1).mean())
    monkeypatch.setitem(losses.TERMS, "norm", norm)
    monkeypatch.setitem(losses.METHODS, "ft+norm", lambda config: {"clip": 1.0, "norm": 0.25})
    config = PurifyConfig().replace(method="ft+norm")
    terms = PurifyLoss.from_config(config)(GatheredFeatures(img, txt, scale))
    assert set(terms) == {"clip", "norm", "total"}
    assert float(terms["norm"]) == pytest.approx(float(((img - txt) ** 2).sum(-1).mean()))
    assert float(terms["total"]) == pytest.approx(float(terms["clip"]) + 0.25 * float(terms["norm"]))
    assert not PurifyLoss.from_config(config).needs("augmented")


def test_unknown_terms_and_methods_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown loss term"):
        PurifyLoss({"clip": 1.0, "nope": 1.0}, PurifyConfig())
    with pytest.raises(ValueError, match="unknown method"):
        PurifyLoss.from_config(PurifyConfig().replace(method="nope"))


def test_needs_follow_the_terms_a_method_weights() -> None:
    losses = {m: PurifyLoss.from_config(PurifyConfig(method=m)) for m in ("ft", "cleanclip", "cleanerclip")}
    needs = {m: (loss.needs("augmented"), loss.needs("subcaptions")) for m, loss in losses.items()}
    assert needs == {"ft": (False, False), "cleanclip": (True, False), "cleanerclip": (True, True)}
