/*
 * Operators: the forward-pass worked examples run through the engine (BLIS
 * GEMM included), and the row kernels on their own, including the numerics
 * of softmax and cross-entropy at extreme values.
 */
#include "engine/kernels.h"
#include "fixtures.h"
#include "suites.h"

#include <CUnit/CUnit.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tolerance for results that are exact in decimal but rounded in float32. */
#define FLOAT_TOLERANCE 1e-6

/* Score `rows` rows through `mlp` and return output `output_index`. */
static void score(const test_mlp *mlp, int64_t rows, const float *x, const int32_t *labels,
                  int output_index, float *out, int64_t width, nnb_summary *summary)
{
    nnb_model *model = test_mlp_model(mlp);
    nnb_options options;
    nnb_options_init(&options);
    options.threads = 1;
    nnb_run *run = NULL;
    nnb_error error;
    CU_ASSERT_EQUAL_FATAL(nnb_run_create(model, &options, &run, &error), NNB_OK);
    CU_ASSERT_EQUAL(nnb_score_array(run, rows, x, mlp->input_width, labels, output_index, out,
                                    width, summary, &error),
                    NNB_OK);
    nnb_run_free(run);
    nnb_model_free(model);
}

static void test_perceptron(void)
{
    const float w[] = {0.4f, -0.1f, 0.8f};
    const float b[] = {0.2f};
    const test_layer layer = {3, 1, w, b, NNB_OP_COUNT};
    const test_mlp mlp = {3, &layer, 1, 0};
    const float x[] = {0.5f, 1.2f, -0.3f};
    float z = NAN;
    nnb_summary summary;

    score(&mlp, 1, x, NULL, 0, &z, 1, &summary);
    CU_ASSERT_DOUBLE_EQUAL(z, 0.04, FLOAT_TOLERANCE);
    CU_ASSERT_EQUAL(summary.rows, 1);
}

static void test_layer_with_relu(void)
{
    const float w[] = {0.5f, -0.2f, 0.1f, -0.3f, 0.4f, 0.7f};
    const float b[] = {0.1f, -0.2f};
    const float x[] = {1.0f, 2.0f, -1.0f};
    const test_layer linear = {3, 2, w, b, NNB_OP_COUNT};
    const test_layer rectified = {3, 2, w, b, NNB_OP_RELU};
    const test_mlp mlp_linear = {3, &linear, 1, 0};
    const test_mlp mlp_relu = {3, &rectified, 1, 0};
    float z[2], a[2];
    nnb_summary summary;

    score(&mlp_linear, 1, x, NULL, 0, z, 2, &summary);
    CU_ASSERT_DOUBLE_EQUAL(z[0], 0.1, FLOAT_TOLERANCE);
    CU_ASSERT_DOUBLE_EQUAL(z[1], -0.4, FLOAT_TOLERANCE);

    score(&mlp_relu, 1, x, NULL, 0, a, 2, &summary);
    CU_ASSERT_DOUBLE_EQUAL(a[0], 0.1, FLOAT_TOLERANCE);
    CU_ASSERT_EQUAL(a[1], 0.0f);
}

/* The 2-3-2 network of the worked example. */
static const float w1[] = {0.4f, -0.3f, -0.2f, 0.5f, 0.8f, 0.1f};
static const float b1[] = {0.1f, -0.1f, 0.0f};
static const float w2[] = {0.6f, -0.4f, 0.2f, -0.1f, 0.3f, 0.5f};
static const float b2[] = {0.0f, 0.1f};

static void test_two_layer_network(void)
{
    const float x[] = {1.5f, -0.5f};
    const int32_t label = 0;

    /* Layer 1 alone: Z1, then A1 = relu(Z1). */
    const test_layer z1_layer = {2, 3, w1, b1, NNB_OP_COUNT};
    const test_mlp z1_mlp = {2, &z1_layer, 1, 0};
    float z1[3];
    nnb_summary summary;
    score(&z1_mlp, 1, x, NULL, 0, z1, 3, &summary);
    CU_ASSERT_DOUBLE_EQUAL(z1[0], 0.85, FLOAT_TOLERANCE);
    CU_ASSERT_DOUBLE_EQUAL(z1[1], -0.65, FLOAT_TOLERANCE);
    CU_ASSERT_DOUBLE_EQUAL(z1[2], 1.15, FLOAT_TOLERANCE);

    const test_layer a1_layer = {2, 3, w1, b1, NNB_OP_RELU};
    const test_mlp a1_mlp = {2, &a1_layer, 1, 0};
    float a1[3];
    score(&a1_mlp, 1, x, NULL, 0, a1, 3, &summary);
    CU_ASSERT_DOUBLE_EQUAL(a1[0], 0.85, FLOAT_TOLERANCE);
    CU_ASSERT_EQUAL(a1[1], 0.0f);
    CU_ASSERT_DOUBLE_EQUAL(a1[2], 1.15, FLOAT_TOLERANCE);

    /* Whole network: outputs 0 logits, 1 probabilities, 2 loss. */
    const test_layer layers[] = {{2, 3, w1, b1, NNB_OP_RELU}, {3, 2, w2, b2, NNB_OP_COUNT}};
    const test_mlp mlp = {2, layers, 2, 1};
    float z2[2], p[2], loss;
    score(&mlp, 1, x, &label, 0, z2, 2, &summary);
    CU_ASSERT_DOUBLE_EQUAL(z2[0], 0.74, FLOAT_TOLERANCE);
    CU_ASSERT_DOUBLE_EQUAL(z2[1], 0.59, FLOAT_TOLERANCE);

    score(&mlp, 1, x, &label, 1, p, 2, &summary);
    CU_ASSERT_DOUBLE_EQUAL(p[0], 0.5374, 1e-4);
    CU_ASSERT_DOUBLE_EQUAL(p[1], 0.4626, 1e-4);
    CU_ASSERT_DOUBLE_EQUAL(p[0] + p[1], 1.0, FLOAT_TOLERANCE);

    score(&mlp, 1, x, &label, 2, &loss, 1, &summary);
    CU_ASSERT_DOUBLE_EQUAL(loss, 0.6210, 1e-4);
    CU_ASSERT_TRUE(summary.has_labels);
    CU_ASSERT_DOUBLE_EQUAL(summary.mean_loss, 0.6210, 1e-4);
    CU_ASSERT_EQUAL(summary.correct, 1);
}

static void test_batch_equals_rows(void)
{
    const float x[] = {1.5f, -0.5f, 0.0f, 1.0f, -1.0f, 2.0f, 0.5f, 0.5f};
    const test_layer layer = {2, 3, w1, b1, NNB_OP_RELU};
    const test_mlp mlp = {2, &layer, 1, 0};
    float batch[12];
    nnb_summary summary;

    score(&mlp, 4, x, NULL, 0, batch, 3, &summary);
    CU_ASSERT_EQUAL(summary.rows, 4);
    for (int r = 0; r < 4; r++) {
        float single[3];
        score(&mlp, 1, x + 2 * r, NULL, 0, single, 3, &summary);
        for (int j = 0; j < 3; j++)
            CU_ASSERT_EQUAL(batch[3 * r + j], single[j]);
    }
    /* Row 1 by hand: relu(W1 [0, 1] + b1) = relu([-0.4, 0.4, 0.1]). */
    CU_ASSERT_EQUAL(batch[3], 0.0f);
    CU_ASSERT_DOUBLE_EQUAL(batch[4], 0.4, FLOAT_TOLERANCE);
    CU_ASSERT_DOUBLE_EQUAL(batch[5], 0.1, FLOAT_TOLERANCE);
}

static void test_activation_values(void)
{
    const float x[] = {-3.0f, 0.0f, 3.0f, -2.0f, 2.0f, -2.5f, 3.1f};
    float y[7];

    nnb_kernel_sigmoid(1, 3, x, 3, y, 3);
    CU_ASSERT_DOUBLE_EQUAL(y[0], 0.0474, 1e-4);
    CU_ASSERT_EQUAL(y[1], 0.5f);
    CU_ASSERT_DOUBLE_EQUAL(y[2], 0.9526, 1e-4);

    nnb_kernel_tanh(1, 2, x + 3, 2, y, 2);
    CU_ASSERT_DOUBLE_EQUAL(y[0], -0.9640, 1e-4);
    CU_ASSERT_DOUBLE_EQUAL(y[1], 0.9640, 1e-4);

    nnb_kernel_relu(1, 2, x + 5, 2, y, 2);
    CU_ASSERT_EQUAL(y[0], 0.0f);
    CU_ASSERT_EQUAL(y[1], 3.1f);
}

static void test_activation_limits(void)
{
    const float x[] = {NAN, INFINITY, -INFINITY, 1e4f, -1e4f, -0.0f, 100.0f, -100.0f};
    float y[8];

    nnb_kernel_relu(1, 8, x, 8, y, 8);
    CU_ASSERT_TRUE(isnan(y[0]));
    CU_ASSERT_EQUAL(y[1], INFINITY);
    CU_ASSERT_EQUAL(y[2], 0.0f);
    CU_ASSERT_EQUAL(y[3], 1e4f);
    CU_ASSERT_EQUAL(y[4], 0.0f);

    nnb_kernel_sigmoid(1, 8, x, 8, y, 8);
    CU_ASSERT_TRUE(isnan(y[0]));
    CU_ASSERT_EQUAL(y[1], 1.0f);
    CU_ASSERT_EQUAL(y[2], 0.0f);
    CU_ASSERT_EQUAL(y[3], 1.0f);
    CU_ASSERT_EQUAL(y[4], 0.0f);
    CU_ASSERT_EQUAL(y[5], 0.5f);
    CU_ASSERT_TRUE(isfinite(y[7]) && y[7] >= 0.0f);

    nnb_kernel_tanh(1, 8, x, 8, y, 8);
    CU_ASSERT_TRUE(isnan(y[0]));
    CU_ASSERT_EQUAL(y[1], 1.0f);
    CU_ASSERT_EQUAL(y[2], -1.0f);
    CU_ASSERT_EQUAL(y[3], 1.0f);
    CU_ASSERT_EQUAL(y[4], -1.0f);
    CU_ASSERT_EQUAL(y[5], 0.0f);
    CU_ASSERT_TRUE(signbit(y[5]));
    CU_ASSERT_EQUAL(y[6], 1.0f);
    CU_ASSERT_EQUAL(y[7], -1.0f);
}

/* Inputs where the sigmoid and tanh approximations switch method, clamp or
 * underflow, and the extremes of the float range. */
static void test_activation_finite_extremes(void)
{
    const float x[] = {88.8f, -88.8f, 87.34f, -87.34f, 103.9f, -103.9f, 104.0f, -104.0f,
                       112.0f, -112.0f, 113.0f, -113.0f, 9.1f, -9.1f, 0.625f, -0.625f,
                       nextafterf(0.625f, 0.0f), -nextafterf(0.625f, 0.0f), FLT_MAX, -FLT_MAX,
                       FLT_MIN, -FLT_MIN, 1e-40f, -1e-40f, 0x1p-149f, -0x1p-149f};
    enum { COUNT = sizeof x / sizeof x[0] };
    float sig[COUNT], th[COUNT];

    nnb_kernel_sigmoid(1, COUNT, x, COUNT, sig, COUNT);
    nnb_kernel_tanh(1, COUNT, x, COUNT, th, COUNT);
    for (int i = 0; i < COUNT; i++) {
        CU_ASSERT_TRUE(sig[i] >= 0.0f && sig[i] <= 1.0f);
        CU_ASSERT_TRUE(th[i] >= -1.0f && th[i] <= 1.0f);
        CU_ASSERT_EQUAL(signbit(th[i]) != 0, signbit(x[i]) != 0);
    }

    /* Saturation and underflow. */
    CU_ASSERT_EQUAL(sig[18], 1.0f); /* FLT_MAX */
    CU_ASSERT_EQUAL(sig[19], 0.0f); /* -FLT_MAX */
    CU_ASSERT_EQUAL(sig[11], 0.0f); /* -113 */
    CU_ASSERT_EQUAL(th[12], 1.0f);  /* 9.1 */
    CU_ASSERT_EQUAL(th[13], -1.0f); /* -9.1 */

    /* exp(-88.8) is subnormal in float, and sigmoid(-88.8) keeps it. */
    CU_ASSERT_TRUE(sig[1] > 0.0f);
    CU_ASSERT_TRUE(sig[1] < FLT_MIN);

    /* From index 20 on, abs(x) <= FLT_MIN, so tanh(x) rounds to x and
     * sigmoid(x) to 0.5. */
    for (int i = 20; i < COUNT; i++) {
        CU_ASSERT_EQUAL(th[i], x[i]);
        CU_ASSERT_EQUAL(sig[i], 0.5f);
    }
}

/* A float's unit in the last place at the magnitude of `value`, counting
 * subnormal spacing below FLT_MIN. */
static double float_ulp(double value)
{
    int exponent;
    frexp(fabs(value), &exponent);
    return ldexp(1.0, exponent - FLT_MANT_DIG < -149 ? -149 : exponent - FLT_MANT_DIG);
}

static double reference_sigmoid(double x)
{
    if (x >= 0.0)
        return 1.0 / (1.0 + exp(-x));
    return exp(x) / (1.0 + exp(x));
}

/* Max error of `kernel` against `reference` over every 997th float bit
 * pattern (4.3 million inputs, all signs and exponents, NaN and infinity
 * included): in ulps where the reference is at least FLT_MIN, and absolute
 * below that. Also asserts NaN in gives NaN out and the output range. */
static void sweep_activation(void (*kernel)(int64_t, int64_t, const float *, int64_t, float *,
                                            int64_t),
                             double (*reference)(double), float lowest, double *max_ulps,
                             double *max_subnormal_error)
{
    enum { CHUNK = 4096, STEP = 997 };
    float *x = malloc(CHUNK * sizeof *x);
    float *y = malloc(CHUNK * sizeof *y);
    CU_ASSERT_FATAL(x != NULL && y != NULL);
    long nan_mismatches = 0;
    long out_of_range = 0;
    *max_ulps = 0.0;
    *max_subnormal_error = 0.0;

    uint64_t pattern = 0;
    while (pattern <= UINT32_MAX) {
        int64_t count = 0;
        for (; count < CHUNK && pattern <= UINT32_MAX; count++, pattern += STEP) {
            uint32_t bits = (uint32_t)pattern;
            memcpy(&x[count], &bits, sizeof bits);
        }
        kernel(1, count, x, count, y, count);

        for (int64_t i = 0; i < count; i++) {
            if (isnan(x[i]) || isnan(y[i])) {
                nan_mismatches += isnan(x[i]) != isnan(y[i]);
                continue;
            }
            out_of_range += y[i] < lowest || y[i] > 1.0f;
            double expected = reference(x[i]);
            double error = fabs((double)y[i] - expected);
            if (fabs(expected) >= FLT_MIN) {
                double ulps = error / float_ulp(expected);
                *max_ulps = ulps > *max_ulps ? ulps : *max_ulps;
            } else if (error > *max_subnormal_error) {
                *max_subnormal_error = error;
            }
        }
    }
    CU_ASSERT_EQUAL(nan_mismatches, 0);
    CU_ASSERT_EQUAL(out_of_range, 0);
    free(x);
    free(y);
}

/* Record a CUnit assertion that `measured` is at most `bound`, with both
 * numbers in the failure message. */
static void check_max_error(const char *name, double measured, double bound, const char *unit)
{
    char message[160];
    snprintf(message, sizeof message, "%s max error %.3g%s, expected at most %.3g%s", name,
             measured, unit, bound, unit);
    CU_assertImplementation(measured <= bound ? CU_TRUE : CU_FALSE, __LINE__, message, __FILE__,
                            "", CU_FALSE);
}

/* The sweeps measure at most 2.2 ulp for sigmoid and 1.5 ulp for tanh, and
 * under one subnormal spacing (2^-149) below FLT_MIN. */
static void test_sigmoid_accuracy_sweep(void)
{
    double max_ulps, max_subnormal_error;
    sweep_activation(nnb_kernel_sigmoid, reference_sigmoid, 0.0f, &max_ulps,
                     &max_subnormal_error);
    check_max_error("sigmoid", max_ulps, 3.0, " ulp");
    check_max_error("sigmoid below FLT_MIN", max_subnormal_error, 0x1p-149, "");
}

static void test_tanh_accuracy_sweep(void)
{
    double max_ulps, max_subnormal_error;
    sweep_activation(nnb_kernel_tanh, tanh, -1.0f, &max_ulps, &max_subnormal_error);
    check_max_error("tanh", max_ulps, 2.0, " ulp");
    check_max_error("tanh below FLT_MIN", max_subnormal_error, 0x1p-149, "");
}

/* Each result depends only on its input: the vectorized body, the scalar
 * remainder and a shifted alignment give the same bits. */
static void test_activation_position_independent(void)
{
    enum { WIDTH = 203 };
    float x[WIDTH], whole[WIDTH], shifted[WIDTH], single;
    test_fill_random(x, WIDTH, 11, 12.0f);
    x[3] = NAN;
    x[4] = -0.0f;
    x[5] = INFINITY;
    x[6] = 1e-40f;
    void (*const kernels[])(int64_t, int64_t, const float *, int64_t, float *, int64_t) = {
        nnb_kernel_sigmoid, nnb_kernel_tanh};

    for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
        kernels[k](1, WIDTH, x, WIDTH, whole, WIDTH);
        kernels[k](1, WIDTH - 1, x + 1, WIDTH - 1, shifted + 1, WIDTH - 1);
        CU_ASSERT_EQUAL(memcmp(whole + 1, shifted + 1, (WIDTH - 1) * sizeof *whole), 0);
        for (int j = 0; j < WIDTH; j++) {
            kernels[k](1, 1, x + j, 1, &single, 1);
            CU_ASSERT_EQUAL(memcmp(&whole[j], &single, sizeof single), 0);
        }
    }
}

static void test_fused_bias_activation_bitwise(void)
{
    float x[3 * 40], b[40], fused[3 * 40], separate[3 * 40];
    test_fill_random(x, 3 * 40, 5, 20.0f);
    test_fill_random(b, 40, 6, 3.0f);
    x[7] = NAN;
    x[8] = INFINITY;
    x[9] = -INFINITY;
    const nnb_op activations[] = {NNB_OP_RELU, NNB_OP_SIGMOID, NNB_OP_TANH, NNB_OP_COUNT};

    for (size_t a = 0; a < sizeof activations / sizeof activations[0]; a++) {
        nnb_kernel_bias_activation(3, 40, x, 40, b, activations[a], fused, 40);
        nnb_kernel_bias(3, 40, x, 40, b, separate, 40);
        if (activations[a] == NNB_OP_RELU)
            nnb_kernel_relu(3, 40, separate, 40, separate, 40);
        else if (activations[a] == NNB_OP_SIGMOID)
            nnb_kernel_sigmoid(3, 40, separate, 40, separate, 40);
        else if (activations[a] == NNB_OP_TANH)
            nnb_kernel_tanh(3, 40, separate, 40, separate, 40);
        CU_ASSERT_EQUAL(memcmp(fused, separate, sizeof fused), 0);
    }
}

static void test_softmax_extremes(void)
{
    const float x[] = {
        1e30f, 1e30f,          /* equal huge logits */
        3e38f, -3e38f,         /* difference overflows float */
        -1e30f, -1e30f,        /* equal tiny logits */
        INFINITY, 0.0f,        /* +inf takes all the mass */
        INFINITY, INFINITY,    /* shared equally */
    };
    float y[10];
    nnb_kernel_softmax(5, 2, x, 2, y, 2);

    CU_ASSERT_EQUAL(y[0], 0.5f);
    CU_ASSERT_EQUAL(y[1], 0.5f);
    CU_ASSERT_EQUAL(y[2], 1.0f);
    CU_ASSERT_EQUAL(y[3], 0.0f);
    CU_ASSERT_EQUAL(y[4], 0.5f);
    CU_ASSERT_EQUAL(y[5], 0.5f);
    CU_ASSERT_EQUAL(y[6], 1.0f);
    CU_ASSERT_EQUAL(y[7], 0.0f);
    CU_ASSERT_EQUAL(y[8], 0.5f);
    CU_ASSERT_EQUAL(y[9], 0.5f);
}

static void test_softmax_undefined_rows(void)
{
    const float x[] = {-INFINITY, -INFINITY, NAN, 1.0f};
    float y[4];
    nnb_kernel_softmax(2, 2, x, 2, y, 2);
    for (int j = 0; j < 4; j++)
        CU_ASSERT_TRUE(isnan(y[j]));
}

static void test_cross_entropy_underflow(void)
{
    /* exp(-200) underflows float32, so -log(softmax) would be +inf; the
     * log-sum-exp form gives the exact 200. */
    const float z[] = {200.0f, 0.0f, 0.0f, 200.0f};
    const int32_t labels[] = {1, 1};
    double loss[2];
    uint8_t correct[2];
    nnb_kernel_cross_entropy(2, 2, z, 2, labels, loss, correct);

    CU_ASSERT_DOUBLE_EQUAL(loss[0], 200.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(loss[1], 0.0, 1e-12);
    CU_ASSERT_EQUAL(correct[0], 0);
    CU_ASSERT_EQUAL(correct[1], 1);
}

static void test_cross_entropy_huge_logits(void)
{
    const float z[] = {3e38f, -3e38f};
    const int32_t labels[] = {1};
    double loss;
    uint8_t correct;
    nnb_kernel_cross_entropy(1, 2, z, 2, labels, &loss, &correct);
    CU_ASSERT_TRUE(isfinite(loss));
    CU_ASSERT_DOUBLE_EQUAL(loss, 6e38, 1e32);
}

int nnb_test_register_ops(void)
{
    CU_pSuite suite = CU_add_suite("ops", NULL, NULL);
    if (suite == NULL)
        return -1;
    int failed = 0;
    failed |= CU_add_test(suite, "perceptron", test_perceptron) == NULL;
    failed |= CU_add_test(suite, "layer with relu", test_layer_with_relu) == NULL;
    failed |= CU_add_test(suite, "2-3-2 network", test_two_layer_network) == NULL;
    failed |= CU_add_test(suite, "batch equals rows", test_batch_equals_rows) == NULL;
    failed |= CU_add_test(suite, "activation values", test_activation_values) == NULL;
    failed |= CU_add_test(suite, "activation limits", test_activation_limits) == NULL;
    failed |= CU_add_test(suite, "activation finite extremes", test_activation_finite_extremes)
              == NULL;
    failed |= CU_add_test(suite, "sigmoid accuracy sweep", test_sigmoid_accuracy_sweep) == NULL;
    failed |= CU_add_test(suite, "tanh accuracy sweep", test_tanh_accuracy_sweep) == NULL;
    failed |= CU_add_test(suite, "activation position independent",
                          test_activation_position_independent) == NULL;
    failed |= CU_add_test(suite, "fused bias activation bitwise",
                          test_fused_bias_activation_bitwise) == NULL;
    failed |= CU_add_test(suite, "softmax extremes", test_softmax_extremes) == NULL;
    failed |= CU_add_test(suite, "softmax undefined rows", test_softmax_undefined_rows) == NULL;
    failed |= CU_add_test(suite, "cross-entropy underflow", test_cross_entropy_underflow) == NULL;
    failed |= CU_add_test(suite, "cross-entropy huge logits", test_cross_entropy_huge_logits)
              == NULL;
    return failed ? -1 : 0;
}
