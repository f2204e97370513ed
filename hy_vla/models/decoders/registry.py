"""`build_decoder`: the action decoder named by `HyVLAConfig.decoder`."""

from __future__ import annotations

from torch import nn

from hy_vla.models.config import HyVLAConfig
from hy_vla.models.decoders import DECODERS
from hy_vla.models.decoders.dit import DiTDecoder
from hy_vla.models.decoders.dual_tower import DualTowerDecoder
from hy_vla.models.decoders.hybrid import HybridDecoder
from hy_vla.models.decoders.mot_expert import MoTActionExpert


def build_decoder(config: HyVLAConfig, backbone: nn.Module) -> nn.Module:
    """The action decoder named by `config.decoder`, sized against the backbone it attaches to."""
    bb = backbone.cfg
    if config.decoder == "dual_tower":
        return DualTowerDecoder(
            config.expert, bb.depth, bb.num_heads, bb.head_dim, config.max_state_dim, config.max_action_dim
        )
    if config.decoder == "mot_expert":
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
        return DiTDecoder(config.dit, bb.width, config.max_state_dim, config.max_action_dim)
    if config.decoder == "hybrid":
        return HybridDecoder(
            config.hybrid, backbone, config.horizon, config.action_dim, config.max_state_dim, config.max_action_dim
        )
    raise ValueError(f"unknown decoder {config.decoder!r}; expected one of {DECODERS}")
