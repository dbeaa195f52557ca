// Shared pieces of the CuPy backend's bidirectional GLA kernels (see NOTES.md).
// Self-contained (no CUDA headers): compiles under NVRTC and under `nvcc -cubin` alike.
//
// Specialization macros (all optional, defaults below):
//   DTYPE  0 = float32, 1 = float16, 2 = bfloat16   (q, k, v, do, o, dq, dk, dv)
//   KP     state rows per lane   (K padded to KPAD = 8 * KP)
//   VP     state columns per lane (a warp covers VW = 4 * VP value columns)
//   TT     tokens staged in shared memory per tile
#pragma once

#ifndef DTYPE
#define DTYPE 2
#endif
#ifndef KP
#define KP 4
#endif
#ifndef VP
#define VP 8
#endif
#ifndef TT
#define TT 16
#endif

// Compensated (Kahan-style) state accumulation: on for fp32 inputs, whose parity bound is tight
// enough that a plain fp32 running sum over thousands of tokens would miss it.
#ifndef COMP
#define COMP (DTYPE == 0)
#endif

#define KS 8               // lanes along K in a warp
#define VS 4               // lanes along V in a warp (KS * VS == 32)
#define KPAD (KP * KS)
#define VW (VP * VS)
#define FULL_MASK 0xffffffffu

#ifdef VIG_EMU
// Host emulation (development only, kernels/cupy/dev_emu.h): same bit patterns, no PTX.
#if DTYPE == 0
typedef float elem_t;
__device__ __forceinline__ float to_f(elem_t x) { return x; }
__device__ __forceinline__ elem_t from_f(float x) { return x; }
#else
typedef unsigned short elem_t;
__device__ __forceinline__ float to_f(elem_t x) { return emu_to_f(x, DTYPE); }
__device__ __forceinline__ elem_t from_f(float f) { return emu_from_f(f, DTYPE); }
#endif
#elif DTYPE == 0
typedef float elem_t;
__device__ __forceinline__ float to_f(elem_t x) { return x; }
__device__ __forceinline__ elem_t from_f(float x) { return x; }
#else
typedef unsigned short elem_t;  // raw 16-bit storage; conversions in PTX
#if DTYPE == 1
__device__ __forceinline__ float to_f(elem_t x) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(x));
    return f;
}
__device__ __forceinline__ elem_t from_f(float f) {
    elem_t x;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(x) : "f"(f));
    return x;
}
#else
__device__ __forceinline__ float to_f(elem_t x) {
    return __uint_as_float(((unsigned int)x) << 16);
}
__device__ __forceinline__ elem_t from_f(float f) {
    elem_t x;
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(x) : "f"(f));
    return x;
}
#endif
#endif

// Reduce-scatter of N per-lane values over a group of 2^ROUNDS lanes whose lane ids differ by
// multiples of STRIDE; `idx` is the lane's position in its group. Afterwards x[0..max(N>>ROUNDS,1))
// hold full sums of the original entries base + i (base is returned). When N < 2^ROUNDS the
// remaining rounds all-reduce x[0]; `*writer` is then true on one lane of each set of equal lanes.
template <int N, int ROUNDS, int STRIDE>
__device__ __forceinline__ int reduce_scatter(float (&x)[N], int idx, bool* writer) {
    int base = 0;
    int cnt = N;
    int low = 0;  // bits of idx consumed by all-reduce rounds
#pragma unroll
    for (int r = ROUNDS - 1; r >= 0; --r) {
        const int bit = (idx >> r) & 1;
        const int mask = STRIDE << r;
        if (cnt > 1) {
            const int h = cnt / 2;
#pragma unroll
            for (int j = 0; j < N / 2; ++j) {
                if (j < h) {
                    float send = bit ? x[j] : x[j + h];
                    float keep = bit ? x[j + h] : x[j];
                    x[j] = keep + __shfl_xor_sync(FULL_MASK, send, mask);
                }
            }
            base += bit * h;
            cnt = h;
        } else {
            x[0] += __shfl_xor_sync(FULL_MASK, x[0], mask);
            low |= bit;
        }
    }
    *writer = (low == 0);
    return base;
}

// Values left per lane after reduce_scatter of N values over 2^R lanes.
#define RS_LEFT(N, R) (((N) >> (R)) > 0 ? ((N) >> (R)) : 1)

// s <- a * s + x, with compensation term c (when COMP): s + c tracks the exact value.
__device__ __forceinline__ void decay_add(float& s, float& c, float a, float x) {
#if COMP
    const float t = a * s;
    const float e = fmaf(a, s, -t);       // exact rounding error of the product
    const float y = x + fmaf(a, c, e);    // what must be added to t
    const float n = t + y;
    c = (t - n) + y;
    s = n;
#else
    s = fmaf(a, s, x);
#endif
}
