import dataclasses

import torch

from hy_vla.models.vision import VisionConfig, VisionEncoder


def _enc(memory: bool) -> VisionEncoder:
    enc = VisionEncoder(VisionConfig(image_size=16, patch_size=4, width=32, depth=2, num_heads=2, mlp_ratio=2.0))
    enc.memory_enabled = memory
    return enc.eval()


def test_constant_token_count_and_same_parameters():
    enc = _enc(True)
    x1 = torch.randn(3, 1, 3, 16, 16)
    x6 = torch.randn(3, 6, 3, 16, 16)
    assert enc(x1).shape == enc(x6).shape == (3, 16, 32)  # (N, P, D) whatever K is
    single = _enc(False)
    a = {k: v.shape for k, v in enc.state_dict().items()}
    b = {k: v.shape for k, v in single.state_dict().items()}
    assert a == b  # the memory encoder adds no parameter


def test_memory_uses_history_causally_and_respects_padding():
    enc = _enc(True)
    torch.manual_seed(1)
    x = torch.randn(1, 4, 3, 16, 16)
    base = enc(x)
    older = x.clone()
    older[:, 0] += 1.0
    assert not torch.allclose(enc(older), base, atol=1e-5)  # history reaches the current frame
    pad = torch.tensor([[False, True, True, True]])
    assert torch.allclose(enc(older, pad), enc(x, pad), atol=1e-6)  # a padded frame is ignored
    # memory off: only the current frame matters
    off = _enc(False)
    off.load_state_dict(enc.state_dict())
    assert torch.allclose(off(older), off(x))
    assert torch.allclose(off(x), off(x[:, -1:]))


def test_k1_with_memory_equals_single_frame_encoder():
    enc = _enc(True)
    off = _enc(False)
    off.load_state_dict(enc.state_dict())
    x = torch.randn(2, 1, 3, 16, 16)
    assert torch.allclose(enc(x), off(x))


def test_temporal_every_skips_blocks():
    cfg = VisionConfig(image_size=16, patch_size=4, width=32, depth=2, num_heads=2, mlp_ratio=2.0)
    enc = VisionEncoder(dataclasses.replace(cfg, temporal_every=2))
    enc.memory_enabled = True
    assert enc(torch.randn(1, 3, 3, 16, 16)).shape == (1, 16, 32)


def test_gradients_reach_all_vision_parameters():
    enc = _enc(True)
    enc(torch.randn(2, 3, 3, 16, 16)).square().mean().backward()
    for name, p in enc.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_merge_tokens_groups_square_blocks():
    from hy_vla.models.vision import merge_tokens

    g, d = 4, 2
    x = torch.arange(g * g * d, dtype=torch.float32).view(1, g * g, d)  # patch (r, c) -> features [2k, 2k+1]
    m = merge_tokens(x, 2)
    assert m.shape == (1, 4, 8)
    # merged token 0 = patches (0,0), (0,1), (1,0), (1,1) -> indices 0, 1, 4, 5
    assert m[0, 0].tolist() == [0.0, 1.0, 2.0, 3.0, 8.0, 9.0, 10.0, 11.0]
    assert merge_tokens(x, 1) is x


def test_model_with_token_merge_has_fewer_prefix_tokens():
    import dataclasses

    from model_fixtures import micro_batch, micro_config

    from hy_vla import HyVLA

    base = micro_config()
    cfg = dataclasses.replace(base, vision=dataclasses.replace(base.vision, image_size=32, token_merge=2))
    model = HyVLA(cfg)
    prefix = model.embed_prefix(micro_batch(cfg, with_action=False))
    assert prefix.segments[0].end == len(cfg.camera_names) * 4  # 16 patches -> 4 tokens per image
    loss, _ = model.compute_loss(micro_batch(cfg))
    loss.backward()
    assert torch.isfinite(loss)
    import pytest

    with pytest.raises(ValueError, match="token_merge"):
        dataclasses.replace(base.vision, image_size=24, patch_size=8, token_merge=2)
