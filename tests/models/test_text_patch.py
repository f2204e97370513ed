import pytest
import torch
from model_fixtures import micro_batch, micro_config

from hy_vla.models.hy_vla import HyVLA
from hy_vla.models.text_patch import TextPatcher, patch_count


def test_patches_shorten_the_text_and_keep_validity() -> None:
    patcher = TextPatcher(4, 8)
    emb = torch.randn(2, 10, 8)
    valid = torch.zeros(2, 10, dtype=torch.bool)
    valid[0, :10], valid[1, :5] = True, True
    out, out_valid = patcher(emb, valid)
    assert out.shape == (2, patch_count(10, 4), 8) == (2, 3, 8)
    assert out_valid.tolist() == [[True, True, True], [True, True, False]]  # bytes 4-7 hold byte 4: valid


def test_a_patch_does_not_depend_on_padding_or_other_bytes() -> None:
    patcher = TextPatcher(3, 6)
    emb = torch.randn(1, 5, 6)
    short, _ = patcher(emb, torch.ones(1, 5, dtype=torch.bool))
    padded_emb = torch.cat([emb, torch.randn(1, 4, 6)], dim=1)  # 4 pad positions holding garbage embeddings
    padded, valid = patcher(padded_emb, torch.tensor([[True] * 5 + [False] * 4]))
    torch.testing.assert_close(padded[:, :2], short)
    assert valid.tolist() == [[True, True, False]]
    changed = emb.clone()
    changed[0, 4] += 1.0  # byte 4 lives in patch 1 only
    out, _ = patcher(changed, torch.ones(1, 5, dtype=torch.bool))
    torch.testing.assert_close(out[:, 0], short[:, 0])
    assert not torch.allclose(out[:, 1], short[:, 1])


def test_model_with_text_patches_has_a_shorter_prefix_and_trains() -> None:
    torch.manual_seed(0)
    plain, patched = HyVLA(micro_config()), HyVLA(micro_config(text_patch=4))
    batch = micro_batch(plain.config)
    n_text = len("task number 0") + 2  # BOS + bytes + EOS
    assert plain.embed_prefix(batch).x.shape[1] - patched.embed_prefix(batch).x.shape[1] == n_text - patch_count(
        n_text, 4
    )
    loss, _ = patched.compute_loss(batch)
    loss.backward()
    assert patched.text_patcher.proj.weight.grad.abs().sum() > 0
    # the instruction still conditions the actions
    patched.eval()
    a = patched.sample_actions({**batch, "task": ["open the drawer"] * 2}, generator=torch.Generator().manual_seed(1))
    b = patched.sample_actions({**batch, "task": ["close the door"] * 2}, generator=torch.Generator().manual_seed(1))
    assert not torch.allclose(a, b)


def test_text_patch_is_validated_and_saved(tmp_path) -> None:
    with pytest.raises(ValueError, match="text_patch must be >= 1"):
        micro_config(text_patch=0)
    with pytest.raises(ValueError, match="merges >= 2"):
        TextPatcher(1, 8)
    model = HyVLA(micro_config(text_patch=2))
    loaded = HyVLA.from_pretrained(_save(model, tmp_path))
    assert loaded.config.text_patch == 2
    torch.testing.assert_close(loaded.text_patcher.proj.weight, model.text_patcher.proj.weight)


def _save(model: HyVLA, tmp_path) -> str:
    model.save_pretrained(tmp_path / "ckpt")
    return str(tmp_path / "ckpt")
