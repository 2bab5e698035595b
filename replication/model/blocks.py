"""Building blocks of our own beside pytorchvideo's: the stem convolution and ResNet-18's block.

Pure torch: :mod:`replication.model.builders` wires them into pytorchvideo's trunks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

ModuleFactory = Callable[..., nn.Module]


class StemConv3d(nn.Conv3d):
    """The stem's Conv3d; on a CPU it zero-pads time itself when the padding covers the clip.

    A coarse long-cycle grid gives the stem fewer frames than its temporal padding, e.g. the
    fast pathway's 5 x 7 x 7 kernel (padding 2) on T = 2. oneDNN's direct kernels then refuse
    the weight gradient and it falls back to an im2col GEMM: 83 ms for forward + backward of
    SlowFast's 1-channel fast stem at 256 x 3 x 2 x 28 x 28 on one Xeon core, against 34 ms with
    the frames padded beforehand (and 22-27 ms at T = 4 and 8, where padding first is slower,
    so it is done only when needed). The result is the same convolution: same weights, same
    output, same FLOP count. The stem reads the 3-channel clip, so the padded copy is small.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve ``x``; see the class docstring for when time is padded first."""
        explicit = (
            x.device.type == "cpu"
            and self.padding_mode == "zeros"
            and not isinstance(self.padding, str)  # "same" / "valid"
            and 0 < x.shape[2] <= self.padding[0]
        )
        if not explicit:
            return super().forward(x)
        pad_t, pad_h, pad_w = self.padding
        x = F.pad(x, (0, 0, 0, 0, pad_t, pad_t))
        return F.conv3d(
            x, self.weight, self.bias, self.stride, (0, pad_h, pad_w), self.dilation, self.groups
        )


class BasicBlock(nn.Module):
    """Two-convolution residual branch of ResNet-18/34, inflated to 3D.

    ::

        Conv3d kt x 3 x 3 (stride) -> Norm -> Act -> Conv3d 1 x 3 x 3 -> Norm

    The temporal kernel goes into the first convolution, as in PySlowFast's basic_transform.
    Built by :func:`_create_basic_block`; the shortcut and final ReLU come from pytorchvideo's
    ResBlock around it.
    """

    def __init__(
        self,
        conv_a: nn.Module,
        norm_a: nn.Module,
        act_a: nn.Module,
        conv_b: nn.Module,
        norm_b: nn.Module,
    ) -> None:
        super().__init__()
        self.conv_a, self.norm_a, self.act_a = conv_a, norm_a, act_a
        self.conv_b, self.norm_b = conv_b, norm_b
        # pytorchvideo's initializer zeroes the last BN of each branch: blocks start as identity.
        self.norm_b.block_final_bn = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the branch (the residual sum happens in the enclosing ResBlock)."""
        x = self.act_a(self.norm_a(self.conv_a(x)))
        return self.norm_b(self.conv_b(x))


def _create_basic_block(
    *,
    dim_in: int,
    dim_out: int,
    conv_a_kernel_size: Sequence[int],
    conv_a_stride: Sequence[int],
    conv_b_stride: Sequence[int],
    norm: ModuleFactory,
    activation: Callable[[], nn.Module],
    **_unused: object,  # the bottleneck-only arguments create_res_stage passes to every block
) -> BasicBlock:
    kt = conv_a_kernel_size[0]
    stride = (conv_a_stride[0], conv_b_stride[1], conv_b_stride[2])
    return BasicBlock(
        conv_a=nn.Conv3d(dim_in, dim_out, (kt, 3, 3), stride, (kt // 2, 1, 1), bias=False),
        norm_a=norm(num_features=dim_out, eps=1e-5, momentum=0.1),
        act_a=activation(),
        conv_b=nn.Conv3d(dim_out, dim_out, (1, 3, 3), 1, (0, 1, 1), bias=False),
        norm_b=norm(num_features=dim_out, eps=1e-5, momentum=0.1),
    )
