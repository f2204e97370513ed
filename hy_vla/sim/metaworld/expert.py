"""Meta-World's scripted experts (``metaworld.policies.ENV_POLICY_MAP``) as `PolicyLike`.

The experts read object and goal positions from the full 39-D simulator
observation. The adapter publishes it under the privileged key `SIM_STATE`;
this policy declares ``metadata["privileged"] = True`` so the evaluator and the
collector pass it through (they strip it for every other policy).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from hy_vla.policy.protocol import ACTIONS_KEY
from hy_vla.sim.metaworld.env import ACTION_DIM, STATE_DIM
from hy_vla.sim.privileged import SIM_STATE


class MetaWorldExpert:
    """Scripted expert for one task; returns a one-step chunk ``(1, 4)`` per call."""

    def __init__(self, task: str) -> None:
        from metaworld.policies import ENV_POLICY_MAP

        if task not in ENV_POLICY_MAP:
            from hy_vla.sim.registry import check_task

            check_task("metaworld", task)
            raise ValueError(f"Meta-World ships no scripted expert for {task!r}")
        self.task = task
        self._policy = ENV_POLICY_MAP[task]()
        # No cameras: the expert is blind; the harness may run its env without rendering.
        self.metadata: dict[str, Any] = {
            "name": f"metaworld-expert/{task}",
            "privileged": True,
            "cameras": [],
            "state_dim": STATE_DIM,
            "action_dim": ACTION_DIM,
        }

    def infer(self, obs: dict[str, Any]) -> dict[str, Any]:
        if SIM_STATE not in obs:
            raise KeyError(
                f"the Meta-World expert needs the privileged simulator state {SIM_STATE!r}; "
                "build the env with privileged=True and do not strip it for this policy"
            )
        with warnings.catch_warnings():
            # Some experts use proportional gains > 1; Meta-World warns on every call, and clips anyway.
            warnings.filterwarnings("ignore", message="Constant\\(s\\) may be too high")
            action = self._policy.get_action(np.asarray(obs[SIM_STATE], dtype=np.float64))
        return {ACTIONS_KEY: np.asarray(action, dtype=np.float32).reshape(1, ACTION_DIM)}  # (H=1, A=4)

    def reset(self) -> None:
        """The experts are stateless functions of the observation."""
