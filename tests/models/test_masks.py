import torch

from hy_vla.models.masks import block_attention_mask, causal_frames_mask


def test_block_rule_image_text_and_padding():
    # tokens: image A (2 tokens, block 0), image B (1 token, block 1), text x3 (blocks 2,3,4), last text is padding
    ids = torch.tensor([[0, 0, 1, 2, 3, 4]])
    bidir = torch.tensor([[True, True, True, False, False, False]])
    valid = torch.tensor([[True, True, True, True, True, False]])
    m = block_attention_mask(ids, bidir, valid)[0]
    assert m[0, 1] and m[1, 0]  # within an image: bidirectional
    assert not m[0, 2]  # an image does not see a later image
    assert m[2, 0]  # a later image sees an earlier one
    assert m[3, :3].all() and m[3, 3] and not m[3, 4]  # text: sees images and itself, not the future
    assert m[4, 3] and not m[4, 5]  # padding keys are never visible
    assert not m[:, 5].any()


def test_causal_frames_mask():
    valid = torch.tensor([[False, True, True]])
    m = causal_frames_mask(3, valid)[0]
    assert m.tolist() == [[False, False, False], [False, True, False], [False, True, True]]
