"""Compile one kernel kind for sm_90a into $TILELANG_CACHE_DIR and write its CUDA source to
/tmp/<kind>.cu (dev: check lowering, registers via cuobjdump on the cached cubin).
    TILELANG_CACHE_DIR=$PWD/.tilelang-cache .venv/bin/python kernels/tilelang/dev_compile_one.py bwd_out2[:t256]"""
import sys
import time

from vig_kernels.tilelang import compile_kernel

kind = sys.argv[1]
dtype = sys.argv[2] if len(sys.argv) > 2 else "bfloat16"
t = time.perf_counter()
k = compile_kernel(kind, 32, 64, dtype, "sm_90a")
print(f"{kind} {dtype}: {time.perf_counter() - t:.1f} s", flush=True)
open(f"/tmp/{kind.replace(':', '_')}.cu", "w").write(k.get_kernel_source())
