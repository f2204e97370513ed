"""Privileged observation keys: simulator state that only scripted experts may read.

A scripted Meta-World expert needs object and goal positions that a learned
policy must never see. Adapters put such values in the raw observation under
keys starting with `PRIVILEGED_PREFIX`; the evaluator and the collector strip
them before calling any policy that does not declare ``metadata["privileged"]``
(only our scripted experts do), so a remote client or a checkpoint policy
cannot receive them by accident. Datasets store only the compact `ENV_STATE_OBS`
vector, as the column `ENV_STATE_COLUMN`: a training-time target
(`hy_vla.training.objectives.env_state`), never a policy input.
"""

from __future__ import annotations

from typing import Any

PRIVILEGED_PREFIX = "_privileged."
SIM_STATE = PRIVILEGED_PREFIX + "obs"  # the simulator's full observation vector
ENV_STATE_COLUMN = "observation.environment_state"  # LeRobot's dataset column for simulator state
ENV_STATE_OBS = PRIVILEGED_PREFIX + "env_state"  # (E,) the adapter's `env_state_names` vector (object/goal xyz)


def strip_privileged(obs: dict[str, Any]) -> dict[str, Any]:
    """A shallow copy of `obs` without privileged keys."""
    return {k: v for k, v in obs.items() if not k.startswith(PRIVILEGED_PREFIX)}


def wants_privileged(policy: object) -> bool:
    """True only for policies that declare they read privileged state (scripted experts)."""
    metadata = getattr(policy, "metadata", None)
    return isinstance(metadata, dict) and bool(metadata.get("privileged", False))


def policy_view(policy: object, obs: dict[str, Any]) -> dict[str, Any]:
    """The observation `policy` is allowed to see."""
    return obs if wants_privileged(policy) else strip_privileged(obs)
