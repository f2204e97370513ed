import torch

from hy_vla.training.augment import random_shift


def test_shift_moves_content_consistently_across_frames_and_cameras():
    img = torch.zeros(4, 2, 3, 8, 8, dtype=torch.uint8)
    img[:, :, :, 3, 3] = 255  # one bright pixel
    cam2 = img.clone()
    g = torch.Generator().manual_seed(0)
    a, b = random_shift([img, cam2], pad=2, generator=g)
    assert a.shape == img.shape and a.dtype == torch.uint8
    for i in range(4):
        pos = (a[i, 0, 0] == 255).nonzero().tolist()
        assert pos == (a[i, 1, 0] == 255).nonzero().tolist() == (b[i, 0, 0] == 255).nonzero().tolist()
        ((y, x),) = pos
        assert abs(y - 3) <= 2 and abs(x - 3) <= 2
    moved = [(a[i, 0, 0] == 255).nonzero().tolist() for i in range(4)]
    assert any(m != [[3, 3]] for m in moved)  # at least one sample actually moved


def test_zero_pad_is_identity():
    x = torch.rand(2, 1, 3, 5, 5)
    assert random_shift([x], 0)[0] is x
