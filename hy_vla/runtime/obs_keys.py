"""Optional observation keys that ask a policy to continue a previous chunk (real-time chunking).

A policy that supports them declares ``metadata["action_prefix"] = True``
(`hy_vla.runtime.guided_policy.GuidedCheckpointPolicy`, and `hy-vla serve` through its metadata).
Policies that do not simply ignore unknown keys, which is why `AsyncRunner` checks the flag before
relying on guidance.

- ``"action_prefix"``: float32 ``(P, action_dim)`` in robot units, the previous chunk's actions for the
  control steps starting at this observation (index 0 = the action for the step of this observation);
- ``"action_prefix_weights"``: float32 ``(P,)`` in [0, 1]: 1 = reproduce exactly (committed), 0 = free.

Torch-free on purpose: the client side (robot computer) imports it.
"""

from __future__ import annotations

ACTION_PREFIX_KEY = "action_prefix"
ACTION_PREFIX_WEIGHTS_KEY = "action_prefix_weights"
SUPPORTS_PREFIX = "action_prefix"  # metadata flag
