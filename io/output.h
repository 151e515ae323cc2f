/*
 * Output files: one chunked (rows x width) float32 dataset per graph output.
 * The file is written under a temporary name beside the final path and
 * renamed into place only by nnb_io_output_commit(), so a failed or
 * cancelled run never leaves a partial file at the output path.
 */
#ifndef NNB_OUTPUT_H
#define NNB_OUTPUT_H

#include "engine/engine.h"
#include "nnbatch.h"

#include <stdint.h>

typedef struct nnb_io_output nnb_io_output;

/* Fail when `path` and `other_path` name the same file, directly or through
 * a symbolic or hard link. `role` names the other file in the message
 * ("input", "model"). Passes when either path does not exist yet or
 * other_path is NULL. */
nnb_status nnb_io_output_check_distinct(const char *path, const char *other_path,
                                        const char *role, nnb_error *error);

/* Check that `path` can be written (it is not a directory nor the file
 * `input_path`), create the temporary file and one dataset per output, and
 * reserve the disk space the file will need, so a full disk fails here. */
nnb_status nnb_io_output_create(const char *path, const char *input_path, int64_t rows,
                                int count, const char *const *names, const int64_t *widths,
                                nnb_io_output **output, nnb_error *error);

/* Store rows [first, first + count) of dataset `slot` from `data` (row
 * stride ld floats). Rows may come in any order, but rows written in order
 * are collected and stored a whole chunk at a time, so some reach the file
 * only at a later write or at commit. */
nnb_status nnb_io_output_write(nnb_io_output *output, int slot, int64_t first, int64_t count,
                               const float *data, int64_t ld, nnb_error *error);

/* Root attributes recording how the file was made. */
nnb_status nnb_io_output_set_string(nnb_io_output *output, const char *name,
                                    const char *value, nnb_error *error);
nnb_status nnb_io_output_set_double(nnb_io_output *output, const char *name, double value,
                                    nnb_error *error);
nnb_status nnb_io_output_set_int(nnb_io_output *output, const char *name, int64_t value,
                                 nnb_error *error);

/* Close the file, flush it to disk and rename it to the output path. The
 * writer is freed whether or not this succeeds. */
nnb_status nnb_io_output_commit(nnb_io_output *output, nnb_error *error);

/* Close and delete the temporary file and free the writer; NULL is ignored. */
void nnb_io_output_abort(nnb_io_output *output);

/* A row sink writing to `output`; `outputs` maps slots to model outputs. */
nnb_row_sink nnb_io_output_sink(nnb_io_output *output, int count, const int *outputs);

#endif
