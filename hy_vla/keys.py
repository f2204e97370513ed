"""Names of the fields of a batch, shared by data, model, trainer and server.

The names follow LeRobot's conventions (`observation.state`, `action`,
`action_is_pad`, `task`) so LeRobot datasets map onto batches without renaming.
"""

IMAGE_PREFIX = "observation.images."  # + camera name -> (B, K, 3, H, W)
STATE = "observation.state"  # (B, S) state, normalized, zero-padded to max_state_dim
# (B, E) simulator-only object/goal positions, normalized: a training-time auxiliary target (never a model input)
ENV_STATE = "observation.environment_state"
# (B, C * 4) simulator-only: each camera's object and goal (x, y) in its image, in [-1, 1] (x right, y down; the
# spatial-softmax keypoint convention), OUT_OF_VIEW where not visible: a training-time target, never an input
ENV_PIXELS = "observation.environment_pixels"
OUT_OF_VIEW = 2.0
# + camera name -> (B, 3, H, W) uint8: the episode's FIRST frame, the input the env state is predicted from when
# the target is the first frame's (hy_vla.models.env_state_head)
ENV_STATE_IMAGE_PREFIX = "env_state.images."
ENV_STATE_FIRST = "env_state.first"  # (B, E) the episode's first-frame env state (env_state frame "both")
# Which frame the env-state target is taken from (models/env_state_head.py explains each)
ENV_STATE_FRAMES = ("current", "first", "both")
STATE_DIM_MASK = "observation.state_dim_mask"  # (B, max_state_dim) bool, True = channel used
HISTORY_IS_PAD = "observation.history_is_pad"  # (B, K) bool, True = padded history frame
TASK = "task"  # list[str] of length B: the instruction
ACTION = "action"  # (B, H, A) normalized action chunk (training target)
ACTION_IS_PAD = "action_is_pad"  # (B, H) bool, True = step past the episode end
ACTION_DIM_MASK = "action_dim_mask"  # (B, max_action_dim) bool, True = channel used
EMBODIMENT = "embodiment"  # list[str] of length B: embodiment registry name


def image_key(camera: str) -> str:
    """Batch key of a camera's frames."""
    return IMAGE_PREFIX + camera


ACTION_PREFIX_LEN = "action_prefix_len"  # (B,) int: first d actions are given clean and not trained (UAC)
TEXT_TARGET = "text_target"  # list[str] of length B: text the backbone learns to emit (VL co-training)
TEXT_ONLY = "text_only"  # bool: no images, the prefix is the instruction alone (text-to-action pretraining)
