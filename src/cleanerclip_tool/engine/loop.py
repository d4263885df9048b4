"""``purify``: fine-tune a CLIP model with one of the methods' loss presets, top to bottom.

``purify`` sets a run up (data, loss, optimizer, resume), calls ``train_epoch`` for each epoch and
saves the purified model. An epoch draws the CFA samples S, then feeds batches to ``train_step``
(forward + backward, see engine/step.py) and takes an optimizer step every ``accum_steps``
batches. Under ``cfa_schedule="alternate"`` or ``"interleave"`` some optimizer steps train L_CFA
alone on a batch made of S (``_Run.phase``, ``_Run.cfa_batch``), the others CleanCLIP's terms.
Printing is the caller's job: everything is reported through ``on_event``; ``stop`` (a
``threading.Event``) ends the run cleanly at the next step boundary with a checkpoint.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch

from cleanerclip_tool.attacks.poison import poisoning_record
from cleanerclip_tool.config import PurifyConfig
from cleanerclip_tool.data.captions import CaptionTable, SkippedRow, write_skipped_csv
from cleanerclip_tool.data.dataset import EpochSampler, PurifyDataset
from cleanerclip_tool.devices import resolve_device
from cleanerclip_tool.engine import checkpoint as ckpt
from cleanerclip_tool.engine import step as engine_step
from cleanerclip_tool.engine.distributed import DistInfo, all_reduce_flag, barrier, init_distributed, merge_dicts
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
from cleanerclip_tool.engine.memory import out_of_memory_error, probe_batch_size
from cleanerclip_tool.engine.results import PurifyResult, save_purified, text_notes
from cleanerclip_tool.engine.samples import augmented_captions, cfa_batch_rows, subcaption_tokens
from cleanerclip_tool.engine.schedule import fit_warmup, lr_at, warmup_message
from cleanerclip_tool.engine.state import TrainState, frozen_copy, model_fingerprint
from cleanerclip_tool.errors import BadInputError, DataError, JobFailedError
from cleanerclip_tool.events import EventCallback, Info, WarningEvent, ignore_event
from cleanerclip_tool.losses import PurifyLoss

EvalHook = Callable[[torch.nn.Module, int], dict[str, Any]]
BatchOutcome = Literal["trained", "skipped", "out_of_memory"]


def purify(
    loaded: Any,
    data: CaptionTable,
    config: PurifyConfig,
    *,
    on_event: EventCallback = ignore_event,
    stop: threading.Event | None = None,
    eval_hook: EvalHook | None = None,
    resume: bool = False,
    subcaptioner: Any = None,
) -> PurifyResult:
    """Fine-tune ``loaded.model`` on ``data`` with ``config.method``; save to ``config.out``/model."""
    config.validate()
    if not config.out:
        raise BadInputError("no output folder given", where="--out")
    rows = list(data.rows)
    on_cuda = config.device.startswith("cuda") or (config.device == "auto" and torch.cuda.is_available())
    dist = init_distributed("cuda" if on_cuda else "cpu")
    _check_data_fits(config, data, len(rows), dist)

    device = torch.device(resolve_device(config.device, dist.local_rank))
    emit = on_event if dist.is_main else ignore_event
    if config.precision == "amp" and device.type != "cuda":
        emit(Info("precision 'amp' runs in fp32 on the CPU"))
    torch.manual_seed(config.seed)
    random.seed(config.seed)

    loss_fn = PurifyLoss.from_config(config)
    aug_captions = augmented_captions(rows, config) if loss_fn.needs("augmented") else None
    if loss_fn.needs("subcaptions") and subcaptioner is None:
        from cleanerclip_tool.augment import SubCaptioner

        subcaptioner = SubCaptioner(spacy_model=config.spacy_model, wordbanks=config.wordbanks)
    dataset = PurifyDataset(
        rows,
        preprocess=loaded.preprocess,
        tokenizer=loaded.tokenizer,
        aug_captions=aug_captions,
        augment_images=loss_fn.needs("augmented_images"),
        seed=config.seed,
        max_bad_in_a_row=config.max_bad_rows_in_a_row,
    )
    run = _Run(loaded, data, config, loss_fn, dataset, device, dist, emit, stop, eval_hook, subcaptioner)
    if resume:
        run.resume()
    run.start()

    for epoch in range(run.state.epoch, config.epochs):
        if not run.train_epoch(epoch):
            break
    return run.finish()


def _check_data_fits(config: PurifyConfig, data: CaptionTable, n: int, dist: DistInfo) -> None:
    """Refuse a run the data cannot feed before anything is loaded onto a device."""
    if n == 0:
        raise DataError("no usable rows (see skipped rows)", where=data.csv_path)
    per_rank = n // dist.world_size
    if per_rank < config.batch_size:
        raise BadInputError(
            f"batch size {config.batch_size} is larger than the {per_rank} rows each process gets", where="--batch-size"
        )
    if config.method == "cleanerclip" and config.samples > n:
        raise BadInputError(f"samples K={config.samples} is larger than the data set ({n} rows)", where="--samples")
    if (per_rank // config.batch_size) // config.accum_steps < 1:
        raise BadInputError("fewer batches per epoch than --accum-steps", where="--accum-steps")


class _Run:
    """One run's objects and counters, so the epoch and step code reads without threading twenty
    locals through closures. ``state`` holds everything a checkpoint restores."""

    def __init__(
        self,
        loaded: Any,
        data: CaptionTable,
        config: PurifyConfig,
        loss_fn: PurifyLoss,
        dataset: PurifyDataset,
        device: torch.device,
        dist: DistInfo,
        emit: EventCallback,
        stop: threading.Event | None,
        eval_hook: EvalHook | None,
        subcaptioner: Any,
    ) -> None:
        self.loaded, self.data, self.config, self.loss_fn, self.dataset = loaded, data, config, loss_fn, dataset
        self.rows = list(data.rows)
        self.device, self.dist, self.emit, self.stop, self.eval_hook = device, dist, emit, stop, eval_hook
        self.subcaptioner = subcaptioner
        self.out = Path(config.out or "")
        self.autocast, use_scaler = engine_step.autocast_for(device, config.precision)

        self.model = loaded.model.to(device)
        self.model.output_dict = True
        self.model.train()
        groups = engine_step.param_groups(self.model, config.weight_decay)
        self.optimizer = torch.optim.AdamW(groups, lr=config.lr, betas=(config.beta1, config.beta2), eps=config.eps)
        self.scaler = torch.amp.GradScaler(device.type) if use_scaler else None
        self.state = TrainState(batch_size=config.batch_size, schedule_batch=config.batch_size)
        # PAR's reference: the starting model, frozen. Made before a resume loads trained weights, so a
        # resumed run rebuilds it from the MODEL it was started from (checked by fingerprint).
        self.frozen: torch.nn.Module | None = None
        if loss_fn.needs("frozen"):
            self.frozen = frozen_copy(self.model)
            self.state.start_model = model_fingerprint(self.model)

        self.bad_rows: dict[int, str] = {}  # data row → why it was replaced
        self.bad_streak, self.last_bad = 0, -1  # unreadable rows drawn one after another, and the last
        self.last_losses: dict[str, float] = {}
        self.samples_seen = 0
        self.stopped = False

    # --- set-up -------------------------------------------------------------------------------

    def steps_for(self, batch_size: int) -> int:
        """Optimizer steps per epoch at this per-process batch size."""
        return ((len(self.rows) // self.dist.world_size) // batch_size) // self.config.accum_steps

    def resume(self) -> None:
        """Continue from the newest valid checkpoint in ``out``, if there is one."""
        found = ckpt.latest_valid_checkpoint(self.out)
        if found is None:
            self.emit(
                WarningEvent(
                    f"--resume: no valid checkpoint in {self.out / ckpt.CHECKPOINT_DIR}; starting from the beginning"
                )
            )
            return
        path, saved = found
        state = TrainState.from_state(saved, batch_size=self.config.batch_size)
        if self.frozen is not None and state.start_model not in ("", self.state.start_model):
            raise BadInputError(
                f"{path.name} was trained from another starting model (sha256 {state.start_model[:12]}…, "
                f"this MODEL is {self.state.start_model[:12]}…); {self.config.method}'s frozen copy must be "
                "the model the run started from",
                where="--resume",
                hint="pass the same MODEL as the first run, or start afresh without --resume",
            )
        state.start_model = self.state.start_model
        TrainState.restore_training(saved, model=self.model, optimizer=self.optimizer, scaler=self.scaler)
        asked = self.config.batch_size
        if state.batch_size != asked:
            if self.config.auto_batch and state.batch_size < asked:
                self.emit(
                    WarningEvent(f"--resume: continuing with batch size {state.batch_size}, which --auto-batch chose")
                )
            else:
                self.emit(
                    WarningEvent(
                        f"--resume: the checkpoint was written with batch size {state.batch_size}; batch size "
                        f"{asked} changes the contrastive objective (in-batch negatives)"
                    )
                )
                change = {"step": state.step + 1, "from": state.batch_size, "to": asked}
                state.batch_changes.append({**change, "reason": "resumed with another --batch-size"})
                state.batch_in_epoch = state.batch_in_epoch * state.batch_size // asked
                state.batch_in_epoch -= state.batch_in_epoch % self.config.accum_steps
                state.batch_size = asked
        self.state = state
        self.emit(Info(f"resumed from {path.name} (step {state.step})"))

    def start(self) -> None:
        """Wrap the model for DDP, build the loader and announce the run."""
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp_model: torch.nn.Module = DistributedDataParallel(self.model, device_ids=device_ids)
        else:
            self.ddp_model = self.model
        self.steps_per_epoch = self.steps_for(self.state.batch_size)
        schedule_epoch = self.steps_for(self.state.schedule_batch)
        self.schedule_total = schedule_epoch * self.config.epochs
        if self.config.warmup_epochs is not None:  # a share of the run, as PAR's recipe gives it
            self.warmup = round(self.config.warmup_epochs * schedule_epoch)
        else:
            self.warmup = fit_warmup(self.config.warmup, self.schedule_total)
            if self.warmup != self.config.warmup:
                self.emit(WarningEvent(warmup_message(self.config.warmup, self.warmup, self.schedule_total)))
        self.total_steps = self.planned_total()
        self.make_loader()
        self.emit(
            RunStarted(
                method=self.config.method,
                epochs=self.config.epochs,
                steps_per_epoch=self.steps_per_epoch,
                total_steps=self.total_steps,
                samples=self.config.samples if self.loss_fn.needs("subcaptions") else 0,
                device=str(self.device),
                precision=self.config.precision,
                out=str(self.out),
                resumed_from_step=self.state.step,
            )
        )
        self.started = time.perf_counter()

    def make_loader(self) -> None:
        size, dist = self.state.batch_size, self.dist
        self.sampler = EpochSampler(
            len(self.rows), batch_size=size, seed=self.config.seed, rank=dist.rank, world_size=dist.world_size
        )
        self.loader = torch.utils.data.DataLoader(
            self.dataset,
            batch_size=size,
            sampler=self.sampler,
            num_workers=self.config.workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=self.config.workers > 0,
            drop_last=True,
        )

    def planned_total(self) -> int:
        """The step count the run will end on, from where it is, at the current batch size."""
        s = self.state
        left_in_epoch = self.steps_per_epoch - s.batch_in_epoch // self.config.accum_steps
        return s.step + left_in_epoch + self.steps_per_epoch * (self.config.epochs - s.epoch - 1)

    # --- training -----------------------------------------------------------------------------

    def train_epoch(self, epoch: int) -> bool:
        """One pass over the data; False when a stop was asked for (a checkpoint is written)."""
        s = self.state
        if epoch != s.epoch:
            s.epoch, s.batch_in_epoch = epoch, 0
        tokens: engine_step.SubcaptionTokens = {}
        if self.loss_fn.needs("subcaptions"):
            tokens = subcaption_tokens(
                self.subcaptioner, self.rows, self.config, epoch, self.loaded.tokenizer, self.emit
            )
        started = EpochStarted(
            epoch=epoch + 1, epochs=self.config.epochs, steps=self.steps_per_epoch, cfa_samples=len(tokens)
        )
        self.emit(started)
        sums: dict[str, float] = {}
        self.epoch_steps = 0
        self.step_timer = time.perf_counter()
        while self.train_batches(tokens, sums) == "lowered":
            pass  # --auto-batch lowered the batch: go on from the same rows at the new size
        if self.stopped:
            self.save_checkpoint(epoch, s.batch_in_epoch)
            return False
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "step": s.step,
            "losses": {k: v / max(self.epoch_steps, 1) for k, v in sums.items()},
        }
        if self.eval_hook is not None and self.dist.is_main:
            self.model.eval()
            with torch.no_grad():
                record["eval"] = self.eval_hook(self.model, epoch + 1)
            self.model.train()
            self.emit(EvalDone(epoch=epoch + 1, metrics=record["eval"]))
        s.history.append(record)
        self.save_checkpoint(epoch + 1, 0)
        barrier(self.dist)
        return True

    def train_batches(self, tokens: engine_step.SubcaptionTokens, sums: dict[str, float]) -> str:
        """Feed the rest of this epoch's batches; "done", "stopped" or "lowered" (batch size changed)."""
        s, accum = self.state, self.config.accum_steps
        self.sampler.set_epoch(s.epoch, s.batch_in_epoch)
        for batch in self.loader:
            if self.stop is not None and self.stop.is_set() and s.batch_in_epoch % accum == 0:
                self.stopped = True
                return "stopped"
            phase, cfa_index = self.phase(tokens)
            if phase == "cfa":
                batch = self.cfa_batch(tokens, batch, cfa_index)
            self.check_bad_rows(batch)
            outcome, terms = self.train_step(batch, tokens, phase)
            if outcome == "out_of_memory":
                self.lower_batch(batch, tokens)
                return "lowered"
            s.batch_in_epoch += 1
            if outcome == "skipped":
                continue
            self.samples_seen += batch["image"].shape[0] * self.dist.world_size
            if s.batch_in_epoch % accum == 0:
                self.optimizer_step(terms, sums)
        return "done"

    def phase(self, tokens: engine_step.SubcaptionTokens) -> tuple[str, int]:
        """Which part of the objective this step trains (``PurifyLoss.phase_at``: ``"joint"`` unless
        ``cfa_schedule`` takes CFA-only steps) and, for a ``"cfa"`` step, its batch's index in the
        epoch's pass over S (docs/cfa-study.md, readings C and F)."""
        s, accum = self.state, self.config.accum_steps
        rows_per_step = s.batch_size * self.dist.world_size * accum
        period = self.loss_fn.cfa_period(self.steps_per_epoch, math.ceil(len(tokens) / rows_per_step))
        step_in_epoch = s.batch_in_epoch // accum
        phase = self.loss_fn.phase_at(step_in_epoch, period)
        return phase, ((step_in_epoch // period) * accum + s.batch_in_epoch % accum if period else 0)

    def cfa_batch(self, tokens: engine_step.SubcaptionTokens, batch: dict[str, Any], index: int) -> dict[str, Any]:
        """A CFA-only step trains on the K samples alone: the loader's batch is set aside for the
        ``index``-th batch of this epoch's S rows (``cfa_batch_rows``)."""
        if not tokens:
            return batch
        s = self.state
        rows = cfa_batch_rows(
            list(tokens),
            seed=self.config.seed,
            epoch=s.epoch,
            index=index,
            size=s.batch_size,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
        )
        return torch.utils.data.default_collate([self.dataset[(row, s.epoch)] for row in rows])

    def train_step(
        self, batch: dict[str, Any], tokens: engine_step.SubcaptionTokens, phase: str = "joint"
    ) -> tuple[BatchOutcome, dict[str, torch.Tensor]]:
        """Forward and backward one batch: "trained", "skipped" (non-finite loss) or "out_of_memory".

        ``phase`` is ``PurifyLoss.phase_at``'s: which part of the objective this step trains.
        Out of memory is reported, not handled here, so the failed step's frames are freed first.
        """
        loss_fn = self.loss_fn.for_phase(phase)
        try:
            terms = engine_step.forward_loss(
                self.ddp_model, loss_fn, batch, tokens, self.device, self.autocast, self.dist, frozen=self.frozen
            )
        except torch.OutOfMemoryError:
            return "out_of_memory", {}
        finite = bool(torch.isfinite(terms["total"]).item())
        if all_reduce_flag(not finite, self.dist, self.device):
            self.skip_step()
            return "skipped", terms
        try:
            engine_step.backward(terms, self.config.accum_steps, self.scaler)
        except torch.OutOfMemoryError:
            return "out_of_memory", {}
        return "trained", terms

    def optimizer_step(self, terms: dict[str, torch.Tensor], sums: dict[str, float]) -> None:
        s, config = self.state, self.config
        lr = lr_at(
            int(s.schedule_step),
            base_lr=config.lr,
            warmup=self.warmup,
            total_steps=self.schedule_total,
            start=config.lr_start,
            end=config.lr_end,
        )
        applied = engine_step.optimizer_step(self.model, self.optimizer, self.scaler, lr=lr, grad_clip=config.grad_clip)
        if not applied:
            s.amp_skipped_steps += 1
            self.emit(StepSkipped(step=s.step + 1, reason="AMP overflow (GradScaler)", count=s.amp_skipped_steps))
        s.step += 1
        s.schedule_step += s.batch_size / s.schedule_batch
        self.epoch_steps += 1
        self.last_losses = {k: float(v.detach()) for k, v in terms.items()}
        for k, v in self.last_losses.items():
            sums[k] = sums.get(k, 0.0) + v
        now = time.perf_counter()
        step_seconds, self.step_timer = now - self.step_timer, now
        rate = s.batch_size * config.accum_steps * self.dist.world_size / max(step_seconds, 1e-9)
        self.emit(
            StepDone(
                epoch=s.epoch + 1,
                step=s.step,
                total_steps=self.total_steps,
                step_in_epoch=s.batch_in_epoch // config.accum_steps,
                steps_in_epoch=self.steps_per_epoch,
                losses=self.last_losses,
                lr=lr,
                samples_per_second=rate,
                eta_seconds=(self.total_steps - s.step) * step_seconds,
            )
        )
        if s.step % config.checkpoint_every == 0 and s.batch_in_epoch < self.steps_per_epoch * config.accum_steps:
            self.save_checkpoint(s.epoch, s.batch_in_epoch)

    # --- what can go wrong --------------------------------------------------------------------

    def check_bad_rows(self, batch: dict[str, Any]) -> None:
        """Note the unreadable images the data set replaced; stop every rank together when too many
        came one after another (a broken folder, not noisy data)."""
        limit = self.config.max_bad_rows_in_a_row
        too_many = False
        for bad, walked in zip(batch["bad_row"].tolist(), batch["bad_walk"].tolist(), strict=True):
            if bad >= 0:
                self.bad_rows.setdefault(bad, "unreadable image (replaced by the next row for this step)")
                self.bad_streak, self.last_bad = self.bad_streak + 1, bad
            else:
                self.bad_streak = 0
            too_many = too_many or self.bad_streak >= limit or walked >= limit
        if not all_reduce_flag(too_many, self.dist, self.device):
            return
        self.save_checkpoint(self.state.epoch, self.at_step_boundary())
        self.bad_rows = merge_dicts(self.bad_rows, self.dist)  # every rank is here: the flag was all-reduced
        if self.dist.is_main:
            write_skipped_csv(self.skipped_rows(), self.out / "skipped.csv")
        last = self.rows[self.last_bad] if self.last_bad >= 0 else None
        where = f" (the last: line {last.line}, {last.relpath})" if last is not None else " (in another process)"
        raise DataError(
            f"{limit} unreadable images in a row{where}; the data looks broken, not noisy",
            where=self.data.csv_path,
            hint=(
                f"check the images (an unmounted disk? the wrong folder?) or raise --max-bad-rows-in-a-row; rows "
                f"skipped so far are listed in {self.out / 'skipped.csv'}; --resume continues from the last checkpoint"
            ),
        )

    def skip_step(self) -> None:
        """A non-finite loss: drop this batch's gradients; stop after ``max_bad_steps`` of them."""
        s = self.state
        s.skipped_steps += 1
        self.optimizer.zero_grad(set_to_none=True)
        self.emit(StepSkipped(step=s.step + 1, reason="non-finite loss", count=s.skipped_steps))
        if s.skipped_steps >= self.config.max_bad_steps:
            self.save_checkpoint(s.epoch, self.at_step_boundary())
            raise JobFailedError(
                f"{s.skipped_steps} steps with a non-finite loss (last at step {s.step + 1}); "
                "the last good checkpoint is kept",
                where=self.out,
                hint="lower --lr or use --precision fp32",
            )

    def lower_batch(self, batch: dict[str, Any], tokens: engine_step.SubcaptionTokens) -> None:
        """Out of memory: under --auto-batch go on with the largest batch a probe finds to fit (from
        the same rows, the objective's change recorded); otherwise stop with that size as advice."""
        s, config = self.state, self.config
        self.optimizer.zero_grad(set_to_none=True)
        fits = probe_batch_size(
            self.model, self.loss_fn, batch, tokens, self.device, self.autocast, s.batch_size, frozen=self.frozen
        )
        if fits is None or not config.auto_batch or self.dist.enabled:
            distributed = self.dist.enabled
            raise out_of_memory_error(
                s.batch_size, fits, s.step + 1, self.out, auto_batch=config.auto_batch, distributed=distributed
            )
        old, s.batch_size = s.batch_size, fits
        s.batch_in_epoch = self.at_step_boundary() * old // fits
        s.batch_in_epoch -= s.batch_in_epoch % config.accum_steps
        self.steps_per_epoch = self.steps_for(fits)
        self.total_steps = self.planned_total()
        s.batch_changes.append({"step": s.step + 1, "from": old, "to": fits, "reason": "out of memory (--auto-batch)"})
        self.emit(
            BatchSizeLowered(
                message=(
                    f"out of memory at step {s.step + 1}: batch size lowered from {old} to {fits} per process "
                    "(--auto-batch); the contrastive objective changed (fewer in-batch negatives)"
                ),
                step=s.step + 1,
                old=old,
                new=fits,
                total_steps=self.total_steps,
                steps_in_epoch=self.steps_per_epoch,
            )
        )
        self.make_loader()

    def at_step_boundary(self) -> int:
        """The batch position of the last optimizer step: where a resumed run restarts this epoch."""
        return self.state.batch_in_epoch - self.state.batch_in_epoch % self.config.accum_steps

    # --- output -------------------------------------------------------------------------------

    def save_checkpoint(self, epoch: int, batch_in_epoch: int) -> None:
        if not self.dist.is_main:
            return
        state = self.state.to_state(
            epoch=epoch,
            batch_in_epoch=batch_in_epoch,
            accum_steps=self.config.accum_steps,
            model=self.model,
            optimizer=self.optimizer,
            scaler=self.scaler,
            config=self.config.to_dict(),
        )
        path = ckpt.write_checkpoint(self.out, state, keep=self.config.keep_checkpoints)
        self.emit(CheckpointWritten(path=str(path), step=self.state.step))

    def skipped_rows(self) -> list[SkippedRow]:
        found = (SkippedRow(self.rows[i].line, self.rows[i].relpath, why) for i, why in sorted(self.bad_rows.items()))
        return [*self.data.skipped, *found]

    def finish(self) -> PurifyResult:
        """Report skipped rows, save the purified model (unless stopped) and the run's summary."""
        s, out, config = self.state, self.out, self.config
        seconds = time.perf_counter() - self.started
        self.model.eval()
        self.model.output_dict = False
        self.bad_rows = merge_dicts(self.bad_rows, self.dist)  # each rank drew different rows: report all
        skipped = self.skipped_rows()
        result = PurifyResult(
            out=out,
            method=config.method,
            epochs=config.epochs,
            steps=s.step,
            seconds=seconds,
            samples_per_second=self.samples_seen / seconds if seconds > 0 else 0.0,
            final_losses=self.last_losses,
            config=config.to_dict(),
            history=s.history,
            stopped=self.stopped,
            skipped_rows=len(skipped),
            skipped_steps=s.skipped_steps,
            amp_skipped_steps=s.amp_skipped_steps,
            batch_size=s.batch_size,
            batch_size_changes=s.batch_changes,
        )
        if not self.dist.is_main:
            return result
        if skipped:
            write_skipped_csv(skipped, out / "skipped.csv")
            self.emit(WarningEvent(f"{len(skipped)} row(s) skipped; see {out / 'skipped.csv'}"))
        if not self.stopped:
            notes: dict[str, Any] = {
                "batch_size": s.batch_size,
                "skipped_steps": s.skipped_steps,
                "amp_skipped_steps": s.amp_skipped_steps,
                "warmup": self.warmup,  # the warmup used, which fit_warmup may have shortened
            }
            if config.extra.get("requested"):  # settings preflight fitted to the data: what was asked
                notes["requested"] = dict(config.extra["requested"])
            if self.warmup != config.warmup:
                notes.update(
                    warmup_requested=config.warmup,
                    warmup_note=warmup_message(config.warmup, self.warmup, self.schedule_total),
                )
            if s.batch_changes:
                notes.update(batch_size_requested=config.batch_size, batch_size_changes=s.batch_changes)
            notes.update(steps=s.step, **text_notes(config, self.loss_fn, self.subcaptioner))
            poisoning = poisoning_record(self.data.csv_path)
            if poisoning is not None:  # trained on a set `poison` wrote: a scan of the model tests its trigger
                notes["poisoning"] = poisoning
                self.emit(
                    Info(
                        f"the data is a poisoned set ({poisoning['attack']} -> {poisoning['target']!r}); "
                        "the model card records its trigger"
                    )
                )
            result.model_dir = save_purified(self.loaded, self.model, out, config, self.data, s.history, notes)
        (out / "summary.json").write_text(json.dumps(result.summary(), indent=2, default=str) + "\n")
        self.emit(RunFinished(out=str(out), steps=s.step, seconds=seconds, stopped=self.stopped))
        return result
