"""Turns a pytest-benchmark JSON of tests/benchmarks into results.json and a markdown table.

    python tools/report.py bench.json [more.json ...] [--tests tests.xml] --out results/NAME

Several JSON files (one run split over pytest invocations on the same machine, e.g. fla's peer apart
because of its autotuning) are read as one.
"""
import argparse
import datetime
import json
import os
import statistics
import xml.etree.ElementTree as ET

from vig import bench


def main():
    p = argparse.ArgumentParser()
    p.add_argument("bench", nargs="+")
    p.add_argument("--tests", default=None)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    files = [json.load(open(f)) for f in a.bench]
    data = dict(files[0], benchmarks=[b for d in files for b in d["benchmarks"]])
    rows = []
    interleaved = []  # test_eager_interleaved: (shape, mode, {impl: [ms per round]})
    # One copy bandwidth for every row's floor: the first one measured (the first file's; fla's peer runs in a
    # second pytest process that measures its own, and its x-floor must be over the floor the table shows).
    bw = next((b["extra_info"]["copy_bandwidth_GBps"] for b in data["benchmarks"]
               if b.get("extra_info", {}).get("copy_bandwidth_GBps")), None)
    for b in data["benchmarks"]:
        e = b.get("extra_info", {})
        if e.get("impl") == "eager_interleaved":
            if e.get("rounds_ms"):
                interleaved.append((e["shape"], e["mode"], e["rounds_ms"]))
            continue
        row = {k: e.get(k) for k in ("impl", "shape", "mode", "median_ms", "floor_ms",
                                     "x_floor", "peak_extra_MiB", "copy_bandwidth_GBps")}
        # The floor comes from one place (vig.bench.OpShape) and the run's one bandwidth (bw).
        if row["shape"] in bench.SHAPES and bw and row["median_ms"]:
            shape = bench.OpShape(*bench.SHAPES[row["shape"]])
            nbytes = shape.bytes(backward=row["mode"] == "fwd_bwd")
            row["floor_ms"] = nbytes / (bw * 1e9) * 1e3
            row["x_floor"] = row["median_ms"] / row["floor_ms"]
        rows.append(row)
    device = next((b["extra_info"].get("device") for b in data["benchmarks"] if b.get("extra_info")), "?")
    tests = None
    if a.tests and os.path.exists(a.tests):
        s = ET.parse(a.tests).getroot()
        s = s if s.tag == "testsuite" else s.find("testsuite")
        tests = {k: int(s.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    result = {
        "device": device,
        "commit": os.environ.get("VIG_COMMIT", "unknown"),
        "date": data.get("datetime") or datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine_info": {k: data.get("machine_info", {}).get(k) for k in ("python_version", "cpu")},
        "tests": tests,
        "timing": "median of triton.testing.do_bench (CUDA events), ms; floor = bytes / measured copy bandwidth",
        "copy_bandwidth_GBps": bw,  # the one every floor uses (each row keeps the one its process measured)
        "rows": rows,
        "eager_interleaved": [{"shape": sh, "mode": m, "rounds_ms": r} for sh, m, r in interleaved],
    }
    with open(a.out + ".json", "w") as f:
        json.dump(result, f, indent=1)

    # One markdown table: a row per (shape, mode), a column per implementation.
    impls = sorted({r["impl"] for r in rows if r["impl"]}, key=lambda x: (x.startswith("fla"), x))
    keys = []
    for r in rows:
        k = (r["shape"], r["mode"])
        if k not in keys:
            keys.append(k)
    cell = {(r["shape"], r["mode"], r["impl"]): r for r in rows}
    lines = [f"# Benchmarks on {device}", "",
             f"commit {result['commit']}, {result['date']}; {result['timing']}.", ""]
    if tests:
        lines += [f"GPU tests: {tests}", ""]
    lines.append("| shape | mode | floor ms | " + " | ".join(impls) + " |")
    lines.append("|---|---|---|" + "---|" * len(impls))
    for shape, mode in keys:
        floor = next((cell[(shape, mode, i)]["floor_ms"] for i in impls
                      if (shape, mode, i) in cell and cell[(shape, mode, i)]["floor_ms"]), None)
        cols = []
        for i in impls:
            r = cell.get((shape, mode, i))
            if not r or r["median_ms"] is None:
                cols.append("-")
            else:
                x = f" ({r['x_floor']:.1f}x)" if r.get("x_floor") else ""
                m = f", {r['peak_extra_MiB']:.0f} MiB" if r.get("peak_extra_MiB") else ""
                cols.append(f"{r['median_ms']:.3f}{x}{m}")
        lines.append(f"| {shape} | {mode} | {floor:.3f} | " if floor else f"| {shape} | {mode} | - | ")
        lines[-1] += " | ".join(cols) + " |"
    lines += eager_table(interleaved)
    with open(a.out + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def eager_table(interleaved):
    """The interleaved eager comparison (tests/benchmarks test_eager_interleaved) as markdown lines: per shape and
    mode, each backend's median over the rounds (ms) and, in parentheses, the median over the rounds of its time
    divided by the fastest backend's (the lowest median) in the same round."""
    if not interleaved:
        return []
    impls = sorted({i for _, _, r in interleaved for i in r})
    lines = ["", "## Eager, interleaved rounds", "",
             "Each round times every backend's eager call once (do_bench median); a cell is the median over the rounds, "
             "ms, and (in parentheses) the median of its time over the fastest backend's in the same round.", "",
             "| shape | mode | fastest | " + " | ".join(impls) + " |", "|---|---|---|" + "---|" * len(impls)]
    for shape, mode, r in interleaved:
        med = {i: statistics.median(v) for i, v in r.items()}
        best = min(med, key=med.get)
        cols = []
        for i in impls:
            if i not in r:
                cols.append("-")
                continue
            ratio = statistics.median(a / b for a, b in zip(r[i], r[best]))
            cols.append(f"{med[i]:.3f} ({ratio:.2f}x)")
        lines.append(f"| {shape} | {mode} | {best} | " + " | ".join(cols) + " |")
    return lines


if __name__ == "__main__":
    main()
