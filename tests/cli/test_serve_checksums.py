"""`hy-vla serve` refuses a checkpoint whose files differ from its checksums.json (bit rot)."""

import torch
from model_fixtures import micro_config

from hy_vla import HyVLA
from hy_vla.cli.main import main
from hy_vla.training.batches import DataPosition
from hy_vla.training.checkpointing import save_checkpoint


def test_a_flipped_byte_in_the_weights_is_refused_before_serving(tmp_path, capsys):
    model = HyVLA(micro_config())
    ckpt = save_checkpoint(tmp_path, 1, model, torch.optim.SGD(model.parameters(), lr=0.1), DataPosition())
    weights = ckpt / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit inside a tensor: the file still parses and loads
    weights.write_bytes(bytes(data))
    HyVLA.from_pretrained(ckpt)  # loading alone does not notice
    assert main(["serve", "--checkpoint", str(ckpt), "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "SHA-256 differs" in err and str(weights) in err
