"""Multigrid training in a plain PyTorch loop through ``replication.api``.

The suite's own trainer is not used: this is all a loop of your own needs, with any video model
whose head pools adaptively (torchvision's R3D-18 by default, or pytorchvideo's Slow R50 at 1/8
width). The toy task (a clip's class is how its colour drifts) stands in for your data set.

    python examples/multigrid_loop.py                       # R3D-18, 64 toy videos: ~1 CPU min
    python examples/multigrid_loop.py --model slow_r50_w8 --videos 32 --epochs 2   # seconds
"""

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from replication import api


def build_model(name: str) -> nn.Module:
    """A 4-class video model whose head pools adaptively, so one model runs on every grid."""
    if name == "r3d_18":
        from torchvision.models.video import r3d_18

        return r3d_18(num_classes=4)
    from pytorchvideo.models.resnet import create_resnet  # Slow R50 with an 8-channel stem

    return create_resnet(model_depth=50, model_num_class=4, stem_dim_out=8,
                         stem_conv_kernel_size=(1, 7, 7), head_pool=nn.AdaptiveAvgPool3d,
                         head_output_size=(1, 1, 1))  # fmt: skip


class Videos(Dataset):
    """In-memory (T, H, W, 3) uint8 videos; each ClipRequest names its grid and its seed."""

    def __init__(self, videos: np.ndarray, labels: np.ndarray) -> None:
        self.videos, self.labels, self.grids = videos, labels, ()

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, request: api.ClipRequest) -> tuple[torch.Tensor, int]:
        video, grid = self.videos[request.index], self.grids[request.grid]
        rng = np.random.default_rng(request.seed)  # augmentation from the request alone
        view = api.train_view(video.shape[1], video.shape[2], len(video), grid, rng)
        return api.render_view(video, view, grid.crop_size), int(self.labels[request.index])


def toy_videos(count: int, seed: int, frames: int = 32, size: int = 48) -> Videos:
    """Noise whose red or blue channel drifts up or down: 4 classes that any 2 frames tell."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(count) % 4)
    drift = np.linspace(-60, 60, frames)[:, None, None]  # (T, 1, 1)
    videos = rng.normal(128, 30, (count, frames, size, size, 3))
    for video, label in zip(videos, labels, strict=True):
        video[..., 2 * (label // 2)] += drift if label % 2 else -drift
    return Videos(np.clip(videos, 0, 255).astype(np.uint8), labels)


def main() -> None:
    """Train with long + short cycles, then test at the base shape."""
    parser = argparse.ArgumentParser(description="Multigrid in a plain PyTorch loop.")
    parser.add_argument("--videos", type=int, default=64, help="training videos")
    parser.add_argument("--epochs", type=int, default=4, help="baseline epochs (multigrid: 1.5x)")
    parser.add_argument("--model", choices=("r3d_18", "slow_r50_w8"), default="r3d_18")
    args = parser.parse_args()
    torch.manual_seed(0)
    cfg = api.RunConfig(  # the base shape (T=8, S=32), the baseline's solver, multigrid on
        data=api.DataConfig(num_frames=8, sampling_rate=2, train_crop_size=32,
                            train_jitter_scales=(32, 40)),
        train=api.TrainConfig(batch_size=2),
        solver=api.SolverConfig(base_lr=0.002, steps=(0, args.epochs - 1), max_epoch=args.epochs),
        multigrid=api.MultigridConfig(long_cycle=True, short_cycle=True, bn_base_size=2),
    )  # fmt: skip
    data = toy_videos(args.videos, seed=0)
    schedule = api.build_schedule(cfg, clips_per_epoch=len(data))
    model = build_model(args.model)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.solver.base_lr, momentum=0.9)
    jitter_max = cfg.data.train_jitter_scales[1]
    for plan in schedule.epochs:
        api.set_bn_mode(model, plan.bn, world_size=1)  # sub-batch BN on the large coarse batches
        data.grids = api.train_grids(plan, cfg.data.sampling_rate, jitter_max)
        sampler = api.ShortCycleBatchSampler(len(data), plan.batch_sizes, seed=0)
        sampler.set_epoch(plan.epoch)  # a new order every epoch, every grid in turn
        model.train()
        losses = []
        for it, (clips, labels) in enumerate(DataLoader(data, batch_sampler=sampler)):
            for group in optimizer.param_groups:
                group["lr"] = schedule.lr_at(plan.epoch + it / len(sampler))
            loss = F.cross_entropy(model(clips), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        grids = " ".join(
            f"{b}x{t}x{s}" for b, (t, s) in zip(plan.batch_sizes, plan.shapes, strict=True)
        )
        loss = np.mean(losses) if losses else float("nan")
        print(f"epoch {plan.epoch}: {len(losses)} iterations at {grids} (clips x T x S), "
              f"BN {plan.bn.kind}, loss {loss:.3f}")  # fmt: skip
    # Precise BN at the last phase's shape (the base shape), then the test at the base shape.
    data.grids = data.grids[-1:]
    stats = api.ShortCycleBatchSampler(len(data), [cfg.train.batch_size], seed=1)
    api.precise_bn(model, (x for x, _ in DataLoader(data, batch_sampler=stats)), len(stats))
    test = toy_videos(32, seed=1)
    test.grids = (api.Grid(8, 32, 2, 2, 32, 32),)  # base shape, fixed stride and scale
    model.eval()
    with torch.no_grad():
        batches = DataLoader(test, batch_sampler=api.ShortCycleBatchSampler(len(test), [8]))
        hits = [(model(x).argmax(1) == y).float().mean().item() for x, y in batches]
    print(f"test top-1 {100 * np.mean(hits):.1f} % at the base shape (chance 25 %)")


if __name__ == "__main__":
    main()
