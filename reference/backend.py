"""The reference backend: the chunked pure-PyTorch op, on any device, gradients by autograd."""
from __future__ import annotations

import torch

from vig.backend import Backend

from .chunked import chunked_bidirectional_gla


class ReferenceBackend(Backend):
    name = "reference"
    device_types = ("cpu", "cuda", "mps", "xpu")
    dtypes = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
    max_head_dim = None

    def apply(self, q, k, v, g_fwd, g_bwd, scale):
        # Accumulate in float32 whatever the input dtype (float64 stays float64).
        compute = torch.float64 if q.dtype == torch.float64 else torch.float32
        return chunked_bidirectional_gla(q, k, v, g_fwd, g_bwd, scale, compute_dtype=compute)
