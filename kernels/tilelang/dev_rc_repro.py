"""Session 9 round 4 (issue #5): does compute-sanitizer racecheck report hazards in a race-free kernel whose
warp groups run different numbers of barriers? A minimal copy of the pattern TileLang emits for _cumsums_par
(fwd_fused_seg:s2:m3:x4, bwd_out2:t256:x4:s2:w1): 256 threads; every chunk all threads fill two 32 x 33 fp32
tiles, __syncthreads, threads < 128 update their own elements in place, the other 128 do the same but with a
named barrier (bar.sync 3, 128) between their read and their write of a second tile (TileLang: gf_s / gb_s),
__syncthreads, threads < 32 read both tiles, __syncthreads. Each access pair of different threads is
separated by a block-wide barrier: no race.
    kern 0: no named barrier (control)
    kern 1: bar.sync 3, 128 in the upper half only (TileLang's shape)
    kern 2: balanced: bar.sync 2, 128 in the lower half and bar.sync 3, 128 in the upper half
Run:  compute-sanitizer --tool racecheck --print-limit 200 python kernels/tilelang/dev_rc_repro.py K
Prediction (the barrier-count hypothesis, NOTES.md): K = 1 reports hazards, K = 0 and K = 2 report none.
The outputs of the three kernels are checked against a numpy reference (deterministic integers)."""
import sys

import cupy as cp
import numpy as np

SRC = r"""
#define BODY(PRE_LO, PRE_HI)                                                          \
  __shared__ float f[32 * 33];                                                        \
  __shared__ float g[32 * 33];                                                        \
  __shared__ float r[32];                                                             \
  int tx = threadIdx.x;                                                               \
  float acc = 0.f;                                                                    \
  for (int it = 0; it < nit; ++it) {                                                  \
    __syncthreads();                                                                  \
    for (int u = 0; u < 4; ++u) {                                                     \
      f[(tx >> 3) * 33 + (tx & 7) * 4 + u] = (float)((tx + u + it + blockIdx.x) & 7);  \
      g[(tx >> 3) * 33 + (tx & 7) * 4 + u] = (float)((tx + 2 * u + it) & 7);           \
    }                                                                                 \
    __syncthreads();                                                                  \
    float loc[8];                                                                     \
    if (tx < 128) {                                                                   \
      for (int u = 0; u < 8; ++u) loc[u] = f[(tx & 3) * 264 + u * 33 + (tx >> 2)];    \
      PRE_LO                                                                          \
      for (int u = 0; u < 8; ++u) f[(tx & 3) * 264 + u * 33 + (tx >> 2)] = loc[u] + 1.f; \
    } else {                                                                          \
      for (int u = 0; u < 8; ++u)                                                     \
        loc[u] = g[(tx & 3) * 264 + u * 33 + ((tx & 127) >> 2)];                      \
      PRE_HI                                                                          \
      for (int u = 0; u < 8; ++u)                                                     \
        g[(tx & 3) * 264 + u * 33 + ((tx & 127) >> 2)] = loc[u] * 2.f;                \
    }                                                                                 \
    __syncthreads();                                                                  \
    if (tx < 32) r[tx] = f[tx] + g[tx + 1023];                                        \
    __syncthreads();                                                                  \
    acc += r[tx & 31];                                                                \
  }                                                                                   \
  out[blockIdx.x * 256 + tx] = acc;

#define NB(id) asm volatile("bar.sync %0, %1;" : : "r"(id), "r"(128));
extern "C" __global__ void __launch_bounds__(256) rc0(float* out, int nit) { BODY(, ) }
extern "C" __global__ void __launch_bounds__(256) rc1(float* out, int nit) { BODY(, NB(3)) }
extern "C" __global__ void __launch_bounds__(256) rc2(float* out, int nit) { BODY(NB(2), NB(3)) }
"""


def reference(nblk, nit):
    out = np.zeros((nblk, 256), np.float32)
    tx = np.arange(256)
    for b in range(nblk):
        acc = np.zeros(256, np.float32)
        for it in range(nit):
            f = np.zeros(32 * 33, np.float32)
            g = np.zeros(32 * 33, np.float32)
            for u in range(4):
                f[(tx >> 3) * 33 + (tx & 7) * 4 + u] = (tx + u + it + b) & 7
                g[(tx >> 3) * 33 + (tx & 7) * 4 + u] = (tx + 2 * u + it) & 7
            lo = tx[:128]
            for u in range(8):
                i = (lo & 3) * 264 + u * 33 + (lo >> 2)
                f[i] += 1
                g[i] *= 2
            r = f[:32] + g[1023:1055]
            acc += r[tx & 31]
        out[b] = acc
    return out


def main():
    ks = [int(a) for a in sys.argv[1:]] or [0, 1, 2]
    mod = cp.RawModule(code=SRC, options=("-std=c++17",))
    nblk, nit = 4, 7
    ref = reference(nblk, nit)
    for k in ks:
        out = cp.zeros(nblk * 256, cp.float32)
        mod.get_function(f"rc{k}")((nblk,), (256,), (out, np.int32(nit)))
        cp.cuda.runtime.deviceSynchronize()
        ok = np.array_equal(cp.asnumpy(out).reshape(nblk, 256), ref)
        print(f"rc{k}: output == reference: {ok}", flush=True)


if __name__ == "__main__":
    main()
