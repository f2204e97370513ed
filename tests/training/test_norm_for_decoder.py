"""The action normalization a decoder needs is the one a run uses (HybridVLA's AR bins need [-1, 1])."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
from model_fixtures import micro_config

from hy_vla.models.action_tokenizer import UniformActionTokenizer
from hy_vla.training.config import TrainConfig
from hy_vla.training.run_config import RunConfig, action_norm_mode, resolve_norm_stats, sample_config_for


class _Builder:
    """The part of SampleBuilder that resolve_norm_stats reads: actions spread well beyond one std."""

    embodiment = "metaworld_sawyer"
    source = SimpleNamespace(num_episodes=4)
    lowdim_keys = ["observation.state", "action"]

    def iter_norm_batches(self, progress: bool = False):
        rng = np.random.default_rng(0)
        for _ in range(4):
            yield {"observation.state": rng.normal(size=(50, 4)), "action": rng.uniform(-1, 1, size=(50, 4))}


def _run(tmp_path, decoder: str) -> RunConfig:
    model = micro_config(decoder=decoder, embodiment="metaworld_sawyer", state_dim=4, action_dim=4)
    return RunConfig(model=model, data=sample_config_for(model), train=TrainConfig(), dataset=str(tmp_path / "none"))


def test_hybrid_runs_normalize_actions_into_the_bins(tmp_path):
    assert action_norm_mode(micro_config(decoder="hybrid")) == "quantile"
    assert action_norm_mode(micro_config()) is None
    stats = resolve_norm_stats(_run(tmp_path, "hybrid"), _Builder(), tmp_path / "h", progress=False)
    assert stats.get("action", "metaworld_sawyer").mode == "quantile"
    assert stats.get("observation.state", "metaworld_sawyer").mode == "mean_std"
    # the recorded actions land inside the tokenizer's range: binning loses about the half-bin rounding
    actions = torch.from_numpy(np.concatenate([b["action"] for b in _Builder().iter_norm_batches()])).float()
    tok = UniformActionTokenizer(num_bins=256, offset=0)

    def round_trip_error(s) -> torch.Tensor:
        normed = s.normalize("action", actions, "metaworld_sawyer")
        return (tok.decode(tok.encode(normed)) - normed).abs()

    assert float(round_trip_error(stats).max()) < 0.1  # only the 2% beyond q01 / q99, slightly
    # other decoders keep the dataset default (mean_std), where |x| > 1 is common and clipped by the bins
    other = resolve_norm_stats(_run(tmp_path, "dual_tower"), _Builder(), tmp_path / "d", progress=False)
    assert other.get("action", "metaworld_sawyer").mode == "mean_std"
    assert float(round_trip_error(other).max()) > 0.5
