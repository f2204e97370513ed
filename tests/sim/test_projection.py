"""Pinhole projection of world points into MuJoCo camera images (a test helper: tests/sim/projection_helpers.py)."""

from __future__ import annotations

import numpy as np
from sim.projection_helpers import project_points

# A camera at (0, 0, 1) looking straight down (-z of the camera = world -z): right = +x, up = +y.
DOWN = np.eye(3)


def test_center_edges_and_rotation():
    pts = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, -0.25, 0.0]])
    # fovy 90 degrees at distance 1: the image spans +-1 in x and y
    xy, visible = project_points(pts, np.array([0.0, 0.0, 1.0]), DOWN, 90.0, 64, 64)
    np.testing.assert_allclose(xy, [[0, 0], [1, 0], [0, -1], [0.5, 0.25]], atol=1e-6)  # world +y is up: row -1
    assert visible.all()
    flipped, _ = project_points(pts, np.array([0.0, 0.0, 1.0]), DOWN, 90.0, 64, 64, rotate_180=True)
    np.testing.assert_allclose(flipped, -xy, atol=1e-6)


def test_aspect_depth_and_visibility():
    # a wide image (W = 2H) covers twice the horizontal extent
    xy, _ = project_points(np.array([[1.0, 0.0, 0.0]]), np.array([0.0, 0.0, 1.0]), DOWN, 90.0, 32, 64)
    np.testing.assert_allclose(xy, [[0.5, 0.0]], atol=1e-6)
    # twice as far: half the offset; behind the camera or outside the frame: not visible
    pts = np.array([[0.5, 0.0, -1.0], [0.0, 0.0, 2.0], [3.0, 0.0, 0.0]])
    xy, visible = project_points(pts, np.array([0.0, 0.0, 1.0]), DOWN.reshape(-1), 90.0, 64, 64)
    np.testing.assert_allclose(xy[0], [0.25, 0.0], atol=1e-6)
    assert visible.tolist() == [True, False, False]
