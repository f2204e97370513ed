import itertools

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
