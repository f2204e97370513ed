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

from hy_vla import keys
from hy_vla.flow import flow_matching as fm
from hy_vla.models import inputs
from hy_vla.models.action_expert import ActionExpert
from hy_vla.models.backbone import MoTBackbone, Segment
from hy_vla.models.config import HyVLAConfig
from hy_vla.models.dual_tower import Prefix, encode_prefix, expert_forward, joint_forward
from hy_vla.models.tokenizer import Tokenizer, load_tokenizer
from hy_vla.models.vision import VisionEncoder

VISION, TEXT = 0, 1  # modality indices of MoTBackbone


class HyVLA(nn.Module):
    def __init__(self, config: HyVLAConfig, tokenizer: Tokenizer | None = None) -> None:
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer or load_tokenizer(config.tokenizer, config.tokenizer_path)
        if self.tokenizer.vocab_size > config.backbone.vocab_size:
            raise ValueError(
                f"tokenizer has {self.tokenizer.vocab_size} tokens but backbone.vocab_size={config.backbone.vocab_size}"
            )
        bb = config.backbone
        self.vision = VisionEncoder(config.vision)
        self.projector = nn.Linear(config.vision.width, bb.width)
        self.camera_embed = nn.Parameter(torch.zeros(len(config.camera_names), bb.width))
        self.backbone = MoTBackbone(bb)
        self.expert = ActionExpert(
            config.expert, bb.depth, bb.num_heads, bb.head_dim, config.max_state_dim, config.max_action_dim
        )
        # NormStats of the data this model was trained on (set by training; saved as norm_stats.json).
        self.norm_stats: Any = None
        self.enable_video_encoder_if_needed()

    # -- set-up -------------------------------------------------------------------------------
    def enable_video_encoder_if_needed(self) -> HyVLA:
        """Switch the memory encoder on when the config asks for K > 1 history frames (idempotent).

        Models are built with it already on when K > 1; call this after changing `config.history_frames`
        on a loaded model (e.g. SFT with K=6 from a K=1 pretrained checkpoint).
        """
        self.vision.memory_enabled = self.config.history_frames > 1
        return self

    @property
    def dtype(self) -> torch.dtype:
        return self.projector.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.projector.weight.device

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

    def embed_prefix(self, batch: dict[str, Any]) -> Prefix:
        """Images + latent tokens + instruction -> the backbone's input sequence."""
        cfg, dev, dtype = self.config, self.device, self.dtype
        b = inputs.batch_size(batch, cfg)
        imgs, frame_valid = inputs.images(batch, cfg, b, dtype)
        n_cam = len(cfg.camera_names)
        feats = self.projector(self.vision(imgs.to(dev), None if frame_valid is None else frame_valid.to(dev)))
        feats = feats.view(b, n_cam, -1, feats.shape[-1]) + self.camera_embed.view(1, n_cam, 1, -1)  # (B, C, P, D)
        if cfg.backbone.num_latent_tokens:
            lat = self.backbone.latents.view(1, 1, *self.backbone.latents.shape).expand(b, n_cam, -1, -1)
            feats = torch.cat([feats, lat], dim=2)  # latents close each image's block
        per_img = feats.shape[2]
        vis = feats.flatten(1, 2)  # (B, C * (P + L), D)
        ids, text_valid = self.tokenizer.encode_batch(
            self.instruction_texts(batch, inputs.tasks(batch, b)), cfg.max_text_len
        )
        ids, text_valid = ids.to(dev), text_valid.to(dev)
        txt = self.backbone.embed(ids)  # (B, Lt, D)
        nv, nt = vis.shape[1], ids.shape[1]
        x = torch.cat([vis, txt], dim=1)
        block_ids = torch.cat(
            [
                torch.arange(n_cam, device=dev).repeat_interleave(per_img),  # one bidirectional block per image
                n_cam + torch.arange(nt, device=dev),  # one block per text token: causal
            ]
        ).expand(b, -1)
        bidir = torch.cat([torch.ones(nv, dtype=torch.bool, device=dev), torch.zeros(nt, dtype=torch.bool, device=dev)])
        valid = torch.cat([torch.ones(b, nv, dtype=torch.bool, device=dev), text_valid], dim=1)
        positions = (valid.long().cumsum(dim=1) - 1).clamp(min=0)
        segments = [Segment(VISION, 0, nv), Segment(TEXT, nv, nv + nt)]
        return Prefix(x, segments, block_ids, bidir.expand(b, -1), valid, positions)

    # -- training -----------------------------------------------------------------------------
    def compute_loss(self, batch: dict[str, Any], generator: torch.Generator | None = None) -> tuple[Tensor, dict]:
        """Flow-matching loss on the action chunk; returns (scalar loss, metrics)."""
        cfg, dev, dtype = self.config, self.device, self.dtype
        b = inputs.batch_size(batch, cfg)
        actions, mask = inputs.action_target(batch, cfg, torch.float32)
        actions, mask = actions.to(dev), mask.to(dev)
        state, state_mask = (t.to(dev) for t in inputs.state(batch, cfg, dtype))
        noise = torch.randn(actions.shape, generator=generator).to(dev)
        t = cfg.flow.sample((b,), generator).to(dev)
        t = t.unsqueeze(1).expand(b, cfg.horizon).clone()  # (B, H) per-step time
        if keys.ACTION_PREFIX_LEN in batch:  # training-time real-time chunking: a clean committed prefix
            d = torch.as_tensor(batch[keys.ACTION_PREFIX_LEN], device=dev).view(b, 1)
            committed = torch.arange(cfg.horizon, device=dev).view(1, -1) < d  # (B, H)
            t = torch.where(committed, torch.ones_like(t), t)
            mask = mask & ~committed.unsqueeze(-1)
        x_t = fm.interpolate(noise, actions, t)
        prefix = self.embed_prefix(batch)
        _, kv = encode_prefix(self.backbone, prefix)
        suffix = self.expert.embed(state, state_mask, x_t.to(dtype), t)
        v = self.expert.velocity(expert_forward(self.backbone, self.expert, prefix, kv, suffix))
        loss = fm.masked_flow_loss(v, fm.target_velocity(noise, actions), mask)
        return loss, {"loss": float(loss.detach())}

    def forward(self, batch: dict[str, Any]) -> tuple[Tensor, dict]:
        return self.compute_loss(batch)

    # -- inference ----------------------------------------------------------------------------
    @torch.no_grad()
    def sample_actions(
        self,
        batch: dict[str, Any],
        num_steps: int | None = None,
        noise: Tensor | None = None,
        use_cache: bool = True,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Integrate the flow from noise (t=0) to actions (t=1) -> (B, H, max_action_dim) float32, normalized.

        use_cache=True computes the prefix once and runs only the expert per Euler step;
        use_cache=False recomputes the joint [prefix, suffix] attention every step (reference path).
        """
        cfg, dev, dtype = self.config, self.device, self.dtype
        b = inputs.batch_size(batch, cfg)
        steps = num_steps or cfg.num_inference_steps
        state, state_mask = (t.to(dev) for t in inputs.state(batch, cfg, dtype))
        if noise is None:
            noise = torch.randn((b, cfg.horizon, cfg.max_action_dim), generator=generator)
        elif tuple(noise.shape) != (b, cfg.horizon, cfg.max_action_dim):
            raise ValueError(f"noise has shape {tuple(noise.shape)}; expected {(b, cfg.horizon, cfg.max_action_dim)}")
        prefix = self.embed_prefix(batch)
        kv = encode_prefix(self.backbone, prefix)[1] if use_cache else None

        def velocity(x: Tensor, t: float) -> Tensor:
            tt = torch.full((b, cfg.horizon), t, device=dev)
            suffix = self.expert.embed(state, state_mask, x.to(dtype), tt)
            if kv is not None:
                hidden = expert_forward(self.backbone, self.expert, prefix, kv, suffix)
            else:
                hidden = joint_forward(self.backbone, self.expert, prefix, suffix)[1]
            return self.expert.velocity(hidden).float()

        return fm.integrate(velocity, noise.to(dev, torch.float32), steps)

    @torch.no_grad()
    def forward_evaluate(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """The model card's call: {"pred": (B, horizon, max_action_dim)} normalized actions."""
        return {"pred": self.sample_actions(batch)}

    # -- checkpoints --------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> Path:
        from hy_vla.models.checkpoint import save_model

        return save_model(self, Path(directory))

    @classmethod
    def from_pretrained(cls, directory: str | Path, config: HyVLAConfig | None = None, strict: bool = True) -> HyVLA:
        from hy_vla.models.checkpoint import load_model

        return load_model(cls, Path(directory), config=config, strict=strict)
