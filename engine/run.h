/* The run context behind the opaque nnb_run handle. */
#ifndef NNB_RUN_H
#define NNB_RUN_H

#include "graph/graph.h"
#include "nnbatch.h"

#include <stdint.h>

#define NNB_CACHE_LINE 64
#define NNB_FLOATS_PER_LINE (NNB_CACHE_LINE / (int64_t)sizeof(float))
#define NNB_ROUND_UP(n, m) ((((n) + (m) - 1) / (m)) * (m))

struct nnb_run {
    const nnb_model *model; /* borrowed; must outlive the run */
    nnb_options options;
    int threads;            /* resolved worker thread count */
    int64_t tile_rows;      /* resolved rows per tile */
    int64_t call_tile_rows; /* rows per tile in the current call, at most tile_rows */
    float *scratch;         /* threads x scratch_stride floats, cache-line aligned;
                             * grown by the scoring calls as their plans need */
    int64_t scratch_stride; /* floats of scratch per thread, a multiple of a line */
};

#endif
