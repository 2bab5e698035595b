"""The collectives of a multi-process training, on a real 2-process gloo group (CPU, seconds)."""

from __future__ import annotations

import traceback

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from replication.engine.evaluate import evaluate
from replication.engine.network import Network, Step, same_grid_on_every_rank

WORLD = 2


def _worker(rank: int, init_file: str, results: dict) -> None:
    """Runs in each spawned process; reports what it saw (or its traceback) through ``results``."""
    try:
        dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
        seen: dict = {}
        # Same grid everywhere: every rank gets everyone's [grid, T, S, clips].
        seen["same"] = same_grid_on_every_rank(Step(0.0, 2, (4, 32), 1, 0.0), WORLD)
        # Rank 1 on another grid: both ranks raise (neither waits for the other).
        try:
            same_grid_on_every_rank(Step(0.0, 2, (4, 32 if rank == 0 else 16), rank, 0.0), WORLD)
        except RuntimeError as err:
            seen["mismatch"] = str(err)
        # Evaluation shards: rank 0 has both views of video 0, rank 1 one view of video 1 and an
        # invalid item; the metrics cover both videos on both ranks.
        logits = {0: [[[4.0, 0.0]], [[3.0, 0.0]]], 1: [[[0.0, 5.0]]]}[rank]
        batches = [
            {
                "video": torch.tensor(x),
                "index": torch.tensor([rank]),
                "valid": torch.tensor([True]),
                "label": torch.tensor([rank]),
            }
            for x in logits
        ]
        if rank == 1:
            batches.append({**batches[0], "valid": torch.tensor([False])})
        seen["metrics"] = evaluate(lambda video: video, batches, multi_label=False)
        # BN statistics: rank 0's reach every rank before evaluation.
        model = nn.BatchNorm3d(2)
        model.running_mean.fill_(float(rank))
        net = Network(model, None, torch.device("cpu"), None, False, False, False)  # type: ignore[arg-type]
        net.broadcast_buffers()
        seen["running_mean"] = model.running_mean.tolist()
        dist.destroy_process_group()
        results[rank] = seen
    except BaseException:
        results[rank] = {"error": traceback.format_exc()}


@pytest.fixture(scope="module")
def seen(tmp_path_factory) -> dict:
    init_file = tmp_path_factory.mktemp("dist") / "init"
    with mp.Manager() as manager:
        results = manager.dict()
        # fork: the children need no second torch import (CPU only, no CUDA state to inherit)
        mp.start_processes(
            _worker, args=(str(init_file), results), nprocs=WORLD, start_method="fork"
        )
        out = dict(results)
    for rank in range(WORLD):
        assert "error" not in out[rank], out[rank]["error"]
    return out


def test_every_rank_gets_every_ranks_grid(seen):
    assert seen[0]["same"] == seen[1]["same"] == [[1, 4, 32, 2], [1, 4, 32, 2]]


def test_ranks_on_different_grids_fail_together(seen):
    for rank in range(WORLD):
        assert "ranks train on different grids" in seen[rank]["mismatch"]
        assert "[[0, 4, 32, 2], [1, 4, 16, 2]]" in seen[rank]["mismatch"]


def test_evaluation_gathers_every_ranks_videos(seen):
    assert seen[0]["metrics"] == seen[1]["metrics"]
    assert seen[0]["metrics"] == {"top1": 100.0, "top5": 100.0, "videos": 2, "invalid": 1}


def test_rank_0_buffers_reach_every_rank(seen):
    assert seen[1]["running_mean"] == seen[0]["running_mean"] == [0.0, 0.0]
