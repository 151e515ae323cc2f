/* memfd_create() is a Linux (glibc 2.27) extension. */
#define _GNU_SOURCE

#include "output.h"

#include "engine/status.h"
#include "hdf5_util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* Target bytes per output chunk: large enough for efficient writes and
 * compression later, small enough that a reader of a few rows stays cheap. */
#define OUTPUT_CHUNK_BYTES (INT64_C(1) << 20)

/* Rows of one output dataset collected until they fill a whole chunk, which
 * is then stored with H5Dwrite_chunk(). Writing whole chunks directly keeps
 * them out of HDF5's chunk cache. When the cache fails to write a chunk
 * back (disk full), HDF5 1.10.8 leaks the chunk's memory and prints
 * "infinite loop closing library" at exit. */
typedef struct chunk_buffer {
    float *rows;        /* chunk_rows x width floats; NULL to use H5Dwrite */
    int64_t chunk_rows;
    int64_t first;      /* first row of the chunk being collected */
    int64_t filled;     /* rows collected from `first` on */
} chunk_buffer;

struct nnb_io_output {
    char *path;        /* final output path */
    char *temp_path;   /* where the file is written until commit */
    hid_t file;
    int64_t reserved_bytes; /* disk space reserved for the file, 0 for none */
    int64_t rows;      /* rows of every dataset */
    int count;
    hid_t *datasets;   /* one per output slot */
    int64_t *widths;
    chunk_buffer *buffers; /* one per output slot */
};

static char *copy_string(const char *text)
{
    size_t length = strlen(text) + 1;
    char *copy = malloc(length);
    if (copy != NULL)
        memcpy(copy, text, length);
    return copy;
}

nnb_status nnb_io_output_check_distinct(const char *path, const char *other_path,
                                        const char *role, nnb_error *error)
{
    struct stat target, other;
    if (other_path == NULL || stat(path, &target) != 0 || stat(other_path, &other) != 0)
        return NNB_OK;

    /* Device and inode, so a symbolic or hard link to the file matches too. */
    if (other.st_dev == target.st_dev && other.st_ino == target.st_ino) {
        return nnb_error_set(error, NNB_ERR_IO,
                             "%s: output path is the %s file%s; choose another output path",
                             path, role, strcmp(path, other_path) != 0 ? " (through a link)" : "");
    }
    return NNB_OK;
}

/* Reject output paths that cannot work before any scoring starts. */
static nnb_status check_output_path(const char *path, const char *input_path,
                                    nnb_error *error)
{
    size_t length = strlen(path);
    if (length == 0 || path[length - 1] == '/') {
        return nnb_error_set(error, NNB_ERR_IO,
                             "'%s': output path must name a file, such as predictions.h5",
                             path);
    }

    struct stat target;
    if (stat(path, &target) != 0)
        return NNB_OK;

    if (S_ISDIR(target.st_mode)) {
        return nnb_error_set(error, NNB_ERR_IO,
                             "%s: output path is a directory; give a file name such as "
                             "%s/predictions.h5",
                             path, path);
    }
    /* The output replaces what is at the path by rename, which would turn
     * a device such as /dev/null or a FIFO into a regular file. */
    if (!S_ISREG(target.st_mode)) {
        return nnb_error_set(error, NNB_ERR_IO,
                             "%s: output path exists and is not a regular file (a device, "
                             "FIFO or socket); choose a file name",
                             path);
    }
    return nnb_io_output_check_distinct(path, input_path, "input", error);
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
                      "%s: cannot create the output file in directory '%s': %s; choose an "
                      "existing directory you can write to",
                      path, dir, strerror(errno));
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

static int64_t output_chunk_rows(int64_t rows, int64_t width)
{
    int64_t chunk_rows = OUTPUT_CHUNK_BYTES / (width * (int64_t)sizeof(float));
    if (chunk_rows < 1)
        chunk_rows = 1;
    if (chunk_rows > rows)
        chunk_rows = rows > 0 ? rows : 1;
    return chunk_rows;
}

/* Create one output dataset; on failure, copies HDF5's message into
 * `detail` before the cleanup calls clear the error stack. */
static hid_t create_dataset(hid_t file, const char *name, int64_t rows, int64_t width,
                            char *detail, size_t detail_size)
{
    hsize_t dims[2] = {(hsize_t)rows, (hsize_t)width};
    hsize_t chunk[2] = {(hsize_t)output_chunk_rows(rows, width), (hsize_t)width};

    hid_t space = H5Screate_simple(2, dims, NULL);
    hid_t create = H5Pcreate(H5P_DATASET_CREATE);
    hid_t dataset = H5I_INVALID_HID;
    if (space >= 0 && create >= 0 && H5Pset_chunk(create, 2, chunk) >= 0) {
        dataset = H5Dcreate2(file, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, create,
                             H5P_DEFAULT);
    }
    if (dataset < 0)
        nnb_io_hdf5_error_detail(detail, detail_size);
    if (create >= 0)
        H5Pclose(create);
    if (space >= 0)
        H5Sclose(space);
    return dataset;
}

/* The POSIX file descriptor under an HDF5 file opened with HDF5's default
 * (sec2) driver, or NULL for any other driver. */
static int *file_descriptor(hid_t file)
{
    hid_t access = H5Fget_access_plist(file);
    hid_t driver = access >= 0 ? H5Pget_driver(access) : H5I_INVALID_HID;
    if (access >= 0)
        H5Pclose(access);
    int *descriptor = NULL;
    if (driver != H5FD_SEC2 || H5Fget_vfd_handle(file, H5P_DEFAULT, (void **)&descriptor) < 0)
        return NULL;
    return descriptor;
}

/* Bytes the file will take: every chunk in full (HDF5 stores the last,
 * partial chunk whole) plus an allowance for the superblock, object
 * headers, chunk index nodes and attributes, which take a few KiB. */
static int64_t estimate_file_bytes(int64_t rows, int count, const int64_t *widths)
{
    int64_t bytes = INT64_C(64) << 10;
    for (int s = 0; s < count; s++) {
        int64_t chunk_rows = output_chunk_rows(rows, widths[s]);
        int64_t chunks = (rows + chunk_rows - 1) / chunk_rows;
        bytes += chunks * chunk_rows * widths[s] * (int64_t)sizeof(float);
        bytes += (INT64_C(16) << 10) + chunks * 64;
    }
    return bytes;
}

/* Reserve the disk blocks the file will need, so that a full disk (or
 * quota) fails here, before any scoring, rather than inside an HDF5 write,
 * from which HDF5 cannot recover cleanly (see discard_pending_writes). The
 * reservation keeps the file's size, so the file stays empty for HDF5. File
 * systems that cannot reserve space (and copy-on-write ones, which may
 * still run out) fall back to failing at the write. */
static nnb_status reserve_space(nnb_io_output *output, int64_t bytes, nnb_error *error)
{
    /* A reservation does not count against the process's file size limit,
     * but the writes would. */
    struct rlimit limit;
    if (getrlimit(RLIMIT_FSIZE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY
        && (rlim_t)bytes > limit.rlim_cur) {
        return nnb_error_set(error, NNB_ERR_IO,
                             "%s: the output file needs about %.1f MB, more than the file size "
                             "limit of %.1f MB; raise the limit (ulimit -f) or score fewer rows",
                             output->path, (double)bytes / 1e6, (double)limit.rlim_cur / 1e6);
    }

    int *descriptor = file_descriptor(output->file);
    if (descriptor == NULL)
        return NNB_OK;
    if (fallocate(*descriptor, FALLOC_FL_KEEP_SIZE, 0, (off_t)bytes) == 0) {
        output->reserved_bytes = bytes;
        return NNB_OK;
    }
    if (errno == ENOSPC || errno == EDQUOT || errno == EFBIG) {
        return nnb_error_set(error, NNB_ERR_IO,
                             "%s: cannot reserve disk space for the output file, which needs "
                             "about %.1f MB: %s; free some space or choose another directory",
                             output->path, (double)bytes / 1e6, strerror(errno));
    }
    return NNB_OK;
}

/* Point the descriptor under an HDF5 file at an anonymous in-memory file,
 * so that closing the file writes its cached chunks and metadata there and
 * needs no disk space. HDF5 cannot abandon a file: a close whose flush
 * fails leaves the file ID open, and HDF5 1.10.8 then crashed in
 * H5F__close_cb when it closed the library at exit. Returns -1, changing
 * nothing, when the file does not use HDF5's default (sec2) driver or no
 * in-memory file can be made. */
static int discard_pending_writes(hid_t file)
{
    int *descriptor = file_descriptor(file);
    if (descriptor == NULL)
        return -1;

    int scratch = memfd_create("nnbatch-discarded-output", MFD_CLOEXEC);
    if (scratch < 0)
        return -1;
    int result = dup2(scratch, *descriptor) < 0 ? -1 : 0;
    close(scratch);
    return result;
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
    for (int s = 0; output->buffers != NULL && s < output->count; s++)
        free(output->buffers[s].rows);
    free(output->buffers);
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
    if (output->file >= 0)
        discard_pending_writes(output->file);
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
    output->rows = rows;
    output->datasets = malloc((size_t)(count > 0 ? count : 1) * sizeof *output->datasets);
    output->widths = malloc((size_t)(count > 0 ? count : 1) * sizeof *output->widths);
    output->buffers = calloc((size_t)(count > 0 ? count : 1), sizeof *output->buffers);
    if (output->path == NULL || output->datasets == NULL || output->widths == NULL
        || output->buffers == NULL) {
        status = nnb_error_set(error, NNB_ERR_NO_MEMORY, "out of memory");
        goto done;
    }

    /* Whole chunks go to the file as they are in memory, so they must be
     * float32 little-endian there too. */
    int direct = H5Tequal(H5T_NATIVE_FLOAT, H5T_IEEE_F32LE) > 0;
    for (int s = 0; s < count; s++) {
        output->datasets[s] = H5I_INVALID_HID;
        output->widths[s] = widths[s];
        output->buffers[s].chunk_rows = output_chunk_rows(rows, widths[s]);
        if (direct) {
            size_t floats = (size_t)(output->buffers[s].chunk_rows * widths[s]);
            output->buffers[s].rows = malloc(floats * sizeof(float));
            if (output->buffers[s].rows == NULL) {
                status = nnb_error_set(error, NNB_ERR_NO_MEMORY, "out of memory");
                goto done;
            }
        }
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
        char detail[256];
        output->datasets[s] = create_dataset(output->file, names[s], rows, widths[s], detail,
                                             sizeof detail);
        if (output->datasets[s] < 0) {
            status = nnb_error_set(error, NNB_ERR_IO,
                                   "%s: cannot create output dataset '%s': %s", path,
                                   names[s], detail);
            goto done;
        }
    }
    status = reserve_space(output, estimate_file_bytes(rows, count, widths), error);

done:
    nnb_io_hdf5_quiet_end(&quiet);
    if (status != NNB_OK) {
        nnb_io_output_abort(output);
        output = NULL;
    }
    *output_out = output;
    return status;
}

/* Store rows [first, first + count) of dataset `slot` with H5Dwrite. */
static nnb_status write_selection(nnb_io_output *output, int slot, int64_t first, int64_t count,
                                  const float *data, int64_t ld, nnb_error *error)
{
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
    return status;
}

/* Store the collected rows of dataset `slot`: a complete chunk (the last
 * one may end at the last row) directly, anything less with H5Dwrite. */
static nnb_status flush_buffer(nnb_io_output *output, int slot, nnb_error *error)
{
    chunk_buffer *buffer = &output->buffers[slot];
    int64_t width = output->widths[slot];
    int64_t filled = buffer->filled;
    buffer->filled = 0;
    if (filled == 0)
        return NNB_OK;

    int64_t chunk_end = buffer->first + buffer->chunk_rows;
    if (chunk_end > output->rows)
        chunk_end = output->rows;
    if (buffer->first + filled < chunk_end)
        return write_selection(output, slot, buffer->first, filled, buffer->rows, width, error);

    /* HDF5 stores the last chunk whole; zero its rows past the end. */
    size_t floats = (size_t)(buffer->chunk_rows * width);
    size_t used = (size_t)(filled * width);
    memset(buffer->rows + used, 0, (floats - used) * sizeof(float));
    hsize_t offset[2] = {(hsize_t)buffer->first, 0};
    if (H5Dwrite_chunk(output->datasets[slot], H5P_DEFAULT, 0, offset, floats * sizeof(float),
                       buffer->rows)
        < 0) {
        char detail[256];
        nnb_io_hdf5_error_detail(detail, sizeof detail);
        return nnb_error_set(error, NNB_ERR_IO,
                             "%s: writing rows %lld to %lld failed: %s; check free disk space",
                             output->path, (long long)buffer->first,
                             (long long)(buffer->first + filled - 1), detail);
    }
    return NNB_OK;
}

/* Collect rows into whole chunks. Rows that continue the chunk being
 * collected are copied. Anything else (rows out of order, or starting
 * inside a chunk) first flushes what was collected and then goes through
 * H5Dwrite, so any order of writes stores the right rows. */
static nnb_status write_buffered(nnb_io_output *output, int slot, int64_t first, int64_t count,
                                 const float *data, int64_t ld, nnb_error *error)
{
    chunk_buffer *buffer = &output->buffers[slot];
    int64_t width = output->widths[slot];
    int64_t row = first;
    int64_t end = first + count;
    nnb_status status = NNB_OK;
    while (row < end && status == NNB_OK) {
        if (buffer->filled > 0 && row != buffer->first + buffer->filled) {
            status = flush_buffer(output, slot, error);
            continue;
        }

        int64_t chunk_first = row - row % buffer->chunk_rows;
        int64_t chunk_end = chunk_first + buffer->chunk_rows;
        if (chunk_end > output->rows)
            chunk_end = output->rows;
        int64_t rows = (end < chunk_end ? end : chunk_end) - row;
        const float *source = data + (row - first) * ld;
        if (buffer->filled == 0 && row != chunk_first) {
            status = write_selection(output, slot, row, rows, source, ld, error);
            row += rows;
            continue;
        }

        if (buffer->filled == 0)
            buffer->first = chunk_first;
        float *target = buffer->rows + buffer->filled * width;
        for (int64_t r = 0; r < rows; r++)
            memcpy(target + r * width, source + r * ld, (size_t)width * sizeof(float));
        buffer->filled += rows;
        row += rows;
        if (buffer->first + buffer->filled == chunk_end)
            status = flush_buffer(output, slot, error);
    }
    return status;
}

nnb_status nnb_io_output_write(nnb_io_output *output, int slot, int64_t first, int64_t count,
                               const float *data, int64_t ld, nnb_error *error)
{
    nnb_io_hdf5_quiet quiet;
    nnb_io_hdf5_quiet_begin(&quiet);
    nnb_status status;
    if (output->buffers[slot].rows != NULL)
        status = write_buffered(output, slot, first, count, data, ld, error);
    else
        status = write_selection(output, slot, first, count, data, ld, error);
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

/* Free the reserved blocks past the end of the finished file. Only blocks
 * beyond the end are released, so the file's contents cannot change, and a
 * file system that cannot punch holes just keeps them. */
static void release_unused_reservation(int fd, int64_t reserved_bytes)
{
    struct stat info;
    if (reserved_bytes <= 0 || fstat(fd, &info) != 0 || info.st_size >= reserved_bytes)
        return;
    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, info.st_size,
              (off_t)reserved_bytes - info.st_size);
}

nnb_status nnb_io_output_commit(nnb_io_output *output, nnb_error *error)
{
    /* Store rows still collected (only when some rows were never written,
     * or written out of order). */
    nnb_io_hdf5_quiet quiet;
    nnb_io_hdf5_quiet_begin(&quiet);
    nnb_status status = NNB_OK;
    for (int s = 0; s < output->count && status == NNB_OK; s++)
        status = flush_buffer(output, s, error);
    if (status != NNB_OK) {
        nnb_io_hdf5_quiet_end(&quiet);
        nnb_io_output_abort(output);
        return status;
    }

    /* Flush every cached chunk and all metadata while the handles are still
     * open: a flush that fails (disk full) leaves them valid for the abort
     * to discard, whereas a failed close leaves HDF5 holding them. */
    char detail[256] = "";
    herr_t closed = H5Fflush(output->file, H5F_SCOPE_LOCAL);
    if (closed >= 0)
        closed = close_handles(output);
    if (closed < 0)
        nnb_io_hdf5_error_detail(detail, sizeof detail);
    nnb_io_hdf5_quiet_end(&quiet);
    if (closed < 0) {
        nnb_error_set(error, NNB_ERR_IO,
                      "%s: writing the end of the output file failed: %s; check free disk "
                      "space",
                      output->path, detail[0] != '\0' ? detail : "HDF5 close failed");
        nnb_io_output_abort(output);
        return NNB_ERR_IO;
    }

    /* Flush the data before the rename makes it visible, so a crash after
     * the rename cannot expose a file whose blocks never reached the disk. */
    int fd = open(output->temp_path, O_RDWR);
    if (fd >= 0)
        release_unused_reservation(fd, output->reserved_bytes);
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
