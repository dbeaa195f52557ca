"""The peers the benchmarks compare against compute the same function as the op."""
import pytest
import torch

from vig import bench

from .parity import oracle
from .strategies import Case, make_inputs


@pytest.mark.gpu
@pytest.mark.parametrize("L", [63, 196, 1000])
def test_fla_official_path_computes_the_op(L):
    why = bench.fla_available()
    if why:
        pytest.skip(why)
    case = Case(B=2, L=L, H=3, K=32, V=64, dtype="bfloat16", regime="model", layout="fused",
                gate_dtype="float32", seed=L)
    q, k, v, gf, gb, do = make_inputs(case, "cuda")
    o = bench.fla_official(q, k, v, gf, gb)
    ref = oracle((q, k, v, gf, gb), do, naive=False)[0]
    rel = ((o.double() - ref).norm() / ref.norm()).item()
    assert rel < 2e-2, rel
