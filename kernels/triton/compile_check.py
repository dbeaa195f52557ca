"""Compile the Triton kernels for a real GPU target without a GPU (compile-only).

Run as a script in a process WITHOUT ``TRITON_INTERPRET`` (the tests do it in a subprocess with
a fresh ``TRITON_CACHE_DIR``)::

    python -m vig_kernels.triton.compile_check 90 80

Prints one line per (kernel, arch, dtype, specialization) and exits non-zero on any failure.
"""
from __future__ import annotations

import os
import sys


def _specs():
    """(kernel, dtype, K, V, BV, PREC, SEG) at the specializations the models use: forward
    (whole V, V split), forward segment states, backward (whole sequence, segmented), backward
    segment states, and the segment scan (fp32 only)."""
    out = []
    for dt in ("bf16", "fp16", "fp32"):
        prec = "tf32" if dt == "bf16" else "ieee"
        # forward: whole V per program (many (b, h)), and V split in 4 (few (b, h))
        out.append(("fwd", dt, 32, 64, 64, prec, False))
        out.append(("fwd", dt, 32, 64, 16, prec, False))
        out.append(("seg", dt, 32, 64, 64, prec, False))
        out.append(("bwd", dt, 32, 64, 64, prec, False))
        out.append(("bwd", dt, 32, 64, 64, prec, True))
        out.append(("bseg", dt, 32, 64, 64, prec, False))
    out.append(("bscan", "fp32", 32, 64, 64, "ieee", False))
    return out


def compile_all(archs):
    if os.environ.get("TRITON_INTERPRET") == "1":
        raise RuntimeError("compile-only needs a process without TRITON_INTERPRET=1")
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from vig_kernels.triton import CHUNK, THR
    from vig_kernels.triton import kernels as k

    failures = []
    for arch in archs:
        target = GPUTarget("cuda", int(arch), 32)
        for kind, dt, K, V, BV, prec, SEG in _specs():
            BK = max(16, 1 << (K - 1).bit_length())
            consts = dict(K=K, V=V, BK=BK, BV=BV, C=CHUNK, THR=THR, PREC=prec)
            if kind == "fwd":
                fn = k.bigla_fwd_kernel
                ptrs = {"q_p": dt, "k_p": dt, "v_p": dt, "gf_p": "fp32", "gb_p": "fp32",
                        "o_p": dt, "op_p": "fp32", "hf_p": "fp32", "hb_p": "fp32",
                        "tf_p": "fp32", "tb_p": "fp32"}
                nstr = 18
            elif kind == "seg":
                fn = k.bigla_fwd_segstate_kernel
                consts.pop("THR")
                ptrs = {"k_p": dt, "v_p": dt, "gf_p": "fp32", "gb_p": "fp32", "hf_p": "fp32",
                        "hb_p": "fp32", "tf_p": "fp32", "tb_p": "fp32"}
                nstr = 12
            elif kind == "bwd":
                fn = k.bigla_bwd_kernel
                consts["SEG"] = SEG
                ptrs = {"q_p": dt, "k_p": dt, "v_p": dt, "gf_p": "fp32", "gb_p": "fp32",
                        "do_p": dt, "dq_p": dt, "dk_p": dt, "dv_p": dt, "dgf_p": "fp32",
                        "dgb_p": "fp32", "pq_p": "fp32", "pk_p": "fp32", "pv_p": "fp32",
                        **{n: "fp32" for n in ("sf_p", "db_p", "sb_p", "df_p", "cf_p", "cb_p")}}
                nstr = 18
            elif kind == "bseg":
                fn = k.bigla_bwd_segstate_kernel
                consts.pop("THR")
                ptrs = {"q_p": dt, "k_p": dt, "v_p": dt, "gf_p": "fp32", "gb_p": "fp32",
                        "do_p": dt, **{n: "fp32" for n in ("hf_p", "hb_p", "qf_p", "qb_p", "tf_p", "tb_p")}}
                nstr = 18
            else:  # bscan
                fn = k.bigla_bwd_segscan_kernel
                consts = dict(K=K, V=V, BK=BK, BV=BV)
                ptrs = {n: "fp32" for n in ("hf_p", "hb_p", "qf_p", "qb_p", "tf_p", "tb_p",
                                            "sf_p", "db_p", "sb_p", "df_p", "cf_p", "cb_p")}
                nstr = 0
            sig = {}
            names = fn.arg_names
            for n in names:
                if n in ptrs:
                    sig[n] = "*" + ptrs[n]
                elif n in consts:
                    sig[n] = "constexpr"
                elif n == "scale":
                    sig[n] = "fp32"
                else:
                    sig[n] = "i32"
            label = f"{kind} sm_{arch} {dt} K={K} V={V} BV={BV}" + (" SEG" if SEG else "")
            assert sum(1 for n in names if n[0] == "s" and n[1:3] in (
                "qb", "ql", "qh", "kb", "kl", "kh", "vb", "vl", "vh", "fb", "fl", "fh", "bb",
                "bl", "bh", "ob", "ol", "oh", "db", "dl", "dh")) == nstr, label
            try:
                ck = triton.compile(ASTSource(fn, sig, constexprs=consts), target=target,
                                    options={"num_warps": 4})
                asm = ck.asm
                n_cubin = len(asm.get("cubin", b""))
                mma = "wgmma" if "wgmma" in asm.get("ptx", "") else (
                    "mma" if "mma.sync" in asm.get("ptx", "") else "fma")
                meta = ck.metadata
                print(f"ok   {label}: cubin {n_cubin} B, {mma}, shared {meta.shared} B, "
                      f"regs {getattr(ck, 'n_regs', '?')}")
            except Exception as exc:  # report every failure, then fail
                failures.append(label)
                print(f"FAIL {label}: {type(exc).__name__}: {str(exc)[:2000]}")
    return failures


if __name__ == "__main__":
    fails = compile_all(sys.argv[1:] or ["90", "80"])
    sys.exit(1 if fails else 0)
