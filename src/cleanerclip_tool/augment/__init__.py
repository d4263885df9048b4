"""Counterfactual text augmentation (paper §3.2) and CleanCLIP's EDA: text in, text out, no torch.

``SubCaptioner`` turns captions into factual (positive) and counterfactual (negative) sub-captions;
``eda_augment`` is the in-modal loss's caption augmentation. spaCy loads lazily, on first parse.
"""

from __future__ import annotations

from cleanerclip_tool.augment.eda import EDA_OPERATIONS, eda_augment, synonym_source
from cleanerclip_tool.augment.negative import OPERATIONS
from cleanerclip_tool.augment.subcaptioner import BatchStats, SubCaption, SubCaptioner, caption_rng, operation_mix
from cleanerclip_tool.augment.wordbanks import WordBanks, load_wordbanks

__all__ = [
    "EDA_OPERATIONS",
    "OPERATIONS",
    "BatchStats",
    "SubCaption",
    "SubCaptioner",
    "WordBanks",
    "caption_rng",
    "eda_augment",
    "load_wordbanks",
    "operation_mix",
    "synonym_source",
]
