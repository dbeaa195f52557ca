"""tools/report.py: the results table and the interleaved eager comparison, from a pytest-benchmark JSON."""
import json
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_eager_interleaved_table(tmp_path):
    """Each cell: the median over the rounds and the median same-round ratio to the backend with the lowest median
    (not the ratio of the medians: a round on a slow host slows every backend of that round)."""
    rng = random.Random()
    host = [rng.uniform(1.0, 2.5) for _ in range(7)]  # the host's speed, per round
    rounds = {"cupy": [0.2 * h for h in host], "tilelang": [0.26 * h for h in host],
              "triton": [0.5 * h * rng.uniform(0.9, 1.1) for h in host]}
    rows = [{"extra_info": {"impl": "cupy", "shape": "ViG-T@224", "mode": "fwd_bwd", "median_ms": 0.2,
                            "copy_bandwidth_GBps": 3000.0, "device": "GPU"}},
            {"extra_info": {"impl": "eager_interleaved", "shape": "ViG-T@224", "mode": "fwd_bwd", "device": "GPU",
                            "rounds_ms": rounds}}]
    (tmp_path / "b.json").write_text(json.dumps({"datetime": "now", "machine_info": {}, "benchmarks": rows}))
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "report.py"), str(tmp_path / "b.json"),
                        "--out", str(tmp_path / "results")], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    md = (tmp_path / "results.md").read_text()
    line = next(l for l in md.splitlines() if l.startswith("| ViG-T@224 | fwd_bwd | cupy |"))
    cells = [c.strip() for c in line.strip("|").split("|")][3:]
    assert cells[0].endswith("(1.00x)") and cells[1].endswith("(1.30x)"), line
    ratio = float(cells[2].split("(")[1].rstrip("x)"))
    assert 2.25 <= ratio <= 2.75, line
    out = json.loads((tmp_path / "results.json").read_text())
    assert out["eager_interleaved"][0]["rounds_ms"] == rounds
    assert [row["impl"] for row in out["rows"]] == ["cupy"]  # the comparison is not a cell of the main table
