"""The Hy-VLA policy network: ViT (+ memory encoder) -> MoT backbone -> dual-tower flow action expert.

Narrow interface:
- `compute_loss(batch) -> (loss, metrics)` for training (also `forward`);
- `sample_actions(batch) -> (B, H, max_action_dim)` normalized actions;
- `forward_evaluate(batch) -> {"pred": ...}`, the model card's call;
- `save_pretrained(dir)` / `from_pretrained(dir)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.profiler import record_function

from hy_vla import keys
from hy_vla.flow import flow_matching as fm
from hy_vla.models import inputs, slot_layout
from hy_vla.models.backbone import MoTBackbone, Segment
from hy_vla.models.checkpoint import load_model, save_model
from hy_vla.models.config import HyVLAConfig
from hy_vla.models.decoders import common as decoders
from hy_vla.models.decoders.common import DecoderContext
from hy_vla.models.decoders.registry import build_decoder
from hy_vla.models.dual_tower import Prefix, encode_prefix
from hy_vla.models.objective_context import OBJECTIVES_PREFIX, ObjectiveContext
from hy_vla.models.text_patch import TextPatcher, apply_text_patch
from hy_vla.models.tokenizer import Tokenizer, VocabOnly, load_tokenizer
from hy_vla.models.vision import VisionEncoder, merge_tokens

VISION, TEXT = 0, 1  # modality indices of MoTBackbone


class HyVLA(nn.Module):
    def __init__(self, config: HyVLAConfig, tokenizer: Tokenizer | None = None) -> None:
        super().__init__()
        self.config = config
        # A transformers backbone's tokenizer (and image processor) defaults to the files in its directory.
        tok_path = config.tokenizer_path or (config.hf_backbone.path if config.hf_backbone.enabled else None)
        if tokenizer is None and config.tokenizer == "hf" and tok_path is None and config.hf_backbone.enabled:
            raise ValueError(
                f"the {config.hf_backbone.family} backbone reads its weights and tokenizer from its model directory: "
                "set hf_backbone.path (--set model.hf_backbone.path=DIR); HyVLA.on_meta builds it without them"
            )
        self.tokenizer = tokenizer or load_tokenizer(config.tokenizer, tok_path)
        bb = config.backbone
        if config.hf_backbone.enabled:  # a transformers VLM/LM, with its own vision tower, as the backbone
            from hy_vla.models.hf_backbone import HFBackbone

            self.backbone = HFBackbone(config.hf_backbone, config.decoder, self.tokenizer)
            bb = self.backbone.cfg
        else:
            self.vision = VisionEncoder(config.vision)
            self.projector = nn.Linear(config.vision.token_width, bb.width)
            self.backbone = MoTBackbone(bb)
        reserved = config.hybrid.num_bins if config.decoder == "hybrid" else 0  # action tokens end the vocabulary
        if self.tokenizer.vocab_size + reserved > bb.vocab_size:
            raise ValueError(
                f"tokenizer has {self.tokenizer.vocab_size} tokens (+ {reserved} action tokens) but "
                f"backbone.vocab_size={bb.vocab_size}"
            )
        self.text_patcher = TextPatcher(config.text_patch, bb.width) if config.text_patch > 1 else None
        self.camera_embed = nn.Parameter(torch.zeros(len(config.camera_names), bb.width))
        self.expert = build_decoder(config, self.backbone)  # the action decoder chosen by config.decoder
        # Training objectives attached for a training run (hy_vla.training.objectives): auxiliary losses on this
        # network's states; not part of the saved network (`save_pretrained` leaves them out).
        self.objectives = nn.ModuleDict()
        # NormStats of the data this model was trained on (set by training; saved as norm_stats.json).
        self.norm_stats: Any = None
        self.enable_video_encoder_if_needed()
        if config.lora.enabled:  # LoRA adapters on the matching Linears; everything else frozen
            from hy_vla.models.lora import apply_lora

            apply_lora(self, config.lora)

    @classmethod
    def on_meta(cls, config: HyVLAConfig) -> HyVLA:
        """The network's shape with no weights and no files read: parameters on the meta device, and for a backbone
        whose tokenizer lives in its model directory a stand-in that knows no tokens (parameter counts; cannot run).
        A transformers backbone is built from its directory's config.json, or without one its stored `hf_config`."""
        if config.hf_backbone.enabled:
            config = config.replace(hf_backbone=config.hf_backbone.architecture_only())
        tokenizer = VocabOnly() if config.tokenizer == "hf" else None
        with torch.device("meta"):
            return cls(config, tokenizer=tokenizer)

    # -- set-up -------------------------------------------------------------------------------
    def enable_video_encoder_if_needed(self) -> HyVLA:
        """Switch the memory encoder on when the config asks for K > 1 history frames (idempotent).

        Models are built with it already on when K > 1; call this after changing `config.history_frames`
        on a loaded model (e.g. SFT with K=6 from a K=1 pretrained checkpoint).
        """
        if hasattr(self, "vision"):  # a transformers backbone brings its own (single-frame) vision tower
            self.vision.memory_enabled = self.config.history_frames > 1
        return self

    @property
    def dtype(self) -> torch.dtype:
        return self.camera_embed.dtype

    @property
    def device(self) -> torch.device:
        return self.camera_embed.device

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    # -- prefix -------------------------------------------------------------------------------
    def instruction_texts(self, batch: dict[str, Any], tasks: list[str]) -> list[str]:
        """The text the backbone reads: the instruction, after the embodiment prompt when the config asks.

        The embodiment is per sample (`batch["embodiment"]`) when given, else `config.embodiment`.
        """
        if not self.config.use_embodiment_prompt:
            return tasks
        from hy_vla.embodiments import embodiment_prompt, get_embodiment

        names = batch.get(keys.EMBODIMENT) or [self.config.embodiment] * len(tasks)
        if isinstance(names, str):
            names = [names] * len(tasks)
        return [embodiment_prompt(get_embodiment(n), t, self.config.horizon) for n, t in zip(names, tasks, strict=True)]

    def embed_prefix(self, batch: dict[str, Any], text_only: bool = False) -> Prefix:
        """Images + latent tokens + instruction -> the backbone's input sequence.

        text_only (text-to-action pretraining, Qwen-VLA T2A): no image tokens at all, the prefix is the
        instruction (after the embodiment prompt when configured); camera keys are neither needed nor read.
        """
        if self.config.hf_backbone.enabled:
            return self._hf_prefix(batch, text_only)
        cfg, dev = self.config, self.device
        b = inputs.batch_size(batch, cfg)
        vis, per_img = (None, 0) if text_only else self.image_tokens(batch, b)
        n_cam = 0 if vis is None else len(cfg.camera_names)
        ids, text_valid = self.tokenizer.encode_batch(
            self.instruction_texts(batch, inputs.tasks(batch, b)), cfg.max_text_len
        )
        ids, text_valid = ids.to(dev), text_valid.to(dev)
        txt, text_valid = apply_text_patch(self.text_patcher, self.backbone.embed(ids), text_valid)  # (B, Lt, D)
        nv, nt = n_cam * per_img, txt.shape[1]
        x = txt if vis is None else torch.cat([vis, txt], dim=1)
        block_ids = torch.cat(
            [
                torch.arange(n_cam, device=dev).repeat_interleave(per_img),  # one bidirectional block per image
                n_cam + torch.arange(nt, device=dev),  # one block per text token: causal
            ]
        ).expand(b, -1)
        bidir = torch.cat([torch.ones(nv, dtype=torch.bool, device=dev), torch.zeros(nt, dtype=torch.bool, device=dev)])
        valid = torch.cat([torch.ones(b, nv, dtype=torch.bool, device=dev), text_valid], dim=1)
        positions = (valid.long().cumsum(dim=1) - 1).clamp(min=0)
        segments = [Segment(TEXT, nv, nv + nt)] if vis is None else [Segment(VISION, 0, nv), Segment(TEXT, nv, nv + nt)]
        return Prefix(x, segments, block_ids, bidir.expand(b, -1), valid, positions)

    def _hf_prefix(self, batch: dict[str, Any], text_only: bool) -> Prefix:
        """The prefix of a transformers backbone: the family's own input layout over each camera's current frame."""
        cfg, dev = self.config, self.device
        b = inputs.batch_size(batch, cfg)
        texts = self.instruction_texts(batch, inputs.tasks(batch, b))
        if not self.backbone.reads_images:  # BERT: the instruction alone
            ids, text_valid = self.tokenizer.encode_batch(texts, cfg.max_text_len)
            return self.backbone.embed_text_prefix(ids.to(dev), text_valid.to(dev))
        frames = None
        if not text_only:  # text-to-action batches carry no images
            imgs, _ = inputs.images(batch, cfg, b, torch.float32)  # (B * C, K, 3, S, S) in [-1, 1]
            current = ((imgs[:, -1] + 1.0) / 2.0).view(b, len(cfg.camera_names), *imgs.shape[2:])  # [0, 1]
            frames = [list(current[i]) for i in range(b)]
        return self.backbone.embed_prefix(frames, self.camera_embed, texts)

    def image_prefix(self, batch: dict[str, Any], b: int) -> tuple[Prefix, int]:
        """A prefix of the image blocks alone (no instruction) -> (prefix, tokens per image); image tokens never
        attend to the text, so their hidden states equal those of the full prefix."""
        vis, per_img = self.image_tokens(batch, b)  # (B, C * per_img, D)
        n_cam, nv, dev = len(self.config.camera_names), vis.shape[1], self.device
        block_ids = torch.arange(n_cam, device=dev).repeat_interleave(per_img).expand(b, -1)
        ones = torch.ones(b, nv, dtype=torch.bool, device=dev)
        positions = torch.arange(nv, device=dev).expand(b, -1)
        return Prefix(vis, [Segment(VISION, 0, nv)], block_ids, ones, ones, positions), per_img

    def image_tokens(self, batch: dict[str, Any], b: int) -> tuple[Tensor, int]:
        """Every camera's current frame (+ memory) as backbone tokens -> (B, C * per_image, D), per_image."""
        cfg, dev = self.config, self.device
        imgs, frame_valid = inputs.images(batch, cfg, b, self.dtype)
        n_cam = len(cfg.camera_names)
        patches, keypoint = self.vision.encode(imgs.to(dev), None if frame_valid is None else frame_valid.to(dev))
        tokens = merge_tokens(patches, cfg.vision.token_merge)  # (B*C, P / m^2, m^2 * Dv)
        if keypoint is not None:  # the spatial-softmax keypoint token follows the patch tokens
            tokens = torch.cat([tokens, keypoint], dim=1)
        feats = self.projector(tokens)  # (B*C, P / m^2 + extra, D)
        feats = feats.view(b, n_cam, -1, feats.shape[-1]) + self.camera_embed.view(1, n_cam, 1, -1)  # (B, C, P, D)
        if cfg.backbone.num_latent_tokens:
            lat = self.backbone.latents.view(1, 1, *self.backbone.latents.shape).expand(b, n_cam, -1, -1)
            feats = torch.cat([feats, lat], dim=2)  # latents close each image's block
        return feats.flatten(1, 2), feats.shape[2]

    # -- training -----------------------------------------------------------------------------
    def compute_loss(
        self,
        batch: dict[str, Any],
        generator: torch.Generator | None = None,
        text_only: bool = False,
        flow: fm.FlowConfig | None = None,
    ) -> tuple[Tensor, dict]:
        """Flow-matching loss on the action chunk (+ the decoder's own terms, + the attached training objectives'
        terms: `hy_vla.training.objectives`); returns (scalar loss, metrics). text_only: see `embed_prefix`;
        flow: how flow times are drawn (a training setting, `TrainConfig.flow`; default: `FlowConfig()`)."""
        cfg, dev, dtype = self.config, self.device, self.dtype
        actions, mask = (t.to(dev) for t in inputs.action_target(batch, cfg, torch.float32))
        draw = decoders.flow_training_inputs(flow or fm.FlowConfig(), actions, mask, batch, generator)  # noise, t
        state, state_mask = (t.to(dev) for t in inputs.state(batch, cfg, dtype))
        with record_function("hy_vla.embed_prefix"):  # named ranges for profilers (bench/step_profile.py)
            prefix = self.embed_prefix(batch, text_only)
        with record_function("hy_vla.encode_prefix"):
            ctx = self.expert.context(self.backbone, prefix, batch)  # encoded once
        with record_function("hy_vla.decoder"):
            v = self.expert.velocity(ctx, state, state_mask, draw.x_t.to(dtype), draw.t, draw.actions.to(dtype))
        loss = fm.masked_flow_loss(v, fm.target_velocity(draw.noise, draw.actions), draw.mask)
        metrics: dict[str, float] = {"flow_loss": float(loss.detach())}
        for name, term in self.expert.extra_losses(ctx, draw).items():  # e.g. HybridVLA's AR cross-entropy
            loss = loss + term
            metrics[name] = float(term.detach())
        with record_function("hy_vla.objectives"):
            loss = self._objective_losses(batch, ctx, loss, metrics, text_only)  # unchanged without objectives
        return loss, {"loss": float(loss.detach()), **metrics}

    def _objective_losses(
        self, batch: dict[str, Any], dctx: DecoderContext, loss: Tensor, metrics: dict[str, float], text_only: bool
    ) -> Tensor:
        """loss + every attached objective's terms (metrics updated in place)."""
        if not len(self.objectives):
            return loss
        ctx = ObjectiveContext(
            prefix=dctx.prefix,
            hidden=dctx.hidden,
            tokens_per_image=0 if text_only else self.config.tokens_per_image,
            num_cameras=0 if text_only else len(self.config.camera_names),
            camera_keys=self.config.image_keys,
            history_frames=self.config.history_frames,
            encode_images=self.encode_images,
            frames=lambda: inputs.images(batch, self.config, inputs.batch_size(batch, self.config), self.dtype)[0].to(
                self.device
            ),
            kv=dctx.kv,
            backbone=self.backbone,
            tokenizer=self.tokenizer,
        )
        for objective in self.objectives.values():
            for name, term in objective(ctx, batch).items():
                metrics[name] = float(term.detach())
                loss = loss + term
        return loss

    def encode_images(self, images: dict[str, Any], b: int) -> Tensor:
        """(B, C * P, D) final hidden states of an image-only prefix of a camera batch."""
        prefix, _ = self.image_prefix(images, b)
        hidden, _ = encode_prefix(self.backbone, prefix)
        return hidden

    def forward(
        self,
        batch: dict[str, Any],
        generator: torch.Generator | None = None,
        text_only: bool = False,
        flow: fm.FlowConfig | None = None,
    ) -> tuple[Tensor, dict]:
        """`compute_loss` (the entry DistributedDataParallel and FSDP call)."""
        return self.compute_loss(batch, generator, text_only, flow)

    # -- inference ----------------------------------------------------------------------------
    @torch.no_grad()
    def sample_actions(
        self,
        batch: dict[str, Any],
        num_steps: int | None = None,
        noise: Tensor | None = None,
        use_cache: bool = True,
        generator: torch.Generator | None = None,
        prefix_actions: Tensor | None = None,
        prefix_weights: Tensor | None = None,
        predict_mode: str | None = None,
        text_only: bool = False,
    ) -> Tensor:
        """Integrate the flow from noise (t=0) to actions (t=1) -> (B, H, max_action_dim) float32, normalized,
        the robot's action_dim channels first whatever `config.slot_layout` (`hy_vla.models.slot_layout`).

        use_cache=True computes the prefix once and runs only the decoder per Euler step; use_cache=False
        recomputes the joint [prefix, suffix] attention every step (a reference path; decoders that have none
        refuse it, `FlowDecoder.supports_uncached`).
        prefix_actions (B, P, A') normalized and prefix_weights (P,) or (B, P) in [0, 1] guide the first
        P steps toward a previous chunk (inference-time real-time chunking, `hy_vla.flow.guidance`):
        weight 1 reproduces the given action exactly, 0 leaves the model free.
        predict_mode: HybridVLA's action head at inference ("diff", "ar", "diff+ar"; default: its config's).
        text_only: an instruction-only prefix (see `embed_prefix`).
        """
        cfg, dev, dtype = self.config, self.device, self.dtype
        b = inputs.batch_size(batch, cfg)
        steps = num_steps or cfg.num_inference_steps
        state, state_mask = (t.to(dev) for t in inputs.state(batch, cfg, dtype))
        if noise is None:
            noise = torch.randn((b, cfg.horizon, cfg.max_action_dim), generator=generator)
        elif tuple(noise.shape) != (b, cfg.horizon, cfg.max_action_dim):
            raise ValueError(f"noise has shape {tuple(noise.shape)}; expected {(b, cfg.horizon, cfg.max_action_dim)}")
        guide = None
        if (prefix_actions is None) != (prefix_weights is None):
            raise ValueError("give both prefix_actions and prefix_weights, or neither")
        slots = slot_layout.batch_slots(batch, cfg, "action")  # None unless config.slot_layout == "unified"
        if prefix_actions is not None and prefix_weights is not None:
            from hy_vla.flow.guidance import full_prefix

            target, weights = full_prefix(
                prefix_actions.to(dev), prefix_weights.to(dev), (b, cfg.horizon, cfg.max_action_dim)
            )  # given in the robot's (leading) layout: place it in the model's
            width = cfg.max_action_dim
            guide = (slot_layout.place(target, slots, width), slot_layout.place(weights, slots, width))
        ctx = self.expert.context(self.backbone, self.embed_prefix(batch, text_only), batch, use_cache=use_cache)
        if predict_mode is not None:
            if cfg.decoder != "hybrid":
                raise ValueError(f"predict_mode applies to decoder 'hybrid', not {cfg.decoder!r}")
            ctx.extra["predict_mode"] = predict_mode
        actions = self.expert.sample(ctx, state, state_mask, noise.to(dev, torch.float32), steps, guide).float()
        return slot_layout.unplace(actions, slots)

    # -- post-training: the stochastic denoising chain (hy_vla.flow.stochastic) -------------------
    def chain_mask(self, batch: dict[str, Any], executed: int | None = None) -> Tensor:
        """(B, H, max_action_dim) bool, model layout: the robot's action channels in the first `executed` model steps
        (None: all H); the channels whose noise can change what the robot does."""
        cfg = self.config
        b = inputs.batch_size(batch, cfg)
        steps = cfg.horizon if executed is None else min(max(int(executed), 1), cfg.horizon)
        robot = torch.zeros(b, cfg.horizon, cfg.max_action_dim, dtype=torch.bool, device=self.device)
        robot[:, :steps, : cfg.action_dim] = True
        slots = slot_layout.batch_slots(batch, cfg, "action")
        return robot if slots is None else slot_layout.place(robot[..., : cfg.action_dim], slots, cfg.max_action_dim)

    def _chain_context(self, batch: dict[str, Any], predict_mode: str | None) -> tuple[DecoderContext, Tensor, Tensor]:
        state, state_mask = (t.to(self.device) for t in inputs.state(batch, self.config, self.dtype))
        ctx = self.expert.context(self.backbone, self.embed_prefix(batch), batch)
        if predict_mode is not None:
            ctx.extra["predict_mode"] = predict_mode
        return ctx, state, state_mask

    @torch.no_grad()
    def sample_chain(
        self,
        batch: dict[str, Any],
        sigma: float,
        mask: Tensor,
        noise: Tensor,
        num_steps: int | None = None,
        generator: torch.Generator | None = None,
        predict_mode: str | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """A stochastic denoising chain (post-training rollouts) -> (states (K+1, B, H, max_action_dim) and the
        transitions' means (K, B, H, max_action_dim), both in the model's layout; actions (B, H, max_action_dim)
        normalized in the robot's leading layout = the last state).

        mask: `chain_mask`; noise (B, H, max_action_dim): x_0; sigma 0: the deterministic chain. A decoder without
        a Gaussian chain refuses.
        """
        ctx, state, state_mask = self._chain_context(batch, predict_mode)
        steps = num_steps or self.config.num_inference_steps
        states, means = self.expert.sample_chain(
            ctx, state, state_mask, noise.to(self.device, torch.float32), steps, sigma, mask, generator
        )
        return states, means, slot_layout.unplace(states[-1], slot_layout.batch_slots(batch, self.config, "action"))

    def chain_means(self, batch: dict[str, Any], states: Tensor, predict_mode: str | None = None) -> Tensor:
        """The transitions' means under the current parameters (differentiable): states (K+1, B, H, A) -> (K, B, H, A).

        The prefix is encoded afresh, so gradients reach the vision encoder and backbone too.
        """
        ctx, state, state_mask = self._chain_context(batch, predict_mode)
        return self.expert.chain_means(ctx, state, state_mask, states.to(self.device))

    @torch.no_grad()
    def observation_features(self, batch: dict[str, Any]) -> Tensor:
        """(B, D + max_state_dim) float32: the backbone's final hidden states averaged over the valid prefix tokens,
        then the normalized state (what a post-training value head reads)."""
        ctx, state, _ = self._chain_context(batch, None)
        if ctx.hidden is None:
            raise ValueError(f"{type(self.expert).__name__} keeps no backbone hidden states to read features from")
        valid = ctx.prefix.valid.unsqueeze(-1).to(ctx.hidden.dtype)  # (B, Tp, 1)
        pooled = (ctx.hidden * valid).sum(dim=1) / valid.sum(dim=1).clamp(min=1)
        return torch.cat([pooled.float(), state.float()], dim=-1)

    def flow_losses(self, batch: dict[str, Any], noise: Tensor, t: Tensor) -> Tensor:
        """Each sample's flow-matching loss for a given draw -> (B,) (differentiable; preference optimization
        compares two chunks of one observation under the same noise (B, H, max_action_dim) and times t (B,))."""
        cfg, dev, dtype = self.config, self.device, self.dtype
        actions, mask = (x.to(dev) for x in inputs.action_target(batch, cfg, torch.float32))
        tt = t.to(dev).view(-1, 1).expand(-1, cfg.horizon)  # (B, H)
        x_t = fm.interpolate(noise.to(dev), actions, tt)
        ctx, state, state_mask = self._chain_context(batch, None)
        v = self.expert.velocity(ctx, state, state_mask, x_t.to(dtype), tt, actions.to(dtype))
        return fm.per_sample_flow_loss(v, fm.target_velocity(noise.to(dev), actions), mask)[0]

    @torch.no_grad()
    def forward_evaluate(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """The model card's call: {"pred": (B, horizon, max_action_dim)} normalized actions."""
        return {"pred": self.sample_actions(batch)}

    # -- checkpoints --------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path, state_dict: dict[str, Tensor] | None = None) -> Path:
        """Write model.safetensors + config.json + norm_stats.json; `state_dict` overrides the weights."""
        weights = self.state_dict() if state_dict is None else state_dict
        return save_model(
            self, Path(directory), {k: v for k, v in weights.items() if not k.startswith(OBJECTIVES_PREFIX)}
        )

    @classmethod
    def from_pretrained(
        cls,
        directory: str | Path,
        config: HyVLAConfig | None = None,
        strict: bool = True,
        trust_tokenizer_path: bool = False,
    ) -> HyVLA:
        """A checkpoint directory; its tokenizer must lie inside it unless `trust_tokenizer_path`."""
        return load_model(cls, Path(directory), config=config, strict=strict, trust_tokenizer_path=trust_tokenizer_path)
