"""Fine-tuning from a checkpoint onto another embodiment (`--init`): what carries over, what is refused."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from training.training_helpers import write_tiny_dataset

from hy_vla.cli.main import main
from hy_vla.models.config import HyVLAConfig
from hy_vla.models.hy_vla import HyVLA
from hy_vla.training.finetune import architecture_changes, camera_embedding, load_for_finetuning

SMALL = ["--set", "model.vision.image_size=16", "--set", "model.history_frames=1", "--set", "model.horizon=4",
         "--set", "model.max_state_dim=6", "--set", "model.max_action_dim=4", "--batch-size", "2"]  # fmt: skip


def test_camera_embeddings_by_name_then_position_then_zero() -> None:
    old = torch.tensor([[1.0, 1.0], [2.0, 2.0]])
    assert camera_embedding(old, ("a", "b"), ("b", "a")).tolist() == [[2, 2], [1, 1]]  # by name
    assert camera_embedding(old, ("a", "b"), ("x", "b", "y")).tolist() == [[1, 1], [2, 2], [0, 0]]  # position, zero
    assert camera_embedding(old, ("a", "b"), ("x", "a")).tolist() == [[0, 0], [1, 1]]  # "a" keeps its own vector


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):  # noqa: ANN201
    """hy-vla-tiny trained one step on a 1-camera, 3-d state, 2-d action robot, max widths 6 / 4."""
    root = tmp_path_factory.mktemp("ft")
    data = write_tiny_dataset(root / "toy", episodes=2, length=8, size=16)
    out = root / "toy_run"
    assert main(["train", "--preset", "hy-vla-tiny", "--dataset", str(data), "--out", str(out), "--steps", "1",
                 *SMALL]) == 0  # fmt: skip
    return out / "checkpoints" / "1"


def test_finetune_onto_another_embodiment(tmp_path, checkpoint) -> None:
    other = write_tiny_dataset(tmp_path / "other", episodes=2, length=8, size=16, state_dim=5, action_dim=4,
                               cameras=("front", "top"), embodiment="other_arm")  # fmt: skip
    out = tmp_path / "ft"
    # Both cameras (by default a run keeps the checkpoint's cameras when the dataset has them all: here "top")
    argv = ["train", "--init", str(checkpoint), "--dataset", str(other), "--out", str(out), "--steps", "2",
            "--batch-size", "2", "--set", 'model.camera_names=["front","top"]']  # fmt: skip
    assert main(argv) == 0
    model = json.loads((out / "train_config.json").read_text())["model"]
    assert model["camera_names"] == ["front", "top"] and model["embodiment"] == "other_arm"
    assert (model["state_dim"], model["action_dim"]) == (5, 4)
    assert (model["max_state_dim"], model["max_action_dim"]) == (6, 4)  # the checkpoint's layer widths

    # What the fine-tuning run starts from: every shared weight is the checkpoint's; "top" keeps its camera
    # vector (it moved from position 0 to 1), the new "front" starts at zero.
    start = load_for_finetuning(checkpoint, HyVLAConfig.from_dict(model)).state_dict()
    saved = load_file(checkpoint / "model.safetensors")
    assert all(torch.equal(start[k], v) for k, v in saved.items() if k != "camera_embed")
    assert torch.equal(start["camera_embed"][1], saved["camera_embed"][0])
    assert not start["camera_embed"][0].any()

    tuned = HyVLA.from_pretrained(out / "checkpoints" / "2").eval()
    batch = {f"observation.images.{c}": torch.zeros(1, 1, 3, 16, 16, dtype=torch.uint8) for c in ("front", "top")}
    batch |= {"observation.state": torch.zeros(1, 5), "task": ["pick the cube"]}
    assert torch.isfinite(tuned.forward_evaluate(batch)["pred"][..., :4]).all()
    assert tuned.norm_stats.get("action", "other_arm").mean.shape[-1] == 4  # the new robot's stats


def test_finetune_refuses_what_cannot_carry_over(tmp_path, checkpoint, capsys) -> None:
    wide = write_tiny_dataset(tmp_path / "wide", episodes=1, length=8, size=16, state_dim=7, embodiment="wide_arm")
    argv = ["train", "--init", str(checkpoint), "--dataset", str(wide), "--out", str(tmp_path / "w")]
    assert main(argv) == 2
    assert "max_state_dim=6" in capsys.readouterr().err  # 7 channels do not fit the checkpoint's state layer

    bigger = HyVLAConfig.from_pretrained(checkpoint)
    bigger = bigger.replace(vision=bigger.vision.__class__(**{**bigger.vision.__dict__, "image_size": 32}))
    with pytest.raises(ValueError, match=r"vision\.pos.*vision\.image_size: 16 -> 32"):
        load_for_finetuning(checkpoint, bigger)
    assert architecture_changes(HyVLAConfig.from_pretrained(checkpoint), bigger) == ["vision.image_size: 16 -> 32"]


def test_finetune_through_the_unified_slot_space(tmp_path, capsys) -> None:
    """Sawyer -> Franka: eef position and gripper keep their channels (slots 0-2 and 25) across the two robots."""
    sawyer = write_tiny_dataset(tmp_path / "sawyer", episodes=2, length=8, size=16, state_dim=4, action_dim=4,
                                embodiment="metaworld_sawyer")  # fmt: skip
    unified = ["--set", "model.slot_layout=unified", "--set", "model.max_state_dim=32", "--set",
               "model.max_action_dim=28"]  # fmt: skip
    base = SMALL[: SMALL.index("--set", 6)] + ["--batch-size", "2", *unified]  # image size, K, H; unified widths
    assert main(["train", "--preset", "hy-vla-tiny", "--dataset", str(sawyer), "--out", str(tmp_path / "s"),
                 "--steps", "1", *base]) == 0  # fmt: skip
    ckpt = tmp_path / "s" / "checkpoints" / "1"
    franka = write_tiny_dataset(tmp_path / "franka", episodes=2, length=8, size=16, state_dim=8, action_dim=7,
                                embodiment="libero_franka_eef")  # fmt: skip
    out = tmp_path / "f"
    assert main(["train", "--init", str(ckpt), "--dataset", str(franka), "--out", str(out), "--steps", "1",
                 "--batch-size", "2"]) == 0  # fmt: skip
    model = json.loads((out / "train_config.json").read_text())["model"]
    assert model["slot_layout"] == "unified" and model["embodiment"] == "libero_franka_eef"
    tuned = HyVLA.from_pretrained(out / "checkpoints" / "1").eval()
    batch = {"observation.images.top": torch.zeros(1, 1, 3, 16, 16), "observation.state": torch.zeros(1, 8),
             "task": ["open the drawer"]}  # fmt: skip
    pred = tuned.forward_evaluate(batch)["pred"]
    assert pred[..., 7:].abs().sum() == 0 and torch.isfinite(pred).all()  # the Franka's 7 channels, first

    aloha = write_tiny_dataset(tmp_path / "aloha", episodes=1, length=8, size=16, state_dim=14, action_dim=14,
                               embodiment="aloha_bimanual")  # fmt: skip
    assert main(["train", "--init", str(ckpt), "--dataset", str(aloha), "--out", str(tmp_path / "a")]) == 2
    assert "must be at least" in capsys.readouterr().err  # its arms' slots lie past the checkpoint's 32 channels


def test_lora_from_a_checkpoint_trains_only_adapters_and_exports_a_plain_checkpoint(tmp_path, checkpoint) -> None:
    """`--init CKPT --set model.lora.rank=8`: fresh adapters on the loaded weights (strict loading once refused the
    new adapter tensors as missing); only they and the expert train; `hy-vla export` folds them back in."""
    data = write_tiny_dataset(tmp_path / "toy", episodes=2, length=8, size=16)
    out = tmp_path / "lora"
    argv = ["train", "--init", str(checkpoint), "--dataset", str(data), "--out", str(out), "--steps", "2",
            "--batch-size", "2", "--set", "model.lora.rank=8", "--set", "lr=0.05"]  # fmt: skip
    assert main(argv) == 0
    saved = load_file(checkpoint / "model.safetensors")
    tuned_dir = out / "checkpoints" / "2"
    tuned = load_file(tuned_dir / "model.safetensors")
    adapters = [k for k in tuned if ".lora_" in k]
    assert adapters and all(k.startswith("backbone.layers.") for k in adapters)
    for name, value in saved.items():  # frozen: the backbone's and vision weights are the checkpoint's
        if not name.startswith("expert.") and name in tuned:
            assert torch.equal(tuned[name], value), name
    assert any(not torch.equal(tuned[k], v) for k, v in saved.items() if k.startswith("expert."))
    assert any(tuned[k].abs().sum() > 0 for k in adapters if k.endswith("lora_B"))  # the adapters trained

    start = load_for_finetuning(checkpoint, HyVLAConfig.from_pretrained(tuned_dir))
    assert all(n.split(".")[-1].startswith("lora_") or n.startswith("expert.")
               for n, p in start.named_parameters() if p.requires_grad)  # fmt: skip

    plain_dir = tmp_path / "plain"
    assert main(["export", str(tuned_dir), str(plain_dir)]) == 0
    plain = load_file(plain_dir / "model.safetensors")
    assert not any(".lora_" in k for k in plain) and HyVLAConfig.from_pretrained(plain_dir).lora.rank == 0
    a, b = HyVLA.from_pretrained(tuned_dir).eval(), HyVLA.from_pretrained(plain_dir).eval()
    batch = {"observation.images.top": torch.rand(2, 1, 3, 16, 16), "observation.state": torch.randn(2, 3),
             "task": ["pick the cube", "open it"]}  # fmt: skip
    noise = torch.randn(2, a.config.horizon, a.config.max_action_dim)
    assert torch.allclose(a.sample_actions(batch, noise=noise), b.sample_actions(batch, noise=noise), atol=1e-5)
    assert main(["export", str(plain_dir), str(tmp_path / "again")]) == 2  # nothing to merge: one clear error
