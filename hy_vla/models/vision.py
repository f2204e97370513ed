"""ViT patch encoder with Hy-VLA's parameter-free memory encoder.

Memory encoder (Hy-VLA): with K history frames per camera, every block first mixes
each patch position across frames (temporal attention, causal: a frame sees itself
and older frames) and then mixes patches within each frame (spatial attention,
bidirectional). Both attention passes use the block's one set of QKV/output weights
and its first norm, so the multi-frame encoder has exactly the parameters of the
single-frame one and a K=1 checkpoint loads into a K=6 model unchanged. After the
last block only the current (last) frame's tokens are kept, so the backbone sees
the same number of visual tokens whatever K is.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hy_vla.models.conv_stem import ConvStem, conv_stem_channels, tap_stage
from hy_vla.models.layers import GeluMLP, attention, merge_heads, split_heads
from hy_vla.models.masks import causal_frames_mask
from hy_vla.models.spatial_softmax import KeypointToken


@dataclass
class VisionConfig:
    image_size: int = 224  # square input side after preprocessing (pixels)
    patch_size: int = 14
    width: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    temporal_every: int = 1  # memory encoder: temporal attention in every n-th block
    token_merge: int = 1  # m: merge each m x m block of patch features into one backbone token (Qwen2-VL style)
    # Patch embedding: "linear" (one strided p x p projection, as ViT) or "conv" (stride-2 3x3 convolutions,
    # models/conv_stem.py): local detectors for small targets such as Meta-World's goal markers.
    stem: str = "linear"
    # Spatial-softmax keypoints (models/spatial_softmax.py) from the conv stem's stride-`keypoint_stride` feature
    # map, fed to the backbone as one extra token per image; 0 = off. Needs stem="conv".
    keypoints: int = 0
    keypoint_stride: int = 4

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise ValueError(f"vision.image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
        if self.width % self.num_heads:
            raise ValueError(f"vision.width {self.width} is not divisible by num_heads {self.num_heads}")
        if self.depth < 1 or self.temporal_every < 1 or self.token_merge < 1:
            raise ValueError("vision.depth, vision.temporal_every and vision.token_merge must be >= 1")
        if self.stem not in ("linear", "conv"):
            raise ValueError(f"vision.stem must be 'linear' or 'conv', got {self.stem!r}")
        if self.stem == "conv":
            conv_stem_channels(self.patch_size, self.width)  # raises for a patch size the stem cannot build
        if self.keypoints < 0:
            raise ValueError(f"vision.keypoints must be >= 0, got {self.keypoints}")
        if self.keypoints:
            if self.stem != "conv":
                raise ValueError("vision.keypoints reads the conv stem's feature map: set vision.stem='conv'")
            if tap_stage(self.keypoint_stride) >= len(conv_stem_channels(self.patch_size, self.width)):
                raise ValueError(
                    f"vision.keypoint_stride {self.keypoint_stride} must not exceed patch_size {self.patch_size}"
                )
        if (self.image_size // self.patch_size) % self.token_merge:
            raise ValueError(
                f"vision: the {self.image_size // self.patch_size}-patch grid is not divisible by token_merge "
                f"{self.token_merge}"
            )

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    @property
    def num_tokens(self) -> int:
        """Backbone tokens per image after merging."""
        return self.num_patches // self.token_merge**2

    @property
    def extra_tokens(self) -> int:
        """Tokens per image after the patch tokens (the keypoint token)."""
        return 1 if self.keypoints else 0

    @property
    def token_width(self) -> int:
        """Width of one merged token (the projector's input)."""
        return self.width * self.token_merge**2


def merge_tokens(x: Tensor, merge: int) -> Tensor:
    """(N, P, D) patch features on a square grid -> (N, P / m^2, m^2 * D): each m x m block concatenated.

    Cuts the backbone's visual tokens m^2-fold while the ViT keeps its full resolution; the
    projector learns how to pool each block (as Qwen2-VL's patch merger does).
    """
    if merge == 1:
        return x
    n, p, d = x.shape
    g = int(round(p**0.5))
    x = x.view(n, g // merge, merge, g // merge, merge, d).permute(0, 1, 3, 2, 4, 5)  # (N, g/m, g/m, m, m, D)
    return x.reshape(n, (g // merge) ** 2, merge * merge * d)


class ViTBlock(nn.Module):
    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.num_heads = cfg.num_heads
        self.norm1 = nn.LayerNorm(cfg.width, eps=1e-6)
        self.qkv = nn.Linear(cfg.width, 3 * cfg.width)
        self.proj = nn.Linear(cfg.width, cfg.width)
        self.norm2 = nn.LayerNorm(cfg.width, eps=1e-6)
        self.mlp = GeluMLP(cfg.width, int(cfg.width * cfg.mlp_ratio))

    def _attend(self, x: Tensor, allowed: Tensor | None) -> Tensor:
        """Self-attention with this block's weights over the middle axis. x: (N, T, D)."""
        q, k, v = self.qkv(self.norm1(x)).chunk(3, dim=-1)
        q, k, v = (split_heads(a, self.num_heads) for a in (q, k, v))
        return self.proj(merge_heads(attention(q, k, v, allowed)))

    def forward(self, x: Tensor, temporal_mask: Tensor | None) -> Tensor:
        """x: (N, K, P, D). temporal_mask: (N, K, K) bool, or None to skip temporal mixing."""
        n, k, p, d = x.shape
        if temporal_mask is not None:
            xt = x.transpose(1, 2).reshape(n * p, k, d)  # one sequence of K frames per patch position
            mask = temporal_mask.repeat_interleave(p, dim=0)  # (N * P, K, K)
            xt = xt + self._attend(xt, mask)
            x = xt.view(n, p, k, d).transpose(1, 2)
        xs = x.reshape(n * k, p, d)
        xs = xs + self._attend(xs, None)  # spatial: bidirectional within each frame
        xs = xs + self.mlp(self.norm2(xs))
        return xs.view(n, k, p, d)


class VisionEncoder(nn.Module):
    """Images (N, K, 3, S, S) in [-1, 1] -> current-frame patch features (N, P, width)."""

    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch: nn.Module
        if cfg.stem == "conv":
            self.patch = ConvStem(cfg.patch_size, cfg.width)
        else:
            self.patch = nn.Conv2d(3, cfg.width, kernel_size=cfg.patch_size, stride=cfg.patch_size)
        self.pos = nn.Parameter(torch.zeros(1, cfg.num_patches, cfg.width))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.blocks = nn.ModuleList(ViTBlock(cfg) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.width, eps=1e-6)
        self.keypoint_token: KeypointToken | None = None
        if cfg.keypoints:
            channels = conv_stem_channels(cfg.patch_size, cfg.width)[tap_stage(cfg.keypoint_stride)]
            self.keypoint_token = KeypointToken(channels, cfg.keypoints, cfg.token_width)
        # Off: a single-frame ViT (the last frame is used). On: the memory encoder over all K frames.
        self.memory_enabled = False

    def forward(self, images: Tensor, frame_valid: Tensor | None = None) -> Tensor:
        """images: (N, K, 3, S, S); frame_valid: (N, K) bool (False = padded history frame)."""
        return self.encode(images, frame_valid)[0]

    def encode(self, images: Tensor, frame_valid: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """-> current-frame patch features (N, P, width) and, with keypoints on, the current frame's
        keypoint token (N, 1, token_width) (the projector's input width, as a merged patch token)."""
        n, k = images.shape[:2]
        if not self.memory_enabled and k > 1:
            images, k = images[:, -1:], 1
            frame_valid = None
        kp = None
        if isinstance(self.patch, ConvStem):
            tap_stride = self.cfg.keypoint_stride if self.keypoint_token is not None else None
            x, tap = self.patch(images.flatten(0, 1), tap_stride)  # (N*K, D, S/p, S/p), (N*K, c, S/s, S/s)
            if tap is not None:  # only asked for when the keypoint token exists
                kp = self.keypoint_token(tap.view(n, k, *tap.shape[1:])[:, -1])  # current frame only
        else:
            x = self.patch(images.flatten(0, 1))  # (N*K, D, S/p, S/p)
        x = x.flatten(2).transpose(1, 2) + self.pos  # (N*K, P, D)
        x = x.view(n, k, *x.shape[1:])  # (N, K, P, D)
        temporal = None
        if k > 1:
            if frame_valid is None:
                frame_valid = torch.ones(n, k, dtype=torch.bool, device=images.device)
            temporal = causal_frames_mask(k, frame_valid)  # (N, K, K)
        for i, block in enumerate(self.blocks):
            x = block(x, temporal if i % self.cfg.temporal_every == 0 else None)
        # Past frames have been mixed into the current one: drop them (constant token count).
        return self.norm(x[:, -1]), kp  # (N, P, D)
