// Chunked tensor-core forward of the bidirectional GLA (CuPy backend, fp16 / bf16 inputs).
// See NOTES.md ("v2: chunked tensor-core forward") for the design; in short:
//
// Grid (B*H, NSEG segments, ceil(V / 64) value blocks); block 256 threads = 2 directions x 4 warps.
// Warps 0-3 run the forward scan, warps 4-7 the backward scan, over the same segment of the same
// (b, h); warp w of a direction owns value rows [16w, 16w+16) of the block's 64 columns and keeps
// its slice of the transposed state S^T [16 x KPD] (fp32) in mma accumulator registers.
// Each direction walks its segment in chunks of CH = 16 tokens (backward: last chunk first, tokens
// in descending order); per chunk, in scan order p = 0..15 (all exponents local to the chunk):
//   A_p  = sum_{i<=p} g_i        (inclusive)       Qi_p = q_p * exp(A_p)          (<= |q|)
//   Bx_p = sum_{p<i<16} g_i      (exclusive, rev.)  Ki_p = k_p * exp(Bx_p)         (<= |k|)
//   o_p += Qi_p . S_in  +  sum_{j<=p} P[p, j] v_j,   S_out = exp(A_15) S_in + sum_j Ki_j v_j^T
//   P[p, j] = sum_ch q_p k_j exp(A_p - A_j):
//     fast path (every channel's chunk total A_15 >= -THR): through the reference point
//       m = A_15 / 2: (q_p exp(A_p - m)) . (k_j exp(m - A_j)), both exponents in [-THR/2, THR/2];
//     exact path otherwise (strong gates, -inf): per pair, the segment sum sum_{j<i<=p} g_i is
//       accumulated directly (never a difference, -inf stays -inf, exp gives 0), on CUDA cores.
// Matrix products: mma.sync m16n8k16 (fp16 / bf16 operands, fp32 accumulators):
//   P = Qf Kf^T,  O^T = S^T Qi^T + V^T P^T,  S^T = S^T diag(exp(A_15)) + V^T Ki.
// The accumulator layout of S^T is exactly the A-operand layout of S^T Qi^T, and the accumulator
// layout of P is the B-operand layout of V^T P^T: neither leaves registers.
// The two directions run in lockstep (block-wide barriers, 3 per chunk): at step `it` one
// direction is at chunk it and the other at chunk nch-1-it, so each chunk's output rows in the
// fp32 shared-memory buffer are stored by the first visitor and added to by the second (the
// middle chunk of an odd count, visited by both at once, takes red.add onto zeros); o is written
// once, after a block barrier. Outputs are scaled by scale / 2.
//
// Long sequences are cut into segments (mode 0: each segment's local end state and gate sum;
// bigla_tc_scan: the state entering each segment; mode 1: outputs from the entering states).
#include "bigla.cuh"

#ifndef KT
#define KT 2  // 16-channel tiles: K <= 16 * KT
#endif
#define CH 16             // chunk length (one mma tile)
#define KPD (16 * KT)     // channels, padded
#define VB 64             // value columns per block (4 warps x 16)
#define NT 128            // threads per direction
#define QS (KPD + 8)      // row stride (elements) of Qi, Qf, Kf, qr, kr: conflict-free fragment loads
#define TS 24             // row stride of the transposed tiles VT, KiT
#define NWK ((KPD + 31) / 32)
#ifndef FC3
#define FC3 0             // 1 (with FTR, VEC; VIG_CUPY_FWD=v39, the output pass): 3 blocks per SM: the
#endif                    //    compact FwdSmem, sO rows of VB floats (XOR-swizzled), MINB=3 (launcher)
#if FC3 && !(FTR && VEC)
#error "FC3 needs FTR and VEC"
#endif
#if FC3
#define OS VB             // row stride of the fp32 output buffer; columns XOR-swizzled by osw()
#else
#define OS (VB + 4)       // row stride of the fp32 output buffer: conflict-free red.add
#endif
#define NGC (NT / KPD)    // v2.3 forward: token groups per chunk (thread = group x channel)
#define TPG (CH / NGC)    // tokens per group (= CH * KPD / NT)
#ifndef VEC
#define VEC 0             // 1: q, k, v rows are 16-byte aligned (K, V multiples of 8): 16-byte loads
#endif
#ifndef FWL
#define FWL 0             // 1: v2.6 forward tiles (V, Ki token-major, ldmatrix.trans; VIG_CUPY_FWD=v26):
#endif                    //    conflict-free stores instead of v2.3's transposed 16-bit stores
#ifndef FL32
#define FL32 0            // 1 (with FWL, VEC; VIG_CUPY_FWD=v30 / v30l): the forward's chunk loads on
#endif                    //    loop-carried pointers (32-bit steps), full-chunk loads / sO rows unchecked
#ifndef FDEC
#define FDEC 0            // 1 (VIG_CUPY_FWD=v30): direction-local chunk-step barriers in the forward,
#endif                    //    one block barrier at step nch / 2 (the output rows' two visitors)
#ifndef FTR
#define FTR 0             // 1 (with FWL, FL32, FDEC; VIG_CUPY_FWD=v37): the forward's Qi / Qf / Kf / Ki
#endif                    //    tiles channel-major (packed stores of a thread's TPG tokens, ldmatrix)
#if FTR && !(FWL && FL32)
#error "FTR needs FWL and FL32"
#endif
#if (KT & (KT - 1)) != 0
#error "KT must be a power of two"
#endif
#if DTYPE == 1
#define THR 8.0f          // fp16 operands: exp(+-4) * |q| stays far from 65504
#else
#define THR 16.0f
#endif

struct DirSmem {
    float g[CH][KPD];    // gates, scan order
    float A[CH][KPD];    // inclusive cumulative sums
    float Bx[CH][KPD];   // exclusive reverse cumulative sums
    float P[CH][CH];     // exact-path pair matrix
    float dec[KPD];      // exp(chunk total)
    float mid[KPD];      // exp(-m), m = chunk total / 2 (the reference point)
    int bad[4];          // per channel-warp: some channel's chunk total < -THR (or NaN)
    elem_t qr[CH][QS], kr[CH][QS];  // raw q, k (scan order)
#if FTR
    // v37: channel-major [KPD][16], the two 8-token halves of row ch swapped when (ch >> 2) & 1
    // (conflict-free ldmatrix at a 32-byte row stride); see trow()
    elem_t QiT[KPD][CH], QfT[KPD][CH], KfT[KPD][CH], KiT[KPD][CH];
    elem_t Vn[CH][VB + 8];  // token-major; the A fragments of V^T come from ldmatrix.trans
#else
    elem_t Qi[CH][QS], Qf[CH][QS], Kf[CH][QS];
#endif
#if FTR
#elif FWL
    elem_t Ki[CH][QS];   // token-major; the B fragments of Ki come from ldmatrix.trans
    elem_t Vn[CH][VB + 8];  // token-major; the A fragments of V^T come from ldmatrix.trans
#else
    elem_t KiT[KPD][TS];
    elem_t VT[VB][TS];
#endif
};

#if FC3
// v39: the forward's per-direction tiles less what v37's forward does not use (Bx, A's rows past the
// group totals, mid): 12,688 B at K = 32 instead of DirSmem's 16,400.
struct FwdSmem {
    float g[CH][KPD];     // gates, scan order (exact path)
    float A[NGC][KPD];    // the token groups' gate totals
    float P[CH][CH];      // exact-path pair matrix
    float dec[KPD];       // exp(chunk total)
    int bad[4];           // per channel-warp: some channel's chunk total < -THR (or NaN)
    elem_t qr[CH][QS], kr[CH][QS];
    elem_t QiT[KPD][CH], QfT[KPD][CH], KfT[KPD][CH], KiT[KPD][CH];
    elem_t Vn[CH][VB + 8];
};
typedef FwdSmem FSmem;
// Column of element (row, col) in the sO rows (OS = VB floats): bits 3-4 of col XOR bits 1-2 of row,
// so that a warp's fragment stores (rows 2 tg + .., columns g8 + ..) fall in 32 distinct banks and
// every 8-float group stays contiguous (the output pass's 16-byte loads).
__device__ __forceinline__ int osw(int row, int col) { return col ^ (((row >> 1) & 3) << 3); }
#else
typedef DirSmem FSmem;
#endif
#ifdef VIG_EMU
struct alignas(16) u32x4 { unsigned int x, y, z, w; };
struct alignas(16) f32x4 { float x, y, z, w; };
struct alignas(8) u32x2 { unsigned int x, y; };
#else
struct __align__(16) u32x4 { unsigned int x, y, z, w; };
struct __align__(16) f32x4 { float x, y, z, w; };
struct __align__(8) u32x2 { unsigned int x, y; };
#endif
__device__ __forceinline__ unsigned int ld32(const elem_t* p) {
    return *reinterpret_cast<const unsigned int*>(p);
}
// The 16 bits of a shared-memory element (v2.6p fragment packing).
__device__ __forceinline__ unsigned short u16of(const elem_t& x) {
    return *reinterpret_cast<const unsigned short*>(&x);
}
// exp(x) as one multiply and ex2.approx.ftz (v2.6): __expf is ex2.approx without .ftz, which
// sm_90 expands with a range check and two conditional multiplies to produce denormal results;
// here those (|result| < 2^-126) flush to 0 (exp(-inf) = 0, NaN stays NaN, as before).
__device__ __forceinline__ float fexp(float x) {
#ifdef VIG_EMU
    const float y = __expf(x);
    return (y < 1.17549435e-38f) ? 0.f : y;
#else
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x * 1.44269504088896341f));
    return y;
#endif
}
#if FWL
#define FEXP fexp      // the v2.6 forward
#else
#define FEXP __expf
#endif
__device__ __forceinline__ unsigned int pack2(float lo, float hi) {
    return (unsigned int)from_f(lo) | ((unsigned int)from_f(hi) << 16);
}
// d += a (16x16, row) * b (16x8, col); fp32 accumulators.
__device__ __forceinline__ void mma16816(float (&d)[4], const unsigned int (&a)[4], unsigned int b0,
                                         unsigned int b1) {
#ifdef VIG_EMU
    emu_mma(d, a, b0, b1, DTYPE);
#else
#if DTYPE == 1
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
#endif
}
// ldmatrix.x4.trans: r[j] = the B / A fragment pair of 8x8 matrix j, transposed, whose rows lanes
// 8j..8j+7 point at (16-byte aligned rows of 8 16-bit values in shared memory).
__device__ __forceinline__ void ldsm4t(unsigned int (&r)[4], const elem_t* p) {
#ifdef VIG_EMU
    emu_ldsm4t(r, p);
#else
    unsigned long long g;
    asm("cvta.to.shared.u64 %0, %1;" : "=l"(g) : "l"(p));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"((unsigned int)g));
#endif
}
#if FTR
// v37: ldmatrix from an address formed once before the chunk loop (a 32-bit shared-window
// address on the GPU, a pointer in the emulator) plus compile-time element offsets: the generic
// pointer of ldsm4t is otherwise recomputed (64-bit) and converted at every call.
#ifdef VIG_EMU
typedef const elem_t* sptr_t;
__device__ __forceinline__ sptr_t sptr(const elem_t* p) { return p; }
__device__ __forceinline__ sptr_t sadd(sptr_t a, int elems) { return a + elems; }
__device__ __forceinline__ void ldsm4t_s(unsigned int (&r)[4], sptr_t a) { emu_ldsm4t(r, a); }
__device__ __forceinline__ void ldsm4_s(unsigned int (&r)[4], sptr_t a) { emu_ldsm4(r, a); }
#else
typedef unsigned int sptr_t;
__device__ __forceinline__ sptr_t sptr(const elem_t* p) {
    unsigned long long g;
    asm("cvta.to.shared.u64 %0, %1;" : "=l"(g) : "l"(p));
    return (unsigned int)g;
}
__device__ __forceinline__ sptr_t sadd(sptr_t a, int elems) {
    return a + (unsigned int)(elems * (int)sizeof(elem_t));
}
__device__ __forceinline__ void ldsm4t_s(unsigned int (&r)[4], sptr_t a) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}
__device__ __forceinline__ void ldsm4_s(unsigned int (&r)[4], sptr_t a) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}
#endif
// pack2 in one conversion (cvt.rn.{bf16x2,f16x2}.f32: the same round-to-nearest-even per half as
// from_f's cvt.rn.{bf16,f16}.f32).
__device__ __forceinline__ unsigned int pack2f(float lo, float hi) {
#if defined(VIG_EMU) || DTYPE == 0
    return pack2(lo, hi);
#else
    unsigned int d;
#if DTYPE == 1
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(d) : "f"(hi), "f"(lo));
#else
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(d) : "f"(hi), "f"(lo));
#endif
    return d;
#endif
}
// Element (ch, tok) of a v37 channel-major tile lives at T[ch][8 * ((tok >> 3) ^ ((ch >> 2) & 1)) +
// (tok & 7)]: the row of half h (tokens 8h..8h+7) of channel ch.
__device__ __forceinline__ const elem_t* trow(const elem_t (*T)[CH], int ch, int h) {
    return &T[ch][8 * (h ^ ((ch >> 2) & 1))];
}
// A thread's TPG consecutive scan positions p0.. (p0 a multiple of TPG) of channel ch, packed.
template <int N>
__device__ __forceinline__ void tstore(elem_t (*T)[CH], int ch, int p0, const float (&x)[N]) {
    unsigned int w[N / 2];
#pragma unroll
    for (int i = 0; i < N / 2; ++i) w[i] = pack2f(x[2 * i], x[2 * i + 1]);
    const int sw = (ch >> 2) & 1;
    if (N >= 8) {
#pragma unroll
        for (int hh = 0; hh < N / 8; ++hh)
            *reinterpret_cast<u32x4*>(&T[ch][8 * (((p0 >> 3) + hh) ^ sw)]) =
                u32x4{w[4 * hh], w[4 * hh + 1], w[4 * hh + 2], w[4 * hh + 3]};
    } else {
        elem_t* d = &T[ch][8 * ((p0 >> 3) ^ sw) + (p0 & 7)];
        if (N == 4)
            *reinterpret_cast<u32x2*>(d) = u32x2{w[0], w[N / 2 - 1]};
        else
            *reinterpret_cast<unsigned int*>(d) = w[0];
    }
}
#endif
// The 128 threads of one direction (named barrier 1 or 2; immediate ids, so that ptxas counts
// 3 barriers, not 16).
__device__ __forceinline__ void bar_dir(int dir) {
#ifdef VIG_EMU
    emu_bar(1 + dir, 128);
#else
    if (dir)
        asm volatile("bar.sync 2, 128;" ::: "memory");
    else
        asm volatile("bar.sync 1, 128;" ::: "memory");
#endif
}
// x += c * o as nvcc compiles the v2.6 forward's second-visitor adds (one FFMA each, sm_90a / sm_80:
// the product is not rounded), written out so that v30's copy of them cannot round differently
// (a product shared by two branches stays an FMUL); the emulator (g++, no contraction) rounds the
// product in both.
__device__ __forceinline__ void add_cprod(float& x, float c, float o) {
#ifdef VIG_EMU
    x += c * o;
#else
    x = __fmaf_rn(c, o, x);
#endif
}
// The direction barrier without a branch (v29): bar.sync with a register id (1 + tid / 128,
// computed inside the asm statement from %tid.x). A C-level `if (dir)` around immediate-id
// bar.syncs (bar_dir, or two predicated bar.sync in one asm statement), placed before shuffles and
// ballots as v29's (A) and (B) are, made ptxas treat those as possibly divergent: +17 ENDCOLLECTIVE,
// +29 WARPSYNC, +15 SHFL, 5368-5392 SASS instructions against v26p's 4840; this form: 4944 (the
// step loops +34 / +19 static instructions, mostly constant reloads of the gate strides). ptxas
// reports 16 barriers for a register id (as for CUTLASS's named barriers).
__device__ __forceinline__ void bar_dir_t() {
#ifdef VIG_EMU
    emu_bar(1 + (int)(threadIdx.x >> 7), 128);
#else
    asm volatile(
        "{\n\t.reg .u32 t;\n\tmov.u32 t, %%tid.x;\n\tshr.u32 t, t, %0;\n\tadd.u32 t, t, 1;\n\t"
        "bar.sync t, %1;\n\t}" ::"n"(7), "n"(NT)
        : "memory");
#endif
}
__device__ __forceinline__ unsigned int dyn_smem_bytes() {
#ifdef VIG_EMU
    return emu_dyn_smem();
#else
    unsigned int x;
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(x));
    return x;
#endif
}

#ifndef MINB
#define MINB (KT <= 2 ? 2 : 1)  // blocks per SM the registers must allow (shared memory: ~2)
#endif
extern "C" __global__ void __launch_bounds__(256, MINB) bigla_tc_fwd(
    const elem_t* __restrict__ q, const elem_t* __restrict__ k, const elem_t* __restrict__ v,
    const float* __restrict__ gf, const float* __restrict__ gb,
    elem_t* __restrict__ o,   // [B, L, H, V] contiguous (mode 1)
    float* __restrict__ st,   // [B*H, NSEG, 2, NVB*VB, KPD] segment states (NSEG > 1)
    float* __restrict__ gs,   // [B*H, NSEG, 2, KPD] segment gate sums (mode 0)
    int B, int L, int H, int K, int V,
    long long sqb, long long sql, long long sqh,
    long long skb, long long skl, long long skh,
    long long svb, long long svl, long long svh,
    long long sfb, long long sfl, long long sfh,
    long long sbb, long long sbl, long long sbh,
    float c, int seglen, int mode) {
#ifdef FWM0
    // Session 6 (VIG_CUPY_FWD0=m0): a module for the segmented state pass only (the launcher passes
    // mode 0): the output code is dead, ~90 instead of 115 registers, compiled with MINB=3 (3 blocks
    // of 256 threads per SM instead of 2; ptxas sm_90: 80 registers, no spills).
    mode = 0;
#endif
#ifdef VIG_EMU
    float* smem = emu_smem();
#else
    extern __shared__ __align__(16) float smem[];
#endif
    const int bh = blockIdx.x, seg = blockIdx.y, vblk = blockIdx.z;
    const int nseg = gridDim.y, nvb = gridDim.z;
    const int b = bh / H, h = bh % H;
    const int tid = threadIdx.x, dir = tid >> 7, lt = tid & (NT - 1);
    const int warp = lt >> 5, lane = tid & 31, g8 = lane >> 2, tg = lane & 3;
    const int s0 = seg * seglen, s1 = min(L, s0 + seglen);
    const int nch = (s1 - s0 + CH - 1) / CH;
    FSmem& D = reinterpret_cast<FSmem*>(smem)[dir];
    float* sO = reinterpret_cast<float*>(reinterpret_cast<FSmem*>(smem) + 2);  // [seglen][OS]
    {
        const unsigned int need = 2u * (unsigned int)sizeof(FSmem) +
                                  (mode == 1 ? (unsigned int)(seglen * OS * 4) : 0u);
        if (dyn_smem_bytes() < need) __trap();  // the launcher's size formula is out of date
    }

    const elem_t* qb = q + b * sqb + h * sqh;
    const elem_t* kb = k + b * skb + h * skh;
    const elem_t* vbp = v + b * svb + h * svh;
    const float* gbase = dir ? (gb + b * sbb + h * sbh) : (gf + b * sfb + h * sfh);
    const long long sgl = dir ? sbl : sfl;
    const int Vp = nvb * VB;
    const int vr = warp * 16;  // this warp's value rows within the block

    // Transposed state slice: S[nt][r] = S^T[vr + g8 + 8*(r>>1)][nt*8 + 2*tg + (r&1)].
    float S[2 * KT][4];
    const long long sbase = (((long long)bh * nseg + seg) * 2 + dir) * (long long)Vp;
#pragma unroll
    for (int nt = 0; nt < 2 * KT; ++nt)
#pragma unroll
        for (int r = 0; r < 4; ++r) {
            float x = 0.f;
            if (mode == 1 && nseg > 1) {
                const int row = vblk * VB + vr + g8 + 8 * (r >> 1);
                x = st[(sbase + row) * KPD + nt * 8 + 2 * tg + (r & 1)];
            }
            S[nt][r] = x;
        }
    if (mode == 1 && (nch & 1)) {
        // The middle chunk is the only one both directions write in the same iteration (red.add
        // onto zeros); every other chunk is stored by its first visitor, added to by its second.
        const int r0 = (nch >> 1) * CH;
        for (int e = tid; e < CH * OS; e += 256)
            if (r0 + e / OS < s1 - s0) sO[r0 * OS + e] = 0.f;
    }
    __syncthreads();

    // Prefetch registers: this thread's share of the next chunk.
    constexpr int QPT = CH * KPD / NT;
    const long long gstep = dir ? -sgl : sgl;
    // v2.3: thread (grp, gch) owns the gates of scan positions grp * TPG + i (i < TPG) of
    // channel gch: its cumsums stay in registers for its own tile elements.
    const int grp = lt / KPD, gch = lt % KPD;
    float pg[TPG];
    auto load_gates = [&](int ci) {
        const int c0 = s0 + ci * CH, n = min(CH, s1 - c0);
#if FWL
        // v2.6: one 64-bit address per chunk (32-bit token index), then one step per position
        const int p0 = grp * TPG;
        const float* gp = gbase + (long long)(dir ? (c0 + n - 1 - p0) : (c0 + p0)) * sgl + gch;
        const bool okc = gch < K;
#pragma unroll
        for (int i = 0; i < TPG; ++i) {
            pg[i] = (p0 + i < n && okc) ? gp[i * gstep] : 0.f;
        }
#else
#pragma unroll
        for (int i = 0; i < TPG; ++i) {
            const int p = grp * TPG + i;
            const long long tok = dir ? (c0 + n - 1 - p) : (c0 + p);
            pg[i] = (p < n && gch < K) ? gbase[tok * sgl + gch] : 0.f;
        }
#endif
    };
#if VEC
    // 16-byte vectors: q then k (CH * KPD / 8 each), then v (CH * VB / 8 = NT): one v vector and
    // (2 * CH * KPD / 8) / NT q/k vectors per thread (threads past the end load none).
    constexpr int QV = CH * KPD / 8, C8 = KPD / 8;
    constexpr int QKPT = (2 * QV + NT - 1) / NT;
    u32x4 pqk[QKPT], pv4;
#if FWL && FL32
    // v30: loop-carried 64-bit pointers of this thread's load slots (q or k row, v row, its
    // first gate), advanced at each load by the distance between the chunks' first scan tokens
    // (32-bit products: the launcher guarantees every input view's element offsets, 16 tokens
    // past either end included, stay below 2^31: _in32); full chunks load without predicates.
    const int tsg = dir ? -1 : 1;
    const int lgs = (int)sgl, dg1 = dir ? -lgs : lgs;
    const float* lg = gbase + gch + (tsg * grp * TPG) * lgs;
    const elem_t* lqk[QKPT];
    int lqs[QKPT], lqp[QKPT];
    bool lqok[QKPT];
#pragma unroll
    for (int i = 0; i < QKPT; ++i) {
        const int e = lt + NT * i;
        const bool isk = e >= QV;
        const int vi = isk ? e - QV : e, c8 = vi % C8;
        lqs[i] = isk ? (int)skl : (int)sql;
        lqp[i] = vi / C8;
        lqok[i] = e < 2 * QV && 8 * c8 < K;
#ifdef FWM0
        lqok[i] = lqok[i] && isk;  // the state pass reads no q (its q tiles are never used)
#endif
        lqk[i] = (isk ? kb : qb) + 8 * c8 + (tsg * lqp[i]) * lqs[i];
    }
    const int lvs = (int)svl;
    const elem_t* lvp = vbp + vblk * VB + 8 * (lt & 7) + (tsg * (lt >> 3)) * lvs;
    const bool lvok = vblk * VB + 8 * (lt & 7) < V;
    // every slot in range for a full chunk: K == KPD, the block's 64 values inside V, and the
    // q / k vectors a multiple of the direction's threads
    const bool fullk = K == KPD && vblk * VB + VB <= V && (2 * QV) % NT == 0;
    int tprev = 0;  // the token the pointers are at (plus their slots' own offsets)
    auto load = [&](int ci) {
        const int c0 = s0 + ci * CH, n = min(CH, s1 - c0);
        const int t0 = dir ? (c0 + n - 1) : c0;
        const int adv = t0 - tprev;
        tprev = t0;
        lg += adv * lgs;
#pragma unroll
        for (int i = 0; i < QKPT; ++i) lqk[i] += adv * lqs[i];
        lvp += adv * lvs;
        if (n == CH && fullk) {  // direction-uniform
#pragma unroll
            for (int i = 0; i < QKPT; ++i)
#ifdef FWM0
                pqk[i] = lqok[i] ? *reinterpret_cast<const u32x4*>(lqk[i]) : u32x4{0u, 0u, 0u, 0u};
#else
                pqk[i] = *reinterpret_cast<const u32x4*>(lqk[i]);
#endif
            pv4 = *reinterpret_cast<const u32x4*>(lvp);
#pragma unroll
            for (int i = 0; i < TPG; ++i) pg[i] = lg[i * dg1];
        } else {
#pragma unroll
            for (int i = 0; i < QKPT; ++i)
                pqk[i] = (lqok[i] && lqp[i] < n) ? *reinterpret_cast<const u32x4*>(lqk[i])
                                                 : u32x4{0u, 0u, 0u, 0u};
            pv4 = (lvok && (lt >> 3) < n) ? *reinterpret_cast<const u32x4*>(lvp)
                                          : u32x4{0u, 0u, 0u, 0u};
            const bool okc = gch < K;
#pragma unroll
            for (int i = 0; i < TPG; ++i) pg[i] = (grp * TPG + i < n && okc) ? lg[i * dg1] : 0.f;
        }
    };
#else
    auto load = [&](int ci) {
        const int c0 = s0 + ci * CH, n = min(CH, s1 - c0);
#if FWL
        // v2.6: 32-bit token indices, one 64 x 32-bit product per address
        const int t0 = dir ? (c0 + n - 1) : c0, tst = dir ? -1 : 1;
#pragma unroll
        for (int i = 0; i < QKPT; ++i) {
            const int e = lt + NT * i;
            const bool isk = e >= QV;
            const int vi = isk ? e - QV : e, p = vi / C8, c8 = vi % C8;
            const bool ok = e < 2 * QV && p < n && 8 * c8 < K;
            const elem_t* src = (isk ? kb : qb) + (long long)(t0 + tst * p) * (isk ? skl : sql);
            pqk[i] = ok ? *reinterpret_cast<const u32x4*>(src + 8 * c8) : u32x4{0u, 0u, 0u, 0u};
        }
        {
            const int p = lt >> 3, c8 = lt & 7, col = vblk * VB + 8 * c8;
            const bool ok = p < n && col < V;
            pv4 = ok ? *reinterpret_cast<const u32x4*>(vbp + (long long)(t0 + tst * p) * svl + col)
                     : u32x4{0u, 0u, 0u, 0u};
        }
#else
        const long long t0 = dir ? (c0 + n - 1) : c0;
        const long long tst = dir ? -1 : 1;
#pragma unroll
        for (int i = 0; i < QKPT; ++i) {
            const int e = lt + NT * i;
            const bool isk = e >= QV;
            const int vi = isk ? e - QV : e, p = vi / C8, c8 = vi % C8;
            const bool ok = e < 2 * QV && p < n && 8 * c8 < K;
            const elem_t* src = isk ? (kb + (t0 + tst * p) * skl) : (qb + (t0 + tst * p) * sql);
            pqk[i] = ok ? *reinterpret_cast<const u32x4*>(src + 8 * c8) : u32x4{0u, 0u, 0u, 0u};
        }
        {
            const int p = lt >> 3, c8 = lt & 7, col = vblk * VB + 8 * c8;
            const bool ok = p < n && col < V;
            pv4 = ok ? *reinterpret_cast<const u32x4*>(vbp + (t0 + tst * p) * svl + col)
                     : u32x4{0u, 0u, 0u, 0u};
        }
#endif
        load_gates(ci);
    };
#endif  // FWL && FL32
    auto stage = [&]() {
#pragma unroll
        for (int i = 0; i < QKPT; ++i) {
            const int e = lt + NT * i;
            if (e < 2 * QV) {
                const bool isk = e >= QV;
                const int vi = isk ? e - QV : e, p = vi / C8, c8 = vi % C8;
                elem_t* dst = isk ? &D.kr[p][8 * c8] : &D.qr[p][8 * c8];
                *reinterpret_cast<u32x4*>(dst) = pqk[i];
            }
        }
        const int p = lt >> 3, c8 = lt & 7;
#if FWL
        *reinterpret_cast<u32x4*>(&D.Vn[p][8 * c8]) = pv4;
#else
        const unsigned int w[4] = {pv4.x, pv4.y, pv4.z, pv4.w};
#pragma unroll
        for (int x = 0; x < 4; ++x) {
            D.VT[8 * c8 + 2 * x][p] = (elem_t)(w[x] & 0xffffu);
            D.VT[8 * c8 + 2 * x + 1][p] = (elem_t)(w[x] >> 16);
        }
#endif
    };
#else
    constexpr int VPT = CH * VB / NT;
    elem_t pq[QPT], pk[QPT], pv[VPT];
    auto load = [&](int ci) {
        const int c0 = s0 + ci * CH, n = min(CH, s1 - c0);
#pragma unroll
        for (int i = 0; i < QPT; ++i) {
            const int e = lt + NT * i, p = e / KPD, ch = e % KPD;
            const bool ok = p < n && ch < K;
            const long long tok = dir ? (c0 + n - 1 - p) : (c0 + p);
            pq[i] = ok ? qb[tok * sql + ch] : (elem_t)0;
            pk[i] = ok ? kb[tok * skl + ch] : (elem_t)0;
        }
#pragma unroll
        for (int i = 0; i < VPT; ++i) {
            const int e = lt + NT * i, p = e / VB, vv = e % VB, col = vblk * VB + vv;
            const bool ok = p < n && col < V;
            const long long tok = dir ? (c0 + n - 1 - p) : (c0 + p);
            pv[i] = ok ? vbp[tok * svl + col] : (elem_t)0;
        }
        load_gates(ci);
    };
    auto stage = [&]() {
#pragma unroll
        for (int i = 0; i < QPT; ++i) {
            const int e = lt + NT * i, p = e / KPD, ch = e % KPD;
            D.qr[p][ch] = pq[i];
            D.kr[p][ch] = pk[i];
        }
#pragma unroll
        for (int i = 0; i < VPT; ++i) {
            const int e = lt + NT * i, p = e / VB, vv = e % VB;
#if FWL
            D.Vn[p][vv] = pv[i];
#else
            D.VT[vv][p] = pv[i];
#endif
        }
    };
#endif
    load(dir ? nch - 1 : 0);
    float gsum = 0.f;
#if FWL && FL32
    // v30: this thread's first output row in a full chunk (scan position 2 tg) and the row step
#if FC3
    // v39: the row part only; a full chunk's rows of this thread all have the swizzle key
    // ((row >> 1) & 3) = tg (forward) or 3 - tg (backward), so its two columns are fixed
    const int orow0 = (dir ? CH - 1 - 2 * tg : 2 * tg) * OS;
    const int okey = (dir ? 3 - tg : tg) << 3;
    const int ocol[2] = {(vr + g8) ^ okey, (vr + g8 + 8) ^ okey};
#else
    const int orow0 = (dir ? CH - 1 - 2 * tg : 2 * tg) * OS + vr + g8;
#endif
    const int ostep = dir ? -OS : OS;
#endif

#if FTR
    // v37: the lanes' ldmatrix row addresses, once (matrix x = lane / 8, row i = lane % 8).
    // Pattern a: channel 8 (x >> 1) + i, token half x & 1 (Qf as A, transposed; Ki as B);
    // pattern b: channel 8 (x & 1) + i, token half x >> 1 (Kf^T, Qi^T as B, transposed); channel
    // tile kk adds 16 kk rows (the swizzle bit (ch >> 2) & 1 does not change).
    const sptr_t sQfA = sptr(trow(D.QfT, 8 * (lane >> 4) + (lane & 7), (lane >> 3) & 1));
    const sptr_t sKfB = sptr(trow(D.KfT, 8 * ((lane >> 3) & 1) + (lane & 7), lane >> 4));
    constexpr int TSZ = KPD * CH;  // elements per tile; QiT, QfT, KfT, KiT are consecutive
    const sptr_t sV = sptr(&D.Vn[(lane & 7) + 8 * (lane >> 4)][vr + 8 * ((lane >> 3) & 1)]);
#endif
    for (int it = 0; it < nch; ++it) {
        const int ci = dir ? nch - 1 - it : it;
        const int c0 = s0 + ci * CH, n = min(CH, s1 - c0);
        // Barriers are block-wide: the two directions run in lockstep, so the other direction's
        // visit of this chunk's output rows (iteration nch - 1 - it) is ordered with this one.
        // Gate cumsums by all threads of the direction: local inclusive sums of the thread's
        // TPG positions; group totals through D.A[grp] (its readers of the previous chunk are
        // past (B)); A_p = earlier groups + local prefix, Bx_p = later groups + local suffix
        // (sums, never differences), the chunk total a = the groups' totals in fixed order.
        float Ar[TPG], Br[TPG];
        {
            float s = 0.f;
#pragma unroll
            for (int i = 0; i < TPG; ++i) {
                s += pg[i];
                Ar[i] = s;
            }
            D.A[grp][gch] = s;
        }
#if FDEC
        // (A), v30: direction-local (each direction's tiles are its own DirSmem), except at step
        // nch / 2: every first visit of an output row in sO comes at a step < nch / 2 and every
        // second one at a step >= nch / 2 (the middle chunk of an odd count: red.add by both onto
        // the zeros stored before the first block barrier), so this one block barrier orders them.
        if (mode == 1 && it == (nch >> 1)) __syncthreads();  // block-uniform branch
        bar_dir_t();
#else
        __syncthreads();  // (A) the previous chunk's readers are done with the tiles
#endif
        stage();
        float a = 0.f, before = 0.f, after = 0.f;
#pragma unroll
        for (int x = 0; x < NGC; ++x) {
            const float t = D.A[x][gch];
            a += t;
            if (x < grp) before += t;
            if (x > grp) after += t;
        }
        {
            float bx = after;
#pragma unroll
            for (int i = TPG - 1; i >= 0; --i) {
                Br[i] = bx;
                bx += pg[i];
            }
#pragma unroll
            for (int i = 0; i < TPG; ++i) {
                Ar[i] += before;
                D.g[grp * TPG + i][gch] = pg[i];
            }
        }
        const float em = FEXP(-0.5f * a);  // exp(-m): the fast path only (a >= -THR)
        if (grp == 0) {
            D.dec[gch] = FEXP(a);
            gsum += a;
        }
        if (warp < NWK) {  // warps 0..NWK-1 cover every channel
            const unsigned int m = __ballot_sync(FULL_MASK, !(a >= -THR));
            if (lane == 0) D.bad[warp] = (m != 0u);
        }
        if (it + 1 < nch) load(dir ? ci - 1 : ci + 1);  // in flight during this chunk
#if FDEC
        bar_dir_t();  // (B)
#else
        __syncthreads();  // (B)
#endif
        bool fast = true;
#pragma unroll
        for (int w = 0; w < NWK; ++w) fast = fast && !D.bad[w];
#if FTR
        {
            // v37: the same values as below; each tile's TPG positions of channel gch in one
            // packed store (TPG == QPT)
            float xki[QPT];
#pragma unroll
            for (int i = 0; i < QPT; ++i) xki[i] = to_f(D.kr[grp * TPG + i][gch]) * FEXP(Br[i]);
            tstore(D.KiT, gch, grp * TPG, xki);
            if (mode == 1) {
                float xqi[QPT], xqf[QPT], xkf[QPT];
#pragma unroll
                for (int i = 0; i < QPT; ++i) {
                    xqi[i] = to_f(D.qr[grp * TPG + i][gch]) * FEXP(Ar[i]);
                    xqf[i] = xqi[i] * em;
                    xkf[i] = xki[i] * em;
                }
                tstore(D.QiT, gch, grp * TPG, xqi);
                if (fast) {
                    tstore(D.QfT, gch, grp * TPG, xqf);
                    tstore(D.KfT, gch, grp * TPG, xkf);
                }
            }
        }
#else
#pragma unroll
        for (int i = 0; i < QPT; ++i) {
            const int p = grp * TPG + i, ch = gch;
            const float Ap = Ar[i];
            const float qv = to_f(D.qr[p][ch]), kv = to_f(D.kr[p][ch]);
            // Two exps per element: Qf = q exp(A_p - m) = Qi exp(-m) and Kf = k exp(m - A_p) =
            // Ki exp(-m) (Bx_p = A_15 - A_p, m = A_15 / 2), products of the fp32 values.
            const float ki = kv * FEXP(Br[i]);
#if FWL
            D.Ki[p][ch] = from_f(ki);
#else
            D.KiT[ch][p] = from_f(ki);
#endif
            if (mode == 1) {
                const float qi = qv * FEXP(Ap);
                D.Qi[p][ch] = from_f(qi);
                if (fast) {
                    D.Qf[p][ch] = from_f(qi * em);
                    D.Kf[p][ch] = from_f(ki * em);
                }
            }
        }
#endif
        if (mode == 1 && !fast) {
            // Exact pairs: thread (j, cg) walks p upward with per-channel running segment sums.
            const int j = lt >> 3, cg = lt & 7;
            constexpr int CPT = KPD / 8;
            float s[CPT], kj[CPT];
#pragma unroll
            for (int i = 0; i < CPT; ++i) {
                s[i] = 0.f;
                kj[i] = to_f(D.kr[j][cg + 8 * i]);
            }
#pragma unroll
            for (int p = 0; p < CH; ++p) {
                float acc = 0.f;
#pragma unroll
                for (int i = 0; i < CPT; ++i) {
                    const int ch = cg + 8 * i;
                    if (p > j) s[i] += D.g[p][ch];
                    if (p >= j) acc = fmaf(to_f(D.qr[p][ch]) * kj[i], FEXP(s[i]), acc);
                }
                acc += __shfl_xor_sync(FULL_MASK, acc, 1);
                acc += __shfl_xor_sync(FULL_MASK, acc, 2);
                acc += __shfl_xor_sync(FULL_MASK, acc, 4);
                if (cg == 0) D.P[p][j] = acc;
            }
        }
#if FDEC
        bar_dir_t();  // (C)
#else
        __syncthreads();  // (C)
#endif

        unsigned int av[4];  // A fragments of V^T (rows vr.., cols j)
#if FWL
        // matrix x = lane / 8: tokens 8 (x >> 1).., values vr + 8 (x & 1)..
#if FTR
        ldsm4t_s(av, sV);
#else
        ldsm4t(av, &D.Vn[(lane & 7) + 8 * (lane >> 4)][vr + 8 * ((lane >> 3) & 1)]);
#endif
#else
        av[0] = ld32(&D.VT[vr + g8][2 * tg]);
        av[1] = ld32(&D.VT[vr + g8 + 8][2 * tg]);
        av[2] = ld32(&D.VT[vr + g8][8 + 2 * tg]);
        av[3] = ld32(&D.VT[vr + g8 + 8][8 + 2 * tg]);
#endif

        if (mode == 1) {
            float P[2][4];
            if (fast) {
#pragma unroll
                for (int jn = 0; jn < 2; ++jn)
#pragma unroll
                    for (int r = 0; r < 4; ++r) P[jn][r] = 0.f;
#if FTR
                // v37: matrix x = lane / 8, row i = lane % 8. A (Qf, tokens x channels): channels
                // 16 kk + 8 (x >> 1) + i, tokens 8 (x & 1).., transposed; B (Kf^T): channels
                // 16 kk + 8 (x & 1) + i, tokens 8 (x >> 1).. (= jn), transposed.
#pragma unroll
                for (int kk = 0; kk < KT; ++kk) {
                    unsigned int aq[4], bq[4];
                    ldsm4t_s(aq, sadd(sQfA, 16 * kk * CH));
                    ldsm4t_s(bq, sadd(sKfB, 16 * kk * CH));
#pragma unroll
                    for (int jn = 0; jn < 2; ++jn) mma16816(P[jn], aq, bq[2 * jn], bq[2 * jn + 1]);
                }
#else
#pragma unroll
                for (int kk = 0; kk < KT; ++kk) {
                    unsigned int aq[4];
                    aq[0] = ld32(&D.Qf[g8][16 * kk + 2 * tg]);
                    aq[1] = ld32(&D.Qf[g8 + 8][16 * kk + 2 * tg]);
                    aq[2] = ld32(&D.Qf[g8][16 * kk + 8 + 2 * tg]);
                    aq[3] = ld32(&D.Qf[g8 + 8][16 * kk + 8 + 2 * tg]);
#pragma unroll
                    for (int jn = 0; jn < 2; ++jn)
                        mma16816(P[jn], aq, ld32(&D.Kf[jn * 8 + g8][16 * kk + 2 * tg]),
                                 ld32(&D.Kf[jn * 8 + g8][16 * kk + 8 + 2 * tg]));
                }
#endif
            } else {
#pragma unroll
                for (int jn = 0; jn < 2; ++jn)
#pragma unroll
                    for (int r = 0; r < 4; ++r)
                        P[jn][r] = D.P[g8 + 8 * (r >> 1)][jn * 8 + 2 * tg + (r & 1)];
            }
            // Scan-order causality: keep pairs j <= p.
#pragma unroll
            for (int jn = 0; jn < 2; ++jn)
#pragma unroll
                for (int r = 0; r < 4; ++r)
                    if (jn * 8 + 2 * tg + (r & 1) > g8 + 8 * (r >> 1)) P[jn][r] = 0.f;

            float Oc[2][4];
#pragma unroll
            for (int tn = 0; tn < 2; ++tn)
#pragma unroll
                for (int r = 0; r < 4; ++r) Oc[tn][r] = 0.f;
            // Inter-chunk: O^T += S^T Qi^T (the state as it entered the chunk).
#pragma unroll
            for (int kk = 0; kk < KT; ++kk) {
                unsigned int as[4];
                as[0] = pack2(S[2 * kk][0], S[2 * kk][1]);
                as[1] = pack2(S[2 * kk][2], S[2 * kk][3]);
                as[2] = pack2(S[2 * kk + 1][0], S[2 * kk + 1][1]);
                as[3] = pack2(S[2 * kk + 1][2], S[2 * kk + 1][3]);
#if FTR
                // v37: B (Qi^T): channels 16 kk + 8 (x & 1) + i, tokens 8 (x >> 1).. (= tn)
                unsigned int bi[4];
                ldsm4t_s(bi, sadd(sKfB, 16 * kk * CH - 2 * TSZ));  // QiT precedes KfT by two tiles
#pragma unroll
                for (int tn = 0; tn < 2; ++tn) mma16816(Oc[tn], as, bi[2 * tn], bi[2 * tn + 1]);
#else
#pragma unroll
                for (int tn = 0; tn < 2; ++tn)
                    mma16816(Oc[tn], as, ld32(&D.Qi[tn * 8 + g8][16 * kk + 2 * tg]),
                             ld32(&D.Qi[tn * 8 + g8][16 * kk + 8 + 2 * tg]));
#endif
            }
            // Intra-chunk: O^T += V^T P^T (P's accumulators are P^T's B fragments).
#pragma unroll
            for (int tn = 0; tn < 2; ++tn)
                mma16816(Oc[tn], av, pack2(P[0][2 * tn], P[0][2 * tn + 1]),
                         pack2(P[1][2 * tn], P[1][2 * tn + 1]));
#if FWL && FL32
            const int other = nch - 1 - it;
            if (n == CH && it != other) {  // direction-uniform
                // v30, full chunks: the thread's 4 rows from one base (p = 2 tg + h2 + 8 tn at
                // row c0 - s0 + p, or + 15 - p backward: a per-thread offset, a signed step),
                // without per-row bounds; the same values, stores and adds as below.
                float* r0 = sO + ((c0 - s0) * OS + orow0);
#if FC3
#define OCOL(r) ocol[(r) >> 1]
#else
#define OCOL(r) (8 * ((r) >> 1))
#endif
                if (it < other) {
#pragma unroll
                    for (int tn = 0; tn < 2; ++tn)
#pragma unroll
                        for (int r = 0; r < 4; ++r)
                            r0[(8 * tn + (r & 1)) * ostep + OCOL(r)] = c * Oc[tn][r];
                } else {
#pragma unroll
                    for (int tn = 0; tn < 2; ++tn)
#pragma unroll
                        for (int r = 0; r < 4; ++r)
                            add_cprod(r0[(8 * tn + (r & 1)) * ostep + OCOL(r)], c, Oc[tn][r]);
                }
#undef OCOL
            } else {
#endif
#if FWL
            // v2.6: the 4 row addresses once, the (warp-uniform) first / second / both-visitors
            // choice once per chunk instead of per element.
            float* rowp[2][2];
            bool okp[2][2];
#if FC3
            int rkey[2][2];  // v39: each row's swizzle key (rowp: the row's start)
#define PCOL(tn, r) (((vr + g8 + 8 * ((r) >> 1)) ^ rkey[tn][(r) & 1]))
#else
#define PCOL(tn, r) (8 * ((r) >> 1))
#endif
#pragma unroll
            for (int tn = 0; tn < 2; ++tn)
#pragma unroll
                for (int h2 = 0; h2 < 2; ++h2) {
                    const int p = tn * 8 + 2 * tg + h2;
                    okp[tn][h2] = p < n;
#if FC3
                    const int row = c0 - s0 + (dir ? n - 1 - p : p);
                    rkey[tn][h2] = osw(row, 0);  // the row's key: col ^ key = osw(row, col)
                    rowp[tn][h2] = sO + row * OS;
#else
                    rowp[tn][h2] = sO + (c0 - s0 + (dir ? n - 1 - p : p)) * OS + vr + g8;
#endif
                }
            const int other = nch - 1 - it;
            if (it < other) {
#pragma unroll
                for (int tn = 0; tn < 2; ++tn)
#pragma unroll
                    for (int r = 0; r < 4; ++r)
                        if (okp[tn][r & 1]) rowp[tn][r & 1][PCOL(tn, r)] = c * Oc[tn][r];
            } else if (it > other) {
#pragma unroll
                for (int tn = 0; tn < 2; ++tn)
#pragma unroll
                    for (int r = 0; r < 4; ++r)
                        if (okp[tn][r & 1]) rowp[tn][r & 1][PCOL(tn, r)] += c * Oc[tn][r];
            } else {
#pragma unroll
                for (int tn = 0; tn < 2; ++tn)
#pragma unroll
                    for (int r = 0; r < 4; ++r)
                        if (okp[tn][r & 1]) atomicAdd(&rowp[tn][r & 1][PCOL(tn, r)], c * Oc[tn][r]);
#undef PCOL
            }
#if FL32
            }  // not a full chunk, or the middle one
#endif
#else
#pragma unroll
            for (int tn = 0; tn < 2; ++tn)
#pragma unroll
                for (int r = 0; r < 4; ++r) {
                    const int p = tn * 8 + 2 * tg + (r & 1);
                    if (p < n) {
                        const int tok = dir ? (c0 + n - 1 - p) : (c0 + p);
                        float* dst = &sO[(tok - s0) * OS + vr + g8 + 8 * (r >> 1)];
                        if (it < nch - 1 - it) *dst = c * Oc[tn][r];
                        else if (it > nch - 1 - it) *dst += c * Oc[tn][r];
                        else atomicAdd(dst, c * Oc[tn][r]);
                    }
                }
#endif
        }
        // State: S^T = S^T diag(exp(A_15)) + V^T Ki.
#if FWL
#pragma unroll
        for (int n2 = 0; n2 < KT; ++n2) {
            // matrix x = lane / 8: tokens 8 (x & 1).., channels 16 n2 + 8 (x >> 1)..: the B
            // fragments of channel tiles 2 n2 (bk[0], bk[1]) and 2 n2 + 1 (bk[2], bk[3])
            unsigned int bk[4];
#if FTR
            // v37 (no transpose): channels 16 n2 + 8 (x >> 1) + i (= h2), tokens 8 (x & 1)..
            ldsm4_s(bk, sadd(sQfA, 16 * n2 * CH + 2 * TSZ));  // KiT follows QfT by two tiles
#else
            ldsm4t(bk, &D.Ki[(lane & 7) + 8 * ((lane >> 3) & 1)][16 * n2 + 8 * (lane >> 4)]);
#endif
#pragma unroll
            for (int h2 = 0; h2 < 2; ++h2) {
                const int nt = 2 * n2 + h2;
                const float d0 = D.dec[nt * 8 + 2 * tg], d1 = D.dec[nt * 8 + 2 * tg + 1];
                S[nt][0] *= d0;
                S[nt][1] *= d1;
                S[nt][2] *= d0;
                S[nt][3] *= d1;
                mma16816(S[nt], av, bk[2 * h2], bk[2 * h2 + 1]);
            }
        }
#else
#pragma unroll
        for (int nt = 0; nt < 2 * KT; ++nt) {
            const float d0 = D.dec[nt * 8 + 2 * tg], d1 = D.dec[nt * 8 + 2 * tg + 1];
            S[nt][0] *= d0;
            S[nt][1] *= d1;
            S[nt][2] *= d0;
            S[nt][3] *= d1;
            mma16816(S[nt], av, ld32(&D.KiT[nt * 8 + g8][2 * tg]),
                     ld32(&D.KiT[nt * 8 + g8][8 + 2 * tg]));
        }
#endif
    }

    if (mode == 0) {
#pragma unroll
        for (int nt = 0; nt < 2 * KT; ++nt)
#pragma unroll
            for (int r = 0; r < 4; ++r) {
                const int row = vblk * VB + vr + g8 + 8 * (r >> 1);
                st[(sbase + row) * KPD + nt * 8 + 2 * tg + (r & 1)] = S[nt][r];
            }
        if (vblk == 0 && lt < KPD)
            gs[(((long long)bh * nseg + seg) * 2 + dir) * KPD + lt] = gsum;
        return;
    }
    __syncthreads();
#if FWL && VEC
    // v2.6: 8 values per thread and step, one 16-byte store (o is contiguous, V % 8 == 0); the
    // two 16-byte shared loads of a lane go in the order that keeps each quarter warp
    // conflict-free (lanes c8 >= 4 read their upper half first).
    {
        elem_t* ob = o + ((long long)b * L * H + h) * V + vblk * VB;
        const long long orow = (long long)H * V;
        for (int e = tid; e < (s1 - s0) * (VB / 8); e += 256) {
            const int t = e >> 3, c8 = e & 7, col = vblk * VB + 8 * c8;
            if (col < V) {
                const int hi = (c8 >> 2) & 1;
#if FC3
                const float* src = &sO[t * OS + osw(t, 8 * c8)];
#else
                const float* src = &sO[t * OS + 8 * c8];
#endif
                const f32x4 x0 = *reinterpret_cast<const f32x4*>(src + 4 * hi);
                const f32x4 x1 = *reinterpret_cast<const f32x4*>(src + 4 - 4 * hi);
                const f32x4 lo4 = hi ? x1 : x0, hi4 = hi ? x0 : x1;
                u32x4 w;
                w.x = pack2(lo4.x, lo4.y);
                w.y = pack2(lo4.z, lo4.w);
                w.z = pack2(hi4.x, hi4.y);
                w.w = pack2(hi4.z, hi4.w);
                *reinterpret_cast<u32x4*>(ob + (s0 + t) * orow + 8 * c8) = w;
            }
        }
    }
#else
    for (int e = tid; e < (s1 - s0) * VB; e += 256) {
        const int t = e / VB, vv = e % VB, col = vblk * VB + vv;
        if (col < V) o[(((long long)b * L + s0 + t) * H + h) * V + col] = from_f(sO[t * OS + vv]);
    }
#endif
}

// The state entering each segment, in place over the segments' local states:
// forward S_in(s+1) = exp(G(s)) S_in(s) + U(s) from S_in(0) = 0; backward mirrored. With
// flip = 1 the order is reversed (the backward pass's gradient state R, which enters a segment
// from the later scan positions). One thread per (b*h, direction, value row, channel).
extern "C" __global__ void __launch_bounds__(256) bigla_tc_scan(
    float* __restrict__ st, const float* __restrict__ gs, int BH, int nseg, int Vp, int flip) {
    const long long total = (long long)BH * 2 * Vp * KPD;
    const long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= total) return;
    const int ch = (int)(e % KPD);
    long long r = e / KPD;
    const int row = (int)(r % Vp);
    r /= Vp;
    const int dir = (int)(r % 2);
    const long long bh = r / 2;
    float S = 0.f;
    for (int i = 0; i < nseg; ++i) {
        const int s = (dir ^ flip) ? nseg - 1 - i : i;
        const long long base = (bh * nseg + s) * 2 + dir;
        const long long idx = (base * Vp + row) * KPD + ch;
        const float u = st[idx];
        st[idx] = S;
        S = fmaf(expf(gs[base * KPD + ch]), S, u);
    }
}

// The same scan with its loads issued ahead of the serial FMA chain (v2.6, VIG_CUPY_SCAN=batched):
// the loop above cannot hoist a load over the previous step's store to the same array, so each
// step waited one full memory round trip (ncu: 122-126 us per launch at ViG-T@1024, 16 segments,
// long_scoreboard 300 cycles per issued instruction). Here batches of SCB segments are loaded into
// registers, double-buffered: batch b + 1 is loaded before batch b's stores and FMAs, so at
// nseg <= 2 SCB every load is in flight at once. Same arithmetic in the same order (bit-identical).
#ifndef SCB
#define SCB 8
#endif
extern "C" __global__ void __launch_bounds__(256, 3) bigla_tc_scan2(
    float* __restrict__ st, const float* __restrict__ gs, int BH, int nseg, int Vp, int flip) {
    const long long total = (long long)BH * 2 * Vp * KPD;
    const long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= total) return;
    const int ch = (int)(e % KPD);
    long long r = e / KPD;
    const int row = (int)(r % Vp);
    r /= Vp;
    const int dir = (int)(r % 2);
    const long long bh = r / 2;
    const bool rev = (dir ^ flip) != 0;
    // segment s: state element at ((bh * nseg + s) * 2 + dir) * Vp * KPD + row * KPD + ch,
    // gate sum at ((bh * nseg + s) * 2 + dir) * KPD + ch
    float* sp = st + ((bh * nseg) * 2 + dir) * (long long)Vp * KPD + (long long)row * KPD + ch;
    const float* gp = gs + ((bh * nseg) * 2 + dir) * (long long)KPD + ch;
    const int sstep = 2 * Vp * KPD, gstep = 2 * KPD;  // 32-bit offsets (registers)
    float ua[SCB], da[SCB], ub[SCB], db[SCB];
    auto load = [&](float (&u)[SCB], float (&d)[SCB], int i0) {
#pragma unroll
        for (int j = 0; j < SCB; ++j) {
            const int i = i0 + j;
            const int s = rev ? nseg - 1 - i : i;
            u[j] = 0.f;
            d[j] = 0.f;
            if (i < nseg) {
                u[j] = sp[s * sstep];
                d[j] = gp[s * gstep];
            }
        }
    };
    float S = 0.f;
    auto step = [&](const float (&u)[SCB], const float (&d)[SCB], int i0) {
#pragma unroll
        for (int j = 0; j < SCB; ++j) {
            const int i = i0 + j;
            if (i < nseg) {
                const int s = rev ? nseg - 1 - i : i;
                sp[s * sstep] = S;
                S = fmaf(expf(d[j]), S, u[j]);
            }
        }
    };
    load(ua, da, 0);
    for (int i0 = 0; i0 < nseg; i0 += 2 * SCB) {
        if (i0 + SCB < nseg) load(ub, db, i0 + SCB);
        step(ua, da, i0);
        if (i0 + SCB < nseg) {
            if (i0 + 2 * SCB < nseg) load(ua, da, i0 + 2 * SCB);
            step(ub, db, i0 + SCB);
        }
    }
}

// =============================================================================================
// Chunked tensor-core backward (fp16 / bf16; one block per (b, h) and segment of <= 256 tokens,
// segments as described in NOTES.md; K <= 32, V <= 64; 16-byte aligned q, k, v, do). See NOTES.md ("chunked backward"). Per direction, in scan order,
// with dP[p, j] = do_p . v_j (the scale c is applied to every result at the end):
//   pass 1 (chunks in scan order, state S = sum k v^T, rows = channels):
//     dq_p = exp(A_p) (S_in do_p) + sum_{j<p} dP[p, j] k_j exp(A_p - A_j) + dP[p, p] k_p
//   pass 2 (chunks in reverse scan order, R = sum q do^T, kept transposed as in the forward):
//     dk_j = exp(Bx_j) (R_out v_j) + sum_{p>j} dP[p, j] q_p exp(A_p - A_j) + dP[j, j] q_j
//     dv_j = R_out^T Ki_j + sum_{p>=j} P[p, j] do_p
//   gates: dg_i = sum_{p>=i} (q_p dq'_p - k_p dk'_p) (the primes: without the diagonal pairs,
//     which cancel exactly in the identity and would only leave rounding residue), a suffix sum
//     carried across the chunks of pass 2; the first scan token's gate gradient is exactly 0.
// Gradients of the two directions meet in fp32 global buffers (dq, dk, dv returned in fp32):
// the two directions run in lockstep, so the first visitor of a chunk stores and the second adds
// (the middle chunk of an odd count: red.add onto zeros).
#if KT <= 2
#ifndef BW4
#define BW4 0  // 1: the v2.4 backward (balanced warps, parallel cumsums; VIG_CUPY_BWD=v24)
#endif
// BW4 = 7 (VIG_CUPY_BWD=v29, session 6): v26p (BW4 = 4) whose chunk-step barriers (A) and (B) and
// the pass boundary are direction-local (named barriers 1 / 2, 128 threads): the two directions
// share no shared memory (each has its own BwdSmem), only the global dq / dk / dv rows they meet
// in, whose first-store / second-add order needs ONE block barrier per pass, between the last
// first-visitor step (nch / 2 - 1) and the first second-visitor step (nch - nch / 2): it is
// (A) of step nch / 2. Same arithmetic, same order: gradients bit-identical to v26p.
// BW4 = 9 (VIG_CUPY_BWD=v29r, session 7): v29q with fewer address / branch instructions: (1) the
// chunk loads (load(): q, k, v, dO rows and the thread's own gates / q / k elements, both passes)
// address in 32-bit element offsets from the kernel's pointer arguments instead of 64-bit products
// of the long long strides (the launcher takes it only when every input view's elements lie below
// 2^31 of its data pointer, else v29q); (2) the dq, dv and dk epilogues of a full chunk (n = CH,
// K = KPD, V = VB) compute their values first and store them from one 32-bit base without
// per-element bounds, one (warp-uniform) first / second visitor branch for all of them. Same
// loads, same values, same stores: gradients bit-identical to v29q.
// BW4 = 10 / 11 (VIG_CUPY_BWD=v31 / v31q, session 9): v29r / v29q whose pass-2 dg flush leaves the
// critical path: between (A) and (B) one warp of each direction (the fl threads, a helper warp)
// stored the previous chunk's 16 dg rows itself (~170 instructions: per row a token index, bounds,
// an address, a select, an STG) while the other three warps waited for it at (B). With DGF it only
// carries the suffix sums (the same additions in the same order) into shared memory (D.Bx, unused
// by every BW4 >= 1 variant), and the threads outside the channel warps store the rows at the top
// of the next chunk step, before its (A), while the channel warps still run the dk epilogue (the
// helpers wait for them at (A) anyway). Same values, same stores: gradients bit-identical to
// v29r / v29q.
// (Session 9 also tried BW4 = 12 - 17, v32 / v32q (DQS: pass 1's dq epilogue on all four warps),
// v33 / v33q (DQS + CPA: pass 2's next-chunk rows through cp.async into landing tiles) and v34 /
// v34q (CPA alone): proven on the H100, none faster than v31; removed, last in commit fdf897e.)
#if BW4 == 4 || (BW4 >= 7 && BW4 <= 11)
#define BW4P 1         // v2.6p fragment packing (pass 2's Qi / Qf from 16-bit loads)
#else
#define BW4P 0
#endif
#if BW4 >= 8 && BW4 <= 11
#define YQP 1          // v29q: pass 2's yq loads issued at the top of the chunk step
#else
#define YQP 0
#endif
#if BW4 == 9 || BW4 == 10
#define LD32 1         // v29r: 32-bit offsets in load(), full-chunk epilogues
#else
#define LD32 0
#endif
#if BW4 >= 10 && BW4 <= 11
#define DGF 1          // v31: pass 2's dg rows stored by the non-channel warps, off the (A) - (B) path
#else
#define DGF 0
#endif
// O16 = 1 (VIG_CUPY_BWD=v36 / v36q, session 10 round 2, with BW4 = 10 / 11): the chunk steps are
// v31's / v31q's unchanged (each chunk's first visitor stores its fp32 partial, the second red.adds
// into the fp32 workspace dq / dk / dv); after a block barrier at the end of the kernel, all 256
// threads read every fp32 dq / dk / dv row this block wrote (its segment's tokens, L2-hot,
// ld.global.cg) and store it rounded once (cvt.rn) in the inputs' dtype into dq16 / dk16 / dv16
// (the backend returns those; no cast kernel after the backward), 16-byte loads and stores (K, V
// are multiples of 8 wherever the chunked backward runs). Gradients: v31's / v31q's fp32 values rounded
// once, exactly what v31 + the launcher's cast returned; dg unchanged. (Round 1's v35 / v35q, the
// second visitor's store in 16 bits through cp.async landing tiles, lost 44 us in the kernel at
// ViG-S@224 to save a 39 us cast: removed.)
#ifndef O16
#define O16 0
#endif
#if O16 && !DGF
#error "O16 is built on v31 / v31q (BW4 = 10 / 11)"
#endif
#if O16 && DTYPE == 0
#error "O16: 16-bit inputs only (the chunked backward's dtypes)"
#endif
#if O16
// 8 consecutive fp32 values from L2 (32-byte aligned: two 16-byte ld.global.cg: no L1 line, which
// the red.adds, performed in L2, would not have updated; __syncthreads before them is a compiler
// memory barrier) / stored rounded once as one 16-byte vector of 16-bit values; the conversion
// issues all loads of a round before its stores (ptxas keeps these strong loads behind earlier
// stores: the memory-level parallelism is the source order's)
struct f32x8 { f32x4 a, b; };
__device__ __forceinline__ f32x8 ld8(const float* __restrict__ s) {
#ifdef VIG_EMU
    return f32x8{*reinterpret_cast<const f32x4*>(s), *reinterpret_cast<const f32x4*>(s + 4)};
#else
    const float4 a = __ldcg(reinterpret_cast<const float4*>(s));
    const float4 b = __ldcg(reinterpret_cast<const float4*>(s + 4));
    return f32x8{f32x4{a.x, a.y, a.z, a.w}, f32x4{b.x, b.y, b.z, b.w}};
#endif
}
__device__ __forceinline__ void st8(elem_t* __restrict__ d, const f32x8& x) {
    *reinterpret_cast<u32x4*>(d) = u32x4{pack2(x.a.x, x.a.y), pack2(x.a.z, x.a.w),
                                         pack2(x.b.x, x.b.y), pack2(x.b.z, x.b.w)};
}
#endif
#if LD32
// v29r's full-chunk epilogues (dq, dk, dv): a thread's 2 x 4 mma fragment of a gradient, rows
// 8 t + 2 tg + (r & 1) of row stride s (negative in the backward direction), columns 8 (r >> 1)
// from base, times c when SCALED; the chunk's first visitor stores, the second adds (one
// warp-uniform branch for all 8)
template <bool SCALED>
__device__ __forceinline__ void put_frag(float* __restrict__ g, int base, int s, int tg,
                                         const float (&v)[2][4], float c, bool first) {
    if (first) {
#pragma unroll
        for (int t = 0; t < 2; ++t)
#pragma unroll
            for (int r = 0; r < 4; ++r)
                g[base + (t * 8 + 2 * tg + (r & 1)) * s + 8 * (r >> 1)] = SCALED ? c * v[t][r] : v[t][r];
    } else {
#pragma unroll
        for (int t = 0; t < 2; ++t)
#pragma unroll
            for (int r = 0; r < 4; ++r)
                atomicAdd(&g[base + (t * 8 + 2 * tg + (r & 1)) * s + 8 * (r >> 1)],
                          SCALED ? c * v[t][r] : v[t][r]);
    }
}
#endif
#if BW4 >= 7 && BW4 <= 11
#define BDEC 1         // direction-local chunk-step barriers (v29)
#define BAR_DIR() bar_dir_t()
#else
#define BDEC 0
#define BAR_DIR() bar_dir(dir)
#endif
#if BW4 >= 3
#define BEXP fexp      // the v2.6 backwards
#else
#define BEXP __expf
#endif
#define VST (VB + 8)  // row stride of the [token][value] tiles (conflict-free fragment loads)
#if BW4 >= 3
#define FP (KPD + 4)  // row stride of the fp32 [token][channel] tiles (v2.6)
#else
#define FP KPD
#endif
struct BwdSmem {
    float g[CH][KPD], A[CH][KPD], Bx[CH][KPD];
    // (v2.6, BW4 = 3: rows padded to KPD + 4 floats, so that the mma-layout accesses (8 rows x
    // 4 columns per instruction) hit 32 banks instead of 8)
    float E1[CH][FP];  // pass 1: exp(A_p);      pass 2: exp(Bx_j)
    float E2[CH][FP];  // pass 1: exp(A_p - m);  pass 2: exp(m - A_j)   (fast path)
    float X[CH][FP];   // exact path: the intra-chunk dq (pass 1) / dk (pass 2), final
    float Y[CH][FP];   // pass 2: this chunk's gate-gradient terms
    float P[CH][CH];    // pass 2, exact path: pairs P[p][j]
    float dpd[CH];      // dP[p][p]
    float dec[KPD], mid[KPD];
    int bad[4];
    elem_t qr[CH][QS], kr[CH][QS];
    elem_t Vr[CH][VST], dOr[CH][VST];
#if BW4 >= 3
    // v2.6: token-major, read by ldmatrix.trans (16-bit stores along channels: conflict-free)
    elem_t N1[CH][QS];   // pass 1: Ki      pass 2: Qi
    elem_t N2[CH][QS];   // pass 1: Kf      (pass 2: Qf is R1)
#else
    elem_t VT[VB][TS], dOT[VB][TS];
    elem_t T1[KPD][TS];  // pass 1: Ki^T   pass 2: Qi^T
    elem_t T2[KPD][TS];  // pass 1: Kf^T   pass 2: Qf^T
#endif
    elem_t R1[CH][QS];   // pass 2: Qf
    elem_t R2[CH][QS];   // pass 2: Kf
    elem_t R3[CH][QS];   // pass 2: Ki
    elem_t sR[KPD][VST];  // pass 2: R_out (channels x values)
};

extern "C" __global__ void __launch_bounds__(256, 2) bigla_tc_bwd(
    const elem_t* __restrict__ q, const elem_t* __restrict__ k, const elem_t* __restrict__ v,
    const float* __restrict__ gf, const float* __restrict__ gb, const elem_t* __restrict__ dO,
    float* __restrict__ dq, float* __restrict__ dk, float* __restrict__ dv,  // [B, L, H, *]
#if O16
    elem_t* __restrict__ dq16, elem_t* __restrict__ dk16, elem_t* __restrict__ dv16,  // same layout
#endif
    float* __restrict__ dgf, float* __restrict__ dgb,                         // [B, L, H, K]
    float* __restrict__ yq,                                                    // [2, B*H, L, KPD]
    const float* __restrict__ sts,  // [B*H, NSEG, 2, VB, KPD] S entering each segment (NSEG > 1)
    float* __restrict__ str,        // same: R entering each segment from later scan positions
    float* __restrict__ ytot,       // [B*H, NSEG, 2, KPD] each segment's sum of gate terms
    int B, int L, int H, int K, int V,
    long long sqb, long long sql, long long sqh,
    long long skb, long long skl, long long skh,
    long long svb, long long svl, long long svh,
    long long sfb, long long sfl, long long sfh,
    long long sbb, long long sbl, long long sbh,
    long long sob, long long sol, long long soh,
    float c, int seglen, int mode) {
#ifdef VIG_EMU
    float* smem = emu_smem();
#else
    extern __shared__ __align__(16) float smem[];
#endif
    // mode 1: the gradients of segment blockIdx.y; mode 0 (NSEG > 1): only R's local part
    // (the pass-2 recurrence from zero) of the segment, written to str.
    const int bh = blockIdx.x, seg = blockIdx.y, nseg = gridDim.y;
    const int b = bh / H, h = bh % H;
    const int tid = threadIdx.x, dir = tid >> 7, lt = tid & (NT - 1);
    const int warp = lt >> 5, lane = tid & 31, g8 = lane >> 2, tg = lane & 3;
    const int s0 = seg * seglen, s1 = min(L, s0 + seglen);
    const int nch = (s1 - s0 + CH - 1) / CH;
    const long long sbase = (((long long)bh * nseg + seg) * 2 + dir) * (long long)VB;
    BwdSmem& D = reinterpret_cast<BwdSmem*>(smem)[dir];
    if (dyn_smem_bytes() < 2u * (unsigned int)sizeof(BwdSmem)) __trap();

    const elem_t* qb = q + b * sqb + h * sqh;
    const elem_t* kb = k + b * skb + h * skh;
    const elem_t* vbp = v + b * svb + h * svh;
    const elem_t* ob = dO + b * sob + h * soh;
    const float* gbase = dir ? (gb + b * sbb + h * sbh) : (gf + b * sfb + h * sfh);
    float* dgo = dir ? dgb : dgf;
    const long long sgl = dir ? sbl : sfl;
    const long long gstep = dir ? -sgl : sgl;
    const long long rowK = (long long)H * K, rowV = (long long)H * V;  // token strides of outputs
    float* dqb = dq + (long long)b * L * rowK + (long long)h * K;
    float* dkb = dk + (long long)b * L * rowK + (long long)h * K;
    float* dvb = dv + (long long)b * L * rowV + (long long)h * V;
    float* dgb_ = dgo + (long long)b * L * rowK + (long long)h * K;
    float* yqb = yq + ((long long)dir * B * H + bh) * (long long)L * KPD;
#if BW4 >= 3
    // v2.6: 32-bit element offsets from the kernel's pointer arguments (the launcher takes this
    // variant only when every buffer has fewer than 2^31 elements): at the 128-register cap
    // ptxas rematerialized the 64-bit per-block bases above for every element (~40 instructions
    // per gradient element in the dq / dk / dv epilogues).
    const int rowKi = H * K, rowVi = H * V;
    const int oqk = b * L * rowKi + h * K, ovv = b * L * rowVi + h * V;
    const int oyq = (dir * B * H + bh) * L * KPD;
#define GYQ(t, ch) yq[oyq + (t) * KPD + (ch)]
#define GDQ(t, ch) dq[oqk + (t) * rowKi + (ch)]
#define GDK(t, ch) dk[oqk + (t) * rowKi + (ch)]
#define GDV(t, vv) dv[ovv + (t) * rowVi + (vv)]
#define GDG(t, ch) dgo[oqk + (t) * rowKi + (ch)]
#else
#define GYQ(t, ch) yqb[(long long)(t) * KPD + (ch)]
#define GDQ(t, ch) dqb[(t) * rowK + (ch)]
#define GDK(t, ch) dkb[(t) * rowK + (ch)]
#define GDV(t, vv) dvb[(t) * rowV + (vv)]
#define GDG(t, ch) dgb_[(t) * rowK + (ch)]
#endif
    const int vr = warp * 16;
#if BW4
    // v2.4: the channel-tile warps (dq, dk, state S) are warps 0..KT-1 of the forward direction
    // and 4-KT..3 of the backward one, so that both directions' heavy warps do not share the
    // schedulers (hardware warp % 4); the other direction-local warps are the helpers that
    // compute the fast path's intra-chunk products (dP, then Kf^T dP^T / Qf^T dP) into D.X.
    const int kw0 = dir ? 4 - KT : 0, hw0 = dir ? 0 : 4 - KT;
    const bool kw = warp >= kw0 && warp < kw0 + KT;
    const bool hw = warp >= hw0 && warp < hw0 + KT;
    const int mt = kw ? warp - kw0 : warp - hw0;  // this warp's channel tile (kw or helper)
#else
    const bool kw = warp < KT;  // the warps that own a 16-channel tile (dq, dk, state S)
    const int mt = warp;
#endif

    // Zero the middle chunk's rows (the one both directions add to in the same step).
    if (mode == 1 && (nch & 1)) {
        const int r0 = s0 + (nch >> 1) * CH, nr = min(CH, s1 - r0);
        for (int e = tid; e < nr * K; e += 256) {
            const int t = r0 + e / K, ch = e % K;
            dqb[t * rowK + ch] = 0.f;
            dkb[t * rowK + ch] = 0.f;
        }
        for (int e = tid; e < nr * V; e += 256) dvb[(r0 + e / V) * rowV + e % V] = 0.f;
    }

    // ---- staging (16-byte loads; K, V multiples of 8) ----
    constexpr int QPT = CH * KPD / NT;
    constexpr int QV = CH * KPD / 8, C8 = KPD / 8;
    constexpr int QKPT = (2 * QV + NT - 1) / NT;
    u32x4 pqk[QKPT], pv4, po4;
#if BW4
    // v2.4: thread (grp, gch) owns the gates of scan positions grp * TPG + i of channel gch.
    const int grp = lt / KPD, gch = lt % KPD;
    float pg[TPG];
    // and its own q, k elements (the elementwise tiles before (B)), two 16-bit values a register
    unsigned int pq1[(TPG + 1) / 2], pk1[(TPG + 1) / 2];
    auto el = [](const unsigned int (&w)[(TPG + 1) / 2], int i) {
        return to_f((elem_t)((i & 1) ? (w[i >> 1] >> 16) : (w[i >> 1] & 0xffffu)));
    };
#else
    float pg[CH];
#endif
#if LD32
    // v29r: 32-bit element offsets (the launcher guarantees every input view's element offsets,
    // 16 tokens past either end included, stay below 2^31); the per-thread parts are the same
    // in every chunk, the chunk enters through t0 only.
    const int oq32 = b * (int)sqb + h * (int)sqh, ok32 = b * (int)skb + h * (int)skh;
    const int ov32 = b * (int)svb + h * (int)svh, oo32 = b * (int)sob + h * (int)soh;
    const float* gptr = dir ? gb : gf;
    const int og32 = dir ? (b * (int)sbb + h * (int)sbh) : (b * (int)sfb + h * (int)sfh);
    const int sgl32 = (int)sgl;
    auto load = [&](int ci) {
        const int c0 = s0 + ci * CH, n = min(CH, s1 - c0);
        const int t0 = dir ? (c0 + n - 1) : c0;
        const int tst = dir ? -1 : 1;
#pragma unroll
        for (int i = 0; i < QKPT; ++i) {
            const int e = lt + NT * i;
            const bool isk = e >= QV;
            const int vi = isk ? e - QV : e, p = vi / C8, c8 = vi % C8;
            const bool ok = e < 2 * QV && p < n && 8 * c8 < K;
            const int tok = t0 + tst * p;
            const elem_t* src = isk ? (k + (ok32 + tok * (int)skl + 8 * c8))
                                    : (q + (oq32 + tok * (int)sql + 8 * c8));
            pqk[i] = ok ? *reinterpret_cast<const u32x4*>(src) : u32x4{0u, 0u, 0u, 0u};
        }
        {
            const int p = lt >> 3, c8 = lt & 7;
            const bool ok = p < n && 8 * c8 < V;
            const int tok = t0 + tst * p;
            pv4 = ok ? *reinterpret_cast<const u32x4*>(v + (ov32 + tok * (int)svl + 8 * c8))
                     : u32x4{0u, 0u, 0u, 0u};
            po4 = ok ? *reinterpret_cast<const u32x4*>(dO + (oo32 + tok * (int)sol + 8 * c8))
                     : u32x4{0u, 0u, 0u, 0u};
        }
#pragma unroll
        for (int i = 0; i < (TPG + 1) / 2; ++i) pq1[i] = pk1[i] = 0u;
        const int tb = t0 + tst * (grp * TPG);  // this thread's first scan position's token
        const int bq = oq32 + tb * (int)sql + gch, bk = ok32 + tb * (int)skl + gch;
        const int bg = og32 + tb * sgl32 + gch;
        const int dq1 = dir ? -(int)sql : (int)sql, dk1 = dir ? -(int)skl : (int)skl;
        const int dg1 = dir ? -sgl32 : sgl32;
#pragma unroll
        for (int i = 0; i < TPG; ++i) {
            const int p = grp * TPG + i;
            const bool ok = p < n && gch < K;
            pg[i] = ok ? gptr[bg + i * dg1] : 0.f;
            const unsigned int qx = ok ? (unsigned int)q[bq + i * dq1] : 0u;
            const unsigned int kx = ok ? (unsigned int)k[bk + i * dk1] : 0u;
            pq1[i >> 1] |= (i & 1) ? (qx << 16) : qx;
            pk1[i >> 1] |= (i & 1) ? (kx << 16) : kx;
        }
    };
#else
    auto load = [&](int ci) {
        const int c0 = s0 + ci * CH, n = min(CH, s1 - c0);
        const long long t0 = dir ? (c0 + n - 1) : c0;
        const long long tst = dir ? -1 : 1;
#pragma unroll
        for (int i = 0; i < QKPT; ++i) {
            const int e = lt + NT * i;
            const bool isk = e >= QV;
            const int vi = isk ? e - QV : e, p = vi / C8, c8 = vi % C8;
            const bool ok = e < 2 * QV && p < n && 8 * c8 < K;
            const elem_t* src = isk ? (kb + (t0 + tst * p) * skl) : (qb + (t0 + tst * p) * sql);
            pqk[i] = ok ? *reinterpret_cast<const u32x4*>(src + 8 * c8) : u32x4{0u, 0u, 0u, 0u};
        }
        {
            const int p = lt >> 3, c8 = lt & 7;
            const bool ok = p < n && 8 * c8 < V;
            const long long tok = t0 + tst * p;
            pv4 = ok ? *reinterpret_cast<const u32x4*>(vbp + tok * svl + 8 * c8) : u32x4{0u, 0u, 0u, 0u};
            po4 = ok ? *reinterpret_cast<const u32x4*>(ob + tok * sol + 8 * c8) : u32x4{0u, 0u, 0u, 0u};
        }
#if BW4
#pragma unroll
        for (int i = 0; i < (TPG + 1) / 2; ++i) pq1[i] = pk1[i] = 0u;
#pragma unroll
        for (int i = 0; i < TPG; ++i) {
            const int p = grp * TPG + i;
            const bool ok = p < n && gch < K;
            const long long tok = t0 + tst * p;
            pg[i] = ok ? gbase[tok * sgl + gch] : 0.f;
            const unsigned int qx = ok ? (unsigned int)qb[tok * sql + gch] : 0u;
            const unsigned int kx = ok ? (unsigned int)kb[tok * skl + gch] : 0u;
            pq1[i >> 1] |= (i & 1) ? (qx << 16) : qx;
            pk1[i >> 1] |= (i & 1) ? (kx << 16) : kx;
        }
#else
        if (lt < KPD) {
            const float* gp = gbase + t0 * sgl + lt;
            const bool okc = lt < K;
#pragma unroll
            for (int p = 0; p < CH; ++p) pg[p] = (okc && p < n) ? gp[p * gstep] : 0.f;
        }
#endif
    };
#endif  // LD32
    // Stores the prefetched chunk and its cumulative gate sums; returns the chunk total.
    auto stage = [&]() -> float {
#pragma unroll
        for (int i = 0; i < QKPT; ++i) {
            const int e = lt + NT * i;
            if (e < 2 * QV) {
                const bool isk = e >= QV;
                const int vi = isk ? e - QV : e, p = vi / C8, c8 = vi % C8;
                elem_t* dst = isk ? &D.kr[p][8 * c8] : &D.qr[p][8 * c8];
                *reinterpret_cast<u32x4*>(dst) = pqk[i];
            }
        }
        {
            const int p = lt >> 3, c8 = lt & 7;
            *reinterpret_cast<u32x4*>(&D.Vr[p][8 * c8]) = pv4;
            *reinterpret_cast<u32x4*>(&D.dOr[p][8 * c8]) = po4;
            const unsigned int wv[4] = {pv4.x, pv4.y, pv4.z, pv4.w};
            const unsigned int wo[4] = {po4.x, po4.y, po4.z, po4.w};
#if BW4 < 2  // v2.5: no transposed copies (ldmatrix.trans reads Vr / dOr instead)
#pragma unroll
            for (int x = 0; x < 4; ++x) {
                D.VT[8 * c8 + 2 * x][p] = (elem_t)(wv[x] & 0xffffu);
                D.VT[8 * c8 + 2 * x + 1][p] = (elem_t)(wv[x] >> 16);
                D.dOT[8 * c8 + 2 * x][p] = (elem_t)(wo[x] & 0xffffu);
                D.dOT[8 * c8 + 2 * x + 1][p] = (elem_t)(wo[x] >> 16);
            }
#endif
#if BW4
            // v2.4: dP[p][p] (raw do . v) from the staged registers: this thread holds values
            // 8 c8 .. 8 c8 + 7 of token p of both; 8 consecutive lanes per token.
            float sd = 0.f;
#pragma unroll
            for (int x = 0; x < 4; ++x) {
                sd = fmaf(to_f((elem_t)(wo[x] & 0xffffu)), to_f((elem_t)(wv[x] & 0xffffu)), sd);
                sd = fmaf(to_f((elem_t)(wo[x] >> 16)), to_f((elem_t)(wv[x] >> 16)), sd);
            }
            sd += __shfl_xor_sync(FULL_MASK, sd, 1);
            sd += __shfl_xor_sync(FULL_MASK, sd, 2);
            sd += __shfl_xor_sync(FULL_MASK, sd, 4);
            if (c8 == 0) D.dpd[p] = sd;
#endif
        }
        float a = 0.f;
#if !BW4
        if (lt < KPD) {
#pragma unroll
            for (int p = 0; p < CH; ++p) {
                a += pg[p];
                D.A[p][lt] = a;
                D.g[p][lt] = pg[p];
            }
            float bx = 0.f;
#pragma unroll
            for (int p = CH - 1; p >= 0; --p) {
                D.Bx[p][lt] = bx;
                bx += pg[p];
            }
            D.dec[lt] = __expf(a);
            D.mid[lt] = __expf(-0.5f * a);  // exp(-m): the fast path only (a >= -THR)
        }
        if (warp < NWK) {
            const bool badc = lt < KPD && !(a >= -THR);
            const unsigned int m = __ballot_sync(FULL_MASK, badc);
            if (lane == 0) D.bad[warp] = (m != 0u);
        }
#endif
        return a;
    };
#if BW4
    // v2.4 gate cumsums (as the forward's v2.3): before barrier (A), each thread's local
    // inclusive sums and its group total (in D.A[grp], free once the previous chunk is past
    // (B)); after (A), A_p = earlier groups + local prefix, Bx_p = later groups + local suffix
    // (sums, never differences), the chunk total = the group totals in a fixed order (every
    // thread of a channel gets the same bits). Must run before load() refills pg.
    auto gates_pre = [&](float (&Ar)[TPG]) {
        float s = 0.f;
#pragma unroll
        for (int i = 0; i < TPG; ++i) {
            s += pg[i];
            Ar[i] = s;
        }
        D.A[grp][gch] = s;
    };
    // Returns `fast` (every channel's chunk total >= -THR), the same in every warp of the
    // direction: each warp's lanes cover every channel (KPD = 32: one group; 16: two).
    auto gates_post = [&](float (&Ar)[TPG], float (&Br)[TPG], float& em) -> bool {
        float a = 0.f, before = 0.f, after = 0.f;
#pragma unroll
        for (int x = 0; x < NGC; ++x) {
            const float t = D.A[x][gch];
            a += t;
            if (x < grp) before += t;
            if (x > grp) after += t;
        }
        float bx = after;
#pragma unroll
        for (int i = TPG - 1; i >= 0; --i) {
            Br[i] = bx;
            bx += pg[i];
        }
#pragma unroll
        for (int i = 0; i < TPG; ++i) {
            Ar[i] += before;
            D.g[grp * TPG + i][gch] = pg[i];
        }
        em = BEXP(-0.5f * a);  // exp(-m): the fast path only (a >= -THR)
        if (grp == 0) D.dec[gch] = BEXP(a);
        static_assert(KPD <= 32, "a warp must cover every channel");
        return __ballot_sync(FULL_MASK, !(a >= -THR)) == 0u;
    };
#endif
    auto is_fast = [&]() {
        bool f = true;
#pragma unroll
        for (int w = 0; w < NWK; ++w) f = f && !D.bad[w];
        return f;
    };
    // dP[p][p] (raw do . v), one thread per p.
    auto diag_dp = [&]() {
        if (lt < CH) {
            float s = 0.f;
#pragma unroll 8
            for (int x = 0; x < VB; ++x) s = fmaf(to_f(D.dOr[lt][x]), to_f(D.Vr[lt][x]), s);
            D.dpd[lt] = s;
        }
    };
    // dP[p][j] for the 8 lanes (consecutive) of one group: each sums 8 values, then a reduction.
    auto coop_dp = [&](int p, int j, int cg) {
        float s = 0.f;
#pragma unroll
        for (int x = 0; x < 8; ++x) s = fmaf(to_f(D.dOr[p][8 * cg + x]), to_f(D.Vr[j][8 * cg + x]), s);
        s += __shfl_xor_sync(FULL_MASK, s, 1);
        s += __shfl_xor_sync(FULL_MASK, s, 2);
        s += __shfl_xor_sync(FULL_MASK, s, 4);
        return s;
    };
    // Adds val into a gradient buffer of both directions (first visitor stores, second adds).
    // v2.3: the second visitor's add is a fire-and-forget red.global.add (no load on the
    // critical path; the first visitor's store is ordered before it by the block barriers).
    auto put = [&](float* dst, float val, int it) {
        if (it < nch - 1 - it) *dst = val;
        else atomicAdd(dst, val);
    };
    __syncthreads();

#if BW4
    // =========================== pass 1: dq (chunks in scan order) ===========================
    // v2.4: per chunk, two block barriers instead of three. Between (A) and (B): the tiles, the
    // gate cumsums by all 128 threads of the direction (thread (grp, gch): scan positions
    // grp * TPG + i of channel gch, in registers), dP's diagonal from the staging registers, and
    // the elementwise tiles from the thread's own q, k, gates (registers: nothing to wait for).
    // After (B): the exact path (if any) into D.X, or the helper warps compute the fast path's
    // intra-chunk dq (dP, Kf^T dP^T) into D.X while the channel warps compute the inter-chunk
    // part (S_in do^T) and update S; a direction-local barrier; the channel warps write dq.
    float S[8][4];  // S[ch = 16 mt + g8 + 8 (r >> 1)][v = nt * 8 + 2 tg + (r & 1)] (kw warps)
#pragma unroll
    for (int nt = 0; nt < 8; ++nt)
#pragma unroll
        for (int r = 0; r < 4; ++r)
            S[nt][r] = (nseg > 1 && kw)
                ? sts[(sbase + nt * 8 + 2 * tg + (r & 1)) * KPD + 16 * mt + g8 + 8 * (r >> 1)]
                : 0.f;
    if (mode == 1) load(dir ? nch - 1 : 0);
    for (int it = 0; it < (mode == 1 ? nch : 0); ++it) {
        const int ci = dir ? nch - 1 - it : it;
        const int c0 = s0 + ci * CH, n = min(CH, s1 - c0);
        float Ar[TPG], Br[TPG], em;
        gates_pre(Ar);
#if BDEC
        // (A): direction-local, except at step nch / 2 (the dq rows' first / second visitors)
        if (it == (nch >> 1)) __syncthreads();  // block-uniform branch
        BAR_DIR();
#else
        __syncthreads();  // (A)
#endif
        stage();
        const bool fast = gates_post(Ar, Br, em);
        // The elementwise tiles from this thread's own registers (before (B): no third barrier).
#pragma unroll
        for (int i = 0; i < TPG; ++i) {
            const int p = grp * TPG + i, ch = gch;
            // exp(m - A_p) = exp(Bx_p) exp(-m), exp(A_p - m) = exp(A_p) exp(-m)
            const float ki = el(pk1, i) * BEXP(Br[i]), e1 = BEXP(Ar[i]);
#if BW4 >= 3
            D.N1[p][ch] = from_f(ki);
#else
            D.T1[ch][p] = from_f(ki);
#endif
            D.E1[p][ch] = e1;
            if (fast) {
#if BW4 >= 3
                D.N2[p][ch] = from_f(ki * em);
#else
                D.T2[ch][p] = from_f(ki * em);
#endif
                D.E2[p][ch] = e1 * em;
            }
        }
        if (it + 1 < nch) load(dir ? ci - 1 : ci + 1);
#if BDEC
        BAR_DIR();  // (B), direction-local: the tiles are this direction's
#else
        __syncthreads();  // (B)
#endif
        if (!fast) {
            // Exact intra-chunk dq: thread (p, cg) walks j downward with running segment sums.
            const int p = lt >> 3, cg = lt & 7;
            constexpr int CPT = KPD / 8;
            float s[CPT], acc[CPT];
#pragma unroll
            for (int i = 0; i < CPT; ++i) s[i] = acc[i] = 0.f;
            for (int jj = 1; jj < CH; ++jj) {
                const int j = p - jj;
                const float dpj = coop_dp(p, j < 0 ? 0 : j, cg);
                if (j >= 0) {
#pragma unroll
                    for (int i = 0; i < CPT; ++i) {
                        const int ch = cg + 8 * i;
                        s[i] += D.g[j + 1][ch];
                        acc[i] = fmaf(dpj * to_f(D.kr[j][ch]), BEXP(s[i]), acc[i]);
                    }
                }
            }
#pragma unroll
            for (int i = 0; i < CPT; ++i) D.X[p][cg + 8 * i] = acc[i];
        }
        if (hw && fast) {
            // Intra-chunk dq^T of channel tile mt: Kf^T (masked dP)^T, times exp(A_p - m).
            float dP[2][4], Dn[2][4];
#pragma unroll
            for (int x = 0; x < 2; ++x)
#pragma unroll
                for (int r = 0; r < 4; ++r) dP[x][r] = Dn[x][r] = 0.f;
#pragma unroll
            for (int kk = 0; kk < 4; ++kk) {
                unsigned int ao[4];
                ao[0] = ld32(&D.dOr[g8][16 * kk + 2 * tg]);
                ao[1] = ld32(&D.dOr[g8 + 8][16 * kk + 2 * tg]);
                ao[2] = ld32(&D.dOr[g8][16 * kk + 8 + 2 * tg]);
                ao[3] = ld32(&D.dOr[g8 + 8][16 * kk + 8 + 2 * tg]);
#pragma unroll
                for (int jn = 0; jn < 2; ++jn)
                    mma16816(dP[jn], ao, ld32(&D.Vr[jn * 8 + g8][16 * kk + 2 * tg]),
                             ld32(&D.Vr[jn * 8 + g8][16 * kk + 8 + 2 * tg]));
            }
            // keep j < p (strictly: the diagonal is added on its own)
#pragma unroll
            for (int jn = 0; jn < 2; ++jn)
#pragma unroll
                for (int r = 0; r < 4; ++r)
                    if (jn * 8 + 2 * tg + (r & 1) >= g8 + 8 * (r >> 1)) dP[jn][r] = 0.f;
            unsigned int ak[4];
#if BW4 >= 3
            // A fragments of Kf^T (rows: channels of tile mt, cols: tokens) from token-major Kf
            ldsm4t(ak, &D.N2[(lane & 7) + 8 * (lane >> 4)][16 * mt + 8 * ((lane >> 3) & 1)]);
#else
            ak[0] = ld32(&D.T2[16 * mt + g8][2 * tg]);
            ak[1] = ld32(&D.T2[16 * mt + g8 + 8][2 * tg]);
            ak[2] = ld32(&D.T2[16 * mt + g8][8 + 2 * tg]);
            ak[3] = ld32(&D.T2[16 * mt + g8 + 8][8 + 2 * tg]);
#endif
#pragma unroll
            for (int tn = 0; tn < 2; ++tn)
                mma16816(Dn[tn], ak, pack2(dP[0][2 * tn], dP[0][2 * tn + 1]),
                         pack2(dP[1][2 * tn], dP[1][2 * tn + 1]));
#pragma unroll
            for (int tn = 0; tn < 2; ++tn)
#pragma unroll
                for (int r = 0; r < 4; ++r) {
                    const int ch = 16 * mt + g8 + 8 * (r >> 1), p = tn * 8 + 2 * tg + (r & 1);
                    D.X[p][ch] = Dn[tn][r] * D.E2[p][ch];
                }
        }
        float Di[2][4];
        if (kw) {
            // Inter-chunk dq^T of channel tile mt: S_in do^T.
#pragma unroll
            for (int x = 0; x < 2; ++x)
#pragma unroll
                for (int r = 0; r < 4; ++r) Di[x][r] = 0.f;
#pragma unroll
            for (int kk = 0; kk < 4; ++kk) {
                unsigned int as[4];
                as[0] = pack2(S[2 * kk][0], S[2 * kk][1]);
                as[1] = pack2(S[2 * kk][2], S[2 * kk][3]);
                as[2] = pack2(S[2 * kk + 1][0], S[2 * kk + 1][1]);
                as[3] = pack2(S[2 * kk + 1][2], S[2 * kk + 1][3]);
#pragma unroll
                for (int tn = 0; tn < 2; ++tn)
                    mma16816(Di[tn], as, ld32(&D.dOr[tn * 8 + g8][16 * kk + 2 * tg]),
                             ld32(&D.dOr[tn * 8 + g8][16 * kk + 8 + 2 * tg]));
            }
            // S = diag(exp(T)) S + Ki^T V (S_in is no longer needed: before the barrier)
            const float d0 = D.dec[16 * mt + g8], d1 = D.dec[16 * mt + g8 + 8];
            unsigned int aki[4];
#if BW4 >= 3
            ldsm4t(aki, &D.N1[(lane & 7) + 8 * (lane >> 4)][16 * mt + 8 * ((lane >> 3) & 1)]);
#else
            aki[0] = ld32(&D.T1[16 * mt + g8][2 * tg]);
            aki[1] = ld32(&D.T1[16 * mt + g8 + 8][2 * tg]);
            aki[2] = ld32(&D.T1[16 * mt + g8][8 + 2 * tg]);
            aki[3] = ld32(&D.T1[16 * mt + g8 + 8][8 + 2 * tg]);
#endif
#if BW4 >= 2
            // B fragments (k = tokens, n = values) of V straight from Vr: ldmatrix.trans of the
            // 8x8 blocks (tokens 0-7 | 8-15) x (values of n-tiles nt, nt + 1)
#pragma unroll
            for (int nt = 0; nt < 8; nt += 2) {
                unsigned int bv[4];
                ldsm4t(bv, &D.Vr[(lane & 7) + 8 * ((lane >> 3) & 1)][8 * (nt + (lane >> 4))]);
#pragma unroll
                for (int u = 0; u < 2; ++u) {
                    S[nt + u][0] *= d0;
                    S[nt + u][1] *= d0;
                    S[nt + u][2] *= d1;
                    S[nt + u][3] *= d1;
                    mma16816(S[nt + u], aki, bv[2 * u], bv[2 * u + 1]);
                }
            }
#else
#pragma unroll
            for (int nt = 0; nt < 8; ++nt) {
                S[nt][0] *= d0;
                S[nt][1] *= d0;
                S[nt][2] *= d1;
                S[nt][3] *= d1;
                mma16816(S[nt], aki, ld32(&D.VT[nt * 8 + g8][2 * tg]),
                         ld32(&D.VT[nt * 8 + g8][8 + 2 * tg]));
            }
#endif
        }
        BAR_DIR();  // D.X complete (the helpers' fast path, or the exact path)
        if (kw) {
            // Element (ch, p) of dq^T.
#if BW4 >= 3
            // v2.6: the row addresses once per token, the (warp-uniform) first / second visitor
            // choice once per chunk
            const bool first = it < nch - 1 - it;
#if LD32
            // v29r: a full chunk (n = CH) at K = KPD (every ViG chunk but a sequence's last
            // partial one) needs no per-element bounds: all 8 values first, then the stores at
            // 32-bit offsets from one base, one visitor branch (warp-uniform) for all of them
            if (n == CH && K == KPD) {
                float yo[2][4], qo[2][4];
#pragma unroll
                for (int tn = 0; tn < 2; ++tn)
#pragma unroll
                    for (int r = 0; r < 4; ++r) {
                        const int p = tn * 8 + 2 * tg + (r & 1), ch = 16 * mt + g8 + 8 * (r >> 1);
                        const float dqp = fmaf(Di[tn][r], D.E1[p][ch], D.X[p][ch]);
                        yo[tn][r] = c * to_f(D.qr[p][ch]) * dqp;
                        qo[tn][r] = c * fmaf(D.dpd[p], to_f(D.kr[p][ch]), dqp);
                    }
                const int tk0 = dir ? c0 + CH - 1 : c0;  // token of p = 0
                const int ty = oyq + tk0 * KPD + 16 * mt + g8, tq = oqk + tk0 * rowKi + 16 * mt + g8;
                const int dy = dir ? -KPD : KPD, dqs = dir ? -rowKi : rowKi;
#pragma unroll
                for (int tn = 0; tn < 2; ++tn)
#pragma unroll
                    for (int r = 0; r < 4; ++r)
                        yq[ty + (tn * 8 + 2 * tg + (r & 1)) * dy + 8 * (r >> 1)] = yo[tn][r];
                put_frag<false>(dq, tq, dqs, tg, qo, 1.f, first);
            } else
#endif
#pragma unroll
            for (int tn = 0; tn < 2; ++tn)
#pragma unroll
                for (int h2 = 0; h2 < 2; ++h2) {
                    const int p = tn * 8 + 2 * tg + h2;
                    if (p >= n) continue;
                    const int tok = dir ? (c0 + n - 1 - p) : (c0 + p);
                    float* yrow = yq + (oyq + tok * KPD);
                    float* qrow = dq + (oqk + tok * rowKi);
#pragma unroll
                    for (int hi = 0; hi < 2; ++hi) {
                        const int r = 2 * hi + h2, ch = 16 * mt + g8 + 8 * hi;
                        if (ch >= K) continue;
                        const float dqp = fmaf(Di[tn][r], D.E1[p][ch], D.X[p][ch]);
                        yrow[ch] = c * to_f(D.qr[p][ch]) * dqp;
                        const float val = c * fmaf(D.dpd[p], to_f(D.kr[p][ch]), dqp);
                        if (first) qrow[ch] = val;
                        else atomicAdd(&qrow[ch], val);
                    }
                }
#else
#pragma unroll
            for (int tn = 0; tn < 2; ++tn)
#pragma unroll
                for (int r = 0; r < 4; ++r) {
                    const int ch = 16 * mt + g8 + 8 * (r >> 1), p = tn * 8 + 2 * tg + (r & 1);
                    const float dqp = fmaf(Di[tn][r], D.E1[p][ch], D.X[p][ch]);
                    if (p < n && ch < K) {
                        const int tok = dir ? (c0 + n - 1 - p) : (c0 + p);
                        GYQ(tok, ch) = c * to_f(D.qr[p][ch]) * dqp;
                        put(&GDQ(tok, ch), c * fmaf(D.dpd[p], to_f(D.kr[p][ch]), dqp), it);
                    }
                }
#endif
        }
    }
#if BDEC
    BAR_DIR();  // pass 2 reuses this direction's tiles only (dq's visitors met at nch / 2)
#else
    __syncthreads();
#endif

    // ================ pass 2: dk, dv, dg (chunks in reverse scan order) ================
    // v2.4: as pass 1, the helper warps compute the fast path's intra-chunk dk (Qf^T dP) into
    // D.X while the channel warps compute R_out V^T; the dg suffix sums are carried by the
    // helper side's threads (fl below), not by a channel warp.
    float R[2 * KT][4];  // R^T[v = vr + g8 + 8 (r >> 1)][ch = nt * 8 + 2 tg + (r & 1)]
#pragma unroll
    for (int nt = 0; nt < 2 * KT; ++nt)
#pragma unroll
        for (int r = 0; r < 4; ++r)
            R[nt][r] = (mode == 1 && nseg > 1)
                ? str[(sbase + vr + g8 + 8 * (r >> 1)) * KPD + nt * 8 + 2 * tg + (r & 1)]
                : 0.f;
    float carry = 0.f;  // dg suffix sum (thread fl in [0, KPD): channel fl)
    const int fl = dir ? lt : lt - (NT - KPD);
    const bool first_seg = dir ? (seg == nseg - 1) : (seg == 0);
    // Suffix sums of the chunk whose Y was written last: scan positions 15..0.
    auto flush_dg = [&](int ci_prev) {
        if (mode == 1 && fl >= 0 && fl < KPD) {
            const int c0 = s0 + ci_prev * CH, n = min(CH, s1 - c0);
#pragma unroll
            for (int p = CH - 1; p >= 0; --p) {
                carry += D.Y[p][fl];
                if (p < n && fl < K) {
                    const int tok = dir ? (c0 + n - 1 - p) : (c0 + p);
                    // the first scan token's gate meets a zero state: its gradient is 0
                    GDG(tok, fl) =
                        (first_seg && ci_prev == (dir ? nch - 1 : 0) && p == 0) ? 0.f : carry;
                }
            }
        }
    };
#if DGF
    // v31: flush_dg's suffix sums only (the same additions in the same order), into D.Bx (row p:
    // the value dg of scan position p gets, 0 for the sequence's first scan token); put_dgz stores
    // the rows at the top of the next chunk step (D.Bx is complete since this step's (B) and is
    // written again only after the next (A)).
    auto flush_dgz = [&](int ci_prev) {
        if (mode == 1 && fl >= 0 && fl < KPD) {
            const bool z0 = first_seg && ci_prev == (dir ? nch - 1 : 0);
#pragma unroll
            for (int p = CH - 1; p >= 0; --p) {
                carry += D.Y[p][fl];
                D.Bx[p][fl] = (z0 && p == 0) ? 0.f : carry;
            }
        }
    };
    // The threads outside the channel warps (NT - 32 KT of them: thread nk owns channel nk % KPD,
    // scan positions nk / KPD + PS i) store chunk ci_prev's dg rows from D.Bx.
    auto put_dgz = [&](int ci_prev) {
        constexpr int NNK = NT - 32 * KT, PS = NNK / KPD;
        static_assert(NNK % KPD == 0, "the non-channel threads must tile whole rows");
        // (threadIdx.x read here, volatile: ptxas would otherwise keep this mapping's
        // loop-invariant parts in registers across the whole loop, at the 128-register cap)
#ifdef VIG_EMU
        const unsigned int tx = threadIdx.x;
#else
        unsigned int tx;
        asm volatile("mov.u32 %0, %%tid.x;" : "=r"(tx));
#endif
        const int nk = dir ? (int)(tx & (NT - 1)) : (int)(tx & (NT - 1)) - 32 * KT;
        const int ch = nk % KPD, p0 = nk / KPD;
        const int c0 = s0 + ci_prev * CH, n = min(CH, s1 - c0);
        const int t0 = dir ? (c0 + n - 1 - p0) : (c0 + p0), ts = dir ? -PS : PS;
        if (ch < K) {
#pragma unroll
            for (int i = 0; i < (CH + PS - 1) / PS; ++i)
                if (p0 + PS * i < n) GDG(t0 + ts * i, ch) = D.Bx[p0 + PS * i][ch];
        }
    };
#endif
    load(dir ? 0 : nch - 1);
    int ci_prev = -1;
    for (int it = 0; it < nch; ++it) {
        const int ci = dir ? it : nch - 1 - it;
        const int c0 = s0 + ci * CH, n = min(CH, s1 - c0);
        float Ar[TPG], Br[TPG], em;
#if DGF
        // v31: the dg rows of the chunk two steps back (left in D.Bx by flush_dgz of the last
        // step), stored by the threads outside the channel warps, which wait for those at (A)
        if (mode == 1 && !kw && it >= 2) put_dgz(dir ? it - 2 : nch + 1 - it);
#endif
#if YQP
        // v29q: this thread's q dq' terms (written by itself in pass 1), loaded here so that the
        // whole (A) - (B) stretch covers their latency (L2: 1 - 2 k cycles after 13 chunk steps)
        float yv[2][4];
        if (mode == 1 && kw) {
#pragma unroll
            for (int jn = 0; jn < 2; ++jn)
#pragma unroll
                for (int r = 0; r < 4; ++r) {
                    const int ch = 16 * mt + g8 + 8 * (r >> 1), j = jn * 8 + 2 * tg + (r & 1);
                    const int tok = dir ? (c0 + n - 1 - j) : (c0 + j);
                    yv[jn][r] = (j < n && ch < K) ? GYQ(tok, ch) : 0.f;
                }
        }
#endif
        gates_pre(Ar);
#if BDEC
        // (A): direction-local, except at step nch / 2 (the dk / dv rows' visitors)
        if (it == (nch >> 1)) __syncthreads();  // block-uniform branch
        BAR_DIR();
#else
        __syncthreads();  // (A)
#endif
#if DGF
        if (ci_prev >= 0) flush_dgz(ci_prev);
#else
        if (ci_prev >= 0) flush_dg(ci_prev);
#endif
        stage();
        const bool fast = gates_post(Ar, Br, em);
        // R_out (channels x values) for the dk products of the channel warps.
        if (mode == 1) {
#pragma unroll
            for (int nt = 0; nt < 2 * KT; ++nt)
#pragma unroll
                for (int r = 0; r < 4; ++r)
                    D.sR[nt * 8 + 2 * tg + (r & 1)][vr + g8 + 8 * (r >> 1)] = from_f(R[nt][r]);
        }
#pragma unroll
        for (int i = 0; i < TPG; ++i) {
            const int p = grp * TPG + i, ch = gch;
            const float qv = el(pq1, i), kv = el(pk1, i);
            // exp(A_p - m) = exp(A_p) exp(-m), exp(m - A_p) = exp(Bx_p) exp(-m)
            const float qi = qv * BEXP(Ar[i]);
#if BW4 >= 3
            D.N1[p][ch] = from_f(qi);
#else
            D.T1[ch][p] = from_f(qi);
#endif
            if (mode == 0) continue;
            const float e1 = BEXP(Br[i]), ki = kv * e1;
            D.R3[p][ch] = from_f(ki);
            D.E1[p][ch] = e1;
            if (fast) {
                const elem_t qf = from_f(qi * em);
                D.R1[p][ch] = qf;
#if BW4 < 3
                D.T2[ch][p] = qf;
#endif
                D.R2[p][ch] = from_f(ki * em);
                D.E2[p][ch] = e1 * em;
            }
        }
        if (it + 1 < nch) load(dir ? ci + 1 : ci - 1);
#if BDEC
        BAR_DIR();  // (B), direction-local
#else
        __syncthreads();  // (B)
#endif
        if (mode == 1 && !fast) {
            // Exact: thread (j, cg) walks p upward: pairs P[p][j] (p >= j) and the intra dk.
            const int j = lt >> 3, cg = lt & 7;
            constexpr int CPT = KPD / 8;
            float s[CPT], kj[CPT], acc[CPT];
#pragma unroll
            for (int i = 0; i < CPT; ++i) {
                s[i] = acc[i] = 0.f;
                kj[i] = to_f(D.kr[j][cg + 8 * i]);
            }
            for (int p = 0; p < CH; ++p) {
                const float dpj = coop_dp(p, j, cg);
                float pacc = 0.f;
#pragma unroll
                for (int i = 0; i < CPT; ++i) {
                    const int ch = cg + 8 * i;
                    if (p > j) s[i] += D.g[p][ch];
                    const float w = to_f(D.qr[p][ch]) * BEXP(s[i]);
                    if (p >= j) pacc = fmaf(w, kj[i], pacc);
                    if (p > j) acc[i] = fmaf(dpj, w, acc[i]);
                }
                pacc += __shfl_xor_sync(FULL_MASK, pacc, 1);
                pacc += __shfl_xor_sync(FULL_MASK, pacc, 2);
                pacc += __shfl_xor_sync(FULL_MASK, pacc, 4);
                if (cg == 0) D.P[p][j] = pacc;
            }
#pragma unroll
            for (int i = 0; i < CPT; ++i) D.X[j][cg + 8 * i] = acc[i];
            BAR_DIR();  // D.P complete (read below by every warp of the direction)
        }
        unsigned int ado[4];  // A fragments of dO^T (rows v of this warp, cols p)
#if BW4 >= 2
        // from dOr: ldmatrix.trans of (tokens 0-7 | 8-15) x (values vr.. | vr + 8..)
        ldsm4t(ado, &D.dOr[(lane & 7) + 8 * (lane >> 4)][vr + 8 * ((lane >> 3) & 1)]);
#else
        ado[0] = ld32(&D.dOT[vr + g8][2 * tg]);
        ado[1] = ld32(&D.dOT[vr + g8 + 8][2 * tg]);
        ado[2] = ld32(&D.dOT[vr + g8][8 + 2 * tg]);
        ado[3] = ld32(&D.dOT[vr + g8 + 8][8 + 2 * tg]);
#endif
        if (mode == 1) {
            // P^T (rows j, cols p), kept for p >= j.
            float PT[2][4];
            if (fast) {
#pragma unroll
                for (int tn = 0; tn < 2; ++tn)
#pragma unroll
                    for (int r = 0; r < 4; ++r) PT[tn][r] = 0.f;
#pragma unroll
                for (int kk = 0; kk < KT; ++kk) {
                    unsigned int ak[4];
                    ak[0] = ld32(&D.R2[g8][16 * kk + 2 * tg]);
                    ak[1] = ld32(&D.R2[g8 + 8][16 * kk + 2 * tg]);
                    ak[2] = ld32(&D.R2[g8][16 * kk + 8 + 2 * tg]);
                    ak[3] = ld32(&D.R2[g8 + 8][16 * kk + 8 + 2 * tg]);
#pragma unroll
                    for (int tn = 0; tn < 2; ++tn)
                        mma16816(PT[tn], ak, ld32(&D.R1[tn * 8 + g8][16 * kk + 2 * tg]),
                                 ld32(&D.R1[tn * 8 + g8][16 * kk + 8 + 2 * tg]));
                }
            } else {
#pragma unroll
                for (int tn = 0; tn < 2; ++tn)
#pragma unroll
                    for (int r = 0; r < 4; ++r)
                        PT[tn][r] = D.P[tn * 8 + 2 * tg + (r & 1)][g8 + 8 * (r >> 1)];
            }
#pragma unroll
            for (int tn = 0; tn < 2; ++tn)
#pragma unroll
                for (int r = 0; r < 4; ++r)
                    if (tn * 8 + 2 * tg + (r & 1) < g8 + 8 * (r >> 1)) PT[tn][r] = 0.f;
            // dv^T (rows v of this warp, cols j) = R_out^T Ki^T + dO^T P
            float DV[2][4];
#pragma unroll
            for (int jn = 0; jn < 2; ++jn)
#pragma unroll
                for (int r = 0; r < 4; ++r) DV[jn][r] = 0.f;
#pragma unroll
            for (int kk = 0; kk < KT; ++kk) {
                unsigned int ar[4];
                ar[0] = pack2(R[2 * kk][0], R[2 * kk][1]);
                ar[1] = pack2(R[2 * kk][2], R[2 * kk][3]);
                ar[2] = pack2(R[2 * kk + 1][0], R[2 * kk + 1][1]);
                ar[3] = pack2(R[2 * kk + 1][2], R[2 * kk + 1][3]);
#pragma unroll
                for (int jn = 0; jn < 2; ++jn)
                    mma16816(DV[jn], ar, ld32(&D.R3[jn * 8 + g8][16 * kk + 2 * tg]),
                             ld32(&D.R3[jn * 8 + g8][16 * kk + 8 + 2 * tg]));
            }
#pragma unroll
            for (int jn = 0; jn < 2; ++jn)
                mma16816(DV[jn], ado, pack2(PT[0][2 * jn], PT[0][2 * jn + 1]),
                         pack2(PT[1][2 * jn], PT[1][2 * jn + 1]));
#if LD32
            if (n == CH && V == VB) {  // v29r: a full chunk, V = VB: no per-element bounds
                const int tk0 = dir ? c0 + CH - 1 : c0;
                const int tv = ovv + tk0 * rowVi + vr + g8, dvs = dir ? -rowVi : rowVi;
                put_frag<true>(dv, tv, dvs, tg, DV, c, it < nch - 1 - it);
            } else
#endif
#pragma unroll
            for (int jn = 0; jn < 2; ++jn)
#pragma unroll
                for (int r = 0; r < 4; ++r) {
                    const int vv = vr + g8 + 8 * (r >> 1), j = jn * 8 + 2 * tg + (r & 1);
                    if (j < n && vv < V) {
                        const int tok = dir ? (c0 + n - 1 - j) : (c0 + j);
                        put(&GDV(tok, vv), c * DV[jn][r], it);
                    }
                }
        }
        // R^T = R^T diag(exp(T)) + dO^T Qi
#if BW4 >= 3
#pragma unroll
        for (int n2 = 0; n2 < KT; ++n2) {
            // B fragments of Qi (k = tokens, n = channels) of channel tiles 2 n2, 2 n2 + 1
            unsigned int bq[4];
#if BW4P
            // (v2.6p: two 16-bit loads per register instead of ldmatrix: fewer spills in ptxas)
#pragma unroll
            for (int x = 0; x < 4; ++x) {
                const int t0 = 2 * tg + 8 * (x & 1), cc = 16 * n2 + 8 * (x >> 1) + g8;
                bq[x] = (unsigned int)u16of(D.N1[t0][cc]) | ((unsigned int)u16of(D.N1[t0 + 1][cc]) << 16);
            }
#else
            ldsm4t(bq, &D.N1[(lane & 7) + 8 * ((lane >> 3) & 1)][16 * n2 + 8 * (lane >> 4)]);
#endif
#pragma unroll
            for (int u = 0; u < 2; ++u) {
                const int nt = 2 * n2 + u;
                const float d0 = D.dec[nt * 8 + 2 * tg], d1 = D.dec[nt * 8 + 2 * tg + 1];
                R[nt][0] *= d0;
                R[nt][1] *= d1;
                R[nt][2] *= d0;
                R[nt][3] *= d1;
                mma16816(R[nt], ado, bq[2 * u], bq[2 * u + 1]);
            }
        }
#else
#pragma unroll
        for (int nt = 0; nt < 2 * KT; ++nt) {
            const float d0 = D.dec[nt * 8 + 2 * tg], d1 = D.dec[nt * 8 + 2 * tg + 1];
            R[nt][0] *= d0;
            R[nt][1] *= d1;
            R[nt][2] *= d0;
            R[nt][3] *= d1;
            mma16816(R[nt], ado, ld32(&D.T1[nt * 8 + g8][2 * tg]),
                     ld32(&D.T1[nt * 8 + g8][8 + 2 * tg]));
        }
#endif
        if (mode == 1) {
            if (hw && fast) {
                // Intra-chunk dk^T of channel tile mt: Qf^T (masked dP), times exp(m - A_j).
                float dPT[2][4], KN[2][4];
#pragma unroll
                for (int x = 0; x < 2; ++x)
#pragma unroll
                    for (int r = 0; r < 4; ++r) dPT[x][r] = KN[x][r] = 0.f;
#pragma unroll
                for (int kk = 0; kk < 4; ++kk) {
                    unsigned int av[4];
                    av[0] = ld32(&D.Vr[g8][16 * kk + 2 * tg]);
                    av[1] = ld32(&D.Vr[g8 + 8][16 * kk + 2 * tg]);
                    av[2] = ld32(&D.Vr[g8][16 * kk + 8 + 2 * tg]);
                    av[3] = ld32(&D.Vr[g8 + 8][16 * kk + 8 + 2 * tg]);
#pragma unroll
                    for (int tn = 0; tn < 2; ++tn)
                        mma16816(dPT[tn], av, ld32(&D.dOr[tn * 8 + g8][16 * kk + 2 * tg]),
                                 ld32(&D.dOr[tn * 8 + g8][16 * kk + 8 + 2 * tg]));
                }
                // keep p > j (strictly)
#pragma unroll
                for (int tn = 0; tn < 2; ++tn)
#pragma unroll
                    for (int r = 0; r < 4; ++r)
                        if (tn * 8 + 2 * tg + (r & 1) <= g8 + 8 * (r >> 1)) dPT[tn][r] = 0.f;
                unsigned int aq[4];
#if BW4 >= 3
                // A fragments of Qf^T from token-major Qf (R1)
#if BW4P
#pragma unroll
                for (int x = 0; x < 4; ++x) {
                    const int t0 = 2 * tg + 8 * (x >> 1), cc = 16 * mt + 8 * (x & 1) + g8;
                    aq[x] = (unsigned int)u16of(D.R1[t0][cc]) | ((unsigned int)u16of(D.R1[t0 + 1][cc]) << 16);
                }
#else
                ldsm4t(aq, &D.R1[(lane & 7) + 8 * (lane >> 4)][16 * mt + 8 * ((lane >> 3) & 1)]);
#endif
#else
                aq[0] = ld32(&D.T2[16 * mt + g8][2 * tg]);
                aq[1] = ld32(&D.T2[16 * mt + g8 + 8][2 * tg]);
                aq[2] = ld32(&D.T2[16 * mt + g8][8 + 2 * tg]);
                aq[3] = ld32(&D.T2[16 * mt + g8 + 8][8 + 2 * tg]);
#endif
#pragma unroll
                for (int jn = 0; jn < 2; ++jn)
                    mma16816(KN[jn], aq, pack2(dPT[0][2 * jn], dPT[0][2 * jn + 1]),
                             pack2(dPT[1][2 * jn], dPT[1][2 * jn + 1]));
#pragma unroll
                for (int jn = 0; jn < 2; ++jn)
#pragma unroll
                    for (int r = 0; r < 4; ++r) {
                        const int ch = 16 * mt + g8 + 8 * (r >> 1), j = jn * 8 + 2 * tg + (r & 1);
                        D.X[j][ch] = KN[jn][r] * D.E2[j][ch];
                    }
            }
#if YQP
            float KI[2][4];
            if (kw) {
#pragma unroll
                for (int jn = 0; jn < 2; ++jn)
#pragma unroll
                    for (int r = 0; r < 4; ++r) KI[jn][r] = 0.f;
#else
            float yv[2][4], KI[2][4];
            if (kw) {
                // this thread's q dq' terms (written by itself in pass 1)
#pragma unroll
                for (int jn = 0; jn < 2; ++jn)
#pragma unroll
                    for (int r = 0; r < 4; ++r) {
                        const int ch = 16 * mt + g8 + 8 * (r >> 1), j = jn * 8 + 2 * tg + (r & 1);
                        const int tok = dir ? (c0 + n - 1 - j) : (c0 + j);
                        yv[jn][r] = (j < n && ch < K) ? GYQ(tok, ch) : 0.f;
                        KI[jn][r] = 0.f;
                    }
#endif
                // Inter-chunk dk^T (rows ch of this warp's tile, cols j) = R_out V^T
#pragma unroll
                for (int kk = 0; kk < 4; ++kk) {
                    unsigned int ar[4];
                    ar[0] = ld32(&D.sR[16 * mt + g8][16 * kk + 2 * tg]);
                    ar[1] = ld32(&D.sR[16 * mt + g8 + 8][16 * kk + 2 * tg]);
                    ar[2] = ld32(&D.sR[16 * mt + g8][16 * kk + 8 + 2 * tg]);
                    ar[3] = ld32(&D.sR[16 * mt + g8 + 8][16 * kk + 8 + 2 * tg]);
#pragma unroll
                    for (int jn = 0; jn < 2; ++jn)
                        mma16816(KI[jn], ar, ld32(&D.Vr[jn * 8 + g8][16 * kk + 2 * tg]),
                                 ld32(&D.Vr[jn * 8 + g8][16 * kk + 8 + 2 * tg]));
                }
            }
            BAR_DIR();  // D.X complete
#if LD32
            if (kw && n == CH && K == KPD) {  // v29r: a full chunk at K = KPD (as dq's above)
                float ko[2][4];
#pragma unroll
                for (int jn = 0; jn < 2; ++jn)
#pragma unroll
                    for (int r = 0; r < 4; ++r) {
                        const int ch = 16 * mt + g8 + 8 * (r >> 1), j = jn * 8 + 2 * tg + (r & 1);
                        const float dkp = fmaf(KI[jn][r], D.E1[j][ch], D.X[j][ch]);
                        D.Y[j][ch] = yv[jn][r] - c * to_f(D.kr[j][ch]) * dkp;
                        ko[jn][r] = c * fmaf(D.dpd[j], to_f(D.qr[j][ch]), dkp);
                    }
                const int tk0 = dir ? c0 + CH - 1 : c0;
                const int tk = oqk + tk0 * rowKi + 16 * mt + g8, dks = dir ? -rowKi : rowKi;
                put_frag<false>(dk, tk, dks, tg, ko, 1.f, it < nch - 1 - it);
            } else
#endif
            if (kw) {
#pragma unroll
                for (int jn = 0; jn < 2; ++jn)
#pragma unroll
                    for (int r = 0; r < 4; ++r) {
                        const int ch = 16 * mt + g8 + 8 * (r >> 1), j = jn * 8 + 2 * tg + (r & 1);
                        const float dkp = fmaf(KI[jn][r], D.E1[j][ch], D.X[j][ch]);
                        float y = 0.f;
                        if (j < n && ch < K) {
                            const int tok = dir ? (c0 + n - 1 - j) : (c0 + j);
                            y = yv[jn][r] - c * to_f(D.kr[j][ch]) * dkp;
                            put(&GDK(tok, ch), c * fmaf(D.dpd[j], to_f(D.qr[j][ch]), dkp), it);
                        }
                        D.Y[j][ch] = y;
                    }
            }
        }
        ci_prev = ci;
    }
#else
    // =========================== pass 1: dq (chunks in scan order) ===========================
    float S[8][4];  // S[ch = 16 mt + g8 + 8 (r >> 1)][v = nt * 8 + 2 tg + (r & 1)] (kw warps)
#pragma unroll
    for (int nt = 0; nt < 8; ++nt)
#pragma unroll
        for (int r = 0; r < 4; ++r)
            S[nt][r] = (nseg > 1 && kw)
                ? sts[(sbase + nt * 8 + 2 * tg + (r & 1)) * KPD + 16 * mt + g8 + 8 * (r >> 1)]
                : 0.f;
    if (mode == 1) load(dir ? nch - 1 : 0);
    for (int it = 0; it < (mode == 1 ? nch : 0); ++it) {
        const int ci = dir ? nch - 1 - it : it;
        const int c0 = s0 + ci * CH, n = min(CH, s1 - c0);
        __syncthreads();  // (A)
        stage();
        if (it + 1 < nch) load(dir ? ci - 1 : ci + 1);
        __syncthreads();  // (B)
        const bool fast = is_fast();
#pragma unroll
        for (int i = 0; i < QPT; ++i) {
            const int e = lt + NT * i, p = e / KPD, ch = e % KPD;
            const float Ap = D.A[p][ch], kv = to_f(D.kr[p][ch]);
            // exp(m - A_p) = exp(Bx_p) exp(-m), exp(A_p - m) = exp(A_p) exp(-m)
            const float ki = kv * __expf(D.Bx[p][ch]), e1 = __expf(Ap);
            D.T1[ch][p] = from_f(ki);
            D.E1[p][ch] = e1;
            if (fast) {
                const float em = D.mid[ch];
                D.T2[ch][p] = from_f(ki * em);
                D.E2[p][ch] = e1 * em;
            }
        }
        diag_dp();
        if (!fast) {
            // Exact intra-chunk dq: thread (p, cg) walks j downward with running segment sums.
            const int p = lt >> 3, cg = lt & 7;
            constexpr int CPT = KPD / 8;
            float s[CPT], acc[CPT];
#pragma unroll
            for (int i = 0; i < CPT; ++i) s[i] = acc[i] = 0.f;
            for (int jj = 1; jj < CH; ++jj) {
                const int j = p - jj;
                const float dpj = coop_dp(p, j < 0 ? 0 : j, cg);
                if (j >= 0) {
#pragma unroll
                    for (int i = 0; i < CPT; ++i) {
                        const int ch = cg + 8 * i;
                        s[i] += D.g[j + 1][ch];
                        acc[i] = fmaf(dpj * to_f(D.kr[j][ch]), __expf(s[i]), acc[i]);
                    }
                }
            }
#pragma unroll
            for (int i = 0; i < CPT; ++i) D.X[p][cg + 8 * i] = acc[i];
        }
        __syncthreads();  // (C)
        if (kw) {
            float dP[2][4], Di[2][4], Dn[2][4];
#pragma unroll
            for (int x = 0; x < 2; ++x)
#pragma unroll
                for (int r = 0; r < 4; ++r) dP[x][r] = Di[x][r] = Dn[x][r] = 0.f;
#pragma unroll
            for (int kk = 0; kk < 4; ++kk) {
                unsigned int ao[4];
                ao[0] = ld32(&D.dOr[g8][16 * kk + 2 * tg]);
                ao[1] = ld32(&D.dOr[g8 + 8][16 * kk + 2 * tg]);
                ao[2] = ld32(&D.dOr[g8][16 * kk + 8 + 2 * tg]);
                ao[3] = ld32(&D.dOr[g8 + 8][16 * kk + 8 + 2 * tg]);
#pragma unroll
                for (int jn = 0; jn < 2; ++jn)
                    mma16816(dP[jn], ao, ld32(&D.Vr[jn * 8 + g8][16 * kk + 2 * tg]),
                             ld32(&D.Vr[jn * 8 + g8][16 * kk + 8 + 2 * tg]));
                unsigned int as[4];
                as[0] = pack2(S[2 * kk][0], S[2 * kk][1]);
                as[1] = pack2(S[2 * kk][2], S[2 * kk][3]);
                as[2] = pack2(S[2 * kk + 1][0], S[2 * kk + 1][1]);
                as[3] = pack2(S[2 * kk + 1][2], S[2 * kk + 1][3]);
#pragma unroll
                for (int tn = 0; tn < 2; ++tn)
                    mma16816(Di[tn], as, ld32(&D.dOr[tn * 8 + g8][16 * kk + 2 * tg]),
                             ld32(&D.dOr[tn * 8 + g8][16 * kk + 8 + 2 * tg]));
            }
            if (fast) {
                // keep j < p (strictly: the diagonal is added on its own)
#pragma unroll
                for (int jn = 0; jn < 2; ++jn)
#pragma unroll
                    for (int r = 0; r < 4; ++r)
                        if (jn * 8 + 2 * tg + (r & 1) >= g8 + 8 * (r >> 1)) dP[jn][r] = 0.f;
                unsigned int ak[4];
                ak[0] = ld32(&D.T2[16 * mt + g8][2 * tg]);
                ak[1] = ld32(&D.T2[16 * mt + g8 + 8][2 * tg]);
                ak[2] = ld32(&D.T2[16 * mt + g8][8 + 2 * tg]);
                ak[3] = ld32(&D.T2[16 * mt + g8 + 8][8 + 2 * tg]);
#pragma unroll
                for (int tn = 0; tn < 2; ++tn)
                    mma16816(Dn[tn], ak, pack2(dP[0][2 * tn], dP[0][2 * tn + 1]),
                             pack2(dP[1][2 * tn], dP[1][2 * tn + 1]));
            }
            // Element (ch, p) of dq^T.
#pragma unroll
            for (int tn = 0; tn < 2; ++tn)
#pragma unroll
                for (int r = 0; r < 4; ++r) {
                    const int ch = 16 * mt + g8 + 8 * (r >> 1), p = tn * 8 + 2 * tg + (r & 1);
                    const float intra = fast ? Dn[tn][r] * D.E2[p][ch] : D.X[p][ch];
                    const float dqp = fmaf(Di[tn][r], D.E1[p][ch], intra);
                    if (p < n && ch < K) {
                        const int tok = dir ? (c0 + n - 1 - p) : (c0 + p);
                        yqb[(long long)tok * KPD + ch] = c * to_f(D.qr[p][ch]) * dqp;
                        put(&dqb[tok * rowK + ch], c * fmaf(D.dpd[p], to_f(D.kr[p][ch]), dqp), it);
                    }
                }
            // S = diag(exp(T)) S + Ki^T V
            const float d0 = D.dec[16 * mt + g8], d1 = D.dec[16 * mt + g8 + 8];
            unsigned int aki[4];
            aki[0] = ld32(&D.T1[16 * mt + g8][2 * tg]);
            aki[1] = ld32(&D.T1[16 * mt + g8 + 8][2 * tg]);
            aki[2] = ld32(&D.T1[16 * mt + g8][8 + 2 * tg]);
            aki[3] = ld32(&D.T1[16 * mt + g8 + 8][8 + 2 * tg]);
#pragma unroll
            for (int nt = 0; nt < 8; ++nt) {
                S[nt][0] *= d0;
                S[nt][1] *= d0;
                S[nt][2] *= d1;
                S[nt][3] *= d1;
                mma16816(S[nt], aki, ld32(&D.VT[nt * 8 + g8][2 * tg]),
                         ld32(&D.VT[nt * 8 + g8][8 + 2 * tg]));
            }
        }
    }
    __syncthreads();

    // ================ pass 2: dk, dv, dg (chunks in reverse scan order) ================
    float R[2 * KT][4];  // R^T[v = vr + g8 + 8 (r >> 1)][ch = nt * 8 + 2 tg + (r & 1)]
#pragma unroll
    for (int nt = 0; nt < 2 * KT; ++nt)
#pragma unroll
        for (int r = 0; r < 4; ++r)
            R[nt][r] = (mode == 1 && nseg > 1)
                ? str[(sbase + vr + g8 + 8 * (r >> 1)) * KPD + nt * 8 + 2 * tg + (r & 1)]
                : 0.f;
    float carry = 0.f;  // dg suffix sum (thread lt < KPD: channel lt)
    // Suffix sums of the chunk whose Y was written last: scan positions 15..0.
    // The first scan token of the whole sequence (its gate meets a zero state: gradient 0).
    const bool first_seg = dir ? (seg == nseg - 1) : (seg == 0);
    auto flush_dg = [&](int ci_prev) {
        if (mode == 1 && lt < KPD) {
            const int c0 = s0 + ci_prev * CH, n = min(CH, s1 - c0);
#pragma unroll
            for (int p = CH - 1; p >= 0; --p) {
                carry += D.Y[p][lt];
                if (p < n && lt < K) {
                    const int tok = dir ? (c0 + n - 1 - p) : (c0 + p);
                    // the first scan token's gate meets a zero state: its gradient is 0
                    dgb_[tok * rowK + lt] =
                        (first_seg && ci_prev == (dir ? nch - 1 : 0) && p == 0) ? 0.f : carry;
                }
            }
        }
    };
    load(dir ? 0 : nch - 1);
    int ci_prev = -1;
    for (int it = 0; it < nch; ++it) {
        const int ci = dir ? it : nch - 1 - it;
        const int c0 = s0 + ci * CH, n = min(CH, s1 - c0);
        __syncthreads();  // (A)
        if (ci_prev >= 0) flush_dg(ci_prev);
        stage();
        // R_out (channels x values) for the dk products of the channel warps.
        if (mode == 1) {
#pragma unroll
            for (int nt = 0; nt < 2 * KT; ++nt)
#pragma unroll
                for (int r = 0; r < 4; ++r)
                    D.sR[nt * 8 + 2 * tg + (r & 1)][vr + g8 + 8 * (r >> 1)] = from_f(R[nt][r]);
        }
        if (it + 1 < nch) load(dir ? ci + 1 : ci - 1);
        __syncthreads();  // (B)
        const bool fast = is_fast();
#pragma unroll
        for (int i = 0; i < QPT; ++i) {
            const int e = lt + NT * i, p = e / KPD, ch = e % KPD;
            const float Ap = D.A[p][ch], Bp = D.Bx[p][ch];
            const float qv = to_f(D.qr[p][ch]), kv = to_f(D.kr[p][ch]);
            // exp(A_p - m) = exp(A_p) exp(-m), exp(m - A_p) = exp(Bx_p) exp(-m)
            const float qi = qv * __expf(Ap);
            D.T1[ch][p] = from_f(qi);
            if (mode == 0) continue;
            const float e1 = __expf(Bp), ki = kv * e1;
            D.R3[p][ch] = from_f(ki);
            D.E1[p][ch] = e1;
            if (fast) {
                const float em = D.mid[ch];
                const elem_t qf = from_f(qi * em);
                D.R1[p][ch] = qf;
                D.T2[ch][p] = qf;
                D.R2[p][ch] = from_f(ki * em);
                D.E2[p][ch] = e1 * em;
            }
        }
        if (mode == 1) diag_dp();
        if (mode == 1 && !fast) {
            // Exact: thread (j, cg) walks p upward: pairs P[p][j] (p >= j) and the intra dk.
            const int j = lt >> 3, cg = lt & 7;
            constexpr int CPT = KPD / 8;
            float s[CPT], kj[CPT], acc[CPT];
#pragma unroll
            for (int i = 0; i < CPT; ++i) {
                s[i] = acc[i] = 0.f;
                kj[i] = to_f(D.kr[j][cg + 8 * i]);
            }
            for (int p = 0; p < CH; ++p) {
                const float dpj = coop_dp(p, j, cg);
                float pacc = 0.f;
#pragma unroll
                for (int i = 0; i < CPT; ++i) {
                    const int ch = cg + 8 * i;
                    if (p > j) s[i] += D.g[p][ch];
                    const float w = to_f(D.qr[p][ch]) * __expf(s[i]);
                    if (p >= j) pacc = fmaf(w, kj[i], pacc);
                    if (p > j) acc[i] = fmaf(dpj, w, acc[i]);
                }
                pacc += __shfl_xor_sync(FULL_MASK, pacc, 1);
                pacc += __shfl_xor_sync(FULL_MASK, pacc, 2);
                pacc += __shfl_xor_sync(FULL_MASK, pacc, 4);
                if (cg == 0) D.P[p][j] = pacc;
            }
#pragma unroll
            for (int i = 0; i < CPT; ++i) D.X[j][cg + 8 * i] = acc[i];
        }
        __syncthreads();  // (C)
        unsigned int ado[4];  // A fragments of dO^T (rows v of this warp, cols p)
        ado[0] = ld32(&D.dOT[vr + g8][2 * tg]);
        ado[1] = ld32(&D.dOT[vr + g8 + 8][2 * tg]);
        ado[2] = ld32(&D.dOT[vr + g8][8 + 2 * tg]);
        ado[3] = ld32(&D.dOT[vr + g8 + 8][8 + 2 * tg]);
        if (mode == 1) {
            // P^T (rows j, cols p), kept for p >= j.
            float PT[2][4];
            if (fast) {
#pragma unroll
                for (int tn = 0; tn < 2; ++tn)
#pragma unroll
                    for (int r = 0; r < 4; ++r) PT[tn][r] = 0.f;
#pragma unroll
                for (int kk = 0; kk < KT; ++kk) {
                    unsigned int ak[4];
                    ak[0] = ld32(&D.R2[g8][16 * kk + 2 * tg]);
                    ak[1] = ld32(&D.R2[g8 + 8][16 * kk + 2 * tg]);
                    ak[2] = ld32(&D.R2[g8][16 * kk + 8 + 2 * tg]);
                    ak[3] = ld32(&D.R2[g8 + 8][16 * kk + 8 + 2 * tg]);
#pragma unroll
                    for (int tn = 0; tn < 2; ++tn)
                        mma16816(PT[tn], ak, ld32(&D.R1[tn * 8 + g8][16 * kk + 2 * tg]),
                                 ld32(&D.R1[tn * 8 + g8][16 * kk + 8 + 2 * tg]));
                }
            } else {
#pragma unroll
                for (int tn = 0; tn < 2; ++tn)
#pragma unroll
                    for (int r = 0; r < 4; ++r)
                        PT[tn][r] = D.P[tn * 8 + 2 * tg + (r & 1)][g8 + 8 * (r >> 1)];
            }
#pragma unroll
            for (int tn = 0; tn < 2; ++tn)
#pragma unroll
                for (int r = 0; r < 4; ++r)
                    if (tn * 8 + 2 * tg + (r & 1) < g8 + 8 * (r >> 1)) PT[tn][r] = 0.f;
            // dv^T (rows v of this warp, cols j) = R_out^T Ki^T + dO^T P
            float DV[2][4];
#pragma unroll
            for (int jn = 0; jn < 2; ++jn)
#pragma unroll
                for (int r = 0; r < 4; ++r) DV[jn][r] = 0.f;
#pragma unroll
            for (int kk = 0; kk < KT; ++kk) {
                unsigned int ar[4];
                ar[0] = pack2(R[2 * kk][0], R[2 * kk][1]);
                ar[1] = pack2(R[2 * kk][2], R[2 * kk][3]);
                ar[2] = pack2(R[2 * kk + 1][0], R[2 * kk + 1][1]);
                ar[3] = pack2(R[2 * kk + 1][2], R[2 * kk + 1][3]);
#pragma unroll
                for (int jn = 0; jn < 2; ++jn)
                    mma16816(DV[jn], ar, ld32(&D.R3[jn * 8 + g8][16 * kk + 2 * tg]),
                             ld32(&D.R3[jn * 8 + g8][16 * kk + 8 + 2 * tg]));
            }
#pragma unroll
            for (int jn = 0; jn < 2; ++jn)
                mma16816(DV[jn], ado, pack2(PT[0][2 * jn], PT[0][2 * jn + 1]),
                         pack2(PT[1][2 * jn], PT[1][2 * jn + 1]));
#pragma unroll
            for (int jn = 0; jn < 2; ++jn)
#pragma unroll
                for (int r = 0; r < 4; ++r) {
                    const int vv = vr + g8 + 8 * (r >> 1), j = jn * 8 + 2 * tg + (r & 1);
                    if (j < n && vv < V) {
                        const int tok = dir ? (c0 + n - 1 - j) : (c0 + j);
                        put(&dvb[tok * rowV + vv], c * DV[jn][r], it);
                    }
                }
        }
        // R^T = R^T diag(exp(T)) + dO^T Qi
#pragma unroll
        for (int nt = 0; nt < 2 * KT; ++nt) {
            const float d0 = D.dec[nt * 8 + 2 * tg], d1 = D.dec[nt * 8 + 2 * tg + 1];
            R[nt][0] *= d0;
            R[nt][1] *= d1;
            R[nt][2] *= d0;
            R[nt][3] *= d1;
            mma16816(R[nt], ado, ld32(&D.T1[nt * 8 + g8][2 * tg]),
                     ld32(&D.T1[nt * 8 + g8][8 + 2 * tg]));
        }
        if (mode == 1 && kw) {
            // v2.3: this thread's q dq' terms (written by itself in pass 1), loaded before the
            // products below instead of on the epilogue's critical path.
            float yv[2][4];
#pragma unroll
            for (int jn = 0; jn < 2; ++jn)
#pragma unroll
                for (int r = 0; r < 4; ++r) {
                    const int ch = 16 * mt + g8 + 8 * (r >> 1), j = jn * 8 + 2 * tg + (r & 1);
                    const int tok = dir ? (c0 + n - 1 - j) : (c0 + j);
                    yv[jn][r] = (j < n && ch < K) ? yqb[(long long)tok * KPD + ch] : 0.f;
                }
            // dk^T (rows ch of this warp's tile, cols j) = R_out V^T (inter) + Qf^T dP (intra)
            float dPT[2][4], KI[2][4], KN[2][4];
#pragma unroll
            for (int x = 0; x < 2; ++x)
#pragma unroll
                for (int r = 0; r < 4; ++r) dPT[x][r] = KI[x][r] = KN[x][r] = 0.f;
#pragma unroll
            for (int kk = 0; kk < 4; ++kk) {
                unsigned int av[4], ar[4];
                av[0] = ld32(&D.Vr[g8][16 * kk + 2 * tg]);
                av[1] = ld32(&D.Vr[g8 + 8][16 * kk + 2 * tg]);
                av[2] = ld32(&D.Vr[g8][16 * kk + 8 + 2 * tg]);
                av[3] = ld32(&D.Vr[g8 + 8][16 * kk + 8 + 2 * tg]);
#pragma unroll
                for (int tn = 0; tn < 2; ++tn)
                    mma16816(dPT[tn], av, ld32(&D.dOr[tn * 8 + g8][16 * kk + 2 * tg]),
                             ld32(&D.dOr[tn * 8 + g8][16 * kk + 8 + 2 * tg]));
                ar[0] = ld32(&D.sR[16 * mt + g8][16 * kk + 2 * tg]);
                ar[1] = ld32(&D.sR[16 * mt + g8 + 8][16 * kk + 2 * tg]);
                ar[2] = ld32(&D.sR[16 * mt + g8][16 * kk + 8 + 2 * tg]);
                ar[3] = ld32(&D.sR[16 * mt + g8 + 8][16 * kk + 8 + 2 * tg]);
#pragma unroll
                for (int jn = 0; jn < 2; ++jn)
                    mma16816(KI[jn], ar, ld32(&D.Vr[jn * 8 + g8][16 * kk + 2 * tg]),
                             ld32(&D.Vr[jn * 8 + g8][16 * kk + 8 + 2 * tg]));
            }
            if (fast) {
                // keep p > j (strictly)
#pragma unroll
                for (int tn = 0; tn < 2; ++tn)
#pragma unroll
                    for (int r = 0; r < 4; ++r)
                        if (tn * 8 + 2 * tg + (r & 1) <= g8 + 8 * (r >> 1)) dPT[tn][r] = 0.f;
                unsigned int aq[4];
                aq[0] = ld32(&D.T2[16 * mt + g8][2 * tg]);
                aq[1] = ld32(&D.T2[16 * mt + g8 + 8][2 * tg]);
                aq[2] = ld32(&D.T2[16 * mt + g8][8 + 2 * tg]);
                aq[3] = ld32(&D.T2[16 * mt + g8 + 8][8 + 2 * tg]);
#pragma unroll
                for (int jn = 0; jn < 2; ++jn)
                    mma16816(KN[jn], aq, pack2(dPT[0][2 * jn], dPT[0][2 * jn + 1]),
                             pack2(dPT[1][2 * jn], dPT[1][2 * jn + 1]));
            }
#pragma unroll
            for (int jn = 0; jn < 2; ++jn)
#pragma unroll
                for (int r = 0; r < 4; ++r) {
                    const int ch = 16 * mt + g8 + 8 * (r >> 1), j = jn * 8 + 2 * tg + (r & 1);
                    const float intra = fast ? KN[jn][r] * D.E2[j][ch] : D.X[j][ch];
                    const float dkp = fmaf(KI[jn][r], D.E1[j][ch], intra);
                    float y = 0.f;
                    if (j < n && ch < K) {
                        const int tok = dir ? (c0 + n - 1 - j) : (c0 + j);
                        y = yv[jn][r] - c * to_f(D.kr[j][ch]) * dkp;
                        put(&dkb[tok * rowK + ch], c * fmaf(D.dpd[j], to_f(D.qr[j][ch]), dkp), it);
                    }
                    D.Y[j][ch] = y;
                }
        }
        ci_prev = ci;
    }
#endif  // BW4
    if (mode == 0) {
#pragma unroll
        for (int nt = 0; nt < 2 * KT; ++nt)
#pragma unroll
            for (int r = 0; r < 4; ++r)
                str[(sbase + vr + g8 + 8 * (r >> 1)) * KPD + nt * 8 + 2 * tg + (r & 1)] = R[nt][r];
        return;
    }
#if BDEC
    BAR_DIR();  // D.Y is this direction's
#else
    __syncthreads();
#endif
#if DGF
    if (!kw && nch >= 2) put_dgz(dir ? nch - 2 : 1);  // the chunk of step nch - 2 (D.Bx)
#endif
    flush_dg(ci_prev);
#if BW4
    if (nseg > 1 && fl >= 0 && fl < KPD)
        ytot[(((long long)bh * nseg + seg) * 2 + dir) * KPD + fl] = carry;
#else
    if (nseg > 1 && lt < KPD) ytot[(((long long)bh * nseg + seg) * 2 + dir) * KPD + lt] = carry;
#endif
#if O16
    // v36: every dq / dk / dv row of this block (tokens s0 .. s1 - 1 of head bh) is final once both
    // directions are here (their stores and red.adds ordered before the reads by the barrier):
    // rounded once into the 16-bit outputs, 4 (K = 32) / 8 (V = 64) threads per row, coalesced
    __syncthreads();
    {
        const int nr = s1 - s0;
        const unsigned long long al = (unsigned long long)dq | (unsigned long long)dk |
                                      (unsigned long long)dv | (unsigned long long)dq16 |
                                      (unsigned long long)dk16 | (unsigned long long)dv16;
        // (the chunked backward runs only with K, V multiples of 8 (tc_vec); the launcher's
        // buffers start on 16 bytes: no scalar path, a trap if that ever changes)
        if (((K | V) & 7) != 0 || (al & 15) != 0) __trap();
        const int kq = K >> 3, vq = V >> 3, nq = nr * kq, nv = nr * vq;
        // dq, dk: 2 rows' pieces per round (8 loads in flight), dv: 4 (8 loads); a piece past
        // the end re-reads the round's first (its store skipped)
        for (int e = tid; e < nq; e += 512) {
            const int o0 = oqk + (s0 + e / kq) * rowKi + 8 * (e % kq);
            const bool h1 = e + 256 < nq;
            const int o1 = h1 ? oqk + (s0 + (e + 256) / kq) * rowKi + 8 * ((e + 256) % kq) : o0;
            const f32x8 q0 = ld8(dq + o0), k0 = ld8(dk + o0), q1 = ld8(dq + o1), k1 = ld8(dk + o1);
            st8(dq16 + o0, q0);
            st8(dk16 + o0, k0);
            if (h1) {
                st8(dq16 + o1, q1);
                st8(dk16 + o1, k1);
            }
        }
        for (int e = tid; e < nv; e += 1024) {
            int o[4];
#pragma unroll
            for (int u = 0; u < 4; ++u) {
                const int f = e + 256 * u;
                o[u] = f < nv ? ovv + (s0 + f / vq) * rowVi + 8 * (f % vq) : o[0];
            }
            f32x8 x[4];
#pragma unroll
            for (int u = 0; u < 4; ++u) x[u] = ld8(dv + o[u]);
#pragma unroll
            for (int u = 0; u < 4; ++u)
                if (e + 256 * u < nv) st8(dv16 + o[u], x[u]);
        }
    }
#endif
}

// Adds to each gate gradient the gate terms of the later scan segments (segments > 1):
// dg_fwd of segment s gets sum_{s' > s} ytot[s', 0], dg_bwd sum_{s' < s} ytot[s', 1]; the first
// scan token of each direction keeps its exact 0. One thread per (b, t, h, channel < K).
#undef GYQ
#undef GDQ
#undef GDK
#undef GDV
#undef GDG
extern "C" __global__ void __launch_bounds__(256) bigla_tc_dg_fix(
    float* __restrict__ dgf, float* __restrict__ dgb, const float* __restrict__ ytot,
    int B, int L, int H, int K, int seglen, int nseg) {
    const long long total = (long long)B * L * H * K;
    const long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= total) return;
    const int ch = (int)(e % K);
    long long r = e / K;
    const int h = (int)(r % H);
    r /= H;
    const int t = (int)(r % L);
    const int b = (int)(r / L);
    const long long bh = (long long)b * H + h;
    const int s = t / seglen;
    float cf = 0.f, cb = 0.f;
    for (int i = s + 1; i < nseg; ++i) cf += ytot[((bh * nseg + i) * 2 + 0) * KPD + ch];
    for (int i = 0; i < s; ++i) cb += ytot[((bh * nseg + i) * 2 + 1) * KPD + ch];
    if (t != 0) dgf[e] += cf;
    if (t != L - 1) dgb[e] += cb;
}

// The vectorised dg fix-ups' row work (bigla_tc_dg_fix4 / _fix4s): a thread's rows tb, tb + rs,
// tb + 2 rs, tb + 3 rs (those < te) of one float4 column, st float4 apart; loaded first, then the
// later segments' forward totals cf added to dgf (row 0 excepted) and the earlier ones' backward
// totals cb to dgb (row L - 1 excepted) and stored
__device__ __forceinline__ void dg_rows_load(f32x4 (&xf)[4], f32x4 (&xb)[4], const f32x4* pf,
                                             const f32x4* pb, int st, int tb, int rs, int te) {
#pragma unroll
    for (int j = 0; j < 4; ++j)
        if (tb + j * rs < te) {
            xf[j] = pf[j * st];
            xb[j] = pb[j * st];
        }
}
__device__ __forceinline__ void dg_rows_add(f32x4 (&xf)[4], f32x4 (&xb)[4], f32x4* pf, f32x4* pb,
                                            int st, int tb, int rs, int te, int L, f32x4 cf, f32x4 cb) {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
        const int t = tb + j * rs;
        if (t < te) {
            if (t != 0) {
                xf[j].x += cf.x; xf[j].y += cf.y; xf[j].z += cf.z; xf[j].w += cf.w;
                pf[j * st] = xf[j];
            }
            if (t != L - 1) {
                xb[j].x += cb.x; xb[j].y += cb.y; xb[j].z += cb.z; xb[j].w += cb.w;
                pb[j * st] = xb[j];
            }
        }
    }
}

// Session 6 (VIG_CUPY_DGFIX=vec): bigla_tc_dg_fix with 16-byte accesses. Block (x, s, b) covers
// rows t in [s * seglen + x * 4 * rs, ... + 4 * rs) of segment s of batch b (clipped to the segment
// and to L); the segment's rows of dg are contiguous (layout B, L, H, K), H * K / 4 float4 a row.
// Thread = (row r0 < rs, float4 column c4 < hk4 = H * K / 4), blockDim.x = rs * hk4: its column is
// the same in every row it visits (rows r0, r0 + rs, r0 + 2 rs, r0 + 3 rs), so the later / earlier
// segments' totals of its 4 channels are summed once (same additions, same order as
// bigla_tc_dg_fix: 0 + y[s+1] + ... + y[nseg-1], 0 + y[0] + ... + y[s-1]) and kept in registers;
// the 4 rows' loads are issued before their adds and stores. Requires K % 4 == 0 and hk4 <= 256
// (the launcher falls back to bigla_tc_dg_fix otherwise); bit-identical results.
extern "C" __global__ void __launch_bounds__(256) bigla_tc_dg_fix4(
    float* __restrict__ dgf, float* __restrict__ dgb, const float* __restrict__ ytot,
    int L, int H, int K, int seglen, int nseg, int rs) {
    const int hk4 = (H * K) >> 2;
    const int r0 = threadIdx.x / hk4;
    const int c4 = threadIdx.x - r0 * hk4;
    const int b = blockIdx.z, s = blockIdx.y;
    const int tb = s * seglen + blockIdx.x * 4 * rs + r0;  // this thread's first row
    const int te = min((s + 1) * seglen, L);               // end of the segment
    if (r0 >= rs || tb >= te) return;
    const int h = (4 * c4) / K;
    const int ch = 4 * c4 - h * K;
    // the rows' loads first (DRAM latency under the totals' L2 round trips)
    const size_t o = ((size_t)b * L + tb) * hk4 + c4;  // float4 offset of (b, tb, column c4)
    f32x4* pf = reinterpret_cast<f32x4*>(dgf) + o;
    f32x4* pb = reinterpret_cast<f32x4*>(dgb) + o;
    const int st = rs * hk4;  // float4 between this thread's rows
    f32x4 xf[4], xb[4];
    dg_rows_load(xf, xb, pf, pb, st, tb, rs, te);
    const f32x4* yt = reinterpret_cast<const f32x4*>(
        ytot + (size_t)(b * H + h) * nseg * 2 * KPD + ch);  // + (i * 2 + dir) * KPD / 4 float4
    f32x4 cf = {0.f, 0.f, 0.f, 0.f}, cb = {0.f, 0.f, 0.f, 0.f};
#pragma unroll 8
    for (int i = s + 1; i < nseg; ++i) {
        const f32x4 y = yt[(i * 2) * (KPD / 4)];
        cf.x += y.x; cf.y += y.y; cf.z += y.z; cf.w += y.w;
    }
#pragma unroll 8
    for (int i = 0; i < s; ++i) {
        const f32x4 y = yt[(i * 2 + 1) * (KPD / 4)];
        cb.x += y.x; cb.y += y.y; cb.z += y.z; cb.w += y.w;
    }
    dg_rows_add(xf, xb, pf, pb, st, tb, rs, te, L, cf, cb);
}
// Session 7 (VIG_CUPY_DGFIX=vec2): bigla_tc_dg_fix4 whose segment-total sums are made once per block
// instead of once per thread: the rs row groups of a block share their columns, so in dg_fix4 each
// of a block's sums was made rs times (ViG-T@1024: 8x; ~97 MB of L2 reads for 25 MB of dg). Here
// thread w < 2 hk4 of the block (looping when the block has fewer threads) makes sum w (w < hk4: the
// later segments' forward totals of float4 column w, else the earlier segments' backward totals of
// column w - hk4), with the same additions in the same order as dg_fix4 (0 + y[s+1] + ... ;
// 0 + y[0] + ...), into shared memory (2 hk4 float4, dynamic: dgfix_smem); one barrier; then each
// thread adds them to its 4 rows, whose loads were issued first. Same grid, block and rows as
// bigla_tc_dg_fix4 (dgfix_launch); bit-identical results.
extern "C" __global__ void __launch_bounds__(256) bigla_tc_dg_fix4s(
    float* __restrict__ dgf, float* __restrict__ dgb, const float* __restrict__ ytot,
    int L, int H, int K, int seglen, int nseg, int rs) {
#ifdef VIG_EMU
    f32x4* sy = reinterpret_cast<f32x4*>(emu_smem());
#else
    extern __shared__ __align__(16) float smem_dg[];
    f32x4* sy = reinterpret_cast<f32x4*>(smem_dg);
#endif
    const int hk4 = (H * K) >> 2;
    const int r0 = threadIdx.x / hk4;
    const int c4 = threadIdx.x - r0 * hk4;
    const int b = blockIdx.z, s = blockIdx.y;
    const int tb = s * seglen + blockIdx.x * 4 * rs + r0;  // this thread's first row
    const int te = min((s + 1) * seglen, L);               // end of the segment
    const bool act = r0 < rs && tb < te;
    const size_t o = ((size_t)b * L + tb) * hk4 + c4;  // float4 offset of (b, tb, column c4)
    f32x4* pf = reinterpret_cast<f32x4*>(dgf) + o;
    f32x4* pb = reinterpret_cast<f32x4*>(dgb) + o;
    const int st = rs * hk4;  // float4 between this thread's rows
    f32x4 xf[4], xb[4];
    if (act) dg_rows_load(xf, xb, pf, pb, st, tb, rs, te);
    for (int w = threadIdx.x; w < 2 * hk4; w += blockDim.x) {
        const int dir = w >= hk4, cw = dir ? w - hk4 : w;
        const int hw = (4 * cw) / K, chw = 4 * cw - hw * K;
        const f32x4* yt = reinterpret_cast<const f32x4*>(
            ytot + (size_t)(b * H + hw) * nseg * 2 * KPD + chw);  // + (i * 2 + dir) * KPD / 4
        f32x4 cs = {0.f, 0.f, 0.f, 0.f};
        const int i0 = dir ? 0 : s + 1, i1 = dir ? s : nseg;
#pragma unroll 8
        for (int i = i0; i < i1; ++i) {
            const f32x4 y = yt[(i * 2 + dir) * (KPD / 4)];
            cs.x += y.x; cs.y += y.y; cs.z += y.z; cs.w += y.w;
        }
        sy[w] = cs;
    }
    __syncthreads();
    if (!act) return;
    const f32x4 cf = sy[c4], cb = sy[hk4 + c4];
    dg_rows_add(xf, xb, pf, pb, st, tb, rs, te, L, cf, cb);
}
#endif  // KT <= 2
