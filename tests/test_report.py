"""tools/report.py: the results table and the interleaved eager comparison, from a pytest-benchmark JSON; and the
memory floor against the contract's table."""
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vig import bench

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = Path(__file__).resolve().parents[2] / "shared" / "design" / "bidirectional-gla.md"


def _report(tmp_path, rows):
    (tmp_path / "b.json").write_text(json.dumps({"datetime": "now", "machine_info": {}, "benchmarks": rows}))
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "report.py"), str(tmp_path / "b.json"),
                        "--out", str(tmp_path / "results")], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return (tmp_path / "results.md").read_text(), json.loads((tmp_path / "results.json").read_text())


def test_eager_interleaved_table(tmp_path):
    """Each cell: the median over the rounds and the median same-round ratio to the backend with the lowest median,
    not the ratio of the medians (a round on a slow host slows every backend of that round). The rounds are built so
    that the two differ: triton is 1.1x cupy in three rounds of five and far slower in the two fastest-host ones, so
    its median ratio is 1.1 while its median time over cupy's is ~1.5."""
    rng = random.Random()
    order = list(range(5))
    rng.shuffle(order)  # the rounds in any order, any host scale
    s = rng.uniform(0.5, 2.0)
    host = [s * (i + 1) / 10 for i in order]
    slow = {0: 1.5 + rng.uniform(0, 1), 1: 3.0 + rng.uniform(0, 1)}  # the two fastest-host rounds
    rounds = {"cupy": host, "tilelang": [1.3 * h for h in host],
              "triton": [h * slow.get(i, 1.1) for h, i in zip(host, order)]}
    rows = [{"extra_info": {"impl": "cupy", "shape": "ViG-T@224", "mode": "fwd_bwd", "median_ms": 0.2,
                            "copy_bandwidth_GBps": 3000.0, "device": "GPU"}},
            {"extra_info": {"impl": "eager_interleaved", "shape": "ViG-T@224", "mode": "fwd_bwd", "device": "GPU",
                            "rounds_ms": rounds}}]
    md, out = _report(tmp_path, rows)
    line = next(l for l in md.splitlines() if l.startswith("| ViG-T@224 | fwd_bwd | cupy |"))
    cells = [c.strip() for c in line.strip("|").split("|")][3:]
    assert cells[0].endswith("(1.00x)") and cells[1].endswith("(1.30x)") and cells[2].endswith("(1.10x)"), line
    med = sorted(rounds["triton"])[2] / sorted(rounds["cupy"])[2]
    assert med > 1.3, med  # the ratio of the medians would have read differently
    assert out["eager_interleaved"][0]["rounds_ms"] == rounds
    assert [row["impl"] for row in out["rows"]] == ["cupy"]  # the comparison is not a cell of the main table


def test_every_floor_uses_the_runs_one_bandwidth(tmp_path):
    """The floor column and every row's x-floor use one bandwidth, the first measured (fla's peer runs in a second
    pytest process with a bandwidth of its own): floor = OpShape.bytes / bandwidth, x-floor = median / floor."""
    bw1, bw2 = random.uniform(2000, 3500), random.uniform(1500, 2000)
    rows = [{"extra_info": {"impl": impl, "shape": shape, "mode": mode, "median_ms": random.uniform(0.05, 3),
                            "copy_bandwidth_GBps": bw, "device": "GPU"}}
            for impl, bw in (("cupy", bw1), ("fla_official", bw2))
            for shape in bench.SHAPES for mode in ("fwd", "fwd_bwd")]
    md, out = _report(tmp_path, rows)
    assert out["copy_bandwidth_GBps"] == bw1
    for row, src in zip(out["rows"], rows):
        shape = bench.OpShape(*bench.SHAPES[row["shape"]])
        floor = shape.bytes(backward=row["mode"] == "fwd_bwd") / (bw1 * 1e9) * 1e3
        assert row["floor_ms"] == pytest.approx(floor, rel=1e-12)
        assert row["x_floor"] == pytest.approx(src["extra_info"]["median_ms"] / floor, rel=1e-12)
    line = next(l for l in md.splitlines() if l.startswith("| ViG-S@224 | fwd |"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    fla = next(r for r in out["rows"] if r["impl"] == "fla_official" and r["shape"] == "ViG-S@224"
               and r["mode"] == "fwd")
    assert float(cells[2]) == pytest.approx(fla["floor_ms"], abs=6e-4)
    assert f"({fla['x_floor']:.1f}x)" in line


def test_floor_is_the_contracts_table():
    """vig.bench's shapes and floors are the contract's benchmark table: the same five shapes, and the floor at the
    contract's 3.0 TB/s is the table's forward and forward+backward figure to its last digit (0.001 ms; the table
    rounds some figures and truncates others: S@224 0.0899 is given as 0.089)."""
    if not CONTRACT.exists():
        pytest.skip(f"the contract is not beside the project ({CONTRACT})")
    table = {}
    for m in re.finditer(r"^\| (ViG-\S+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| ([\d.]+) ms \| ([\d.]+) ms \|",
                         CONTRACT.read_text(), re.M):
        table[m[1]] = (tuple(int(x) for x in m.groups()[1:6]), float(m[7]), float(m[8]))
    assert set(table) == set(bench.SHAPES), table
    for name, ((B, H, L, K, V), fwd, fb) in table.items():
        assert bench.SHAPES[name] == (B, H, L, K, V)
        shape = bench.OpShape(B, H, L, K, V)
        assert bench.floor_ms(shape, bandwidth=3.0e12) == pytest.approx(fwd, abs=1e-3), name
        assert bench.floor_ms(shape, backward=True, bandwidth=3.0e12) == pytest.approx(fb, abs=1e-3), name
