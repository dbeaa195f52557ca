// Backward of the bidirectional GLA (CuPy backend). See NOTES.md for the design.
//
// bigla_bwd: grid (B*H, NS = ceil(V / VW)); block 64 threads = 2 warps, warp d = scan direction d
// (0: forward scan over t = 0..L-1, 1: backward scan over t = L-1..0). In the warp's scan order
// p (token t = p or L-1-p), with a_p = exp(gate_d), dô = scale/2 * do:
//     S_p = a_p S_{p-1} + k_p v_p^T            (the direction's state)
//     R_p = q_p dô_p^T + a_{p+1} R_{p+1}       (its adjoint, dL/dS_p)
//     dq_p = S_p dô_p,  dk_p = R_p v_p,  dv_p = R_p^T k_p,
//     dg_p = a_p * rowsum(R_p (.) S_{p-1})     (direct: no cancellation, exact 0 for -inf gates)
//   Sweep 1 walks p upward: S, dq, and a checkpoint of S after every TT-token tile (global).
//   Sweep 2 walks the tiles downward: reload the checkpoint, recompute S through the tile keeping
//   S_{p-1} per token in shared memory (per lane, private), then walk the tile downward with R.
//   Partial dq, dk, dg (summed over the block's VW value columns) and dv go to fp32 workspaces.
// bigla_bwd_finalize: elementwise sums of the partials into dq, dk, dv (input dtype), dg (fp32).
#include "bigla.cuh"

#define NST (KP * VP)  // state values per lane

extern "C" __global__ void __launch_bounds__(64) bigla_bwd(
    const elem_t* __restrict__ q, const elem_t* __restrict__ k, const elem_t* __restrict__ v,
    const float* __restrict__ gf, const float* __restrict__ gb, const elem_t* __restrict__ dout,
    float* __restrict__ DQ,  // [2, NS, B*H, L, K]  (direction, V slice)
    float* __restrict__ DK,  // [2, NS, B*H, L, K]
    float* __restrict__ DG,  // [2, NS, B*H, L, K]
    float* __restrict__ DV,  // [2, B*H, L, V]
    float* __restrict__ CK,  // [2, NS, B*H, ntiles, NST, 32] checkpoints
    int B, int L, int H, int K, int V,
    long long sqb, long long sql, long long sqh,
    long long skb, long long skl, long long skh,
    long long svb, long long svl, long long svh,
    long long sfb, long long sfl, long long sfh,
    long long sbb, long long sbl, long long sbh,
    long long sdb, long long sdl, long long sdh,
    float c) {
    extern __shared__ float smem[];
    const int bh = blockIdx.x;
    const int b = bh / H, h = bh % H;
    const int s = blockIdx.y;
    const int NS = gridDim.y;
    const int v0 = s * VW;
    const int lane = threadIdx.x & 31;
    const int d = threadIdx.x >> 5;
    const int kg = lane / VS, vg = lane % VS;
    const long long BH = (long long)B * H;
    const int ntiles = (L + TT - 1) / TT;

    float* sq = smem + d * (TT * (3 * KPAD + 2 * VW + NST * 32));
    float* sk = sq + TT * KPAD;
    float* sa = sk + TT * KPAD;
    float* sv = sa + TT * KPAD;
    float* sd = sv + TT * VW;
    float* hist = sd + TT * VW;  // [TT][NST][32]

    const elem_t* qb = q + b * sqb + h * sqh;
    const elem_t* kb = k + b * skb + h * skh;
    const elem_t* vb = v + b * svb + h * svh;
    const elem_t* db = dout + b * sdb + h * sdh;
    const float* gS = d ? (gb + b * sbb + h * sbh) : (gf + b * sfb + h * sfh);
    const long long sgl = d ? sbl : sfl;
    const long long LK = (long long)L * K;
    const long long plane = (((long long)d * NS + s) * BH + bh) * LK;
    float* dq_out = DQ + plane;
    float* dk_out = DK + plane;
    float* dg_out = DG + plane;
    float* dv_out = DV + ((long long)d * BH + bh) * (long long)L * V;
    float* ck = CK + (((long long)d * NS + s) * BH + bh) * (long long)ntiles * NST * 32;

    // Stage tile [p0, p0 + n) of the warp's scan order into shared memory.
    auto stage = [&](int p0, int n, bool need_q) {
        __syncwarp();
        for (int e = lane; e < TT * KPAD; e += 32) {
            const int pt = e / KPAD, kk = e % KPAD;
            const bool ok = pt < n && kk < K;
            const int tok = d ? (L - 1 - (p0 + pt)) : (p0 + pt);
            float qv = 0.f, kv = 0.f, av = 0.f;
            if (ok) {
                if (need_q) qv = to_f(qb[tok * sql + kk]);
                kv = to_f(kb[tok * skl + kk]);
                av = expf(gS[tok * sgl + kk]);
            }
            sq[e] = qv;
            sk[e] = kv;
            sa[e] = av;
        }
        for (int e = lane; e < TT * VW; e += 32) {
            const int pt = e / VW, vv = e % VW;
            const int col = v0 + vv;
            const int tok = d ? (L - 1 - (p0 + pt)) : (p0 + pt);
            const bool ok = pt < n && col < V;
            sv[e] = ok ? to_f(vb[tok * svl + col]) : 0.f;
            sd[e] = ok ? c * to_f(db[tok * sdl + col]) : 0.f;
        }
        __syncwarp();
    };

    float S[KP][VP], C[KP][VP];

    // ---------------- sweep 1: S upward, dq, checkpoints
#pragma unroll
    for (int i = 0; i < KP; ++i)
#pragma unroll
        for (int j = 0; j < VP; ++j) S[i][j] = C[i][j] = 0.f;
    for (int tile = 0; tile < ntiles; ++tile) {
        const int p0 = tile * TT, n = min(TT, L - p0);
        stage(p0, n, false);
        for (int pt = 0; pt < n; ++pt) {
            const int tok = d ? (L - 1 - (p0 + pt)) : (p0 + pt);
            float kk_[KP], aa[KP], vv[VP], dd[VP], dqp[KP];
#pragma unroll
            for (int i = 0; i < KP; ++i) {
                kk_[i] = sk[pt * KPAD + kg * KP + i];
                aa[i] = sa[pt * KPAD + kg * KP + i];
            }
#pragma unroll
            for (int j = 0; j < VP; ++j) {
                vv[j] = sv[pt * VW + vg * VP + j];
                dd[j] = sd[pt * VW + vg * VP + j];
            }
#pragma unroll
            for (int i = 0; i < KP; ++i) {
                dqp[i] = 0.f;
#pragma unroll
                for (int j = 0; j < VP; ++j) {
                    decay_add(S[i][j], C[i][j], aa[i], kk_[i] * vv[j]);
#if COMP
                    dqp[i] = fmaf(S[i][j] + C[i][j], dd[j], dqp[i]);
#else
                    dqp[i] = fmaf(S[i][j], dd[j], dqp[i]);
#endif
                }
            }
            bool wq;
            const int bq = reduce_scatter<KP, 2, 1>(dqp, vg, &wq);
            if (wq) {
#pragma unroll
                for (int i = 0; i < RS_LEFT(KP, 2); ++i) {
                    const int row = kg * KP + bq + i;
                    if (row < K) dq_out[(long long)tok * K + row] = dqp[i];
                }
            }
        }
        if (tile + 1 < ntiles) {  // checkpoint: state after this tile (compensation folded in)
#pragma unroll
            for (int i = 0; i < KP; ++i)
#pragma unroll
                for (int j = 0; j < VP; ++j)
                    ck[((long long)tile * NST + i * VP + j) * 32 + lane] = S[i][j] + C[i][j];
        }
    }

    // ---------------- sweep 2: tiles downward; recompute S in the tile, then R downward
    float R[KP][VP], CR[KP][VP], anext[KP];
#pragma unroll
    for (int i = 0; i < KP; ++i) {
        anext[i] = 0.f;
#pragma unroll
        for (int j = 0; j < VP; ++j) R[i][j] = CR[i][j] = 0.f;
    }
    for (int tile = ntiles - 1; tile >= 0; --tile) {
        const int p0 = tile * TT, n = min(TT, L - p0);
        stage(p0, n, true);
#pragma unroll
        for (int i = 0; i < KP; ++i)
#pragma unroll
            for (int j = 0; j < VP; ++j) {
                S[i][j] = tile > 0 ? ck[((long long)(tile - 1) * NST + i * VP + j) * 32 + lane] : 0.f;
                C[i][j] = 0.f;
            }
        for (int pt = 0; pt < n; ++pt) {
            float kk_[KP], aa[KP], vv[VP];
#pragma unroll
            for (int i = 0; i < KP; ++i) {
                kk_[i] = sk[pt * KPAD + kg * KP + i];
                aa[i] = sa[pt * KPAD + kg * KP + i];
            }
#pragma unroll
            for (int j = 0; j < VP; ++j) vv[j] = sv[pt * VW + vg * VP + j];
#pragma unroll
            for (int i = 0; i < KP; ++i)
#pragma unroll
                for (int j = 0; j < VP; ++j) {
                    hist[(pt * NST + i * VP + j) * 32 + lane] = S[i][j] + C[i][j];  // S_{p-1}
                    decay_add(S[i][j], C[i][j], aa[i], kk_[i] * vv[j]);
                }
        }
        for (int pt = n - 1; pt >= 0; --pt) {
            const int tok = d ? (L - 1 - (p0 + pt)) : (p0 + pt);
            float qq[KP], kk_[KP], aa[KP], vv[VP], dd[VP];
#pragma unroll
            for (int i = 0; i < KP; ++i) {
                qq[i] = sq[pt * KPAD + kg * KP + i];
                kk_[i] = sk[pt * KPAD + kg * KP + i];
                aa[i] = sa[pt * KPAD + kg * KP + i];
            }
#pragma unroll
            for (int j = 0; j < VP; ++j) {
                vv[j] = sv[pt * VW + vg * VP + j];
                dd[j] = sd[pt * VW + vg * VP + j];
            }
            float dkp[KP], dgp[KP], dvp[VP];
#pragma unroll
            for (int j = 0; j < VP; ++j) dvp[j] = 0.f;
#pragma unroll
            for (int i = 0; i < KP; ++i) {
                dkp[i] = 0.f;
                dgp[i] = 0.f;
#pragma unroll
                for (int j = 0; j < VP; ++j) {
                    decay_add(R[i][j], CR[i][j], anext[i], qq[i] * dd[j]);
#if COMP
                    const float r = R[i][j] + CR[i][j];
#else
                    const float r = R[i][j];
#endif
                    dkp[i] = fmaf(r, vv[j], dkp[i]);
                    dvp[j] = fmaf(r, kk_[i], dvp[j]);
                    dgp[i] = fmaf(r, hist[(pt * NST + i * VP + j) * 32 + lane], dgp[i]);
                }
                dgp[i] *= aa[i];
                anext[i] = aa[i];
            }
            bool wk, wg, wv;
            const int bk = reduce_scatter<KP, 2, 1>(dkp, vg, &wk);
            const int bg = reduce_scatter<KP, 2, 1>(dgp, vg, &wg);
            const int bv = reduce_scatter<VP, 3, VS>(dvp, kg, &wv);
            if (wk) {
#pragma unroll
                for (int i = 0; i < RS_LEFT(KP, 2); ++i) {
                    const int row = kg * KP + bk + i;
                    if (row < K) dk_out[(long long)tok * K + row] = dkp[i];
                }
            }
            if (wg) {
#pragma unroll
                for (int i = 0; i < RS_LEFT(KP, 2); ++i) {
                    const int row = kg * KP + bg + i;
                    if (row < K) dg_out[(long long)tok * K + row] = dgp[i];
                }
            }
            if (wv) {
#pragma unroll
                for (int i = 0; i < RS_LEFT(VP, 3); ++i) {
                    const int col = v0 + vg * VP + bv + i;
                    if (col < V) dv_out[(long long)tok * V + col] = dvp[i];
                }
            }
        }
    }
}

// Sums the partials: dq, dk, dv in the inputs' dtype, [B, L, H, K|V] contiguous; dgf, dgb fp32.
extern "C" __global__ void __launch_bounds__(256) bigla_bwd_finalize(
    const float* __restrict__ DQ, const float* __restrict__ DK, const float* __restrict__ DG,
    const float* __restrict__ DV,
    elem_t* __restrict__ dq, elem_t* __restrict__ dk, elem_t* __restrict__ dv,
    float* __restrict__ dgf, float* __restrict__ dgb,
    int B, int L, int H, int K, int V, int NS) {
    const long long BH = (long long)B * H;
    const long long plane = BH * L * K;
    const long long nk = plane, nv = BH * L * V;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < nk + nv;
         e += (long long)gridDim.x * blockDim.x) {
        if (e < nk) {
            const int kk = (int)(e % K);
            const long long r = e / K;  // (bh, t)
            const int t = (int)(r % L);
            const long long bh = r / L;
            const long long b = bh / H, h = bh % H;
            float sq = 0.f, sk = 0.f, s0 = 0.f, s1 = 0.f;
            for (int s = 0; s < NS; ++s) {
                const long long o0 = (long long)s * plane + e, o1 = (long long)(NS + s) * plane + e;
                sq += DQ[o0] + DQ[o1];
                sk += DK[o0] + DK[o1];
                s0 += DG[o0];
                s1 += DG[o1];
            }
            const long long out = ((b * L + t) * H + h) * K + kk;
            dq[out] = from_f(sq);
            dk[out] = from_f(sk);
            dgf[out] = s0;
            dgb[out] = s1;
        } else {
            const long long f = e - nk;
            const int vv = (int)(f % V);
            const long long r = f / V;
            const int t = (int)(r % L);
            const long long bh = r / L;
            const long long b = bh / H, h = bh % H;
            dv[((b * L + t) * H + h) * V + vv] = from_f(DV[f] + DV[nv + f]);
        }
    }
}
