// Development-only host emulation of the few CUDA features the CuPy kernels use, so that the
// kernels' indexing, fragment layouts and barriers can be exercised on a machine without a GPU:
// one std::thread per CUDA thread, std::barrier for __syncthreads / named barriers / warps,
// warp exchange buffers for shuffles, ballots and mma.sync m16n8k16 (PTX ISA fragment layouts).
// Not a test of the GPU: numerics are proven only on the GPU. Compiled by dev_emu.py.
#pragma once
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)

struct emu_dim3 { int x = 1, y = 1, z = 1; };
extern thread_local emu_dim3 threadIdx, blockIdx;
extern emu_dim3 blockDim, gridDim;

struct EmuWarp {
    unsigned int a[32][4], b[32][2];
    float f[32];
    int vote[32];
    const unsigned short* row[32];
};
struct EmuBlock {
    std::barrier<>* all;
    std::barrier<>* named[4];
    std::barrier<>* warp[32];
    EmuWarp wx[32];
    float* smem;
    unsigned int smem_bytes;
};
extern EmuBlock* emu_blk;
extern std::mutex emu_atomic_mu;

inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline float __expf(float x) { return expf(x); }
inline void __syncthreads() { emu_blk->all->arrive_and_wait(); }
inline void emu_warp_sync() { emu_blk->warp[threadIdx.x / 32]->arrive_and_wait(); }
inline void __syncwarp() { emu_warp_sync(); }
inline void emu_bar(int id, int n) { (void)n; emu_blk->named[id]->arrive_and_wait(); }
inline void __trap() { std::abort(); }
inline float* emu_smem() { return emu_blk->smem; }
inline unsigned int emu_dyn_smem() { return emu_blk->smem_bytes; }
inline float __shfl_xor_sync(unsigned, float v, int m) {
    EmuWarp& X = emu_blk->wx[threadIdx.x / 32];
    const int l = threadIdx.x % 32;
    X.f[l] = v;
    emu_warp_sync();
    const float r = X.f[l ^ m];
    emu_warp_sync();
    return r;
}
inline unsigned int __ballot_sync(unsigned, int p) {
    EmuWarp& X = emu_blk->wx[threadIdx.x / 32];
    const int l = threadIdx.x % 32;
    X.vote[l] = p != 0;
    emu_warp_sync();
    unsigned int m = 0;
    for (int i = 0; i < 32; ++i) m |= (unsigned)X.vote[i] << i;
    emu_warp_sync();
    return m;
}
inline float atomicAdd(float* p, float v) {
    std::lock_guard<std::mutex> g(emu_atomic_mu);
    float o = *p;
    *p = o + v;
    return o;
}
inline float emu_to_f(unsigned short x, int dtype) {
    if (dtype == 2) {
        unsigned int u = (unsigned int)x << 16;
        float f;
        std::memcpy(&f, &u, 4);
        return f;
    }
    _Float16 h;
    std::memcpy(&h, &x, 2);
    return (float)h;
}
inline unsigned short emu_from_f(float f, int dtype) {
    if (dtype == 2) {
        unsigned int u;
        std::memcpy(&u, &f, 4);
        if (std::isnan(f)) return 0x7fc0;
        u += 0x7fffu + ((u >> 16) & 1u);
        return (unsigned short)(u >> 16);
    }
    _Float16 h = (_Float16)f;
    unsigned short x;
    std::memcpy(&x, &h, 2);
    return x;
}
inline void emu_mma(float (&d)[4], const unsigned int (&a)[4], unsigned int b0, unsigned int b1,
                    int dtype) {
    EmuWarp& X = emu_blk->wx[threadIdx.x / 32];
    const int l = threadIdx.x % 32;
    for (int i = 0; i < 4; ++i) X.a[l][i] = a[i];
    X.b[l][0] = b0;
    X.b[l][1] = b1;
    emu_warp_sync();
    float A[16][16], Bm[16][8];
    auto lo = [&](unsigned int w) { return emu_to_f((unsigned short)(w & 0xffff), dtype); };
    auto hi = [&](unsigned int w) { return emu_to_f((unsigned short)(w >> 16), dtype); };
    for (int L = 0; L < 32; ++L) {
        const int g = L >> 2, t = L & 3;
        A[g][2 * t] = lo(X.a[L][0]); A[g][2 * t + 1] = hi(X.a[L][0]);
        A[g + 8][2 * t] = lo(X.a[L][1]); A[g + 8][2 * t + 1] = hi(X.a[L][1]);
        A[g][2 * t + 8] = lo(X.a[L][2]); A[g][2 * t + 9] = hi(X.a[L][2]);
        A[g + 8][2 * t + 8] = lo(X.a[L][3]); A[g + 8][2 * t + 9] = hi(X.a[L][3]);
        Bm[2 * t][g] = lo(X.b[L][0]); Bm[2 * t + 1][g] = hi(X.b[L][0]);
        Bm[2 * t + 8][g] = lo(X.b[L][1]); Bm[2 * t + 9][g] = hi(X.b[L][1]);
    }
    emu_warp_sync();
    const int g = l >> 2, t = l & 3;
    for (int r = 0; r < 4; ++r) {
        const int row = g + 8 * (r >> 1), col = 2 * t + (r & 1);
        float s = d[r];
        for (int kk = 0; kk < 16; ++kk) s += A[row][kk] * Bm[kk][col];
        d[r] = s;
    }
}
// ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16: lanes 8j..8j+7 give the row addresses of 8x8
// matrix j (8 16-bit values each); lane l receives in r[j] the elements (2 (l % 4), l / 4) and
// (2 (l % 4) + 1, l / 4) of matrix j (row, column), low half first.
inline void emu_ldsm4t(unsigned int (&r)[4], const void* p) {
    EmuWarp& X = emu_blk->wx[threadIdx.x / 32];
    const int l = threadIdx.x % 32;
    X.row[l] = static_cast<const unsigned short*>(p);
    emu_warp_sync();
    for (int j = 0; j < 4; ++j) {
        const unsigned int lo = X.row[8 * j + 2 * (l % 4)][l / 4];
        const unsigned int hi = X.row[8 * j + 2 * (l % 4) + 1][l / 4];
        r[j] = lo | (hi << 16);
    }
    emu_warp_sync();
}
// ldmatrix.sync.aligned.m8n8.x4.shared.b16 (no transpose; the v37 forward): lane l receives in
// r[j] the elements (l / 4, 2 (l % 4)) and (l / 4, 2 (l % 4) + 1) of matrix j, low half first.
inline void emu_ldsm4(unsigned int (&r)[4], const void* p) {
    EmuWarp& X = emu_blk->wx[threadIdx.x / 32];
    const int l = threadIdx.x % 32;
    X.row[l] = static_cast<const unsigned short*>(p);
    emu_warp_sync();
    for (int j = 0; j < 4; ++j) {
        const unsigned int lo = X.row[8 * j + l / 4][2 * (l % 4)];
        const unsigned int hi = X.row[8 * j + l / 4][2 * (l % 4) + 1];
        r[j] = lo | (hi << 16);
    }
    emu_warp_sync();
}
