"""Action decoders, chosen by `HyVLAConfig.decoder` (one interface, see `common.py`).

- "dual_tower" (default, Hy-VLA): `dual_tower.DualTowerDecoder`, a narrower expert tower
  (`hy_vla.models.action_expert`) attending to the backbone's per-layer keys/values;
- "mot_expert" (Being-H0.5): state/action tokens as a third MoT modality at full width,
  with optional Mixture-of-Flow (`config.mof`) and MPG (`config.mpg`);
- "dit" (Qwen-VLA): DiT with cross-attention to the backbone's final hidden states (`config.dit`);
- "hybrid" (HybridVLA): flow tokens and autoregressive action tokens inside the LM (`config.hybrid`).

Submodules are imported lazily: `hy_vla.models.config` imports their config dataclasses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

if TYPE_CHECKING:
    from hy_vla.models.config import HyVLAConfig

DECODERS = ("dual_tower", "mot_expert", "dit", "hybrid")


def build_decoder(config: HyVLAConfig, backbone: nn.Module) -> nn.Module:
    """The action decoder named by `config.decoder`, sized against the backbone it attaches to."""
    bb = backbone.cfg
    if config.decoder == "dual_tower":
        from hy_vla.models.decoders.dual_tower import DualTowerDecoder

        return DualTowerDecoder(
            config.expert, bb.depth, bb.num_heads, bb.head_dim, config.max_state_dim, config.max_action_dim
        )
    if config.decoder == "mot_expert":
        from hy_vla.models.decoders.mot_expert import MoTActionExpert

        return MoTActionExpert(
            config.expert,
            bb.depth,
            bb.num_heads,
            bb.head_dim,
            bb.width,
            config.max_state_dim,
            config.max_action_dim,
            config.mof,
            config.mpg,
            config.embodiment,
        )
    if config.decoder == "dit":
        from hy_vla.models.decoders.dit import DiTDecoder

        return DiTDecoder(config.dit, bb.width, config.max_state_dim, config.max_action_dim)
    if config.decoder == "hybrid":
        from hy_vla.models.decoders.hybrid import HybridDecoder

        return HybridDecoder(
            config.hybrid, backbone, config.horizon, config.action_dim, config.max_state_dim, config.max_action_dim
        )
    raise ValueError(f"unknown decoder {config.decoder!r}; expected one of {DECODERS}")
