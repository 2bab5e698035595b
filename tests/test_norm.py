from __future__ import annotations

import multiprocessing
import multiprocessing.queues
import traceback

import pytest
import torch
import torch.distributed as dist
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from replication.model import (
    SubBatchNorm3d,
    aggregate_sub_bn_stats,
    load_normal_state_dict,
    normal_state_dict,
    precise_bn,
    set_bn_mode,
)
from replication.schedule import BNMode

C = 3
DIMS = (0, 2, 3, 4)  # every axis but the channel one of (N, C, T, H, W)


def clips(n: int, seed: int, c: int = C, shift: float = 0.0) -> torch.Tensor:
    """(n, c, 2, 3, 3) clips whose channels have distinct means and scales."""
    g = torch.Generator().manual_seed(seed)
    scale = torch.arange(1, c + 1, dtype=torch.float32).view(1, c, 1, 1, 1)
    return torch.randn(n, c, 2, 3, 3, generator=g) * scale + scale + shift


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(C, 4, 1)
        self.bn1 = nn.BatchNorm3d(4)
        self.block = nn.Sequential(nn.ReLU(), nn.Conv3d(4, 4, 1), nn.BatchNorm3d(4))
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block(self.bn1(self.conv1(x)))
        return self.head(x.mean(dim=(2, 3, 4)))


def net(seed: int = 0) -> Net:
    torch.manual_seed(seed)
    model = Net()
    with torch.no_grad():  # non-trivial affine parameters, so losing them would show
        for m in model.modules():
            if isinstance(m, nn.BatchNorm3d):
                m.weight.uniform_(0.5, 2.0)
                m.bias.uniform_(-1.0, 1.0)
    return model


def bn_layers(model: nn.Module) -> list[nn.Module]:
    return [model.bn1, model.block[2]]


def plain_stats(m: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(m, SubBatchNorm3d):
        m.aggregate_stats()
        return m.bn.running_mean.clone(), m.bn.running_var.clone()
    return m.running_mean.clone(), m.running_var.clone()


def train_steps(
    model: nn.Module, opt: torch.optim.Optimizer, n: int, steps: int, seed: int
) -> None:
    model.train()
    for i in range(steps):
        loss = model(clips(n, seed + i, shift=2.0)).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


# --------------------------------------------------------------------------- SubBatchNorm3d


@pytest.mark.parametrize("k", [1, 2, 4])
def test_training_forward_is_one_bn_per_group_of_clips_n_mod_k(k: int) -> None:
    sub = SubBatchNorm3d(C, k)
    with torch.no_grad():
        sub.weight.copy_(torch.tensor([0.5, 1.5, 2.0]))
        sub.bias.copy_(torch.tensor([-1.0, 0.0, 3.0]))
    x = clips(8, seed=k)
    y = sub(x)
    expected = torch.empty_like(x)
    for j in range(k):  # group j holds clips j, j+k, j+2k, ...
        ref = nn.BatchNorm3d(C)
        ref.load_state_dict({"weight": sub.weight, "bias": sub.bias}, strict=False)
        expected[j::k] = ref(x[j::k])
        torch.testing.assert_close(sub.split_bn.running_mean.view(k, C)[j], ref.running_mean)
        torch.testing.assert_close(sub.split_bn.running_var.view(k, C)[j], ref.running_var)
    torch.testing.assert_close(y, expected, atol=1e-5, rtol=0)
    if k > 1:  # contiguous blocks of N/k clips are NOT the groups
        blocks = torch.cat([nn.BatchNorm3d(C, affine=False)(b) for b in x.chunk(k)])
        blocks = blocks * sub.weight.view(1, C, 1, 1, 1) + sub.bias.view(1, C, 1, 1, 1)
        assert not torch.allclose(y, blocks, atol=1e-3)


def test_batch_not_divisible_by_splits_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"N=6.*k=4"):
        SubBatchNorm3d(C, 4)(clips(6, seed=0))


def test_aggregation_is_the_law_of_total_variance_of_the_split_stats() -> None:
    k = 4
    sub = SubBatchNorm3d(C, k, momentum=0.1)
    refs = [nn.BatchNorm3d(C, momentum=0.1, affine=False) for _ in range(k)]
    for step in range(5):
        x = clips(8, seed=10 + step)
        x[1::k] += 3.0  # group 1 sits apart, so the between-group term matters
        sub(x)
        for j, ref in enumerate(refs):
            ref(x[j::k])
    assert sub.stats_stale
    sub.aggregate_stats()
    assert not sub.stats_stale
    means = torch.stack([r.running_mean for r in refs])
    variances = torch.stack([r.running_var for r in refs])
    mean = means.mean(0)
    torch.testing.assert_close(sub.bn.running_mean, mean)
    torch.testing.assert_close(
        sub.bn.running_var, variances.mean(0) + (means - mean).square().mean(0)
    )
    assert int(sub.bn.num_batches_tracked) == 5
    assert aggregate_sub_bn_stats(nn.Sequential(sub, nn.ReLU(), SubBatchNorm3d(C, 2))) == 2


@settings(max_examples=25, deadline=None)
@given(
    k=st.sampled_from([1, 2, 4]),
    per_group=st.integers(1, 3),
    seed=st.integers(0, 2**16),
    spread=st.floats(0.0, 5.0),
)
def test_aggregated_stats_of_one_batch_match_the_whole_batch(
    k: int, per_group: int, seed: int, spread: float
) -> None:
    sub = SubBatchNorm3d(C, k, momentum=None)  # cumulative average: one batch gives its stats
    x = clips(k * per_group, seed)
    x += spread * torch.arange(k * per_group).remainder(k).view(-1, 1, 1, 1, 1)  # group offsets
    sub(x)
    sub.aggregate_stats()
    torch.testing.assert_close(sub.bn.running_mean, x.mean(DIMS), atol=1e-4, rtol=1e-5)
    # Split variances are Bessel-corrected over n values each, so the aggregate overshoots the
    # biased whole-batch variance by at most a factor 1 + 1/(n - 1).
    n = per_group * x[0, 0].numel()
    biased = x.var(DIMS, unbiased=False)
    assert torch.all(sub.bn.running_var >= biased * (1 - 1e-5))
    assert torch.all(sub.bn.running_var <= biased * (1 + 1 / (n - 1)) + 1e-5)


def test_eval_uses_aggregated_stats_even_without_an_explicit_call() -> None:
    sub = SubBatchNorm3d(C, 2, momentum=None)
    for step in range(4):
        sub(clips(8, seed=step, shift=5.0))
    # The eval BN has not moved from its initial (0, 1): using it as is would be degenerate.
    assert sub.stats_stale
    torch.testing.assert_close(sub.bn.running_mean, torch.zeros(C))
    sub.eval()
    x = clips(64, seed=99, shift=5.0)
    y = sub(x)
    assert not sub.stats_stale
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y.mean(DIMS), torch.zeros(C), atol=0.15, rtol=0)
    torch.testing.assert_close(y.std(DIMS), torch.ones(C), atol=0.15, rtol=0)
    explicit = SubBatchNorm3d(C, 2, momentum=None)
    explicit.load_state_dict(sub.state_dict())
    torch.testing.assert_close(explicit.eval()(x), y)


def test_state_dict_of_a_stale_module_is_aggregated_first() -> None:
    sub = SubBatchNorm3d(C, 2)
    sub(clips(4, seed=0, shift=5.0))
    state = sub.state_dict()
    assert not sub.stats_stale
    assert state["bn.running_mean"].min() > 0.1  # moved towards the data's positive means


# --------------------------------------------------------------------------- set_bn_mode


def test_mode_round_trips_keep_parameters_and_statistics_and_training_continues() -> None:
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    train_steps(model, opt, n=8, steps=2, seed=0)
    params = [(m.weight, m.bias) for m in bn_layers(model)]
    x = clips(4, seed=123)
    for mode, splits in [("sub", 4), ("batch", 1), ("sub", 2)]:
        stats = [plain_stats(m) for m in bn_layers(model)]
        before = model.eval()(x)
        set_bn_mode(model, BNMode(mode, splits=splits), world_size=1)
        kind = SubBatchNorm3d if mode == "sub" else nn.BatchNorm3d
        for m, (w, b), (mean, var) in zip(bn_layers(model), params, stats, strict=True):
            assert type(m) is kind
            assert m.weight is w and m.bias is b  # the optimizer's Parameters, not copies
            assert m.training is False  # the mode of the replaced module is kept
            torch.testing.assert_close(plain_stats(m), (mean, var))
            if mode == "sub":
                assert m.num_splits == splits
                torch.testing.assert_close(m.split_bn.running_mean, mean.repeat(splits))
        torch.testing.assert_close(model(x), before, atol=1e-5, rtol=1e-5)
        frozen = [p.detach().clone() for pair in params for p in pair]
        train_steps(model, opt, n=8, steps=1, seed=50)
        moved = [p.detach() for pair in params for p in pair]
        assert all(not torch.equal(a, b) for a, b in zip(frozen, moved, strict=True))
    assert isinstance(model.bn1, SubBatchNorm3d) and model.bn1.split_bn.num_batches_tracked == 5
    with pytest.raises(ValueError, match=r"N=5.*k=2"):
        model.train()(clips(5, seed=0))


def test_sync_on_one_process_is_plain_batch_norm() -> None:
    model = net()
    set_bn_mode(model, BNMode("sub", splits=2), world_size=1)
    model.train()(clips(4, seed=1))
    stats = [plain_stats(m) for m in bn_layers(model)]
    set_bn_mode(model, BNMode("sync", sync_devices=4), world_size=1)
    assert not any(isinstance(m, nn.SyncBatchNorm | SubBatchNorm3d) for m in model.modules())
    assert all(type(m) is nn.BatchNorm3d for m in bn_layers(model))
    for m, (mean, var) in zip(bn_layers(model), stats, strict=True):
        torch.testing.assert_close((m.running_mean, m.running_var), (mean, var))


def test_multi_process_sync_needs_an_initialised_group() -> None:
    with pytest.raises(ValueError, match="world_size=2"):
        set_bn_mode(net(), BNMode("sync", sync_devices=2), world_size=2)


def _sync_worker(
    rank: int, world: int, store: str, out: multiprocessing.queues.SimpleQueue
) -> None:
    try:
        dist.init_process_group("gloo", f"file://{store}", rank=rank, world_size=world)
        model = nn.Sequential(nn.Conv3d(C, 4, 1), nn.BatchNorm3d(4))
        weight = model[1].weight
        set_bn_mode(model, BNMode("sync", sync_devices=2), world_size=world)
        sub_ranks = dist.get_process_group_ranks(model[1].process_group)
        kept = model[1].weight is weight
        set_bn_mode(model, BNMode("sync", sync_devices=8), world_size=world)  # capped at 4
        out.put((rank, type(model[1]).__name__, sub_ranks, kept, model[1].process_group is None))
        dist.barrier()  # nobody tears the group down while another rank still uses it
        dist.destroy_process_group()
    except Exception:
        out.put((rank, traceback.format_exc()))
        raise


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")
def test_sync_pools_consecutive_rank_groups_capped_at_the_world_size(tmp_path) -> None:
    # Forked (cheap) CPU processes: only the module swap is checked, SyncBatchNorm needs GPUs to run.
    ctx = multiprocessing.get_context("fork")
    out = ctx.SimpleQueue()
    store = str(tmp_path / "store")
    procs = [ctx.Process(target=_sync_worker, args=(r, 4, store, out)) for r in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        if p.exitcode is None:
            p.kill()
    results = []
    while not out.empty():
        results.append(out.get())
    assert [p.exitcode for p in procs] == [0, 0, 0, 0], results
    assert sorted(results) == [
        (0, "SyncBatchNorm", [0, 1], True, True),
        (1, "SyncBatchNorm", [0, 1], True, True),
        (2, "SyncBatchNorm", [2, 3], True, True),
        (3, "SyncBatchNorm", [2, 3], True, True),
    ]


# --------------------------------------------------------------------------- checkpoints


def test_normal_state_dict_loads_into_any_mode_with_identical_eval_outputs(tmp_path) -> None:
    model = net()
    set_bn_mode(model, BNMode("sub", splits=4), world_size=1)
    train_steps(model, torch.optim.SGD(model.parameters(), lr=0.1), n=8, steps=3, seed=7)
    state = normal_state_dict(model)
    assert not any("split_bn" in key or ".bn." in key for key in state)
    assert set(state) == set(net().state_dict())
    torch.save(state, tmp_path / "ckpt.pt")
    state = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    x = clips(5, seed=321)
    expected = model.eval()(x)
    for mode, splits in [("batch", 1), ("sub", 2), ("sub", 4)]:
        other = net(seed=1)  # different weights, so loading has to overwrite them all
        set_bn_mode(other, BNMode(mode, splits=splits), world_size=1)
        load_normal_state_dict(other, state)
        torch.testing.assert_close(other.eval()(x), expected, atol=1e-6, rtol=1e-6)
        assert int(normal_state_dict(other)["bn1.num_batches_tracked"]) == 3


# --------------------------------------------------------------------------- precise BN


def first_bn_input(model: Net, batches: list[torch.Tensor]) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model.conv1(x) for x in batches])


@pytest.mark.parametrize("splits", [1, 2])
def test_precise_bn_gives_the_population_statistics(splits: int) -> None:
    model = net()
    set_bn_mode(model, BNMode("sub", splits=splits), world_size=1)
    model.eval()
    batches = [{"video": clips(4, seed=s, shift=4.0)} for s in range(6)]
    feats = first_bn_input(model, [b["video"] for b in batches[:5]])  # the 6th is not used
    true_mean, true_var = feats.mean(DIMS), feats.var(DIMS, unbiased=False)
    assert not torch.allclose(plain_stats(model.bn1)[0], true_mean, atol=0.5)
    precise_bn(model, iter(batches), num_batches=5, to_input=lambda b: b["video"])
    eval_bn = model.bn1.bn if splits > 1 else model.bn1  # read as is: no aggregation here
    mean, var = eval_bn.running_mean, eval_bn.running_var
    torch.testing.assert_close(mean, true_mean, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(var, true_var, atol=1e-4, rtol=1e-3)
    assert not model.training and not model.bn1.training  # modes given back
    assert model.bn1.momentum == 0.1
    if splits > 1:
        assert not model.bn1.stats_stale


def test_precise_bn_with_too_few_batches_fails_and_leaves_the_model_usable() -> None:
    model = net()
    stats = plain_stats(model.bn1)
    batches = (clips(4, seed=s) for s in range(2))
    with pytest.raises(ValueError, match="needs 5 batches, the iterable gave 2"):
        precise_bn(model, batches, num_batches=5)
    torch.testing.assert_close(plain_stats(model.bn1), stats)
    assert model.bn1.momentum == 0.1
    assert not model.bn1._forward_pre_hooks
    model.train()(clips(4, seed=3))  # fvcore's hooks would refuse a second forward
    precise_bn(model, [clips(4, seed=s) for s in range(2)], num_batches=5)  # sized: min rule
