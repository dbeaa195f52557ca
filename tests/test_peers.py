"""The peers the benchmarks compare against compute the same function as the op: fla's official path (flipped copy
on the batch, one causal chunk_gla, unflipped, averaged) is judged like a backend, by the contract's parity rule,
on its output and all five gradients (the benchmark times its forward and its forward + backward), at the lengths of
the benchmark's shapes and around them, with the "model" regime's gates (logsigmoid, as the benchmark's are)."""
import pytest

from vig import bench

from .parity import assert_parity, oracle, plain_pytorch, run_with_grads
from .strategies import Case, make_inputs


@pytest.mark.gpu
@pytest.mark.parametrize("L", [63, 196, 1000, 4096])
def test_fla_official_path_computes_the_op(L):
    why = bench.fla_available()
    if why:
        pytest.skip(why)
    case = Case(B=2, L=L, H=3, K=32, V=64, dtype="bfloat16", regime="model", layout="fused",
                gate_dtype="float32", seed=L)
    q, k, v, gf, gb, do = make_inputs(case, "cuda")
    inputs = (q, k, v, gf, gb)
    got = run_with_grads(bench.fla_official, inputs, do)
    assert_parity(got, oracle(inputs, do, naive=L <= 300), plain_pytorch(inputs, do), q.dtype, str(case))
