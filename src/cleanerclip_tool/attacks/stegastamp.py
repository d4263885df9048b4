"""A small StegaStamp-style encoder/decoder for the SSBA trigger (Li et al., ICCV 2021).

SSBA hides a fixed code string in every poisoned image with a StegaStamp encoder, so the trigger is
an invisible residual that differs from image to image. The public encoders are TensorFlow models
behind links we cannot reach, so cleanerclip defines its own small pair here and can train it:

* ``StegaEncoder(image, bits) -> residual``: the bits go through a dense layer to a coarse
  ``3 x grid x grid`` map (StegaStamp maps its secret to 3x50x50 the same way), upsampled to the
  image size and concatenated with the image; a few convolutions produce the residual, bounded by
  ``epsilon * tanh`` so it stays invisible at any resolution.
* ``StegaDecoder(image) -> bit logits``: convolutions, adaptive pooling to the code grid, a dense
  layer. Training makes it recover the bits from encoded images, which is what forces the residual
  to carry the code rather than be noise.

Weights are saved and loaded as safetensors only (no pickle), with the architecture in the
file's metadata so a user's file rebuilds the right network.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from cleanerclip_tool.errors import BadInputError, DataError
from cleanerclip_tool.events import EventCallback, Info, TaskFinished, TaskProgress, TaskStarted, ignore_event

FORMAT_TAG = "cleanerclip-ssba-v1"


@dataclass(frozen=True)
class StegaConfig:
    n_bits: int = 32  # code length; SSBA used 100 BCH-coded bits at 224x224, 32 suits 32x32 toy images
    channels: int = 16
    grid: int = 8  # the secret's spatial map side before upsampling
    epsilon: float = 8 / 255  # bound on |residual| per pixel and channel (0..1 scale)

    def to_metadata(self) -> dict[str, str]:
        return {
            "format": FORMAT_TAG,
            "n_bits": str(self.n_bits),
            "channels": str(self.channels),
            "grid": str(self.grid),
            "epsilon": repr(float(self.epsilon)),
        }

    @classmethod
    def from_metadata(cls, meta: dict[str, str], where: Path) -> StegaConfig:
        if meta.get("format") != FORMAT_TAG:
            raise BadInputError(
                f"not a cleanerclip SSBA encoder (format {meta.get('format')!r})",
                where=where,
                hint="train one with `cleanerclip trigger train-ssba DATA --out enc.safetensors`",
            )
        try:
            return cls(int(meta["n_bits"]), int(meta["channels"]), int(meta["grid"]), float(meta["epsilon"]))
        except (KeyError, ValueError) as exc:
            raise BadInputError(f"broken SSBA metadata: {exc}", where=where) from None


class StegaEncoder(nn.Module):
    """(image in [0, 1], bits in {0, 1}) -> residual bounded by ``epsilon``."""

    def __init__(self, config: StegaConfig) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        self.secret = nn.Linear(config.n_bits, 3 * config.grid * config.grid)
        self.net = nn.Sequential(
            nn.Conv2d(6, c, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=2, dilation=2),
            nn.ReLU(),
            nn.Conv2d(c, 3, 1),
        )

    def forward(self, image: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        g = self.config.grid
        secret = self.secret(bits.float() * 2.0 - 1.0).view(-1, 3, g, g)
        secret = F.interpolate(secret, size=image.shape[-2:], mode="bilinear", align_corners=False)
        # the secret map also skips straight to the output: at initialisation the residual already
        # carries the code, so the decoder learns to read it within a few hundred CPU steps instead of
        # sitting on StegaStamp's long 50%-accuracy plateau; the convolutions make it image-specific
        return self.config.epsilon * torch.tanh(self.net(torch.cat([image - 0.5, secret], dim=1)) + secret)


class StegaDecoder(nn.Module):
    """Encoded image -> one logit per code bit."""

    def __init__(self, config: StegaConfig) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        self.net = nn.Sequential(
            nn.Conv2d(3, c, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(config.grid),
        )
        self.head = nn.Linear(c * config.grid * config.grid, config.n_bits)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        # The code lives in a residual of at most epsilon; the image content is ~100x larger. Reading
        # a 5x5 high-pass scaled by 1/epsilon makes the residual O(1) and removes flat content, which
        # takes training from a long plateau at 50% bit accuracy to >95% within ~100 CPU steps.
        detail = image - F.avg_pool2d(image, 5, stride=1, padding=2, count_include_pad=False)
        return self.head(self.net(detail / self.config.epsilon).flatten(1))


def default_encoder(config: StegaConfig, seed: int) -> StegaEncoder:
    """A deterministic untrained encoder (weights from ``seed``): fast to build, sample-specific.

    Without training its residual is still bounded and image-dependent, but no decoder recovers
    the bits; it is the fallback when no trained encoder is given (tests, quick scans). PyTorch's
    default init leaves the output ~0.1 with a per-channel bias, which would make the residual a
    faint constant tint; the last layer is rescaled (gain 15, no bias) so the residual uses most of
    its ``epsilon`` budget and varies with the image, as a trained encoder's does.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = StegaEncoder(config)
    last = encoder.net[-1]
    with torch.no_grad():
        last.weight.mul_(15.0)
        last.bias.zero_()
    return encoder.eval()


def save_stegastamp(
    encoder: StegaEncoder, decoder: StegaDecoder | None, path: str | Path, extra: dict[str, str] | None = None
) -> Path:
    """Write both networks to one safetensors file (tensors prefixed ``encoder.``/``decoder.``)."""
    from safetensors.torch import save_file

    tensors = {f"encoder.{k}": v.detach().cpu().contiguous() for k, v in encoder.state_dict().items()}
    if decoder is not None:
        tensors.update({f"decoder.{k}": v.detach().cpu().contiguous() for k, v in decoder.state_dict().items()})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={**encoder.config.to_metadata(), **(extra or {})})
    return path


def load_stegastamp(path: str | Path) -> tuple[StegaEncoder, StegaDecoder | None, dict[str, str]]:
    """Read a safetensors file written by ``save_stegastamp``; never unpickles anything."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if path.suffix != ".safetensors":
        raise BadInputError("SSBA encoders are read from .safetensors files only", where=path)
    if not path.is_file():
        raise BadInputError("SSBA encoder file not found", where=path)
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = dict(fh.metadata() or {})
            tensors = {key: fh.get_tensor(key) for key in fh.keys()}  # noqa: SIM118 - safe_open has no __iter__
    except (SafetensorError, OSError) as exc:
        raise BadInputError(f"unreadable safetensors file: {exc}", where=path) from None
    config = StegaConfig.from_metadata(meta, path)
    encoder = StegaEncoder(config)
    _load_prefixed(encoder, tensors, "encoder.", path)
    decoder = None
    if any(key.startswith("decoder.") for key in tensors):
        decoder = StegaDecoder(config)
        _load_prefixed(decoder, tensors, "decoder.", path)
        decoder.eval()
    return encoder.eval(), decoder, meta


def _load_prefixed(module: nn.Module, tensors: dict[str, torch.Tensor], prefix: str, where: Path) -> None:
    state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise BadInputError(f"SSBA weights do not match the architecture in the metadata: {exc}", where=where) from None


@dataclass
class StegaTrainResult:
    out: Path
    steps: int
    seconds: float
    bit_accuracy: float  # on held-out random codes over training images
    mean_abs_residual: float  # 0..255 scale
    psnr: float


def _image_tensor(images: Sequence[Image.Image], size: int) -> torch.Tensor:
    arrays = [np.asarray(img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)) for img in images]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255.0


def train_stegastamp(
    images: Sequence[Image.Image],
    out: str | Path,
    *,
    config: StegaConfig = StegaConfig(),
    image_size: int = 32,
    steps: int = 300,
    batch_size: int = 32,
    lr: float = 2e-3,
    residual_weight: float = 0.1,
    seed: int = 0,
    on_event: EventCallback = ignore_event,
) -> StegaTrainResult:
    """Train encoder + decoder on ``images`` (resized to ``image_size``) and save them to ``out``.

    Loss = BCE(decoder(image + residual), bits) + w * mean((residual / epsilon)^2), where w ramps
    linearly from 0 to ``residual_weight`` over the first half of training (StegaStamp ramps its
    image loss the same way): with the penalty on from step one the residual collapses to zero
    before the decoder has learnt to read anything. The decoder must read the code, the encoder
    must hide it with as small a residual as it can.
    Training adds one 8-bit quantisation step of uniform noise so the code survives saving as PNG.
    """
    if len(images) < 2:
        raise DataError("need at least 2 images to train an SSBA encoder")
    if steps < 1 or batch_size < 1 or image_size < 8:
        raise BadInputError("steps and batch size must be >= 1, image size >= 8", where="train-ssba")
    started = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder, decoder = StegaEncoder(config), StegaDecoder(config)
    data = _image_tensor(images, image_size)
    params = list(encoder.parameters()) + list(decoder.parameters())
    optimizer = torch.optim.Adam(params, lr=lr)
    on_event(TaskStarted("train-ssba", total=steps, description="training the SSBA encoder/decoder"))
    encoder.train()
    decoder.train()
    for step in range(1, steps + 1):
        idx = torch.randint(0, data.shape[0], (batch_size,), generator=generator)
        batch = data[idx]
        if torch.rand((), generator=generator) < 0.5:
            batch = batch.flip(-1)
        bits = torch.randint(0, 2, (batch_size, config.n_bits), generator=generator).float()
        residual = encoder(batch, bits)
        encoded = (batch + residual).clamp(0, 1)
        # 8-bit rounding modelled as uniform noise of one quantisation step: hard rounding in the
        # forward pass would erase the tiny initial residual and the decoder would never see a code
        encoded = encoded + (torch.rand(encoded.shape, generator=generator) - 0.5) / 255.0
        logits = decoder(encoded)
        bit_loss = F.binary_cross_entropy_with_logits(logits, bits)
        size_loss = ((residual / config.epsilon) ** 2).mean()
        ramp = min(1.0, 2.0 * step / steps)
        loss = bit_loss + residual_weight * ramp * size_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % 25 == 0 or step == steps:
            acc = ((logits > 0).float() == bits).float().mean().item()
            on_event(
                TaskProgress(
                    "train-ssba", step, steps, {"bit_loss": round(bit_loss.item(), 4), "bit_acc": round(acc, 4)}
                )
            )
    encoder.eval()
    decoder.eval()
    accuracy, mean_abs, psnr = evaluate_stegastamp(encoder, decoder, data, seed=seed + 1)
    path = save_stegastamp(
        encoder,
        decoder,
        out,
        extra={
            "image_size": str(image_size),
            "seed": str(seed),
            "steps": str(steps),
            "bit_accuracy": f"{accuracy:.4f}",
        },
    )
    seconds = time.perf_counter() - started
    result = StegaTrainResult(path, steps, seconds, accuracy, mean_abs, psnr)
    on_event(TaskFinished("train-ssba", {"bit_accuracy": accuracy, "psnr": psnr, "seconds": seconds}))
    on_event(Info(f"SSBA encoder written to {path}"))
    return result


@torch.no_grad()
def evaluate_stegastamp(
    encoder: StegaEncoder, decoder: StegaDecoder, data: torch.Tensor, *, seed: int = 1
) -> tuple[float, float, float]:
    """(bit accuracy on fresh random codes, mean |residual| in 0..255, PSNR in dB) after 8-bit rounding."""
    generator = torch.Generator().manual_seed(seed)
    bits = torch.randint(0, 2, (data.shape[0], encoder.config.n_bits), generator=generator).float()
    encoded = ((data + encoder(data, bits)).clamp(0, 1) * 255).round() / 255
    accuracy = ((decoder(encoded) > 0).float() == bits).float().mean().item()
    diff = (encoded - data) * 255
    mse = float((diff**2).mean())
    psnr = 10 * math.log10(255.0**2 / mse) if mse > 0 else float("inf")
    return accuracy, float(diff.abs().mean()), psnr


def code_bits(n_bits: int, seed: int, code: str | None = None) -> np.ndarray:
    """The fixed code every poisoned image carries: ``code`` as 0/1 text, else drawn from ``seed``."""
    if code is not None:
        text = code.strip()
        if len(text) != n_bits or set(text) - {"0", "1"}:
            raise BadInputError(f"code must be {n_bits} characters of 0/1 (got {code!r})", where="ssba")
        return np.array([int(ch) for ch in text], dtype=np.float32)
    return np.random.default_rng([seed, 0x55BA]).integers(0, 2, n_bits).astype(np.float32)
