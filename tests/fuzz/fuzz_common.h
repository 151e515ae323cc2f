/*
 * Helpers shared by the libFuzzer targets in this directory. They read
 * choices from the fuzz input, build HDF5 file images in memory and write
 * them to the tmpfs file that the path-based readers open. A check aborts
 * the run when nnbatch leaves HDF5 objects open.
 */
#ifndef NNB_FUZZ_COMMON_H
#define NNB_FUZZ_COMMON_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

/* The fuzz input read front to back. Once it is used up every take returns
 * 0, so a short input still describes a whole file. */
typedef struct fuzz_recipe {
    const uint8_t *data;
    size_t size;
    size_t position;
} fuzz_recipe;

void fuzz_recipe_init(fuzz_recipe *recipe, const uint8_t *data, size_t size);
uint8_t fuzz_take_byte(fuzz_recipe *recipe);
/* A byte reduced modulo `count` (count > 0): picks one of `count` choices. */
unsigned fuzz_take_choice(fuzz_recipe *recipe, unsigned count);

/* Turn off HDF5's error-stack printing for the whole process: building a
 * broken file on purpose makes HDF5 calls fail. Call once from
 * LLVMFuzzerInitialize. */
void fuzz_hdf5_init(void);

/* Print a line to stderr when the environment variable NNB_FUZZ_VERBOSE is
 * set, for checking what a seed or crash input does. */
void fuzz_log(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* Create an empty HDF5 file in memory (core driver, no backing store), in
 * the object formats of HDF5 1.8 (superblock version 0).
 * NOTE: newer superblocks are not offered because H5Fget_file_image() of
 * HDF5 1.10.8 clears their status flags in the image without updating the
 * superblock checksum, so such an image cannot be reopened. Returns a
 * negative id on failure. */
hid_t fuzz_image_create(void);

/* Flush and close a file made by fuzz_image_create() and store its bytes in
 * a new buffer (*image, *size). Closes the file even on failure. Returns 0
 * on success. */
int fuzz_image_finish(hid_t file, uint8_t **image, size_t *size);

/* Make the path of a file in /dev/shm for `target` (such as "model") and
 * this process, removed at exit. The path-based nnbatch readers open the
 * fuzz inputs there. Call once per target. */
const char *fuzz_temp_path(const char *target);

/* Replace the file at `path` with `size` bytes. Aborts when the write
 * fails, because every later input would then test a stale file. When the
 * environment variable NNB_FUZZ_SAVE_FILE is set, also writes the bytes to
 * that path, which turns a recipe into the HDF5 file it describes. */
void fuzz_write_file(const char *path, const uint8_t *data, size_t size);

/* Abort with a message when any HDF5 identifier of a file, dataset, group,
 * datatype or attribute is still open: nnbatch must close everything it
 * opened, even on a failure path. `context` names the call checked. */
void fuzz_check_no_open_objects(const char *context);

/* Abort with `message` (and the fuzz target's name) when `condition` is
 * false. Used for the targets' own oracles, so a failed check is a crash
 * that libFuzzer saves. */
void fuzz_require(int condition, const char *target, const char *message);

#endif
