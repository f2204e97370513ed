"""`Trainer(model, config, dataset).fit()`: the one training loop of every stage.

AdamW with warmup + cosine (`lr_at`), gradient clipping and accumulation, bf16 autocast on CUDA
(fp32 on CPU), optional EMA and freezing, a tqdm bar, TensorBoard / wandb scalars, several torchrun ranks
(DDP, or FSDP2 with `parallel="fsdp"`: `distributed.py`, `sharding.py`), and exact resume: if
OUT holds a complete checkpoint, fit() prints "resuming from step N" first and continues so that
the final weights equal those of an uninterrupted run bit for bit on CPU.

Where exactness comes from: the data order is a function of (seed, epoch) and the checkpoint stores
the position within it; the flow noise, flow times and UAC delays of micro-batch m of step s come
from a generator seeded by (seed, s, m), so they do not depend on RNG history; optimizer moments
are restored exactly from safetensors.
"""

from __future__ import annotations

import contextlib
import math
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import Dataset

from hy_vla import keys
from hy_vla.training.augment import random_shift, shift_offsets
from hy_vla.training.batches import DataPosition, ResumableBatches
from hy_vla.training.checkpointing import (
    Resumed,
    latest_checkpoint,
    load_ema,
    load_weights,
    read_resumable,
    restore_rng,
    save_checkpoint,
)
from hy_vla.training.config import TrainConfig
from hy_vla.training.distributed import (
    DistContext,
    any_across,
    barrier,
    context_from_env,
    init_distributed,
    mean_across,
    shutdown_distributed,
)
from hy_vla.training.ema import EMA
from hy_vla.training.loggers import MetricLoggers
from hy_vla.training.objectives import attach_objectives
from hy_vla.training.parameters import apply_freeze, build_adamw
from hy_vla.training.schedule import lr_at
from hy_vla.training.sharding import full_tensor
from hy_vla.utils.errors import TrainingDiverged


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available (use --set device=cpu)")
    return torch.device(name)


def micro_seed(seed: int, step: int, micro: int, grad_accum: int) -> int:
    """Seed of the generator of micro-batch `micro` of optimizer step `step` (distinct per run seed)."""
    return (seed << 40) + step * grad_accum + micro


def prepare_batch(batch: dict[str, Any], model_config: Any, config: TrainConfig, generator: torch.Generator) -> dict:
    """Augmentation (random shift) and stage-specific inputs: UAC draws a committed-prefix length per
    sample; T2A asks for an image-free prefix.

    T2A (text-to-action pretraining) reads no images: any frames a dataset still carries are dropped, and the
    loop calls the model with `text_only=True` (a prefix of the instruction alone, no image tokens).
    """
    b = batch[keys.STATE].shape[0]
    out = dict(batch)
    if config.augment_shift and model_config is not None and config.stage != "t2a":
        cams = [k for k in model_config.image_keys if k in out]
        offsets = shift_offsets(b, config.augment_shift, generator)  # every camera of a sample moves alike
        for key, shifted in zip(
            cams, random_shift([out[k] for k in cams], config.augment_shift, offsets=offsets), strict=True
        ):
            out[key] = shifted
        probes = [k for k in out if k.startswith(keys.FIRST_FRAME_PREFIX)]  # (B, 3, H, W) episode-start frames
        for key, shifted in zip(
            probes, random_shift([out[k].unsqueeze(1) for k in probes], config.augment_shift, generator), strict=True
        ):
            out[key] = shifted[:, 0]
    if config.stage == "cotrain" and keys.TEXT_TARGET not in out:
        raise ValueError(f"stage 'cotrain' needs a {keys.TEXT_TARGET!r} per sample (SampleConfig.text_target='motion')")
    if config.stage == "uac":
        out[keys.ACTION_PREFIX_LEN] = torch.randint(0, config.max_delay + 1, (b,), generator=generator)  # (B,)
    elif config.stage == "t2a":
        for key in [k for k in out if k.startswith(keys.IMAGE_PREFIX)] + [keys.HISTORY_IS_PAD]:
            out.pop(key, None)
    return out


class Trainer:
    """Trains `model` (anything with `compute_loss(batch, generator)` and `save_pretrained(dir)`).

    `dataset` is a map-style dataset of single samples (dicts, as `SampleBuilder` yields; collated with
    `collate_samples`). `on_step_end(step, metrics)` is called after every optimizer step (tests,
    custom logging).
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig,
        dataset: Dataset,
        on_step_end: Callable[[int, dict[str, float]], None] | None = None,
    ) -> None:
        self.model, self.config, self.dataset, self.on_step_end = model, config, dataset, on_step_end
        self.out_dir = Path(config.out_dir)
        self.device = resolve_device(config.device)
        horizon = getattr(getattr(model, "config", None), "horizon", None)
        if config.stage == "uac" and horizon is not None and config.max_delay >= horizon:
            raise ValueError(f"max_delay={config.max_delay} must be < the model's horizon {horizon}")
        if isinstance(getattr(model, "objectives", None), nn.ModuleDict) and not len(model.objectives):
            attach_objectives(model, config)  # the auxiliary losses this TrainConfig enables (training/objectives)
        self.frozen = apply_freeze(model, config) if hasattr(model, "expert") else []
        self.step = 0
        self.skipped = 0  # updates dropped for a non-finite loss or gradient (TrainConfig.skip_nonfinite)
        self.last_metrics: dict[str, float] = {}

    # -- set-up ---------------------------------------------------------------------------------
    def _optimizer(self) -> torch.optim.Optimizer:
        return build_adamw(self.model, self.config)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.device.type == "cuda":  # bf16 on GPU; CPU stays fp32 (bf16 CPU kernels are slow and inexact)
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # -- checkpoints ------------------------------------------------------------------------------
    def _save(
        self, ctx: DistContext, sharded: bool, model: nn.Module, optimizer: Any, position: DataPosition, ema: Any
    ) -> None:
        """Rank 0 writes the checkpoint; under FSDP every rank first helps gather the full tensors."""
        state = None
        if sharded:
            from hy_vla.training.sharding import gather_training_state

            state = gather_training_state(model, optimizer, ema)
        if ctx.is_main:
            save_checkpoint(self.out_dir, self.step, model, optimizer, position, ema, self.config.keep_last, state)
        barrier(ctx)

    @staticmethod
    def _restore(
        resumed: Resumed, model: nn.Module, optimizer: torch.optim.Optimizer, ema: EMA | None, sharded: bool
    ) -> None:
        """Optimizer moments, EMA and RNG states of a checkpoint (the weights are loaded before sharding)."""
        assert resumed.state is not None and resumed.rng is not None
        if sharded:
            from hy_vla.training.sharding import load_full_optimizer_state

            load_full_optimizer_state(model, optimizer, resumed.state.optimizer)
        else:
            optimizer.load_state_dict(resumed.state.optimizer)
        if ema is not None:
            load_ema(ema, resumed)
        restore_rng(*resumed.rng)

    def _diverged_message(self, loss: float, grad_norm: float) -> str:
        newest = latest_checkpoint(self.out_dir)
        kept = f"the newest checkpoint ({newest}) holds finite weights" if newest else "no checkpoint was written"
        return (
            f"training diverged at step {self.step + 1}: loss {loss:g}, gradient norm {grad_norm:g}; stopped before "
            f"this update, {kept}. Check the dataset for extreme values (hy-vla compute-norm) or lower the lr"
        )

    # -- the loop ---------------------------------------------------------------------------------
    def fit(self) -> dict[str, float]:
        """Train to `config.steps` (resuming if OUT has a complete checkpoint); returns final metrics."""
        c, model = self.config, self.model
        ctx = context_from_env()
        if ctx.enabled and self.device.type == "cuda":
            self.device = torch.device(f"cuda:{ctx.local_rank}")
        owns_group = init_distributed(ctx, self.device)
        if c.micro_batch_size % ctx.world_size:
            raise ValueError(
                f"batch_size / grad_accum = {c.micro_batch_size} is not divisible by {ctx.world_size} ranks"
            )
        note = (lambda msg: print(msg, file=sys.stderr, flush=True)) if ctx.is_main else None
        resumed = read_resumable(self.out_dir, note)  # skips (and reports) damaged newer checkpoints
        if resumed is not None and ctx.is_main:
            print(f"resuming from step {resumed.step}", flush=True)
        sharded = ctx.enabled and c.parallel == "fsdp"
        model.to(self.device).train()
        if resumed is not None:  # every rank reads the full weights, before FSDP (if on) keeps its share
            load_weights(model, resumed.state.weights, resumed.path)
        if sharded:
            from hy_vla.training.sharding import shard_model

            shard_model(model)
        optimizer = self._optimizer()  # after sharding: it must hold the sharded parameters
        ema = EMA(model, c.ema_decay) if c.ema_decay is not None else None
        position = DataPosition()
        if resumed is not None:
            self._restore(resumed, model, optimizer, ema, sharded)
            self.step, position = resumed.step, resumed.position
        else:  # global RNGs are not used by the loop itself; seed them so user code (augmentations) repeats too
            torch.manual_seed(c.seed)
            np.random.seed(c.seed)
            random.seed(c.seed)
        if self.step >= c.steps:
            if ctx.is_main:
                print(f"nothing to do: step {self.step} >= steps {c.steps}")
            shutdown_distributed(owns_group)
            return self.last_metrics
        self.out_dir.mkdir(parents=True, exist_ok=True)
        batches = ResumableBatches(
            self.dataset, c.micro_batch_size // ctx.world_size, c.seed, c.num_workers, position=position,
            rank=ctx.rank, world_size=ctx.world_size,
        )  # fmt: skip
        data = iter(batches)
        # DDP averages gradients across ranks during backward; some parameters (e.g. the backbone's last
        # post-attention block) get no gradient from the action loss, hence find_unused_parameters.
        net = DDP(model, find_unused_parameters=True) if ctx.enabled and not sharded else None
        # FSDP's hooks run on the module's __call__ (-> HyVLA.forward == compute_loss).
        forward = net if net is not None else model if sharded else model.compute_loss
        loggers = MetricLoggers(c, self.out_dir, self.step) if ctx.is_main else None  # TensorBoard / wandb
        from hy_vla.utils.progress import progress as tqdm

        bar = tqdm(
            total=c.steps, initial=self.step, desc=c.stage, unit="step", dynamic_ncols=True, disable=not ctx.is_main
        )
        trainable = [p for p in model.parameters() if p.requires_grad]
        stage_args: dict[str, Any] = {"flow": c.flow}  # how flow times are drawn (a training setting)
        if c.stage == "t2a":  # T2A: a prefix of the instruction alone
            stage_args["text_only"] = True
        t_log, samples_since = time.perf_counter(), 0
        t_start, samples_total = t_log, 0
        try:
            while self.step < c.steps:
                lr = lr_at(self.step, c.lr, c.warmup_steps, c.steps, c.min_lr)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                optimizer.zero_grad(set_to_none=True)
                loss_sum, part_sums = 0.0, {}
                for micro in range(c.grad_accum):
                    stream = micro * ctx.world_size + ctx.rank  # distinct noise per rank and micro-batch
                    gen = torch.Generator().manual_seed(
                        micro_seed(c.seed, self.step, stream, c.grad_accum * ctx.world_size)
                    )
                    batch = prepare_batch(next(data), getattr(model, "config", None), c, gen)
                    # Gradients are all-reduced (DDP) / reduce-scattered (FSDP) only on the last micro-batch.
                    last = micro == c.grad_accum - 1
                    if sharded:
                        model.set_requires_gradient_sync(last)
                    no_sync = net is not None and not last
                    with self._autocast(), net.no_sync() if no_sync else contextlib.nullcontext():
                        loss, parts = forward(batch, generator=gen, **stage_args)
                    # Mean over micro-batches of equal size == the mean over the whole batch.
                    (loss / c.grad_accum).backward()
                    loss_sum += float(loss.detach())
                    for name, value in parts.items():  # the model's loss terms (e.g. action_loss, lm_loss)
                        if name != "loss":
                            part_sums[name] = part_sums.get(name, 0.0) + value / c.grad_accum
                grad_norm = torch.nn.utils.clip_grad_norm_(trainable, c.grad_clip if c.grad_clip else float("inf"))
                grad_norm = float(full_tensor(grad_norm))  # FSDP: a DTensor
                # Checked before the update, so the weights (and every checkpoint) stay finite; on all ranks alike.
                if any_across(ctx, not (math.isfinite(loss_sum) and math.isfinite(grad_norm))):
                    if self.skipped >= c.skip_nonfinite:
                        raise TrainingDiverged(self._diverged_message(loss_sum / c.grad_accum, grad_norm))
                    self.skipped += 1  # a rare bad batch: drop this update, keep training
                    optimizer.zero_grad(set_to_none=True)
                    if ctx.is_main:
                        print(f"note: step {self.step + 1}: loss {loss_sum / c.grad_accum:g}, gradient norm "
                              f"{grad_norm:g}; update skipped ({self.skipped} of at most {c.skip_nonfinite})",
                              file=sys.stderr, flush=True)  # fmt: skip
                else:
                    optimizer.step()
                    if ema is not None:
                        ema.update(model)
                self.step += 1
                samples_since += c.batch_size
                samples_total += c.batch_size
                self.last_metrics = {"loss": loss_sum / c.grad_accum, "lr": lr, "grad_norm": grad_norm, **part_sums}
                if self.skipped:
                    self.last_metrics["skipped_steps"] = float(self.skipped)
                if self.step % c.log_every == 0 or self.step == c.steps:
                    for name in ("loss", *part_sums):
                        self.last_metrics[name] = mean_across(ctx, self.last_metrics[name])
                    now = time.perf_counter()
                    self.last_metrics["samples_per_s"] = samples_since / max(now - t_log, 1e-9)
                    t_log, samples_since = now, 0
                    bar.set_postfix(
                        loss=f"{self.last_metrics['loss']:.4f}",
                        lr=f"{lr:.2e}",
                        sps=f"{self.last_metrics['samples_per_s']:.1f}",
                        refresh=False,
                    )
                    if loggers is not None:
                        loggers.log(self.last_metrics, self.step)
                bar.update(1)
                if self.step % c.save_every == 0 or self.step == c.steps:
                    self._save(ctx, sharded, model, optimizer, batches.position, ema)
                if self.on_step_end is not None:
                    self.on_step_end(self.step, self.last_metrics)
                spent = c.max_minutes is not None and time.perf_counter() - t_start > 60.0 * c.max_minutes
                if c.max_minutes is not None and any_across(ctx, spent):  # every rank stops at the same step
                    if self.step % c.save_every and self.step != c.steps:  # not saved above
                        self._save(ctx, sharded, model, optimizer, batches.position, ema)
                    if ctx.is_main:
                        print(f"stopping at step {self.step}: the {c.max_minutes:g}-minute budget is spent", flush=True)
                    break
        finally:
            bar.close()
            if loggers is not None:
                loggers.close()
        shutdown_distributed(owns_group)
        elapsed = time.perf_counter() - t_start
        self.last_metrics["run_samples_per_s"] = samples_total / max(elapsed, 1e-9)
        self.ema = ema
        return self.last_metrics
