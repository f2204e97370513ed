"""Fixtures of the serving tests: a tiny saved checkpoint and running servers on free ports."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from serving_fixtures import API_KEY, FrameCounter, save_tiny_checkpoint, start_server  # noqa: E402

from hy_vla.serving.server import PolicyServer, ServerConfig  # noqa: E402


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("serving") / "ckpt")


@pytest.fixture(scope="module")
def server(tiny_checkpoint: Path) -> Iterator[PolicyServer]:
    s = start_server(tiny_checkpoint, max_message_mb=0.05)
    yield s
    s.stop_thread()


@pytest.fixture(scope="module")
def auth_server(tiny_checkpoint: Path) -> Iterator[PolicyServer]:
    s = start_server(tiny_checkpoint, api_key=API_KEY)
    yield s
    s.stop_thread()


@pytest.fixture(scope="module")
def stub_server() -> Iterator[PolicyServer]:
    """A server around `FrameCounter` (instant inference) with a 0.05 MiB message limit."""
    s = PolicyServer(FrameCounter, ServerConfig(port=0, max_message_mb=0.05))
    s.start_in_thread()
    yield s
    s.stop_thread()
