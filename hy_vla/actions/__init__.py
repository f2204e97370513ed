"""Action math: rotations, delta-chunk actions, and the action representation config."""

from hy_vla.actions.delta_chunk import decode_delta_chunk, encode_delta_chunk, future_indices
from hy_vla.actions.representation import ActionRepresentation
from hy_vla.actions.rotations import ROTATION_DIMS, ROTATION_FORMATS, convert_rotation, from_matrix, to_matrix

__all__ = [
    "ROTATION_DIMS",
    "ROTATION_FORMATS",
    "ActionRepresentation",
    "convert_rotation",
    "decode_delta_chunk",
    "encode_delta_chunk",
    "from_matrix",
    "future_indices",
    "to_matrix",
]
