"""HY-Embodied-0.5 pretraining objectives as optional training losses (seed 001), off by default.

Pre-training in the seed sums three objectives: the language/action loss, a vision
loss and a global loss. Here:

- global (latent alignment): the backbone's visual latent tokens of each image
  (`backbone.num_latent_tokens`), averaged and mapped by an MLP, are pulled towards
  the teacher ViT's global feature of that image by NEGATIVE COSINE similarity;
- vision (next-code prediction): the teacher's patch features are quantised against a
  codebook (k-means centroids, fitted in this module on the first training batch and
  then frozen, saved in the training state); an MLP on the backbone's hidden state of patch
  p predicts the code of patch p + 1 (raster order, within one image) by cross-entropy.

The teacher is a frozen ViT with the model's vision architecture: a snapshot of the
model's own encoder when the objective is attached at the start of a run (`teacher_init="copy"`:
the pretrained ViT when the run starts from one, the seed's "larger ViT" role) or an independent
random one (`"random"`). It has no CLS token, so its global feature is the mean patch feature.
Like every training objective, its weights (teacher, heads, codebook) live in the training state,
not in the saved network (`hy_vla.training.objectives`).

total = action (+ language) loss + latent_align_weight * L_global + next_code_weight * L_vision.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hy_vla.models.objective_context import ObjectiveContext
from hy_vla.models.vision import VisionEncoder

TEACHER_INITS = ("copy", "random")


@dataclass
class AuxLossConfig:
    latent_align_weight: float = 0.0  # 0 = off
    next_code_weight: float = 0.0  # 0 = off
    num_codes: int = 512  # codebook size of the visual codes
    kmeans_iters: int = 10
    teacher_init: str = "copy"

    def __post_init__(self) -> None:
        if self.latent_align_weight < 0 or self.next_code_weight < 0:
            raise ValueError("aux loss weights must be >= 0")
        if self.num_codes < 2 or self.kmeans_iters < 1:
            raise ValueError("aux: num_codes must be >= 2 and kmeans_iters >= 1")
        if self.teacher_init not in TEACHER_INITS:
            raise ValueError(f"aux.teacher_init {self.teacher_init!r} not in {TEACHER_INITS}")

    @property
    def enabled(self) -> bool:
        return self.latent_align_weight > 0 or self.next_code_weight > 0


def check_model(cfg: AuxLossConfig, mc: Any) -> None:
    """Refuse a model the enabled terms cannot read (mc: the model's HyVLAConfig)."""
    if mc.hf_backbone.enabled:
        raise ValueError("aux (HY-Embodied losses) reads the native ViT's image blocks; not available with hf_backbone")
    if cfg.latent_align_weight > 0 and mc.backbone.num_latent_tokens < 1:
        raise ValueError("aux.latent_align_weight needs backbone.num_latent_tokens >= 1")
    if cfg.next_code_weight > 0 and mc.vision.token_merge > 1:
        raise ValueError("aux.next_code_weight predicts one code per patch: it needs vision.token_merge == 1")


def negative_cosine(pred: Tensor, target: Tensor) -> Tensor:
    """Mean of -cos(pred, target) over rows. pred, target: (N, D)."""
    return -F.cosine_similarity(pred.float(), target.float(), dim=-1).mean()


def kmeans(x: Tensor, k: int, iters: int, generator: torch.Generator | None = None) -> Tensor:
    """Lloyd's k-means on rows of x (N, D) -> centroids (k, D). Starts from k random rows (with replacement
    and a little jitter when N < k); an emptied cluster keeps its previous centroid."""
    n = x.shape[0]
    idx = torch.randint(n, (k,), generator=generator) if n < k else torch.randperm(n, generator=generator)[:k]
    c = x[idx.to(x.device)].clone()
    if n < k:
        c = c + 1e-3 * torch.randn(c.shape, generator=generator).to(c)
    for _ in range(iters):
        assign = torch.cdist(x, c).argmin(dim=1)  # (N,)
        sums = torch.zeros_like(c).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).to(x.dtype).unsqueeze(1)
        c = torch.where(counts > 0, sums / counts.clamp(min=1), c)
    return c


def nearest_code(x: Tensor, codebook: Tensor) -> Tensor:
    """(..., D) -> (...) index of the nearest centroid."""
    flat = x.reshape(-1, x.shape[-1])
    return torch.cdist(flat, codebook).argmin(dim=1).view(x.shape[:-1])


class HYEmbodiedObjective(nn.Module):
    name = "hy_embodied"

    def __init__(self, cfg: AuxLossConfig, mc: Any, vision: VisionEncoder) -> None:
        """mc: the model's HyVLAConfig; vision: its image encoder (the teacher starts as a frozen copy of it)."""
        super().__init__()
        self.cfg = cfg
        self.mc = mc
        check_model(cfg, mc)
        width, tw = mc.backbone.width, mc.vision.width
        teacher = copy.deepcopy(vision) if cfg.teacher_init == "copy" else VisionEncoder(mc.vision)
        teacher.memory_enabled = False  # a single-frame teacher
        self.teacher = teacher.requires_grad_(False)
        if cfg.latent_align_weight > 0:
            self.latent_head = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, tw))
        if cfg.next_code_weight > 0:
            self.code_head = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, cfg.num_codes))
            self.register_buffer("codebook", torch.zeros(cfg.num_codes, tw))
            self.register_buffer("codebook_ready", torch.zeros((), dtype=torch.bool))

    def train(self, mode: bool = True) -> HYEmbodiedObjective:
        super().train(mode)
        self.teacher.eval()  # frozen: never in training mode
        return self

    @torch.no_grad()
    def teacher_features(self, images: Tensor) -> Tensor:
        """images: (B * C, K, 3, H, W) as the vision encoder takes them -> (B, C, P, Dt) teacher patch features
        of every camera's current frame."""
        feats = self.teacher(images[:, -1:])  # (B * C, P, Dt)
        return feats.view(-1, len(self.mc.camera_names), *feats.shape[1:]).float()

    def forward(self, ctx: ObjectiveContext, batch: dict[str, Any]) -> dict[str, Tensor]:
        """The weighted loss terms from the pass's image blocks and the cameras' frames (none without images)."""
        if ctx.num_cameras == 0:  # both terms are about image tokens; a text-only prefix has none
            return {}
        return self.losses(ctx.hidden, ctx.frames())

    def losses(self, hidden: Tensor, images: Tensor) -> dict[str, Tensor]:
        """hidden: (B, Tp, D) final backbone hidden states of the prefix; images: (B * C, K, 3, H, W) the cameras'
        frames as the vision encoder took them -> weighted loss terms."""
        cfg, mc = self.cfg, self.mc
        n_cam, p = len(mc.camera_names), mc.vision.num_tokens
        b = hidden.shape[0]
        lat_start = p + mc.vision.extra_tokens  # patches, then the keypoint token (if any), then the latents
        per_img = mc.tokens_per_image
        vis = hidden[:, : n_cam * per_img].reshape(b, n_cam, per_img, -1)  # images come first
        target = self.teacher_features(images)  # (B, C, P, Dt)
        out: dict[str, Tensor] = {}
        if cfg.latent_align_weight > 0:
            lat = self.latent_head(vis[:, :, lat_start:].mean(dim=2))  # (B, C, Dt)
            out["latent_align_loss"] = cfg.latent_align_weight * negative_cosine(
                lat.flatten(0, 1), target.mean(dim=2).flatten(0, 1)
            )
        if cfg.next_code_weight > 0:
            feats = F.normalize(target, dim=-1)
            if self.training and not bool(self.codebook_ready):
                self.codebook.copy_(kmeans(feats.flatten(0, 2), cfg.num_codes, cfg.kmeans_iters))
                self.codebook_ready.fill_(True)
            codes = nearest_code(feats, self.codebook)  # (B, C, P)
            logits = self.code_head(vis[:, :, : p - 1])  # patch p predicts the code of patch p + 1
            ce = F.cross_entropy(logits.float().flatten(0, 2), codes[:, :, 1:].flatten())
            out["next_code_loss"] = cfg.next_code_weight * ce
        return out
