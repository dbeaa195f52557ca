"""v3 of the Triton backend's kernels (experimental, NOT the default; measured slower than v2
on an H100, see NOTES.md): big chunks of CB = 32 or 64 tokens with a factorised fast path per
chunk and a state-only reverse prepass, the v2 16-token code as the slow path of a chunk whose
gates are too wide. Selected only by VIG_TRITON_V=3 (kept as the record of that experiment;
GPU parity 72/72 in kernels/triton/dev_bench.py on 2026-11-25).
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from .kernels import _gates_b, _gates_f, _intra_A, _intra_bwd, _smask, _tile


# ================================================================================================
# v3: big chunks (CB = 32 or 64 tokens) with a fast factorised path per chunk, one sweep per
# pass after a cheap state-only reverse prepass; the v2 16-token code is the slow path of a chunk
# whose gate range is too wide (strong gates, -inf).
#
# Forward, program (bh, s) over segment s:
#   prepass (reverse, state only): S_b entering each chunk from the right -> scratch sc
#   main (forward): per chunk, both directions at once from S_f (carried) and S_b (scratch):
#     fast path when the chunk's gate range per channel is <= THR in both directions (the whole
#     CB x CB block factorised through the middle of the range, one matrix product each);
#     otherwise the v2 code over the chunk's 16-token sub-chunks (its own two mini-sweeps,
#     the partial output through the fp32 scratch op, as in v2).
# Backward likewise: the prepass stores S_b and dS_f entering each chunk; the main forward sweep
# carries S_f, dS_b and the gate-gradient carries and finishes every gradient of a fast chunk
# at once; a slow chunk runs the v2 two mini-sweeps over its sub-chunks (partials through the
# fp32 scratch pq, pk, pv and the dg buffers, as in v2).
# ================================================================================================


@triton.jit
def _fwd_rev_range(q_p, k_p, v_p, gb_p, op_p, S, t_lo, nsub, sql, skl, svl, sbl, L, K, V, ck, cv,
                   C: tl.constexpr, THR: tl.constexpr, PREC: tl.constexpr):
    """v2 reverse sweep over nsub sub-chunks of C tokens from t_lo: backward-direction partial
    outputs (unscaled) to op; returns the backward state entering t_lo."""
    ti = tl.arange(0, C)
    for ic in range(nsub):
        t0 = t_lo + (nsub - 1 - ic) * C
        rows = t0 + ti
        q = _tile(q_p, rows, ck, sql, L, K, 0)
        k = _tile(k_p, rows, ck, skl, L, K, 0)
        v = _tile(v_p, rows, cv, svl, L, V, 0)
        g, a, e, tot, p, m, ok = _gates_b(gb_p, rows, ck, sbl, L, K, t0, C, THR)
        A = _intra_A(q, k, g, p, m, ok, C, 1, PREC)
        ob = tl.dot(q * tl.exp(a), S, input_precision=PREC) + tl.dot(A, v, input_precision=PREC)
        omask = (rows[:, None] < L) & (cv[None, :] < V)
        tl.store(op_p + rows[:, None] * V + cv[None, :], ob, mask=omask)
        S = tl.exp(tot)[:, None] * S + tl.dot(tl.trans(k * tl.exp(e)), v, input_precision=PREC)
    return S


@triton.jit
def _fwd_fwd_range(q_p, k_p, v_p, gf_p, o_p, op_p, S, t_lo, nsub, sql, skl, svl, sfl, sol, scale,
                   L, K, V, ck, cv, C: tl.constexpr, THR: tl.constexpr, PREC: tl.constexpr):
    """v2 forward sweep over nsub sub-chunks from t_lo: adds the forward direction to op's
    partial output, writes o; returns the forward state leaving the range."""
    ti = tl.arange(0, C)
    for c in range(nsub):
        t0 = t_lo + c * C
        rows = t0 + ti
        q = _tile(q_p, rows, ck, sql, L, K, 0)
        k = _tile(k_p, rows, ck, skl, L, K, 0)
        v = _tile(v_p, rows, cv, svl, L, V, 0)
        g, a, bb, tot, p, m, ok = _gates_f(gf_p, rows, ck, sfl, L, K, t0, C, THR)
        A = _intra_A(q, k, g, p, m, ok, C, 0, PREC)
        of = tl.dot(q * tl.exp(a), S, input_precision=PREC) + tl.dot(A, v, input_precision=PREC)
        omask = (rows[:, None] < L) & (cv[None, :] < V)
        ob = tl.load(op_p + rows[:, None] * V + cv[None, :], mask=omask, other=0.0)
        o = (of + ob) * (scale * 0.5)
        tl.store(o_p + rows[:, None] * sol + cv[None, :], o.to(o_p.dtype.element_ty), mask=omask)
        S = tl.exp(tot)[:, None] * S + tl.dot(tl.trans(k * tl.exp(bb)), v, input_precision=PREC)
    return S


@triton.jit
def _chunk_flags(gf_p, gb_p, rows, ck, sfl, sbl, L, K, t0, CB: tl.constexpr, THR: tl.constexpr):
    """Gate tiles of one big chunk and whether its fast path is safe (per-channel gate range of
    the intra-chunk pairs <= THR in both directions; False with any -inf or NaN)."""
    tb = tl.arange(0, CB)
    gf = _tile(gf_p, rows, ck, sfl, L, K, 0)
    gb = _tile(gb_p, rows, ck, sbl, L, K, 0)
    gp = _tile(gb_p, rows - 1, ck, sbl, L, K, t0)  # previous token's backward gate in the chunk
    gzf = tl.where(tb[:, None] == 0, 0.0, gf)
    lof = tl.sum(gzf, 0)
    lob = tl.sum(gp, 0)
    ok = (tl.min(lof, 0) >= -THR) & (tl.min(lob, 0) >= -THR)
    return gf, gb, gp, gzf, lof, lob, ok


@triton.jit(do_not_specialize=["L", "H", "LS", "NS", "NCT"])
def bigla_fwd3_kernel(
    q_p, k_p, v_p, gf_p, gb_p, o_p, op_p, sc_p, hf_p, hb_p, tf_p, tb_p,
    sqb, sql, sqh, skb, skl, skh, svb, svl, svh,
    sfb, sfl, sfh, sbb, sbl, sbh, sob, sol, soh,
    scale, L, H, LS, NS, NCT,
    K: tl.constexpr, V: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    C: tl.constexpr, CB: tl.constexpr, THR: tl.constexpr, PREC: tl.constexpr,
):
    """Output, v3. Program (bh, s): (batch, head) bh over segment s of LS tokens (a multiple of
    CB); sc is fp32 scratch [BH, NCT, K, V] (NCT = number of CB-chunks of the sequence)."""
    bh = tl.program_id(0)
    s = tl.program_id(1)
    b = bh // H
    h = bh % H
    q_p += b * sqb + h * sqh
    k_p += b * skb + h * skh
    v_p += b * svb + h * svh
    gf_p += b * sfb + h * sfh
    gb_p += b * sbb + h * sbh
    o_p += b * sob + h * soh
    op_p += bh.to(tl.int64) * L * V
    tbi = tl.arange(0, CB)
    ck = tl.arange(0, BK)
    cv = tl.arange(0, BV)
    ts = s * LS
    te = tl.minimum(L, ts + LS)
    nch = tl.cdiv(te - ts, CB)
    sm = (ck[:, None] < K) & (cv[None, :] < V)
    mat = ck[:, None] * V + cv[None, :]
    sbase = (bh * NS).to(tl.int64)
    cbase = (bh * NCT).to(tl.int64)
    hs = scale * 0.5

    # Prepass (reverse, state only): the backward-direction state entering each chunk.
    S = tl.zeros([BK, BV], dtype=tl.float32)
    for i in range(NS - 1 - s):  # segments after this one, far to near
        o2 = sbase + NS - 1 - i
        S = tl.exp(tl.load(tb_p + o2 * K + ck, mask=ck < K, other=0.0))[:, None] * S \
            + tl.load(hb_p + o2 * K * V + mat, mask=sm, other=0.0)
    for ic in range(nch):
        t0 = ts + (nch - 1 - ic) * CB
        rows = t0 + tbi
        tl.store(sc_p + (cbase + t0 // CB) * K * V + mat, S, mask=sm)
        k = _tile(k_p, rows, ck, skl, L, K, 0)
        v = _tile(v_p, rows, cv, svl, L, V, 0)
        g = _tile(gb_p, rows, ck, sbl, L, K, 0)
        gp = _tile(gb_p, rows - 1, ck, sbl, L, K, t0)
        e = tl.cumsum(gp, 0)  # sum_{start..t-1}
        S = tl.exp(tl.sum(g, 0))[:, None] * S + tl.dot(tl.trans(k * tl.exp(e)), v, input_precision=PREC)
    tl.debug_barrier()  # the scratch states are read below by other threads of this program

    # Main sweep (forward): both directions per chunk.
    S_f = tl.zeros([BK, BV], dtype=tl.float32)
    for i in range(s):  # segments before this one, far to near
        o2 = sbase + i
        S_f = tl.exp(tl.load(tf_p + o2 * K + ck, mask=ck < K, other=0.0))[:, None] * S_f \
            + tl.load(hf_p + o2 * K * V + mat, mask=sm, other=0.0)
    for c in range(nch):
        t0 = ts + c * CB
        rows = t0 + tbi
        S_b = tl.load(sc_p + (cbase + t0 // CB) * K * V + mat, mask=sm, other=0.0)
        gf, gb, gp, gzf, lof, lob, ok = _chunk_flags(gf_p, gb_p, rows, ck, sfl, sbl, L, K, t0, CB, THR)
        if ok:
            # one direction after the other, so that few tiles are live at once
            q = _tile(q_p, rows, ck, sql, L, K, 0)
            k = _tile(k_p, rows, ck, skl, L, K, 0)
            v = _tile(v_p, rows, cv, svl, L, V, 0)
            # forward direction: pair weight exp(p_t - p_j), p = sum_{start+1..t}, t >= j
            pf = tl.cumsum(gzf, 0)
            mf = 0.5 * lof
            A = tl.dot(q * tl.exp(pf - mf[None, :]), tl.trans(k * tl.exp(mf[None, :] - pf)),
                       input_precision=PREC)
            A = tl.where(tbi[:, None] >= tbi[None, :], A, 0.0)
            o = tl.dot(q * tl.exp(tl.cumsum(gf, 0)), S_f, input_precision=PREC)  # sum_{start..t}
            gn = _tile(gf_p, rows + 1, ck, sfl, tl.minimum(L, t0 + CB), K, 0)
            bf = tl.cumsum(gn, 0, reverse=True)  # sum_{t+1..end}
            S_f = tl.exp(tl.sum(gf, 0))[:, None] * S_f \
                + tl.dot(tl.trans(k * tl.exp(bf)), v, input_precision=PREC)
            # backward direction: pair weight exp(e_j - e_t), e = sum_{start..t-1}, j >= t
            eb = tl.cumsum(gp, 0)
            mb = 0.5 * lob
            Ab = tl.dot(q * tl.exp(mb[None, :] - eb), tl.trans(k * tl.exp(eb - mb[None, :])),
                        input_precision=PREC)
            A += tl.where(tbi[:, None] <= tbi[None, :], Ab, 0.0)
            o += tl.dot(q * tl.exp(tl.cumsum(gb, 0, reverse=True)), S_b, input_precision=PREC)
            o += tl.dot(A, v, input_precision=PREC)
            omask = (rows[:, None] < L) & (cv[None, :] < V)
            tl.store(o_p + rows[:, None] * sol + cv[None, :], (o * hs).to(o_p.dtype.element_ty),
                     mask=omask)
        else:
            nsub = tl.cdiv(tl.minimum(L, t0 + CB) - t0, C)
            S_b = _fwd_rev_range(q_p, k_p, v_p, gb_p, op_p, S_b, t0, nsub, sql, skl, svl, sbl,
                                 L, K, V, ck, cv, C, THR, PREC)
            S_f = _fwd_fwd_range(q_p, k_p, v_p, gf_p, o_p, op_p, S_f, t0, nsub, sql, skl, svl,
                                 sfl, sol, scale, L, K, V, ck, cv, C, THR, PREC)


@triton.jit
def _bwd_rev_range(q_p, k_p, v_p, gf_p, gb_p, do_p, dgf_p, dgb_p, pq_p, pk_p, pv_p, S_b, dS_f,
                   t_lo, nsub, sql, skl, svl, sfl, sbl, sdl, sK, hs, L, K, V, ck, cv,
                   C: tl.constexpr, THR: tl.constexpr, PREC: tl.constexpr):
    """v2 reverse sweep over nsub sub-chunks from t_lo: partial dq, dk, dv (fp32 scratch) and
    partial dG (in the dg buffers); returns (S_b, dS_f) entering t_lo from the right."""
    ti = tl.arange(0, C)
    for ic in range(nsub):
        t0 = t_lo + (nsub - 1 - ic) * C
        rows = t0 + ti
        q = _tile(q_p, rows, ck, sql, L, K, 0)
        k = _tile(k_p, rows, ck, skl, L, K, 0)
        v = _tile(v_p, rows, cv, svl, L, V, 0)
        do = _tile(do_p, rows, cv, sdl, L, V, 0) * hs
        gf, af, bf, totf, pf, mf, okf = _gates_f(gf_p, rows, ck, sfl, L, K, t0, C, THR)
        gb, ab, eb, totb, pb, mb, okb = _gates_b(gb_p, rows, ck, sbl, L, K, t0, C, THR)
        dA = tl.dot(do, tl.trans(v), input_precision=PREC)
        A_f, dqf_i, dkf_i = _intra_bwd(q, k, gf, pf, mf, okf, tl.where(_smask(C, 0), dA, 0.0), C, 0, PREC)
        A_b, dqb_i, dkb_i = _intra_bwd(q, k, gb, pb, mb, okb, tl.where(_smask(C, 1), dA, 0.0), C, 1, PREC)
        qk2 = 2.0 * tl.sum(q * k, 1)
        dv2 = 2.0 * tl.sum(do * v, 1)
        dqb_x = tl.dot(do, tl.trans(S_b), input_precision=PREC) * tl.exp(ab)
        ebf = tl.exp(bf)
        dkf_x = tl.dot(v, tl.trans(dS_f), input_precision=PREC) * ebf
        kbf = k * ebf
        dvf_x = tl.dot(kbf, dS_f, input_precision=PREC)
        dv_i = tl.dot(tl.trans(A_f + A_b), do, input_precision=PREC) + qk2[:, None] * do
        dkf = dkf_i + dkf_x
        dqb = dqb_i + dqb_x
        xgf = q * dqf_i - k * dkf
        xgb = q * dqb - k * dkb_i
        mK = (rows[:, None] < L) & (ck[None, :] < K)
        mV = (rows[:, None] < L) & (cv[None, :] < V)
        tl.store(pq_p + rows[:, None] * K + ck[None, :], dqf_i + dqb + dv2[:, None] * k, mask=mK)
        tl.store(pk_p + rows[:, None] * K + ck[None, :], dkf + dkb_i + dv2[:, None] * q, mask=mK)
        tl.store(pv_p + rows[:, None] * V + cv[None, :], dv_i + dvf_x, mask=mV)
        tl.store(dgf_p + rows[:, None] * sK + ck[None, :], xgf, mask=mK)
        tl.store(dgb_p + rows[:, None] * sK + ck[None, :], xgb, mask=mK)
        S_b = tl.exp(totb)[:, None] * S_b + tl.dot(tl.trans(k * tl.exp(eb)), v, input_precision=PREC)
        dS_f = tl.exp(totf)[:, None] * dS_f + tl.dot(tl.trans(q * tl.exp(af)), do, input_precision=PREC)
    return S_b, dS_f


@triton.jit
def _bwd_fwd_range(q_p, k_p, v_p, gf_p, gb_p, do_p, dq_p, dk_p, dv_p, dgf_p, dgb_p,
                   pq_p, pk_p, pv_p, S_f, dS_b, cf, cb,
                   t_lo, nsub, sql, skl, svl, sfl, sbl, sdl, sK, sV, hs, L, K, V, ck, cv,
                   C: tl.constexpr, THR: tl.constexpr, PREC: tl.constexpr):
    """v2 forward sweep over nsub sub-chunks from t_lo: finishes every gradient; returns
    (S_f, dS_b, cf, cb) leaving the range."""
    ti = tl.arange(0, C)
    for c in range(nsub):
        t0 = t_lo + c * C
        rows = t0 + ti
        q = _tile(q_p, rows, ck, sql, L, K, 0)
        k = _tile(k_p, rows, ck, skl, L, K, 0)
        v = _tile(v_p, rows, cv, svl, L, V, 0)
        do = _tile(do_p, rows, cv, sdl, L, V, 0) * hs
        gf, af, bf, totf, pf, mf, okf = _gates_f(gf_p, rows, ck, sfl, L, K, t0, C, THR)
        gb, ab, eb, totb, pb, mb, okb = _gates_b(gb_p, rows, ck, sbl, L, K, t0, C, THR)
        mK = (rows[:, None] < L) & (ck[None, :] < K)
        mV = (rows[:, None] < L) & (cv[None, :] < V)
        dqf_x = tl.dot(do, tl.trans(S_f), input_precision=PREC) * tl.exp(af)
        eeb = tl.exp(eb)
        dkb_x = tl.dot(v, tl.trans(dS_b), input_precision=PREC) * eeb
        keb = k * eeb
        dvb_x = tl.dot(keb, dS_b, input_precision=PREC)
        dq = tl.load(pq_p + rows[:, None] * K + ck[None, :], mask=mK, other=0.0) + dqf_x
        dk = tl.load(pk_p + rows[:, None] * K + ck[None, :], mask=mK, other=0.0) + dkb_x
        dv = tl.load(pv_p + rows[:, None] * V + cv[None, :], mask=mV, other=0.0) + dvb_x
        dGf = tl.load(dgf_p + rows[:, None] * sK + ck[None, :], mask=mK, other=0.0) + q * dqf_x
        dGb = tl.load(dgb_p + rows[:, None] * sK + ck[None, :], mask=mK, other=0.0) - k * dkb_x
        csf = tl.cumsum(dGf, 0)
        dgf = -(cf[None, :] + (csf - dGf))
        cf += tl.sum(dGf, 0)
        dgb = cb[None, :] + tl.cumsum(dGb, 0)
        cb += tl.sum(dGb, 0)
        dgb = tl.where(rows[:, None] == L - 1, 0.0, dgb)
        tl.store(dq_p + rows[:, None] * sK + ck[None, :], dq.to(dq_p.dtype.element_ty), mask=mK)
        tl.store(dk_p + rows[:, None] * sK + ck[None, :], dk.to(dk_p.dtype.element_ty), mask=mK)
        tl.store(dv_p + rows[:, None] * sV + cv[None, :], dv.to(dv_p.dtype.element_ty), mask=mV)
        tl.store(dgf_p + rows[:, None] * sK + ck[None, :], dgf, mask=mK)
        tl.store(dgb_p + rows[:, None] * sK + ck[None, :], dgb, mask=mK)
        S_f = tl.exp(totf)[:, None] * S_f + tl.dot(tl.trans(k * tl.exp(bf)), v, input_precision=PREC)
        dS_b = tl.exp(totb)[:, None] * dS_b + tl.dot(tl.trans(q * tl.exp(ab)), do, input_precision=PREC)
    return S_f, dS_b, cf, cb


@triton.jit(do_not_specialize=["L", "H", "LS", "NS", "NCT"])
def bigla_bwd3_kernel(
    q_p, k_p, v_p, gf_p, gb_p, do_p,
    dq_p, dk_p, dv_p, dgf_p, dgb_p, pq_p, pk_p, pv_p, sc_p,
    sf_p, db_p, sb_p, df_p, cf_p, cb_p,
    sqb, sql, sqh, skb, skl, skh, svb, svl, svh,
    sfb, sfl, sfh, sbb, sbl, sbh, sdb, sdl, sdh,
    scale, L, H, LS, NS, NCT,
    K: tl.constexpr, V: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    C: tl.constexpr, CB: tl.constexpr, THR: tl.constexpr, PREC: tl.constexpr, SEG: tl.constexpr,
):
    """Gradients, v3. As bigla_bwd_kernel, with sc fp32 scratch [BH, NCT, 2, K, V] holding the
    states S_b and dS_f entering each CB-chunk from the right (written by the prepass)."""
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
    oK = (b * L * H + h).to(tl.int64) * K
    oV = (b * L * H + h).to(tl.int64) * V
    dq_p += oK
    dk_p += oK
    dgf_p += oK
    dgb_p += oK
    dv_p += oV
    pq_p += bh.to(tl.int64) * L * K
    pk_p += bh.to(tl.int64) * L * K
    pv_p += bh.to(tl.int64) * L * V
    sK = H * K
    sV = H * V
    tbi = tl.arange(0, CB)
    ck = tl.arange(0, BK)
    cv = tl.arange(0, BV)
    hs = scale * 0.5
    ts = s * LS
    nch = tl.cdiv(tl.minimum(L, ts + LS) - ts, CB)
    so = (bh * NS + s).to(tl.int64)
    smask = (ck[:, None] < K) & (cv[None, :] < V)
    mat = ck[:, None] * V + cv[None, :]
    sidx = so * K * V + mat
    cbase = (bh * NCT).to(tl.int64)

    # Prepass (reverse, states only): S_b and dS_f entering each chunk from the right.
    if SEG:
        S_b = tl.load(sb_p + sidx, mask=smask, other=0.0)
        dS_f = tl.load(df_p + sidx, mask=smask, other=0.0)
    else:
        S_b = tl.zeros([BK, BV], dtype=tl.float32)
        dS_f = tl.zeros([BK, BV], dtype=tl.float32)
    for ic in range(nch):
        t0 = ts + (nch - 1 - ic) * CB
        rows = t0 + tbi
        ci = (cbase + t0 // CB) * 2 * K * V
        tl.store(sc_p + ci + mat, S_b, mask=smask)
        tl.store(sc_p + ci + K * V + mat, dS_f, mask=smask)
        q = _tile(q_p, rows, ck, sql, L, K, 0)
        k = _tile(k_p, rows, ck, skl, L, K, 0)
        v = _tile(v_p, rows, cv, svl, L, V, 0)
        do = _tile(do_p, rows, cv, sdl, L, V, 0) * hs
        gf = _tile(gf_p, rows, ck, sfl, L, K, 0)
        gb = _tile(gb_p, rows, ck, sbl, L, K, 0)
        gp = _tile(gb_p, rows - 1, ck, sbl, L, K, t0)
        eb = tl.cumsum(gp, 0)  # sum_{start..t-1}
        af = tl.cumsum(gf, 0)  # sum_{start..t}
        S_b = tl.exp(tl.sum(gb, 0))[:, None] * S_b \
            + tl.dot(tl.trans(k * tl.exp(eb)), v, input_precision=PREC)
        dS_f = tl.exp(tl.sum(gf, 0))[:, None] * dS_f \
            + tl.dot(tl.trans(q * tl.exp(af)), do, input_precision=PREC)
    tl.debug_barrier()  # the scratch states are read below by other threads of this program

    # Main sweep (forward): S_f, dS_b and the gate-gradient carries; every gradient finished.
    if SEG:
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
        t0 = ts + c * CB
        rows = t0 + tbi
        ci = (cbase + t0 // CB) * 2 * K * V
        S_b = tl.load(sc_p + ci + mat, mask=smask, other=0.0)
        dS_f = tl.load(sc_p + ci + K * V + mat, mask=smask, other=0.0)
        gf, gb, gp, gzf, lof, lob, ok = _chunk_flags(gf_p, gb_p, rows, ck, sfl, sbl, L, K, t0, CB, THR)
        if ok:
            # one direction after the other, so that few tiles are live at once
            q = _tile(q_p, rows, ck, sql, L, K, 0)
            k = _tile(k_p, rows, ck, skl, L, K, 0)
            v = _tile(v_p, rows, cv, svl, L, V, 0)
            do = _tile(do_p, rows, cv, sdl, L, V, 0) * hs
            mK = (rows[:, None] < L) & (ck[None, :] < K)
            mV = (rows[:, None] < L) & (cv[None, :] < V)
            dA = tl.dot(do, tl.trans(v), input_precision=PREC)
            # diagonal pairs (a token with itself, once per direction, no gate)
            dv2 = 2.0 * tl.sum(do * v, 1)
            dv = (2.0 * tl.sum(q * k, 1))[:, None] * do
            dq = dv2[:, None] * k
            dk = dv2[:, None] * q
            # forward direction (strict lower triangle; factorised through the range's middle)
            pf = tl.cumsum(gzf, 0)  # sum_{start+1..t}
            mf = 0.5 * lof
            eq = tl.exp(pf - mf[None, :])
            ek = tl.exp(mf[None, :] - pf)
            qe = q * eq
            ke = k * ek
            low = tbi[:, None] > tbi[None, :]
            A = tl.where(low, tl.dot(qe, tl.trans(ke), input_precision=PREC), 0.0)
            dAx = tl.where(low, dA, 0.0)
            dqx = tl.dot(dAx, ke, input_precision=PREC) * eq
            dkx = tl.dot(tl.trans(dAx), qe, input_precision=PREC) * ek
            dqx += tl.dot(do, tl.trans(S_f), input_precision=PREC) * tl.exp(tl.cumsum(gf, 0))
            gn = _tile(gf_p, rows + 1, ck, sfl, tl.minimum(L, t0 + CB), K, 0)
            ex = tl.exp(tl.cumsum(gn, 0, reverse=True))  # exp(sum_{t+1..end})
            kx = k * ex
            dkx += tl.dot(v, tl.trans(dS_f), input_precision=PREC) * ex
            dv += tl.dot(tl.trans(A), do, input_precision=PREC) + tl.dot(kx, dS_f, input_precision=PREC)
            dG = q * dqx - k * dkx
            dg = -(cf[None, :] + (tl.cumsum(dG, 0) - dG))
            cf += tl.sum(dG, 0)
            tl.store(dgf_p + rows[:, None] * sK + ck[None, :], dg, mask=mK)
            dq += dqx
            dk += dkx
            S_f = tl.exp(tl.sum(gf, 0))[:, None] * S_f + tl.dot(tl.trans(kx), v, input_precision=PREC)
            # backward direction (strict upper triangle)
            eb = tl.cumsum(gp, 0)  # sum_{start..t-1}
            mb = 0.5 * lob
            eq = tl.exp(mb[None, :] - eb)
            ek = tl.exp(eb - mb[None, :])
            qe = q * eq
            ke = k * ek
            upp = tbi[:, None] < tbi[None, :]
            A = tl.where(upp, tl.dot(qe, tl.trans(ke), input_precision=PREC), 0.0)
            dAx = tl.where(upp, dA, 0.0)
            dqx = tl.dot(dAx, ke, input_precision=PREC) * eq
            dkx = tl.dot(tl.trans(dAx), qe, input_precision=PREC) * ek
            ex = tl.exp(tl.cumsum(gb, 0, reverse=True))  # exp(sum_{t..end})
            qx = q * ex
            dqx += tl.dot(do, tl.trans(S_b), input_precision=PREC) * ex
            eeb = tl.exp(eb)
            kx = k * eeb
            dkx += tl.dot(v, tl.trans(dS_b), input_precision=PREC) * eeb
            dv += tl.dot(tl.trans(A), do, input_precision=PREC) + tl.dot(kx, dS_b, input_precision=PREC)
            dG = q * dqx - k * dkx
            dg = cb[None, :] + tl.cumsum(dG, 0)
            cb += tl.sum(dG, 0)
            # the last token's backward gate decays the empty state: exactly 0
            dg = tl.where(rows[:, None] == L - 1, 0.0, dg)
            tl.store(dgb_p + rows[:, None] * sK + ck[None, :], dg, mask=mK)
            dq += dqx
            dk += dkx
            dS_b = tl.exp(tl.sum(gb, 0))[:, None] * dS_b + tl.dot(tl.trans(qx), do, input_precision=PREC)
            tl.store(dq_p + rows[:, None] * sK + ck[None, :], dq.to(dq_p.dtype.element_ty), mask=mK)
            tl.store(dk_p + rows[:, None] * sK + ck[None, :], dk.to(dk_p.dtype.element_ty), mask=mK)
            tl.store(dv_p + rows[:, None] * sV + cv[None, :], dv.to(dv_p.dtype.element_ty), mask=mV)
        else:
            nsub = tl.cdiv(tl.minimum(L, t0 + CB) - t0, C)
            S_b, dS_f = _bwd_rev_range(q_p, k_p, v_p, gf_p, gb_p, do_p, dgf_p, dgb_p, pq_p, pk_p,
                                       pv_p, S_b, dS_f, t0, nsub, sql, skl, svl, sfl, sbl, sdl,
                                       sK, hs, L, K, V, ck, cv, C, THR, PREC)
            S_f, dS_b, cf, cb = _bwd_fwd_range(q_p, k_p, v_p, gf_p, gb_p, do_p, dq_p, dk_p, dv_p,
                                               dgf_p, dgb_p, pq_p, pk_p, pv_p, S_f, dS_b, cf, cb,
                                               t0, nsub, sql, skl, svl, sfl, sbl, sdl, sK, sV, hs,
                                               L, K, V, ck, cv, C, THR, PREC)


# ------------------------------------------------------------------ host side (VIG_TRITON_V=3)
def forward_v3(q, k, v, g_fwd, g_bwd, scale, CB, nw, progs):
    from . import CHUNK, THR, _pow2, _prec, _segments, _strides
    from . import kernels as _k

    B, L, H, K = q.shape
    V = v.shape[-1]
    BK = _pow2(K)
    BV = _pow2(V)
    BH = B * H
    dev = v.device
    o = torch.empty((B, L, H, V), dtype=v.dtype, device=dev)
    op = torch.empty((BH, L, V), dtype=torch.float32, device=dev)  # slow chunks only
    NS, LS = _segments(BH, L, CB, 1, progs)
    NCT = -(-L // CB)
    sc = torch.empty((BH, NCT, K, V), dtype=torch.float32, device=dev)
    prec = _prec(q.dtype)
    if NS > 1:
        hf = torch.empty((BH, NS, K, V), dtype=torch.float32, device=dev)
        hb = torch.empty_like(hf)
        tf = torch.empty((BH, NS, K), dtype=torch.float32, device=dev)
        tb = torch.empty_like(tf)
        _k.bigla_fwd_segstate_kernel[(1, BH, NS)](
            k, v, g_fwd, g_bwd, hf, hb, tf, tb,
            *_strides(k), *_strides(v), *_strides(g_fwd), *_strides(g_bwd),
            L, H, LS, NS,
            K=K, V=V, BK=BK, BV=BV, C=CB, PREC=prec, num_warps=nw,
        )
    else:
        hf = hb = tf = tb = op  # unused
    bigla_fwd3_kernel[(BH, NS)](
        q, k, v, g_fwd, g_bwd, o, op, sc, hf, hb, tf, tb,
        *_strides(q), *_strides(k), *_strides(v),
        *_strides(g_fwd), *_strides(g_bwd), *_strides(o),
        float(scale), L, H, LS, NS, NCT,
        K=K, V=V, BK=BK, BV=BV, C=CHUNK, CB=CB, THR=THR, PREC=prec,
        num_warps=nw,
    )
    return o, ()


def backward_v3(q, k, v, g_fwd, g_bwd, scale, do, CB, nw, progs):
    from . import CHUNK, THR, _pow2, _prec, _segments, _strides
    from . import kernels as _k

    B, L, H, K = q.shape
    V = v.shape[-1]
    BK = _pow2(K)
    BV = _pow2(V)
    dev = q.device
    dq = torch.empty((B, L, H, K), dtype=q.dtype, device=dev)
    dk = torch.empty((B, L, H, K), dtype=q.dtype, device=dev)
    dv = torch.empty((B, L, H, V), dtype=q.dtype, device=dev)
    dgf = torch.empty((B, L, H, K), dtype=torch.float32, device=dev)
    dgb = torch.empty((B, L, H, K), dtype=torch.float32, device=dev)
    BH = B * H
    # fp32 scratch of the slow chunks (touched only where a chunk's gates are too wide)
    pq = torch.empty((BH, L, K), dtype=torch.float32, device=dev)
    pk = torch.empty((BH, L, K), dtype=torch.float32, device=dev)
    pv = torch.empty((BH, L, V), dtype=torch.float32, device=dev)
    NS, LS = _segments(BH, L, CB, 1, progs)
    NCT = -(-L // CB)
    sc = torch.empty((BH, NCT, 2, K, V), dtype=torch.float32, device=dev)
    prec = _prec(q.dtype)
    strides = (*_strides(q), *_strides(k), *_strides(v),
               *_strides(g_fwd), *_strides(g_bwd), *_strides(do))
    if NS > 1:
        st = torch.empty((8, BH * NS, K, V), dtype=torch.float32, device=dev)
        tt = torch.empty((4, BH * NS, K), dtype=torch.float32, device=dev)
        hf, hb, qf, qb, sf, db, sb, df = st.unbind(0)
        tf, tb, cf, cb = tt.unbind(0)
        _k.bigla_bwd_segstate_kernel[(BH, NS)](
            q, k, v, g_fwd, g_bwd, do, hf, hb, qf, qb, tf, tb, *strides,
            float(scale), L, H, LS, NS,
            K=K, V=V, BK=BK, BV=BV, C=CB, PREC=prec, num_warps=nw,
        )
        _k.bigla_bwd_segscan_kernel[(BH,)](
            hf, hb, qf, qb, tf, tb, sf, db, sb, df, cf, cb, NS,
            K=K, V=V, BK=BK, BV=BV, num_warps=4,
        )
    else:
        sf = db = sb = df = cf = cb = pq  # unused
    bigla_bwd3_kernel[(BH, NS)](
        q, k, v, g_fwd, g_bwd, do,
        dq, dk, dv, dgf, dgb, pq, pk, pv, sc,
        sf, db, sb, df, cf, cb, *strides,
        float(scale), L, H, LS, NS, NCT,
        K=K, V=V, BK=BK, BV=BV, C=CHUNK, CB=CB, THR=THR, PREC=prec, SEG=NS > 1,
        num_warps=nw,
    )
    return dq, dk, dv, dgf, dgb
