import pytest
import torch

from hy_vla.models.conv_stem import ConvStem, conv_stem_channels
from hy_vla.models.vision import VisionConfig, VisionEncoder


def test_channels_double_up_to_width():
    assert conv_stem_channels(16, 96) == [12, 24, 48, 96]
    assert conv_stem_channels(8, 96) == [24, 48, 96]
    assert conv_stem_channels(2, 32) == [32]


@pytest.mark.parametrize("patch", [0, 1, 6, 14])
def test_rejects_patch_sizes_it_cannot_build(patch):
    with pytest.raises(ValueError, match="power-of-two"):
        conv_stem_channels(patch, 32)
    if patch > 0:  # the config check fires before any module is built
        with pytest.raises(ValueError, match="power-of-two"):
            VisionConfig(image_size=patch * 4, patch_size=patch, width=32, depth=1, num_heads=2, stem="conv")


def test_unknown_stem_is_refused():
    with pytest.raises(ValueError, match="vision.stem"):
        VisionConfig(image_size=16, patch_size=4, width=32, depth=1, num_heads=2, stem="resnet")


def test_same_grid_as_the_linear_patch_embedding():
    x = torch.randn(2, 3, 32, 32)
    assert ConvStem(8, 40)(x)[0].shape == torch.nn.Conv2d(3, 40, 8, stride=8)(x).shape == (2, 40, 4, 4)


def test_shifting_the_image_by_one_patch_shifts_the_grid_by_one_cell():
    # Translation equivariance is what the linear patch map lacks between patches and what lets
    # a small marker be read wherever it lies: a dot moved by one patch moves its features one cell.
    torch.manual_seed(0)
    stem = ConvStem(8, 16).eval()
    img = torch.zeros(1, 3, 128, 128)
    img[:, :, 59:61, 51:53] = 1.0  # a 2 px dot far from the borders (zero padding breaks equivariance there)
    moved = torch.roll(img, shifts=8, dims=3)
    a, b = stem(img)[0], stem(moved)[0]  # (1, 16, 16, 16)
    window = a[..., 5:10, 4:9]  # the cells around the dot
    assert torch.allclose(window, b[..., 5:10, 5:10], atol=1e-5)
    assert not torch.allclose(window, b[..., 5:10, 4:9], atol=1e-3)


def test_encoder_with_conv_stem_keeps_token_count_and_trains():
    cfg = VisionConfig(image_size=16, patch_size=4, width=32, depth=2, num_heads=2, mlp_ratio=2.0, stem="conv")
    enc = VisionEncoder(cfg)
    enc.memory_enabled = True
    out = enc(torch.randn(2, 3, 3, 16, 16))
    assert out.shape == (2, 16, 32)
    out.square().mean().backward()
    for name, p in enc.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
