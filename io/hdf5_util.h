/* HDF5 helpers shared by the model reader, dataset reader and output writer. */
#ifndef NNB_HDF5_UTIL_H
#define NNB_HDF5_UTIL_H

#include "graph/graph.h"
#include "nnbatch.h"

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

/* HDF5 prints its error stack to stderr by default; the library must not
 * print, so every entry point brackets its HDF5 calls with these. The setting
 * is per thread in the thread-safe build. */
typedef struct nnb_io_hdf5_quiet {
    H5E_auto2_t function;
    void *data;
} nnb_io_hdf5_quiet;

void nnb_io_hdf5_quiet_begin(nnb_io_hdf5_quiet *saved);
void nnb_io_hdf5_quiet_end(const nnb_io_hdf5_quiet *saved);

/* Copy the most specific message of the current HDF5 error stack into
 * `buffer` ("" when the stack is empty). */
void nnb_io_hdf5_error_detail(char *buffer, size_t size);

/* Open an existing HDF5 file read-only, with one clear message when it is
 * missing, unreadable, not HDF5 or locked. `what` names the file's role in
 * messages ("model", "data"). Returns a negative id on failure. */
hid_t nnb_io_hdf5_open_read(const char *path, const char *what, nnb_error *error);

/* Check that every filter in the pipeline of `dataset` (compression,
 * checksum, shuffle) can decode here, loading plugins as needed, so a missing
 * plugin fails at open time with its filter id and name instead of at the
 * first read. `what` names the dataset in messages ("input dataset 'x'"). */
nnb_status nnb_io_hdf5_check_filters(hid_t dataset, const char *path, const char *what,
                                     nnb_error *error);

/* Name of an HDF5 type class for messages ("string", "compound", ...). */
const char *nnb_io_hdf5_class_name(H5T_class_t type_class);

/* Nonzero for the classes HDF5 can convert to float32: integers and floats. */
int nnb_io_hdf5_class_is_numeric(H5T_class_t type_class);

/* Values one parameter dataset may hold: 2^28, 1 GiB as float32. Unwritten
 * or compressed values take almost no room in a file, so a small model file
 * could otherwise make the loader allocate and fill many GiB. */
#define NNB_IO_MAX_PARAMETER_VALUES (INT64_C(1) << 28)

/* Outcome of nnb_io_hdf5_read_parameter(), for the caller's message. */
typedef enum nnb_io_parameter_result {
    NNB_IO_PARAMETER_OK = 0,
    NNB_IO_PARAMETER_NOT_NUMERIC, /* *type_class names the class found */
    NNB_IO_PARAMETER_TOO_LARGE,   /* more than NNB_IO_MAX_PARAMETER_VALUES values */
    NNB_IO_PARAMETER_READ_FAILED, /* HDF5 could not read its type, shape or data */
    NNB_IO_PARAMETER_NO_MEMORY
} nnb_io_parameter_result;

/* Read a parameter dataset into param->rank, param->dims and param->data,
 * converted to float32 by HDF5. A dataset of rank other than 1 or 2, or
 * with a zero dimension, gets its rank and first two dimensions but no data,
 * so the graph builder can reject it with the op's expected shape.
 * param->name is left to the caller. */
nnb_io_parameter_result nnb_io_hdf5_read_parameter(hid_t dataset, nnb_param_desc *param,
                                                   H5T_class_t *type_class);

/* Outcome of nnb_io_hdf5_read_strings(), for the caller's message. */
typedef enum nnb_io_string_result {
    NNB_IO_STRING_OK = 0,
    NNB_IO_STRING_BAD_TYPE,    /* HDF5 could not describe the string type */
    NNB_IO_STRING_TOO_LONG,    /* a string is longer than max_length bytes */
    NNB_IO_STRING_READ_FAILED, /* H5Aread failed */
    NNB_IO_STRING_NO_MEMORY
} nnb_io_string_result;

/* Read the `count` strings of an open string attribute (file type
 * `file_type`, dataspace `space`) into strings[0..count-1] as new
 * NUL-terminated copies. Fixed- and variable-length strings, ASCII or UTF-8,
 * are accepted, and fixed-length padding is dropped. On
 * NNB_IO_STRING_TOO_LONG, *entry is the offending entry (-1 when the
 * fixed-length size itself is too long) and *length its length. On failure
 * the caller frees the entries already copied (the others are NULL). */
nnb_io_string_result nnb_io_hdf5_read_strings(hid_t attribute, hid_t file_type, hid_t space,
                                              int count, size_t max_length, char **strings,
                                              int *entry, size_t *length);

#endif
