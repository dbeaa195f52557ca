"""The shared harness's parity cases (tools/check_backend.parity: contract rule against the float64
oracle, 5 gate regimes x 3 dtypes) at chosen lengths only, for quick checks of dev variants
(the env vars select them). Usage: python kernels/tilelang/dev_parity.py 1,7,63,64,65,196
A failing case also prints which outputs broke the bound (o: forward; dq..dgb: backward)."""
import importlib.util
import os
import sys

root = os.path.join(os.path.dirname(__file__), "..", "..")
spec = importlib.util.spec_from_file_location("check_backend", os.path.join(root, "tools", "check_backend.py"))
cb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cb)
cb.LENGTHS = tuple(int(x) for x in (sys.argv[1] if len(sys.argv) > 1 else "1,7,63,64,65,196").split(","))
_report = cb.parity_report


def _named_report(*a, **kw):
    rep = _report(*a, **kw)
    bad = [f"{n} {e:.3g}>{b:.3g}" for n, e, b in rep if not e <= b]
    if bad:
        print("     broke:", ", ".join(bad), flush=True)
    return rep


cb.parity_report = _named_report
env = {k: v for k, v in os.environ.items() if k.startswith("VIG_TILELANG")}
rows = cb.parity("tilelang")
fails = [r for r in rows if not r["pass"]]
print(f"dev_parity {env} L={cb.LENGTHS}: {len(rows) - len(fails)} pass, {len(fails)} fail; "
      f"worst {max(r['worst_err_over_bound'] for r in rows):.3f}", flush=True)
sys.exit(1 if fails else 0)
