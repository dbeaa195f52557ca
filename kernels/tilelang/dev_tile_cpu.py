"""CPU routing check of VIG_TILELANG_FWD_TILE (session 10 round 5; mocked kernels, no GPU, no compilation; see
dev_route_common.py): "1" replaces fwd_fused:s2:m3:x5 by fwd_fused:s2:m3:x5:e1 with the same arguments exactly where
the shipped kind runs (bf16, the views forward, L <= 224) and changes nothing else (L > 224, fp16 / fp32,
FWD_VIEWS=0, the backward); "" / "0" are the shipped kind; anything else raises.
    .venv/bin/python kernels/tilelang/dev_tile_cpu.py"""
import torch

from dev_route_common import S10, Checks, kinds, run, setenv, sig
import vig_kernels.tilelang as tlb

chk = Checks()
T1 = {**S10, "VIG_TILELANG_FWD_TILE": "1"}
for L in (1, 17, 33, 196, 224):
    f0, s0, b0, c0, _ = run(S10, L)
    f1, s1, b1, c1, _ = run(T1, L)
    fz, _, _, _, _ = run({**S10, "VIG_TILELANG_FWD_TILE": "0"}, L)
    fs, _, _, _, _ = run({}, L)
    chk(f"L {L} bf16 S10 (FWD_TILE=0): fwd_fused:s2:m3:x5", kinds(f0) == ["fwd_fused:s2:m3:x5"], kinds(f0))
    chk(f"L {L} bf16 FWD_TILE=0 on S10: x5", kinds(fz) == kinds(f0), kinds(fz))
    chk(f"L {L} bf16 shipped (session 17): fwd_fused:s2:m3:x5:e1:p1:b1", kinds(fs) == ["fwd_fused:s2:m3:x5:e1:p1:b1"], kinds(fs))
    chk(f"L {L} bf16 FWD_TILE=1: fwd_fused:s2:m3:x5:e1", kinds(f1) == ["fwd_fused:s2:m3:x5:e1"], kinds(f1))
    chk(f"L {L} bf16 FWD_TILE=1: same arguments, no copies", sig(f1) == sig(f0) and c1 == c0 == 0, (sig(f1), c1))
    chk(f"L {L} bf16 FWD_TILE=1: backward unchanged", kinds(b1) == kinds(b0) and sig(b1) == sig(b0), kinds(b1))
for L, dt, extra in ((449, torch.bfloat16, {}), (196, torch.float16, {}), (196, torch.float32, {}),
                     (196, torch.bfloat16, {"VIG_TILELANG_FWD_VIEWS": "0"}), (1000, torch.bfloat16, {})):
    f0, _, b0, _, _ = run({**S10, **extra}, L, dt)
    f1, _, b1, _, _ = run({**T1, **extra}, L, dt)
    chk(f"L {L} {dt} {extra or ''}: FWD_TILE=1 changes nothing ({kinds(f0)})",
        kinds(f1) == kinds(f0) and sig(f1) == sig(f0) and kinds(b1) == kinds(b0), kinds(f1))
setenv({**S10, "VIG_TILELANG_FWD_TILE": "5"})
chk.raises("FWD_TILE=5 raises", "VIG_TILELANG_FWD_TILE", lambda: tlb._fwd_tile())
setenv({})
chk("shipped default FWD_TILE=4 (session 17)", tlb._fwd_tile() == ":e1:p1:b1", tlb.FWD_TILE_DEFAULT)
chk.done("dev_tile_cpu")
