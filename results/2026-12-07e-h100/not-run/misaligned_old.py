"""Session 21: TileLang's fp16 path on inputs one element past an aligned address, with session 20's _contig
(.contiguous(), which returns such a tensor as it is) - expected: CUDA misaligned address - then (new process)
with the shipped _contig. Usage: python misaligned_old.py old|new"""
import os, sys
sys.path.insert(0, os.getcwd())
import torch
from vig import bench
from vig_kernels import tilelang as tlb
if sys.argv[1] == "old":
    tlb._contig = lambda *ts: tuple(t.contiguous() for t in ts)
ins = bench.make_inputs(bench.OpShape(2, 3, 196, 32, 64), "cuda", dtype=torch.float16)[0]
odd = []
for t in ins:
    buf = torch.empty(t.numel() + 1, device="cuda", dtype=t.dtype)
    buf[1:].copy_(t.reshape(-1))
    odd.append(buf[1:].view(t.shape))
want = tlb.TileLangBackend().apply(*[t.contiguous() for t in ins], 32 ** -0.5)
torch.cuda.synchronize()
try:
    got = tlb.TileLangBackend().apply(*odd, 32 ** -0.5)
    torch.cuda.synchronize()
    print(sys.argv[1], "fp16 odd offset: bit-identical to contiguous inputs:", torch.equal(got, want))
except Exception as e:
    print(sys.argv[1], "fp16 odd offset:", type(e).__name__, str(e)[:300])
