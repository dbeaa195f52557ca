"""Compile the Triton kernels for a real GPU target without a GPU (compile-only).

Run as a script in a process WITHOUT ``TRITON_INTERPRET`` (the tests do it in a subprocess with
a fresh ``TRITON_CACHE_DIR``)::

    python -m vig_kernels.triton.compile_check 90 80
    python -m vig_kernels.triton.compile_check --regs 90   # + ptxas's register/spill report
    python -m vig_kernels.triton.compile_check --v26 --regs 90   # the opt-in v2.6 segment kernels
    python -m vig_kernels.triton.compile_check --dx --regs 90    # v2.8 derived-exp kernels, CS off
    python -m vig_kernels.triton.compile_check --fo --regs 90    # the opt-in v2.9 fast-only / exact split
    python -m vig_kernels.triton.compile_check --fo --dump DIR 90  # + each kernel's TTGIR / PTX in DIR
    python -m vig_kernels.triton.compile_check --same DIR_A DIR_B   # PTX of two --dump dirs, code only
    python -m vig_kernels.triton.compile_check --cs --regs 90    # session 7: compact-scratch backward
    python -m vig_kernels.triton.compile_check --split --regs 90  # session 8: backward split by direction
    VIG_TRITON_NREG_SPLIT=168 python -m vig_kernels.triton.compile_check --split --regs 90
    VIG_TRITON_CHUNK_BWD=32 VIG_TRITON_WARPS_BWD=8 python -m vig_kernels.triton.compile_check --fo --regs 90
    VIG_TRITON_FTZ=0 python -m vig_kernels.triton.compile_check --split --regs 90  # session 11: the previous (non-ftz) exps

Prints one line per (kernel, arch, dtype, specialization) and exits non-zero on any failure.
With --regs (needs ptxas on PATH) each line also gets ptxas's resource report for the kernel's
PTX (sm_90a for arch 90): registers per thread and spill bytes, the numbers that set how many
programs fit on an SM; without a GPU, triton itself cannot report them.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile


def _specs():
    """(kernel, dtype, out dtype, PREC) as launched by the shipped defaults: forward (the
    derived-exp kernel, MODE 0: kind fwdx), forward segment states, backward (the derived-exp
    kernel, MODE 0, with compact scratch if CS is on by default: bwcs, else bwdx), backward
    segment states, each at the one tile size (BK = 32, BV = 64; K and V are run-time ints;
    larger heads run as float32 tiles cut by the shared layer), and the segment scan (fp32 only;
    v2.6: the scan and the carry prefix). Session 9: v2.2's forward / backward (kinds fwd / bwd)
    were removed."""
    from vig_kernels.triton import BSEG_DEFAULT, CS, DOT_BF16

    out = []
    for dt in ("bf16", "fp16", "fp32"):
        prec = "tf32" if dt == "bf16" else "ieee"
        dots = {w: ("bf16" if (dt == "bf16" and DOT_BF16[w]) else prec) for w in DOT_BF16}
        out.append(("fwdx", dt, dt, dots["FWD"]))
        out.append(("bwcs" if CS["BWD"] else "bwdx", dt, dt, dots["BWD"]))
        out.append(("seg", dt, dt, prec))
        out.append(("bseg2" if BSEG_DEFAULT == "v26" else "bseg", dt, dt, prec))
    if BSEG_DEFAULT == "v26":  # v2.6: scan per direction pair and value slice, carry prefix
        return out + [("bscan2", "fp32", "fp32", "ieee"), ("bcarry", "fp32", "fp32", "ieee")]
    out.append(("bscan", "fp32", "fp32", "ieee"))
    return out


def _v26_specs():
    """The v2.6 segment kernels (NOTES.md v2.6), compiled with --v26: the two-state backward
    segment kernel per dtype, the backward scan and carry (these three are the defaults since
    v2.6 and in _specs too), and the opt-in forward variants: FPIPE (fwdp), FSCAN (fwds) and
    its scan kernel (fscan). Since session 9 fwdp / fwds are the derived-exp forward (MODE 0)
    with FST / FSC, as launched (before: v2.2's forward, removed)."""
    out = [("bseg2", dt, dt, "tf32" if dt == "bf16" else "ieee") for dt in ("bf16", "fp16", "fp32")]
    if os.environ.get("VIG_CC_SCAN_ONLY"):  # dev: the scan and carry only
        out = []
    out += [("fwdp", dt, dt, "tf32" if dt == "bf16" else "ieee") for dt in ("bf16", "fp16", "fp32")]
    out += [("fwds", dt, dt, "tf32" if dt == "bf16" else "ieee") for dt in ("bf16", "fp16", "fp32")]
    return out + [("bscan2", "fp32", "fp32", "ieee"), ("bcarry", "fp32", "fp32", "ieee"),
                  ("fscan", "fp32", "fp32", "ieee")]


def _mode_specs(modes):
    """The derived-exp kernels (bigla_fwd_dx_kernel / bigla_bwd_dx_kernel) per dtype and MODE,
    with the shipped kernels' dot precisions and launch options: MODE 0 = v2.8 (kinds fwdx /
    bwdx, --dx), MODE 1 / 2 = v2.9's fast-only / exact-capable launches (fwfo1 / bwfo1, fwfo2 /
    bwfo2, --fo); NOTES.md v2.8, v2.9."""
    from vig_kernels.triton import DOT_BF16

    out = []
    for dt in ("bf16", "fp16", "fp32"):
        prec = "tf32" if dt == "bf16" else "ieee"
        dots = {w: ("bf16" if (dt == "bf16" and DOT_BF16[w]) else prec) for w in DOT_BF16}
        for mode in modes:
            fw, bw = ("fwdx", "bwdx") if mode == 0 else (f"fwfo{mode}", f"bwfo{mode}")
            out.append((fw, dt, dt, dots["FWD"]))
            out.append((bw, dt, dt, dots["BWD"]))
    return out


def _dx_specs():
    """v2.8 (the default since session 7, the only main kernels since session 9): MODE 0, the
    backward without compact scratch (CS = 0: VIG_TRITON_CS_BWD=0), 6 kinds (--dx)."""
    return _mode_specs((0,))


def _fo_specs():
    """v2.9 (opt-in, VIG_TRITON_FO_FWD / _BWD = 1): MODE 1 and 2, 12 kinds (--fo)."""
    return _mode_specs((1, 2))


def _cs_specs():
    """Session 7 (opt-in, VIG_TRITON_CS_BWD=1): the derived-exp backward with compact scratch
    (CS = 1), MODE 0 (kind bwcs) and MODE 1 (bwcs1, v2.9's fast-only launch), 6 kinds (--cs)."""
    return [(("bwcs" if kind == "bwdx" else "bwcs1"), dt, odt, prec)
            for kind, dt, odt, prec in _mode_specs((0, 1)) if kind in ("bwdx", "bwfo1")]


def _split_specs():
    """Session 8 (opt-in, VIG_TRITON_SPLIT_BWD=1): the backward split by direction, DIR 0 and
    DIR 1 per dtype, the shipped backward's dot precision: MODE 0 (kinds bwsp0 / bwsp1) and, with
    VIG_TRITON_FO_BWD=1, MODE 1 / 2 (bwsp0m1, bwsp0m2, bwsp1m1, bwsp1m2), 18 kinds (--split);
    VIG_TRITON_WARPS_SPLIT / VIG_TRITON_NREG_SPLIT / VIG_TRITON_STAGES_SPLIT / VIG_TRITON_CHUNK_BWD
    as launched."""
    return [(f"bwsp{d}" + (f"m{m}" if m else ""), dt, odt, prec)
            for kind, dt, odt, prec in _mode_specs((0,)) if kind == "bwdx"
            for m in (0, 1, 2) for d in (0, 1)]


def _code_lines(ptx):
    """The PTX less what does not reach the code: .loc / .file lines, the DWARF sections and the
    debug labels (source line numbers only); v2.9's kernel names mapped to the merged ones."""
    out = []
    for line in ptx.splitlines():
        t = line.strip()
        if t.startswith(".section") and ".debug" in t:
            break
        if t.startswith((".loc", ".file", "$L__tmp", "$L__func_")):
            continue
        out.append(line.replace("_fo_kernel", "_dx_kernel"))
    return out


def same_code(dir_a, dir_b):
    """--same A B: every *.ptx of --dump dir B against the same file in A (session 6 round 3:
    before / after one kernel body per pass); returns the files that differ."""
    bad = []
    for name in sorted(f for f in os.listdir(dir_b) if f.endswith(".ptx")):
        with open(os.path.join(dir_a, name)) as fa, open(os.path.join(dir_b, name)) as fb:
            a, b = _code_lines(fa.read()), _code_lines(fb.read())
        print(f"{'same' if a == b else 'DIFF'} {name}: {len(b)} lines of code")
        if a != b:
            bad.append(name)
    return bad


def _ptxas_report(ptx, arch):
    """ptxas -v on the PTX: 'N regs, S B spill' (or why not)."""
    exe = shutil.which("ptxas")
    if exe is None:
        return "ptxas not on PATH"
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "k.ptx")
        with open(src, "w") as f:
            f.write(ptx)
        sm = f"sm_{arch}a" if int(arch) >= 90 else f"sm_{arch}"
        r = subprocess.run([exe, "-v", f"-arch={sm}", src, "-o", os.path.join(d, "k.o")],
                           capture_output=True, text=True)
    regs = spill = "?"
    for line in r.stderr.splitlines():
        if "registers" in line:
            regs = line.split("Used", 1)[1].split("registers")[0].strip()
        if "spill stores" in line:
            spill = line.split("bytes stack frame,", 1)[1].split("bytes spill stores")[0].strip()
    return f"{regs} regs, {spill} B spill stores ({sm})"


def compile_all(archs, regs=False, v26=False, dx=False, fo=False, dump=None, cs=False, split=False):
    if os.environ.get("TRITON_INTERPRET") == "1":
        raise RuntimeError("compile-only needs a process without TRITON_INTERPRET=1")
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    import torch

    from vig_kernels.triton import BK, BSEG_NVS, BSEG_STAGES, BV, CHUNK, THR, _ftz, _nreg, _stages, _warps

    ftz = _ftz().get("FTZ", 0)  # session 11: VIG_TRITON_FTZ (1: every kernel with an exp gets FTZ = 1)

    _TORCH_DT = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    from vig_kernels.triton import kernels as k

    failures = []
    for arch in archs:
        target = GPUTarget("cuda", int(arch), 32)
        specs = _split_specs() if split else _cs_specs() if cs else _fo_specs() if fo else _dx_specs() if dx else \
            _v26_specs() if v26 else _specs()
        if os.environ.get("VIG_CC_BF16_ONLY"):  # CI: the opt-in variants' bf16 specializations only
            specs = [sp for sp in specs if sp[1] == "bf16"]
        for kind, dt, odt, prec in specs:
            consts = dict(BK=BK, BV=BV, C=CHUNK, THR=THR, PREC=prec)
            name = kind  # the label's kind
            if kind.startswith("bwsp"):  # session 8: the backward split by direction
                from vig_kernels.triton import _chunk_bwd, _split_opts
                consts.update(C=_chunk_bwd(), DIR=int(kind[4]), MODE=int(kind[6:] or 0))
                if consts["MODE"] == 0:
                    consts["fl_p"] = None
                fn = k.bigla_bwd_dir_dx_kernel
                ptrs = {"q_p": dt, "k_p": dt, "v_p": dt, "g_p": "fp32", "do_p": dt, "dq_p": odt,
                        "dk_p": odt, "dv_p": odt,
                        **{n: "fp32" for n in ("dg_p", "pq_p", "pk_p", "pv_p", "pd_p", "st_p", "ds_p", "c_p")},
                        "fl_p": "i32"}
                nstr = 15
            elif kind in ("bwcs", "bwcs1"):  # session 7: compact scratch (CS = 1) of bwdx / bwfo1
                consts["CS"] = 1
                kind = "bwdx" if kind == "bwcs" else "bwfo1"
            elif kind in ("bwdx", "bwfo1", "bwfo2"):  # CS's default (a constexpr, as launched)
                consts["CS"] = 0
            if kind in ("bwdx", "bwfo1", "bwfo2"):  # session 7: VIG_TRITON_CHUNK_BWD (16 or 32)
                from vig_kernels.triton import _chunk_bwd
                consts["C"] = _chunk_bwd()
            if kind[:4] in ("fwfo", "bwfo"):  # v2.9: MODE 1 / 2 of the derived-exp kernels
                consts["MODE"] = int(kind[4])
            elif kind in ("fwdx", "bwdx", "fwdp", "fwds"):  # v2.8: MODE 0 (one kernel body since session 6
                consts["MODE"] = 0  # round 3; fl_p not read: None, a constexpr, as the launcher passes it)
                consts["fl_p"] = None
            if kind in ("fwdp", "fwds", "fwdx", "fwfo1", "fwfo2"):  # fwdp / fwds: VIG_TRITON_FPIPE / FSCAN (v2.6)
                fn = k.bigla_fwd_dx_kernel
                consts["FST"] = int(os.environ.get("VIG_TRITON_FPIPE", "") or BSEG_STAGES) \
                    if kind == "fwdp" else 0
                consts["FSC"] = int(kind == "fwds")
                ptrs = {"q_p": dt, "k_p": dt, "v_p": dt, "gf_p": "fp32", "gb_p": "fp32",
                        "o_p": odt, "op_p": "fp32", "hf_p": "fp32", "hb_p": "fp32",
                        "tf_p": "fp32", "tb_p": "fp32", "fl_p": "i32"}
                nstr = 18
            elif kind.startswith("bwsp"):
                pass
            elif kind == "seg":
                fn = k.bigla_fwd_segstate_kernel
                consts.pop("THR")
                ptrs = {"k_p": dt, "v_p": dt, "gf_p": "fp32", "gb_p": "fp32", "hf_p": "fp32",
                        "hb_p": "fp32", "tf_p": "fp32", "tb_p": "fp32"}
                nstr = 12
            elif kind in ("bwdx", "bwfo1", "bwfo2"):
                fn = k.bigla_bwd_dx_kernel
                ptrs = {"q_p": dt, "k_p": dt, "v_p": dt, "gf_p": "fp32", "gb_p": "fp32",
                        "do_p": dt, "dq_p": odt, "dk_p": odt, "dv_p": odt, "dgf_p": "fp32",
                        "dgb_p": "fp32", "pq_p": "fp32", "pk_p": "fp32", "pv_p": "fp32",
                        **{n: "fp32" for n in ("sf_p", "db_p", "sb_p", "df_p", "cf_p", "cb_p")},
                        "fl_p": "i32"}
                nstr = 18
            elif kind in ("bseg", "bseg2"):
                fn = k.bigla_bwd_segstate_kernel if kind == "bseg" else k.bigla_bwd_segstate2_kernel
                consts.pop("THR")
                if kind == "bseg2":
                    consts["W0"] = 0  # the constexpr's default, as launched (KEEP_STATES passes 1)
                ptrs = {"q_p": dt, "k_p": dt, "v_p": dt, "gf_p": "fp32", "gb_p": "fp32",
                        "do_p": dt, **{n: "fp32" for n in ("hf_p", "hb_p", "qf_p", "qb_p", "tf_p", "tb_p")}}
                nstr = 18
            elif kind == "bscan2":
                fn = k.bigla_bwd_segscan2_kernel
                consts = dict(BK=BK, BVS=BV // BSEG_NVS, NVS=BSEG_NVS, STAGES=BSEG_STAGES)
                ptrs = {n: "fp32" for n in ("hf_p", "hb_p", "qf_p", "qb_p", "tf_p", "tb_p",
                                            "sf_p", "db_p", "sb_p", "df_p", "pt_p")}
                nstr = 0
            elif kind == "fscan":
                fn = k.bigla_fwd_segscan_kernel
                consts = dict(BK=BK, BVS=BV // BSEG_NVS, STAGES=BSEG_STAGES)
                ptrs = {n: "fp32" for n in ("hf_p", "hb_p", "tf_p", "tb_p")}
                nstr = 0
            elif kind == "bcarry":
                fn = k.bigla_bwd_segcarry_kernel
                consts = dict(BK=BK, NP=2 * BSEG_NVS, STAGES=BSEG_STAGES)
                ptrs = {n: "fp32" for n in ("pt_p", "cf_p", "cb_p")}
                nstr = 0
            else:  # bscan
                fn = k.bigla_bwd_segscan_kernel
                consts = dict(BK=BK, BV=BV)
                ptrs = {n: "fp32" for n in ("hf_p", "hb_p", "qf_p", "qb_p", "tf_p", "tb_p",
                                            "sf_p", "db_p", "sb_p", "df_p", "cf_p", "cb_p")}
                nstr = 0
            if "FTZ" in fn.arg_names:  # session 11: VIG_TRITON_FTZ (1 as launched under it; else the
                consts["FTZ"] = ftz  # constexpr's default 0, which the launcher leaves unpassed)
            sig = {}
            names = fn.arg_names
            for n in names:
                if n in consts:  # (MODE 0's fl_p: None, a constexpr)
                    sig[n] = "constexpr"
                elif n in ptrs:
                    sig[n] = "*" + ptrs[n]
                elif n == "scale":
                    sig[n] = "fp32"
                else:
                    sig[n] = "i32"
            label = f"{name} sm_{arch} {dt}" + (f" out {odt}" if kind[:3] in ("fwd", "bwd", "fwf", "bwf") else "") \
                + (" bf16-dots" if prec == "bf16" else "")
            assert sum(1 for n in names if n[0] == "s" and n[1:3] in (
                "qb", "ql", "qh", "kb", "kl", "kh", "vb", "vl", "vh", "fb", "fl", "fh", "bb",
                "bl", "bh", "ob", "ol", "oh", "db", "dl", "dh", "gb", "gl", "gh")) == nstr, label
            try:
                opts = {"num_warps": 4}
                if kind in ("bscan2", "bcarry", "fscan"):
                    from vig_kernels.triton import BSEG_WARPS
                    opts = {"num_warps": 1 if kind == "bcarry" else BSEG_WARPS}
                if kind.startswith("bwsp"):  # as launched
                    opts = _split_opts(_TORCH_DT[dt])
                if kind in ("fwdp", "fwds", "fwdx", "bwdx", "fwfo1", "fwfo2", "bwfo1",
                            "bwfo2"):  # as launched
                    w = "FWD" if kind[:2] == "fw" else "BWD"
                    opts = {"num_warps": _warps(w), **_nreg(w, _TORCH_DT[dt]), **_stages(w)}
                ck = triton.compile(ASTSource(fn, sig, constexprs=consts), target=target,
                                    options=opts)
                asm = ck.asm
                n_cubin = len(asm.get("cubin", b""))
                mma = "wgmma" if "wgmma" in asm.get("ptx", "") else (
                    "mma" if "mma.sync" in asm.get("ptx", "") else "fma")
                meta = ck.metadata
                extra = f", {_ptxas_report(asm['ptx'], arch)}" if regs else ""
                if dump:  # session 6 round 3: TTGIR / PTX per (kind, arch, dtype) for diffs
                    os.makedirs(dump, exist_ok=True)
                    for ext in ("ttgir", "ptx"):
                        with open(os.path.join(dump, f"{name}-sm{arch}-{dt}.{ext}"), "w") as f:
                            f.write(asm[ext])
                nbar = asm.get("ptx", "").count("bar.sync") + asm.get("ptx", "").count("barrier.sync")
                print(f"ok   {label}: cubin {n_cubin} B, {mma}, shared {meta.shared} B, "
                      f"{nbar} bar.sync in the PTX{extra}",
                      flush=True)
            except Exception as exc:  # report every failure, then fail
                failures.append(label)
                print(f"FAIL {label}: {type(exc).__name__}: {str(exc)[:2000]}")
    return failures


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--same"]:
        sys.exit(1 if same_code(args[1], args[2]) else 0)
    want_regs = "--regs" in args
    want_v26 = "--v26" in args
    want_dx = "--dx" in args
    want_fo = "--fo" in args
    want_cs = "--cs" in args
    want_split = "--split" in args
    want_dump = None
    if "--dump" in args:
        i = args.index("--dump")
        want_dump = args[i + 1]
        del args[i:i + 2]
    args = [a for a in args if a not in ("--regs", "--v26", "--dx", "--fo", "--cs", "--split")]
    fails = compile_all(args or ["90", "80"], regs=want_regs, v26=want_v26, dx=want_dx, fo=want_fo,
                        dump=want_dump, cs=want_cs, split=want_split)
    sys.exit(1 if fails else 0)
