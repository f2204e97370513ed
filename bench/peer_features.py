"""Which dataset features a LeRobot peer policy may read (LeRobot-free, so the main test suite covers it).

`dataset_to_policy_features` also types `observation.environment_state` (ENV), which our Meta-World datasets
record as a training-time target for hy-vla's auxiliary head. LeRobot's ACT and Diffusion would take an ENV
feature as a policy INPUT, i.e. read the simulator's object and goal positions: the peers get cameras and the
robot state only, exactly what hy-vla's policy sees. LeRobot types every other `observation.*` column as STATE,
so any other recorded column (e.g. the object/goal image positions older datasets carry as
`observation.environment_pixels`) would pass as "state": the only state a peer reads is `observation.state`.
"""

from __future__ import annotations

from typing import Any

PEER_STATE_KEY = "observation.state"  # the robot's own state: the one STATE feature a peer may read


def split_policy_features(features: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """LeRobot PolicyFeatures by key -> (inputs: cameras + robot state, outputs: actions); the rest dropped."""
    inputs = {
        k: f for k, f in features.items() if f.type.name == "VISUAL" or (f.type.name == "STATE" and k == PEER_STATE_KEY)
    }
    outputs = {k: f for k, f in features.items() if f.type.name == "ACTION"}
    return inputs, outputs
