#include "fuzz_common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Initial size and growth step of the in-memory files, in bytes. */
#define IMAGE_INCREMENT (64 * 1024)

void fuzz_recipe_init(fuzz_recipe *recipe, const uint8_t *data, size_t size)
{
    recipe->data = data;
    recipe->size = size;
    recipe->position = 0;
}

uint8_t fuzz_take_byte(fuzz_recipe *recipe)
{
    if (recipe->position >= recipe->size)
        return 0;
    return recipe->data[recipe->position++];
}

unsigned fuzz_take_choice(fuzz_recipe *recipe, unsigned count)
{
    return fuzz_take_byte(recipe) % count;
}

/* ---- HDF5 ------------------------------------------------------------------ */

/* The HDF5 identifier types whose members nnbatch opens. Property lists are
 * left out because HDF5 keeps internal ones whose number changes with use. */
static const H5I_type_t checked_types[] = {
    H5I_FILE, H5I_GROUP, H5I_DATATYPE, H5I_DATASPACE, H5I_DATASET, H5I_ATTR,
};
#define CHECKED_TYPE_COUNT (sizeof checked_types / sizeof checked_types[0])
static const char *const checked_type_names[CHECKED_TYPE_COUNT] = {
    "file", "group", "datatype", "dataspace", "dataset", "attribute",
};

/* Identifiers open between inputs: HDF5's predefined datatypes and the like. */
static hsize_t baseline_counts[CHECKED_TYPE_COUNT];

static void count_open_objects(hsize_t counts[CHECKED_TYPE_COUNT])
{
    for (size_t t = 0; t < CHECKED_TYPE_COUNT; t++) {
        counts[t] = 0;
        if (H5Inmembers(checked_types[t], &counts[t]) < 0)
            counts[t] = 0;
    }
}

void fuzz_hdf5_init(void)
{
    if (H5open() < 0) {
        fprintf(stderr, "fuzz: HDF5 failed to initialize\n");
        abort();
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    count_open_objects(baseline_counts);
}

void fuzz_check_no_open_objects(const char *context)
{
    hsize_t counts[CHECKED_TYPE_COUNT];
    count_open_objects(counts);
    int leaked = 0;
    for (size_t t = 0; t < CHECKED_TYPE_COUNT; t++) {
        if (counts[t] != baseline_counts[t]) {
            fprintf(stderr, "fuzz: after %s, %llu HDF5 %s identifiers are open; expected %llu\n",
                    context, (unsigned long long)counts[t], checked_type_names[t],
                    (unsigned long long)baseline_counts[t]);
            leaked = 1;
        }
    }
    if (leaked)
        abort();
}

hid_t fuzz_image_create(void)
{
    hid_t access = H5Pcreate(H5P_FILE_ACCESS);
    if (access < 0)
        return H5I_INVALID_HID;
    hid_t file = H5I_INVALID_HID;
    if (H5Pset_fapl_core(access, IMAGE_INCREMENT, 0) >= 0)
        file = H5Fcreate("nnb-fuzz-image.h5", H5F_ACC_TRUNC, H5P_DEFAULT, access);
    H5Pclose(access);
    return file;
}

int fuzz_image_finish(hid_t file, uint8_t **image, size_t *size)
{
    *image = NULL;
    *size = 0;
    int result = -1;
    ssize_t length = -1;
    if (H5Fflush(file, H5F_SCOPE_GLOBAL) >= 0)
        length = H5Fget_file_image(file, NULL, 0);
    if (length > 0) {
        *image = malloc((size_t)length);
        if (*image != NULL && H5Fget_file_image(file, *image, (size_t)length) == length) {
            *size = (size_t)length;
            result = 0;
        }
    }
    if (H5Fclose(file) < 0)
        result = -1;
    if (result != 0) {
        free(*image);
        *image = NULL;
        *size = 0;
    }
    return result;
}

/* ---- Files ------------------------------------------------------------------ */

#define MAX_TEMP_PATHS 4
static char temp_paths[MAX_TEMP_PATHS][128];
static int temp_path_count;

static void remove_temp_files(void)
{
    for (int i = 0; i < temp_path_count; i++)
        unlink(temp_paths[i]);
}

const char *fuzz_temp_path(const char *target)
{
    if (temp_path_count == MAX_TEMP_PATHS) {
        fprintf(stderr, "fuzz: more than %d temporary files requested\n", MAX_TEMP_PATHS);
        abort();
    }
    if (temp_path_count == 0)
        atexit(remove_temp_files);
    char *path = temp_paths[temp_path_count++];
    snprintf(path, sizeof temp_paths[0], "/dev/shm/nnb-fuzz-%s-%ld.h5", target, (long)getpid());
    return path;
}

static int write_all(const char *path, const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t written = write(fd, data + done, size - done);
        if (written < 0 && errno == EINTR)
            continue;
        if (written <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)written;
    }
    return close(fd);
}

void fuzz_write_file(const char *path, const uint8_t *data, size_t size)
{
    if (write_all(path, data, size) != 0) {
        fprintf(stderr, "fuzz: cannot write %s: %s\n", path, strerror(errno));
        abort();
    }
    const char *copy = getenv("NNB_FUZZ_SAVE_FILE");
    if (copy != NULL && copy[0] != '\0') {
        if (write_all(copy, data, size) != 0) {
            fprintf(stderr, "fuzz: cannot write %s: %s\n", copy, strerror(errno));
            abort();
        }
        fprintf(stderr, "fuzz: wrote the %zu-byte HDF5 file to %s\n", size, copy);
    }
}

/* ---- Messages and checks ------------------------------------------------------ */

void fuzz_log(const char *format, ...)
{
    static int verbose = -1;
    if (verbose < 0) {
        const char *value = getenv("NNB_FUZZ_VERBOSE");
        verbose = value != NULL && value[0] != '\0' && strcmp(value, "0") != 0;
    }
    if (!verbose)
        return;
    va_list args;
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fputc('\n', stderr);
}

void fuzz_require(int condition, const char *target, const char *message)
{
    if (condition)
        return;
    fprintf(stderr, "%s: check failed: %s\n", target, message);
    abort();
}
