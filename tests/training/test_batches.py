import itertools

import numpy as np
import pytest
import torch

from hy_vla.training.batches import DataPosition, ListDataset, ResumableBatches, epoch_permutation


def _ids(n: int) -> ListDataset:
    return ListDataset([{"i": i, "x": torch.tensor([float(i)])} for i in range(n)])


def test_order_is_a_function_of_seed_and_epoch() -> None:
    assert torch.equal(epoch_permutation(20, 3, 1), epoch_permutation(20, 3, 1))
    assert not torch.equal(epoch_permutation(20, 3, 0), epoch_permutation(20, 3, 1))
    assert not torch.equal(epoch_permutation(20, 3, 0), epoch_permutation(20, 4, 0))


def test_resume_from_position_continues_the_same_stream() -> None:
    full = ResumableBatches(_ids(10), 3, seed=7)  # 3 batches per epoch, 1 sample dropped
    stream = [b["i"].tolist() for b in itertools.islice(iter(full), 8)]
    first = ResumableBatches(_ids(10), 3, seed=7)
    it = iter(first)
    head = [next(it)["i"].tolist() for _ in range(4)]
    assert first.position == DataPosition(epoch=1, index=1)
    again = ResumableBatches(_ids(10), 3, seed=7, position=first.position)
    tail = [b["i"].tolist() for b in itertools.islice(iter(again), 4)]
    assert head + tail == stream
    assert len(set(sum(stream[:3], []))) == 9


def test_workers_give_the_same_batches() -> None:
    a = [b["i"].tolist() for b in itertools.islice(iter(ResumableBatches(_ids(8), 2, seed=1)), 6)]
    b = [b["i"].tolist() for b in itertools.islice(iter(ResumableBatches(_ids(8), 2, seed=1, num_workers=1)), 6)]
    assert a == b


def test_balanced_order_draws_every_group_equally_often() -> None:
    """balance_tasks: a task with 10x fewer frames is drawn as often as the long one, and the order is still a
    pure function of (seed, epoch) so a resumed run reads the same stream."""
    from hy_vla.training.batches import group_balance_weights

    groups = np.array(["reach"] * 100 + ["door"] * 1000)
    w = group_balance_weights(groups)
    order = epoch_permutation(1100, 3, 0, w)
    share = (order < 100).float().mean().item()  # samples 0..99 are the short task's
    assert 0.45 < share < 0.55
    assert torch.equal(order, epoch_permutation(1100, 3, 0, w))
    assert not torch.equal(order, epoch_permutation(1100, 3, 1, w))
    assert (epoch_permutation(1100, 3, 0) < 100).float().mean().item() < 0.1  # uniform over frames
    with pytest.raises(ValueError, match="shape"):
        epoch_permutation(10, 0, 0, w)


def test_trainer_balances_tasks_only_when_asked(tmp_path) -> None:
    from hy_vla.training.config import TrainConfig
    from hy_vla.training.trainer import Trainer

    class Tasks(ListDataset):
        def sample_tasks(self) -> np.ndarray:
            return np.array(["a"] * 3 + ["b"] * (len(self) - 3))

    data = Tasks([{"i": i} for i in range(12)])
    off = Trainer(torch.nn.Linear(1, 1), TrainConfig(out_dir=str(tmp_path)), data)
    assert off._sampling_weights() is None
    on = Trainer(torch.nn.Linear(1, 1), TrainConfig(out_dir=str(tmp_path), balance_tasks=True), data)
    torch.testing.assert_close(on._sampling_weights(), torch.tensor([1 / 3] * 3 + [1 / 9] * 9, dtype=torch.float64))
    plain = Trainer(torch.nn.Linear(1, 1), TrainConfig(out_dir=str(tmp_path), balance_tasks=True), ListDataset([]))
    with pytest.raises(ValueError, match="names each sample's task"):
        plain._sampling_weights()
