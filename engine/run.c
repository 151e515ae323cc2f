/* Run contexts: resolved options and the per-thread scratch of a model. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "run.h"

#include "engine.h"
#include "status.h"

#include <errno.h>
#include <limits.h>
#include <omp.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Upper limits that catch typos (a thread count of 1e6) before they turn
 * into huge allocations. */
#define MAX_THREADS 1024
#define MAX_TILE_ROWS (INT64_C(1) << 20)

void nnb_options_init(nnb_options *options)
{
    memset(options, 0, sizeof *options);
}

/* Parse the first entry of OMP_NUM_THREADS ("4" or "4,2"). Returns 0 when
 * the variable is unset or empty. */
static nnb_status threads_from_environment(int *threads, nnb_error *error)
{
    *threads = 0;
    const char *value = getenv("OMP_NUM_THREADS");
    if (value == NULL || value[0] == '\0')
        return NNB_OK;

    errno = 0;
    char *end = NULL;
    long parsed = strtol(value, &end, 10);
    if (errno != 0 || end == value || (*end != '\0' && *end != ',') || parsed < 1
        || parsed > MAX_THREADS) {
        return nnb_error_set(error, NNB_ERR_INVALID_ARGUMENT,
                             "OMP_NUM_THREADS='%s' is not a thread count from 1 to %d; "
                             "unset it or pass a thread count",
                             value, MAX_THREADS);
    }
    *threads = (int)parsed;
    return NNB_OK;
}

static int available_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int count = CPU_COUNT(&set);
        if (count > 0)
            return count;
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

nnb_status nnb_engine_resolve_threads(int requested, int *threads, nnb_error *error)
{
    if (requested < 0 || requested > MAX_THREADS) {
        return nnb_error_set(error, NNB_ERR_INVALID_ARGUMENT,
                             "thread count %d is out of range: use 1 to %d, or 0 for automatic",
                             requested, MAX_THREADS);
    }
    if (requested > 0) {
        *threads = requested;
    } else {
        nnb_status status = threads_from_environment(threads, error);
        if (status != NNB_OK)
            return status;
        if (*threads == 0)
            *threads = available_cpus();
    }

    /* OMP_THREAD_LIMIT caps every team; report the count that will run. */
    int limit = omp_get_thread_limit();
    if (limit > 0 && *threads > limit)
        *threads = limit;
    return NNB_OK;
}

int64_t nnb_engine_default_tile_rows(const nnb_model *model)
{
    /* BLIS packs the whole weight matrix on every GEMM call, so a tile
     * needs enough rows to amortize that. With too many rows, the tile's
     * activations no longer fit a core's L2 cache (512 KiB per core on the
     * AMD EPYC test machine). The rule sizes the tile so that all of its
     * node values together take 4 MiB, an estimate: only two or three
     * buffers are live at once, so the working set is a fraction of that.
     * The benchmark's tile sweep measures how close the rule comes to the
     * best tile.
     *
     * Packing a weight matrix costs the same per call whatever the tile
     * rows, so its share of a GEMM's time falls as 1/rows. With 4096x4096
     * weights, BLIS reached about 26 GFLOP/s on 64-row tiles and 30 GFLOP/s
     * on 256-row tiles on the test machine. Hence the floor of 256 rows,
     * which binds only for wide models. */
    int64_t floats_per_row = model->input_width;
    for (int i = 0; i < model->node_count; i++)
        floats_per_row += model->nodes[i].width;

    int64_t rows = (INT64_C(4) << 20) / (4 * floats_per_row);
    rows -= rows % 16;
    if (rows < 256)
        rows = 256;
    if (rows > 1024)
        rows = 1024;
    return rows;
}

nnb_status nnb_run_create(const nnb_model *model, const nnb_options *options,
                          nnb_run **run_out, nnb_error *error)
{
    *run_out = NULL;
    if (model == NULL) {
        return nnb_error_set(error, NNB_ERR_INVALID_ARGUMENT,
                             "nnb_run_create: model is NULL; load one with nnb_model_load()");
    }

    nnb_options defaults;
    if (options == NULL) {
        nnb_options_init(&defaults);
        options = &defaults;
    }

    int threads = 0;
    nnb_status status = nnb_engine_resolve_threads(options->threads, &threads, error);
    if (status != NNB_OK)
        return status;

    if (options->tile_rows < 0 || options->tile_rows > MAX_TILE_ROWS) {
        return nnb_error_set(error, NNB_ERR_INVALID_ARGUMENT,
                             "tile rows %lld is out of range: use 1 to %lld, or 0 for automatic",
                             (long long)options->tile_rows, (long long)MAX_TILE_ROWS);
    }
    int64_t tile_rows = options->tile_rows > 0 ? options->tile_rows
                                               : nnb_engine_default_tile_rows(model);

    nnb_run *run = calloc(1, sizeof *run);
    if (run == NULL)
        return nnb_error_set(error, NNB_ERR_NO_MEMORY, "out of memory creating a run context");
    run->model = model;
    run->options = *options;
    run->threads = threads;
    run->tile_rows = tile_rows;

    /* Scratch is allocated by the first scoring call, sized for its plan. */
    *run_out = run;
    return NNB_OK;
}

void nnb_run_free(nnb_run *run)
{
    if (run == NULL)
        return;
    free(run->scratch);
    free(run);
}

int nnb_run_threads(const nnb_run *run)
{
    return run->threads;
}

int64_t nnb_run_tile_rows(const nnb_run *run)
{
    return run->tile_rows;
}
