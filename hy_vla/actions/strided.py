"""Executing strided chunks: a model that predicts one action every `stride` control steps must still send one
command per control period. Two ways to fill the steps between two predictions:

- ``hold``: repeat each prediction for `stride` steps (a staircase);
- ``interp``: move linearly from prediction h to prediction h + 1 over the `stride` steps (the last one is held).

Both are applied in the model's action space, before the representation decodes to robot units. That is exact for
the representations here: every action of a chunk is decoded on its own against the chunk's start state
(`hy_vla.actions.delta_chunk`: targets relative to the current pose; rot6d blends decode through Gram-Schmidt to a
valid rotation), and normalization is affine per channel, so blending commutes with it. Control step ``h * stride``
carries prediction h exactly in both modes, so real-time chunking's prefix mapping (`CheckpointPolicy.model_prefix`)
holds for either.

Open-loop replays of the ALOHA experts' own commands (bench/RESULTS.md, "Action stride") solve 1/20 transfer-cube
and 0/20 insertion episodes at stride 3 held, 6/20 and 15/20 interpolated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI reads STRIDE_MODES for --help without importing torch
    from torch import Tensor

STRIDE_MODES = ("hold", "interp")


def expand_strided(actions: Tensor, stride: int, mode: str = "hold") -> Tensor:
    """(..., H, A) predictions one every `stride` control steps -> (..., H * stride, A), one per control step."""
    if mode not in STRIDE_MODES:
        raise ValueError(f"stride mode must be one of {STRIDE_MODES}, got {mode!r}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if stride == 1:
        return actions
    import torch

    held = actions.repeat_interleave(stride, dim=-2)  # (..., H * stride, A)
    if mode == "hold" or actions.shape[-2] < 2:
        return held
    h = actions.shape[-2]
    w = (torch.arange(h * stride, device=actions.device) % stride).to(actions.dtype) / stride  # (H * stride,)
    nxt = torch.cat([actions[..., 1:, :], actions[..., -1:, :]], dim=-2).repeat_interleave(stride, dim=-2)
    return held + w.unsqueeze(-1) * (nxt - held)  # the last prediction's block blends into itself: held
