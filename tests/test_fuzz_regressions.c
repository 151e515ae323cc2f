/*
 * Suite "fuzz_regressions": every input a fuzz target once crashed on, saved
 * as an HDF5 file as tests/fuzz/README.md describes, must now load or fail
 * cleanly through the normal path-based readers.
 *
 *   tests/fuzz/regressions/NAME.h5
 *       model files: nnb_model_load(), and when one loads, a few rows scored
 *       through every output
 *   tests/fuzz/regressions/dataset/NAME.h5
 *       data files: nnb_io_dataset_open() of /features for 4 features and 3
 *       classes, as fuzz_dataset opens them, once alone and once with
 *       /labels, then the first 64 blocks of rows and the last one read
 *
 * Paths are relative to the repository root, the working directory of
 * `make test`. A missing or empty directory passes.
 */
#include "io/dataset.h"
#include "suites.h"

#include <CUnit/CUnit.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_DIRECTORY "tests/fuzz/regressions"
#define DATA_DIRECTORY "tests/fuzz/regressions/dataset"

/* The model fuzz_dataset opens its files for. */
#define DATA_FEATURES "/features"
#define DATA_LABELS "/labels"
#define DATA_WIDTH 4
#define DATA_CLASSES 3

/* Rows scored per output of a model that loads, and the widest model
 * scored (floats per row over the input and every node). */
#define SCORED_ROWS 3
#define MAX_SCORED_FLOATS_PER_ROW 65536

/* Rows read from a data file: the first blocks and the last one. */
#define BLOCK_ROWS 7
#define MAX_BLOCKS 64

/* Record a CUnit assertion whose message names the file, so a failure
 * points to the saved input that broke. */
static void check_file(int condition, const char *path, const char *expectation)
{
    char message[512];
    snprintf(message, sizeof message, "%s: %s", path, expectation);
    CU_assertImplementation(condition ? CU_TRUE : CU_FALSE, __LINE__, message, __FILE__, "",
                            CU_FALSE);
}

/* Check the error record of a failed call: the status returned, one line. */
static void check_clean_failure(const char *path, nnb_status status, const nnb_error *error)
{
    check_file(error->status == status, path, "the error record holds the returned status");
    check_file(error->message[0] != '\0', path, "a failure leaves a message");
    check_file(strchr(error->message, '\n') == NULL, path, "the message is one line");
}

static int is_h5_file(const struct dirent *entry)
{
    size_t length = strlen(entry->d_name);
    return length > 3 && strcmp(entry->d_name + length - 3, ".h5") == 0;
}

/* Call `check` on each *.h5 file of `directory`, in name order. */
static void for_each_file(const char *directory, void (*check)(const char *path))
{
    struct dirent **entries = NULL;
    int count = scandir(directory, &entries, is_h5_file, alphasort);
    for (int i = 0; i < count; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", directory, entries[i]->d_name);
        check(path);
        free(entries[i]);
    }
    free(entries);
}

/* ---- Model files ------------------------------------------------------------ */

static int64_t floats_per_row(const nnb_model *model)
{
    int64_t total = nnb_model_input_width(model);
    for (int i = 0; i < nnb_model_node_count(model); i++)
        total += nnb_model_node_width(model, i);
    return total;
}

/* Score SCORED_ROWS rows of zeros through every output with one thread. */
static void score_model(const char *path, const nnb_model *model)
{
    if (floats_per_row(model) > MAX_SCORED_FLOATS_PER_ROW)
        return;

    nnb_options options;
    nnb_options_init(&options);
    options.threads = 1;
    nnb_run *run = NULL;
    nnb_error error;
    nnb_status status = nnb_run_create(model, &options, &run, &error);
    check_file(status == NNB_OK, path, "a loaded model gets a run context");
    if (status != NNB_OK)
        return;

    int64_t width = nnb_model_input_width(model);
    float *input = calloc((size_t)(SCORED_ROWS * width), sizeof *input);
    int32_t labels[SCORED_ROWS] = {0};
    for (int k = 0; k < nnb_model_output_count(model) && input != NULL; k++) {
        int64_t output_width = nnb_model_output_width(model, k);
        float *output = calloc((size_t)(SCORED_ROWS * output_width), sizeof *output);
        if (output == NULL)
            break;
        nnb_summary summary;
        const int32_t *labels_passed = nnb_model_label_classes(model) > 0 ? labels : NULL;
        status = nnb_score_array(run, SCORED_ROWS, input, width, labels_passed, k, output,
                                 output_width, &summary, &error);
        check_file(status == NNB_OK, path, "every output of a loaded model scores");
        free(output);
    }
    free(input);
    nnb_run_free(run);
}

static void check_model_file(const char *path)
{
    nnb_model *model = NULL;
    nnb_error error;
    nnb_status status = nnb_model_load(path, &model, &error);
    if (status != NNB_OK) {
        check_file(model == NULL, path, "a failed load returns no model");
        check_clean_failure(path, status, &error);
        return;
    }
    check_file(model != NULL, path, "a successful load returns a model");
    if (model != NULL)
        score_model(path, model);
    nnb_model_free(model);
}

static void test_model_files(void)
{
    for_each_file(MODEL_DIRECTORY, check_model_file);
}

/* ---- Data files ------------------------------------------------------------- */

static void read_rows(const char *path, nnb_io_dataset_reader *reader, int with_labels)
{
    float features[BLOCK_ROWS * DATA_WIDTH];
    int32_t labels[BLOCK_ROWS];
    int64_t rows = nnb_io_dataset_rows(reader);
    check_file(rows > 0, path, "an opened dataset has rows");

    int64_t first = 0;
    for (int block = 0; block <= MAX_BLOCKS && first < rows; block++) {
        /* After MAX_BLOCKS blocks, jump to the last block. */
        if (block == MAX_BLOCKS)
            first = rows > BLOCK_ROWS ? rows - BLOCK_ROWS : 0;
        int64_t count = rows - first < BLOCK_ROWS ? rows - first : BLOCK_ROWS;
        nnb_error error;
        nnb_status status = nnb_io_dataset_read(reader, first, count, features, DATA_WIDTH,
                                                with_labels ? labels : NULL, &error);
        if (status != NNB_OK) {
            check_file(status == NNB_ERR_LABEL || status == NNB_ERR_IO, path,
                       "a failed read reports bad labels or an I/O error");
            check_clean_failure(path, status, &error);
            return;
        }
        first += count;
    }
}

static void open_and_read(const char *path, const char *labels)
{
    nnb_io_dataset_reader *reader = NULL;
    nnb_error error;
    nnb_status status = nnb_io_dataset_open(path, DATA_FEATURES, labels, DATA_WIDTH,
                                            DATA_CLASSES, &reader, &error);
    if (status != NNB_OK) {
        check_file(reader == NULL, path, "a failed open returns no reader");
        check_clean_failure(path, status, &error);
        return;
    }
    read_rows(path, reader, labels != NULL);
    nnb_io_dataset_close(reader);
}

static void check_data_file(const char *path)
{
    open_and_read(path, NULL);
    open_and_read(path, DATA_LABELS);
}

static void test_data_files(void)
{
    for_each_file(DATA_DIRECTORY, check_data_file);
}

int nnb_test_register_fuzz_regressions(void)
{
    CU_pSuite suite = CU_add_suite("fuzz_regressions", NULL, NULL);
    if (suite == NULL)
        return -1;
    if (CU_add_test(suite, "saved model inputs", test_model_files) == NULL
        || CU_add_test(suite, "saved data inputs", test_data_files) == NULL)
        return -1;
    return 0;
}
