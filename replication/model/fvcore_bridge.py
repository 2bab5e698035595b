"""The one module that imports fvcore: its FLOP counter and its precise-BN statistics pass.

fvcore.nn runs ``torch.jit.script`` at import time, which current torch deprecates; the warning
concerns fvcore's own losses, which nothing here uses, and is silenced here once.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
    warnings.filterwarnings(
        "ignore", message=r".*torch\.jit\.script.*", category=DeprecationWarning
    )
    from fvcore.nn import FlopCountAnalysis
    from fvcore.nn.precise_bn import update_bn_stats

__all__ = ["FlopCountAnalysis", "update_bn_stats"]
