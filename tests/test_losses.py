"""Each loss against a hand-written loop over the same random tensors."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch
import torch.nn.functional as F

from cleanerclip_tool.config import PurifyConfig
from cleanerclip_tool.losses import TERMS, GatheredFeatures, PurifyLoss, cfa_loss, clip_loss, inmodal_loss

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


# --- readings of the lost CFA equations (docs/cfa-study.md) ------------------------------------


def _cfa_loss_before(
    image_features, positive_features, negative_features, cfa_index, *, tau_pos, tau_neg, negative_set
):
    """``losses.cfa_loss`` as it was before the readings were added (commit b00b2da), kept verbatim:
    the defaults must reproduce it bit for bit."""
    m = int(cfa_index.numel())
    anchors = image_features[cfa_index]
    positive_logit = (anchors * positive_features).sum(-1, keepdim=True) / tau_pos
    if negative_set == "own":
        negative_logits = (anchors * negative_features).sum(-1, keepdim=True) / tau_neg
    else:
        negative_logits = anchors @ negative_features.t() / tau_neg
    i2t_logits = torch.cat([positive_logit, negative_logits], dim=1)
    other_images = positive_features @ image_features.t() / tau_neg
    own_column = torch.zeros_like(other_images, dtype=torch.bool)
    own_column[torch.arange(m, device=own_column.device), cfa_index] = True
    other_images = other_images.masked_fill(own_column, float("-inf"))
    t2i_logits = torch.cat([positive_logit, other_images], dim=1)
    target = torch.zeros(m, dtype=torch.long, device=image_features.device)
    return (F.cross_entropy(i2t_logits, target) + F.cross_entropy(t2i_logits, target)) / 2


def _leaves(b: int, m: int, dim: int = 16, seed: int = 11) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)

    def unit(rows: int) -> torch.Tensor:
        return F.normalize(torch.randn(rows, dim, generator=generator), dim=-1).requires_grad_()

    return unit(b), unit(m), unit(m)


@pytest.mark.parametrize("negative_set", ["batch", "own"])
def test_default_reading_reproduces_the_reconstruction_bit_for_bit(negative_set: str) -> None:
    """The default options (through the config, as training calls it) give the same float32 loss and
    the same gradients, to the bit, as the loss before the readings existed."""
    s = torch.tensor([0, 2, 3, 7])
    scale = torch.tensor(30.0)
    old_leaves, new_leaves = _leaves(9, 4), _leaves(9, 4)
    before = _cfa_loss_before(*old_leaves, s, tau_pos=0.5, tau_neg=0.3, negative_set=negative_set)
    before.backward()
    config = PurifyConfig(negative_set=negative_set)
    img, pos, neg = new_leaves
    features = GatheredFeatures(img, img, scale, positive=pos, negative=neg, cfa_index=s)
    now = TERMS["cfa"].compute(features, config)
    now.backward()
    assert torch.equal(now, before)
    for old, new in zip(old_leaves, new_leaves, strict=True):
        assert torch.equal(new.grad, old.grad)


def test_text_side_sends_no_gradient_to_image_features() -> None:
    s = torch.tensor([1, 2, 4])
    img, pos, neg = _leaves(6, 3)
    both = cfa_loss(img, pos, neg, s, tau_pos=0.5, tau_neg=0.3)
    text = cfa_loss(img, pos, neg, s, tau_pos=0.5, tau_neg=0.3, side="text")
    assert torch.equal(both, text)  # the same value; only where the gradient goes differs
    text.backward()
    assert img.grad is None
    assert pos.grad is not None and pos.grad.abs().sum() > 0 and neg.grad.abs().sum() > 0


def test_image_side_sends_no_gradient_to_subcaptions() -> None:
    s = torch.tensor([1, 2, 4])
    img, pos, neg = _leaves(6, 3)
    cfa_loss(img, pos, neg, s, tau_pos=0.5, tau_neg=0.3, side="image").backward()
    assert pos.grad is None and neg.grad is None
    assert img.grad is not None and img.grad.abs().sum() > 0


@pytest.mark.parametrize("t2i", ["batch_images", "own_negative", "batch_and_own"])
@pytest.mark.parametrize("negative_set", ["batch", "own"])
def test_t2i_negatives_match_the_hand_loop(t2i: str, negative_set: str) -> None:
    """L_T2I's negatives: the other images s(p_i, u_k), the image against its own negative s(n_i, u_i),
    or both."""
    b, tau_pos, tau_neg = 7, 0.5, 0.3
    img = _unit(b, 8)
    s = [0, 3, 6]
    pos, neg = _unit(len(s), 8), _unit(len(s), 8)
    i2t = t2i_ref = 0.0
    for a, i in enumerate(s):
        u, p = img[i], pos[a]
        positive = float(u @ p) / tau_pos
        negs = (
            [float(u @ neg[j]) / tau_neg for j in range(len(s))]
            if negative_set == "batch"
            else [float(u @ neg[a]) / tau_neg]
        )
        i2t += _nll([positive, *negs], 0) / len(s)
        t2i_negs = []
        if t2i != "own_negative":
            t2i_negs += [float(p @ img[k]) / tau_neg for k in range(b) if k != i]
        if t2i != "batch_images":
            t2i_negs.append(float(neg[a] @ u) / tau_neg)
        assert len(t2i_negs) == {"batch_images": b - 1, "own_negative": 1, "batch_and_own": b}[t2i]
        t2i_ref += _nll([positive, *t2i_negs], 0) / len(s)
    got = cfa_loss(img, pos, neg, torch.tensor(s), tau_pos=tau_pos, tau_neg=tau_neg, negative_set=negative_set, t2i=t2i)
    assert float(got) == pytest.approx((i2t + t2i_ref) / 2, rel=1e-9)
    if negative_set == "own" and t2i == "own_negative":
        assert t2i_ref == pytest.approx(i2t, rel=1e-12)  # both directions hold the same pair: L_CFA = L_I2T


# A 2x2 case worked by hand: u0 = (1, 0), u1 = (0, 1); p0 = (0.6, 0.8), p1 = (0.8, 0.6); n0 = (0, 1),
# n1 = (1, 0); S = both rows; the model's logit scale e^t = 10; τ+ = 0.5, τ− = 0.25. Similarities:
# s(u_i, p_i) = 0.6, s(u_i, n_j) ∈ {0 (own), 1 (the other's)}, s(p_i, u_k≠i) = 0.8; both rows alike.
# With a = positive logit, b0/b1 = negative logits at s = 0 / 1, c = other image's logit:
#   L_I2T = log(1 + e^(b0-a) + e^(b1-a)),  L_T2I = log(1 + e^(c-a)),  L_CFA = (L_I2T + L_T2I) / 2.
HAND_2X2 = {
    # replace: s/τ → a = 0.6/0.5 = 1.2, b0 = 0, b1 = 1/0.25 = 4, c = 0.8/0.25 = 3.2
    "replace": (math.log(1 + math.exp(-1.2) + math.exp(2.8)) + math.log(1 + math.exp(2.0))) / 2,
    # scale: e^t·τ·s → a = 10·0.5·0.6 = 3, b0 = 0, b1 = 10·0.25·1 = 2.5, c = 10·0.25·0.8 = 2
    "scale": (math.log(1 + math.exp(-3.0) + math.exp(-0.5)) + math.log(1 + math.exp(-1.0))) / 2,
    # scale_divide: e^t·s/τ → a = 10·0.6/0.5 = 12, b0 = 0, b1 = 10/0.25 = 40, c = 10·0.8/0.25 = 32
    "scale_divide": (math.log(1 + math.exp(-12.0) + math.exp(28.0)) + math.log(1 + math.exp(20.0))) / 2,
}


@pytest.mark.parametrize("temperature", sorted(HAND_2X2))
def test_temperature_readings_on_a_hand_worked_2x2_case(temperature: str) -> None:
    t = partial(torch.tensor, dtype=torch.float64)
    img, pos, neg = t([[1.0, 0.0], [0.0, 1.0]]), t([[0.6, 0.8], [0.8, 0.6]]), t([[0.0, 1.0], [1.0, 0.0]])
    got = cfa_loss(
        img, pos, neg, torch.tensor([0, 1]), tau_pos=0.5, tau_neg=0.25, temperature=temperature, logit_scale=t(10.0)
    )
    assert float(got) == pytest.approx(HAND_2X2[temperature], rel=1e-12)


def test_scaled_temperatures_follow_the_models_logit_scale() -> None:
    """'scale' and 'scale_divide' read the model's e^t (so they need it); 'replace' ignores it."""
    img, pos, neg = _unit(5, 8), _unit(2, 8), _unit(2, 8)
    s = torch.tensor([1, 3])
    kw = {"tau_pos": 0.5, "tau_neg": 0.3}
    with pytest.raises(ValueError, match="logit scale"):
        cfa_loss(img, pos, neg, s, temperature="scale", **kw)
    at = {
        (temp, scale): float(cfa_loss(img, pos, neg, s, temperature=temp, logit_scale=torch.tensor(scale), **kw))
        for temp in ("replace", "scale")
        for scale in (10.0, 50.0)
    }
    assert at["replace", 10.0] == at["replace", 50.0]
    assert at["scale", 10.0] != at["scale", 50.0]


def test_binary_form_matches_the_hand_loop() -> None:
    """'binary': -log σ(positive) + the mean over negatives of -log σ(-negative), per row, then the mean."""
    b, tau_pos, tau_neg = 6, 0.5, 0.3
    img = _unit(b, 8)
    s = [2, 5]
    pos, neg = _unit(len(s), 8), _unit(len(s), 8)

    def softplus(x: float) -> float:  # -log σ(-x)
        return math.log1p(math.exp(x))

    i2t = t2i = 0.0
    for a, i in enumerate(s):
        u, p = img[i], pos[a]
        pulled = softplus(-float(u @ p) / tau_pos)
        i2t += (pulled + sum(softplus(float(u @ n) / tau_neg) for n in neg) / len(s)) / len(s)
        others = [softplus(float(p @ img[k]) / tau_neg) for k in range(b) if k != i]
        t2i += (pulled + sum(others) / len(others)) / len(s)
    got = cfa_loss(img, pos, neg, torch.tensor(s), tau_pos=tau_pos, tau_neg=tau_neg, form="binary")
    assert float(got) == pytest.approx((i2t + t2i) / 2, rel=1e-9)


def test_every_reading_keeps_the_empty_set_in_the_graph() -> None:
    from cleanerclip_tool.config import CFA_READINGS

    empty = torch.zeros(0, 8, dtype=torch.float64)
    for name, values in CFA_READINGS.items():
        for value in values:
            if name == "cfa_schedule":
                continue
            img = _unit(4, 8).requires_grad_()
            config = PurifyConfig(**{name: value})
            features = GatheredFeatures(
                img, img, torch.tensor(10.0), positive=empty, negative=empty, cfa_index=torch.zeros(0, dtype=torch.long)
            )
            loss = TERMS["cfa"].compute(features, config)
            loss.backward()
            assert float(loss.detach()) == 0.0 and img.grad is not None, (name, value)


def test_cfa_schedules_take_turns_and_joint_is_untouched() -> None:
    img, txt, aimg, atxt = _unit(4, 8), _unit(4, 8), _unit(4, 8), _unit(4, 8)
    pos, neg, s = _unit(2, 8), _unit(2, 8), torch.tensor([0, 3])
    scale = torch.tensor(10.0, dtype=torch.float64)
    features = GatheredFeatures(img, txt, scale, aug_image=aimg, aug_text=atxt, positive=pos, negative=neg, cfa_index=s)

    def loss(**config) -> PurifyLoss:
        return PurifyLoss.from_config(PurifyConfig(lambda2=3.0, **config))

    joint = loss()
    assert joint.cfa_period(steps_per_epoch=30, cfa_steps=8) == 0
    assert [joint.phase_at(step, 0) for step in range(4)] == ["joint"] * 4
    assert joint.for_phase("joint") is joint

    alternate = loss(cfa_schedule="alternate")
    period = alternate.cfa_period(steps_per_epoch=30, cfa_steps=8)
    assert period == 2
    assert [alternate.phase_at(step, period) for step in range(4)] == ["cleanclip", "cfa", "cleanclip", "cfa"]
    assert alternate.cfa_period(steps_per_epoch=30, cfa_steps=0) == 0  # no S this epoch: nothing to alternate
    # interleave: S once per epoch, its 8 steps spread over 30 (every 3rd step; at least every other)
    interleave = loss(cfa_schedule="interleave")
    assert interleave.cfa_period(steps_per_epoch=30, cfa_steps=8) == 3
    assert interleave.cfa_period(steps_per_epoch=30, cfa_steps=20) == 2
    assert [interleave.phase_at(step, 3) for step in range(6)] == ["cleanclip", "cleanclip", "cfa"] * 2

    clean = alternate.for_phase("cleanclip")(features)
    cfa = alternate.for_phase("cfa")(features)
    assert set(clean) == set(cfa) == {"clip", "inmodal", "cfa", "total"}  # every term still reported
    assert float(clean["total"]) == pytest.approx(float(clean["clip"]) + float(clean["inmodal"]))
    assert float(cfa["total"]) == pytest.approx(3.0 * float(cfa["cfa"]))
    # Methods without a CFA term have nothing to alternate.
    cleanclip = PurifyLoss.from_config(PurifyConfig(method="cleanclip", cfa_schedule="alternate"))
    assert cleanclip.cfa_period(steps_per_epoch=30, cfa_steps=8) == 0
