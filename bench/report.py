"""Outputs of the nnbatch benchmark: CSV files, the printed table, the
gnuplot throughput plot and docs/benchmarks.md."""

import csv
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))

MIB = 1024 * 1024


def write_csv(path, records, fields):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for record in records:
            writer.writerow(record)


def _number(value, digits=0):
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _ratio(value):
    return "-" if value is None else f"{value:.2f}"


TABLE_COLUMNS = ["workload", "contender", "rows", "rows/s", "GFLOP/s", "x ceiling",
                 "x PyTorch best", "peak RSS MiB", "runs", "max/min"]


def table_rows(summary):
    rows = []
    for s in summary:
        rows.append([
            s["workload"], s["label"], _number(s["rows"]), _number(s["rows_per_s"]),
            _number(s["gflops"], 1) if s["gflops"] else "-",
            _ratio(s["ratio_ceiling"]), _ratio(s["ratio_torch_best"]),
            _number(s["maxrss_kib"] / 1024 if s["maxrss_kib"] else None, 1),
            f"{s['runs']}/{s['planned']}",
            _ratio(s["rows_per_s_max"] / s["rows_per_s_min"]) if s["rows_per_s_min"] else "-",
        ])
    return rows


def format_text_table(summary):
    rows = [TABLE_COLUMNS] + table_rows(summary)
    widths = [max(len(r[i]) for r in rows) for i in range(len(TABLE_COLUMNS))]
    lines = []
    for k, row in enumerate(rows):
        cells = [cell.ljust(w) if i < 2 else cell.rjust(w)
                 for i, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_markdown_table(columns, rows):
    lines = ["| " + " | ".join(columns) + " |",
             "|" + "|".join("---" if i < 2 else "---:" for i in range(len(columns))) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def format_targets(targets):
    lines = []
    for t in targets:
        gap = f", {t['gap']}" if t["gap"] else ""
        lines.append(f"{t['result']:<5} {t['name']}: measured {t['measured']} "
                     f"(target {t['target']}{gap})")
    return "\n".join(lines)


def _write_blocks(path, blocks, with_titles):
    """Write gnuplot data blocks: (title, [(x, y), ...]) each."""
    with open(path, "w") as f:
        for title, points in blocks:
            if with_titles:
                f.write(f'"{title}" "rows/s"\n')
            for x, y in points:
                f.write(f"{x} {y:.3f}\n")
            f.write("\n\n")


def plot_sweep(sweep_summary, results_dir, output_png, heading):
    """Plot rows/s against threads (automatic tile) and against tile rows.

    Returns the PNG path, or None when there is nothing to plot or gnuplot
    failed (its message is printed).
    """
    if not sweep_summary:
        return None
    labels = {"file": "nnbatch end to end", "ceiling": "GEMM ceiling"}
    kinds = [k for k in ("file", "ceiling") if any(s["kind"] == k for s in sweep_summary)]
    threads = sorted({s["threads"] for s in sweep_summary})

    thread_blocks = []
    for kind in kinds:
        points = [(s["threads"], s["rows_per_s"]) for s in sweep_summary
                  if s["kind"] == kind and s["tile_request"] == 0 and s["rows_per_s"]]
        thread_blocks.append((f"{labels[kind]}, automatic tile", sorted(points)))

    tile_blocks = []
    auto_blocks = []
    for kind in kinds:
        for t in threads:
            series = [s for s in sweep_summary if s["kind"] == kind and s["threads"] == t
                      and s["rows_per_s"]]
            swept = sorted((s["tile_rows"], s["rows_per_s"]) for s in series
                           if s["tile_request"] != 0)
            auto = [(s["tile_rows"], s["rows_per_s"]) for s in series if s["tile_request"] == 0]
            plural = "thread" if t == 1 else "threads"
            tile_blocks.append((f"{labels[kind]}, {t} {plural}", swept))
            auto_blocks.append(("", auto))

    tiles = [s["tile_rows"] for s in sweep_summary]
    files = {name: os.path.join(results_dir, f"plot-{name}.dat")
             for name in ("threads", "tiles", "auto")}
    _write_blocks(files["threads"], thread_blocks, True)
    _write_blocks(files["tiles"], tile_blocks, True)
    _write_blocks(files["auto"], auto_blocks, False)

    heading = heading.replace('"', "'")
    settings = (f"threads_file='{files['threads']}'; tiles_file='{files['tiles']}'; "
                f"auto_file='{files['auto']}'; threads_blocks={len(thread_blocks)}; "
                f"tiles_blocks={len(tile_blocks)}; auto_blocks={len(auto_blocks)}; "
                f"tile_min={min(tiles)}; tile_max={max(tiles)}; "
                f"output='{output_png}'; heading=\"{heading}\"")
    result = subprocess.run(["gnuplot", "-e", settings, os.path.join(HERE, "throughput.gp")],
                            capture_output=True, text=True)
    if result.returncode != 0:
        print(f"bench: gnuplot failed, no plot written:\n{result.stderr}")
        return None
    return output_png


def sweep_choice_rows(choices):
    rows = []
    for c in choices:
        rows.append([c["label"], str(c["threads"]), _number(c["auto_tile"]),
                     _number(c["auto_rows_per_s"]), _number(c["best_tile"]),
                     _number(c["best_rows_per_s"]), _ratio(c["auto_vs_best"])])
    return rows


SWEEP_COLUMNS = ["contender", "threads", "automatic tile", "rows/s", "best swept tile",
                 "rows/s", "automatic / best"]


def write_docs(path, context):
    """Write docs/benchmarks.md from the measured figures in `context`."""
    info = context["info"]
    summary_table = format_markdown_table(TABLE_COLUMNS, table_rows(context["summary"]))
    target_lines = "\n".join(
        f"| {t['name']} | {t['target']} | {t['measured']} | {t['result']} | {t['gap']} |"
        for t in context["targets"])
    sweep_table = format_markdown_table(SWEEP_COLUMNS, sweep_choice_rows(context["choices"]))
    workload_lines = "\n".join(f"- **{w['name']}** {w['description']}"
                               for w in context["workloads"])
    variant = context["rss_variant"]
    variant_line = ""
    if variant:
        variant_line = (f"\nW1 end to end with {variant['rows']:,} rows (peak RSS check, "
                        f"{variant['runs']} run): {variant['rows_per_s']:,.0f} rows/s, peak RSS "
                        f"{variant['maxrss_kib'] / 1024:.1f} MiB.\n")
    plot_line = (f"![Rows/s against threads and tile rows]({context['plot_name']})"
                 if context["plot_name"] else "(gnuplot failed; no plot was made.)")

    text = f"""# nnbatch benchmarks

Throughput of nnbatch against what the machine allows for the same model,
data and thread count, and against PyTorch. `bench/bench.py` measures every
figure on this page in one run; [bench/README.md](../bench/README.md) says
how to run it.

## Latest run

- Date: {context['date']}; total run time {context['duration']}.
- Command: `{context['command']}`
- Machine: {info['cpu_model']}, {info['cores']} cores usable, \
{context['memory_gib']:.0f} GiB RAM; Linux {context['kernel']}.
- Libraries: BLIS {info['blis_version']} (configuration `{info['blis_arch']}`, \
the OpenMP build), HDF5 {info['hdf5_version']}, PyTorch {context['torch_version']} \
(Debian `python3-torch`, whose BLAS is the system BLIS through `libblas.so.3`), \
nnbatch {info['nnbatch_version']}{context['git']}.
- Settings: {context['threads']} threads, tile rows {context['tile_setting']}, \
median of {context['reps']} repetitions per figure, contenders alternated \
round-robin with a rotating start. CPU time other processes of this machine \
used during a run, as a share of all cores: {context['others']}. The machine \
is a virtual machine on a shared host, whose other guests this cannot see, \
so figures carry noise beyond that.
{context['load_note']}
Workloads (models with seeded random He-normal weights, written by
`bench/workloads.py`):

{workload_lines}

{summary_table}
{variant_line}
Columns: rows/s and GFLOP/s are medians, counting 2 FLOPs per multiply-add
of the matmuls only. "x ceiling" divides rows/s by the GEMM ceiling's, and
"x PyTorch best" by the faster PyTorch setting's. Peak RSS is the median
`ru_maxrss` of the contender's own process. "max/min" is the fastest run's
rows/s over the slowest's, a measure of the noise. The read ceiling does no
arithmetic, so its GFLOP/s is blank.

## Targets

| target | required | measured | result | gap |
|---|---|---|---|---|
{target_lines}

## Tile rows and threads (W1, {context['sweep_rows']:,} rows)

{sweep_table}

{plot_line}

## What each contender measures

- **GEMM ceiling** (`nnb_bench ceiling`): the model's matmuls alone, on one
  in-memory block of rows that the tiles cycle through. OpenMP threads take
  the tiles, and each GEMM is one single-threaded `bli_sgemm_ex` call with
  the small-matrix path off, as the engine calls it. No bias,
  activation, loss or I/O. One matmul runs differently in nnbatch: a layer
  with a single output column (W2's last layer) is a dot product per row
  there, while the ceiling keeps BLIS, whose micro-kernel computes 16
  columns for it. Otherwise an nnbatch run beats the ceiling only through
  measurement noise. The ceiling's weights have the model's shapes but their own
  random values, because GEMM time does not depend on the values.
- **read ceiling** (`nnb_bench read`): `H5Dread` of the input dataset (and
  labels) into float32 and int32 buffers, block by block with the engine's
  block size and chunk cache, no compute. (The engine copies whole
  unfiltered float32 chunks with `H5Dread_chunk` instead, which skips one
  copy.) Files are in the page cache (they
  were just written or read), so this is the in-memory HDF5 read rate, not a
  disk rate.
- **nnbatch end to end** (`nnb_bench file`): `nnb_score_file()`, which is
  what `nnbatch score` runs: HDF5 in, every graph output (and the loss with
  labels) written to a new HDF5 file in the data directory.
- **nnbatch in memory** (`nnb_bench array`): `nnb_score_array()` on the
  whole dataset loaded into memory first (untimed), output 0 only; with
  labels the loss is computed too. Its RSS includes the whole input.
- **PyTorch** (`bench/torch_score.py`): the same weights as a
  `torch.nn.Sequential` under `torch.inference_mode()`, reading batches of
  the engine's block size with h5py (same chunk cache) and writing the same
  outputs with h5py. Run with `torch.set_num_threads(1)` and with all
  threads; `OMP_NUM_THREADS` and `BLIS_NUM_THREADS` are set to the same
  count, because the BLIS behind PyTorch's GEMMs takes its thread count
  from them and not from `torch.set_num_threads`.

Times cover the scoring call only (for PyTorch, the loop from opening the
data file to closing the output file): process start, model loading and
`import torch` are excluded. Each measurement runs in its own process,
started by `nnb_bench measure`, which reads `ru_maxrss` from `wait4()`.
Linux counts the pages a child inherits at fork in its `ru_maxrss`, so every
RSS figure includes that program's floor, {context['rss_floor_mib']:.1f} MiB
(measured by running `/bin/true` the same way).
The outputs of the last nnbatch and PyTorch runs are compared before they
are deleted: {context['agreement']}.

The CSV files of every measurement are in `bench/results/` after a run
(not committed): `measurements.csv` (each run), `summary.csv`, `sweep.csv`
and `targets.csv`.
"""
    with open(path, "w") as f:
        f.write(text)
