/*
 * The read ceiling: H5Dread of the input dataset (and labels) block by
 * block into float32 and int32 buffers, with no compute, opened with the
 * chunk cache nnbatch uses. Also the HDF5 helpers of the other commands.
 */
#include "nnb_bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Chunk cache limits of nnbatch's dataset reader (io/dataset.c). */
#define CHUNK_CACHE_MIN_BYTES ((size_t)1 << 20)
#define CHUNK_CACHE_MAX_BYTES ((size_t)256 << 20)

hid_t nnb_bench_open_dataset(hid_t file, const char *name, size_t *cache_bytes,
                             int64_t *chunk_rows)
{
    hid_t dataset = H5Dopen2(file, name, H5P_DEFAULT);
    if (dataset < 0)
        return dataset;

    hid_t create = H5Dget_create_plist(dataset);
    hid_t type = H5Dget_type(dataset);
    hid_t space = H5Dget_space(dataset);
    size_t bytes = 0;
    int64_t rows_per_chunk = 0;
    if (create >= 0 && type >= 0 && space >= 0 && H5Pget_layout(create) == H5D_CHUNKED
        && H5Sget_simple_extent_ndims(space) == 2) {
        hsize_t chunk[2], dims[2];
        H5Pget_chunk(create, 2, chunk);
        H5Sget_simple_extent_dims(space, dims, NULL);
        size_t chunk_bytes = (size_t)(chunk[0] * chunk[1]) * H5Tget_size(type);
        size_t chunks_across = (size_t)((dims[1] + chunk[1] - 1) / chunk[1]);
        bytes = 2 * chunks_across * chunk_bytes;
        if (bytes < CHUNK_CACHE_MIN_BYTES)
            bytes = CHUNK_CACHE_MIN_BYTES;
        if (bytes > CHUNK_CACHE_MAX_BYTES)
            bytes = CHUNK_CACHE_MAX_BYTES;
        rows_per_chunk = (int64_t)chunk[0];
    }
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    if (create >= 0)
        H5Pclose(create);

    /* Reopen with the cache set, as io/dataset.c does. */
    if (bytes > 0) {
        hid_t access = H5Dget_access_plist(dataset);
        H5Dclose(dataset);
        dataset = H5I_INVALID_HID;
        if (access >= 0) {
            if (H5Pset_chunk_cache(access, 100003, bytes, 1.0) >= 0)
                dataset = H5Dopen2(file, name, access);
            H5Pclose(access);
        }
    }
    if (cache_bytes != NULL)
        *cache_bytes = bytes;
    if (chunk_rows != NULL)
        *chunk_rows = rows_per_chunk;
    return dataset;
}

/* Read rows [first, first + count) of `dataset` (rank 1, or rank 2 with
 * `columns` columns) as `memory_type` into `buffer`. */
static herr_t read_rows(hid_t dataset, int64_t first, int64_t count, int64_t columns,
                        hid_t memory_type, void *buffer)
{
    hid_t file_space = H5Dget_space(dataset);
    if (file_space < 0)
        return -1;
    int rank = H5Sget_simple_extent_ndims(file_space);
    hsize_t start[2] = {(hsize_t)first, 0};
    hsize_t size[2] = {(hsize_t)count, (hsize_t)columns};
    hid_t memory_space = H5Screate_simple(rank, size, NULL);
    herr_t result = -1;
    if (rank >= 1 && rank <= 2 && memory_space >= 0
        && H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, NULL, size, NULL) >= 0)
        result = H5Dread(dataset, memory_type, memory_space, file_space, H5P_DEFAULT, buffer);
    if (memory_space >= 0)
        H5Sclose(memory_space);
    H5Sclose(file_space);
    return result;
}

/* Store the rows and columns of a rank-1 (one column) or rank-2 dataset. */
static int dataset_shape(hid_t dataset, int64_t *rows, int64_t *columns)
{
    hid_t space = H5Dget_space(dataset);
    hsize_t dims[2] = {0, 1};
    int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    int ok = rank >= 1 && rank <= 2 && H5Sget_simple_extent_dims(space, dims, NULL) >= 0;
    if (space >= 0)
        H5Sclose(space);
    *rows = (int64_t)dims[0];
    *columns = rank == 2 ? (int64_t)dims[1] : 1;
    return ok ? 0 : 1;
}

int nnb_bench_load_arrays(const char *path, const char *features_name,
                          const char *labels_name, int64_t width, int64_t *rows,
                          float **features, int32_t **labels)
{
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t data = file >= 0 ? H5Dopen2(file, features_name, H5P_DEFAULT) : H5I_INVALID_HID;
    hid_t label_data = H5I_INVALID_HID;
    int64_t columns = 0;
    int status = 1;
    *features = NULL;
    *labels = NULL;

    if (data < 0 || dataset_shape(data, rows, &columns) != 0 || columns != width) {
        fprintf(stderr, "nnb_bench: %s: cannot open dataset '%s' as (rows, %lld)\n", path,
                features_name, (long long)width);
        goto done;
    }
    *features = malloc((size_t)(*rows * width) * sizeof(float));
    if (*features == NULL
        || read_rows(data, 0, *rows, width, H5T_NATIVE_FLOAT, *features) < 0) {
        fprintf(stderr, "nnb_bench: %s: cannot read %lld rows of '%s' into memory\n", path,
                (long long)*rows, features_name);
        goto done;
    }

    if (labels_name != NULL) {
        label_data = H5Dopen2(file, labels_name, H5P_DEFAULT);
        int64_t label_rows = 0;
        *labels = malloc((size_t)*rows * sizeof(int32_t));
        if (label_data < 0 || dataset_shape(label_data, &label_rows, &columns) != 0
            || label_rows != *rows || *labels == NULL
            || read_rows(label_data, 0, *rows, 1, H5T_NATIVE_INT32, *labels) < 0) {
            fprintf(stderr, "nnb_bench: %s: cannot read %lld labels of '%s'\n", path,
                    (long long)*rows, labels_name);
            goto done;
        }
    }
    status = 0;

done:
    if (label_data >= 0)
        H5Dclose(label_data);
    if (data >= 0)
        H5Dclose(data);
    if (file >= 0)
        H5Fclose(file);
    if (status != 0) {
        free(*features);
        free(*labels);
        *features = NULL;
        *labels = NULL;
    }
    return status;
}

int nnb_bench_read(const nnb_bench_options *options)
{
    nnb_model *model = NULL;
    int threads = 0;
    int64_t tile_rows = 0;
    hid_t file = H5I_INVALID_HID;
    hid_t data = H5I_INVALID_HID;
    hid_t label_data = H5I_INVALID_HID;
    float *block = NULL;
    int32_t *labels = NULL;
    int status = 1;

    if (options->data_path == NULL || options->input_dataset == NULL) {
        fprintf(stderr, "nnb_bench: read needs --data and --input\n");
        goto done;
    }
    /* With --block-rows given the model is not loaded, so its parameters
     * do not count in this process's peak RSS. */
    if (options->block_rows == 0
        && nnb_bench_load_model(options, &model, &threads, &tile_rows) != 0)
        goto done;

    /* Opening the file and datasets is timed, as in nnb_score_file(). */
    double start = nnb_bench_now();
    file = H5Fopen(options->data_path, H5F_ACC_RDONLY, H5P_DEFAULT);
    int64_t chunk_rows = 0;
    data = file >= 0 ? nnb_bench_open_dataset(file, options->input_dataset, NULL, &chunk_rows)
                     : H5I_INVALID_HID;
    int64_t rows = 0, width = 0;
    if (data < 0 || dataset_shape(data, &rows, &width) != 0) {
        fprintf(stderr, "nnb_bench: %s: cannot open dataset '%s' as (rows, features)\n",
                options->data_path, options->input_dataset);
        goto done;
    }
    if (model != NULL && width != nnb_model_input_width(model)) {
        fprintf(stderr, "nnb_bench: %s: dataset '%s' has %lld features but the model "
                "expects %lld\n", options->data_path, options->input_dataset,
                (long long)width, (long long)nnb_model_input_width(model));
        goto done;
    }
    if (options->labels_dataset != NULL) {
        label_data = nnb_bench_open_dataset(file, options->labels_dataset, NULL, NULL);
        if (label_data < 0) {
            fprintf(stderr, "nnb_bench: %s: cannot open labels dataset '%s'\n",
                    options->data_path, options->labels_dataset);
            goto done;
        }
    }

    int64_t block_rows = options->block_rows > 0
                             ? options->block_rows
                             : nnb_bench_block_rows(width, threads, tile_rows, chunk_rows, rows);
    block = malloc((size_t)(block_rows * width) * sizeof(float));
    labels = malloc((size_t)block_rows * sizeof(int32_t));
    if (block == NULL || labels == NULL) {
        fprintf(stderr, "nnb_bench: out of memory for a block of %lld rows\n",
                (long long)block_rows);
        goto done;
    }

    for (int64_t first = 0; first < rows; first += block_rows) {
        int64_t count = rows - first < block_rows ? rows - first : block_rows;
        if (read_rows(data, first, count, width, H5T_NATIVE_FLOAT, block) < 0
            || (label_data >= 0
                && read_rows(label_data, first, count, 1, H5T_NATIVE_INT32, labels) < 0)) {
            fprintf(stderr, "nnb_bench: %s: reading rows %lld to %lld failed\n",
                    options->data_path, (long long)first, (long long)(first + count - 1));
            goto done;
        }
    }
    H5Dclose(data);
    data = H5I_INVALID_HID;
    if (label_data >= 0)
        H5Dclose(label_data);
    label_data = H5I_INVALID_HID;
    H5Fclose(file);
    file = H5I_INVALID_HID;
    double seconds = nnb_bench_now() - start;

    printf("rows=%lld\n", (long long)rows);
    printf("seconds=%.6f\n", seconds);
    printf("flops=0\n");
    printf("block_rows=%lld\n", (long long)block_rows);
    status = 0;

done:
    if (label_data >= 0)
        H5Dclose(label_data);
    if (data >= 0)
        H5Dclose(data);
    if (file >= 0)
        H5Fclose(file);
    free(labels);
    free(block);
    nnb_model_free(model);
    return status;
}
