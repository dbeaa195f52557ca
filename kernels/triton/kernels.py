"""Triton kernels of the bidirectional GLA: both scan directions in one launch per pass.

Layout: every tensor is read as [B, L, H, D] through its strides (stride(-1) == 1).
One program owns one (batch, head) pair (the forward kernel may also split V) and walks the
sequence in chunks of C tokens, twice: a reverse sweep (backward-direction state) and a
forward sweep (forward-direction state). Per chunk:

* inter-chunk terms through the K x V state held in registers;
* intra-chunk terms as a C x C block per direction, from the same q, k, v tiles, with the
  per-channel decay exp(sum of gates between the two tokens):
  - fast path (the chunk's gate range per channel is at most THR): factorised through a
    reference point m in the middle of the chunk's log range, so every exponent lies in
    [-THR/2, THR/2] and the block is one matrix product;
  - exact path (strong gates, -inf): the segment sums taken per (t, j, channel) as a
    cumulative sum started at key j, one key at a time (only [C, K] tiles live; a [C, C, K]
    block would set the register count of the whole kernel), so no exponent is ever a
    difference of sums and -inf gives exp(-inf) = 0, never NaN.

One tile size: BK = 32 key and BV = 64 value channels (constexpr); the head dims K, V are
run-time ints (masks), so heads up to 32 x 64 share one compile and larger heads run as blocks
(see __init__.py). L, H, LS, NS and the backward's SEG flag are not specialised on (one JIT
compile per kernel, input dtype and output dtype, whatever the length); strides and K, V still
are, on divisibility by 16 (16-byte aligned loads).

Every cumulative sum is local to one chunk and is computed directly (inclusive, exclusive,
forward or reverse) from the gates, never as a difference of two sums.

Gate gradients use dL/dG_t = q_t * dq_t - k_t * dk_t per direction (G the cumulative gate),
so dg_fwd_t = sum_{i>=t} dGf_i and dg_bwd_t = sum_{i<=t} dGb_i. Since the dG of one direction
sum to zero over the sequence, dg_fwd_t = -sum_{i<t} dGf_i: both are prefix sums, done in the
forward sweep with a carry.
"""
from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _dot(a, b, PREC: tl.constexpr):
    """a @ b with fp32 accumulation. PREC "ieee" / "tf32": fp32 operands at that precision;
    "bf16" (bf16 inputs, opt-in: VIG_TRITON_DOT_FWD / _BWD): operands rounded to bf16 (m16n8k16
    bf16 MMAs: half the operand registers and shared-memory traffic of tf32)."""
    if PREC == "bf16":
        return tl.dot(a.to(tl.bfloat16), b.to(tl.bfloat16), out_dtype=tl.float32)
    elif PREC == "bf16e":  # the same numbers for the interpreter (its bf16 tl.dot is wrong):
        # bf16-rounded operands, exact products and fp32 sums
        return tl.dot(a.to(tl.bfloat16).to(tl.float32), b.to(tl.bfloat16).to(tl.float32),
                      input_precision="ieee")
    else:
        return tl.dot(a, b, input_precision=PREC)


# Session 11 (VIG_TRITON_FTZ; NOTES.md "Session 11 (on trial): VIG_TRITON_FTZ" and "Session 11 MID"): every exp of the
# kernels through _exp. FTZ = 0 (the constexpr's default; the launcher's with VIG_TRITON_FTZ=0 and under the
# interpreter): tl.exp itself (the compiled code is the previous, byte for byte: compile_check --same); FTZ = 1 (what
# the launcher passes by default on the GPU since session 11's MID call): the same ex2 of x * log2(e) as tl.exp's
# lowering, but as ex2.approx.ftz.f32, so that ptxas drops the denormal range guard it puts around MUFU.EX2 for the
# non-ftz form on sm_90 (FSETP + 2 predicated FMULs per exp). Only results below 2^-126 change (to 0): the kernels'
# exps take log-space gate sums / differences. Inline PTX: GPU only (see __init__._ftz).
@triton.jit
def _exp(x, FTZ: tl.constexpr = 0):
    """exp(x) of a float32 tensor; FTZ = 1: ex2.approx.ftz.f32 of x * log2(e)."""
    if FTZ:
        return tl.inline_asm_elementwise("ex2.approx.ftz.f32 $0, $1;", "=f,f", [x * 1.4426950408889634],
                                         dtype=tl.float32, is_pure=True, pack=1)
    else:
        return tl.exp(x)


@triton.jit
def _tile(ptr, rows, cols, sl, L, NCOL, lo):
    """[R, NC] fp32 tile of rows (token indices) and cols, zero outside [lo, L) x [0, NCOL)."""
    mask = (rows[:, None] >= lo) & (rows[:, None] < L) & (cols[None, :] < NCOL)
    return tl.load(ptr + rows[:, None] * sl + cols[None, :], mask=mask, other=0.0).to(tl.float32)


@triton.jit
def _decay_col(g, j, C: tl.constexpr, REV: tl.constexpr, FTZ: tl.constexpr = 0):
    """Column j of the exact per-pair decays, [C, BK]: row t holds the decay between tokens t
    and j of one chunk (0 outside the direction's triangle), as a cumulative sum started at j
    (never a difference of sums; -inf gives 0).

    REV == 0 (forward scan): exp(sum_{j < i <= t} g_i) for t >= j.
    REV == 1 (backward scan): exp(sum_{t <= i < j} g_i) for t <= j."""
    ti = tl.arange(0, C)[:, None]
    if REV == 0:
        seg = tl.cumsum(tl.where(ti > j, g, 0.0), 0)
        D = tl.where(ti >= j, _exp(seg, FTZ), 0.0)
    else:
        seg = tl.cumsum(tl.where(ti < j, g, 0.0), 0, reverse=True)
        D = tl.where(ti <= j, _exp(seg, FTZ), 0.0)
    return D


@triton.jit
def _exact_A(q, k, g, C: tl.constexpr, REV: tl.constexpr, FTZ: tl.constexpr = 0):
    """A[t, j] = sum_k q_tk k_jk D_tjk (exact decays), one key j at a time so that only
    [C, BK] tiles are live (the [C, C, BK] block would hold the registers of the whole kernel)."""
    ti = tl.arange(0, C)
    A = tl.zeros([C, C], dtype=tl.float32)
    for j in range(C):
        kj = tl.sum(tl.where(ti[:, None] == j, k, 0.0), 0)  # row j of k
        col = tl.sum(q * kj[None, :] * _decay_col(g, j, C, REV, FTZ), 1)
        A = tl.where(ti[None, :] == j, col[:, None], A)
    return A


@triton.jit
def _exact_bwd(q, k, g, dA, C: tl.constexpr, REV: tl.constexpr, FTZ: tl.constexpr = 0):
    """(A, dq, dk) of the exact intra-chunk block, one key j at a time (see _exact_A):
    dq_t = sum_j dA_tj k_j D_tj, dk_j = sum_t dA_tj q_t D_tj."""
    ti = tl.arange(0, C)
    A = tl.zeros([C, C], dtype=tl.float32)
    dq = tl.zeros_like(q)
    dk = tl.zeros_like(k)
    for j in range(C):
        kj = tl.sum(tl.where(ti[:, None] == j, k, 0.0), 0)  # row j of k
        dAj = tl.sum(tl.where(ti[None, :] == j, dA, 0.0), 1)  # column j of dA
        D = _decay_col(g, j, C, REV, FTZ)
        col = tl.sum(q * kj[None, :] * D, 1)
        A = tl.where(ti[None, :] == j, col[:, None], A)
        dq += dAj[:, None] * kj[None, :] * D
        dkj = tl.sum(dAj[:, None] * q * D, 0)
        dk = tl.where(ti[:, None] == j, dkj[None, :], dk)
    return A, dq, dk


@triton.jit
def _mask(C: tl.constexpr, REV: tl.constexpr):
    ti = tl.arange(0, C)
    if REV == 0:
        m = ti[:, None] >= ti[None, :]
    else:
        m = ti[:, None] <= ti[None, :]
    return m


@triton.jit
def _smask(C: tl.constexpr, REV: tl.constexpr):
    """Strict triangle (no diagonal)."""
    ti = tl.arange(0, C)
    if REV == 0:
        m = ti[:, None] > ti[None, :]
    else:
        m = ti[:, None] < ti[None, :]
    return m


@triton.jit
def _kv_seg_states(k_p, v_p, gf_p, gb_p, ti, ck, cv, ts, nch, skl, svl, sfl, sbl, L, K, V,
                   BK: tl.constexpr, BV: tl.constexpr, C: tl.constexpr, PREC: tl.constexpr,
                   FTZ: tl.constexpr = 0):
    """One segment's key/value states from zero (pointers at this (b, h)), over its nch chunks
    from token ts: Hf = sum_j exp(sum_{j<i<=end} gf_i) k_j v_j^T (forward state at its end),
    Hb = sum_j exp(sum_{start<=i<j} gb_i) k_j v_j^T (backward state at its start), and the
    per-channel gate sums (Tf, Tb) of the segment. ti = tl.arange(0, C)."""
    Hf = tl.zeros([BK, BV], dtype=tl.float32)
    Hb = tl.zeros([BK, BV], dtype=tl.float32)
    cf = tl.zeros([BK], dtype=tl.float32)
    cb = tl.zeros([BK], dtype=tl.float32)
    for c in range(nch):
        t0 = ts + c * C
        rows = t0 + ti
        k = _tile(k_p, rows, ck, skl, L, K, 0)
        v = _tile(v_p, rows, cv, svl, L, V, 0)
        gf = _tile(gf_p, rows, ck, sfl, L, K, 0)
        gn = _tile(gf_p, rows + 1, ck, sfl, tl.minimum(L, t0 + C), K, 0)
        gb = _tile(gb_p, rows, ck, sbl, L, K, 0)
        gp = _tile(gb_p, rows - 1, ck, sbl, L, K, t0)
        bf = tl.cumsum(gn, 0, reverse=True)
        eb = tl.cumsum(gp, 0) + cb[None, :]
        totf = tl.sum(gf, 0)
        Hf = _exp(totf, FTZ)[:, None] * Hf + _dot(tl.trans(k * _exp(bf, FTZ)), v, PREC)
        Hb = Hb + _dot(tl.trans(k * _exp(eb, FTZ)), v, PREC)
        cf += totf
        cb += tl.sum(gb, 0)
    return Hf, Hb, cf, cb


# ---------------------------------------------------------------------------------------------
# Pieces shared by the backward kernels (bigla_bwd_dx_kernel, session 8's bigla_bwd_dir_dx_kernel;
# also v2.2's bigla_bwd_kernel until session 9), session 8 round 2: inlined by Triton in the order
# written, so each kernel compiles to the code it had with these lines written out
# (compile_check --same).
# ---------------------------------------------------------------------------------------------
@triton.jit
def _bwd_prog(b, h, bh, s, scale, L, H, LS, K, V, q_p, k_p, v_p, gf_p, gb_p, do_p, dq_p, dk_p,
              dgf_p, dgb_p, dv_p, pq_p, pk_p, pv_p, pd_p, sqb, sqh, skb, skh, svb, svh, sfb, sfh,
              sbb, sbh, sdb, sdh, BK: tl.constexpr, BV: tl.constexpr, C: tl.constexpr,
              NG: tl.constexpr, PD: tl.constexpr):
    """A backward program's pointers moved to its (batch, head) b, h (inputs through their
    strides; outputs dq, dk, dgf, dgb, dv contiguous [B, L, H, *]; fp32 scratch pq, pk, pv
    [B*H, L, *] and, PD = 1, pd [B*H, 2, L]), and its sweep constants: (pointers..., sK, sV, ti,
    ck, cv, hs, ts, nch) for segment s of LS tokens. NG = 2: both directions' gates (gf, gb and
    dgf, dgb); NG = 1: one direction's (gf, dgf; gb, dgb returned as given)."""
    q_p += b * sqb + h * sqh
    k_p += b * skb + h * skh
    v_p += b * svb + h * svh
    gf_p += b * sfb + h * sfh
    if NG == 2:
        gb_p += b * sbb + h * sbh
    do_p += b * sdb + h * sdh
    oK = (b * L * H + h).to(tl.int64) * K
    oV = (b * L * H + h).to(tl.int64) * V
    dq_p += oK
    dk_p += oK
    dgf_p += oK
    if NG == 2:
        dgb_p += oK
    dv_p += oV
    pq_p += bh.to(tl.int64) * L * K
    pk_p += bh.to(tl.int64) * L * K
    pv_p += bh.to(tl.int64) * L * V
    if PD == 1:
        pd_p += bh.to(tl.int64) * L * 2
    sK = H * K
    sV = H * V
    ti, ck, cv, hs, ts, nch = _sweep(s, scale, L, LS, BK, BV, C)
    return (q_p, k_p, v_p, gf_p, gb_p, do_p, dq_p, dk_p, dgf_p, dgb_p, dv_p, pq_p, pk_p, pv_p, pd_p, sK, sV,
            ti, ck, cv, hs, ts, nch)


@triton.jit
def _bwd_pid(H):
    """A backward program's (bh, s, b, h): (batch, head) bh = b * H + h, segment s."""
    bh = tl.program_id(0)
    s = tl.program_id(1)
    b = bh // H
    h = bh % H
    return bh, s, b, h


@triton.jit
def _sweep(s, scale, L, LS, BK: tl.constexpr, BV: tl.constexpr, C: tl.constexpr):
    """A backward program's sweep constants for segment s of LS tokens: (ti, ck, cv, hs, ts, nch),
    hs = scale / 2 (the do scale), nch chunks of C tokens from token ts."""
    ti = tl.arange(0, C)
    ck = tl.arange(0, BK)
    cv = tl.arange(0, BV)
    hs = scale * 0.5
    ts = s * LS
    nch = tl.cdiv(tl.minimum(L, ts + LS) - ts, C)
    return ti, ck, cv, hs, ts, nch


@triton.jit
def _qkvdo(q_p, k_p, v_p, do_p, rows, ck, cv, sql, skl, svl, sdl, L, K, V, hs):
    """The q, k, v tiles and the do tile (times hs) of one chunk."""
    q = _tile(q_p, rows, ck, sql, L, K, 0)
    k = _tile(k_p, rows, ck, skl, L, K, 0)
    v = _tile(v_p, rows, cv, svl, L, V, 0)
    do = _tile(do_p, rows, cv, sdl, L, V, 0) * hs
    return q, k, v, do


@triton.jit
def _store_dqkv(dq_p, dk_p, dv_p, rows, ck, cv, sK, sV, dq, dk, dv, mK, mV):
    """dq, dk, dv rows of one chunk, in the outputs' dtype."""
    tl.store(dq_p + rows[:, None] * sK + ck[None, :], dq.to(dq_p.dtype.element_ty), mask=mK)
    tl.store(dk_p + rows[:, None] * sK + ck[None, :], dk.to(dk_p.dtype.element_ty), mask=mK)
    tl.store(dv_p + rows[:, None] * sV + cv[None, :], dv.to(dv_p.dtype.element_ty), mask=mV)


@triton.jit(do_not_specialize=["L", "H", "LS", "NS"])
def bigla_fwd_segstate_kernel(
    k_p, v_p, gf_p, gb_p, hf_p, hb_p, tf_p, tb_p,
    skb, skl, skh, svb, svl, svh, sfb, sfl, sfh, sbb, sbl, sbh,
    L, H, LS, NS,
    K, V, BK: tl.constexpr, BV: tl.constexpr,
    C: tl.constexpr, PREC: tl.constexpr, FTZ: tl.constexpr = 0,
):
    """Segment-local states (long sequences): for segment s of LS tokens,
    Hf = sum_j exp(sum_{j<i<=end} gf_i) k_j v_j^T (forward state at its end, from zero),
    Hb = sum_j exp(sum_{start<=i<j} gb_i) k_j v_j^T (backward state at its start, from zero),
    Tf, Tb = per-channel sums of the segment's gates (log of its total decay)."""
    iv = tl.program_id(0)
    bh = tl.program_id(1)
    s = tl.program_id(2)
    b = bh // H
    h = bh % H
    k_p += b * skb + h * skh
    v_p += b * svb + h * svh
    gf_p += b * sfb + h * sfh
    gb_p += b * sbb + h * sbh
    ti = tl.arange(0, C)
    ck = tl.arange(0, BK)
    cv = iv * BV + tl.arange(0, BV)
    ts = s * LS
    nch = tl.cdiv(tl.minimum(L, ts + LS) - ts, C)
    Hf, Hb, cf, cb = _kv_seg_states(k_p, v_p, gf_p, gb_p, ti, ck, cv, ts, nch, skl, svl, sfl, sbl,
                                    L, K, V, BK, BV, C, PREC, FTZ)
    o = (bh * NS + s).to(tl.int64)
    sm = (ck[:, None] < K) & (cv[None, :] < V)
    tl.store(hf_p + o * K * V + ck[:, None] * V + cv[None, :], Hf, mask=sm)
    tl.store(hb_p + o * K * V + ck[:, None] * V + cv[None, :], Hb, mask=sm)
    tl.store(tf_p + o * K + ck, cf, mask=(ck < K) & (iv == 0))
    tl.store(tb_p + o * K + ck, cb, mask=(ck < K) & (iv == 0))


@triton.jit(do_not_specialize=["L", "H", "LS", "NS"])
def bigla_bwd_segstate_kernel(
    q_p, k_p, v_p, gf_p, gb_p, do_p, hf_p, hb_p, qf_p, qb_p, tf_p, tb_p,
    sqb, sql, sqh, skb, skl, skh, svb, svl, svh,
    sfb, sfl, sfh, sbb, sbl, sbh, sdb, sdl, sdh,
    scale, L, H, LS, NS,
    K, V, BK: tl.constexpr, BV: tl.constexpr,
    C: tl.constexpr, PREC: tl.constexpr, FTZ: tl.constexpr = 0,
):
    """Segment-local states for the backward pass (long sequences), program (bh, s):
    Hf = sum_j exp(sum_{j<i<=end} gf_i) k_j v_j^T,  Hb = sum_j exp(sum_{start<=i<j} gb_i) k_j v_j^T,
    Qf = sum_t exp(sum_{start<=i<=t} gf_i) q_t do_t^T,  Qb = sum_t exp(sum_{t<=i<=end} gb_i) q_t do_t^T
    (do scaled by scale/2), Tf, Tb = the segment's gate sums."""
    bh = tl.program_id(0)
    s = tl.program_id(1)
    b = bh // H
    h = bh % H
    q_p += b * sqb + h * sqh
    k_p += b * skb + h * skh
    v_p += b * svb + h * svh
    gf_p += b * sfb + h * sfh
    gb_p += b * sbb + h * sbh
    do_p += b * sdb + h * sdh
    ti, ck, cv, hs, ts, nch = _sweep(s, scale, L, LS, BK, BV, C)
    Hf = tl.zeros([BK, BV], dtype=tl.float32)
    Hb = tl.zeros([BK, BV], dtype=tl.float32)
    Qf = tl.zeros([BK, BV], dtype=tl.float32)
    Qb = tl.zeros([BK, BV], dtype=tl.float32)
    cf = tl.zeros([BK], dtype=tl.float32)
    cb = tl.zeros([BK], dtype=tl.float32)
    for c in range(nch):
        t0 = ts + c * C
        rows = t0 + ti
        q = _tile(q_p, rows, ck, sql, L, K, 0)
        k = _tile(k_p, rows, ck, skl, L, K, 0)
        v = _tile(v_p, rows, cv, svl, L, V, 0)
        do = _tile(do_p, rows, cv, sdl, L, V, 0) * hs
        gf = _tile(gf_p, rows, ck, sfl, L, K, 0)
        gn = _tile(gf_p, rows + 1, ck, sfl, tl.minimum(L, t0 + C), K, 0)
        gb = _tile(gb_p, rows, ck, sbl, L, K, 0)
        gp = _tile(gb_p, rows - 1, ck, sbl, L, K, t0)
        bf = tl.cumsum(gn, 0, reverse=True)
        af = tl.cumsum(gf, 0) + cf[None, :]
        eb = tl.cumsum(gp, 0) + cb[None, :]
        ab = tl.cumsum(gb, 0, reverse=True)
        totf = tl.sum(gf, 0)
        totb = tl.sum(gb, 0)
        Hf = _exp(totf, FTZ)[:, None] * Hf + _dot(tl.trans(k * _exp(bf, FTZ)), v, PREC)
        Hb = Hb + _dot(tl.trans(k * _exp(eb, FTZ)), v, PREC)
        Qf = Qf + _dot(tl.trans(q * _exp(af, FTZ)), do, PREC)
        Qb = _exp(totb, FTZ)[:, None] * Qb + _dot(tl.trans(q * _exp(ab, FTZ)), do, PREC)
        cf += totf
        cb += totb
    o = (bh * NS + s).to(tl.int64)
    sm = (ck[:, None] < K) & (cv[None, :] < V)
    idx = o * K * V + ck[:, None] * V + cv[None, :]
    tl.store(hf_p + idx, Hf, mask=sm)
    tl.store(hb_p + idx, Hb, mask=sm)
    tl.store(qf_p + idx, Qf, mask=sm)
    tl.store(qb_p + idx, Qb, mask=sm)
    tl.store(tf_p + o * K + ck, cf, mask=ck < K)
    tl.store(tb_p + o * K + ck, cb, mask=ck < K)


@triton.jit(do_not_specialize=["NS"])
def bigla_bwd_segscan_kernel(
    hf_p, hb_p, qf_p, qb_p, tf_p, tb_p, sf_p, db_p, sb_p, df_p, cf_p, cb_p, NS,
    K, V, BK: tl.constexpr, BV: tl.constexpr, FTZ: tl.constexpr = 0,
):
    """Per (batch, head): the states entering each segment (S_f from the left, dS_b from the
    left, S_b from the right, dS_f from the right) and the gate-gradient carries
    cf(s) = sum over earlier segments of dGf, cb(s) likewise, where a segment's sum of dG is
    rowsum(S_in * Q) - rowsum(H * dS_in) (pairs leaving minus pairs entering it)."""
    bh = tl.program_id(0)
    ck = tl.arange(0, BK)
    cv = tl.arange(0, BV)
    sm = (ck[:, None] < K) & (cv[None, :] < V)
    km = ck < K
    mat = ck[:, None] * V + cv[None, :]
    base = (bh * NS).to(tl.int64)
    S_b = tl.zeros([BK, BV], dtype=tl.float32)
    dS_f = tl.zeros([BK, BV], dtype=tl.float32)
    for i in range(NS):
        o = base + NS - 1 - i
        tl.store(sb_p + o * K * V + mat, S_b, mask=sm)
        tl.store(df_p + o * K * V + mat, dS_f, mask=sm)
        S_b = _exp(tl.load(tb_p + o * K + ck, mask=km, other=0.0), FTZ)[:, None] * S_b \
            + tl.load(hb_p + o * K * V + mat, mask=sm, other=0.0)
        dS_f = _exp(tl.load(tf_p + o * K + ck, mask=km, other=0.0), FTZ)[:, None] * dS_f \
            + tl.load(qf_p + o * K * V + mat, mask=sm, other=0.0)
    S_f = tl.zeros([BK, BV], dtype=tl.float32)
    dS_b = tl.zeros([BK, BV], dtype=tl.float32)
    cf = tl.zeros([BK], dtype=tl.float32)
    cb = tl.zeros([BK], dtype=tl.float32)
    for i in range(NS):
        o = base + i
        tl.store(sf_p + o * K * V + mat, S_f, mask=sm)
        tl.store(db_p + o * K * V + mat, dS_b, mask=sm)
        tl.store(cf_p + o * K + ck, cf, mask=km)
        tl.store(cb_p + o * K + ck, cb, mask=km)
        hf = tl.load(hf_p + o * K * V + mat, mask=sm, other=0.0)
        hb = tl.load(hb_p + o * K * V + mat, mask=sm, other=0.0)
        qf = tl.load(qf_p + o * K * V + mat, mask=sm, other=0.0)
        qb = tl.load(qb_p + o * K * V + mat, mask=sm, other=0.0)
        sbi = tl.load(sb_p + o * K * V + mat, mask=sm, other=0.0)
        dfi = tl.load(df_p + o * K * V + mat, mask=sm, other=0.0)
        cf += tl.sum(S_f * qf, 1) - tl.sum(hf * dfi, 1)
        cb += tl.sum(sbi * qb, 1) - tl.sum(hb * dS_b, 1)
        S_f = _exp(tl.load(tf_p + o * K + ck, mask=km, other=0.0), FTZ)[:, None] * S_f + hf
        dS_b = _exp(tl.load(tb_p + o * K + ck, mask=km, other=0.0), FTZ)[:, None] * dS_b + qb


# ---------------------------------------------------------------------------------------------
# v2.6 segment machinery of the backward (the default since session 4; VIG_TRITON_BSEG=v22
# restores v2.2's). v2.2's segment-state kernel keeps four K x V states per program (250 registers, 2 programs per SM) and its scan runs
# one program per (b, h) (24 programs at ViG-T@1024: 6 % of the warps active, each step waiting
# on its loads). Here:
#   * bigla_bwd_segstate2_kernel, grid (B*H, NS, 2): program w = 0 the key-side states Hf, Hb
#     (and the gate sums Tf, Tb), w = 1 the query-side states Qf, Qb: two states per program;
#   * bigla_bwd_segscan2_kernel, grid (B*H, 2, V / BVS): one direction pair per program (d = 0:
#     S_b and dS_f from the right; d = 1: S_f and dS_b from the left) on BVS value columns; the
#     loads do not depend on the carried states, so the loop is software-pipelined (STAGES) and
#     the chain per step is two FMAs. Each program leaves its column slice's share of the
#     segment's gate-gradient sum (the leaving / entering pair terms) in a parts buffer;
#   * bigla_bwd_segcarry_kernel, grid (B*H, 2): the carries cf, cb = prefix sums over the
#     segments of the parts (summed over slices and direction pairs).
# Same sums as v2.2 (the carry's terms are added per column slice first, then over slices).
# ---------------------------------------------------------------------------------------------
@triton.jit(do_not_specialize=["L", "H", "LS", "NS"])
def bigla_bwd_segstate2_kernel(
    q_p, k_p, v_p, gf_p, gb_p, do_p, hf_p, hb_p, qf_p, qb_p, tf_p, tb_p,
    sqb, sql, sqh, skb, skl, skh, svb, svl, svh,
    sfb, sfl, sfh, sbb, sbl, sbh, sdb, sdl, sdh,
    scale, L, H, LS, NS,
    K, V, BK: tl.constexpr, BV: tl.constexpr,
    C: tl.constexpr, PREC: tl.constexpr, W0: tl.constexpr = 0, FTZ: tl.constexpr = 0,
):
    """bigla_bwd_segstate_kernel's states, two per program (bh, s, w): w = 0: Hf, Hb, Tf, Tb;
    w = 1: Qf, Qb. W0 = 1 (KEEP_STATES, a grid of one w): w = 1 only, the forward kept the rest."""
    bh = tl.program_id(0)
    s = tl.program_id(1)
    w = tl.program_id(2) + W0
    b = bh // H
    h = bh % H
    gf_p += b * sfb + h * sfh
    gb_p += b * sbb + h * sbh
    ti = tl.arange(0, C)
    ck = tl.arange(0, BK)
    cv = tl.arange(0, BV)
    ts = s * LS
    nch = tl.cdiv(tl.minimum(L, ts + LS) - ts, C)
    o = (bh * NS + s).to(tl.int64)
    sm = (ck[:, None] < K) & (cv[None, :] < V)
    idx = o * K * V + ck[:, None] * V + cv[None, :]
    if w == 0:
        k_p += b * skb + h * skh
        v_p += b * svb + h * svh
        X1, X2, cf, cb = _kv_seg_states(k_p, v_p, gf_p, gb_p, ti, ck, cv, ts, nch, skl, svl,
                                        sfl, sbl, L, K, V, BK, BV, C, PREC, FTZ)
        tl.store(hf_p + idx, X1, mask=sm)
        tl.store(hb_p + idx, X2, mask=sm)
        tl.store(tf_p + o * K + ck, cf, mask=ck < K)
        tl.store(tb_p + o * K + ck, cb, mask=ck < K)
    else:
        X1 = tl.zeros([BK, BV], dtype=tl.float32)
        X2 = tl.zeros([BK, BV], dtype=tl.float32)
        cf = tl.zeros([BK], dtype=tl.float32)
        q_p += b * sqb + h * sqh
        do_p += b * sdb + h * sdh
        hs = scale * 0.5
        for c in range(nch):
            t0 = ts + c * C
            rows = t0 + ti
            q = _tile(q_p, rows, ck, sql, L, K, 0)
            do = _tile(do_p, rows, cv, sdl, L, V, 0) * hs
            gf = _tile(gf_p, rows, ck, sfl, L, K, 0)
            gb = _tile(gb_p, rows, ck, sbl, L, K, 0)
            af = tl.cumsum(gf, 0) + cf[None, :]
            ab = tl.cumsum(gb, 0, reverse=True)
            totb = tl.sum(gb, 0)
            X1 = X1 + _dot(tl.trans(q * _exp(af, FTZ)), do, PREC)
            X2 = _exp(totb, FTZ)[:, None] * X2 + _dot(tl.trans(q * _exp(ab, FTZ)), do, PREC)
            cf += tl.sum(gf, 0)
        tl.store(qf_p + idx, X1, mask=sm)
        tl.store(qb_p + idx, X2, mask=sm)


@triton.jit(do_not_specialize=["NS", "NBH"])
def bigla_bwd_segscan2_kernel(
    hf_p, hb_p, qf_p, qb_p, tf_p, tb_p, sf_p, db_p, sb_p, df_p, pt_p, NS, NBH,
    K, V, BK: tl.constexpr, BVS: tl.constexpr, NVS: tl.constexpr, STAGES: tl.constexpr,
    FTZ: tl.constexpr = 0,
):
    """Program (bh, d, j) on value columns [j*BVS, (j+1)*BVS): d = 0 walks the segments right to
    left carrying S_b (from Hb, Tb) and dS_f (from Qf, Tf); d = 1 left to right carrying S_f
    (Hf, Tf) and dS_b (Qb, Tb); each stores the states entering every segment. Parts
    pt [2 * NVS, 2, NBH * NS, K] (row d * NVS + j; 0: the cf term, 1: the cb term): this slice's
    share of a segment's dG sum, rowsum(S_in * Q) - rowsum(H * dS_in), split by direction pair."""
    bh = tl.program_id(0)
    d = tl.program_id(1)
    j = tl.program_id(2)
    ck = tl.arange(0, BK)
    cv = j * BVS + tl.arange(0, BVS)
    sm = (ck[:, None] < K) & (cv[None, :] < V)
    km = ck < K
    mat = ck[:, None] * V + cv[None, :]
    base = (bh * NS).to(tl.int64)
    nt = (NBH * NS).to(tl.int64) * K  # one part row
    pf_p = pt_p + ((d * NVS + j) * 2).to(tl.int64) * nt  # cf term of this slice
    pb_p = pf_p + nt  # cb term
    X1 = tl.zeros([BK, BVS], dtype=tl.float32)
    X2 = tl.zeros([BK, BVS], dtype=tl.float32)
    if d == 0:
        for i in tl.range(0, NS, num_stages=STAGES):
            o = base + NS - 1 - i
            hb = tl.load(hb_p + o * K * V + mat, mask=sm, other=0.0)
            qf = tl.load(qf_p + o * K * V + mat, mask=sm, other=0.0)
            qb = tl.load(qb_p + o * K * V + mat, mask=sm, other=0.0)
            hf = tl.load(hf_p + o * K * V + mat, mask=sm, other=0.0)
            eb = _exp(tl.load(tb_p + o * K + ck, mask=km, other=0.0), FTZ)
            ef = _exp(tl.load(tf_p + o * K + ck, mask=km, other=0.0), FTZ)
            tl.store(sb_p + o * K * V + mat, X1, mask=sm)
            tl.store(df_p + o * K * V + mat, X2, mask=sm)
            tl.store(pb_p + o * K + ck, tl.sum(X1 * qb, 1), mask=km)
            tl.store(pf_p + o * K + ck, -tl.sum(hf * X2, 1), mask=km)
            X1 = eb[:, None] * X1 + hb
            X2 = ef[:, None] * X2 + qf
    else:
        for i in tl.range(0, NS, num_stages=STAGES):
            o = base + i
            hf = tl.load(hf_p + o * K * V + mat, mask=sm, other=0.0)
            qb = tl.load(qb_p + o * K * V + mat, mask=sm, other=0.0)
            qf = tl.load(qf_p + o * K * V + mat, mask=sm, other=0.0)
            hb = tl.load(hb_p + o * K * V + mat, mask=sm, other=0.0)
            ef = _exp(tl.load(tf_p + o * K + ck, mask=km, other=0.0), FTZ)
            eb = _exp(tl.load(tb_p + o * K + ck, mask=km, other=0.0), FTZ)
            tl.store(sf_p + o * K * V + mat, X1, mask=sm)
            tl.store(db_p + o * K * V + mat, X2, mask=sm)
            tl.store(pf_p + o * K + ck, tl.sum(X1 * qf, 1), mask=km)
            tl.store(pb_p + o * K + ck, -tl.sum(hb * X2, 1), mask=km)
            X1 = ef[:, None] * X1 + hf
            X2 = eb[:, None] * X2 + qb


@triton.jit(do_not_specialize=["NS", "NBH"])
def bigla_bwd_segcarry_kernel(
    pt_p, cf_p, cb_p, NS, NBH,
    K, BK: tl.constexpr, NP: tl.constexpr, STAGES: tl.constexpr,
):
    """Program (bh, w): the gate-gradient carry entering each segment, cf (w = 0) / cb (w = 1)
    = sum over the earlier segments of their parts (NP = 2 * NVS rows of bigla_bwd_segscan2)."""
    bh = tl.program_id(0)
    w = tl.program_id(1)
    ck = tl.arange(0, BK)
    rp = tl.arange(0, NP)
    km = ck < K
    base = (bh * NS).to(tl.int64)
    nt = (NBH * NS).to(tl.int64) * K
    prow = (rp * 2 + w).to(tl.int64) * nt
    if w == 0:
        c_p = cf_p
    else:
        c_p = cb_p
    c = tl.zeros([BK], dtype=tl.float32)
    for i in tl.range(0, NS, num_stages=STAGES):
        o = base + i
        t = tl.load(pt_p + prow[:, None] + o * K + ck[None, :], mask=km[None, :], other=0.0)
        tl.store(c_p + o * K + ck, c, mask=km)
        c += tl.sum(t, 0)


@triton.jit(do_not_specialize=["NS"])
def bigla_fwd_segscan_kernel(
    hf_p, hb_p, tf_p, tb_p, NS,
    K, V, BK: tl.constexpr, BVS: tl.constexpr, STAGES: tl.constexpr, FTZ: tl.constexpr = 0,
):
    """v2.6 (opt-in, VIG_TRITON_FSCAN): program (bh, d, j) replaces each segment's local state by
    the state entering it, in place (d = 0: S_f from the left, S = exp(Tf) * S + Hf; d = 1: S_b
    from the right, with Tb, Hb), on BVS value columns j. A slot is loaded before it is
    overwritten (same thread, same address); the loads do not depend on the carried state, so
    the loop is software-pipelined (STAGES)."""
    bh = tl.program_id(0)
    d = tl.program_id(1)
    ck = tl.arange(0, BK)
    cv = tl.program_id(2) * BVS + tl.arange(0, BVS)
    sm = (ck[:, None] < K) & (cv[None, :] < V)
    km = ck < K
    mat = ck[:, None] * V + cv[None, :]
    base = (bh * NS).to(tl.int64)
    if d == 0:
        h_p = hf_p
        t_p = tf_p
    else:
        h_p = hb_p
        t_p = tb_p
    S = tl.zeros([BK, BVS], dtype=tl.float32)
    for i in tl.range(0, NS, num_stages=STAGES):
        n = tl.where(d == 0, i, NS - 1 - i)
        o = base + n
        Hn = tl.load(h_p + o * K * V + mat, mask=sm, other=0.0)
        Tn = tl.load(t_p + o * K + ck, mask=km, other=0.0)
        tl.store(h_p + o * K * V + mat, S, mask=sm)
        S = _exp(Tn, FTZ)[:, None] * S + Hn


# ---------------------------------------------------------------------------------------------
# v2.8 / v2.9 (session 6; NOTES.md v2.8, v2.9; one kernel body per pass since round 3; v2.8 the
# default since session 7 and, since session 9, the only main kernels: v2.2's bigla_fwd_kernel /
# bigla_bwd_kernel, of which these were copies, are in git history at 9bf15d5):
# "derived exps" kernels, whose fast-path chunks (gate range <= THR) take every per-token decay
# tile from the two factor tiles of the intra-chunk block, eq = exp(p - m) and ek = exp(m - p),
# times a per-channel vector:
#   forward direction (p_t = sum_{0<i<=t} g_i, lo = p_{C-1}, m = lo / 2, g0 = row 0):
#     exp(a_t) = exp(sum_{i<=t} g_i)   = exp(g0 + m) * eq_t,
#     exp(b_t) = exp(sum_{t<i<C} g_i)  = exp(m) * ek_t,         tot = g0 + lo;
#   backward direction (e_t = sum_{i<t} g_i, lo = e_{C-1} + ... = sum_{i<C-1} g_i, p = -e,
#   m = -lo / 2, gl = row C-1):
#     exp(e_t) = exp(-m) * ek_t,
#     exp(a_t) = exp(sum_{i>=t} g_i)   = exp(gl - m) * eq_t,    tot = lo + gl.
# Per chunk and direction: one cumulative sum and one reduction instead of three (forward: a, b,
# p) or two (backward: a, e) cumsums and two reductions, no shifted next-row gate tile in the
# forward direction, and 2 exp tiles instead of 4 where the direction's intra block is done
# (a sweep: 4 [C, BK] exp tiles instead of 6). In the fast path every exponent is in
# [-THR/2, THR/2] (eq, ek) or <= 0 (the vector factors; g0, gl may be -inf: factor 0, as the
# direct form gives). The exact path (strong gates, -inf inside the range) keeps the direct
# cumulative sums and exps of the v2.2 kernels, so -inf never meets a difference of sums.
#
# constexpr MODE of bigla_fwd_dx_kernel / bigla_bwd_dx_kernel (and of the helpers below):
#   MODE 0 (v2.8, the default; VIG_TRITON_DX_* = 0 is refused): one launch, a per-chunk branch between the fast
#     and the exact path; fl_p is not read: the launcher passes None (a constexpr, so the
#     compiled kernel has no such parameter: its PTX is the v2.8 kernel's, byte for byte).
#   MODE 1 (v2.9, VIG_TRITON_FO_FWD / _BWD = 1, first launch, "fast only"): no exact path in the
#     code at all (no branch per chunk, no exact loops, no values merged from two branches);
#     EVERY chunk takes the factorised form and the program writes one int32 flag, fl_p[program]
#     = 1 if any chunk failed the fast-path test (its outputs are then garbage, possibly inf /
#     NaN, and will be overwritten), else 0.
#   MODE 2 (v2.9, second launch): MODE 0's code run only where the flag is 1: a program whose
#     flag is 0 walks zero chunks and stores nothing. Programs are independent (every output row
#     and scratch row of a program is written by that program only, its entering states come
#     from the segment kernels), so MODE 2 redoing a flagged program from scratch is exact. On
#     ViG inputs every chunk is fast: MODE 2 is an almost empty launch.
# ---------------------------------------------------------------------------------------------
@triton.jit
def _gx_f(gf_p, rows, ck, sgf, L, K, t0, C: tl.constexpr, THR: tl.constexpr,
          MODE: tl.constexpr = 0, FTZ: tl.constexpr = 0):
    """Forward-direction gate quantities of one chunk: (g, ok, tot, exp(a), exp(b), eq, ek);
    eq / ek = exp(+-(p - m)) on the fast path (ok), unused (set to exp(a), exp(b)) on the exact
    path. MODE 1: the fast path only (g is returned but not used)."""
    ti = tl.arange(0, C)
    g = _tile(gf_p, rows, ck, sgf, L, K, 0)
    gz = tl.where(ti[:, None] == 0, 0.0, g)
    p = tl.cumsum(gz, 0)  # sum_{start+1..t}
    lo = tl.sum(gz, 0)
    m = 0.5 * lo
    ok = tl.min(lo, 0) >= -THR
    g0 = tl.load(gf_p + t0 * sgf + ck, mask=ck < K, other=0.0).to(tl.float32)  # t0 < L always
    tot = g0 + lo
    if MODE == 1:
        eq = _exp(p - m[None, :], FTZ)
        ek = _exp(m[None, :] - p, FTZ)
        ea = _exp(g0 + m, FTZ)[None, :] * eq
        eb = _exp(m, FTZ)[None, :] * ek
    else:
        if ok:
            eq = _exp(p - m[None, :], FTZ)
            ek = _exp(m[None, :] - p, FTZ)
            ea = _exp(g0 + m, FTZ)[None, :] * eq
            eb = _exp(m, FTZ)[None, :] * ek
        else:
            gn = _tile(gf_p, rows + 1, ck, sgf, tl.minimum(L, t0 + C), K, 0)
            ea = _exp(tl.cumsum(g, 0), FTZ)
            eb = _exp(tl.cumsum(gn, 0, reverse=True), FTZ)
            eq = ea
            ek = eb
    return g, ok, tot, ea, eb, eq, ek


@triton.jit
def _gx_b(gb_p, rows, ck, sgb, L, K, t0, C: tl.constexpr, THR: tl.constexpr,
          MODE: tl.constexpr = 0, FTZ: tl.constexpr = 0):
    """Backward-direction gate quantities of one chunk: (g, ok, tot, exp(a), exp(e), eq, ek);
    on the fast path g is not loaded (the shifted tile stands in: only the exact path reads g)
    and eq / ek = exp(+-(p - m)); on the exact path eq / ek are unused. MODE 1: the fast path
    only."""
    gp = _tile(gb_p, rows - 1, ck, sgb, L, K, t0)  # previous token's gate inside the chunk
    e = tl.cumsum(gp, 0)  # sum_{start..t-1}
    lo = tl.sum(gp, 0)
    m = -0.5 * lo
    ok = tl.min(lo, 0) >= -THR
    tle = t0 + C - 1
    gl = tl.load(gb_p + tle * sgb + ck, mask=(ck < K) & (tle < L), other=0.0).to(tl.float32)
    tot = lo + gl
    if MODE == 1:
        eq = _exp(-e - m[None, :], FTZ)
        ek = _exp(m[None, :] + e, FTZ)
        ea = _exp(gl - m, FTZ)[None, :] * eq
        ee = _exp(-m, FTZ)[None, :] * ek
        g = gp
    else:
        if ok:
            eq = _exp(-e - m[None, :], FTZ)
            ek = _exp(m[None, :] + e, FTZ)
            ea = _exp(gl - m, FTZ)[None, :] * eq
            ee = _exp(-m, FTZ)[None, :] * ek
            g = gp
        else:
            g = _tile(gb_p, rows, ck, sgb, L, K, 0)
            ea = _exp(tl.cumsum(g, 0, reverse=True), FTZ)
            ee = _exp(e, FTZ)
            eq = ea
            ek = ee
    return g, ok, tot, ea, ee, eq, ek


@triton.jit
def _intra_Ax(q, k, g, eq, ek, ok, C: tl.constexpr, REV: tl.constexpr, PREC: tl.constexpr,
              MODE: tl.constexpr = 0, FTZ: tl.constexpr = 0):
    """A[t, j] = sum_k q_tk k_jk w_tjk within one chunk and direction (masked), from the factor
    tiles eq / ek on the fast path (ok), else the exact path (MODE 1: the fast path only)."""
    if MODE == 1:
        A = tl.where(_mask(C, REV), _dot(q * eq, tl.trans(k * ek), PREC), 0.0)
    else:
        if ok:
            A = _dot(q * eq, tl.trans(k * ek), PREC)
        else:
            A = _exact_A(q, k, g, C, REV, FTZ)
        A = tl.where(_mask(C, REV), A, 0.0)
    return A


@triton.jit
def _intra_bwdx(q, k, g, eq, ek, ok, dA, C: tl.constexpr, REV: tl.constexpr, PREC: tl.constexpr,
                MODE: tl.constexpr = 0, FTZ: tl.constexpr = 0):
    """(A, dq, dk) of the intra-chunk block of one direction, diagonal excluded (dA already
    masked strictly): the diagonal pairs carry no gate and are added once by the caller, so that
    they stay out of the gate gradients. Factor tiles eq / ek on the fast path (ok), else the
    exact path (MODE 1: the fast path only)."""
    if MODE == 1:
        qe = q * eq
        ke = k * ek
        A = tl.where(_smask(C, REV), _dot(qe, tl.trans(ke), PREC), 0.0)
        dq = _dot(dA, ke, PREC) * eq
        dk = _dot(tl.trans(dA), qe, PREC) * ek
    else:
        if ok:
            qe = q * eq
            ke = k * ek
            A = _dot(qe, tl.trans(ke), PREC)
            dq = _dot(dA, ke, PREC) * eq
            dk = _dot(tl.trans(dA), qe, PREC) * ek
        else:
            A, dq, dk = _exact_bwd(q, k, g, dA, C, REV, FTZ)
        A = tl.where(_smask(C, REV), A, 0.0)
    return A, dq, dk


@triton.jit(do_not_specialize=["L", "H", "LS", "NS"])
def bigla_fwd_dx_kernel(
    q_p, k_p, v_p, gf_p, gb_p, o_p, op_p, hf_p, hb_p, tf_p, tb_p, fl_p,
    sqb, sql, sqh, skb, skl, skh, svb, svl, svh,
    sfb, sfl, sfh, sbb, sbl, sbh, sob, sol, soh,
    scale, L, H, LS, NS,
    K, V, BK: tl.constexpr, BV: tl.constexpr,
    C: tl.constexpr, THR: tl.constexpr, PREC: tl.constexpr, FST: tl.constexpr = 0,
    FSC: tl.constexpr = 0, MODE: tl.constexpr = 0, FTZ: tl.constexpr = 0,
):
    """Output (v2.2's forward with derived exps, plus fl_p: int32 flags, one per program).
    Program (iv, bh, s): V block iv of (batch, head) bh over segment s of LS tokens (NS segments;
    NS == 1: the whole sequence); reverse sweep: backward-direction state, partial outputs to op
    (fp32 scratch); forward sweep: forward-direction state, final output. With NS > 1 the states
    entering the segment are assembled from the segment states of bigla_fwd_segstate_kernel; FST
    > 1 (opt-in VIG_TRITON_FPIPE): those assembly loops software-pipelined FST deep; FSC = 1
    (opt-in VIG_TRITON_FSCAN): hf / hb already hold the entering states (bigla_fwd_segscan_kernel).
    MODE 0 (v2.8): fast / exact branch per chunk, fl_p None; MODE 1 (v2.9): fast
    only, writes fl_p[program] = any chunk not fast; MODE 2 (v2.9): MODE 0's code on the programs
    whose flag is 1, nothing elsewhere."""
    iv = tl.program_id(0)
    bh = tl.program_id(1)
    s = tl.program_id(2)
    b = bh // H
    h = bh % H
    if MODE != 0:
        fidx = (bh * NS + s) * tl.num_programs(0) + iv
    q_p += b * sqb + h * sqh
    k_p += b * skb + h * skh
    v_p += b * svb + h * svh
    gf_p += b * sfb + h * sfh
    gb_p += b * sbb + h * sbh
    o_p += b * sob + h * soh
    op_p += bh.to(tl.int64) * L * V
    ti = tl.arange(0, C)
    ck = tl.arange(0, BK)
    cv = iv * BV + tl.arange(0, BV)
    ts = s * LS
    nch = tl.cdiv(tl.minimum(L, ts + LS) - ts, C)
    if MODE != 0:
        nse = NS - 1 - s
        nsf = s
    if MODE == 2:
        go = tl.load(fl_p + fidx)
        nch = nch * go
        nse = nse * go
        nsf = nsf * go
    if MODE != 0:
        nbad = tl.zeros([], dtype=tl.int32)
    sm = (ck[:, None] < K) & (cv[None, :] < V)
    sbase = (bh * NS).to(tl.int64)

    S = tl.zeros([BK, BV], dtype=tl.float32)
    if MODE == 0:  # (here, where v2.8 computed it: the same code order)
        nse = NS - 1 - s
    if FSC != 0:
        S = tl.load(hb_p + (sbase + s) * K * V + ck[:, None] * V + cv[None, :], mask=sm, other=0.0)
    elif FST > 1:
        for i in tl.range(0, nse, num_stages=FST):
            o2 = sbase + NS - 1 - i
            S = _exp(tl.load(tb_p + o2 * K + ck, mask=ck < K, other=0.0), FTZ)[:, None] * S \
                + tl.load(hb_p + o2 * K * V + ck[:, None] * V + cv[None, :], mask=sm, other=0.0)
    else:
        for i in range(nse):
            o2 = sbase + NS - 1 - i
            S = _exp(tl.load(tb_p + o2 * K + ck, mask=ck < K, other=0.0), FTZ)[:, None] * S \
                + tl.load(hb_p + o2 * K * V + ck[:, None] * V + cv[None, :], mask=sm, other=0.0)
    for ic in range(nch):
        t0 = ts + (nch - 1 - ic) * C
        rows = t0 + ti
        q = _tile(q_p, rows, ck, sql, L, K, 0)
        k = _tile(k_p, rows, ck, skl, L, K, 0)
        v = _tile(v_p, rows, cv, svl, L, V, 0)
        g, ok, tot, ea, ee, eq, ek = _gx_b(gb_p, rows, ck, sbl, L, K, t0, C, THR, MODE, FTZ)
        if MODE == 1:
            nbad += tl.where(ok, 0, 1)
        A = _intra_Ax(q, k, g, eq, ek, ok, C, 1, PREC, MODE, FTZ)
        ob = _dot(q * ea, S, PREC) + _dot(A, v, PREC)
        omask = (rows[:, None] < L) & (cv[None, :] < V)
        tl.store(op_p + rows[:, None] * V + cv[None, :], ob, mask=omask)
        S = _exp(tot, FTZ)[:, None] * S + _dot(tl.trans(k * ee), v, PREC)

    S = tl.zeros([BK, BV], dtype=tl.float32)
    if MODE == 0:
        nsf = s
    if FSC != 0:
        S = tl.load(hf_p + (sbase + s) * K * V + ck[:, None] * V + cv[None, :], mask=sm, other=0.0)
    elif FST > 1:
        for i in tl.range(0, nsf, num_stages=FST):
            o2 = sbase + i
            S = _exp(tl.load(tf_p + o2 * K + ck, mask=ck < K, other=0.0), FTZ)[:, None] * S \
                + tl.load(hf_p + o2 * K * V + ck[:, None] * V + cv[None, :], mask=sm, other=0.0)
    else:
        for i in range(nsf):
            o2 = sbase + i
            S = _exp(tl.load(tf_p + o2 * K + ck, mask=ck < K, other=0.0), FTZ)[:, None] * S \
                + tl.load(hf_p + o2 * K * V + ck[:, None] * V + cv[None, :], mask=sm, other=0.0)
    for c in range(nch):
        t0 = ts + c * C
        rows = t0 + ti
        q = _tile(q_p, rows, ck, sql, L, K, 0)
        k = _tile(k_p, rows, ck, skl, L, K, 0)
        v = _tile(v_p, rows, cv, svl, L, V, 0)
        g, ok, tot, ea, eb, eq, ek = _gx_f(gf_p, rows, ck, sfl, L, K, t0, C, THR, MODE, FTZ)
        if MODE == 1:
            nbad += tl.where(ok, 0, 1)
        A = _intra_Ax(q, k, g, eq, ek, ok, C, 0, PREC, MODE, FTZ)
        of = _dot(q * ea, S, PREC) + _dot(A, v, PREC)
        omask = (rows[:, None] < L) & (cv[None, :] < V)
        ob = tl.load(op_p + rows[:, None] * V + cv[None, :], mask=omask, other=0.0)
        o = (of + ob) * (scale * 0.5)
        tl.store(o_p + rows[:, None] * sol + cv[None, :], o.to(o_p.dtype.element_ty), mask=omask)
        S = _exp(tot, FTZ)[:, None] * S + _dot(tl.trans(k * eb), v, PREC)
    if MODE == 1:
        tl.store(fl_p + fidx, tl.where(nbad > 0, 1, 0))


@triton.jit(do_not_specialize=["L", "H", "LS", "NS", "SEG"])
def bigla_bwd_dx_kernel(
    q_p, k_p, v_p, gf_p, gb_p, do_p,
    dq_p, dk_p, dv_p, dgf_p, dgb_p, pq_p, pk_p, pv_p,
    sf_p, db_p, sb_p, df_p, cf_p, cb_p, fl_p,
    sqb, sql, sqh, skb, skl, skh, svb, svl, svh,
    sfb, sfl, sfh, sbb, sbl, sbh, sdb, sdl, sdh,
    scale, L, H, LS, NS,
    K, V, BK: tl.constexpr, BV: tl.constexpr,
    C: tl.constexpr, THR: tl.constexpr, PREC: tl.constexpr, SEG, MODE: tl.constexpr = 0,
    CS: tl.constexpr = 0, FTZ: tl.constexpr = 0,
):
    """Gradients (v2.2's backward with derived exps, plus fl_p: int32 flags, one per program).
    Outputs dq, dk, dv, dgf, dgb contiguous [B, L, H, *]; pq, pk, pv fp32 scratch [B*H, L, *].
    Program (bh, s) covers segment s of LS tokens; with SEG the states and gate-gradient carries
    entering the segment come from the backward segment scan (sf, db, sb, df: [BH*NS, K, V];
    cf, cb: [BH*NS, K]). Reverse sweep: S_b, dS_f and the forward direction's intra block;
    forward sweep: S_f, dS_b, the backward direction's intra block, every gradient finished, gate
    gradients as prefix sums. MODE as in bigla_fwd_dx_kernel.

    CS (session 7, opt-in VIG_TRITON_CS_BWD=1): compact scratch. CS 0 (v2.8): the reverse sweep
    leaves five fp32 partial tiles per chunk (pq, pk, pv; the partial dGf / dGb in dgf_p / dgb_p)
    and the forward sweep reads them back. CS 1: it leaves the three key-side terms the partials
    are made of (dqf_i in pq, dkf in pk, dqb_x in dgb_p) and pv; the forward sweep rebuilds the
    partials with the same operations in the same order (dv2 recomputed from the do and v tiles
    it loads anyway): one [C, BK] fp32 store and one load fewer per chunk step (768 -> 640 B
    of scratch written and read per token), the same values."""
    bh, s, b, h = _bwd_pid(H)
    if MODE != 0:
        fidx = bh * NS + s
    (q_p, k_p, v_p, gf_p, gb_p, do_p, dq_p, dk_p, dgf_p, dgb_p, dv_p, pq_p, pk_p, pv_p, _, sK, sV, ti,
     ck, cv, hs, ts, nch) = _bwd_prog(
        b, h, bh, s, scale, L, H, LS, K, V, q_p, k_p, v_p, gf_p, gb_p, do_p, dq_p, dk_p, dgf_p, dgb_p,
        dv_p, pq_p, pk_p, pv_p, pv_p, sqb, sqh, skb, skh, svb, svh, sfb, sfh, sbb, sbh, sdb, sdh, BK,
        BV, C, 2, 0)
    if MODE == 2:
        nch = nch * tl.load(fl_p + fidx)
    if MODE != 0:
        nbad = tl.zeros([], dtype=tl.int32)
    so = (bh * NS + s).to(tl.int64)
    smask = (ck[:, None] < K) & (cv[None, :] < V)
    sidx = so * K * V + ck[:, None] * V + cv[None, :]

    if SEG != 0:
        S_b = tl.load(sb_p + sidx, mask=smask, other=0.0)
        dS_f = tl.load(df_p + sidx, mask=smask, other=0.0)
    else:
        S_b = tl.zeros([BK, BV], dtype=tl.float32)
        dS_f = tl.zeros([BK, BV], dtype=tl.float32)
    for ic in range(nch):
        t0 = ts + (nch - 1 - ic) * C
        rows = t0 + ti
        q, k, v, do = _qkvdo(q_p, k_p, v_p, do_p, rows, ck, cv, sql, skl, svl, sdl, L, K, V, hs)
        gf, okf, totf, xaf, xbf, eqf, ekf = _gx_f(gf_p, rows, ck, sfl, L, K, t0, C, THR, MODE, FTZ)
        gb, okb, totb, xab, xeb, eqb, ekb = _gx_b(gb_p, rows, ck, sbl, L, K, t0, C, THR, MODE, FTZ)
        if MODE == 1:
            nbad += tl.where(okf & okb, 0, 1)
        dA = _dot(do, tl.trans(v), PREC)
        A_f, dqf_i, dkf_i = _intra_bwdx(q, k, gf, eqf, ekf, okf, tl.where(_smask(C, 0), dA, 0.0),
                                    C, 0, PREC, MODE, FTZ)
        qk2 = 2.0 * tl.sum(q * k, 1)
        dv2 = 2.0 * tl.sum(do * v, 1)
        dqb_x = _dot(do, tl.trans(S_b), PREC) * xab
        dkf = dkf_i + _dot(v, tl.trans(dS_f), PREC) * xbf
        kbf = k * xbf
        pv = _dot(tl.trans(A_f), do, PREC) + qk2[:, None] * do \
            + _dot(kbf, dS_f, PREC)
        mK = (rows[:, None] < L) & (ck[None, :] < K)
        mV = (rows[:, None] < L) & (cv[None, :] < V)
        if CS == 0:
            tl.store(pq_p + rows[:, None] * K + ck[None, :], dqf_i + dqb_x + dv2[:, None] * k, mask=mK)
            tl.store(pk_p + rows[:, None] * K + ck[None, :], dkf + dv2[:, None] * q, mask=mK)
            tl.store(pv_p + rows[:, None] * V + cv[None, :], pv, mask=mV)
            tl.store(dgf_p + rows[:, None] * sK + ck[None, :], q * dqf_i - k * dkf, mask=mK)
            tl.store(dgb_p + rows[:, None] * sK + ck[None, :], q * dqb_x, mask=mK)
        else:  # the terms, not the partials (rebuilt in the forward sweep)
            tl.store(pq_p + rows[:, None] * K + ck[None, :], dqf_i, mask=mK)
            tl.store(pk_p + rows[:, None] * K + ck[None, :], dkf, mask=mK)
            tl.store(pv_p + rows[:, None] * V + cv[None, :], pv, mask=mV)
            tl.store(dgb_p + rows[:, None] * sK + ck[None, :], dqb_x, mask=mK)
        S_b = _exp(totb, FTZ)[:, None] * S_b + _dot(tl.trans(k * xeb), v, PREC)
        dS_f = _exp(totf, FTZ)[:, None] * dS_f + _dot(tl.trans(q * xaf), do, PREC)

    if SEG != 0:
        S_f = tl.load(sf_p + sidx, mask=smask, other=0.0)
        dS_b = tl.load(db_p + sidx, mask=smask, other=0.0)
        cf = tl.load(cf_p + so * K + ck, mask=ck < K, other=0.0)
        cb = tl.load(cb_p + so * K + ck, mask=ck < K, other=0.0)
    else:
        S_f = tl.zeros([BK, BV], dtype=tl.float32)
        dS_b = tl.zeros([BK, BV], dtype=tl.float32)
        cf = tl.zeros([BK], dtype=tl.float32)
        cb = tl.zeros([BK], dtype=tl.float32)
    for c in range(nch):
        t0 = ts + c * C
        rows = t0 + ti
        q, k, v, do = _qkvdo(q_p, k_p, v_p, do_p, rows, ck, cv, sql, skl, svl, sdl, L, K, V, hs)
        gf, okf, totf, xaf, xbf, eqf, ekf = _gx_f(gf_p, rows, ck, sfl, L, K, t0, C, THR, MODE, FTZ)
        gb, okb, totb, xab, xeb, eqb, ekb = _gx_b(gb_p, rows, ck, sbl, L, K, t0, C, THR, MODE, FTZ)
        mK = (rows[:, None] < L) & (ck[None, :] < K)
        mV = (rows[:, None] < L) & (cv[None, :] < V)
        dA = _dot(do, tl.trans(v), PREC)
        A_b, dqb_i, dkb_i = _intra_bwdx(q, k, gb, eqb, ekb, okb, tl.where(_smask(C, 1), dA, 0.0),
                                    C, 1, PREC, MODE, FTZ)
        dqf_x = _dot(do, tl.trans(S_f), PREC) * xaf
        dkb = dkb_i + _dot(v, tl.trans(dS_b), PREC) * xeb
        keb = k * xeb
        dv = tl.load(pv_p + rows[:, None] * V + cv[None, :], mask=mV, other=0.0) \
            + _dot(tl.trans(A_b), do, PREC) + _dot(keb, dS_b, PREC)
        if CS == 0:
            dq = tl.load(pq_p + rows[:, None] * K + ck[None, :], mask=mK, other=0.0) + dqb_i + dqf_x
            dk = tl.load(pk_p + rows[:, None] * K + ck[None, :], mask=mK, other=0.0) + dkb
            dGf = tl.load(dgf_p + rows[:, None] * sK + ck[None, :], mask=mK, other=0.0) + q * dqf_x
            dGb = tl.load(dgb_p + rows[:, None] * sK + ck[None, :], mask=mK, other=0.0) + q * dqb_i - k * dkb
        else:  # the reverse sweep's partials rebuilt from its terms (same operations, same order)
            r_dqf_i = tl.load(pq_p + rows[:, None] * K + ck[None, :], mask=mK, other=0.0)
            r_dkf = tl.load(pk_p + rows[:, None] * K + ck[None, :], mask=mK, other=0.0)
            r_dqb_x = tl.load(dgb_p + rows[:, None] * sK + ck[None, :], mask=mK, other=0.0)
            r_dv2 = 2.0 * tl.sum(do * v, 1)
            dq = (r_dqf_i + r_dqb_x + r_dv2[:, None] * k) + dqb_i + dqf_x
            dk = (r_dkf + r_dv2[:, None] * q) + dkb
            dGf = (q * r_dqf_i - k * r_dkf) + q * dqf_x
            dGb = (q * r_dqb_x) + q * dqb_i - k * dkb
        csf = tl.cumsum(dGf, 0)
        dgf = -(cf[None, :] + (csf - dGf))
        cf += tl.sum(dGf, 0)
        dgb = cb[None, :] + tl.cumsum(dGb, 0)
        cb += tl.sum(dGb, 0)
        dgb = tl.where(rows[:, None] == L - 1, 0.0, dgb)
        _store_dqkv(dq_p, dk_p, dv_p, rows, ck, cv, sK, sV, dq, dk, dv, mK, mV)
        tl.store(dgf_p + rows[:, None] * sK + ck[None, :], dgf, mask=mK)
        tl.store(dgb_p + rows[:, None] * sK + ck[None, :], dgb, mask=mK)
        S_f = _exp(totf, FTZ)[:, None] * S_f + _dot(tl.trans(k * xbf), v, PREC)
        dS_b = _exp(totb, FTZ)[:, None] * dS_b + _dot(tl.trans(q * xab), do, PREC)
    if MODE == 1:
        tl.store(fl_p + fidx, tl.where(nbad > 0, 1, 0))


# ---------------------------------------------------------------------------------------------
# Session 8 (opt-in, VIG_TRITON_SPLIT_BWD=1; NOTES.md "Session 8 (SPLIT)"): the derived-exp
# backward split by direction, two launches of one source (DIR 0, then DIR 1), one K x V state
# per sweep and only that direction's gate tiles. Each program runs a light sweep in its
# direction's scan order (state S: the inter-chunk dq term, left in its dg output as scratch)
# then a heavy sweep the other way (state gradient dS: the intra-chunk block, dk, dv, dq, the
# gate gradient in its natural order: DIR 0 a suffix sum in the reverse sweep, DIR 1 a prefix
# sum in the forward sweep, so dgf / dgb are final in the program that owns them). DIR 0 leaves
# the forward direction's full dq, dk, dv contributions in the fp32 scratch pq / pk / pv; DIR 1
# adds them, its own and the diagonal pairs and writes dq, dk, dv.
# ---------------------------------------------------------------------------------------------
@triton.jit
def _gx_d(g_p, rows, ck, sg, L, K, t0, C: tl.constexpr, THR: tl.constexpr, DIR: tl.constexpr,
          MODE: tl.constexpr, FTZ: tl.constexpr = 0):
    """(g, ok, tot, xq, xk, eq, ek) of one chunk for direction DIR: xq scales q against the state
    entering the chunk (dq's inter term, the dS update), xk scales k (S update, dk / dv inter
    terms); eq / ek the intra block's factor tiles (_gx_f / _gx_b)."""
    if DIR == 0:
        g, ok, tot, xq, xk, eq, ek = _gx_f(g_p, rows, ck, sg, L, K, t0, C, THR, MODE, FTZ)
    else:
        g, ok, tot, xq, xk, eq, ek = _gx_b(g_p, rows, ck, sg, L, K, t0, C, THR, MODE, FTZ)
    return g, ok, tot, xq, xk, eq, ek


@triton.jit(do_not_specialize=["L", "H", "LS", "NS", "SEG"])
def bigla_bwd_dir_dx_kernel(
    q_p, k_p, v_p, g_p, do_p,
    dq_p, dk_p, dv_p, dg_p, pq_p, pk_p, pv_p, pd_p,
    st_p, ds_p, c_p, fl_p,
    sqb, sql, sqh, skb, skl, skh, svb, svl, svh,
    sgb, sgl, sgh, sdb, sdl, sdh,
    scale, L, H, LS, NS,
    K, V, BK: tl.constexpr, BV: tl.constexpr,
    C: tl.constexpr, THR: tl.constexpr, PREC: tl.constexpr, SEG, DIR: tl.constexpr,
    MODE: tl.constexpr = 0, FTZ: tl.constexpr = 0,
):
    """One direction's backward (session 8, see the banner above). g_p / dg_p: this direction's
    gate and gate gradient (dg [B, L, H, K] fp32, contiguous, also the light sweep's scratch);
    st_p / ds_p / c_p (SEG != 0): the entering state of the light sweep (sf or sb), the entering
    state gradient of the heavy sweep (df or db), the gate-gradient carries (cf or cb) of
    bigla_bwd_segscan*_kernel. dq_p / dk_p / dv_p are written by DIR 1 only; pq / pk / pv
    (fp32 [B*H, L, K | K | V]) written by DIR 0, read by DIR 1; pd (fp32 [B*H, 2, L]) the
    diagonal pairs' row factors, DIR 1's light sweep to its heavy sweep.
    MODE as in bigla_bwd_dx_kernel: 0 fast / exact branch per chunk (fl_p None); 1 fast path
    only, fl_p[program] = 1 if any chunk of this direction failed the fast-path test; 2 MODE 0's
    code on the flagged programs only (both sweeps redone: every output of the program is
    rewritten), so per direction MODE 1 then MODE 2, and DIR 0's pair before DIR 1's."""
    bh, s, b, h = _bwd_pid(H)
    (q_p, k_p, v_p, g_p, _, do_p, dq_p, dk_p, dg_p, _, dv_p, pq_p, pk_p, pv_p, pd_p, sK, sV, ti, ck, cv,
     hs, ts, nch) = _bwd_prog(
        b, h, bh, s, scale, L, H, LS, K, V, q_p, k_p, v_p, g_p, g_p, do_p, dq_p, dk_p, dg_p, dg_p, dv_p,
        pq_p, pk_p, pv_p, pd_p, sqb, sqh, skb, skh, svb, svh, sgb, sgh, sgb, sgh, sdb, sdh, BK, BV, C,
        1, 1)
    so = (bh * NS + s).to(tl.int64)
    if MODE == 2:
        nch = nch * tl.load(fl_p + so)
    if MODE == 1:
        nbad = tl.zeros([], dtype=tl.int32)
    smask = (ck[:, None] < K) & (cv[None, :] < V)
    sidx = so * K * V + ck[:, None] * V + cv[None, :]

    # light sweep, in the direction's scan order: dq's inter-chunk term through S
    if SEG != 0:
        S = tl.load(st_p + sidx, mask=smask, other=0.0)
    else:
        S = tl.zeros([BK, BV], dtype=tl.float32)
    for i in range(nch):
        if DIR == 0:
            t0 = ts + i * C
        else:
            t0 = ts + (nch - 1 - i) * C
        rows = t0 + ti
        k = _tile(k_p, rows, ck, skl, L, K, 0)
        v = _tile(v_p, rows, cv, svl, L, V, 0)
        do = _tile(do_p, rows, cv, sdl, L, V, 0) * hs
        g, ok, tot, xq, xk, eq, ek = _gx_d(g_p, rows, ck, sgl, L, K, t0, C, THR, DIR, MODE, FTZ)
        mK = (rows[:, None] < L) & (ck[None, :] < K)
        if DIR == 1:  # the diagonal pairs' row factors (both directions: 2x), for the heavy sweep
            q = _tile(q_p, rows, ck, sql, L, K, 0)
            tl.store(pd_p + rows, 2.0 * tl.sum(do * v, 1), mask=rows < L)
            tl.store(pd_p + L + rows, 2.0 * tl.sum(q * k, 1), mask=rows < L)
        tl.store(dg_p + rows[:, None] * sK + ck[None, :], _dot(do, tl.trans(S), PREC) * xq, mask=mK)
        S = _exp(tot, FTZ)[:, None] * S + _dot(tl.trans(k * xk), v, PREC)

    # heavy sweep, the other way: the intra block, dk / dv through dS, the gate gradient
    if SEG != 0:
        dS = tl.load(ds_p + sidx, mask=smask, other=0.0)
        if DIR == 0:  # suffix carry: sum of dGf after the segment = -(sum before the next one)
            cg = -tl.load(c_p + (so + 1) * K + ck, mask=(ck < K) & (s + 1 < NS), other=0.0)
        else:
            cg = tl.load(c_p + so * K + ck, mask=ck < K, other=0.0)
    else:
        dS = tl.zeros([BK, BV], dtype=tl.float32)
        cg = tl.zeros([BK], dtype=tl.float32)
    for i in range(nch):
        if DIR == 0:
            t0 = ts + (nch - 1 - i) * C
        else:
            t0 = ts + i * C
        rows = t0 + ti
        q, k, v, do = _qkvdo(q_p, k_p, v_p, do_p, rows, ck, cv, sql, skl, svl, sdl, L, K, V, hs)
        g, ok, tot, xq, xk, eq, ek = _gx_d(g_p, rows, ck, sgl, L, K, t0, C, THR, DIR, MODE, FTZ)
        mK = (rows[:, None] < L) & (ck[None, :] < K)
        mV = (rows[:, None] < L) & (cv[None, :] < V)
        dA = _dot(do, tl.trans(v), PREC)
        if MODE == 1:
            nbad += tl.where(ok, 0, 1)
        A, dq_i, dk_i = _intra_bwdx(q, k, g, eq, ek, ok, tl.where(_smask(C, DIR), dA, 0.0),
                                    C, DIR, PREC, MODE, FTZ)
        dk = dk_i + _dot(v, tl.trans(dS), PREC) * xk
        pv = _dot(tl.trans(A), do, PREC) + _dot(k * xk, dS, PREC)
        dq = tl.load(dg_p + rows[:, None] * sK + ck[None, :], mask=mK, other=0.0) + dq_i
        dG = q * dq - k * dk
        if DIR == 0:  # dgf_t = sum_{i >= t} dGf_i (0 at t = 0: gf_0 decays nothing)
            dg = cg[None, :] + tl.cumsum(dG, 0, reverse=True)
            dg = tl.where(rows[:, None] == 0, 0.0, dg)
        else:  # dgb_t = sum_{i <= t} dGb_i (0 at t = L - 1)
            dg = cg[None, :] + tl.cumsum(dG, 0)
            dg = tl.where(rows[:, None] == L - 1, 0.0, dg)
        cg += tl.sum(dG, 0)
        tl.store(dg_p + rows[:, None] * sK + ck[None, :], dg, mask=mK)
        if DIR == 0:  # the forward direction's contributions, for DIR 1
            tl.store(pq_p + rows[:, None] * K + ck[None, :], dq, mask=mK)
            tl.store(pk_p + rows[:, None] * K + ck[None, :], dk, mask=mK)
            tl.store(pv_p + rows[:, None] * V + cv[None, :], pv, mask=mV)
        else:  # + the forward direction's + the diagonal pairs (row factors of the light sweep)
            dv2 = tl.load(pd_p + rows, mask=rows < L, other=0.0)
            qk2 = tl.load(pd_p + L + rows, mask=rows < L, other=0.0)
            dq = dq + dv2[:, None] * k + tl.load(pq_p + rows[:, None] * K + ck[None, :], mask=mK, other=0.0)
            dk = dk + dv2[:, None] * q + tl.load(pk_p + rows[:, None] * K + ck[None, :], mask=mK, other=0.0)
            dv = pv + qk2[:, None] * do + tl.load(pv_p + rows[:, None] * V + cv[None, :], mask=mV, other=0.0)
            _store_dqkv(dq_p, dk_p, dv_p, rows, ck, cv, sK, sV, dq, dk, dv, mK, mV)
        dS = _exp(tot, FTZ)[:, None] * dS + _dot(tl.trans(q * xq), do, PREC)

    if MODE == 1:
        tl.store(fl_p + so, tl.where(nbad > 0, 1, 0))
