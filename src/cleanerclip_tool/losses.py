"""The three objectives: CLIP (multimodal), CleanCLIP's in-modal self-supervision, and CleanerCLIP's CFA.

All features arrive L2-normalised. Each function is pure and small so it can be checked against a
hand-written loop (tests/test_losses.py); ``PurifyLoss`` combines them per method and returns the
named terms, open_clip-style.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


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


def cfa_loss(
    image_features: Tensor,
    positive_features: Tensor,
    negative_features: Tensor,
    cfa_index: Tensor,
    *,
    tau_pos: float,
    tau_neg: float,
    negative_set: str = "batch",
) -> Tensor:
    """CleanerCLIP's counterfactual alignment loss, L_CFA = (L_I2T + L_T2I) / 2.

    [reconstructed — ../shared/paper/NOTES.md, equations (1)–(3)] For the rows i in S (``cfa_index``
    into the batch), u_i = image features, p_i = positive sub-caption, n_j = negative sub-captions:

      L_I2T = -mean_i log e^{s(u_i,p_i)/τ+} / (e^{s(u_i,p_i)/τ+} + Σ_j e^{s(u_i,n_j)/τ−})
      L_T2I = -mean_i log e^{s(p_i,u_i)/τ+} / (e^{s(p_i,u_i)/τ+} + Σ_{k≠i} e^{s(p_i,u_k)/τ−})

    j runs over the negatives of all rows in S (``negative_set="batch"``) or only row i's own
    (``"own"``); k runs over every other image of the batch. With S empty in this batch the loss
    is 0 but stays in the graph, so DDP sees the same parameters used on every rank.
    """
    m = int(cfa_index.numel())
    if m == 0:
        return image_features.sum() * 0.0 + positive_features.sum() * 0.0 + negative_features.sum() * 0.0
    anchors = image_features[cfa_index]  # (m, d)
    positive_logit = (anchors * positive_features).sum(-1, keepdim=True) / tau_pos  # (m, 1)

    if negative_set == "own":
        negative_logits = (anchors * negative_features).sum(-1, keepdim=True) / tau_neg  # (m, 1)
    elif negative_set == "batch":
        negative_logits = anchors @ negative_features.t() / tau_neg  # (m, m)
    else:
        raise ValueError(f"negative_set must be 'batch' or 'own', not {negative_set!r}")
    i2t_logits = torch.cat([positive_logit, negative_logits], dim=1)

    other_images = positive_features @ image_features.t() / tau_neg  # (m, B)
    own_column = torch.zeros_like(other_images, dtype=torch.bool)
    own_column[torch.arange(m, device=own_column.device), cfa_index] = True
    other_images = other_images.masked_fill(own_column, float("-inf"))
    t2i_logits = torch.cat([positive_logit, other_images], dim=1)

    target = torch.zeros(m, dtype=torch.long, device=image_features.device)
    return (F.cross_entropy(i2t_logits, target) + F.cross_entropy(t2i_logits, target)) / 2


class PurifyLoss(nn.Module):
    """L = λ1 · (w_clip · L_CLIP + w_inmodal · L_SS) + λ2 · L_CFA, with the terms each method uses.

    ``ft`` is L_CLIP alone (the fine-tuning baseline), ``cleanclip`` the λ1 term [CleanCLIP code],
    ``cleanerclip`` both terms [paper eq. (4)].
    """

    def __init__(
        self,
        method: str,
        *,
        lambda1: float = 1.0,
        lambda2: float = 1.0,
        tau_pos: float = 0.5,
        tau_neg: float = 0.3,
        clip_weight: float = 1.0,
        inmodal_weight: float = 1.0,
        negative_set: str = "batch",
    ) -> None:
        super().__init__()
        if method not in ("ft", "cleanclip", "cleanerclip"):
            raise ValueError(f"unknown method {method!r}")
        self.method = method
        self.lambda1, self.lambda2 = lambda1, lambda2
        self.tau_pos, self.tau_neg = tau_pos, tau_neg
        self.clip_weight, self.inmodal_weight = clip_weight, inmodal_weight
        self.negative_set = negative_set

    @property
    def uses_inmodal(self) -> bool:
        return self.method in ("cleanclip", "cleanerclip")

    @property
    def uses_cfa(self) -> bool:
        return self.method == "cleanerclip"

    def forward(
        self,
        image_features: Tensor,
        text_features: Tensor,
        logit_scale: Tensor,
        *,
        aug_image_features: Tensor | None = None,
        aug_text_features: Tensor | None = None,
        positive_features: Tensor | None = None,
        negative_features: Tensor | None = None,
        cfa_index: Tensor | None = None,
    ) -> dict[str, Tensor]:
        terms: dict[str, Tensor] = {"clip": clip_loss(image_features, text_features, logit_scale)}
        if self.method == "ft":
            terms["total"] = terms["clip"]
            return terms
        assert aug_image_features is not None and aug_text_features is not None
        terms["inmodal"] = inmodal_loss(
            image_features, aug_image_features, text_features, aug_text_features, logit_scale
        )
        cleanclip = self.clip_weight * terms["clip"] + self.inmodal_weight * terms["inmodal"]
        if not self.uses_cfa:
            terms["total"] = self.lambda1 * cleanclip
            return terms
        assert positive_features is not None and negative_features is not None and cfa_index is not None
        terms["cfa"] = cfa_loss(
            image_features,
            positive_features,
            negative_features,
            cfa_index,
            tau_pos=self.tau_pos,
            tau_neg=self.tau_neg,
            negative_set=self.negative_set,
        )
        terms["total"] = self.lambda1 * cleanclip + self.lambda2 * terms["cfa"]
        return terms
