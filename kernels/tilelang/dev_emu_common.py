"""What the CPU emulators of the midpoint kinds share (dev_emu_x3.py: fwd_fused:m3:x3's A,
dev_emu_bwd3.py: bwd_out2:x3's A, dq, dk): the chunk geometry and constants, bf16 rounding, the
chunk cumsums and the gate regimes drawn. Imported from the scripts' own directory (run them as
.venv/bin/python kernels/tilelang/dev_emu_<x>.py)."""
import numpy as np
import torch

C, M, K, THR, GMIN = 32, 16, 32, 32.0, -40.0   # chunk, sub-block, key dim, REF_THR, GATE_MIN


def bf(x):
    return torch.tensor(x).to(torch.bfloat16).to(torch.float64).numpy()


def cums(gf, gb):  # inclusive chunk cumsums: forward left to right, backward right to left
    return np.cumsum(gf, 0), np.cumsum(gb[::-1], 0)[::-1]


def regimes(rng):
    """Gate regimes (log decays [C, K], before the GMIN clamp), each drawn from ``rng``."""
    return {
        "bench (logsigmoid/16)": lambda: np.log(1 / (1 + np.exp(-rng.standard_normal((C, K))))) / 16,
        "model (logsigmoid)": lambda: np.log(1 / (1 + np.exp(-rng.standard_normal((C, K))))),
        "zero": lambda: np.zeros((C, K)),
        "strong (-5 * U)": lambda: -5 * rng.random((C, K)),
        "near THR (-2 * U)": lambda: -2 * rng.random((C, K)),
        "neg_inf mixed": lambda: np.where(rng.random((C, K)) < 0.05, -np.inf, -0.1 * rng.random((C, K))),
        "mixed channels": lambda: -rng.random((C, K)) * np.where(rng.random(K) < 0.5, 0.05, 8.0),
    }
