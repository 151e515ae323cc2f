/* Reading rows (and labels) of an HDF5 dataset a block at a time. */
#ifndef NNB_DATASET_H
#define NNB_DATASET_H

#include "engine/engine.h"
#include "nnbatch.h"

#include <stdint.h>

typedef struct nnb_io_dataset_reader nnb_io_dataset_reader;

/* Open `features` (rows x width) and optionally `labels` in the HDF5 file at
 * `path`, read-only. Both may have any numeric type. Labels are class
 * indices as (rows) or (rows, 1), or one-hot rows as (rows, classes).
 * Checks them against the model: the feature width must equal `width`,
 * labels must have one entry per row, and every filter of both datasets
 * must be available. `classes` bounds the label values, which are checked
 * as each block is read. */
nnb_status nnb_io_dataset_open(const char *path, const char *features, const char *labels,
                            int64_t width, int64_t classes, nnb_io_dataset_reader **reader,
                            nnb_error *error);

/* Close every handle; NULL is ignored. */
void nnb_io_dataset_close(nnb_io_dataset_reader *reader);

int64_t nnb_io_dataset_rows(const nnb_io_dataset_reader *reader);

/* Read rows [first, first + count) as float32 into `features` (row stride
 * ld floats) and, when labels were opened, class indices into `labels`.
 * Fails with NNB_ERR_LABEL on the first label outside the class range or
 * one-hot row that is not one 1 and zeros. */
nnb_status nnb_io_dataset_read(nnb_io_dataset_reader *reader, int64_t first, int64_t count,
                            float *features, int64_t ld, int32_t *labels, nnb_error *error);

/* A row source reading from `reader`. */
nnb_row_source nnb_io_dataset_source(nnb_io_dataset_reader *reader);

#endif
