"""`ObjectiveContext`: what a training objective (`hy_vla.training.objectives`) sees of one training pass.

The network computes its own loss (the action decoder's); auxiliary training targets live outside it and read
this context: the observation prefix, the backbone's final hidden states over it (computed once, shared with the
decoder) and an image-only encoder for frames other than the sample's own. Objectives never receive the `HyVLA`
object, so the network does not depend on what they predict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from hy_vla.models.dual_tower import Prefix

# State-dict prefix of the training objectives attached to a model (`HyVLA.objectives`): saved in the training
# state, never with the network.
OBJECTIVES_PREFIX = "objectives."


@dataclass
class ObjectiveContext:
    prefix: Prefix  # the observation prefix of the batch (images first, then the instruction)
    hidden: Tensor  # (B, Tp, D) the backbone's final hidden states over the prefix
    tokens_per_image: int  # P: tokens of one camera's block in the prefix (0 for a text-only prefix)
    num_cameras: int  # C image blocks lead the prefix (0 for a text-only prefix)
    camera_keys: tuple[str, ...]  # the batch keys of the cameras, in block order
    history_frames: int  # K frames per camera the encoder expects
    # {camera key: (B, K, 3, H, W)} (+ optional history_is_pad), B -> (B, C * P, D) hidden states of an image-only
    # prefix: image tokens never attend to the text or the state, so they equal the full prefix's image states
    encode_images: Callable[[dict[str, Any], int], Tensor]
    frames: Callable[[], Tensor]  # -> (B * C, K, 3, H, W) the batch's camera frames as the vision encoder reads them
    kv: Any = None  # the backbone's per-layer keys/values over the prefix (what the action decoder reads)
    backbone: Any = None  # the backbone that encoded the prefix (its text towers and tied LM head)
    tokenizer: Any = None  # the model's tokenizer

    def image_states(self) -> Tensor:
        """(B, C * P, D): the hidden states of the image blocks of this pass."""
        return self.hidden[:, : self.num_cameras * self.tokens_per_image]
