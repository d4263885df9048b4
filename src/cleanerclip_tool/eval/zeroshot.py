"""The zero-shot classifier: class names × prompt templates -> one text embedding per class.

As in CLIP and CleanCLIP's evaluate.py: each prompt embedding is L2-normalised, averaged over the
templates of a class, and renormalised; logits are plain cosine similarities (no logit scale,
which does not change any ranking). Built once per class set and reused for every attack.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


def format_prompt(template: str | Callable[[str], str], classname: str) -> str:
    return template(classname) if callable(template) else template.replace("{}", classname)


@torch.no_grad()
def build_classifier(
    model: torch.nn.Module,
    tokenizer: Callable[[list[str]], torch.Tensor],
    classnames: Sequence[str],
    templates: Sequence[str | Callable[[str], str]],
    *,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
) -> torch.Tensor:
    """``[embed_dim, num_classes]`` float32 weights on ``device``."""
    prompts = [format_prompt(t, name) for name in classnames for t in templates]
    chunks = []
    for start in range(0, len(prompts), batch_size):
        tokens = tokenizer(prompts[start : start + batch_size]).to(device)
        chunks.append(torch.nn.functional.normalize(model.encode_text(tokens).float(), dim=-1))
    per_prompt = torch.cat(chunks).view(len(classnames), len(templates), -1)
    weights = torch.nn.functional.normalize(per_prompt.mean(dim=1), dim=-1)
    return weights.T.contiguous()
