"""Video backbones, FLOP counts and BatchNorm under multigrid (sub-batch BN, precise BN).

``spec`` says what to build and the input it takes, ``builders`` builds it from pytorchvideo
(the only pytorchvideo import: ``from replication.model.builders import build_model``, kept out
of this package's namespace so that importing BatchNorm or the spec does not load pytorchvideo),
``blocks`` holds our own layers, ``flops`` counts a clip's cost, ``sub_batch_norm``,
``bn_modes`` and ``precise_bn`` are BatchNorm as multigrid needs it.
"""

from replication.model.blocks import BasicBlock, StemConv3d
from replication.model.bn_modes import load_normal_state_dict, normal_state_dict, set_bn_mode
from replication.model.flops import flops_table, gflops_per_clip
from replication.model.precise_bn import precise_bn
from replication.model.spec import BackboneSpec, model_input_example, pack_pathways, slowfast_alpha
from replication.model.sub_batch_norm import SubBatchNorm3d, aggregate_sub_bn_stats

__all__ = [
    "BackboneSpec",
    "BasicBlock",
    "StemConv3d",
    "SubBatchNorm3d",
    "aggregate_sub_bn_stats",
    "flops_table",
    "gflops_per_clip",
    "load_normal_state_dict",
    "model_input_example",
    "normal_state_dict",
    "pack_pathways",
    "precise_bn",
    "set_bn_mode",
    "slowfast_alpha",
]
