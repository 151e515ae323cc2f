/*
 * Fuzz target: the fuzz input is the bytes of a model file. It is written to
 * a file in /dev/shm and loaded with nnb_model_load(), the call that
 * `nnbatch score` and `nnbatch info` make, so the input exercises HDF5's file
 * parser as well as nnbatch's model reader and graph checks.
 *
 * The loader takes a path and its reader functions are private to
 * io/model_file.c, so a tmpfs file is the way to run that exact code on
 * bytes held in memory.
 */
#include "fuzz_common.h"
#include "fuzz_model.h"
#include "nnbatch.h"

#include <stddef.h>
#include <stdint.h>

#define TARGET "fuzz_model_bytes"

static const char *model_path;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_hdf5_init();
    model_path = fuzz_temp_path("model-bytes");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_write_file(model_path, data, size);

    nnb_error error = {0};
    nnb_model *model = NULL;
    nnb_status status = nnb_model_load(model_path, &model, &error);
    fuzz_check_load_result(TARGET, model_path, status, model, &error);
    if (model != NULL)
        fuzz_check_model(TARGET, model);
    nnb_model_free(model);

    fuzz_check_no_open_objects("nnb_model_load");
    return 0;
}
