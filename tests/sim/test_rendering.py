"""Rendering: two environments in one process give non-blank, different frames; corner cameras are upright."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("metaworld")

from hy_vla.keys import image_key  # noqa: E402
from hy_vla.sim import registry  # noqa: E402
from hy_vla.sim.rendering import is_blank  # noqa: E402


def test_two_renderers_in_one_process_are_not_black():
    # The pitfall: with several offscreen renderers, one whose GL context is not current returns black.
    a = registry.make_env("metaworld", "drawer-open-v3", cameras=("corner2",), image_size=48)
    b = registry.make_env("metaworld", "button-press-v3", cameras=("corner2", "gripperPOV"), image_size=48)
    try:
        frames = []
        for _ in range(2):  # interleave: a, b, a, b
            oa, ob = a.reset(0), b.reset(0)
            frames += [oa[image_key("corner2")], ob[image_key("corner2")], ob[image_key("gripperPOV")]]
        for img in frames:
            assert img.shape == (48, 48, 3) and not is_blank(img)
        assert np.abs(frames[0].astype(int) - frames[1].astype(int)).mean() > 2  # two scenes, two images
        np.testing.assert_array_equal(frames[0], frames[3])  # rendering is deterministic across switches
        # and a step changes a's frame (the renderer is not returning a stale buffer)
        moved = a.step(np.array([1.0, 0.0, 0.0, 0.0])).obs[image_key("corner2")]
        for _ in range(10):
            moved = a.step(np.array([1.0, 0.0, 0.0, 0.0])).obs[image_key("corner2")]
        assert np.abs(moved.astype(int) - frames[3].astype(int)).sum() > 0
    finally:
        a.close()
        b.close()


def test_corner_cameras_are_rotated_upright():
    from hy_vla.sim.rendering import CameraRenderer

    env = registry.make_env("metaworld", "reach-v3", cameras=("corner2", "gripperPOV"), image_size=64)
    try:
        obs = env.reset(0)
        raw = CameraRenderer(env.raw_env.model, 64, 64)  # no rotation
        frames = raw.render(env.raw_env.data, ["corner2", "gripperPOV"])
        raw.close()
    finally:
        env.close()
    np.testing.assert_array_equal(obs[image_key("corner2")], frames["corner2"][::-1, ::-1])
    np.testing.assert_array_equal(obs[image_key("gripperPOV")], frames["gripperPOV"])  # already upright
    # Upright corner2: the wooden table top (reddish-brown) fills the lower half, not the upper one.
    img = obs[image_key("corner2")].astype(int)
    wood = (img[..., 0] - img[..., 2]) > 40
    assert wood[32:].mean() > 2 * wood[:32].mean()


def test_is_blank():
    assert is_blank(np.zeros((8, 8, 3), np.uint8))
    assert not is_blank(np.arange(192, dtype=np.uint8).reshape(8, 8, 3))
