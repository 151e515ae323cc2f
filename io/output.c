#include "output.h"

#include "engine/status.h"
#include "hdf5_util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Target bytes per output chunk: large enough for efficient writes and
 * compression later, small enough that a reader of a few rows stays cheap. */
#define OUTPUT_CHUNK_BYTES (INT64_C(1) << 20)

struct nnb_io_output {
    char *path;        /* final output path */
    char *temp_path;   /* where the file is written until commit */
    hid_t file;
    int count;
    hid_t *datasets;   /* one per output slot */
    int64_t *widths;
};

static char *copy_string(const char *text)
{
    size_t length = strlen(text) + 1;
    char *copy = malloc(length);
    if (copy != NULL)
        memcpy(copy, text, length);
    return copy;
}

/* Reject output paths that cannot work before any scoring starts. */
static nnb_status check_output_path(const char *path, const char *input_path,
                                    nnb_error *error)
{
    struct stat target;
    if (stat(path, &target) != 0)
        return NNB_OK;

    if (S_ISDIR(target.st_mode)) {
        return nnb_error_set(error, NNB_ERR_IO,
                             "%s: output path is a directory; give a file name such as "
                             "%s/predictions.h5",
                             path, path);
    }
    struct stat input;
    if (input_path != NULL && stat(input_path, &input) == 0 && input.st_dev == target.st_dev
        && input.st_ino == target.st_ino) {
        return nnb_error_set(error, NNB_ERR_IO,
                             "%s: output path is the input file; choose another output path",
                             path);
    }
    return NNB_OK;
}

/* Create an empty temporary file beside `path`, named ".NAME.tmp-XXXXXX" so
 * it sits in the same file system (rename is atomic there) and is hidden. */
static char *create_temp_file(const char *path, nnb_error *error)
{
    char *dir_copy = copy_string(path);
    char *base_copy = copy_string(path);
    char *temp = NULL;
    if (dir_copy == NULL || base_copy == NULL) {
        nnb_error_set(error, NNB_ERR_NO_MEMORY, "out of memory");
        goto done;
    }

    const char *dir = dirname(dir_copy);
    const char *base = basename(base_copy);
    size_t size = strlen(dir) + strlen(base) + 16;
    temp = malloc(size);
    if (temp == NULL) {
        nnb_error_set(error, NNB_ERR_NO_MEMORY, "out of memory");
        goto done;
    }
    snprintf(temp, size, "%s/.%s.tmp-XXXXXX", dir, base);

    int fd = mkstemp(temp);
    if (fd < 0) {
        nnb_error_set(error, NNB_ERR_IO,
                      "%s: cannot create the output file in directory '%s': %s", path, dir,
                      strerror(errno));
        free(temp);
        temp = NULL;
        goto done;
    }
    /* mkstemp creates mode 0600; give the final file the usual umask mode. */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    close(fd);

done:
    free(base_copy);
    free(dir_copy);
    return temp;
}

static hid_t create_dataset(hid_t file, const char *name, int64_t rows, int64_t width)
{
    hsize_t dims[2] = {(hsize_t)rows, (hsize_t)width};
    int64_t chunk_rows = OUTPUT_CHUNK_BYTES / (width * (int64_t)sizeof(float));
    if (chunk_rows < 1)
        chunk_rows = 1;
    if (chunk_rows > rows)
        chunk_rows = rows > 0 ? rows : 1;
    hsize_t chunk[2] = {(hsize_t)chunk_rows, (hsize_t)width};

    hid_t space = H5Screate_simple(2, dims, NULL);
    hid_t create = H5Pcreate(H5P_DATASET_CREATE);
    hid_t dataset = H5I_INVALID_HID;
    if (space >= 0 && create >= 0 && H5Pset_chunk(create, 2, chunk) >= 0) {
        dataset = H5Dcreate2(file, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, create,
                             H5P_DEFAULT);
    }
    if (create >= 0)
        H5Pclose(create);
    if (space >= 0)
        H5Sclose(space);
    return dataset;
}

/* Close every HDF5 handle of the writer; returns negative if any close
 * failed (a failed file close can mean unflushed data). */
static herr_t close_handles(nnb_io_output *output)
{
    herr_t result = 0;
    for (int s = 0; output->datasets != NULL && s < output->count; s++) {
        if (output->datasets[s] >= 0 && H5Dclose(output->datasets[s]) < 0)
            result = -1;
        output->datasets[s] = H5I_INVALID_HID;
    }
    if (output->file >= 0 && H5Fclose(output->file) < 0)
        result = -1;
    output->file = H5I_INVALID_HID;
    return result;
}

static void output_free(nnb_io_output *output)
{
    free(output->datasets);
    free(output->widths);
    free(output->temp_path);
    free(output->path);
    free(output);
}

void nnb_io_output_abort(nnb_io_output *output)
{
    if (output == NULL)
        return;
    nnb_io_hdf5_quiet quiet;
    nnb_io_hdf5_quiet_begin(&quiet);
    close_handles(output);
    nnb_io_hdf5_quiet_end(&quiet);
    if (output->temp_path != NULL)
        unlink(output->temp_path);
    output_free(output);
}

nnb_status nnb_io_output_create(const char *path, const char *input_path, int64_t rows,
                                int count, const char *const *names, const int64_t *widths,
                                nnb_io_output **output_out, nnb_error *error)
{
    *output_out = NULL;
    nnb_status status = check_output_path(path, input_path, error);
    if (status != NNB_OK)
        return status;

    nnb_io_hdf5_quiet quiet;
    nnb_io_hdf5_quiet_begin(&quiet);

    nnb_io_output *output = calloc(1, sizeof *output);
    if (output == NULL) {
        status = nnb_error_set(error, NNB_ERR_NO_MEMORY, "out of memory");
        goto done;
    }
    output->file = H5I_INVALID_HID;
    output->count = count;
    output->path = copy_string(path);
    output->datasets = malloc((size_t)(count > 0 ? count : 1) * sizeof *output->datasets);
    output->widths = malloc((size_t)(count > 0 ? count : 1) * sizeof *output->widths);
    if (output->path == NULL || output->datasets == NULL || output->widths == NULL) {
        status = nnb_error_set(error, NNB_ERR_NO_MEMORY, "out of memory");
        goto done;
    }
    for (int s = 0; s < count; s++) {
        output->datasets[s] = H5I_INVALID_HID;
        output->widths[s] = widths[s];
    }

    output->temp_path = create_temp_file(path, error);
    if (output->temp_path == NULL) {
        status = error != NULL ? error->status : NNB_ERR_IO;
        goto done;
    }

    output->file = H5Fcreate(output->temp_path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (output->file < 0) {
        char detail[256];
        nnb_io_hdf5_error_detail(detail, sizeof detail);
        status = nnb_error_set(error, NNB_ERR_IO, "%s: cannot create output file: %s", path,
                               detail);
        goto done;
    }

    for (int s = 0; s < count; s++) {
        output->datasets[s] = create_dataset(output->file, names[s], rows, widths[s]);
        if (output->datasets[s] < 0) {
            char detail[256];
            nnb_io_hdf5_error_detail(detail, sizeof detail);
            status = nnb_error_set(error, NNB_ERR_IO,
                                   "%s: cannot create output dataset '%s': %s", path,
                                   names[s], detail);
            goto done;
        }
    }

done:
    nnb_io_hdf5_quiet_end(&quiet);
    if (status != NNB_OK) {
        nnb_io_output_abort(output);
        output = NULL;
    }
    *output_out = output;
    return status;
}

nnb_status nnb_io_output_write(nnb_io_output *output, int slot, int64_t first, int64_t count,
                               const float *data, int64_t ld, nnb_error *error)
{
    nnb_io_hdf5_quiet quiet;
    nnb_io_hdf5_quiet_begin(&quiet);
    nnb_status status = NNB_OK;
    hid_t dataset = output->datasets[slot];
    int64_t width = output->widths[slot];
    hid_t file_space = H5Dget_space(dataset);
    hsize_t memory_dims[2] = {(hsize_t)count, (hsize_t)ld};
    hid_t memory_space = H5Screate_simple(2, memory_dims, NULL);
    hsize_t start[2] = {(hsize_t)first, 0};
    hsize_t size[2] = {(hsize_t)count, (hsize_t)width};
    hsize_t origin[2] = {0, 0};

    if (file_space < 0 || memory_space < 0
        || H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, NULL, size, NULL) < 0
        || H5Sselect_hyperslab(memory_space, H5S_SELECT_SET, origin, NULL, size, NULL) < 0
        || H5Dwrite(dataset, H5T_NATIVE_FLOAT, memory_space, file_space, H5P_DEFAULT, data)
               < 0) {
        char detail[256];
        nnb_io_hdf5_error_detail(detail, sizeof detail);
        status = nnb_error_set(error, NNB_ERR_IO,
                               "%s: writing rows %lld to %lld failed: %s; check free disk space",
                               output->path, (long long)first, (long long)(first + count - 1),
                               detail);
    }

    if (memory_space >= 0)
        H5Sclose(memory_space);
    if (file_space >= 0)
        H5Sclose(file_space);
    nnb_io_hdf5_quiet_end(&quiet);
    return status;
}

static nnb_status set_attribute(nnb_io_output *output, const char *name, hid_t type,
                                const void *value, nnb_error *error)
{
    nnb_io_hdf5_quiet quiet;
    nnb_io_hdf5_quiet_begin(&quiet);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attribute = H5I_INVALID_HID;
    herr_t result = -1;
    if (space >= 0)
        attribute = H5Acreate2(output->file, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attribute >= 0)
        result = H5Awrite(attribute, type, value);
    if (attribute >= 0)
        H5Aclose(attribute);
    if (space >= 0)
        H5Sclose(space);
    nnb_io_hdf5_quiet_end(&quiet);
    if (result < 0) {
        return nnb_error_set(error, NNB_ERR_IO, "%s: cannot write attribute '%s'", output->path,
                             name);
    }
    return NNB_OK;
}

nnb_status nnb_io_output_set_string(nnb_io_output *output, const char *name,
                                    const char *value, nnb_error *error)
{
    /* Variable-length UTF-8, the form h5py writes for a Python str. */
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    nnb_status status = set_attribute(output, name, type, &value, error);
    H5Tclose(type);
    return status;
}

nnb_status nnb_io_output_set_double(nnb_io_output *output, const char *name, double value,
                                    nnb_error *error)
{
    return set_attribute(output, name, H5T_NATIVE_DOUBLE, &value, error);
}

nnb_status nnb_io_output_set_int(nnb_io_output *output, const char *name, int64_t value,
                                 nnb_error *error)
{
    return set_attribute(output, name, H5T_NATIVE_INT64, &value, error);
}

nnb_status nnb_io_output_commit(nnb_io_output *output, nnb_error *error)
{
    nnb_io_hdf5_quiet quiet;
    nnb_io_hdf5_quiet_begin(&quiet);
    herr_t closed = close_handles(output);
    nnb_io_hdf5_quiet_end(&quiet);
    if (closed < 0) {
        nnb_error_set(error, NNB_ERR_IO,
                      "%s: closing the output file failed; check free disk space",
                      output->path);
        nnb_io_output_abort(output);
        return NNB_ERR_IO;
    }

    /* Flush the data before the rename makes it visible, so a crash after
     * the rename cannot expose a file whose blocks never reached the disk. */
    int fd = open(output->temp_path, O_RDONLY);
    if (fd < 0 || fsync(fd) != 0) {
        nnb_error_set(error, NNB_ERR_IO, "%s: flushing the output file failed: %s",
                      output->path, strerror(errno));
        if (fd >= 0)
            close(fd);
        nnb_io_output_abort(output);
        return NNB_ERR_IO;
    }
    close(fd);

    if (rename(output->temp_path, output->path) != 0) {
        nnb_error_set(error, NNB_ERR_IO, "%s: renaming the finished output from '%s' failed: %s",
                      output->path, output->temp_path, strerror(errno));
        nnb_io_output_abort(output);
        return NNB_ERR_IO;
    }
    output_free(output);
    return NNB_OK;
}

static nnb_status sink_write(void *state, int slot, int64_t first, int64_t count,
                             const float *data, int64_t ld, nnb_error *error)
{
    return nnb_io_output_write(state, slot, first, count, data, ld, error);
}

nnb_row_sink nnb_io_output_sink(nnb_io_output *output, int count, const int *outputs)
{
    nnb_row_sink sink = {
        .output_count = count,
        .outputs = outputs,
        .write = sink_write,
        .state = output,
    };
    return sink;
}
