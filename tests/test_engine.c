/*
 * Engine: tiling edge cases, results independent of thread count and tile
 * size (bitwise), agreement with a double-precision reference, and the
 * argument checks of nnb_score_array().
 */
#include "fixtures.h"
#include "suites.h"

#include <CUnit/CUnit.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

int nnb_test_register_engine(void)
{
    CU_pSuite suite = CU_add_suite("engine", engine_setup, NULL);
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
    return failed ? -1 : 0;
}
