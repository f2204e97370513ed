"""The one policy interface shared by the evaluator, the server and the async runtime.

A raw observation is a flat dict (openpi style):

- ``"observation.images.<camera>"``: ``uint8`` array ``(H, W, 3)`` (HWC, RGB);
- ``"observation.state"``: ``float32`` array ``(S,)`` in robot units;
- ``"prompt"``: the instruction (``str``).

``infer`` returns ``{"actions": float32 (horizon, action_dim)}`` in robot units
(absolute commands the environment can execute, in order). Extra keys (timings,
debug values) are allowed. ``reset`` starts a new episode (clears frame history).
Anything with these two methods can be evaluated by the harness: a checkpoint
wrapper, a scripted expert, a remote server client, or another library's policy.

Optional: ``observe(obs)``. A policy that keeps a frame history (the memory encoder sees
K past frames at a stride of control steps) needs every observation, also those of the
control steps executed from a chunk without a new query. Runners call ``observe`` with
each such observation; ``infer`` itself counts as observing its observation. A policy with
``observe`` may set ``wants_every_frame = False`` when it does not need those frames right now
(a K=1 checkpoint): runners then skip rendering the steps it is not queried on.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

PROMPT_KEY = "prompt"
ACTIONS_KEY = "actions"

# Optional observation keys asking a policy to continue a previous chunk (real-time chunking). A policy that
# supports them declares ``metadata[SUPPORTS_PREFIX] = True`` (`CheckpointPolicy`, and `hy-vla serve` through its
# metadata); policies that do not simply ignore unknown keys, which is why `AsyncRunner` checks the flag.
# - "action_prefix": float32 (P, action_dim) in robot units, the previous chunk's actions for the control steps
#   starting at this observation (index 0 = the action for the step of this observation);
# - "action_prefix_weights": float32 (P,) in [0, 1]: 1 = reproduce exactly (committed), 0 = free.
ACTION_PREFIX_KEY = "action_prefix"
ACTION_PREFIX_WEIGHTS_KEY = "action_prefix_weights"
SUPPORTS_PREFIX = "action_prefix"  # metadata flag


@runtime_checkable
class PolicyLike(Protocol):
    def infer(self, obs: dict[str, Any]) -> dict[str, Any]: ...

    def reset(self) -> None: ...


def wants_every_frame(policy: object) -> bool:
    """Whether `policy` must see the observation of every control step (through `observe`)."""
    if getattr(policy, "observe", None) is None:
        return False
    return bool(getattr(policy, "wants_every_frame", True))


def seed_noise(policy: object, seed: int | None) -> None:
    """Start `policy`'s sampling noise for this episode from `seed` (no-op for None and for policies without
    `seed_noise`). Evaluation passes the episode's seed, so an episode's actions depend on the checkpoint and the
    seed only, not on which worker ran it or what it ran before: the same evaluation gives the same numbers."""
    fn = getattr(policy, "seed_noise", None)
    if fn is not None and seed is not None:
        fn(seed)


def observe(policy: object, obs: dict[str, Any]) -> None:
    """Give `policy` an observation it is not queried on (no-op for policies without `observe`)."""
    fn = getattr(policy, "observe", None)
    if fn is not None:
        fn(obs)
