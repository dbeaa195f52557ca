// Forward of the bidirectional GLA (CuPy backend). See NOTES.md for the design.
//
// Grid (B*H, ceil(V / VW)); block 64 threads = 2 warps. Warp 0 runs the forward scan, warp 1 the
// backward scan, over the same (b, h) and the same VW value columns; each keeps its state slice
// S[KPAD x VW] in registers (lane = kg * VS + vg holds rows kg*KP.., columns vg*VP..). Tokens are
// staged per warp in shared memory, TT at a time, with exp(gate) computed once per element.
// Every exponent is a single gate (exp(g) in [0, 1], exp(-inf) = 0): nothing can overflow and
// no cumulative sum is ever formed. The two directions' partial outputs (already scaled by
// scale / 2) meet in an fp32 workspace; after a block barrier the block writes o = of + ob.
#include "bigla.cuh"

extern "C" __global__ void __launch_bounds__(64) bigla_fwd(
    const elem_t* __restrict__ q, const elem_t* __restrict__ k, const elem_t* __restrict__ v,
    const float* __restrict__ gf, const float* __restrict__ gb,
    float* __restrict__ ws,  // [2, B*H, L, V] fp32
    elem_t* __restrict__ o,  // [B, L, H, V] contiguous
    int B, int L, int H, int K, int V,
    long long sqb, long long sql, long long sqh,
    long long skb, long long skl, long long skh,
    long long svb, long long svl, long long svh,
    long long sfb, long long sfl, long long sfh,
    long long sbb, long long sbl, long long sbh,
    float c) {
    extern __shared__ float smem[];
    const int bh = blockIdx.x;
    const int b = bh / H, h = bh % H;
    const int v0 = blockIdx.y * VW;
    const int lane = threadIdx.x & 31;
    const int dir = threadIdx.x >> 5;
    const int kg = lane / VS, vg = lane % VS;
    const long long BH = (long long)B * H;

    float* sq = smem + dir * (TT * (3 * KPAD + VW));
    float* sk = sq + TT * KPAD;
    float* sa = sk + TT * KPAD;
    float* sv = sa + TT * KPAD;

    const elem_t* qb = q + b * sqb + h * sqh;
    const elem_t* kb = k + b * skb + h * skh;
    const elem_t* vb = v + b * svb + h * svh;
    const float* gbase = dir ? (gb + b * sbb + h * sbh) : (gf + b * sfb + h * sfh);
    const long long sgl = dir ? sbl : sfl;
    float* wsd = ws + ((long long)dir * BH + bh) * (long long)L * V;

    float S[KP][VP], C[KP][VP];  // state and its compensation (C unused without COMP)
#pragma unroll
    for (int i = 0; i < KP; ++i)
#pragma unroll
        for (int j = 0; j < VP; ++j) S[i][j] = C[i][j] = 0.f;

    for (int p0 = 0; p0 < L; p0 += TT) {
        const int n = min(TT, L - p0);
        __syncwarp();
        for (int e = lane; e < TT * KPAD; e += 32) {
            const int pt = e / KPAD, kk = e % KPAD;
            const bool ok = pt < n && kk < K;
            const int tok = dir ? (L - 1 - (p0 + pt)) : (p0 + pt);
            float qv = 0.f, kv = 0.f, av = 0.f;
            if (ok) {
                qv = to_f(qb[tok * sql + kk]);
                kv = to_f(kb[tok * skl + kk]);
                av = expf(gbase[tok * sgl + kk]);
            }
            sq[e] = qv;
            sk[e] = kv;
            sa[e] = av;
        }
        for (int e = lane; e < TT * VW; e += 32) {
            const int pt = e / VW, vv = e % VW;
            const int col = v0 + vv;
            const int tok = dir ? (L - 1 - (p0 + pt)) : (p0 + pt);
            sv[e] = (pt < n && col < V) ? to_f(vb[tok * svl + col]) : 0.f;
        }
        __syncwarp();
        for (int pt = 0; pt < n; ++pt) {
            const int tok = dir ? (L - 1 - (p0 + pt)) : (p0 + pt);
            float qq[KP], kk_[KP], aa[KP], vv[VP];
#pragma unroll
            for (int i = 0; i < KP; ++i) {
                qq[i] = sq[pt * KPAD + kg * KP + i];
                kk_[i] = sk[pt * KPAD + kg * KP + i];
                aa[i] = sa[pt * KPAD + kg * KP + i];
            }
#pragma unroll
            for (int j = 0; j < VP; ++j) vv[j] = sv[pt * VW + vg * VP + j];
            float part[VP];
#pragma unroll
            for (int j = 0; j < VP; ++j) part[j] = 0.f;
#pragma unroll
            for (int i = 0; i < KP; ++i)
#pragma unroll
                for (int j = 0; j < VP; ++j) {
                    decay_add(S[i][j], C[i][j], aa[i], kk_[i] * vv[j]);
#if COMP
                    part[j] = fmaf(qq[i], S[i][j] + C[i][j], part[j]);
#else
                    part[j] = fmaf(qq[i], S[i][j], part[j]);
#endif
                }
            bool writer;
            const int base = reduce_scatter<VP, 3, VS>(part, kg, &writer);
            if (writer) {
#pragma unroll
                for (int i = 0; i < RS_LEFT(VP, 3); ++i) {
                    const int col = v0 + vg * VP + base + i;
                    if (col < V) wsd[(long long)tok * V + col] = c * part[i];
                }
            }
        }
    }
    __syncthreads();
    // o = of + ob for this block's columns.
    const float* w0 = ws + (long long)bh * L * V;
    const float* w1 = ws + (BH + bh) * (long long)L * V;
    const int ncol = min(VW, V - v0);
    for (int e = threadIdx.x; e < L * VW; e += blockDim.x) {
        const int t = e / VW, vv = e % VW;
        if (vv < ncol) {
            const long long wi = (long long)t * V + v0 + vv;
            o[(((long long)b * L + t) * H + h) * V + v0 + vv] = from_f(w0[wi] + w1[wi]);
        }
    }
}
