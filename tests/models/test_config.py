"""HyVLAConfig serialization: only the chosen decoder's settings travel in config.json."""

from __future__ import annotations

from hy_vla.models.config import HyVLAConfig


def test_only_the_chosen_decoders_settings_are_serialized():
    from hy_vla.presets import PRESETS, model_config
    from hy_vla.training.config import TrainConfig
    from hy_vla.training.run_config import apply_overrides

    for name in PRESETS:
        cfg = model_config(name)
        d = cfg.to_dict()
        assert HyVLAConfig.from_dict(d) == cfg, name
        sections = {"mot_expert": {"mof", "mpg"}, "dit": {"dit"}, "hybrid": {"hybrid"}}.get(cfg.decoder, set())
        assert {"dit", "mof", "mpg", "hybrid"} & set(d) == sections, name
    # switching the decoder and setting its options in one go still works
    model, _, _ = apply_overrides(
        model_config("hy-vla-tiny"), TrainConfig(), {"model.decoder": "dit", "model.dit.depth": "3"}
    )
    assert model.decoder == "dit" and model.dit.depth == 3 and "dit" in model.to_dict()
