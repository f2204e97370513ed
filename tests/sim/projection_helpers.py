"""Where a 3-D point lands in a MuJoCo camera's image: pinhole projection, pure NumPy.

MuJoCo cameras look along their local -z axis with +y up (the columns of `data.cam_xmat` are the
camera's right, up and backward axes in world coordinates) and `model.cam_fovy` is the vertical
field of view in degrees. Coordinates are returned normalized the way spatial-softmax keypoints are
(`models/spatial_softmax.py`): x along the columns, y down the rows, both in [-1, 1] from the left/top
image edge to the right/bottom one, for images stored top row first (as our renderer returns them).
"""

from __future__ import annotations

import numpy as np


def project_points(
    points: np.ndarray,
    cam_pos: np.ndarray,
    cam_mat: np.ndarray,
    fovy_deg: float,
    height: int,
    width: int,
    rotate_180: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) world points -> ((N, 2) normalized image (x, y), (N,) bool: in front of the camera and in view).

    cam_pos: (3,) camera position; cam_mat: (3, 3) or (9,) camera orientation (MuJoCo's `cam_xmat`).
    rotate_180: the image is stored rotated by 180 degrees (Meta-World's corner cameras in our renderer).
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    rot = np.asarray(cam_mat, dtype=np.float64).reshape(3, 3)
    local = (pts - np.asarray(cam_pos, dtype=np.float64).reshape(1, 3)) @ rot  # (N, 3): right, up, backward
    depth = -local[:, 2]  # distance along the viewing direction
    in_front = depth > 1e-9
    safe = np.where(in_front, depth, 1.0)
    tan_half = np.tan(np.deg2rad(fovy_deg) / 2.0)
    x = local[:, 0] / safe / (tan_half * width / height)  # the horizontal extent follows the aspect ratio
    y = -local[:, 1] / safe / tan_half  # image rows grow downwards
    xy = np.stack([x, y], axis=-1)
    if rotate_180:
        xy = -xy
    visible = in_front & (np.abs(xy) <= 1.0 + 1e-9).all(axis=-1)  # the image edges count as inside
    return xy.astype(np.float32), visible
