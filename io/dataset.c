#include "dataset.h"

#include "engine/status.h"
#include "hdf5_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Chunk cache limits per dataset: HDF5's default is 1 MiB, which cannot hold
 * one row of chunks of a wide, chunked dataset, so every block would re-read
 * and re-decompress chunks it only partly covers. */
#define CHUNK_CACHE_MIN_BYTES ((size_t)1 << 20)
#define CHUNK_CACHE_MAX_BYTES ((size_t)256 << 20)

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
    int64_t rows;
    int64_t width;
    int64_t classes;
    double *label_values;     /* staging for one block of labels */
    int64_t label_capacity;
};

static char *copy_string(const char *text)
{
    size_t length = strlen(text) + 1;
    char *copy = malloc(length);
    if (copy != NULL)
        memcpy(copy, text, length);
    return copy;
}

/* Dataset access properties with a chunk cache that holds every chunk one
 * row of chunks spans, twice over, so a block that ends inside a chunk row
 * finds it cached when the next block starts. */
static hid_t chunk_cache_access(hid_t dataset)
{
    hid_t access = H5Dget_access_plist(dataset);
    hid_t create = H5Dget_create_plist(dataset);
    hid_t type = H5Dget_type(dataset);
    hid_t space = H5Dget_space(dataset);
    hid_t result = H5I_INVALID_HID;
    if (access < 0 || create < 0 || type < 0 || space < 0)
        goto done;

    if (H5Pget_layout(create) == H5D_CHUNKED && H5Sget_simple_extent_ndims(space) == 2) {
        hsize_t chunk[2], dims[2];
        H5Pget_chunk(create, 2, chunk);
        H5Sget_simple_extent_dims(space, dims, NULL);
        size_t chunk_bytes = (size_t)(chunk[0] * chunk[1]) * H5Tget_size(type);
        size_t chunks_across = (size_t)((dims[1] + chunk[1] - 1) / chunk[1]);
        size_t bytes = 2 * chunks_across * chunk_bytes;
        if (bytes < CHUNK_CACHE_MIN_BYTES)
            bytes = CHUNK_CACHE_MIN_BYTES;
        if (bytes > CHUNK_CACHE_MAX_BYTES)
            bytes = CHUNK_CACHE_MAX_BYTES;
        /* HDF5 advises about 100 hash slots per cached chunk; a prime
         * count spreads the chunk indices. */
        H5Pset_chunk_cache(access, 100003, bytes, 1.0);
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

    htri_t exists = H5Lexists(reader->file, name, H5P_DEFAULT);
    if (exists <= 0 || H5Oexists_by_name(reader->file, name, H5P_DEFAULT) <= 0) {
        return nnb_error_set(error, NNB_ERR_FORMAT,
                             "%s: %s dataset '%s' not found; list the file's datasets "
                             "with h5ls -r",
                             reader->path, role, name);
    }

    H5O_info_t info;
    if (H5Oget_info_by_name(reader->file, name, &info, H5P_DEFAULT) < 0
        || info.type != H5O_TYPE_DATASET) {
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

static nnb_status check_features(nnb_io_dataset_reader *reader, nnb_error *error)
{
    int rank = H5Sget_simple_extent_ndims(reader->features_space);
    hsize_t dims[H5S_MAX_RANK];
    if (rank < 0 || H5Sget_simple_extent_dims(reader->features_space, dims, NULL) < 0) {
        return nnb_error_set(error, NNB_ERR_IO, "%s: cannot read the shape of dataset '%s'",
                             reader->path, reader->features_name);
    }

    if (rank != 2) {
        if (rank > 2) {
            unsigned long long per_row = 1;
            for (int d = 1; d < rank; d++)
                per_row *= dims[d];
            return nnb_error_set(error, NNB_ERR_SHAPE,
                                 "%s: input dataset '%s' has rank %d; nnbatch reads "
                                 "(rows, features): reshape it to (%llu, %llu)",
                                 reader->path, reader->features_name, rank,
                                 (unsigned long long)dims[0], per_row);
        }
        return nnb_error_set(error, NNB_ERR_SHAPE,
                             "%s: input dataset '%s' has rank %d; nnbatch reads "
                             "(rows, features), a rank-2 dataset",
                             reader->path, reader->features_name, rank);
    }

    reader->rows = (int64_t)dims[0];
    if (dims[0] == 0 || dims[1] == 0) {
        return nnb_error_set(error, NNB_ERR_SHAPE,
                             "%s: input dataset '%s' is empty (shape %llu x %llu)",
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

static nnb_status check_labels(nnb_io_dataset_reader *reader, nnb_error *error)
{
    int rank = H5Sget_simple_extent_ndims(reader->labels_space);
    hsize_t dims[H5S_MAX_RANK];
    if (rank < 0 || H5Sget_simple_extent_dims(reader->labels_space, dims, NULL) < 0) {
        return nnb_error_set(error, NNB_ERR_IO, "%s: cannot read the shape of dataset '%s'",
                             reader->path, reader->labels_name);
    }
    if (rank != 1 && !(rank == 2 && dims[1] == 1)) {
        return nnb_error_set(error, NNB_ERR_SHAPE,
                             "%s: labels dataset '%s' must have shape (rows) or (rows, 1) "
                             "of class indices",
                             reader->path, reader->labels_name);
    }
    if ((int64_t)dims[0] != reader->rows) {
        return nnb_error_set(error, NNB_ERR_SHAPE,
                             "%s: labels dataset '%s' has %llu rows but input dataset "
                             "'%s' has %lld",
                             reader->path, reader->labels_name, (unsigned long long)dims[0],
                             reader->features_name, (long long)reader->rows);
    }
    reader->labels_rank = rank;
    return NNB_OK;
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
 * (if any) is `columns`, into memory with row stride `ld` of type `memory`. */
static herr_t read_rows(hid_t dataset, hid_t file_space, int rank, int64_t first,
                        int64_t count, int64_t columns, int64_t ld, hid_t memory, void *buffer)
{
    hsize_t start[2] = {(hsize_t)first, 0};
    hsize_t size[2] = {(hsize_t)count, (hsize_t)columns};
    if (H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, NULL, size, NULL) < 0)
        return -1;

    hsize_t memory_dims[2] = {(hsize_t)count, (hsize_t)ld};
    hid_t memory_space = H5Screate_simple(rank, memory_dims, NULL);
    if (memory_space < 0)
        return -1;
    herr_t result = 0;
    if (rank == 2 && ld != columns) {
        hsize_t origin[2] = {0, 0};
        result = H5Sselect_hyperslab(memory_space, H5S_SELECT_SET, origin, NULL, size, NULL);
    }
    if (result >= 0)
        result = H5Dread(dataset, memory, memory_space, file_space, H5P_DEFAULT, buffer);
    H5Sclose(memory_space);
    return result;
}

/* Convert one block of label values to class indices, rejecting values that
 * are not whole numbers inside the class range. */
static nnb_status convert_labels(nnb_io_dataset_reader *reader, int64_t first, int64_t count,
                                 int32_t *labels, nnb_error *error)
{
    for (int64_t i = 0; i < count; i++) {
        double value = reader->label_values[i];
        if (!(value >= 0.0 && value < (double)reader->classes) || value != floor(value)) {
            return nnb_error_set(error, NNB_ERR_LABEL,
                                 "%s: labels dataset '%s' row %lld: label %g is outside the "
                                 "class range 0 to %lld of the model",
                                 reader->path, reader->labels_name, (long long)(first + i),
                                 value, (long long)reader->classes - 1);
        }
        labels[i] = (int32_t)value;
    }
    return NNB_OK;
}

nnb_status nnb_io_dataset_read(nnb_io_dataset_reader *reader, int64_t first, int64_t count,
                               float *features, int64_t ld, int32_t *labels, nnb_error *error)
{
    nnb_io_hdf5_quiet quiet;
    nnb_io_hdf5_quiet_begin(&quiet);
    nnb_status status = NNB_OK;

    if (read_rows(reader->features, reader->features_space, 2, first, count, reader->width, ld,
                  H5T_NATIVE_FLOAT, features) < 0) {
        char detail[256];
        nnb_io_hdf5_error_detail(detail, sizeof detail);
        status = nnb_error_set(error, NNB_ERR_IO,
                               "%s: reading rows %lld to %lld of '%s' failed: %s", reader->path,
                               (long long)first, (long long)(first + count - 1),
                               reader->features_name, detail);
        goto done;
    }

    if (reader->labels >= 0 && labels != NULL) {
        if (count > reader->label_capacity) {
            double *grown = realloc(reader->label_values, (size_t)count * sizeof *grown);
            if (grown == NULL) {
                status = nnb_error_set(error, NNB_ERR_NO_MEMORY, "out of memory reading labels");
                goto done;
            }
            reader->label_values = grown;
            reader->label_capacity = count;
        }
        if (read_rows(reader->labels, reader->labels_space, reader->labels_rank, first, count,
                      1, 1, H5T_NATIVE_DOUBLE, reader->label_values) < 0) {
            char detail[256];
            nnb_io_hdf5_error_detail(detail, sizeof detail);
            status = nnb_error_set(error, NNB_ERR_IO,
                                   "%s: reading labels %lld to %lld of '%s' failed: %s",
                                   reader->path, (long long)first,
                                   (long long)(first + count - 1), reader->labels_name, detail);
            goto done;
        }
        status = convert_labels(reader, first, count, labels, error);
    }

done:
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
