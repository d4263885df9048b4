"""The purification objective as a weighted sum of named loss terms.

Each term is a pure function of the batch's features (all L2-normalised), small enough to check
against a hand-written loop (tests/test_losses.py):

- ``clip``: CLIP's multimodal contrastive loss, L_CLIP;
- ``inmodal``: CleanCLIP's in-modal self-supervision, L_SS (image vs its augmented view, caption
  vs its augmented caption);
- ``cfa``: CleanerCLIP's counterfactual alignment loss, L_CFA, on the positive and negative
  sub-captions of the epoch's K samples S;
- ``clip_fixed_scale`` and ``perturb``: PAR's objective (Perturb and Recover), L_CLIP with the
  temperature held constant, minus half the (thresholded) distances of the image and text
  embeddings from a frozen copy of the starting model.

A method is a preset of term weights (``METHODS``). ``PurifyLoss.from_config`` builds the sum a
config asks for, and, like open_clip's ``ClipLoss``, gathers the features of every process
itself, so the training step only runs the model. Adding a term is one function in ``TERMS``,
one line in a preset and one test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:
    from cleanerclip_tool.config import PurifyConfig

Gather = Callable[[Tensor], Tensor]


def _symmetric_ce(logits: Tensor) -> Tensor:
    labels = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2


def clip_loss(image_features: Tensor, text_features: Tensor, logit_scale: Tensor) -> Tensor:
    """Symmetric InfoNCE with the model's learnt temperature: L_CLIP [CleanCLIP code, open_clip]."""
    return _symmetric_ce(logit_scale * image_features @ text_features.t())


def inmodal_loss(
    image_features: Tensor,
    aug_image_features: Tensor,
    text_features: Tensor,
    aug_text_features: Tensor,
    logit_scale: Tensor,
) -> Tensor:
    """L_SS: image vs its augmented view, caption vs its augmented caption.

    As CleanCLIP's code does, each modality's logits use the model's logit scale and the
    cross-entropy is taken in one direction per modality (rows: originals, columns: views), then
    the two are averaged.
    """
    labels = torch.arange(image_features.shape[0], device=image_features.device)
    logits_img = logit_scale * image_features @ aug_image_features.t()
    logits_txt = logit_scale * text_features @ aug_text_features.t()
    return (F.cross_entropy(logits_img, labels) + F.cross_entropy(logits_txt, labels)) / 2


def embedding_distance(features: Tensor, frozen_features: Tensor) -> Tensor:
    """Mean over the batch of the squared L2 distance between two embeddings of the same inputs,
    summed over dimensions (not divided by them): 0..4 for unit vectors [PAR code, losses.l2]."""
    return (features - frozen_features).pow(2).sum(dim=1).mean()


def par_perturb_loss(
    image_features: Tensor,
    frozen_image_features: Tensor,
    text_features: Tensor,
    frozen_text_features: Tensor,
    *,
    threshold: float,
) -> Tensor:
    """PAR's perturbation term, -(d_img + d_txt) / 2 [PAR code, losses.CLIPLoss].

    Minimising it pushes the trained copy's embeddings away from the frozen copy's, where the
    poisoned model put them. A distance whose batch mean exceeds ``threshold`` is replaced by 0, so
    it stops pushing (and gets no gradient) once the embeddings are far enough; 2.15 is a cosine of
    about -0.075.
    """

    def capped(distance: Tensor) -> Tensor:
        return torch.where(distance > threshold, torch.zeros_like(distance), distance)

    d_img = embedding_distance(image_features, frozen_image_features)
    d_txt = embedding_distance(text_features, frozen_text_features)
    return -0.5 * (capped(d_img) + capped(d_txt))


def _cfa_logits(similarity: Tensor, tau: float, temperature: str, logit_scale: Tensor | None) -> Tensor:
    """A CFA similarity as a logit, by the ``temperature`` reading (docs/cfa-study.md, reading E).

    ``replace``: s/τ, τ in the place of the model's temperature (the reconstruction); ``scale``:
    e^t·τ·s, τ weighting the model's own logit; ``scale_divide``: e^t·s/τ, τ dividing it. e^t is the
    model's learnt logit scale (``logit_scale``, already exponentiated).
    """
    if temperature == "replace":
        return similarity / tau
    if logit_scale is None:
        raise ValueError(f"cfa temperature {temperature!r} needs the model's logit scale")
    if temperature == "scale":
        return similarity * (logit_scale * tau)
    if temperature == "scale_divide":
        return similarity * (logit_scale / tau)
    raise ValueError(f"temperature must be 'replace', 'scale' or 'scale_divide', not {temperature!r}")


def _contrast(positive: Tensor, negatives: Tensor, valid: Tensor | None, form: str) -> Tensor:
    """One direction of L_CFA from (m, 1) positive and (m, n) negative logits; ``valid`` masks out
    the negatives a row does not have (None: all valid).

    ``softmax``: -mean_i log e^{pos_i} / (e^{pos_i} + Σ_j e^{neg_ij}) (InfoNCE, the reconstruction).
    ``binary``: mean_i [-log σ(pos_i) + mean_j -log σ(-neg_ij)], a logistic term per pair
    (noise-contrastive estimation), the positive pulled and each negative pushed on its own.
    """
    if form == "softmax":
        if valid is not None:
            negatives = negatives.masked_fill(~valid, float("-inf"))
        logits = torch.cat([positive, negatives], dim=1)
        target = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
        return F.cross_entropy(logits, target)
    if form == "binary":
        pushed = -F.logsigmoid(-negatives)
        if valid is None:
            negative_part = pushed.mean(dim=1)
        else:
            pushed = pushed.masked_fill(~valid, 0.0)
            negative_part = pushed.sum(dim=1) / valid.sum(dim=1).clamp(min=1)
        return (-F.logsigmoid(positive).squeeze(1) + negative_part).mean()
    raise ValueError(f"form must be 'softmax' or 'binary', not {form!r}")


def cfa_loss(
    image_features: Tensor,
    positive_features: Tensor,
    negative_features: Tensor,
    cfa_index: Tensor,
    *,
    tau_pos: float,
    tau_neg: float,
    negative_set: str = "batch",
    side: str = "both",
    t2i: str = "batch_images",
    temperature: str = "replace",
    form: str = "softmax",
    logit_scale: Tensor | None = None,
) -> Tensor:
    """CleanerCLIP's counterfactual alignment loss, L_CFA = (L_I2T + L_T2I) / 2.

    The paper's equations for it were lost; the defaults are the reconstruction documented in
    docs/cfa-reconstruction.md, and every other value of a keyword is another reading of the same
    sentences (docs/cfa-study.md). For the rows i in S (``cfa_index`` into the batch), u_i = image
    features, p_i = positive sub-caption, n_j = negative sub-captions, by default:

      L_I2T = -mean_i log e^{s(u_i,p_i)/τ+} / (e^{s(u_i,p_i)/τ+} + Σ_j e^{s(u_i,n_j)/τ−})
      L_T2I = -mean_i log e^{s(p_i,u_i)/τ+} / (e^{s(p_i,u_i)/τ+} + Σ_{k≠i} e^{s(p_i,u_k)/τ−})

    - ``negative_set``: j runs over the negatives of all rows in S (``"batch"``) or only row i's own
      (``"own"``);
    - ``t2i``: L_T2I's negatives are the other images of the batch u_k (``"batch_images"``), the image
      against its own negative sub-caption s(n_i, u_i) (``"own_negative"``), or both
      (``"batch_and_own"``);
    - ``side``: ``"text"`` detaches the image features inside L_CFA (only the text tower learns from
      it), ``"image"`` detaches the sub-captions' features;
    - ``temperature``: how τ makes a logit of s (``_cfa_logits``; ``logit_scale`` is the model's e^t);
    - ``form``: ``"softmax"`` (InfoNCE) or ``"binary"`` (a logistic term per pair, ``_contrast``).

    With S empty in this batch the loss is 0 but stays in the graph, so DDP sees the same parameters
    used on every rank.
    """
    m = int(cfa_index.numel())
    if m == 0:
        return image_features.sum() * 0.0 + positive_features.sum() * 0.0 + negative_features.sum() * 0.0
    if side == "text":
        image_features = image_features.detach()
    elif side == "image":
        positive_features, negative_features = positive_features.detach(), negative_features.detach()
    elif side != "both":
        raise ValueError(f"side must be 'both', 'text' or 'image', not {side!r}")

    def logits(similarity: Tensor, tau: float) -> Tensor:
        return _cfa_logits(similarity, tau, temperature, logit_scale)

    anchors = image_features[cfa_index]  # (m, d)
    positive_logit = logits((anchors * positive_features).sum(-1, keepdim=True), tau_pos)  # (m, 1)

    if negative_set == "own":
        negative_logits = logits((anchors * negative_features).sum(-1, keepdim=True), tau_neg)  # (m, 1)
    elif negative_set == "batch":
        negative_logits = logits(anchors @ negative_features.t(), tau_neg)  # (m, m)
    else:
        raise ValueError(f"negative_set must be 'batch' or 'own', not {negative_set!r}")
    i2t = _contrast(positive_logit, negative_logits, None, form)

    t2i_parts: list[Tensor] = []
    t2i_valid: list[Tensor] = []
    if t2i in ("batch_images", "batch_and_own"):
        other_images = logits(positive_features @ image_features.t(), tau_neg)  # (m, B)
        own_column = torch.zeros_like(other_images, dtype=torch.bool)
        own_column[torch.arange(m, device=own_column.device), cfa_index] = True
        t2i_parts.append(other_images)
        t2i_valid.append(~own_column)
    if t2i in ("own_negative", "batch_and_own"):
        own_negative = logits((negative_features * anchors).sum(-1, keepdim=True), tau_neg)  # (m, 1)
        t2i_parts.append(own_negative)
        t2i_valid.append(torch.ones_like(own_negative, dtype=torch.bool))
    if not t2i_parts:
        raise ValueError(f"t2i must be 'batch_images', 'own_negative' or 'batch_and_own', not {t2i!r}")
    t2i_loss = _contrast(positive_logit, torch.cat(t2i_parts, dim=1), torch.cat(t2i_valid, dim=1), form)
    return (i2t + t2i_loss) / 2


@dataclass(frozen=True)
class BatchFeatures:
    """One process's features for one batch of B pairs, as the terms need them.

    ``aug_*`` are the augmented views' features (B rows each), present when a term needs
    ``"augmented"``. ``positive``/``negative`` are the sub-captions' features of the batch rows in
    S, in batch order (m rows each), and ``in_s`` the (B,) boolean mask of those rows, present
    when a term needs ``"subcaptions"``. ``frozen_*`` are the frozen starting model's features of
    the same images and captions (B rows each), present when a term needs ``"frozen"``.
    """

    image: Tensor
    text: Tensor
    logit_scale: Tensor
    aug_image: Tensor | None = None
    aug_text: Tensor | None = None
    positive: Tensor | None = None
    negative: Tensor | None = None
    in_s: Tensor | None = None
    frozen_image: Tensor | None = None
    frozen_text: Tensor | None = None


@dataclass(frozen=True)
class GatheredFeatures:
    """Every process's features, concatenated: what the terms compute on."""

    image: Tensor
    text: Tensor
    logit_scale: Tensor
    aug_image: Tensor | None = None
    aug_text: Tensor | None = None
    positive: Tensor | None = None
    negative: Tensor | None = None
    cfa_index: Tensor | None = None  # rows of ``image`` that are in S
    frozen_image: Tensor | None = None
    frozen_text: Tensor | None = None


@dataclass(frozen=True)
class LossTerm:
    """A named term: its function of the gathered features and the config, and what it needs the
    step to encode beyond the clean pair:

    - ``"augmented"``: each image's AutoAugment view and each caption's EDA version, as extra rows;
    - ``"subcaptions"``: the positive and negative sub-captions of the batch rows in S;
    - ``"frozen"``: the frozen starting model's features of the same images and captions;
    - ``"augmented_images"``: the model sees the AutoAugment views *instead of* the clean images
      (PAR trains on augmented images only).
    """

    name: str
    compute: Callable[[GatheredFeatures, PurifyConfig], Tensor]
    needs: frozenset[str] = frozenset()


def _clip_term(f: GatheredFeatures, config: PurifyConfig) -> Tensor:
    return clip_loss(f.image, f.text, f.logit_scale)


def _inmodal_term(f: GatheredFeatures, config: PurifyConfig) -> Tensor:
    assert f.aug_image is not None and f.aug_text is not None
    return inmodal_loss(f.image, f.aug_image, f.text, f.aug_text, f.logit_scale)


def _cfa_term(f: GatheredFeatures, config: PurifyConfig) -> Tensor:
    assert f.positive is not None and f.negative is not None and f.cfa_index is not None
    return cfa_loss(
        f.image,
        f.positive,
        f.negative,
        f.cfa_index,
        tau_pos=config.tau_pos,
        tau_neg=config.tau_neg,
        negative_set=config.negative_set,
        side=config.cfa_side,
        t2i=config.cfa_t2i,
        temperature=config.cfa_temperature,
        form=config.cfa_form,
        logit_scale=f.logit_scale,
    )


def _clip_fixed_scale_term(f: GatheredFeatures, config: PurifyConfig) -> Tensor:
    """L_CLIP with the temperature read as a constant: PAR's code passes ``logit_scale.exp().item()``."""
    return clip_loss(f.image, f.text, f.logit_scale.detach())


def _perturb_term(f: GatheredFeatures, config: PurifyConfig) -> Tensor:
    assert f.frozen_image is not None and f.frozen_text is not None
    return par_perturb_loss(f.image, f.frozen_image, f.text, f.frozen_text, threshold=config.par_threshold)


TERMS: dict[str, LossTerm] = {
    term.name: term
    for term in (
        LossTerm("clip", _clip_term),
        LossTerm("inmodal", _inmodal_term, frozenset({"augmented"})),
        LossTerm("cfa", _cfa_term, frozenset({"subcaptions"})),
        LossTerm("clip_fixed_scale", _clip_fixed_scale_term, frozenset({"augmented_images"})),
        LossTerm("perturb", _perturb_term, frozenset({"frozen", "augmented_images"})),
    )
}


def _ft_weights(config: PurifyConfig) -> dict[str, float]:
    """Plain fine-tuning: L_CLIP alone."""
    return {"clip": 1.0}


def _cleanclip_weights(config: PurifyConfig) -> dict[str, float]:
    """λ1 · (w_clip · L_CLIP + w_inmodal · L_SS) [CleanCLIP code]."""
    return {"clip": config.lambda1 * config.clip_weight, "inmodal": config.lambda1 * config.inmodal_weight}


def _cleanerclip_weights(config: PurifyConfig) -> dict[str, float]:
    """λ1 · L_CleanCLIP + λ2 · L_CFA [paper eq. (4)]; λ2 = 0 is CleanCLIP exactly."""
    return {**_cleanclip_weights(config), "cfa": config.lambda2}


def _par_weights(config: PurifyConfig) -> dict[str, float]:
    """L_PAR = L_CLIP - (d_img + d_txt) / 2, on AutoAugment views [PAR code]."""
    return {"clip_fixed_scale": 1.0, "perturb": 1.0}


METHODS: dict[str, Callable[[PurifyConfig], dict[str, float]]] = {
    "ft": _ft_weights,
    "cleanclip": _cleanclip_weights,
    "cleanerclip": _cleanerclip_weights,
    "par": _par_weights,
}


def _identity(tensor: Tensor) -> Tensor:
    return tensor


class PurifyLoss(nn.Module):
    """L = Σ_t w_t · L_t over the terms a method's preset weights; returns every term and ``total``.

    A term with weight 0 is still computed and reported (λ2 = 0 shows what L_CFA would have been).
    """

    def __init__(self, weights: dict[str, float], config: PurifyConfig) -> None:
        super().__init__()
        unknown = sorted(set(weights) - set(TERMS))
        if unknown:
            raise ValueError(f"unknown loss term(s) {', '.join(unknown)}; known: {', '.join(TERMS)}")
        # Terms run in TERMS order whatever the preset's order, so the sum is always added up alike.
        self.weights = {name: float(weights[name]) for name in TERMS if name in weights}
        self.config = config

    @classmethod
    def from_config(cls, config: PurifyConfig) -> PurifyLoss:
        """The preset of ``config.method`` with the config's weights and temperatures."""
        if config.method not in METHODS:
            raise ValueError(f"unknown method {config.method!r}; known: {', '.join(METHODS)}")
        return cls(METHODS[config.method](config), config)

    def cfa_period(self, steps_per_epoch: int, cfa_steps: int) -> int:
        """Every how many optimizer steps of an epoch one trains L_CFA alone; 0: none (every step is
        ``"joint"``). ``cfa_steps`` is how many steps one pass over this epoch's S takes.

        ``cfa_schedule="joint"``, a loss without a CFA term or an empty S: 0. ``"alternate"``: 2, the
        steps take turns (docs/cfa-study.md, reading C). ``"interleave"``: the epoch's S passes
        through L_CFA about once, its steps spread evenly over the epoch (reading F).
        """
        schedule = self.config.cfa_schedule
        if schedule == "joint" or "cfa" not in self.weights or cfa_steps < 1:
            return 0
        if schedule == "alternate":
            return 2
        if schedule == "interleave":
            return max(2, steps_per_epoch // cfa_steps)
        raise ValueError(f"cfa_schedule must be 'joint', 'alternate' or 'interleave', not {schedule!r}")

    @staticmethod
    def phase_at(step_in_epoch: int, period: int) -> str:
        """Which part of the objective optimizer step ``step_in_epoch`` (0-based) trains, with
        ``period`` from ``cfa_period``: ``"joint"`` (the whole weighted sum) when it is 0; otherwise
        ``"cfa"`` on the last step of each period (the loop feeds it a batch made of S alone) and
        ``"cleanclip"`` on the others."""
        if period < 1:
            return "joint"
        return "cfa" if step_in_epoch % period == period - 1 else "cleanclip"

    def for_phase(self, phase: str) -> PurifyLoss:
        """This loss for one phase of ``phase_at``: every term is still computed and reported (and kept
        in the graph, so DDP sees every parameter used), but the total weighs only the CleanCLIP
        terms (``"cleanclip"``: L_CFA at weight 0) or only λ2 · L_CFA (``"cfa"``)."""
        if phase == "joint":
            return self
        if phase not in ("cleanclip", "cfa"):
            raise ValueError(f"phase must be 'joint', 'cleanclip' or 'cfa', not {phase!r}")
        keep_cfa = phase == "cfa"
        weights = {name: (w if (name == "cfa") == keep_cfa else 0.0) for name, w in self.weights.items()}
        return PurifyLoss(weights, self.config)

    def needs(self, what: str) -> bool:
        """Whether a term of this loss needs ``what`` (``"augmented"``, ``"subcaptions"``) encoded."""
        return any(what in TERMS[name].needs for name in self.weights)

    def gather(self, local: BatchFeatures, gather: Gather = _identity) -> GatheredFeatures:
        """Concatenate every process's features (``gather`` all-gathers with gradients; the identity
        in one process). Sub-caption features are scattered into batch-shaped tensors first, so every
        process gathers equal shapes whatever its share of S."""
        positive = negative = cfa_index = None
        if local.in_s is not None and local.positive is not None and local.negative is not None:
            b, dim = local.image.shape[0], local.positive.shape[1]
            positive_full = local.positive.new_zeros(b, dim)
            negative_full = local.positive.new_zeros(b, dim)
            rows = torch.nonzero(local.in_s).flatten()
            if rows.numel():
                positive_full = positive_full.index_copy(0, rows, local.positive)
                negative_full = negative_full.index_copy(0, rows, local.negative)
            cfa_index = torch.nonzero(gather(local.in_s.float()) > 0.5).flatten()
            positive = gather(positive_full)[cfa_index]
            negative = gather(negative_full)[cfa_index]

        def gathered(t: Tensor | None) -> Tensor | None:
            return gather(t) if t is not None else None

        return GatheredFeatures(
            image=gather(local.image),
            text=gather(local.text),
            logit_scale=local.logit_scale,
            aug_image=gathered(local.aug_image),
            aug_text=gathered(local.aug_text),
            positive=positive,
            negative=negative,
            cfa_index=cfa_index,
            frozen_image=gathered(local.frozen_image),
            frozen_text=gathered(local.frozen_text),
        )

    def forward(self, features: BatchFeatures | GatheredFeatures, gather: Gather = _identity) -> dict[str, Tensor]:
        if isinstance(features, BatchFeatures):
            features = self.gather(features, gather)
        terms = {name: TERMS[name].compute(features, self.config) for name in self.weights}
        total: Tensor | None = None
        for name, weight in self.weights.items():
            weighted = terms[name] if weight == 1.0 and total is None else weight * terms[name]
            total = weighted if total is None else total + weighted
        assert total is not None
        terms["total"] = total
        return terms
