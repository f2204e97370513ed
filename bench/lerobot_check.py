"""Smoke check of .venv-lerobot (run by bench/setup_lerobot.sh): LeRobot 0.4.4 imports, and its DiffusionPolicy and
ACTPolicy (no pretrained weights) build and run one training forward and one action chunk on CPU.

    .venv-lerobot/bin/python bench/lerobot_check.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import lerobot_compat  # noqa: E402  (must precede any torchvision import)
import torch  # noqa: E402


def build(kind: str, cameras: tuple[str, ...] = ("top", "wrist"), size: int = 96, state_dim: int = 4,
          action_dim: int = 4) -> torch.nn.Module:  # fmt: skip
    """A LeRobot policy of `kind` ("diffusion" | "act") for `cameras` at `size` px, random weights."""
    from lerobot.configs.types import FeatureType, PolicyFeature

    inputs = {f"observation.images.{c}": PolicyFeature(FeatureType.VISUAL, (3, size, size)) for c in cameras}
    inputs["observation.state"] = PolicyFeature(FeatureType.STATE, (state_dim,))
    outputs = {"action": PolicyFeature(FeatureType.ACTION, (action_dim,))}
    if kind == "diffusion":
        from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig
        from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy

        # The U-Net size bench/vs_lerobot.py trains (the default (512, 1024, 2048) has 266M parameters).
        cfg = DiffusionConfig(input_features=inputs, output_features=outputs, device="cpu", crop_shape=(84, 84),
                              down_dims=(128, 256, 512))  # fmt: skip
        return DiffusionPolicy(cfg)
    if kind == "act":
        from lerobot.policies.act.configuration_act import ACTConfig
        from lerobot.policies.act.modeling_act import ACTPolicy

        cfg = ACTConfig(input_features=inputs, output_features=outputs, device="cpu", pretrained_backbone_weights=None)
        return ACTPolicy(cfg)
    raise ValueError(f"unknown policy kind {kind!r}; expected 'diffusion' or 'act'")


def fake_batch(policy: torch.nn.Module, batch: int = 2) -> dict[str, torch.Tensor]:
    """A training batch in LeRobot's format (normalized values; shapes from the policy config)."""
    cfg = policy.config
    n_obs = cfg.n_obs_steps
    horizon = getattr(cfg, "horizon", None) or cfg.chunk_size
    out: dict[str, torch.Tensor] = {}
    for key, ft in cfg.input_features.items():
        shape = (batch, n_obs, *ft.shape) if n_obs > 1 else (batch, *ft.shape)
        out[key] = torch.rand(shape)
    out["action"] = torch.randn(batch, horizon, cfg.output_features["action"].shape[0])
    out["action_is_pad"] = torch.zeros(batch, horizon, dtype=torch.bool)
    return out


def main() -> None:
    lerobot_compat.check_versions()
    import lerobot

    print(f"lerobot {lerobot.__version__}, torch {torch.__version__}, torchcodec usable: "
          f"{lerobot_compat.torchcodec_works()}")  # fmt: skip
    torch.manual_seed(0)
    for kind in ("diffusion", "act"):
        policy = build(kind)
        n_params = sum(p.numel() for p in policy.parameters())
        policy.train()
        loss, _ = policy.forward(fake_batch(policy))
        loss.backward()
        policy.eval()
        policy.reset()
        obs = {k: v[:1, -1] if policy.config.n_obs_steps > 1 else v[:1] for k, v in fake_batch(policy).items()
               if k.startswith("observation.")}  # fmt: skip
        t0 = time.perf_counter()
        with torch.no_grad():
            action = policy.select_action(obs)
        dt = time.perf_counter() - t0
        if not torch.isfinite(loss) or action.shape != (1, 4):
            raise RuntimeError(f"{kind}: loss {loss}, action shape {tuple(action.shape)}")
        print(f"{kind}: {n_params / 1e6:.1f}M parameters, training loss {loss.item():.3f}, "
              f"select_action {dt * 1e3:.0f} ms -> action {tuple(action.shape)}")  # fmt: skip
    print("lerobot_check: ok")


if __name__ == "__main__":
    main()
