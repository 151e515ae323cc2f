#include "hdf5_util.h"

#include "engine/status.h"

#include <errno.h>
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

/* H5E_WALK_UPWARD visits the innermost (most specific) error first. */
static herr_t keep_first_message(unsigned n, const H5E_error2_t *entry, void *data)
{
    error_walk *walk = data;
    if (n == 0 && entry->desc != NULL)
        snprintf(walk->buffer, walk->size, "%s", entry->desc);
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
