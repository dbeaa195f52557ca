"""Fill a TileLang kernel cache on a machine without a GPU, for carrying to the GPU machine.

    TILELANG_CACHE_DIR=$PWD/.tilelang-cache .venv/bin/python kernels/tilelang/dev_precompile.py \
        [--arch sm_90a] [--dtypes bfloat16,float16,float32] [--tiles 32x64] [--workers 2]
    ... dev_precompile.py --specs FILE   (exact "kind K V dtype" lines; VIG_TILELANG_RACEFIX=1 makes the :r1 twins)

TileLang's cache key is (TIR script, target, execution backend, tilelang version, machine), so an
entry made here is a hit on the GPU machine when the same tilelang wheel is installed there and
TILELANG_CACHE_DIR points at the carried directory. Each entry's executable.so is self-contained.
"""
import argparse
import concurrent.futures as cf
import multiprocessing as mp
import os
import time


def _one(spec):
    kind, K, V, dtype, arch = spec
    from vig_kernels.tilelang import compile_kernel

    t = time.perf_counter()
    compile_kernel(kind, K, V, dtype, arch)
    return spec, time.perf_counter() - t


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="sm_90a")
    p.add_argument("--dtypes", default="bfloat16,float16,float32")
    p.add_argument("--tiles", default="32x64", help="comma list of KxV tile dims")
    p.add_argument("--kinds", default="fwd_st,fwd_scan,fwd_out,bwd,bwd_st,bwd_out,fwd_fused,bwd_states,fwd_segst,fwd_fused_seg,"
                                      "bwd_states:w1,bwd_out2:t256,bwd_out2:t256:w1,fwd_scan:w1,fwd_fused:m3:x1,fwd_fused:m3:x2,"
                                      "fwd_fused:m3:x3,fwd_fused_seg:m3:x3,fwd_fused:m3:x4,fwd_fused_seg:m3:x4,"
                                      "bwd_out2:t256:x3:w1,bwd_out2:t256:x3,fwd_fused:m3:x5,fwd_fused:s2:m3:x5,"
                                      "bwd_states:s1:w1,bwd_out2:t256:x3:s1:w1,bwd_out2:t256:x4:w1,bwd_states:m3:w1,"
                                      "fwd_segst:s2,fwd_fused_seg:s2:m3:x4,bwd_states:m3:s2:w1,bwd_out2:t256:x4:s2:w1",
                   help="v5 (fwd_st, fwd_scan, fwd_out, bwd_st, bwd_out), v6 (fwd_fused, fwd_segst, fwd_fused_seg, "
                        "bwd_states: VIG_TILELANG_FWD/BWD=v6) and the v4 backward (bwd, "
                        "VIG_TILELANG_BWD=v4), bwd_states:w1, bwd_out2:t256[:w1], fwd_scan:w1 (VIG_TILELANG_LOWMEM=1, "
                        "the default), fwd_fused:m3:x1[x2] (VIG_TILELANG_FUSED_EXP=fast[pairs], the default pairs), fwd_fused[_seg]:m3:x3[x4] (=ref[2]), bwd_out2:t256:x3[:w1] (VIG_TILELANG_BWD_OUT=ref), fwd_fused:m3:x5 (=ref3), fwd_fused:s2:m3:x5 (VIG_TILELANG_FWD_VIEWS=1), bwd_states:s1:w1 + bwd_out2:t256:x3:s1:w1 (and VIG_TILELANG_STRIDED=1), bwd_out2:t256:x4:w1 (VIG_TILELANG_BWD_OUT=ref2), bwd_states:m3:w1 (VIG_TILELANG_BWD_STATES=m3), fwd_segst:s2 + fwd_fused_seg:s2:m3:x4 (VIG_TILELANG_FWD_VIEWS=2), bwd_states:m3:s2:w1 + bwd_out2:t256:x4:s2:w1 (VIG_TILELANG_BWD_VIEWS=1); bf16 "
                        "only, as every bwd_out2 / ':w' / ':x' kind: skipped for the other dtypes); add fwd_res,fwd_ws for the v4 forward "
                        "(VIG_TILELANG_FWD=v4)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--specs", help="a file of 'kind K V dtype' lines (what the tests launch: "
                                   "results/2026-12-07f-h100/not-run/kinds.py prints them); replaces "
                                   "--kinds / --dtypes / --tiles")
    a = p.parse_args()
    assert os.environ.get("TILELANG_CACHE_DIR"), "set TILELANG_CACHE_DIR"
    if a.specs:
        specs = [(kind, int(K), int(V), dt, a.arch) for kind, K, V, dt in map(str.split, open(a.specs)) if kind]
        with cf.ProcessPoolExecutor(a.workers, mp_context=mp.get_context("spawn")) as ex:
            for spec, sec in ex.map(_one, specs):
                print(f"{sec:7.2f} s  {spec}", flush=True)
        return
    specs = [(kind, int(t.split("x")[0]), int(t.split("x")[1]), dt, a.arch)
             for t in a.tiles.split(",") for dt in a.dtypes.split(",") for kind in a.kinds.split(",")]
    # the scan is all float32: one kernel for every dtype
    specs = list(dict.fromkeys((k, K, V, "float32" if k.split(":")[0] == "fwd_scan" else d, ar) for k, K, V, d, ar in specs))
    # bwd_out2 and the ":w" (bf16 workspaces), ":x" (__expf) and ":s" (views) variants of the other kinds exist in bf16 only
    specs = [s for s in specs if s[3] == "bfloat16" or s[0].split(":")[0] == "fwd_scan"
             or (s[0].split(":")[0] != "bwd_out2" and not any(o[0] in "wxs" for o in s[0].split(":")[1:]))]
    with cf.ProcessPoolExecutor(a.workers, mp_context=mp.get_context("spawn")) as ex:
        for spec, sec in ex.map(_one, specs):
            print(f"{sec:7.2f} s  {spec}", flush=True)


if __name__ == "__main__":
    main()
