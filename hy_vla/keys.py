"""Names of the fields of a batch, shared by data, model, trainer and server.

The names follow LeRobot's conventions (`observation.state`, `action`,
`action_is_pad`, `task`) so LeRobot datasets map onto batches without renaming.
"""

IMAGE_PREFIX = "observation.images."  # + camera name -> (B, K, 3, H, W)
STATE = "observation.state"  # (B, S) state, normalized, zero-padded to max_state_dim
# + name -> (B, E) float: an extra dataset column a training objective asked for (SampleConfig.extra_columns),
# normalized; never a model input
EXTRA_PREFIX = "extra."
# + image key -> (B, 3, H, W) uint8: the episode's first frame of that camera (SampleConfig.first_frame_images)
FIRST_FRAME_PREFIX = "first_frame."
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
