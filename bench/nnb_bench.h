/*
 * nnb_bench: the measuring program behind bench/bench.py.
 *
 * Each command times one contender once and prints its results to stdout
 * as `key=value` lines, one per line, so a driver can parse them. Errors go
 * to stderr and make the command exit with status 1.
 */
#ifndef NNB_BENCH_H
#define NNB_BENCH_H

#include "nnbatch.h"

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

/* Command-line options shared by the contender commands. */
typedef struct nnb_bench_options {
    const char *model_path;     /* nnbatch model file */
    const char *data_path;      /* HDF5 file holding the input rows */
    const char *input_dataset;  /* rows x features dataset in data_path */
    const char *labels_dataset; /* class indices in data_path, or NULL */
    const char *output_path;    /* output file of the `file` command */
    int64_t rows;               /* rows the `ceiling` command multiplies */
    int threads;                /* 0 resolves as nnbatch resolves it */
    int64_t tile_rows;          /* 0 for nnbatch's automatic choice */
    int64_t block_rows;         /* rows per H5Dread of `read`, 0 for the engine's rule */
} nnb_bench_options;

/* Geometry of a run as nnbatch would resolve it for a model and dataset. */
typedef struct nnb_bench_plan {
    int threads;              /* worker threads */
    int64_t tile_rows;        /* rows per tile */
    int64_t input_width;      /* features per row */
    int64_t rows;             /* rows of the input dataset, 0 without data */
    int64_t chunk_rows;       /* rows per chunk of the input, 0 if contiguous */
    size_t chunk_cache_bytes; /* chunk cache nnbatch gives the input dataset */
    int64_t block_rows;       /* rows per block read (see nnb_bench_block_rows) */
} nnb_bench_plan;

/* Monotonic wall-clock time in seconds. */
double nnb_bench_now(void);

/* Load the model and resolve threads and tile rows exactly as
 * nnb_run_create() does for these options. Returns 0 on success and prints
 * the error otherwise. */
int nnb_bench_load_model(const nnb_bench_options *options, nnb_model **model, int *threads,
                         int64_t *tile_rows);

/* Rows per block read: about 4 MiB of float32 input, rounded up to a whole
 * number of tiles for every thread and then to whole chunks, capped at the
 * dataset's rows. This copies the rule of engine/engine.c
 * (choose_block_rows) when this program was written. */
int64_t nnb_bench_block_rows(int64_t input_width, int threads, int64_t tile_rows,
                             int64_t chunk_rows, int64_t rows);

/* Open `name` in `file` with the chunk cache nnbatch's reader gives it:
 * two rows of chunks, at least 1 MiB and at most 256 MiB. Stores the cache
 * size and the chunk rows (0 when not chunked) when the pointers are not
 * NULL. Returns a negative id on failure. */
hid_t nnb_bench_open_dataset(hid_t file, const char *name, size_t *cache_bytes,
                             int64_t *chunk_rows);

/* Read all rows of a (rows, width) dataset as float32 into a new buffer,
 * and the labels, when `labels_name` is not NULL, as int32. Returns 0 on
 * success, and the caller frees *features and *labels. */
int nnb_bench_load_arrays(const char *path, const char *features_name,
                          const char *labels_name, int64_t width, int64_t *rows,
                          float **features, int32_t **labels);

/* The commands. Each returns the process exit status. */
int nnb_bench_plan_command(const nnb_bench_options *options);
int nnb_bench_ceiling(const nnb_bench_options *options);
int nnb_bench_read(const nnb_bench_options *options);
int nnb_bench_file(const nnb_bench_options *options);
int nnb_bench_array(const nnb_bench_options *options);
int nnb_bench_info(void);
int nnb_bench_measure(int argc, char **argv);

#endif
