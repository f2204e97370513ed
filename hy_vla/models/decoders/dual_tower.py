"""The dual-tower decoder (Hy-VLA, pi0 style): `ActionExpert` behind the one decoder interface.

The expert's layers attend to the backbone's keys/values of the same layer (`dual_tower.expert_forward`), so
the prefix is encoded once and every Euler step runs the expert alone. It is the one decoder that also has the
uncached reference path (joint attention over [prefix, suffix] in every layer, `dual_tower.joint_forward`),
which the equivalence tests compare the cached path against.
"""

from __future__ import annotations

from torch import Tensor

from hy_vla.models.action_expert import ActionExpert
from hy_vla.models.decoders.common import DecoderContext, FlowDecoder
from hy_vla.models.dual_tower import expert_forward, joint_forward


class DualTowerDecoder(ActionExpert, FlowDecoder):
    supports_uncached = True

    def velocity(
        self, ctx: DecoderContext, state: Tensor, state_mask: Tensor, x: Tensor, t: Tensor, clean: Tensor | None
    ) -> Tensor:
        suffix = self.embed(state, state_mask, x, t)  # (B, 1 + H, w)
        if ctx.kv is None:  # the uncached reference: the backbone runs again, jointly with the expert
            return self.head(joint_forward(ctx.backbone, self, ctx.prefix, suffix)[1]).float()
        return self.head(expert_forward(ctx.backbone, self, ctx.prefix, ctx.kv, suffix)).float()
