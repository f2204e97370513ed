"""A checkpoint written before the config consolidation (tests/fixtures/checkpoint_v0: env-state head,
keypoint-target and flow-draw settings in config.json, every decoder's settings) still loads and predicts the
same actions it predicted when it was written."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from hy_vla import HyVLA

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "checkpoint_v0"


def test_old_checkpoint_loads_and_predicts_what_it_predicted() -> None:
    model = HyVLA.from_pretrained(FIXTURE).eval()
    saved = load_file(str(FIXTURE / "expected.safetensors"))
    expected = saved.pop("expected_actions")
    batch = {**saved, "task": json.loads((FIXTURE / "expected.json").read_text())["task"]}
    with torch.no_grad():
        got = model.sample_actions(batch, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
