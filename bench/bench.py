#!/usr/bin/python3
"""Benchmark nnbatch against its GEMM and read ceilings and against PyTorch.

For three workloads, measures the GEMM ceiling, the read ceiling, nnbatch
end to end (nnb_score_file), nnbatch in memory (nnb_score_array) and
PyTorch on the same model, data and thread count. Then sweeps threads and
tile rows on W1, checks the throughput and memory targets, and writes CSV
files, a gnuplot plot, a printed table and (in full mode)
docs/benchmarks.md. Every measurement is a separate process started by
`nnb_bench measure`, and every figure is the median of several repetitions
taken round-robin. Run with /usr/bin/python3 (Debian's numpy, h5py and
torch).
"""

import argparse
import datetime
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time

import h5py
import numpy as np

import report
import workloads

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

LABELS = {
    "ceiling": "GEMM ceiling",
    "read": "read ceiling",
    "file": "nnbatch end to end",
    "array": "nnbatch in memory",
}
ALL_TILES = [64, 128, 256, 512, 1024, 2048, 4096, 8192]
QUICK_TILES = [64, 256, 1024, 4096]

MEASUREMENT_FIELDS = [
    "run_id", "section", "workload", "contender", "rep", "threads", "tile_request",
    "tile_rows", "rows", "seconds", "rows_per_s", "gflops", "maxrss_kib", "process_seconds",
    "user_seconds", "system_seconds", "load_1min", "other_cpu", "ok", "error",
]
SUMMARY_FIELDS = [
    "run_id", "workload", "contender", "label", "rows", "threads", "tile_rows", "runs",
    "planned", "seconds", "rows_per_s", "rows_per_s_min", "rows_per_s_max", "gflops",
    "ratio_ceiling", "ratio_torch_best", "maxrss_kib",
]
SWEEP_FIELDS = [
    "run_id", "kind", "threads", "tile_request", "tile_rows", "auto", "rows", "runs",
    "rows_per_s", "gflops", "maxrss_kib",
]
TARGET_FIELDS = ["run_id", "name", "target", "measured", "value", "result", "gap"]


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Benchmark nnbatch against its GEMM and read ceilings and PyTorch.")
    parser.add_argument("--quick", action="store_true",
                        help="small row counts, 3 repetitions and a small sweep "
                             "(a few minutes); without it, the full figures")
    parser.add_argument("--reps", type=int,
                        help="repetitions per figure, whose median is reported "
                             "(default 5, quick 3)")
    parser.add_argument("--threads", type=int, default=0,
                        help="threads of every contender (default: all usable cores)")
    parser.add_argument("--tile-rows", type=int, default=0,
                        help="tile rows of the main measurements (default 0: nnbatch's "
                             "automatic choice)")
    parser.add_argument("--workloads", default="W1,W2,W3",
                        help="comma-separated workloads to measure (default W1,W2,W3)")
    parser.add_argument("--rows", action="append", default=[], metavar="NAME=N",
                        help="row count of a workload, such as W1=200000 (repeatable)")
    parser.add_argument("--sweep-rows", type=int,
                        help="W1 rows of each sweep point (default 100000, quick 20000)")
    parser.add_argument("--sweep-reps", type=int,
                        help="repetitions per sweep point (default 3)")
    parser.add_argument("--sweep-tiles",
                        help="comma-separated tile rows to sweep (default 64,...,8192; "
                             "quick 64,256,1024,4096); the automatic choice is always added")
    parser.add_argument("--no-sweep", action="store_true", help="skip the thread/tile sweep")
    parser.add_argument("--rss-rows", type=int,
                        help="rows of the W1 variant whose peak RSS is compared with W1's; "
                             "0 skips it (default 4000000, quick 0; 4M rows is a 12.5 GB file)")
    parser.add_argument("--rss-reps", type=int, default=1,
                        help="repetitions of the RSS variant (default 1)")
    parser.add_argument("--docs", dest="docs", action="store_true", default=None,
                        help="write docs/benchmarks.md and docs/benchmarks-throughput.png "
                             "(default in full mode)")
    parser.add_argument("--no-docs", dest="docs", action="store_false",
                        help="leave docs/ alone (default in quick mode)")
    parser.add_argument("--data-dir", default=os.path.join(HERE, "data"),
                        help="where workload files are generated and reused (default bench/data)")
    parser.add_argument("--results-dir", default=os.path.join(HERE, "results"),
                        help="where CSV files and the plot go (default bench/results)")
    parser.add_argument("--binary", default=os.path.join(ROOT, "build", "nnb_bench"),
                        help="the nnb_bench program (default build/nnb_bench)")
    parser.add_argument("--fashion", default=os.path.join(ROOT, "data", "fashion-mnist.h5"),
                        help="Fashion-MNIST HDF5 file of `make data/fashion-mnist.h5`")
    args = parser.parse_args(argv)

    mode = "quick" if args.quick else "full"
    args.mode = mode
    args.reps = args.reps or (3 if args.quick else 5)
    args.sweep_rows = args.sweep_rows or (20_000 if args.quick else 100_000)
    args.sweep_reps = args.sweep_reps or 3
    args.sweep_tiles = ([int(t) for t in args.sweep_tiles.split(",")] if args.sweep_tiles
                        else (QUICK_TILES if args.quick else ALL_TILES))
    if args.rss_rows is None:
        args.rss_rows = 0 if args.quick else 4_000_000
    if args.docs is None:
        args.docs = not args.quick
    args.workloads = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    for name in args.workloads:
        if name not in workloads.WORKLOADS:
            parser.error(f"unknown workload {name}; choose from {', '.join(workloads.WORKLOADS)}")
    args.row_counts = {name: w["rows"][mode] for name, w in workloads.WORKLOADS.items()}
    for item in args.rows:
        name, _, count = item.partition("=")
        if name.upper() not in workloads.WORKLOADS or not count.isdigit() or int(count) < 1:
            parser.error(f"--rows {item} is invalid: give NAME=N, such as W1=200000")
        args.row_counts[name.upper()] = int(count)
    if args.reps < 1 or args.sweep_reps < 1 or args.rss_reps < 1:
        parser.error("repetition counts must be at least 1")
    if not os.access(args.binary, os.X_OK):
        parser.error(f"{args.binary} not found; build it first (make bench builds it)")
    return args


def parse_key_values(text):
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


def busy_cpu_seconds():
    """CPU seconds all processes of the machine have spent busy since boot
    (user, nice, system, interrupts and steal), from /proc/stat; None where
    it cannot be read."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
        ticks = os.sysconf("SC_CLK_TCK")
        # cpu user nice system idle iowait irq softirq steal ...
        busy = sum(int(fields[i]) for i in (1, 2, 3, 6, 7, 8) if i < len(fields))
        return busy / ticks
    except (OSError, ValueError, IndexError):
        return None


def run_command(command):
    """Run a short helper command and return its key=value output."""
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"bench: {shlex.join(command)} failed:\n{result.stderr}")
    return parse_key_values(result.stdout)


class Runner:
    """Runs contender processes under `nnb_bench measure` and keeps the records."""

    def __init__(self, args, run_id):
        self.args = args
        self.run_id = run_id
        self.records = []
        self.cores = os.cpu_count() or 1

    def measure(self, job, section, rep, reps):
        command = [self.args.binary, "measure", "--"] + job["command"]
        env = dict(os.environ)
        env.update(job.get("env", {}))
        if job.get("output"):
            remove_file(job["output"])
        # Flush dirty pages left by earlier runs, so no contender pays for
        # another's write-back.
        os.sync()
        load = os.getloadavg()[0]
        busy_before = busy_cpu_seconds()
        wall_before = time.monotonic()
        result = subprocess.run(command, capture_output=True, text=True, env=env)
        wall = time.monotonic() - wall_before
        busy_after = busy_cpu_seconds()
        values = parse_key_values(result.stdout)

        record = {
            "run_id": self.run_id, "section": section, "workload": job["workload"],
            "contender": job["contender"], "rep": rep + 1, "threads": job["threads"],
            "tile_request": job.get("tile_request", ""), "load_1min": f"{load:.2f}",
            "ok": 0, "error": "",
        }
        ok = result.returncode == 0 and values.get("exit_status") == "0" and "seconds" in values
        if ok:
            seconds = float(values["seconds"])
            rows = int(values["rows"])
            flops = float(values.get("flops", 0))
            record.update({
                "ok": 1, "rows": rows, "seconds": seconds,
                "rows_per_s": rows / seconds if seconds > 0 else None,
                "gflops": flops / seconds / 1e9 if seconds > 0 and flops > 0 else None,
                "tile_rows": values.get("tile_rows", ""),
                "maxrss_kib": int(values["maxrss_kib"]),
                "process_seconds": values.get("process_seconds"),
                "user_seconds": values.get("user_seconds"),
                "system_seconds": values.get("system_seconds"),
                "values": values,
            })
            # CPU time other processes used during the run, as a share of
            # all cores: the load average cannot tell them from the
            # contender's own threads.
            own = float(values.get("user_seconds", 0)) + float(values.get("system_seconds", 0))
            if busy_before is not None and busy_after is not None and wall > 0:
                other = max(0.0, busy_after - busy_before - own) / (wall * self.cores)
                record["other_cpu"] = f"{other:.3f}"
            print(f"  [{section} {job['workload']} {rep + 1}/{reps}] {job['name']:<28}"
                  f"{seconds:9.2f} s {record['rows_per_s'] or 0:>14,.0f} rows/s "
                  f"{record['maxrss_kib'] / 1024:9.1f} MiB  others "
                  f"{float(record.get('other_cpu', 0)):4.0%}", flush=True)
        else:
            message = (result.stderr.strip().splitlines() or ["no message"])[-1]
            record["error"] = message
            print(f"  [{section} {job['workload']} {rep + 1}/{reps}] {job['name']:<28}"
                  f"FAILED: {message}", flush=True)
            if result.stderr.strip():
                print(result.stderr.rstrip(), flush=True)
        self.records.append(record)
        return record

    def round_robin(self, jobs, reps, section):
        """Run every job `reps` times, alternating jobs, starting each round
        one job later, so slow drifts of the machine hit all jobs alike. A
        job that fails is not retried."""
        failed = set()
        for rep in range(reps):
            start = rep % len(jobs)
            for job in jobs[start:] + jobs[:start]:
                if job["key"] in failed:
                    continue
                record = self.measure(job, section, rep, reps)
                if not record["ok"]:
                    failed.add(job["key"])


def remove_file(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def contender_jobs(args, name, paths, plan, threads):
    """Return the contender jobs of one workload, in table order."""
    workload = workloads.WORKLOADS[name]
    model, data = paths["model"], paths["data"]
    rows = args.row_counts[name]
    tile = str(args.tile_rows)
    base = ["--model", model, "--threads", str(threads), "--tile-rows", tile]
    source = ["--data", data, "--input", workloads.FEATURES]
    if workload["labels"]:
        source += ["--labels", workloads.LABELS]
    outputs = os.path.join(args.data_dir, f".bench-output-{name.lower()}")

    jobs = [
        {"contender": "ceiling", "command": [args.binary, "ceiling", "--rows", str(rows)] + base},
        {"contender": "read", "command": [args.binary, "read"] + source
         + ["--block-rows", plan["block_rows"]]},
        {"contender": "file", "output": outputs + "-nnbatch.h5",
         "command": [args.binary, "file"] + base + source
         + ["--output", outputs + "-nnbatch.h5"]},
        {"contender": "array", "command": [args.binary, "array"] + base + source},
    ]
    for torch_threads in sorted({1, threads}):
        output = f"{outputs}-torch{torch_threads}.h5"
        count = str(torch_threads)
        jobs.append({
            "contender": f"torch-{torch_threads}t",
            "output": output,
            "env": {"OMP_NUM_THREADS": count, "BLIS_NUM_THREADS": count},
            "command": [sys.executable, os.path.join(HERE, "torch_score.py"), "--model", model]
            + source + ["--output", output, "--threads", count,
                        "--batch-rows", plan["block_rows"],
                        "--chunk-cache-bytes", plan["chunk_cache_bytes"]],
        })
    for job in jobs:
        job.update({"workload": name, "threads": threads, "tile_request": args.tile_rows,
                    "key": (name, job["contender"])})
        job["name"] = contender_label(job["contender"])
    return jobs


def contender_label(contender):
    if contender.startswith("torch-"):
        count = int(contender[len("torch-"):-1])
        return f"PyTorch {count} thread" + ("" if count == 1 else "s")
    return LABELS[contender]


def compare_outputs(nnbatch_path, torch_paths):
    """Largest |nnbatch - PyTorch| per output dataset, over every PyTorch run."""
    if not os.path.exists(nnbatch_path):
        return None
    worst = {}
    with h5py.File(nnbatch_path, "r") as ours:
        for torch_path in torch_paths:
            if not os.path.exists(torch_path):
                continue
            with h5py.File(torch_path, "r") as theirs:
                for name in ours:
                    if name not in theirs or ours[name].shape != theirs[name].shape:
                        worst[name] = float("inf")
                        continue
                    dataset = ours[name]
                    step = max(1, (64 << 20) // (4 * dataset.shape[1]))
                    for first in range(0, dataset.shape[0], step):
                        a = dataset[first:first + step]
                        b = theirs[name][first:first + step]
                        difference = float(np.max(np.abs(a.astype(np.float64) - b)))
                        worst[name] = max(worst.get(name, 0.0), difference)
    return worst


def summarize(records, jobs, reps, section="main"):
    summary = []
    for job in jobs:
        ok = [r for r in records if r["section"] == section and r["ok"]
              and (r["workload"], r["contender"]) == job["key"]]
        rates = [r["rows_per_s"] for r in ok]
        summary.append({
            "workload": job["workload"], "contender": job["contender"], "label": job["name"],
            "rows": ok[0]["rows"] if ok else None, "threads": job["threads"],
            "tile_rows": ok[0]["tile_rows"] if ok else None, "runs": len(ok), "planned": reps,
            "seconds": median([r["seconds"] for r in ok]), "rows_per_s": median(rates),
            "rows_per_s_min": min(rates) if rates else None,
            "rows_per_s_max": max(rates) if rates else None,
            "gflops": median([r["gflops"] for r in ok]),
            "maxrss_kib": median([r["maxrss_kib"] for r in ok]),
        })
    for s in summary:
        same = [t for t in summary if t["workload"] == s["workload"]]
        ceiling = next((t["rows_per_s"] for t in same if t["contender"] == "ceiling"), None)
        torch_rates = [t["rows_per_s"] for t in same
                       if t["contender"].startswith("torch-") and t["rows_per_s"]]
        torch_best = max(torch_rates) if torch_rates else None
        s["ratio_ceiling"] = s["rows_per_s"] / ceiling if s["rows_per_s"] and ceiling else None
        s["ratio_torch_best"] = (s["rows_per_s"] / torch_best
                                 if s["rows_per_s"] and torch_best else None)
    return summary


def sweep_jobs(args, paths, threads):
    jobs = []
    source = ["--data", paths["data"], "--input", workloads.FEATURES, "--labels", workloads.LABELS]
    output = os.path.join(args.data_dir, ".bench-output-sweep.h5")
    for count in range(1, threads + 1):
        for tile in [0] + args.sweep_tiles:
            base = ["--model", paths["model"], "--threads", str(count), "--tile-rows", str(tile)]
            tile_text = "auto" if tile == 0 else str(tile)
            jobs.append({"contender": "file", "output": output,
                         "command": [args.binary, "file"] + base + source + ["--output", output]})
            jobs.append({"contender": "ceiling",
                         "command": [args.binary, "ceiling", "--rows", str(args.sweep_rows)]
                         + base})
            for job in jobs[-2:]:
                job.update({"workload": "W1", "threads": count, "tile_request": tile,
                            "key": ("W1", job["contender"], count, tile),
                            "name": f"{LABELS[job['contender']]} {count}t tile {tile_text}"})
    return jobs


def summarize_sweep(records, jobs):
    summary = []
    for job in jobs:
        ok = [r for r in records if r["section"] == "sweep" and r["ok"]
              and r["contender"] == job["contender"] and r["threads"] == job["threads"]
              and r["tile_request"] == job["tile_request"]]
        summary.append({
            "kind": job["contender"], "threads": job["threads"],
            "tile_request": job["tile_request"],
            "tile_rows": int(ok[0]["tile_rows"]) if ok else job["tile_request"],
            "auto": int(job["tile_request"] == 0), "rows": ok[0]["rows"] if ok else None,
            "runs": len(ok), "rows_per_s": median([r["rows_per_s"] for r in ok]),
            "gflops": median([r["gflops"] for r in ok]),
            "maxrss_kib": median([r["maxrss_kib"] for r in ok]),
        })
    return summary


def sweep_choices(sweep):
    """Automatic tile against the best swept tile, per contender and thread count."""
    choices = []
    for kind in ("file", "ceiling"):
        for threads in sorted({s["threads"] for s in sweep}):
            series = [s for s in sweep if s["kind"] == kind and s["threads"] == threads
                      and s["rows_per_s"]]
            auto = next((s for s in series if s["auto"]), None)
            swept = [s for s in series if not s["auto"]]
            if auto is None or not swept:
                continue
            best = max(swept, key=lambda s: s["rows_per_s"])
            choices.append({
                "label": LABELS[kind], "kind": kind, "threads": threads,
                "auto_tile": auto["tile_rows"], "auto_rows_per_s": auto["rows_per_s"],
                "best_tile": best["tile_rows"], "best_rows_per_s": best["rows_per_s"],
                "auto_vs_best": auto["rows_per_s"] / best["rows_per_s"],
            })
    return choices


def find(summary, workload, contender):
    return next((s for s in summary if s["workload"] == workload
                 and s["contender"] == contender), None)


def check(name, value, low=None, high=None, measured=None):
    """Return a target result: PASS when low <= value <= high (either bound
    may be None), else MISS with the gap to the violated bound in percent."""
    if low is not None and high is not None:
        bounds = f"{low:.2f} to {high:.2f}"
    elif low is not None:
        bounds = f">= {low:.2f}"
    else:
        bounds = f"<= {high:.2f}"
    if value is None:
        return {"name": name, "target": bounds, "measured": "not measured", "value": "",
                "result": "SKIP", "gap": ""}
    gap = ""
    if low is not None and value < low:
        gap = f"{(1 - value / low) * 100:.0f}% below"
    elif high is not None and value > high:
        gap = f"{(value / high - 1) * 100:.0f}% above"
    return {"name": name, "target": bounds, "measured": measured or f"{value:.3f}",
            "value": f"{value:.4f}", "result": "MISS" if gap else "PASS", "gap": gap}


def rate(summary, workload, contender):
    s = find(summary, workload, contender)
    return s["rows_per_s"] if s else None


def divide(numerator, denominator):
    return numerator / denominator if numerator and denominator else None


def evaluate_targets(args, summary, sweep, rss_summary, plans):
    targets = []
    for workload in ("W1", "W3"):
        value = divide(rate(summary, workload, "file"), rate(summary, workload, "ceiling"))
        targets.append(check(f"{workload} end to end / GEMM ceiling, rows/s", value, low=0.90))

    bounds = [rate(summary, "W2", "ceiling"), rate(summary, "W2", "read")]
    value = divide(rate(summary, "W2", "file"), min(bounds) if all(bounds) else None)
    lower = ""
    if all(bounds):
        lower = "GEMM" if bounds[0] <= bounds[1] else "read"
    targets.append(check("W2 end to end / min(GEMM ceiling, read ceiling), rows/s", value,
                         low=0.80, measured=value and f"{value:.3f} (the {lower} ceiling is lower)"))

    torch = [s["rows_per_s"] for s in summary if s["workload"] == "W1"
             and s["contender"].startswith("torch-") and s["rows_per_s"]]
    value = divide(rate(summary, "W1", "file"), max(torch) if torch else None)
    targets.append(check("W1 end to end / PyTorch best, rows/s", value, low=1.30))

    by_threads = {s["threads"]: s["rows_per_s"] for s in sweep
                  if s["kind"] == "file" and s["auto"]}
    value = divide(by_threads.get(2), by_threads.get(1))
    targets.append(check(f"W1 end to end, 2 threads / 1 thread, rows/s (sweep, "
                         f"{args.sweep_rows:,} rows, automatic tile)", value, low=1.85))

    base = find(summary, "W1", "file")
    base_rss = base["maxrss_kib"] if base else None
    big_rss = rss_summary["maxrss_kib"] if rss_summary else None
    value = divide(big_rss, base_rss)
    larger = f"{args.rss_rows:,}" if args.rss_rows else "--rss-rows"
    targets.append(check(f"W1 end to end peak RSS, {larger} / {args.row_counts['W1']:,} rows",
                         value, low=0.90, high=1.10,
                         measured=value and f"{value:.3f} ({big_rss / 1024:.1f} / "
                                            f"{base_rss / 1024:.1f} MiB)"))

    plan = plans.get("W1")
    name = "W1 end to end peak RSS / (model + 64 MiB + chunk cache)"
    if plan and base_rss:
        limit = (int(plan["parameter_bytes"]) + 64 * report.MIB
                 + int(plan["chunk_cache_bytes"])) / 1024
        peak = max(v for v in (base_rss, big_rss) if v)
        value = peak / limit
        targets.append(check(name, value, high=1.0,
                             measured=f"{value:.3f} ({peak / 1024:.1f} of "
                                      f"{limit / 1024:.1f} MiB)"))
    else:
        targets.append(check(name, None, high=1.0))
    return targets


def calibrate(args, runner, models, plans, threads):
    """Time a short GEMM ceiling per workload; returns GFLOP/s per workload."""
    rates = {}
    for name in args.workloads:
        plan = plans[name]
        per_row = workloads.flops_per_row(name)
        # About 2e10 FLOPs: near a second on the 2-core machine this was
        # written on, long enough to be past start-up effects.
        rows = max(2 * threads * int(plan["tile_rows"]), int(2e10 / per_row))
        rows = min(rows, args.row_counts[name])
        job = {"workload": name, "contender": "ceiling", "threads": threads,
               "tile_request": args.tile_rows, "name": "GEMM ceiling (calibration)",
               "command": [args.binary, "ceiling", "--model", models[name], "--rows",
                           str(rows), "--threads", str(threads),
                           "--tile-rows", str(args.tile_rows)]}
        record = runner.measure(job, "calibrate", 0, 1)
        rates[name] = record["gflops"] if record["ok"] and record["gflops"] else 10.0
    return rates


def estimate_seconds(args, rates, threads, missing_bytes):
    """Estimate the run's duration from the calibrated GEMM rates. Assumes nnbatch
    runs at 1.15x the ceiling's time, PyTorch at 1.2x per thread plus 4 s
    to import torch, files move at 1 GB/s and are generated at 300 MB/s."""
    total = missing_bytes / 300e6
    for name in args.workloads:
        rows = args.row_counts[name]
        compute = rows * workloads.flops_per_row(name) / (rates[name] * 1e9)
        data = rows * workloads.WORKLOADS[name]["widths"][0] * 4 / 1e9
        ceiling, read = compute, data
        end_to_end = 1.15 * compute + data
        in_memory = 1.15 * compute + 2 * data
        torch_runs = (1.2 * compute + data + 4) + (threads > 1) * (1.2 * compute * threads + data + 4)
        total += (ceiling + read + end_to_end + in_memory + torch_runs + 0.3 * 6) * args.reps
    if not args.no_sweep and "W1" in rates:
        compute = args.sweep_rows * workloads.flops_per_row("W1") / (rates["W1"] * 1e9)
        points = 0.0
        for count in range(1, threads + 1):
            points += (len(args.sweep_tiles) + 1) * 2 * (compute * threads / count + 0.4)
        total += points * args.sweep_reps
    if args.rss_rows and "W1" in rates:
        compute = args.rss_rows * workloads.flops_per_row("W1") / (rates["W1"] * 1e9)
        total += 1.2 * compute * args.rss_reps
    return total


def machine_facts():
    facts = {"memory_gib": 0.0, "kernel": platform.release(), "git": ""}
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                facts["memory_gib"] = int(line.split()[1]) / 1024 / 1024
    try:
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        facts["git"] = f" at git commit {commit}" + (" with uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        pass
    return facts


def load_note(others):
    """Return a warning for docs/benchmarks.md when other processes took a
    noticeable share of the CPU time during the runs, else an empty string."""
    if not others or (statistics.median(others) < 0.05 and max(others) < 0.25):
        return ""
    return (f"\nNOTE: other processes used {statistics.median(others):.0%} of the CPU time "
            f"during the median run and up to {max(others):.0%} during one run. Ratios "
            "between contenders are therefore rough. The 2-thread / 1-thread figure shows "
            "the CPU time the other processes left free as much as nnbatch's scaling.\n")


def format_duration(seconds):
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes} min {seconds:02d} s"


def main(argv):
    args = parse_args(argv)
    started = time.monotonic()
    run_id = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    os.makedirs(args.data_dir, exist_ok=True)
    os.makedirs(args.results_dir, exist_ok=True)
    runner = Runner(args, run_id)

    info = run_command([args.binary, "info"])
    threads = args.threads or int(info["cores"])
    floor = run_command([args.binary, "measure", "--", "/bin/true"])
    print(f"nnbatch benchmark, {args.mode} mode: {info['cpu_model']}, {info['cores']} cores, "
          f"BLIS {info['blis_version']} ({info['blis_arch']}), {threads} threads, "
          f"{args.reps} repetitions", flush=True)

    # The commit and working-tree state the binaries were built from, read
    # before the runs so that edits made during a long run do not count.
    facts = machine_facts()

    # Models first: the estimate needs their plans, not the data.
    models = {name: workloads.ensure_model(args.data_dir, name)[0] for name in args.workloads}
    plans = {name: run_command([args.binary, "plan", "--model", models[name], "--threads",
                                str(threads), "--tile-rows", str(args.tile_rows)])
             for name in args.workloads}
    needed = {name: args.row_counts[name] for name in args.workloads}
    extra = []
    if "W1" in args.workloads and not args.no_sweep:
        extra.append(args.sweep_rows)
    if "W1" in args.workloads and args.rss_rows:
        extra.append(args.rss_rows)
    missing_bytes = 0
    for name, rows in list(needed.items()) + [("W1", r) for r in extra]:
        if not os.path.exists(workloads.data_path(args.data_dir, name, rows)):
            missing_bytes += rows * workloads.WORKLOADS[name]["widths"][0] * 4

    print("Calibrating with a short GEMM ceiling per workload:", flush=True)
    rates = calibrate(args, runner, models, plans, threads)
    estimate = estimate_seconds(args, rates, threads, missing_bytes)
    print(f"Estimated duration: about {estimate / 60:.0f} min (an estimate from the calibrated "
          f"GEMM rates; load from other processes stretches it)", flush=True)

    # Data files: reused when their recorded spec matches.
    paths = {}
    for name, rows in list(needed.items()) + [("W1", r) for r in extra]:
        begin = time.monotonic()
        path, reused = workloads.ensure_data(args.data_dir, name, rows, args.fashion)
        paths[(name, rows)] = {"model": models[name], "data": path}
        print(f"{'Reusing' if reused else 'Generated'} {path} "
              f"({time.monotonic() - begin:.1f} s)", flush=True)
    for name in args.workloads:
        plans[name] = run_command([args.binary, "plan", "--model", models[name], "--data",
                                   paths[(name, needed[name])]["data"], "--input",
                                   workloads.FEATURES, "--threads", str(threads),
                                   "--tile-rows", str(args.tile_rows)])

    # Main measurements, one workload at a time.
    all_jobs = []
    agreement = []
    for name in args.workloads:
        print(f"{name} {workloads.WORKLOADS[name]['title']}, {needed[name]:,} rows, tile rows "
              f"{plans[name]['tile_rows']}:", flush=True)
        jobs = contender_jobs(args, name, paths[(name, needed[name])], plans[name], threads)
        all_jobs += jobs
        runner.round_robin(jobs, args.reps, "main")
        outputs = [job["output"] for job in jobs if job.get("output")]
        worst = compare_outputs(outputs[0], outputs[1:])
        if worst:
            text = ", ".join(f"{k} {v:.1e}" for k, v in sorted(worst.items()))
            agreement.append(f"{name} {text}")
            print(f"  max |nnbatch - PyTorch|: {text}", flush=True)
        for path in outputs:
            remove_file(path)

    summary = summarize(runner.records, all_jobs, args.reps)

    sweep = []
    if not args.no_sweep and "W1" in args.workloads:
        print(f"Sweep on W1, {args.sweep_rows:,} rows: threads 1 to {threads}, tile rows "
              f"{', '.join(map(str, args.sweep_tiles))} and automatic:", flush=True)
        jobs = sweep_jobs(args, paths[("W1", args.sweep_rows)], threads)
        runner.round_robin(jobs, args.sweep_reps, "sweep")
        remove_file(jobs[0]["output"])
        sweep = summarize_sweep(runner.records, jobs)
    choices = sweep_choices(sweep)

    rss_summary = None
    if args.rss_rows and "W1" in args.workloads:
        print(f"Peak RSS variant: W1 end to end with {args.rss_rows:,} rows:", flush=True)
        job = contender_jobs(args, "W1", paths[("W1", args.rss_rows)], plans["W1"], threads)[2]
        job["workload"] = "W1-rss"
        job["key"] = ("W1-rss", "file")
        runner.round_robin([job], args.rss_reps, "rss")
        remove_file(job["output"])
        rss_summary = summarize(runner.records, [job], args.rss_reps, section="rss")[0]

    targets = evaluate_targets(args, summary, sweep, rss_summary, plans)
    duration = time.monotonic() - started

    # Outputs.
    for s in summary + sweep:
        s["run_id"] = run_id
    for t in targets:
        t["run_id"] = run_id
    report.write_csv(os.path.join(args.results_dir, "measurements.csv"), runner.records,
                     MEASUREMENT_FIELDS)
    report.write_csv(os.path.join(args.results_dir, "summary.csv"),
                     summary + ([rss_summary] if rss_summary else []), SUMMARY_FIELDS)
    report.write_csv(os.path.join(args.results_dir, "sweep.csv"), sweep, SWEEP_FIELDS)
    report.write_csv(os.path.join(args.results_dir, "targets.csv"), targets, TARGET_FIELDS)
    heading = (f"nnbatch W1 ({args.sweep_rows:,} rows), {info['cpu_model']}, "
               f"{info['cores']} cores, {args.mode} mode, median of {args.sweep_reps}")
    plot = report.plot_sweep(sweep, args.results_dir,
                             os.path.join(args.results_dir, "throughput.png"), heading)

    print()
    print(report.format_text_table(summary))
    if rss_summary and rss_summary["maxrss_kib"]:
        print(f"W1 end to end with {args.rss_rows:,} rows: peak RSS "
              f"{rss_summary['maxrss_kib'] / 1024:.1f} MiB, "
              f"{rss_summary['rows_per_s']:,.0f} rows/s")
    if choices:
        print()
        print("Automatic tile choice against the best swept tile (W1 sweep):")
        for c in choices:
            plural = "thread" if c["threads"] == 1 else "threads"
            print(f"  {c['label']}, {c['threads']} {plural}: automatic {c['auto_tile']} rows "
                  f"{c['auto_rows_per_s']:,.0f} rows/s; best {c['best_tile']} rows "
                  f"{c['best_rows_per_s']:,.0f} rows/s; ratio {c['auto_vs_best']:.3f}")
    print()
    print(report.format_targets(targets))
    print()
    print(f"Results in {args.results_dir} (measurements.csv, summary.csv, sweep.csv, "
          f"targets.csv{', throughput.png' if plot else ''}).")
    print(f"Duration: {format_duration(duration)} (estimated about {estimate / 60:.0f} min).")

    if args.docs:
        docs = os.path.join(ROOT, "docs")
        plot_name = None
        if plot:
            plot_name = "benchmarks-throughput.png"
            shutil.copyfile(plot, os.path.join(docs, plot_name))
        others = [float(r["other_cpu"]) for r in runner.records if r.get("other_cpu")]
        torch_version = next((r["values"].get("torch_version") for r in runner.records
                              if r["ok"] and "torch_version" in r.get("values", {})), "?")
        context = {
            "info": info, "summary": summary, "targets": targets, "choices": choices,
            "date": datetime.datetime.now().strftime("%Y-%m-%d"),
            "duration": format_duration(duration),
            "command": shlex.join(["/usr/bin/python3", os.path.relpath(sys.argv[0], ROOT)]
                                  + argv),
            "threads": threads,
            "tile_setting": "automatic" if args.tile_rows == 0 else str(args.tile_rows),
            "reps": args.reps,
            "others": (f"median {statistics.median(others):.1%}, at most {max(others):.1%}"
                       if others else "not measured"),
            "load_note": load_note(others),
            "sweep_rows": args.sweep_rows, "plot_name": plot_name,
            "rss_variant": rss_summary if rss_summary and rss_summary["runs"] else None,
            "rss_floor_mib": int(floor["maxrss_kib"]) / 1024,
            "agreement": "; ".join(agreement) if agreement else "not compared",
            "torch_version": torch_version,
            "workloads": [{"name": name, "description":
                           f"{workloads.WORKLOADS[name]['title']}, "
                           f"{workloads.WORKLOADS[name]['hidden']} hidden layers, "
                           f"{workloads.WORKLOADS[name]['head']} output"
                           + (" and cross-entropy against the labels"
                              if workloads.WORKLOADS[name]["labels"] else "")
                           + f", {needed[name]:,} rows"
                           + (" of real Fashion-MNIST images (train and test, cycled)"
                              if name == "W1" else " of standard normal features")
                           + f", {int(float(plans[name]['flops_per_row'])):,} FLOPs per row, "
                           f"tile rows {plans[name]['tile_rows']}."}
                          for name in args.workloads],
        }
        context.update(facts)
        report.write_docs(os.path.join(docs, "benchmarks.md"), context)
        print(f"Wrote docs/benchmarks.md" + (" and docs/benchmarks-throughput.png" if plot_name
                                              else ""))
    return 0 if all(r["ok"] for r in runner.records) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
