"""Short-cycle batch sampler: grid order, batch sizes, determinism, ranks, lengths."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shared import K400_MG

from replication.config import load_config
from replication.data.loader import train_batch_sizes, train_grids
from replication.data.sampler import ClipRequest, ShortCycleBatchSampler
from replication.schedule import build_schedule
from replication.schedule import iterations_per_epoch as full_batches


def run_epoch(sampler: ShortCycleBatchSampler, epoch: int) -> list[list[ClipRequest]]:
    sampler.set_epoch(epoch)
    return list(sampler)


def test_batches_follow_the_schedule_in_every_phase():
    s = build_schedule(load_config(K400_MG))
    for phase in s.long_cycle:
        if phase.end_epoch == phase.start_epoch:
            continue
        plan = s.epochs[phase.start_epoch]
        sizes = train_batch_sizes(plan)
        sampler = ShortCycleBatchSampler(5000, sizes, seed=0)
        batches = run_epoch(sampler, plan.epoch)
        assert len(batches) == len(sampler) == full_batches(5000, sizes)
        for step, batch in enumerate(batches):
            grid = step % len(sizes)  # reference order: 0, 1, 2, 0, 1, 2, ...
            assert len(batch) == sizes[grid] and {r.grid for r in batch} == {grid}
    # K400 phase 1 at 8 GPUs: 128@112, 64@158, 64@158 per process; the grids carry the crops.
    first = s.epochs[0]
    assert train_batch_sizes(first) == [128, 64, 64]
    assert [g.crop_size for g in train_grids(first, 2, 320)] == [112, 158, 158]
    assert [(g.min_rate, g.max_rate) for g in train_grids(first, 2, 320)] == [(2, 8)] * 3


def test_every_clip_at_most_once_and_drop_last():
    sampler = ShortCycleBatchSampler(100, [12, 6, 3], seed=1)
    batches = run_epoch(sampler, 0)
    seen = [r.index for b in batches for r in b]
    assert len(seen) == len(set(seen)) == 12 + 6 + 3 + 12 + 6 + 3 + 12 + 6 + 3 + 12 + 6 + 3 + 12
    assert 100 - len(seen) < 6  # the partial batch of 6 was dropped


def test_deterministic_from_seed_and_epoch():
    a = run_epoch(ShortCycleBatchSampler(200, [8, 4, 2], seed=3), 5)
    b = run_epoch(ShortCycleBatchSampler(200, [8, 4, 2], seed=3), 5)
    c = run_epoch(ShortCycleBatchSampler(200, [8, 4, 2], seed=3), 6)
    d = run_epoch(ShortCycleBatchSampler(200, [8, 4, 2], seed=4), 5)
    assert a == b
    assert a != c and a != d


@pytest.mark.parametrize("world", [2, 3, 8])
def test_ranks_agree_on_grids_and_counts(world):
    n, sizes = 1001, [16, 8, 4]
    per_rank = [run_epoch(ShortCycleBatchSampler(n, sizes, seed=0, rank=r, world_size=world), 2)
                for r in range(world)]  # fmt: skip
    counts = {len(b) for b in per_rank}
    assert len(counts) == 1  # every rank runs the same number of iterations
    for step in range(counts.pop()):
        assert len({rank[step][0].grid for rank in per_rank}) == 1  # same grid at same step
        assert len({len(rank[step]) for rank in per_rank}) == 1
    shards = [{r.index for b in rank for r in b} for rank in per_rank]
    assert all(not (a & b) for i, a in enumerate(shards) for b in shards[i + 1 :])


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.integers(1, 500), st.lists(st.integers(1, 40), min_size=1, max_size=4))
def test_len_is_what_iteration_yields(n, sizes):
    sampler = ShortCycleBatchSampler(n, sizes, seed=0)
    batches = run_epoch(sampler, 0)
    assert len(batches) == len(sampler)
    assert [len(b) for b in batches] == [sizes[i % len(sizes)] for i in range(len(batches))]


def test_rejects_empty_batches():
    with pytest.raises(ValueError, match="positive"):
        ShortCycleBatchSampler(10, [4, 0])


def test_resume_mid_epoch_yields_the_remaining_batches():
    full = run_epoch(ShortCycleBatchSampler(300, [8, 4, 2], seed=2), 3)
    sampler = ShortCycleBatchSampler(300, [8, 4, 2], seed=2)
    sampler.set_epoch(3, start_batch=7)
    assert list(sampler) == full[7:]
