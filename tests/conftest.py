"""Shared fixtures."""

from __future__ import annotations

import os

# Headless MuJoCo rendering for every simulator test (EGL; OSMesa also works).
os.environ.setdefault("MUJOCO_GL", "egl")

import pytest  # noqa: E402
import torch  # noqa: E402
from model_fixtures import micro_config  # noqa: E402

from hy_vla.models.config import HyVLAConfig  # noqa: E402


@pytest.fixture
def cfg() -> HyVLAConfig:
    return micro_config()


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
