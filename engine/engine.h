/*
 * The scoring engine: reads blocks of rows from a row source, scores them
 * tile by tile on OpenMP threads and hands the outputs to a row sink.
 *
 * Sources and sinks are plain callback tables, so an HDF5 dataset, a
 * caller's in-memory array or (later) an MPI rank's slice all plug in the same
 * way. Workers never call them. With read/write callbacks, a reader thread
 * calls read() and a writer thread calls write(), each in row order. One
 * mutex keeps the two from running at the same time, so a source or sink
 * built on a library that is not thread-safe (HDF5) needs no locking of its
 * own. View callbacks are called from the reader thread, or, when both
 * source and sink have views, from whichever worker finishes the block
 * before, one call at a time.
 */
#ifndef NNB_ENGINE_H
#define NNB_ENGINE_H

#include "graph/graph.h"
#include "nnbatch.h"

#include <stdint.h>

typedef struct nnb_row_source {
    int64_t rows;   /* total rows the source yields */
    int has_labels; /* nonzero when the source supplies labels */
    /* Preferred multiple of rows per block, such as the rows of one HDF5
     * chunk, so that no chunk is split between two reads; 0 for none. */
    int64_t block_alignment;
    /* Copy rows [first, first + count) into `features` (row stride ld
     * floats, input_width columns) and, when has_labels, their class indices
     * into `labels`. Labels must already be checked against the class range.
     * Used when `view` is NULL. */
    nnb_status (*read)(void *state, int64_t first, int64_t count, float *features,
                       int64_t ld, int32_t *labels, nnb_error *error);
    /* Optional zero-copy access for sources already in memory: point
     * *features (row stride *ld) and *labels (NULL without labels) at rows
     * [first, first + count). */
    void (*view)(void *state, int64_t first, int64_t count, const float **features,
                 int64_t *ld, const int32_t **labels);
    void *state;
} nnb_row_source;

typedef struct nnb_row_sink {
    int output_count;      /* graph outputs written */
    const int *outputs;    /* their indices in the model's output list */
    /* Store rows [first, first + count) of output slot `slot` (an index into
     * `outputs`), given with row stride ld floats. Used when `view` is NULL. */
    nnb_status (*write)(void *state, int slot, int64_t first, int64_t count,
                        const float *data, int64_t ld, nnb_error *error);
    /* Optional zero-copy access for sinks in memory: point *data (row stride
     * *ld) at the destination of rows [first, first + count) of `slot`. */
    void (*view)(void *state, int slot, int64_t first, int64_t count, float **data,
                 int64_t *ld);
    void *state;
} nnb_row_sink;

/* Score every row of `source` and write the requested outputs to `sink`.
 * Fills `summary` (rows, seconds, loss and accuracy when labels are read). */
nnb_status nnb_engine_run(nnb_run *run, const nnb_row_source *source,
                          const nnb_row_sink *sink, nnb_summary *summary,
                          nnb_error *error);

/* Resolve the worker thread count: `requested` when positive, else
 * OMP_NUM_THREADS, else the CPUs this process may run on. */
nnb_status nnb_engine_resolve_threads(int requested, int *threads, nnb_error *error);

/* Tile rows chosen from the layer widths when the options leave it at 0. */
int64_t nnb_engine_default_tile_rows(const nnb_model *model);

#endif
