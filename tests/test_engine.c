/*
 * Engine: tiling edge cases, results independent of thread count and tile
 * size (bitwise), agreement with a double-precision reference, and the
 * argument checks of nnb_score_array().
 */
#include "fixtures.h"
#include "suites.h"

#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IN 20
#define HIDDEN1 33
#define HIDDEN2 16
#define CLASSES 5

static float weight1[HIDDEN1 * IN], bias1[HIDDEN1];
static float weight2[HIDDEN2 * HIDDEN1], bias2[HIDDEN2];
static float weight3[CLASSES * HIDDEN2], bias3[CLASSES];
static test_layer layers[3];
static test_mlp mlp;

static int engine_setup(void)
{
    test_fill_random(weight1, HIDDEN1 * IN, 11, 0.5f);
    test_fill_random(bias1, HIDDEN1, 12, 0.1f);
    test_fill_random(weight2, HIDDEN2 * HIDDEN1, 13, 0.5f);
    test_fill_random(bias2, HIDDEN2, 14, 0.1f);
    test_fill_random(weight3, CLASSES * HIDDEN2, 15, 0.5f);
    test_fill_random(bias3, CLASSES, 16, 0.1f);
    layers[0] = (test_layer){IN, HIDDEN1, weight1, bias1, NNB_OP_RELU};
    layers[1] = (test_layer){HIDDEN1, HIDDEN2, weight2, bias2, NNB_OP_TANH};
    layers[2] = (test_layer){HIDDEN2, CLASSES, weight3, bias3, NNB_OP_COUNT};
    mlp = (test_mlp){IN, layers, 3, 1};
    return 0;
}

typedef struct scored {
    float *probabilities; /* rows x CLASSES */
    float *loss;          /* rows */
    nnb_summary summary;
} scored;

static void scored_free(scored *s)
{
    free(s->probabilities);
    free(s->loss);
}

/* Score `rows` rows with the given threads and tile rows. */
static scored score_with(const float *x, const int32_t *labels, int64_t rows, int threads,
                         int64_t tile_rows)
{
    scored result = {0};
    result.probabilities = calloc((size_t)(rows * CLASSES) + 1, sizeof(float));
    result.loss = calloc((size_t)rows + 1, sizeof(float));
    nnb_model *model = test_mlp_model(&mlp);
    nnb_options options;
    nnb_options_init(&options);
    options.threads = threads;
    options.tile_rows = tile_rows;
    nnb_run *run = NULL;
    nnb_error error;
    CU_ASSERT_EQUAL_FATAL(nnb_run_create(model, &options, &run, &error), NNB_OK);
    CU_ASSERT_EQUAL(nnb_run_threads(run), threads);
    CU_ASSERT_EQUAL(nnb_run_tile_rows(run), tile_rows);
    CU_ASSERT_EQUAL(nnb_score_array(run, rows, x, IN, labels, 1, result.probabilities, CLASSES,
                                    &result.summary, &error),
                    NNB_OK);
    nnb_summary loss_summary;
    CU_ASSERT_EQUAL(nnb_score_array(run, rows, x, IN, labels, 2, result.loss, 1, &loss_summary,
                                    &error),
                    NNB_OK);
    nnb_run_free(run);
    nnb_model_free(model);
    return result;
}

static void make_rows(int64_t rows, float **x, int32_t **labels)
{
    *x = malloc((size_t)(rows * IN) * sizeof(float));
    *labels = malloc((size_t)rows * sizeof(int32_t));
    test_fill_random(*x, rows * IN, 99, 2.0f);
    for (int64_t i = 0; i < rows; i++)
        (*labels)[i] = (int32_t)((i * 7 + 3) % CLASSES);
}

static void assert_bitwise_equal(const scored *a, const scored *b, int64_t rows)
{
    CU_ASSERT_EQUAL(memcmp(a->probabilities, b->probabilities,
                           (size_t)(rows * CLASSES) * sizeof(float)),
                    0);
    CU_ASSERT_EQUAL(memcmp(a->loss, b->loss, (size_t)rows * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(&a->summary.mean_loss, &b->summary.mean_loss, sizeof(double)), 0);
    CU_ASSERT_EQUAL(a->summary.correct, b->summary.correct);
}

static void test_threads_and_tiles_bitwise(void)
{
    const int64_t rows = 5003;
    float *x;
    int32_t *labels;
    make_rows(rows, &x, &labels);

    scored base = score_with(x, labels, rows, 1, 4096);
    const int threads[] = {1, 2, 3, 7};
    const int64_t tiles[] = {1, 33, 37, 1000, 4096};
    for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
        for (size_t k = 0; k < sizeof tiles / sizeof tiles[0]; k++) {
            scored other = score_with(x, labels, rows, threads[t], tiles[k]);
            assert_bitwise_equal(&base, &other, rows);
            scored_free(&other);
        }
    }
    scored_free(&base);
    free(x);
    free(labels);
}

static void test_matches_reference(void)
{
    const int64_t rows = 300;
    float *x;
    int32_t *labels;
    make_rows(rows, &x, &labels);
    scored result = score_with(x, labels, rows, 2, 64);

    double loss_sum = 0.0;
    int64_t correct = 0;
    for (int64_t r = 0; r < rows; r++) {
        double logits[CLASSES], probabilities[CLASSES];
        double loss = test_mlp_reference(&mlp, x + r * IN, labels[r], logits, probabilities);
        loss_sum += loss;
        int best = 0;
        for (int j = 1; j < CLASSES; j++)
            best = logits[j] > logits[best] ? j : best;
        correct += best == labels[r];
        for (int j = 0; j < CLASSES; j++)
            CU_ASSERT_DOUBLE_EQUAL(result.probabilities[r * CLASSES + j], probabilities[j], 1e-5);
        CU_ASSERT_DOUBLE_EQUAL(result.loss[r], loss, 1e-4);
    }
    CU_ASSERT_DOUBLE_EQUAL(result.summary.mean_loss, loss_sum / (double)rows, 1e-5);
    CU_ASSERT_EQUAL(result.summary.correct, correct);
    CU_ASSERT_DOUBLE_EQUAL(result.summary.accuracy, (double)correct / (double)rows, 1e-12);
    scored_free(&result);
    free(x);
    free(labels);
}

/* Rows not a multiple of the tile, a single row, a tile larger than the
 * data: each must match the same rows scored with tile rows 1. */
static void test_tile_edges(void)
{
    const int64_t row_counts[] = {1, 2, 37, 100};
    const int64_t tiles[] = {7, 64, 4096};
    for (size_t r = 0; r < sizeof row_counts / sizeof row_counts[0]; r++) {
        int64_t rows = row_counts[r];
        float *x;
        int32_t *labels;
        make_rows(rows, &x, &labels);
        scored base = score_with(x, labels, rows, 1, 1);
        CU_ASSERT_EQUAL(base.summary.rows, rows);
        for (size_t k = 0; k < sizeof tiles / sizeof tiles[0]; k++) {
            scored other = score_with(x, labels, rows, 2, tiles[k]);
            assert_bitwise_equal(&base, &other, rows);
            scored_free(&other);
        }
        scored_free(&base);
        free(x);
        free(labels);
    }
}

static void test_strided_arrays(void)
{
    const int64_t rows = 50, ld_in = IN + 3, ld_out = CLASSES + 2;
    float *x;
    int32_t *labels;
    make_rows(rows, &x, &labels);
    float *padded = calloc((size_t)(rows * ld_in), sizeof(float));
    for (int64_t r = 0; r < rows; r++)
        memcpy(padded + r * ld_in, x + r * IN, IN * sizeof(float));
    float *out = malloc((size_t)(rows * ld_out) * sizeof(float));
    for (int64_t i = 0; i < rows * ld_out; i++)
        out[i] = -7.0f;

    nnb_model *model = test_mlp_model(&mlp);
    nnb_run *run = NULL;
    nnb_options options;
    nnb_options_init(&options);
    options.threads = 2;
    options.tile_rows = 16;
    nnb_error error;
    nnb_summary summary;
    CU_ASSERT_EQUAL_FATAL(nnb_run_create(model, &options, &run, &error), NNB_OK);
    CU_ASSERT_EQUAL(nnb_score_array(run, rows, padded, ld_in, labels, 1, out, ld_out, &summary,
                                    &error),
                    NNB_OK);

    scored dense = score_with(x, labels, rows, 1, 16);
    for (int64_t r = 0; r < rows; r++) {
        CU_ASSERT_EQUAL(memcmp(out + r * ld_out, dense.probabilities + r * CLASSES,
                               CLASSES * sizeof(float)),
                        0);
        /* Padding columns are left as they were. */
        CU_ASSERT_EQUAL(out[r * ld_out + CLASSES], -7.0f);
    }
    scored_free(&dense);
    nnb_run_free(run);
    nnb_model_free(model);
    free(out);
    free(padded);
    free(x);
    free(labels);
}

static void test_array_argument_errors(void)
{
    nnb_model *model = test_mlp_model(&mlp);
    nnb_run *run = NULL;
    nnb_error error;
    nnb_summary summary;
    CU_ASSERT_EQUAL_FATAL(nnb_run_create(model, NULL, &run, &error), NNB_OK);
    float x[IN * 2] = {0};
    float out[CLASSES * 2];
    int32_t bad_labels[2] = {0, CLASSES};

    CU_ASSERT_EQUAL(nnb_score_array(run, 2, x, IN, bad_labels, 1, out, CLASSES, &summary, &error),
                    NNB_ERR_LABEL);
    CU_ASSERT_PTR_NOT_NULL(strstr(error.message, "row 1"));

    CU_ASSERT_EQUAL(nnb_score_array(run, 2, x, IN, NULL, 2, out, 1, &summary, &error),
                    NNB_ERR_LABEL);
    CU_ASSERT_EQUAL(nnb_score_array(run, 2, x, IN, NULL, 9, out, CLASSES, &summary, &error),
                    NNB_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(nnb_score_array(run, 2, x, IN - 1, NULL, 1, out, CLASSES, &summary, &error),
                    NNB_ERR_SHAPE);

    /* Without labels, outputs that do not need them still score. */
    CU_ASSERT_EQUAL(nnb_score_array(run, 2, x, IN, NULL, 1, out, CLASSES, &summary, &error),
                    NNB_OK);
    CU_ASSERT_FALSE(summary.has_labels);
    nnb_run_free(run);
    nnb_model_free(model);
}

static void test_nonfinite_rows_counted(void)
{
    const float w[] = {2.0f, 2.0f, 2.0f, 0.5f, 0.5f, 0.5f};
    const float b[] = {0.1f, -0.2f};
    const test_layer layer = {3, 2, w, b, NNB_OP_COUNT};
    const test_mlp linear = {3, &layer, 1, 0};
    float x[8 * 3];
    test_fill_random(x, 8 * 3, 41, 1.0f);
    x[2 * 3 + 1] = NAN;                           /* input NaN */
    x[4 * 3 + 0] = -INFINITY;                     /* input infinity */
    x[6 * 3 + 0] = x[6 * 3 + 1] = 3e38f;          /* finite input, output overflows */

    nnb_model *model = test_mlp_model(&linear);
    nnb_run *run = NULL;
    nnb_error error;
    nnb_summary summary;
    float out[8 * 2];
    CU_ASSERT_EQUAL_FATAL(nnb_run_create(model, NULL, &run, &error), NNB_OK);
    CU_ASSERT_EQUAL(nnb_score_array(run, 8, x, 3, NULL, 0, out, 2, &summary, &error), NNB_OK);
    CU_ASSERT_EQUAL(summary.nonfinite_rows, 3);
    CU_ASSERT_TRUE(isinf(out[6 * 2 + 0]));
    nnb_run_free(run);
    nnb_model_free(model);
}

/* Score x = 1 through y = x * w with subnormal w, flushing or keeping
 * subnormals. */
static float score_subnormal(int keep_denormals)
{
    const float w[] = {1e-39f}; /* below FLT_MIN: subnormal */
    const test_layer layer = {1, 1, w, NULL, NNB_OP_COUNT};
    const test_mlp single = {1, &layer, 1, 0};
    nnb_model *model = test_mlp_model(&single);
    nnb_options options;
    nnb_options_init(&options);
    options.threads = 2;
    options.keep_denormals = keep_denormals;
    nnb_run *run = NULL;
    nnb_error error;
    nnb_summary summary;
    float x[4] = {1.0f, 1.0f, 1.0f, 1.0f}, y[4] = {-1.0f, -1.0f, -1.0f, -1.0f};
    CU_ASSERT_EQUAL(nnb_run_create(model, &options, &run, &error), NNB_OK);
    CU_ASSERT_EQUAL(nnb_score_array(run, 4, x, 1, NULL, 0, y, 1, &summary, &error), NNB_OK);
    nnb_run_free(run);
    nnb_model_free(model);
    CU_ASSERT_EQUAL(y[3], y[0]);
    return y[0];
}

static void test_subnormals_flushed_by_default(void)
{
#if defined(__SSE2__)
    CU_ASSERT_EQUAL(score_subnormal(0), 0.0f);
#endif
    CU_ASSERT_EQUAL(score_subnormal(1), 1e-39f);

    /* The caller's own floating-point mode is left as it was. */
    volatile float tiny = 1e-39f;
    CU_ASSERT_TRUE(tiny * 1.0f != 0.0f);
}

static void test_run_option_errors(void)
{
    nnb_model *model = test_mlp_model(&mlp);
    nnb_run *run = NULL;
    nnb_error error;
    nnb_options options;

    nnb_options_init(&options);
    options.threads = -1;
    CU_ASSERT_EQUAL(nnb_run_create(model, &options, &run, &error), NNB_ERR_INVALID_ARGUMENT);
    CU_ASSERT_PTR_NULL(run);

    nnb_options_init(&options);
    options.tile_rows = -5;
    CU_ASSERT_EQUAL(nnb_run_create(model, &options, &run, &error), NNB_ERR_INVALID_ARGUMENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(error.message, "tile rows"));
    nnb_model_free(model);
}

/* ---- Files scored in several blocks -------------------------------------- */

#define WIDE 1024
#define WIDE_ROWS 2500

static float wide_weight1[8 * WIDE], wide_bias1[8], wide_weight2[4 * 8], wide_bias2[4];

/* A model wide enough that a few thousand rows span several blocks of the
 * pipeline, so reads, scoring and writes of different blocks overlap. */
static test_mlp wide_mlp(test_layer *storage)
{
    test_fill_random(wide_weight1, 8 * WIDE, 31, 0.1f);
    test_fill_random(wide_bias1, 8, 32, 0.1f);
    test_fill_random(wide_weight2, 4 * 8, 33, 0.5f);
    test_fill_random(wide_bias2, 4, 34, 0.1f);
    storage[0] = (test_layer){WIDE, 8, wide_weight1, wide_bias1, NNB_OP_RELU};
    storage[1] = (test_layer){8, 4, wide_weight2, wide_bias2, NNB_OP_COUNT};
    return (test_mlp){WIDE, storage, 2, 1};
}

/* Write WIDE_ROWS random rows and labels; label `bad_row` is set out of
 * range when it is >= 0. */
static void write_wide_data(const char *path, float *x, int32_t *labels, int bad_row)
{
    test_fill_random(x, (int64_t)WIDE_ROWS * WIDE, 35, 1.0f);
    for (int i = 0; i < WIDE_ROWS; i++)
        labels[i] = i % 4;
    if (bad_row >= 0)
        labels[bad_row] = 4;
    CU_ASSERT_EQUAL_FATAL(test_write_matrix(path, 1, "x", WIDE_ROWS, WIDE, x), 0);
    CU_ASSERT_EQUAL_FATAL(test_write_labels(path, "y", WIDE_ROWS, labels), 0);
}

static int cancel_after_first_block(void *user_data, int64_t rows_done, int64_t rows_total)
{
    (void)rows_total;
    *(int64_t *)user_data = rows_done;
    return 1;
}

/* Score the wide data file to `output` with the given options. */
static nnb_status score_wide_file(const test_mlp *spec, const char *data, const char *output,
                                  nnb_options *options, nnb_summary *summary, nnb_error *error)
{
    nnb_model *model = test_mlp_model(spec);
    nnb_run *run = NULL;
    nnb_status status = nnb_run_create(model, options, &run, error);
    if (status == NNB_OK) {
        nnb_file_request request = {data, "x", "y", output};
        status = nnb_score_file(run, &request, summary, error);
    }
    nnb_run_free(run);
    nnb_model_free(model);
    return status;
}

/* A wide test model with its data file: WIDE_ROWS rows, labels and paths
 * for the data and the output, named after `name`. */
typedef struct wide_files {
    test_layer storage[2];
    test_mlp spec;
    float *x;
    int32_t *labels;
    char data[600];
    char output[600];
} wide_files;

/* Build the model and write its data file; label `bad_row` is out of range
 * when it is >= 0. */
static void wide_files_create(wide_files *f, const char *name, int bad_row)
{
    f->spec = wide_mlp(f->storage);
    f->x = malloc(sizeof(float) * WIDE_ROWS * WIDE);
    f->labels = malloc(sizeof(int32_t) * WIDE_ROWS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f->x);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f->labels);
    char file_name[200];
    snprintf(file_name, sizeof file_name, "%s.h5", name);
    snprintf(f->data, sizeof f->data, "%s", test_temp_path(file_name));
    snprintf(file_name, sizeof file_name, "%s-out.h5", name);
    snprintf(f->output, sizeof f->output, "%s", test_temp_path(file_name));
    write_wide_data(f->data, f->x, f->labels, bad_row);
}

static void wide_files_free(wide_files *f)
{
    free(f->labels);
    free(f->x);
}

static void test_file_blocks_match_array(void)
{
    wide_files f;
    wide_files_create(&f, "wide", -1);

    nnb_options options;
    nnb_options_init(&options);
    options.threads = 2;
    options.tile_rows = 100;
    nnb_summary file_summary;
    nnb_error error;
    CU_ASSERT_EQUAL_FATAL(score_wide_file(&f.spec, f.data, f.output, &options, &file_summary, &error),
                          NNB_OK);

    nnb_model *model = test_mlp_model(&f.spec);
    nnb_run *run = NULL;
    CU_ASSERT_EQUAL_FATAL(nnb_run_create(model, &options, &run, &error), NNB_OK);
    float *expected = malloc(sizeof(float) * WIDE_ROWS * 4);
    nnb_summary array_summary;
    CU_ASSERT_EQUAL(nnb_score_array(run, WIDE_ROWS, f.x, WIDE, f.labels, 1, expected, 4,
                                    &array_summary, &error),
                    NNB_OK);

    int64_t rows, cols;
    float *probabilities = test_read_matrix(f.output, "probabilities", &rows, &cols);
    CU_ASSERT_PTR_NOT_NULL_FATAL(probabilities);
    CU_ASSERT_EQUAL(rows, WIDE_ROWS);
    CU_ASSERT_EQUAL(memcmp(probabilities, expected, sizeof(float) * WIDE_ROWS * 4), 0);
    CU_ASSERT_EQUAL(memcmp(&file_summary.mean_loss, &array_summary.mean_loss, sizeof(double)), 0);
    CU_ASSERT_EQUAL(file_summary.correct, array_summary.correct);

    free(probabilities);
    free(expected);
    nnb_run_free(run);
    nnb_model_free(model);
    wide_files_free(&f);
}

static void test_late_bad_label_fails_cleanly(void)
{
    wide_files f;
    wide_files_create(&f, "wide-bad", 2400);

    nnb_options options;
    nnb_options_init(&options);
    options.threads = 2;
    options.tile_rows = 64;
    nnb_summary summary;
    nnb_error error;
    CU_ASSERT_EQUAL(score_wide_file(&f.spec, f.data, f.output, &options, &summary, &error),
                    NNB_ERR_LABEL);
    CU_ASSERT_PTR_NOT_NULL(strstr(error.message, "row 2400"));
    CU_ASSERT_FALSE(test_file_exists(f.output));
    wide_files_free(&f);
}

static void test_cancel_leaves_no_output(void)
{
    wide_files f;
    wide_files_create(&f, "wide-cancel", -1);

    int64_t rows_done = -1;
    nnb_options options;
    nnb_options_init(&options);
    options.threads = 2;
    options.progress = cancel_after_first_block;
    options.progress_user_data = &rows_done;
    nnb_summary summary;
    nnb_error error;
    CU_ASSERT_EQUAL(score_wide_file(&f.spec, f.data, f.output, &options, &summary, &error),
                    NNB_ERR_CANCELLED);
    CU_ASSERT_TRUE(rows_done > 0 && rows_done < WIDE_ROWS);
    CU_ASSERT_FALSE(test_file_exists(f.output));
    wide_files_free(&f);
}

/* A last layer with one output column (a matrix-vector product) scores
 * every row the same way for any tiling, and matches the double reference.
 * Depths 20 and 37 leave remainders after the kernel's groups of 8. */
static void test_one_column_output(void)
{
    const int64_t rows = 1001, depths[] = {20, 37};
    for (size_t d = 0; d < sizeof depths / sizeof depths[0]; d++) {
        int64_t depth = depths[d];
        float *w1 = malloc(sizeof(float) * (size_t)(depth * IN));
        float *w2 = malloc(sizeof(float) * (size_t)depth);
        float b1[64], b2[1];
        float *x = malloc(sizeof(float) * (size_t)(rows * IN));
        test_fill_random(w1, depth * IN, 51, 0.5f);
        test_fill_random(w2, depth, 52, 0.5f);
        test_fill_random(b1, depth, 53, 0.1f);
        test_fill_random(b2, 1, 54, 0.1f);
        test_fill_random(x, rows * IN, 55, 2.0f);
        test_layer tabular[2] = {{IN, depth, w1, b1, NNB_OP_RELU},
                                 {depth, 1, w2, b2, NNB_OP_SIGMOID}};
        test_mlp spec = {IN, tabular, 2, 0};
        nnb_model *model = test_mlp_model(&spec);

        const int threads[] = {1, 2, 3};
        const int64_t tiles[] = {1, 7, 64, 4096};
        float *base = NULL;
        for (size_t t = 0; t < 3; t++) {
            for (size_t k = 0; k < 4; k++) {
                float *y = calloc((size_t)rows, sizeof(float));
                nnb_options options;
                nnb_options_init(&options);
                options.threads = threads[t];
                options.tile_rows = tiles[k];
                nnb_run *run = NULL;
                nnb_error error;
                nnb_summary summary;
                CU_ASSERT_EQUAL_FATAL(nnb_run_create(model, &options, &run, &error), NNB_OK);
                CU_ASSERT_EQUAL(nnb_score_array(run, rows, x, IN, NULL, 0, y, 1, &summary,
                                                &error),
                                NNB_OK);
                nnb_run_free(run);
                if (base == NULL) {
                    base = y;
                    continue;
                }
                CU_ASSERT_EQUAL(memcmp(base, y, (size_t)rows * sizeof(float)), 0);
                free(y);
            }
        }
        double worst = 0.0;
        for (int64_t r = 0; r < rows; r++) {
            double logit;
            test_mlp_reference(&spec, x + r * IN, -1, &logit, NULL);
            double error = fabs((double)base[r] - logit);
            worst = error > worst ? error : worst;
        }
        CU_ASSERT(worst < 1e-6);
        free(base);
        nnb_model_free(model);
        free(x);
        free(w2);
        free(w1);
    }
}

/* Stop the run the second time it reports all rows done: that is the call
 * nnb_score_file() makes just before it commits the output. */
static int cancel_before_commit(void *user_data, int64_t rows_done, int64_t rows_total)
{
    int *finished_calls = user_data;
    if (rows_done == rows_total)
        ++*finished_calls;
    return *finished_calls >= 2;
}

static void test_late_cancel_leaves_no_output(void)
{
    wide_files f;
    wide_files_create(&f, "wide-late", -1);

    int finished_calls = 0;
    nnb_options options;
    nnb_options_init(&options);
    options.threads = 2;
    options.progress = cancel_before_commit;
    options.progress_user_data = &finished_calls;
    nnb_summary summary;
    nnb_error error;
    CU_ASSERT_EQUAL(score_wide_file(&f.spec, f.data, f.output, &options, &summary, &error),
                    NNB_ERR_CANCELLED);
    CU_ASSERT_EQUAL(finished_calls, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(error.message, "before"));
    CU_ASSERT_FALSE(test_file_exists(f.output));
    wide_files_free(&f);
}

static double process_cpu_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}

/* Assert that the process uses under a tenth of a core while it sleeps for
 * 0.4 s, 50 ms after a run returned. */
static void assert_idle_after_run(const char *run_kind)
{
    struct timespec settle = {0, 50 * 1000 * 1000}, window = {0, 400 * 1000 * 1000};
    nanosleep(&settle, NULL);
    double before = process_cpu_seconds();
    nanosleep(&window, NULL);
    double used = process_cpu_seconds() - before;
    CU_ASSERT(used < 0.04);
    if (used >= 0.04)
        fprintf(stderr, "\n  %s: %.3f CPU seconds used in 0.4 s after the run\n", run_kind,
                used);
}

/* Once a run returns, no thread it started keeps a core busy: OpenMP
 * workers may spin briefly before they sleep, BLIS starts none, and a file
 * run joins its reader and writer threads. */
static void test_no_busy_threads_after_run(void)
{
    const int64_t rows = 20000;
    float *x;
    int32_t *labels;
    make_rows(rows, &x, &labels);
    scored result = score_with(x, labels, rows, 2, 64);
    CU_ASSERT_EQUAL(result.summary.rows, rows);
    assert_idle_after_run("array");
    scored_free(&result);
    free(x);
    free(labels);

    wide_files f;
    wide_files_create(&f, "wide-idle", -1);
    nnb_options options;
    nnb_options_init(&options);
    options.threads = 2;
    nnb_summary summary;
    nnb_error error;
    CU_ASSERT_EQUAL(score_wide_file(&f.spec, f.data, f.output, &options, &summary, &error),
                    NNB_OK);
    assert_idle_after_run("file");
    wide_files_free(&f);
}

static int engine_cleanup(void)
{
    test_temp_cleanup();
    return 0;
}

int nnb_test_register_engine(void)
{
    CU_pSuite suite = CU_add_suite("engine", engine_setup, engine_cleanup);
    if (suite == NULL)
        return -1;
    int failed = 0;
    failed |= CU_add_test(suite, "threads and tiles bitwise", test_threads_and_tiles_bitwise)
              == NULL;
    failed |= CU_add_test(suite, "matches reference", test_matches_reference) == NULL;
    failed |= CU_add_test(suite, "tile edges", test_tile_edges) == NULL;
    failed |= CU_add_test(suite, "strided arrays", test_strided_arrays) == NULL;
    failed |= CU_add_test(suite, "array argument errors", test_array_argument_errors) == NULL;
    failed |= CU_add_test(suite, "run option errors", test_run_option_errors) == NULL;
    failed |= CU_add_test(suite, "subnormals flushed by default",
                          test_subnormals_flushed_by_default) == NULL;
    failed |= CU_add_test(suite, "non-finite rows counted", test_nonfinite_rows_counted) == NULL;
    failed |= CU_add_test(suite, "file blocks match array", test_file_blocks_match_array) == NULL;
    failed |= CU_add_test(suite, "late bad label fails cleanly",
                          test_late_bad_label_fails_cleanly) == NULL;
    failed |= CU_add_test(suite, "cancel leaves no output", test_cancel_leaves_no_output) == NULL;
    failed |= CU_add_test(suite, "one-column output", test_one_column_output) == NULL;
    failed |= CU_add_test(suite, "late cancel leaves no output", test_late_cancel_leaves_no_output)
              == NULL;
    failed |= CU_add_test(suite, "no busy threads after a run", test_no_busy_threads_after_run)
              == NULL;
    return failed ? -1 : 0;
}
