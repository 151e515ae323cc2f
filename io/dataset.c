#include "dataset.h"

#include "engine/status.h"
#include "hdf5_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Chunk cache limits per dataset: HDF5's default is 1 MiB, which cannot hold
 * one row of chunks of a wide, chunked dataset, so every block would re-read
 * and re-decompress chunks it only partly covers. */
#define CHUNK_CACHE_MIN_BYTES ((size_t)1 << 20)
#define CHUNK_CACHE_MAX_BYTES ((size_t)256 << 20)

/* Largest dataset read, in values: 256 PiB of float32. HDF5 1.10 computes
 * a dataset's size in bytes in 64 bits, and reading a dataset whose size
 * wraps around crashes inside the library. Only a damaged or crafted file
 * declares such a size, so it is rejected before any read. */
#define MAX_DATASET_VALUES 72057594037927936.0 /* 2^56 */

struct nnb_io_dataset_reader {
    char *path;
    char *features_name;
    char *labels_name;        /* NULL without labels */
    hid_t file;
    hid_t features;
    hid_t features_space;
    hid_t labels;
    hid_t labels_space;
    int labels_rank;
    int64_t label_columns;    /* 1 for class indices, `classes` for one-hot rows */
    int64_t rows;
    int64_t width;
    int64_t classes;
    double *label_values;     /* staging for one block of labels */
    int64_t label_capacity;   /* capacity of label_values, in rows */
    /* Rows per chunk when whole chunks can be copied straight from the file
     * into the caller's rows (see direct_chunk_rows()), else 0. */
    int64_t direct_chunk_rows;
};

static char *copy_string(const char *text)
{
    size_t length = strlen(text) + 1;
    char *copy = malloc(length);
    if (copy != NULL)
        memcpy(copy, text, length);
    return copy;
}

/* Dataset access properties whose chunk cache fits two rows of chunks (a row
 * of chunks is every chunk that covers one range of rows). A block that ends
 * inside a chunk row then finds that row cached when the next block starts.
 * The engine aligns blocks to the feature chunks but not to the labels'
 * chunks, so this matters for labels. Returns a negative id on failure, and
 * the caller then keeps HDF5's default cache. */
static hid_t chunk_cache_access(hid_t dataset)
{
    hid_t access = H5Dget_access_plist(dataset);
    hid_t create = H5Dget_create_plist(dataset);
    hid_t type = H5Dget_type(dataset);
    hid_t space = H5Dget_space(dataset);
    hid_t result = H5I_INVALID_HID;
    if (access < 0 || create < 0 || type < 0 || space < 0)
        goto done;

    int rank = H5Sget_simple_extent_ndims(space);
    if (H5Pget_layout(create) == H5D_CHUNKED && rank >= 1 && rank <= H5S_MAX_RANK) {
        hsize_t chunk[H5S_MAX_RANK], dims[H5S_MAX_RANK];
        if (H5Pget_chunk(create, rank, chunk) != rank
            || H5Sget_simple_extent_dims(space, dims, NULL) < 0)
            goto done;

        /* In double, so that no product of dimensions can overflow. */
        double chunk_bytes = (double)H5Tget_size(type);
        double chunks_across = 1.0;
        for (int d = 0; d < rank; d++) {
            chunk_bytes *= (double)chunk[d];
            if (d > 0)
                chunks_across *= (double)((dims[d] + chunk[d] - 1) / chunk[d]);
        }
        double bytes = 2.0 * chunks_across * chunk_bytes;
        if (bytes < (double)CHUNK_CACHE_MIN_BYTES)
            bytes = (double)CHUNK_CACHE_MIN_BYTES;
        if (bytes > (double)CHUNK_CACHE_MAX_BYTES)
            bytes = (double)CHUNK_CACHE_MAX_BYTES;

        /* HDF5 advises about 100 hash slots per cached chunk; a prime
         * count spreads the chunk indices. */
        if (H5Pset_chunk_cache(access, 100003, (size_t)bytes, 1.0) < 0)
            goto done;
    }
    result = access;
    access = H5I_INVALID_HID;

done:
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    if (create >= 0)
        H5Pclose(create);
    if (access >= 0)
        H5Pclose(access);
    return result;
}

/* Open dataset `name` and check that it holds numbers; `role` names it in
 * messages ("input", "labels"). */
static nnb_status open_numeric(const nnb_io_dataset_reader *reader, const char *name,
                               const char *role, hid_t *dataset, hid_t *space,
                               nnb_error *error)
{
    *dataset = H5I_INVALID_HID;
    *space = H5I_INVALID_HID;

    /* H5Lexists also fails when a group on the path is missing, so any
     * failure there reads as "not found". A link whose object cannot be
     * read points at a damaged object header. */
    htri_t exists = H5Lexists(reader->file, name, H5P_DEFAULT);
    htri_t object = exists > 0 ? H5Oexists_by_name(reader->file, name, H5P_DEFAULT) : 0;
    H5O_info_t info;
    herr_t got_info = object > 0 ? H5Oget_info_by_name(reader->file, name, &info, H5P_DEFAULT)
                                 : -1;
    if (exists <= 0 || object == 0) {
        return nnb_error_set(error, NNB_ERR_FORMAT,
                             "%s: %s dataset '%s' not found; list the file's datasets "
                             "with h5ls -r",
                             reader->path, role, name);
    }
    if (object < 0 || got_info < 0) {
        char detail[256];
        nnb_io_hdf5_error_detail(detail, sizeof detail);
        return nnb_error_set(error, NNB_ERR_IO,
                             "%s: cannot read the object header of %s dataset '%s': %s; the "
                             "file may be corrupted",
                             reader->path, role, name, detail);
    }
    if (info.type != H5O_TYPE_DATASET) {
        return nnb_error_set(error, NNB_ERR_FORMAT, "%s: '%s' is not a dataset (a group?)",
                             reader->path, name);
    }

    hid_t dataset_id = H5Dopen2(reader->file, name, H5P_DEFAULT);
    if (dataset_id < 0) {
        char detail[256];
        nnb_io_hdf5_error_detail(detail, sizeof detail);
        return nnb_error_set(error, NNB_ERR_IO, "%s: cannot open %s dataset '%s': %s",
                             reader->path, role, name, detail);
    }

    hid_t type = H5Dget_type(dataset_id);
    H5T_class_t type_class = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
    if (type >= 0)
        H5Tclose(type);
    if (!nnb_io_hdf5_class_is_numeric(type_class)) {
        H5Dclose(dataset_id);
        return nnb_error_set(error, NNB_ERR_FORMAT,
                             "%s: %s dataset '%s' holds %s values, not numbers",
                             reader->path, role, name, nnb_io_hdf5_class_name(type_class));
    }

    char what[300];
    snprintf(what, sizeof what, "%s dataset '%s'", role, name);
    nnb_status status = nnb_io_hdf5_check_filters(dataset_id, reader->path, what, error);
    if (status != NNB_OK) {
        H5Dclose(dataset_id);
        return status;
    }

    /* Reopen with a chunk cache sized for block reads. */
    hid_t access = chunk_cache_access(dataset_id);
    if (access >= 0) {
        H5Dclose(dataset_id);
        dataset_id = H5Dopen2(reader->file, name, access);
        H5Pclose(access);
        if (dataset_id < 0) {
            return nnb_error_set(error, NNB_ERR_IO, "%s: cannot reopen %s dataset '%s'",
                                 reader->path, role, name);
        }
    }

    *dataset = dataset_id;
    *space = H5Dget_space(dataset_id);
    if (*space < 0) {
        return nnb_error_set(error, NNB_ERR_IO, "%s: cannot read the shape of dataset '%s'",
                             reader->path, name);
    }
    return NNB_OK;
}

/* Write `dims` as "(4, 28, 28)" into `buffer`. */
static void format_shape(char *buffer, size_t size, int rank, const hsize_t *dims)
{
    size_t used = (size_t)snprintf(buffer, size, "(");
    for (int d = 0; d < rank && used < size; d++) {
        used += (size_t)snprintf(buffer + used, size - used, "%s%llu", d > 0 ? ", " : "",
                                 (unsigned long long)dims[d]);
    }
    if (used < size)
        snprintf(buffer + used, size - used, ")");
}

static nnb_status check_features(nnb_io_dataset_reader *reader, nnb_error *error)
{
    int rank = H5Sget_simple_extent_ndims(reader->features_space);
    hsize_t dims[H5S_MAX_RANK];
    if (rank < 0 || H5Sget_simple_extent_dims(reader->features_space, dims, NULL) < 0) {
        return nnb_error_set(error, NNB_ERR_IO, "%s: cannot read the shape of dataset '%s'",
                             reader->path, reader->features_name);
    }

    if (rank == 0) {
        return nnb_error_set(error, NNB_ERR_SHAPE,
                             "%s: input dataset '%s' is a scalar (rank 0); nnbatch reads a "
                             "rank-2 (rows, features) dataset",
                             reader->path, reader->features_name);
    }
    if (rank == 1) {
        return nnb_error_set(error, NNB_ERR_SHAPE,
                             "%s: input dataset '%s' has rank 1, shape (%llu); nnbatch reads "
                             "(rows, features): for one feature per row, reshape it to "
                             "(%llu, 1)",
                             reader->path, reader->features_name,
                             (unsigned long long)dims[0], (unsigned long long)dims[0]);
    }
    if (rank > 2) {
        char shape[200];
        format_shape(shape, sizeof shape, rank, dims);
        unsigned long long per_row = 1;
        for (int d = 1; d < rank; d++)
            per_row *= dims[d];
        return nnb_error_set(error, NNB_ERR_SHAPE,
                             "%s: input dataset '%s' has rank %d, shape %s; nnbatch reads "
                             "(rows, features): reshape it to (%llu, %llu), which keeps each "
                             "row's values in C order (numpy: x.reshape(len(x), -1))",
                             reader->path, reader->features_name, rank, shape,
                             (unsigned long long)dims[0], per_row);
    }

    reader->rows = (int64_t)dims[0];
    if (dims[0] == 0 || dims[1] == 0) {
        return nnb_error_set(error, NNB_ERR_SHAPE,
                             "%s: input dataset '%s' is empty (shape %llu x %llu); nnbatch "
                             "needs at least one row and one feature",
                             reader->path, reader->features_name,
                             (unsigned long long)dims[0], (unsigned long long)dims[1]);
    }
    if ((double)dims[0] * (double)dims[1] > MAX_DATASET_VALUES) {
        return nnb_error_set(error, NNB_ERR_FORMAT,
                             "%s: input dataset '%s' declares %llu x %llu values, more than "
                             "the 2^56 nnbatch reads; the file is damaged",
                             reader->path, reader->features_name,
                             (unsigned long long)dims[0], (unsigned long long)dims[1]);
    }
    if ((int64_t)dims[1] != reader->width) {
        return nnb_error_set(error, NNB_ERR_SHAPE,
                             "%s: input dataset '%s' has %llu features per row but the "
                             "model expects %lld",
                             reader->path, reader->features_name,
                             (unsigned long long)dims[1], (long long)reader->width);
    }
    return NNB_OK;
}

/* Accept labels as class indices, (rows) or (rows, 1), or as one-hot rows,
 * (rows, classes). A model with one class reads (rows, 1) as indices. */
static nnb_status check_labels(nnb_io_dataset_reader *reader, nnb_error *error)
{
    int rank = H5Sget_simple_extent_ndims(reader->labels_space);
    hsize_t dims[H5S_MAX_RANK];
    if (rank < 0 || H5Sget_simple_extent_dims(reader->labels_space, dims, NULL) < 0) {
        return nnb_error_set(error, NNB_ERR_IO, "%s: cannot read the shape of dataset '%s'",
                             reader->path, reader->labels_name);
    }

    int indices = rank == 1 || (rank == 2 && dims[1] == 1);
    int one_hot = rank == 2 && reader->classes > 1 && dims[1] == (hsize_t)reader->classes;
    if (!indices && !one_hot) {
        char shape[200];
        format_shape(shape, sizeof shape, rank, dims);
        return nnb_error_set(error, NNB_ERR_SHAPE,
                             "%s: labels dataset '%s' has shape %s; nnbatch reads class "
                             "indices as (rows) or (rows, 1), or one-hot rows as (rows, %lld) "
                             "for the model's %lld classes",
                             reader->path, reader->labels_name, shape,
                             (long long)reader->classes, (long long)reader->classes);
    }
    if ((int64_t)dims[0] != reader->rows) {
        return nnb_error_set(error, NNB_ERR_SHAPE,
                             "%s: labels dataset '%s' has %llu rows but input dataset "
                             "'%s' has %lld",
                             reader->path, reader->labels_name, (unsigned long long)dims[0],
                             reader->features_name, (long long)reader->rows);
    }
    if ((double)dims[0] * (rank == 2 ? (double)dims[1] : 1.0) > MAX_DATASET_VALUES) {
        return nnb_error_set(error, NNB_ERR_FORMAT,
                             "%s: labels dataset '%s' declares more than the 2^56 values "
                             "nnbatch reads; the file is damaged",
                             reader->path, reader->labels_name);
    }
    reader->labels_rank = rank;
    reader->label_columns = one_hot ? reader->classes : 1;
    return NNB_OK;
}

/* Rows per chunk when the features' chunks can be read as raw bytes into
 * the block buffer: chunks span whole rows, no filter is applied and the
 * stored type is the machine's float. HDF5 then skips its chunk cache and
 * type conversion, which copy every value once more. Returns 0 otherwise. */
static int64_t direct_chunk_rows(const nnb_io_dataset_reader *reader)
{
    int64_t rows = 0;
    hid_t create = H5Dget_create_plist(reader->features);
    hid_t type = H5Dget_type(reader->features);
    if (create >= 0 && type >= 0 && H5Pget_layout(create) == H5D_CHUNKED
        && H5Pget_nfilters(create) == 0 && H5Tequal(type, H5T_NATIVE_FLOAT) > 0) {
        hsize_t chunk[2] = {0, 0};
        if (H5Pget_chunk(create, 2, chunk) == 2 && (int64_t)chunk[1] == reader->width)
            rows = (int64_t)chunk[0];
    }
    if (type >= 0)
        H5Tclose(type);
    if (create >= 0)
        H5Pclose(create);
    return rows;
}

nnb_status nnb_io_dataset_open(const char *path, const char *features, const char *labels,
                               int64_t width, int64_t classes,
                               nnb_io_dataset_reader **reader_out, nnb_error *error)
{
    *reader_out = NULL;
    nnb_io_hdf5_quiet quiet;
    nnb_io_hdf5_quiet_begin(&quiet);
    nnb_status status = NNB_OK;

    nnb_io_dataset_reader *reader = calloc(1, sizeof *reader);
    if (reader == NULL) {
        status = nnb_error_set(error, NNB_ERR_NO_MEMORY, "out of memory opening %s", path);
        goto done;
    }
    reader->file = reader->features = reader->features_space = H5I_INVALID_HID;
    reader->labels = reader->labels_space = H5I_INVALID_HID;
    reader->width = width;
    reader->classes = classes;
    reader->path = copy_string(path);
    reader->features_name = copy_string(features);
    reader->labels_name = labels != NULL ? copy_string(labels) : NULL;
    if (reader->path == NULL || reader->features_name == NULL
        || (labels != NULL && reader->labels_name == NULL)) {
        status = nnb_error_set(error, NNB_ERR_NO_MEMORY, "out of memory opening %s", path);
        goto done;
    }

    reader->file = nnb_io_hdf5_open_read(path, "data", error);
    if (reader->file < 0) {
        status = error != NULL ? error->status : NNB_ERR_IO;
        goto done;
    }

    status = open_numeric(reader, features, "input", &reader->features,
                          &reader->features_space, error);
    if (status == NNB_OK)
        status = check_features(reader, error);
    if (status == NNB_OK)
        reader->direct_chunk_rows = direct_chunk_rows(reader);
    if (status == NNB_OK && labels != NULL) {
        status = open_numeric(reader, labels, "labels", &reader->labels,
                              &reader->labels_space, error);
        if (status == NNB_OK)
            status = check_labels(reader, error);
    }

done:
    if (status != NNB_OK) {
        nnb_io_dataset_close(reader);
        reader = NULL;
    }
    nnb_io_hdf5_quiet_end(&quiet);
    *reader_out = reader;
    return status;
}

void nnb_io_dataset_close(nnb_io_dataset_reader *reader)
{
    if (reader == NULL)
        return;
    nnb_io_hdf5_quiet quiet;
    nnb_io_hdf5_quiet_begin(&quiet);
    if (reader->labels_space >= 0)
        H5Sclose(reader->labels_space);
    if (reader->labels >= 0)
        H5Dclose(reader->labels);
    if (reader->features_space >= 0)
        H5Sclose(reader->features_space);
    if (reader->features >= 0)
        H5Dclose(reader->features);
    if (reader->file >= 0)
        H5Fclose(reader->file);
    nnb_io_hdf5_quiet_end(&quiet);
    free(reader->label_values);
    free(reader->labels_name);
    free(reader->features_name);
    free(reader->path);
    free(reader);
}

int64_t nnb_io_dataset_rows(const nnb_io_dataset_reader *reader)
{
    return reader->rows;
}

/* Read `count` rows starting at `first` of a dataset whose second dimension
 * (if any) is `columns`, into memory with row stride `ld` of type `memory`.
 * On failure, copies HDF5's message into `detail` before closing anything,
 * because every HDF5 call, H5Sclose included, clears the error stack. */
static herr_t read_rows(hid_t dataset, hid_t file_space, int rank, int64_t first,
                        int64_t count, int64_t columns, int64_t ld, hid_t memory, void *buffer,
                        char *detail, size_t detail_size)
{
    hsize_t start[2] = {(hsize_t)first, 0};
    hsize_t size[2] = {(hsize_t)count, (hsize_t)columns};
    hsize_t memory_dims[2] = {(hsize_t)count, (hsize_t)ld};
    hid_t memory_space = H5I_INVALID_HID;
    herr_t result = H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, NULL, size, NULL);
    if (result >= 0) {
        memory_space = H5Screate_simple(rank, memory_dims, NULL);
        result = memory_space >= 0 ? 0 : -1;
    }
    if (result >= 0 && rank == 2 && ld != columns) {
        hsize_t origin[2] = {0, 0};
        result = H5Sselect_hyperslab(memory_space, H5S_SELECT_SET, origin, NULL, size, NULL);
    }
    if (result >= 0)
        result = H5Dread(dataset, memory, memory_space, file_space, H5P_DEFAULT, buffer);

    if (result < 0)
        nnb_io_hdf5_error_detail(detail, detail_size);
    if (memory_space >= 0)
        H5Sclose(memory_space);
    return result;
}

/* Convert one block of label values to class indices, rejecting values that
 * are not whole numbers inside the class range. */
static nnb_status convert_indices(const nnb_io_dataset_reader *reader, int64_t first,
                                  int64_t count, int32_t *labels, nnb_error *error)
{
    for (int64_t i = 0; i < count; i++) {
        double value = reader->label_values[i];
        if (value == value && isfinite(value) && value != floor(value)) {
            return nnb_error_set(error, NNB_ERR_LABEL,
                                 "%s: labels dataset '%s' row %lld: label %.17g is not a whole "
                                 "number; labels are class indices 0 to %lld",
                                 reader->path, reader->labels_name, (long long)(first + i),
                                 value, (long long)reader->classes - 1);
        }
        if (!(value >= 0.0 && value < (double)reader->classes)) {
            /* %.17g shows integers up to 2^53 exactly, unlike %g. */
            return nnb_error_set(error, NNB_ERR_LABEL,
                                 "%s: labels dataset '%s' row %lld: label %.17g is outside the "
                                 "class range 0 to %lld of the model",
                                 reader->path, reader->labels_name, (long long)(first + i),
                                 value, (long long)reader->classes - 1);
        }
        labels[i] = (int32_t)value;
    }
    return NNB_OK;
}

/* Convert one block of one-hot rows to class indices. A row must contain
 * exactly one 1 and zeros elsewhere. Soft labels (0.9, 0.05, ...) are
 * rejected rather than rounded, because their cross-entropy differs. */
static nnb_status convert_one_hot(const nnb_io_dataset_reader *reader, int64_t first,
                                  int64_t count, int32_t *labels, nnb_error *error)
{
    int64_t classes = reader->label_columns;
    for (int64_t i = 0; i < count; i++) {
        const double *row = reader->label_values + i * classes;
        int64_t hot = -1;
        for (int64_t c = 0; c < classes; c++) {
            if (row[c] == 0.0)
                continue;
            if (row[c] != 1.0) {
                return nnb_error_set(error, NNB_ERR_LABEL,
                                     "%s: labels dataset '%s' row %lld is not one-hot: column "
                                     "%lld holds %g, but a one-hot row holds one 1 and zeros "
                                     "elsewhere",
                                     reader->path, reader->labels_name, (long long)(first + i),
                                     (long long)c, row[c]);
            }
            if (hot >= 0) {
                return nnb_error_set(error, NNB_ERR_LABEL,
                                     "%s: labels dataset '%s' row %lld is not one-hot: columns "
                                     "%lld and %lld both hold 1",
                                     reader->path, reader->labels_name, (long long)(first + i),
                                     (long long)hot, (long long)c);
            }
            hot = c;
        }
        if (hot < 0) {
            return nnb_error_set(error, NNB_ERR_LABEL,
                                 "%s: labels dataset '%s' row %lld is not one-hot: every "
                                 "column holds 0",
                                 reader->path, reader->labels_name, (long long)(first + i));
        }
        labels[i] = (int32_t)hot;
    }
    return NNB_OK;
}

/* Read `count` rows of labels starting at `first` into the staging buffer,
 * growing it as needed, and convert them to class indices. */
static nnb_status read_labels(nnb_io_dataset_reader *reader, int64_t first, int64_t count,
                              int32_t *labels, nnb_error *error)
{
    if (count > reader->label_capacity) {
        size_t values = (size_t)count * (size_t)reader->label_columns;
        double *grown = realloc(reader->label_values, values * sizeof *grown);
        if (grown == NULL) {
            return nnb_error_set(error, NNB_ERR_NO_MEMORY,
                                 "out of memory reading %lld rows of labels", (long long)count);
        }
        reader->label_values = grown;
        reader->label_capacity = count;
    }

    char detail[256];
    if (read_rows(reader->labels, reader->labels_space, reader->labels_rank, first, count,
                  reader->label_columns, reader->label_columns, H5T_NATIVE_DOUBLE,
                  reader->label_values, detail, sizeof detail) < 0) {
        return nnb_error_set(error, NNB_ERR_IO,
                             "%s: reading labels %lld to %lld of '%s' failed: %s; the file "
                             "may be truncated or corrupted",
                             reader->path, (long long)first, (long long)(first + count - 1),
                             reader->labels_name, detail);
    }

    if (reader->label_columns > 1)
        return convert_one_hot(reader, first, count, labels, error);
    return convert_indices(reader, first, count, labels, error);
}

/* Copy the whole chunks that start at row `first` and lie inside both the
 * range and the dataset straight from the file into `features`, and set
 * *copied to the rows copied. Copying stops at the first chunk that was
 * never written or that HDF5 cannot read this way, and read_rows() reads
 * the rest (fill values, or the error). A chunk whose recorded size differs
 * from the size of its values is rejected: without filters the two must
 * agree, and HDF5 would fill the difference with uninitialized memory. */
static nnb_status read_whole_chunks(const nnb_io_dataset_reader *reader, int64_t first,
                                    int64_t count, float *features, int64_t ld,
                                    int64_t *copied, nnb_error *error)
{
    *copied = 0;
    int64_t chunk = reader->direct_chunk_rows;
    if (chunk <= 0 || ld != reader->width || first % chunk != 0)
        return NNB_OK;

    hsize_t chunk_bytes = (hsize_t)chunk * (hsize_t)reader->width * sizeof(float);
    int64_t done = 0;
    while (count - done >= chunk && first + done + chunk <= reader->rows) {
        hsize_t offset[2] = {(hsize_t)(first + done), 0};
        /* The size the chunk index records, which is what H5Dread_chunk
         * reads; H5Dget_chunk_storage_size reports the nominal size for
         * unfiltered chunks in HDF5 1.10. */
        hsize_t stored = 0;
        haddr_t address = HADDR_UNDEF;
        unsigned mask = 0;
        uint32_t filters = 0;
        if (H5Dget_chunk_info_by_coord(reader->features, offset, &mask, &address, &stored) < 0
            || address == HADDR_UNDEF || stored == 0)
            break;
        if (stored != chunk_bytes) {
            return nnb_error_set(error, NNB_ERR_IO,
                                 "%s: the chunk at row %lld of '%s' stores %llu bytes, but its "
                                 "%lld x %lld float32 values take %llu; the file is damaged",
                                 reader->path, (long long)(first + done), reader->features_name,
                                 (unsigned long long)stored, (long long)chunk,
                                 (long long)reader->width, (unsigned long long)chunk_bytes);
        }
        if (H5Dread_chunk(reader->features, H5P_DEFAULT, offset, &filters, features + done * ld)
                < 0
            || filters != 0)
            break;
        done += chunk;
    }
    *copied = done;
    return NNB_OK;
}

nnb_status nnb_io_dataset_read(nnb_io_dataset_reader *reader, int64_t first, int64_t count,
                               float *features, int64_t ld, int32_t *labels, nnb_error *error)
{
    if (first < 0 || count < 1 || first > reader->rows || count > reader->rows - first) {
        return nnb_error_set(error, NNB_ERR_INVALID_ARGUMENT,
                             "%s: cannot read %lld rows from row %lld of '%s', which has %lld "
                             "rows",
                             reader->path, (long long)count, (long long)first,
                             reader->features_name, (long long)reader->rows);
    }

    nnb_io_hdf5_quiet quiet;
    nnb_io_hdf5_quiet_begin(&quiet);
    nnb_status status = NNB_OK;

    /* Whole chunks at the start of the range go straight into `features`;
     * read_rows() takes the rest. */
    int64_t direct = 0;
    status = read_whole_chunks(reader, first, count, features, ld, &direct, error);
    first += direct;
    count -= direct;
    features += direct * ld;

    char detail[256];
    if (status == NNB_OK && count > 0
        && read_rows(reader->features, reader->features_space, 2, first, count, reader->width,
                     ld, H5T_NATIVE_FLOAT, features, detail, sizeof detail) < 0) {
        status = nnb_error_set(error, NNB_ERR_IO,
                               "%s: reading rows %lld to %lld of '%s' failed: %s; the file may "
                               "be truncated or corrupted",
                               reader->path, (long long)first, (long long)(first + count - 1),
                               reader->features_name, detail);
    }
    if (status == NNB_OK && reader->labels >= 0 && labels != NULL)
        status = read_labels(reader, first - direct, count + direct, labels, error);

    nnb_io_hdf5_quiet_end(&quiet);
    return status;
}

static nnb_status source_read(void *state, int64_t first, int64_t count, float *features,
                              int64_t ld, int32_t *labels, nnb_error *error)
{
    return nnb_io_dataset_read(state, first, count, features, ld, labels, error);
}

/* Rows per chunk of the features dataset, or 0 when it is not chunked. */
static int64_t chunk_rows(const nnb_io_dataset_reader *reader)
{
    nnb_io_hdf5_quiet quiet;
    nnb_io_hdf5_quiet_begin(&quiet);
    int64_t rows = 0;
    hid_t create = H5Dget_create_plist(reader->features);
    if (create >= 0 && H5Pget_layout(create) == H5D_CHUNKED) {
        hsize_t chunk[2] = {0, 0};
        if (H5Pget_chunk(create, 2, chunk) == 2)
            rows = (int64_t)chunk[0];
    }
    if (create >= 0)
        H5Pclose(create);
    nnb_io_hdf5_quiet_end(&quiet);
    return rows;
}

nnb_row_source nnb_io_dataset_source(nnb_io_dataset_reader *reader)
{
    nnb_row_source source = {
        .rows = reader->rows,
        .has_labels = reader->labels >= 0,
        .block_alignment = chunk_rows(reader),
        .read = source_read,
        .state = reader,
    };
    return source;
}
