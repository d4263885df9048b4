"""``purify``: fine-tune a CLIP model with FT, CleanCLIP or CleanerCLIP, top to bottom.

Set-up (data, sub-captions, optimizer, resume) → for each epoch: draw the K CFA samples, then for
each step: forward both towers once, compute the loss terms, check them, step, checkpoint →
evaluate → save the purified model. Printing is the caller's job: everything is reported through
``on_event``; ``stop`` (a ``threading.Event``) ends the run cleanly at the next step boundary.
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cleanerclip_tool.config import PurifyConfig
from cleanerclip_tool.data.captions import CaptionTable, SkippedRow, write_skipped_csv
from cleanerclip_tool.data.dataset import EpochSampler, PurifyDataset
from cleanerclip_tool.engine import checkpoint as ckpt
from cleanerclip_tool.engine.distributed import (
    DistInfo,
    all_reduce_flag,
    barrier,
    gather_with_grad,
    init_distributed,
    merge_dicts,
)
from cleanerclip_tool.engine.events import (
    BatchSizeLowered,
    CheckpointWritten,
    EpochStarted,
    EvalDone,
    RunFinished,
    RunStarted,
    StepDone,
    StepSkipped,
)
from cleanerclip_tool.engine.schedule import lr_at
from cleanerclip_tool.errors import BadInputError, DataError, JobFailedError
from cleanerclip_tool.events import EventCallback, Info, Warning, ignore_event
from cleanerclip_tool.losses import PurifyLoss

LOGIT_SCALE_MAX = math.log(100)  # CleanCLIP and open_clip clamp the learnt temperature to ln 100


@dataclass
class PurifyResult:
    out: Path
    method: str
    epochs: int
    steps: int
    seconds: float
    samples_per_second: float
    final_losses: dict[str, float]
    config: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped: bool = False
    skipped_rows: int = 0
    skipped_steps: int = 0  # non-finite losses
    amp_skipped_steps: int = 0  # optimizer steps the GradScaler skipped (inf/NaN gradients in fp16)
    batch_size: int = 0  # per process at the end (lower than asked when --auto-batch lowered it)
    batch_size_changes: list[dict[str, Any]] = field(default_factory=list)
    model_dir: Path | None = None

    def summary(self) -> dict[str, Any]:
        """The documented ``purify --json`` document."""
        losses = {k: self.final_losses.get(k) for k in ("clip", "inmodal", "cfa")}
        return {
            "out": str(self.out),
            "model": str(self.model_dir) if self.model_dir else None,
            "method": self.method,
            "epochs": self.epochs,
            "steps": self.steps,
            "seconds": round(self.seconds, 3),
            "samples_per_second": round(self.samples_per_second, 2),
            "final_losses": losses,
            "stopped": self.stopped,
            "skipped_rows": self.skipped_rows,
            "skipped_steps": self.skipped_steps,
            "amp_skipped_steps": self.amp_skipped_steps,
            "batch_size": self.batch_size,
            "batch_size_changes": self.batch_size_changes,
            "history": self.history,
            "config": self.config,
        }


def resolve_device(name: str, dist: DistInfo) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BadInputError("--device cuda asked for, but no CUDA device is available", where="--device")
        return torch.device("cuda", dist.local_rank) if name == "cuda" else torch.device(name)
    return torch.device(name)


def _autocast(device: torch.device, precision: str) -> tuple[Any, bool]:
    """(autocast context factory, use GradScaler). 'amp' means fp16 + GradScaler on CUDA; on the
    CPU fp16 autocast is unsupported and bf16 is slower than fp32 on most CPUs, so 'amp' runs fp32."""
    import contextlib

    if precision == "bf16":
        return (lambda: torch.autocast(device.type, dtype=torch.bfloat16)), False
    if precision == "amp" and device.type == "cuda":
        return (lambda: torch.autocast("cuda", dtype=torch.float16)), True
    return contextlib.nullcontext, False


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """No weight decay on norms, biases and the temperature, by name [CleanCLIP code, src/main.py]."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        exclude = "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name
        (no_decay if exclude else decay).append(p)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]


def data_fingerprint(table: CaptionTable) -> dict[str, Any]:
    digest = hashlib.sha256(table.csv_path.read_bytes()).hexdigest()
    return {"csv": str(table.csv_path), "sha256": digest, "rows": len(table.rows), "skipped": len(table.skipped)}


def draw_cfa_samples(n: int, k: int, seed: int, epoch: int) -> list[int]:
    """K rows drawn at random from the whole set, anew each epoch [paper §3.3]; the same on every rank."""
    return sorted(random.Random(seed * 7_907 + epoch).sample(range(n), k))


def purify(
    loaded: Any,
    data: CaptionTable,
    config: PurifyConfig,
    *,
    on_event: EventCallback = ignore_event,
    stop: threading.Event | None = None,
    eval_hook: Callable[[torch.nn.Module, int], dict[str, Any]] | None = None,
    resume: bool = False,
    subcaptioner: Any = None,
) -> PurifyResult:
    """Fine-tune ``loaded.model`` on ``data`` with ``config.method``; save to ``config.out``/model."""
    config.validate()
    if not config.out:
        raise BadInputError("no output folder given", where="--out")
    out = Path(config.out)
    rows = list(data.rows)
    n = len(rows)
    dist = init_distributed(
        "cuda" if config.device.startswith("cuda") or (config.device == "auto" and torch.cuda.is_available()) else "cpu"
    )
    emit = on_event if dist.is_main else ignore_event
    if n == 0:
        raise DataError("no usable rows (see skipped rows)", where=data.csv_path)
    per_rank = n // dist.world_size
    if per_rank < config.batch_size:
        raise BadInputError(
            f"batch size {config.batch_size} is larger than the {per_rank} rows each process gets", where="--batch-size"
        )
    if config.method == "cleanerclip" and config.samples > n:
        raise BadInputError(f"samples K={config.samples} is larger than the data set ({n} rows)", where="--samples")

    device = resolve_device(config.device, dist)
    autocast, use_scaler = _autocast(device, config.precision)
    if config.precision == "amp" and device.type != "cuda":
        emit(Info("precision 'amp' runs in fp32 on the CPU"))
    torch.manual_seed(config.seed)
    random.seed(config.seed)

    loss_fn = PurifyLoss(
        config.method,
        lambda1=config.lambda1,
        lambda2=config.lambda2,
        tau_pos=config.tau_pos,
        tau_neg=config.tau_neg,
        clip_weight=config.clip_weight,
        inmodal_weight=config.inmodal_weight,
        negative_set=config.negative_set,
    )
    aug_captions = None
    if loss_fn.uses_inmodal:
        # One EDA operation per caption, computed once when the data set is built [CleanCLIP code].
        from cleanerclip_tool.augment.eda import eda_augment

        aug_captions = [
            eda_augment(r.caption, random.Random(config.seed * 31 + i), wordbanks=config.wordbanks) or r.caption
            for i, r in enumerate(rows)
        ]
    if loss_fn.uses_cfa and subcaptioner is None:
        from cleanerclip_tool.augment import SubCaptioner

        subcaptioner = SubCaptioner(spacy_model=config.spacy_model, wordbanks=config.wordbanks)

    model = loaded.model.to(device)
    model.output_dict = True
    model.train()
    optimizer = torch.optim.AdamW(
        param_groups(model, config.weight_decay), lr=config.lr, betas=(config.beta1, config.beta2), eps=config.eps
    )
    scaler = torch.amp.GradScaler(device.type) if use_scaler else None

    dataset = PurifyDataset(
        rows,
        preprocess=loaded.preprocess,
        tokenizer=loaded.tokenizer,
        aug_captions=aug_captions,
        seed=config.seed,
        max_bad_in_a_row=config.max_bad_rows_in_a_row,
    )

    def make_loader(size: int) -> tuple[EpochSampler, torch.utils.data.DataLoader]:
        sampler = EpochSampler(n, batch_size=size, seed=config.seed, rank=dist.rank, world_size=dist.world_size)
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=size,
            sampler=sampler,
            num_workers=config.workers,
            pin_memory=device.type == "cuda",
            persistent_workers=config.workers > 0,
            drop_last=True,
        )
        return sampler, loader

    def steps_for(size: int) -> int:
        return ((n // dist.world_size) // size) // config.accum_steps

    batch_size = config.batch_size  # per process; --auto-batch may lower it after an out-of-memory error
    if steps_for(batch_size) < 1:
        raise BadInputError("fewer batches per epoch than --accum-steps", where="--accum-steps")
    # The LR schedule counts steps of the batch size the run started with: after the batch is
    # lowered (more, smaller steps) the learning rate still follows the same curve over the data.
    schedule_batch, schedule_step = batch_size, 0.0
    batch_changes: list[dict[str, Any]] = []
    skipped_steps = amp_skipped_steps = 0

    # --- resume --------------------------------------------------------------------------------
    start_epoch, start_batch, global_step, history = 0, 0, 0, []
    if resume:
        found = ckpt.latest_valid_checkpoint(out)
        if found is None:
            emit(Warning(f"--resume: no valid checkpoint in {out / ckpt.CHECKPOINT_DIR}; starting from the beginning"))
        else:
            path, state = found
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            if scaler is not None and state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
            ckpt.restore_rng_state(state["rng"])
            start_epoch, start_batch = int(state["epoch"]), int(state["batch_in_epoch"])
            global_step = int(state["step"])
            history = json.loads(state.get("history_json", "[]"))
            skipped_steps = int(state.get("skipped_steps", 0))
            amp_skipped_steps = int(state.get("amp_skipped_steps", 0))
            saved_batch = int(state.get("batch_size", batch_size))
            schedule_batch = int(state.get("schedule_batch", saved_batch))
            schedule_step = float(state.get("schedule_step", global_step))
            batch_changes = json.loads(state.get("batch_changes_json", "[]"))
            if saved_batch != batch_size:
                if config.auto_batch and saved_batch < batch_size:
                    batch_size = saved_batch
                    emit(Warning(f"--resume: continuing with batch size {saved_batch}, which --auto-batch chose"))
                else:
                    emit(
                        Warning(
                            f"--resume: the checkpoint was written with batch size {saved_batch}; batch size "
                            f"{batch_size} changes the contrastive objective (in-batch negatives)"
                        )
                    )
                    batch_changes.append({"step": global_step + 1, "from": saved_batch, "to": batch_size,
                                          "reason": "resumed with another --batch-size"})  # fmt: skip
                start_batch = start_batch * saved_batch // batch_size
                start_batch -= start_batch % config.accum_steps
            emit(Info(f"resumed from {path.name} (step {global_step})"))

    steps_per_epoch = steps_for(batch_size)
    schedule_total = steps_for(schedule_batch) * config.epochs

    def planned_total(epoch: int, batch_in_epoch: int) -> int:
        """The step count the run will end on, from this position at the current batch size."""
        left_in_epoch = steps_per_epoch - batch_in_epoch // config.accum_steps
        return global_step + left_in_epoch + steps_per_epoch * (config.epochs - epoch - 1)

    total_steps = planned_total(start_epoch, start_batch)

    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel

        ddp_model: torch.nn.Module = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    else:
        ddp_model = model

    sampler, loader = make_loader(batch_size)
    emit(
        RunStarted(
            method=config.method,
            epochs=config.epochs,
            steps_per_epoch=steps_per_epoch,
            total_steps=total_steps,
            samples=config.samples if loss_fn.uses_cfa else 0,
            device=str(device),
            precision=config.precision,
            out=str(out),
            resumed_from_step=global_step,
        )
    )

    bad_rows: dict[int, str] = {}
    bad_streak, last_bad = 0, -1  # unreadable rows drawn one after another, and the last of them
    last_losses: dict[str, float] = {}
    started = time.perf_counter()
    samples_seen = 0
    stopped = False

    def save_state(epoch: int, batch_in_epoch: int) -> None:
        if not dist.is_main:
            return
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else {},
            "step": global_step,
            "epoch": epoch,
            "batch_in_epoch": batch_in_epoch,
            "step_in_epoch": batch_in_epoch // config.accum_steps,
            "batch_size": batch_size,
            "schedule_batch": schedule_batch,
            "schedule_step": schedule_step,
            "batch_changes_json": json.dumps(batch_changes),
            "skipped_steps": skipped_steps,
            "amp_skipped_steps": amp_skipped_steps,
            "config": json.dumps(config.to_dict(), default=str),
            "history_json": json.dumps(history, default=str),
            "rng": ckpt.rng_state(),
        }
        path = ckpt.write_checkpoint(out, state, keep=config.keep_checkpoints)
        emit(CheckpointWritten(path=str(path), step=global_step))

    def skipped_rows() -> list[SkippedRow]:
        found = (SkippedRow(rows[i].line, rows[i].relpath, why) for i, why in sorted(bad_rows.items()))
        return [*data.skipped, *found]

    def out_of_memory(batch: dict[str, Any], cfa_tokens: dict[int, tuple[torch.Tensor, torch.Tensor]]) -> int:
        """Probe which smaller batch fits; return it under --auto-batch, else stop with it as advice."""
        optimizer.zero_grad(set_to_none=True)
        fits = probe_batch_size(model, loss_fn, batch, cfa_tokens, device, autocast, batch_size)
        if fits is None or not config.auto_batch or dist.enabled:
            raise _out_of_memory(batch_size, fits, global_step + 1, out, auto_batch=config.auto_batch,
                                 distributed=dist.enabled)  # fmt: skip
        return fits

    for epoch in range(start_epoch, config.epochs):
        batch_in_epoch = start_batch if epoch == start_epoch else 0
        cfa_tokens = _cfa_tokens(loss_fn, subcaptioner, rows, config, epoch, loaded.tokenizer, emit)
        emit(EpochStarted(epoch=epoch + 1, epochs=config.epochs, steps=steps_per_epoch, cfa_samples=len(cfa_tokens)))
        epoch_sums: dict[str, float] = {}
        epoch_steps = 0
        step_timer = time.perf_counter()
        lowered = True
        while lowered:  # once, and again from the same rows after --auto-batch lowers the batch
            lowered = False
            sampler.set_epoch(epoch, batch_in_epoch)
            for batch in loader:
                if stop is not None and stop.is_set() and batch_in_epoch % config.accum_steps == 0:
                    stopped = True
                    break
                too_many_bad = False
                for bad, walked in zip(batch["bad_row"].tolist(), batch["bad_walk"].tolist(), strict=True):
                    if bad >= 0:
                        bad_rows.setdefault(bad, "unreadable image (replaced by the next row for this step)")
                        bad_streak, last_bad = bad_streak + 1, bad
                    else:
                        bad_streak = 0
                    limit = config.max_bad_rows_in_a_row
                    too_many_bad = too_many_bad or bad_streak >= limit or walked >= limit
                if all_reduce_flag(too_many_bad, dist, device):
                    save_state(epoch, batch_in_epoch - batch_in_epoch % config.accum_steps)
                    bad_rows = merge_dicts(bad_rows, dist)  # every rank is here: the flag was all-reduced
                    if dist.is_main:
                        write_skipped_csv(skipped_rows(), out / "skipped.csv")
                    raise _too_many_bad_rows(config.max_bad_rows_in_a_row, rows[last_bad] if last_bad >= 0 else None,
                                             data.csv_path, out)  # fmt: skip
                terms: dict[str, torch.Tensor] | None = None
                try:
                    terms = _forward_loss(ddp_model, loss_fn, batch, cfa_tokens, device, autocast, dist)
                except torch.OutOfMemoryError:
                    terms = None
                if terms is not None:
                    finite = bool(torch.isfinite(terms["total"]).item())
                    if all_reduce_flag(not finite, dist, device):
                        skipped_steps += 1
                        optimizer.zero_grad(set_to_none=True)
                        emit(StepSkipped(step=global_step + 1, reason="non-finite loss", count=skipped_steps))
                        if skipped_steps >= config.max_bad_steps:
                            save_state(epoch, batch_in_epoch - batch_in_epoch % config.accum_steps)
                            raise JobFailedError(
                                f"{skipped_steps} steps with a non-finite loss (last at step {global_step + 1}); "
                                "the last good checkpoint is kept",
                                where=out,
                                hint="lower --lr or use --precision fp32",
                            )
                        batch_in_epoch += 1
                        continue
                    loss = terms["total"] / config.accum_steps
                    try:
                        if scaler is not None:
                            scaler.scale(loss).backward()
                        else:
                            loss.backward()
                    except torch.OutOfMemoryError:
                        terms = None
                    del loss
                if terms is None:  # out of memory: handled outside the except block, so its frames are freed
                    fits = out_of_memory(batch, cfa_tokens)
                    boundary = batch_in_epoch - batch_in_epoch % config.accum_steps
                    old, batch_size = batch_size, fits
                    steps_per_epoch = steps_for(batch_size)
                    batch_in_epoch = boundary * old // batch_size
                    batch_in_epoch -= batch_in_epoch % config.accum_steps
                    total_steps = planned_total(epoch, batch_in_epoch)
                    batch_changes.append({"step": global_step + 1, "from": old, "to": batch_size,
                                          "reason": "out of memory (--auto-batch)"})  # fmt: skip
                    emit(
                        BatchSizeLowered(
                            message=(
                                f"out of memory at step {global_step + 1}: batch size lowered from {old} to "
                                f"{batch_size} per process (--auto-batch); the contrastive objective changed "
                                "(fewer in-batch negatives)"
                            ),
                            step=global_step + 1,
                            old=old,
                            new=batch_size,
                            total_steps=total_steps,
                            steps_in_epoch=steps_per_epoch,
                        )
                    )
                    sampler, loader = make_loader(batch_size)
                    lowered = True
                    break
                batch_in_epoch += 1
                samples_seen += batch["image"].shape[0] * dist.world_size
                if batch_in_epoch % config.accum_steps:
                    continue

                lr = lr_at(int(schedule_step), base_lr=config.lr, warmup=config.warmup, total_steps=schedule_total)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                if scaler is not None:
                    scaler.unscale_(optimizer)
                if config.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                if scaler is not None:
                    # GradScaler skips the update when the fp16 gradients hold inf/NaN and lowers its
                    # scale: such a step trained nothing, so it is counted and shown, never hidden.
                    scale_before = scaler.get_scale()
                    scaler.step(optimizer)
                    scaler.update()
                    if scaler.get_scale() < scale_before:
                        amp_skipped_steps += 1
                        emit(StepSkipped(step=global_step + 1, reason="AMP overflow (GradScaler)",
                                         count=amp_skipped_steps))  # fmt: skip
                else:
                    optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                with torch.no_grad():
                    model.logit_scale.clamp_(0, LOGIT_SCALE_MAX)
                global_step += 1
                schedule_step += batch_size / schedule_batch
                epoch_steps += 1
                last_losses = {k: float(v.detach()) for k, v in terms.items()}
                for k, v in last_losses.items():
                    epoch_sums[k] = epoch_sums.get(k, 0.0) + v
                now = time.perf_counter()
                step_seconds = now - step_timer
                step_timer = now
                rate = batch_size * config.accum_steps * dist.world_size / max(step_seconds, 1e-9)
                emit(
                    StepDone(
                        epoch=epoch + 1,
                        step=global_step,
                        total_steps=total_steps,
                        step_in_epoch=batch_in_epoch // config.accum_steps,
                        steps_in_epoch=steps_per_epoch,
                        losses=last_losses,
                        lr=lr,
                        samples_per_second=rate,
                        eta_seconds=(total_steps - global_step) * step_seconds,
                    )
                )
                if global_step % config.checkpoint_every == 0 and batch_in_epoch < steps_per_epoch * config.accum_steps:
                    save_state(epoch, batch_in_epoch)
        if stopped:
            save_state(epoch, batch_in_epoch)
            break
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "step": global_step,
            "losses": {k: v / max(epoch_steps, 1) for k, v in epoch_sums.items()},
        }
        if eval_hook is not None and dist.is_main:
            model.eval()
            with torch.no_grad():
                record["eval"] = eval_hook(model, epoch + 1)
            model.train()
            emit(EvalDone(epoch=epoch + 1, metrics=record["eval"]))
        history.append(record)
        save_state(epoch + 1, 0)
        barrier(dist)

    seconds = time.perf_counter() - started
    model.eval()
    model.output_dict = False
    bad_rows = merge_dicts(bad_rows, dist)  # each rank drew different rows: report all of them
    skipped = skipped_rows()
    result = PurifyResult(
        out=out,
        method=config.method,
        epochs=config.epochs,
        steps=global_step,
        seconds=seconds,
        samples_per_second=samples_seen / seconds if seconds > 0 else 0.0,
        final_losses=last_losses,
        config=config.to_dict(),
        history=history,
        stopped=stopped,
        skipped_rows=len(skipped),
        skipped_steps=skipped_steps,
        amp_skipped_steps=amp_skipped_steps,
        batch_size=batch_size,
        batch_size_changes=batch_changes,
    )
    if dist.is_main:
        if skipped:
            write_skipped_csv(skipped, out / "skipped.csv")
            emit(Warning(f"{len(skipped)} row(s) skipped; see {out / 'skipped.csv'}"))
        if not stopped:
            run_notes: dict[str, Any] = {
                "batch_size": batch_size,
                "skipped_steps": skipped_steps,
                "amp_skipped_steps": amp_skipped_steps,
            }
            if batch_changes:
                run_notes.update(batch_size_requested=config.batch_size, batch_size_changes=batch_changes)
            result.model_dir = _save_purified(loaded, model, out, config, data, history, run_notes)
        (out / "summary.json").write_text(json.dumps(result.summary(), indent=2, default=str) + "\n")
        emit(RunFinished(out=str(out), steps=global_step, seconds=seconds, stopped=stopped))
    return result


def _free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def probe_batch_size(
    model: torch.nn.Module,
    loss_fn: PurifyLoss,
    batch: dict[str, Any],
    cfa_tokens: dict[int, tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    autocast: Callable[[], Any],
    failed: int,
) -> int | None:
    """The largest of ``failed // 2``, ``failed // 4``, ..., 1 for which a forward and backward pass
    over the first rows of ``batch`` (the data that ran out of memory) fit, or None.

    It runs on the bare model with no collectives, so one process can probe on its own; gradients
    are dropped and buffers (BatchNorm statistics) and RNG restored, so the probe leaves no trace
    in the run. It measures activations only: the optimizer's state is not allocated by a probe.
    """
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    size = failed // 2
    try:
        while size >= 1:
            _free_memory(device)
            fitted = False
            try:
                with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                    part = {k: v[:size] for k, v in batch.items()}
                    terms = _forward_loss(model, loss_fn, part, cfa_tokens, device, autocast, DistInfo())
                    terms["total"].backward()
                    del terms
                fitted = True
            except torch.OutOfMemoryError:
                pass
            model.zero_grad(set_to_none=True)
            if fitted:
                return size
            size //= 2
        return None
    finally:
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
        model.zero_grad(set_to_none=True)
        _free_memory(device)


def _out_of_memory(
    batch_size: int, fits: int | None, step: int, out: Path, *, auto_batch: bool, distributed: bool
) -> JobFailedError:
    """A clean stop on OOM. The batch is also the contrastive loss's set of negatives, so a smaller
    batch changes the objective (gradient accumulation does not give the negatives back): without
    --auto-batch we never shrink it, we say which size fits and that the last checkpoint is kept."""
    resume = "--resume continues from the last checkpoint"
    if fits is None:
        hint = f"not even batch size 1 fits: try --precision bf16/amp, a smaller model or a larger GPU; {resume}"
    else:
        hint = (
            f"--batch-size {fits} fits; note a smaller batch changes the contrastive objective "
            "(fewer in-batch negatives)"
        )
        if distributed and auto_batch:
            hint += f"; --auto-batch cannot lower it under torchrun (every process must change together); {resume}"
        else:
            hint += f"; or pass --auto-batch to lower it and go on; {resume}"
    return JobFailedError(
        f"out of memory at step {step} with batch size {batch_size} per process", where=out, hint=hint
    )


def _too_many_bad_rows(limit: int, last: Any, csv_path: Path, out: Path) -> DataError:
    """Many unreadable images in a row mean a broken folder (an unmounted disk, the wrong root),
    not noisy data: training on substitutes would hide it, so the run stops and says so."""
    where = f" (the last: line {last.line}, {last.relpath})" if last is not None else " (in another process)"
    return DataError(
        f"{limit} unreadable images in a row{where}; the data looks broken, not noisy",
        where=csv_path,
        hint=(
            f"check the images (an unmounted disk? the wrong folder?) or raise --max-bad-rows-in-a-row; "
            f"rows skipped so far are listed in {out / 'skipped.csv'}; --resume continues from the last checkpoint"
        ),
    )


def _cfa_tokens(
    loss_fn: PurifyLoss,
    subcaptioner: Any,
    rows: list[Any],
    config: PurifyConfig,
    epoch: int,
    tokenizer: Callable[[list[str]], torch.Tensor],
    emit: EventCallback,
) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """This epoch's S: row → (positive tokens, negative tokens). Sub-captions come from the
    SubCaptioner's cache after the first epoch; rows without a usable negative are left out of S."""
    if not loss_fn.uses_cfa:
        return {}
    chosen = draw_cfa_samples(len(rows), config.samples, config.seed, epoch)
    records = subcaptioner.batch([rows[i].caption for i in chosen], seed=config.seed + epoch)
    usable = [(i, r) for i, r in zip(chosen, records, strict=True) if r.positive and r.negative]
    if len(usable) < len(chosen):
        emit(Info(f"epoch {epoch + 1}: {len(chosen) - len(usable)} of {len(chosen)} CFA samples had no negative"))
    if not usable:
        return {}
    pos = tokenizer([r.positive for _, r in usable])
    neg = tokenizer([r.negative for _, r in usable])
    return {i: (pos[j], neg[j]) for j, (i, _) in enumerate(usable)}


def _forward_loss(
    model: torch.nn.Module,
    loss_fn: PurifyLoss,
    batch: dict[str, Any],
    cfa_tokens: dict[int, tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    autocast: Callable[[], Any],
    dist: DistInfo,
) -> dict[str, torch.Tensor]:
    """One forward pass per tower over everything the loss needs, then the gathered loss terms."""
    images = batch["image"].to(device, non_blocking=True)
    texts = batch["tokens"].to(device, non_blocking=True)
    b = images.shape[0]
    if loss_fn.uses_inmodal:
        images = torch.cat([images, batch["aug_image"].to(device, non_blocking=True)])
        texts = torch.cat([texts, batch["aug_tokens"].to(device, non_blocking=True)])
    in_s = [k for k, row in enumerate(batch["row"].tolist()) if row in cfa_tokens] if loss_fn.uses_cfa else []
    if in_s:
        rows = batch["row"].tolist()
        pos = torch.stack([cfa_tokens[rows[k]][0] for k in in_s]).to(device)
        neg = torch.stack([cfa_tokens[rows[k]][1] for k in in_s]).to(device)
        texts = torch.cat([texts, pos, neg])
    with autocast():
        output = model(image=images, text=texts)
    image_features = output["image_features"].float()
    text_features = output["text_features"].float()
    logit_scale = output["logit_scale"].float()
    gather = lambda t: gather_with_grad(t, dist)  # noqa: E731 - a short alias keeps the calls readable

    kwargs: dict[str, torch.Tensor] = {}
    if loss_fn.uses_inmodal:
        kwargs["aug_image_features"] = gather(image_features[b:])
        kwargs["aug_text_features"] = gather(text_features[b : 2 * b])
    if loss_fn.uses_cfa:
        # Scatter S's sub-caption features into batch-shaped tensors so every rank gathers equal shapes.
        m = len(in_s)
        t0 = 2 * b
        dim = text_features.shape[1]
        pos_full = text_features.new_zeros(b, dim)
        neg_full = text_features.new_zeros(b, dim)
        mask = torch.zeros(b, dtype=torch.bool, device=device)
        if m:
            index = torch.tensor(in_s, device=device)
            pos_full = pos_full.index_copy(0, index, text_features[t0 : t0 + m])
            neg_full = neg_full.index_copy(0, index, text_features[t0 + m : t0 + 2 * m])
            mask[index] = True
        all_mask = gather(mask.float()) > 0.5 if dist.enabled else mask
        cfa_index = torch.nonzero(all_mask).flatten()
        kwargs["positive_features"] = gather(pos_full)[cfa_index]
        kwargs["negative_features"] = gather(neg_full)[cfa_index]
        kwargs["cfa_index"] = cfa_index
    return loss_fn(gather(image_features[:b]), gather(text_features[:b]), logit_scale, **kwargs)


def _save_purified(
    loaded: Any,
    model: torch.nn.Module,
    out: Path,
    config: PurifyConfig,
    data: CaptionTable,
    history: list[dict],
    run_notes: dict[str, Any],
) -> Path:
    """Save to ``out/model``; the card's history records the run, batch-size changes included (a
    lowered batch trained a different objective, which whoever uses the model should be able to see)."""
    from cleanerclip_tool.models.save import save_model

    notes = {
        "action": "purify",
        "method": config.method,
        "samples": config.samples if config.method == "cleanerclip" else None,
        "lambda1": config.lambda1,
        "lambda2": config.lambda2 if config.method == "cleanerclip" else None,
        "tau_pos": config.tau_pos if config.method == "cleanerclip" else None,
        "tau_neg": config.tau_neg if config.method == "cleanerclip" else None,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "lr": config.lr,
        "seed": config.seed,
        "data": data_fingerprint(data),
        "history": history,
        **run_notes,
    }
    return save_model(model, out / "model", loaded.card, notes=notes, overwrite=True)
