import dataclasses

import pytest
import torch
from model_fixtures import micro_batch, micro_config

from hy_vla import HyVLA
from hy_vla.models.spatial_softmax import KeypointToken, cell_centers, spatial_soft_argmax
from hy_vla.models.vision import VisionConfig
from hy_vla.training.config import TrainConfig
from hy_vla.training.objectives import AuxLossConfig, attach_objectives


def test_cell_centres_span_the_image_symmetrically():
    assert torch.allclose(cell_centers(4), torch.tensor([-0.75, -0.25, 0.25, 0.75]))


def test_soft_argmax_of_a_peak_is_its_cell_and_of_a_flat_map_the_centre():
    logits = torch.zeros(1, 2, 4, 8)
    logits[0, 0, 1, 6] = 50.0  # row 1 of 4, column 6 of 8
    kp = spatial_soft_argmax(logits)
    assert torch.allclose(kp[0, 0], torch.tensor([cell_centers(8)[6], cell_centers(4)[1]]), atol=1e-4)
    assert torch.allclose(kp[0, 1], torch.zeros(2), atol=1e-6)  # uniform -> the image centre
    # a softer temperature pulls the peak toward the centre
    assert kp[0, 0, 0] > spatial_soft_argmax(logits, temperature=30.0)[0, 0, 0] > 0


def _dot_images(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 3, 16, 16) grey images with one red 1 px dot, and the dot's (x, y) in [-1, 1]."""
    img = torch.full((n, 3, 16, 16), 0.5)
    rc = torch.randint(0, 16, (n, 2), generator=g)
    img[torch.arange(n), 0, rc[:, 0], rc[:, 1]] = 1.0
    img[torch.arange(n), 1:, rc[:, 0], rc[:, 1]] = 0.0
    return img, cell_centers(16)[rc.flip(1)]


def test_keypoint_token_learns_to_locate_a_small_marker():
    # What the token exists for: reading where a 1 px marker is, anywhere in the image.
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    head = KeypointToken(3, keypoints=2, out_dim=16)
    readout = torch.nn.Linear(16, 2)
    opt = torch.optim.Adam([*head.parameters(), *readout.parameters()], lr=3e-2)
    for _ in range(300):
        img, xy = _dot_images(64, g)
        loss = (readout(head(img)[:, 0]) - xy).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    img, xy = _dot_images(256, g)
    with torch.no_grad():
        err = (readout(head(img)[:, 0]) - xy).abs().mean()
    assert err < 0.1  # a 16-cell image: 0.125 per cell; guessing the centre errs ~0.5


def test_config_needs_the_conv_stem_and_a_stride_below_the_patch():
    with pytest.raises(ValueError, match="stem='conv'"):
        VisionConfig(image_size=16, patch_size=8, width=32, depth=1, num_heads=2, keypoints=4)
    with pytest.raises(ValueError, match="keypoint_stride"):
        VisionConfig(image_size=16, patch_size=8, width=32, depth=1, num_heads=2, stem="conv", keypoints=4,
                     keypoint_stride=16)  # fmt: skip


def _kp_config(**changes):
    base = micro_config(**changes)
    vision = dataclasses.replace(base.vision, stem="conv", keypoints=4, keypoint_stride=2)
    return dataclasses.replace(base, vision=vision)


def test_model_gets_one_keypoint_token_per_image_and_trains_it():
    cfg = _kp_config()
    model = HyVLA(cfg)
    prefix = model.embed_prefix(micro_batch(cfg, with_action=False))
    per_image = cfg.vision.num_tokens + 1
    assert prefix.segments[0].end == len(cfg.camera_names) * per_image
    loss, _ = model.compute_loss(micro_batch(cfg))
    loss.backward()
    for name, p in model.vision.keypoint_token.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_aux_losses_skip_the_keypoint_token():
    bb = micro_config().backbone
    cfg = _kp_config(backbone=dataclasses.replace(bb, num_latent_tokens=2))
    model = attach_objectives(HyVLA(cfg), TrainConfig(aux=AuxLossConfig(latent_align_weight=1.0)))
    batch = micro_batch(cfg)
    n_cam, p = len(cfg.camera_names), cfg.vision.num_tokens
    per_image = p + 1 + 2
    hidden = torch.randn(2, n_cam * per_image + 8, cfg.backbone.width)
    for c in range(n_cam):
        hidden[:, c * per_image + p] = float("nan")  # the keypoint token must not be read as a latent
    from hy_vla.models import inputs

    images, _ = inputs.images(batch, cfg, 2, torch.float32)
    out = model.objectives["hy_embodied"].losses(hidden, images)
    assert torch.isfinite(out["latent_align_loss"])


def test_native_vit_options_are_refused_with_a_pretrained_vision_tower():
    from hy_vla.models.hf_backbone import HFBackboneConfig

    vision = VisionConfig(image_size=32, patch_size=8, width=32, depth=1, num_heads=2, stem="conv", keypoints=4)
    with pytest.raises(ValueError, match="native ViT"):
        micro_config(history_frames=1, vision=vision, hf_backbone=HFBackboneConfig(family="qwen2_5_vl", path="x"))
