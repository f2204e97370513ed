"""Shared fixtures."""

from __future__ import annotations

import pytest
import torch
from model_fixtures import micro_config

from hy_vla.models.config import HyVLAConfig


@pytest.fixture
def cfg() -> HyVLAConfig:
    return micro_config()


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
