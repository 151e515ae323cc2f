#include "hdf5_util.h"

#include "engine/status.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

void nnb_io_hdf5_quiet_begin(nnb_io_hdf5_quiet *saved)
{
    H5Eget_auto2(H5E_DEFAULT, &saved->function, &saved->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void nnb_io_hdf5_quiet_end(const nnb_io_hdf5_quiet *saved)
{
    H5Eset_auto2(H5E_DEFAULT, saved->function, saved->data);
}

typedef struct error_walk {
    char *buffer;
    size_t size;
} error_walk;

/* Copy an HDF5 error description into walk->buffer as one short line.
 * HDF5 reports a failed system call as "unable to lock file, errno = 11,
 * error message = 'Resource temporarily unavailable'", and a failed write
 * adds a dozen fields (buffer address, sizes, offset) after that. Only the
 * operation and the system's message are kept: "unable to lock file:
 * Resource temporarily unavailable". */
static void condense_message(const char *desc, error_walk *walk)
{
    static const char marker[] = "error message = '";
    const char *reason = strstr(desc, marker);
    if (reason == NULL) {
        snprintf(walk->buffer, walk->size, "%s", desc);
    } else {
        reason += sizeof marker - 1;
        int operation_length = (int)strcspn(desc, ",:");
        int reason_length = (int)strcspn(reason, "'");
        snprintf(walk->buffer, walk->size, "%.*s: %.*s", operation_length, desc,
                 reason_length, reason);
    }

    /* Messages are one line: a newline inside a description would split it. */
    for (char *c = walk->buffer; *c != '\0'; c++) {
        if (*c == '\n' || *c == '\r' || *c == '\t')
            *c = ' ';
    }
}

/* H5E_WALK_UPWARD visits the innermost (most specific) error first. */
static herr_t keep_first_message(unsigned n, const H5E_error2_t *entry, void *data)
{
    error_walk *walk = data;
    if (n == 0 && entry->desc != NULL)
        condense_message(entry->desc, walk);
    return 0;
}

void nnb_io_hdf5_error_detail(char *buffer, size_t size)
{
    error_walk walk = {buffer, size};
    buffer[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, keep_first_message, &walk);
}

hid_t nnb_io_hdf5_open_read(const char *path, const char *what, nnb_error *error)
{
    struct stat info;
    if (stat(path, &info) != 0) {
        nnb_error_set(error, NNB_ERR_IO, "%s: %s file %s", path, what,
                      errno == ENOENT ? "not found" : strerror(errno));
        return H5I_INVALID_HID;
    }
    if (S_ISDIR(info.st_mode)) {
        nnb_error_set(error, NNB_ERR_IO, "%s: %s file is a directory; give an HDF5 file",
                      path, what);
        return H5I_INVALID_HID;
    }
    FILE *probe = fopen(path, "rb");
    if (probe == NULL) {
        nnb_error_set(error, NNB_ERR_IO, "%s: cannot read %s file: %s", path, what,
                      strerror(errno));
        return H5I_INVALID_HID;
    }
    fclose(probe);

    htri_t is_hdf5 = H5Fis_hdf5(path);
    if (is_hdf5 <= 0) {
        nnb_error_set(error, NNB_ERR_FORMAT, "%s: %s file is not an HDF5 file", path, what);
        return H5I_INVALID_HID;
    }

    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) {
        char detail[256];
        nnb_io_hdf5_error_detail(detail, sizeof detail);

        /* HDF5 compares the file's size with the end address its superblock
         * records, which catches a file cut short by a failed copy. */
        unsigned long long size = 0, base = 0, expected = 0;
        if (sscanf(detail, "truncated file: eof = %llu, sblock->base_addr = %llu, "
                           "stored_eof = %llu", &size, &base, &expected) == 3) {
            nnb_error_set(error, NNB_ERR_IO,
                          "%s: cannot open %s file: it is truncated, with %llu bytes where "
                          "its HDF5 superblock records %llu; copy or download it again",
                          path, what, size, expected);
            return H5I_INVALID_HID;
        }

        int locked = strstr(detail, "file lock") != NULL
                     || strstr(detail, "unable to lock") != NULL;
        const char *hint = locked
                               ? "; another process may be writing it (set "
                                 "HDF5_USE_FILE_LOCKING=FALSE only if it is not)"
                               : "; the file may be truncated or corrupted";
        nnb_error_set(error, NNB_ERR_IO, "%s: cannot open %s file: %s%s", path, what,
                      detail[0] != '\0' ? detail : "HDF5 open failed", hint);
        return H5I_INVALID_HID;
    }
    return file;
}

const char *nnb_io_hdf5_class_name(H5T_class_t type_class)
{
    switch (type_class) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "float";
    case H5T_TIME: return "time";
    case H5T_STRING: return "string";
    case H5T_BITFIELD: return "bitfield";
    case H5T_OPAQUE: return "opaque";
    case H5T_COMPOUND: return "compound";
    case H5T_REFERENCE: return "reference";
    case H5T_ENUM: return "enum";
    case H5T_VLEN: return "variable-length";
    case H5T_ARRAY: return "array";
    default: return "unknown";
    }
}

int nnb_io_hdf5_class_is_numeric(H5T_class_t type_class)
{
    return type_class == H5T_INTEGER || type_class == H5T_FLOAT;
}

/* Names of filters that HDF5 does not build in but that common writers (h5py,
 * hdf5plugin, PyTables) use, from The HDF Group's list of registered filter
 * identifiers. The name stored in a file is the filter's own description,
 * often long or empty, so known identifiers get these names in messages. */
static const char *known_filter_name(H5Z_filter_t id)
{
    switch (id) {
    case 305: return "LZO";
    case 307: return "bzip2";
    case 32000: return "LZF";
    case 32001: return "Blosc";
    case 32004: return "LZ4";
    case 32008: return "bitshuffle";
    case 32013: return "zfp";
    case 32015: return "Zstandard";
    case 32017: return "SZ";
    default: return NULL;
    }
}

nnb_status nnb_io_hdf5_check_filters(hid_t dataset, const char *path, const char *what,
                                     nnb_error *error)
{
    nnb_status status = NNB_OK;
    hid_t create = H5Dget_create_plist(dataset);
    if (create < 0) {
        return nnb_error_set(error, NNB_ERR_IO, "%s: cannot read the storage properties of %s",
                             path, what);
    }

    int count = H5Pget_nfilters(create);
    for (int i = 0; i < count && status == NNB_OK; i++) {
        unsigned flags = 0;
        size_t value_count = 0;
        char stored_name[128] = "";
        H5Z_filter_t id = H5Pget_filter2(create, (unsigned)i, &flags, &value_count, NULL,
                                         sizeof stored_name, stored_name, NULL);
        if (id < 0) {
            status = nnb_error_set(error, NNB_ERR_IO, "%s: cannot read filter %d of %s", path,
                                   i, what);
            break;
        }

        const char *name = known_filter_name(id);
        if (name == NULL)
            name = stored_name[0] != '\0' ? stored_name : "no name stored in the file";

        /* H5Zfilter_avail also loads a plugin from HDF5_PLUGIN_PATH (or
         * HDF5's default plugin directory) when the filter is not yet
         * registered. */
        if (H5Zfilter_avail(id) <= 0) {
            /* HDF5 tries every library in the plugin directories. One that
             * fails to load (a missing symbol) leaves the dynamic loader's
             * message, which may concern another filter's plugin. */
            char detail[256];
            nnb_io_hdf5_error_detail(detail, sizeof detail);
            int load_failed = strstr(detail, "dlopen") != NULL;
            status = nnb_error_set(error, NNB_ERR_FORMAT,
                                   "%s: %s is stored with HDF5 filter %d (%s), which is not "
                                   "available; install the plugin for filter %d and set "
                                   "HDF5_PLUGIN_PATH to the directory that holds it%s%s%s",
                                   path, what, (int)id, name, (int)id,
                                   load_failed ? " (a plugin there failed to load: " : "",
                                   load_failed ? detail : "", load_failed ? ")" : "");
            break;
        }
        unsigned config = 0;
        if (H5Zget_filter_info(id, &config) < 0
            || !(config & H5Z_FILTER_CONFIG_DECODE_ENABLED)) {
            status = nnb_error_set(error, NNB_ERR_FORMAT,
                                   "%s: %s is stored with HDF5 filter %d (%s), whose installed "
                                   "version can encode but not decode; install a build of the "
                                   "filter with its decoder",
                                   path, what, (int)id, name);
        }
    }
    if (count < 0) {
        status = nnb_error_set(error, NNB_ERR_IO, "%s: cannot read the filters of %s", path,
                               what);
    }
    H5Pclose(create);
    return status;
}

nnb_io_parameter_result nnb_io_hdf5_read_parameter(hid_t dataset, nnb_param_desc *param,
                                                   H5T_class_t *type_class)
{
    nnb_io_parameter_result result = NNB_IO_PARAMETER_OK;
    hid_t type = H5Dget_type(dataset);
    hid_t space = H5Dget_space(dataset);
    *type_class = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
    if (type < 0 || space < 0) {
        result = NNB_IO_PARAMETER_READ_FAILED;
        goto done;
    }
    if (!nnb_io_hdf5_class_is_numeric(*type_class)) {
        result = NNB_IO_PARAMETER_NOT_NUMERIC;
        goto done;
    }

    /* A null or scalar dataspace has rank 0. */
    int rank = 0;
    hsize_t dims[H5S_MAX_RANK];
    if (H5Sget_simple_extent_type(space) == H5S_SIMPLE) {
        rank = H5Sget_simple_extent_dims(space, dims, NULL);
        if (rank < 0) {
            result = NNB_IO_PARAMETER_READ_FAILED;
            goto done;
        }
    }
    param->rank = rank;

    size_t elements = 1;
    for (int d = 0; d < rank; d++) {
        if (dims[d] > (hsize_t)INT64_MAX
            || (dims[d] > 0 && elements > SIZE_MAX / sizeof(float) / dims[d])) {
            result = NNB_IO_PARAMETER_TOO_LARGE;
            goto done;
        }
        elements *= (size_t)dims[d];
        if (d < 2)
            param->dims[d] = (int64_t)dims[d];
    }
    if (rank < 1 || rank > 2 || elements == 0)
        goto done;
    if (elements > (size_t)NNB_IO_MAX_PARAMETER_VALUES) {
        result = NNB_IO_PARAMETER_TOO_LARGE;
        goto done;
    }

    /* HDF5 converts float64 and integer types to float32 while reading. */
    param->data = malloc(elements * sizeof(float));
    if (param->data == NULL) {
        result = NNB_IO_PARAMETER_NO_MEMORY;
        goto done;
    }
    if (H5Dread(dataset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, param->data) < 0)
        result = NNB_IO_PARAMETER_READ_FAILED;

done:
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    return result;
}

nnb_io_string_result nnb_io_hdf5_read_strings(hid_t attribute, hid_t file_type, hid_t space,
                                              int count, size_t max_length, char **strings,
                                              int *entry, size_t *length)
{
    hid_t memory_type = H5I_INVALID_HID;
    char **pointers = NULL; /* variable-length strings as HDF5 returns them */
    char *buffer = NULL;    /* fixed-length strings, each NUL-terminated */
    int reclaim = 0;
    nnb_io_string_result result = NNB_IO_STRING_OK;

    htri_t variable = H5Tis_variable_str(file_type);
    H5T_cset_t cset = H5Tget_cset(file_type);
    size_t fixed_size = H5Tget_size(file_type);
    if (variable < 0 || cset < 0 || fixed_size == 0) {
        result = NNB_IO_STRING_BAD_TYPE;
        goto done;
    }
    if (!variable && (fixed_size > max_length || (size_t)count > SIZE_MAX / (fixed_size + 1))) {
        *entry = -1;
        *length = fixed_size;
        result = NNB_IO_STRING_TOO_LONG;
        goto done;
    }

    /* The memory type keeps the file's character set because HDF5 does not
     * convert between ASCII and UTF-8. A fixed-length memory type one byte
     * longer with NUL termination terminates every string, whatever padding
     * the file uses. */
    memory_type = H5Tcopy(H5T_C_S1);
    herr_t set = memory_type >= 0 ? H5Tset_cset(memory_type, cset) : -1;
    if (set >= 0)
        set = H5Tset_size(memory_type, variable ? H5T_VARIABLE : fixed_size + 1);
    if (set >= 0 && !variable)
        set = H5Tset_strpad(memory_type, H5T_STR_NULLTERM);
    if (set < 0) {
        result = NNB_IO_STRING_BAD_TYPE;
        goto done;
    }

    if (variable) {
        pointers = calloc((size_t)count, sizeof *pointers);
        if (pointers == NULL) {
            result = NNB_IO_STRING_NO_MEMORY;
            goto done;
        }
        if (H5Aread(attribute, memory_type, pointers) < 0) {
            result = NNB_IO_STRING_READ_FAILED;
            goto done;
        }
        reclaim = 1;
    } else {
        buffer = malloc((size_t)count * (fixed_size + 1));
        if (buffer == NULL) {
            result = NNB_IO_STRING_NO_MEMORY;
            goto done;
        }
        if (H5Aread(attribute, memory_type, buffer) < 0) {
            result = NNB_IO_STRING_READ_FAILED;
            goto done;
        }
    }

    for (int i = 0; i < count; i++) {
        const char *text = variable ? pointers[i] : buffer + (size_t)i * (fixed_size + 1);
        if (text == NULL)
            text = "";
        size_t text_length = strlen(text);
        if (text_length > max_length) {
            *entry = i;
            *length = text_length;
            result = NNB_IO_STRING_TOO_LONG;
            goto done;
        }
        strings[i] = malloc(text_length + 1);
        if (strings[i] == NULL) {
            result = NNB_IO_STRING_NO_MEMORY;
            goto done;
        }
        memcpy(strings[i], text, text_length + 1);
    }

done:
    if (reclaim) {
#if H5_VERSION_GE(1, 12, 0)
        H5Treclaim(memory_type, space, H5P_DEFAULT, pointers);
#else
        H5Dvlen_reclaim(memory_type, space, H5P_DEFAULT, pointers);
#endif
    }
    free(pointers);
    free(buffer);
    if (memory_type >= 0)
        H5Tclose(memory_type);
    return result;
}
