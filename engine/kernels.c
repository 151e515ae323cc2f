/*
 * The element-wise loops carry `omp simd` because x and y are either the
 * same array (in place) or disjoint, which the compiler cannot prove, and
 * because -O2 would not vectorize them otherwise. Each lane computes the
 * same IEEE operations as the scalar loop, so results are unchanged.
 */
#include "kernels.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/*
 * With GCC on x86-64 the sigmoid, tanh and fused bias + activation kernels
 * are also compiled for AVX2 (8 lanes instead of SSE2's 4) and picked at
 * load time by the CPU's features. The AVX2 clone does not enable FMA, and
 * -std=c11 keeps GCC from contracting a * b + c, so both clones round every
 * operation the same way and give identical bits. Clang 14 would need the
 * attribute on every declaration too (callers in other files fail to link
 * without it), so Clang builds get the baseline code only.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NNB_CLONE_AVX2 __attribute__((target_clones("avx2", "default")))
#endif
#ifndef NNB_CLONE_AVX2
#define NNB_CLONE_AVX2
#endif

void nnb_kernel_bias(int64_t rows, int64_t width, const float *x, int64_t ldx,
                     const float *b, float *y, int64_t ldy)
{
    for (int64_t i = 0; i < rows; i++) {
        const float *xi = x + i * ldx;
        float *yi = y + i * ldy;
#pragma omp simd
        for (int64_t j = 0; j < width; j++)
            yi[j] = xi[j] + b[j];
    }
}

static inline float relu(float v)
{
    /* `v > 0 || v != v` keeps NaN, where fmaxf(v, 0) would return 0. */
    return (v > 0.0f || v != v) ? v : 0.0f;
}

static inline uint32_t float_bits(float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    return bits;
}

static inline float float_from_bits(uint32_t bits)
{
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/*
 * Return `condition ? if_true : if_false`, chosen through a bit mask. GCC 12
 * moves the arms of a float ?: that nothing else uses into branches, and
 * then does not vectorize the loop because float operations may trap. The
 * mask keeps both arms unconditional.
 */
static inline float select_float(int condition, float if_true, float if_false)
{
    uint32_t mask = -(uint32_t)condition;
    return float_from_bits((float_bits(if_true) & mask) | (float_bits(if_false) & ~mask));
}

/*
 * Compute exp(t) for t <= 0, and NaN for NaN, with only +, -, *, selects
 * and integer bit operations, so loops calling it vectorize. The method is
 * Cephes expf's: t = n ln2 + r with |r| <= ln2 / 2, a degree-7 polynomial
 * for exp(r), and 2^n built in the exponent bits. Results below FLT_MIN
 * are subnormal, and those below half the smallest subnormal (t below
 * about -103.97) are 0.
 */
static inline float exp_nonpositive(float t)
{
    /* Below -112 the result is under half the smallest subnormal and rounds
     * to 0, so clamping there changes no result but keeps -inf and huge
     * arguments out of the reduction. NaN fails the comparison and stays. */
    t = select_float(t < -112.0f, -112.0f, t);

    /* n = round(t / ln2): adding 1.5 * 2^23 rounds to an integer, which
     * lands in the low mantissa bits of `shifted`. */
    const float shifter = 0x1.8p23f;
    float shifted = t * 0x1.715476p+0f + shifter;
    float n = shifted - shifter;

    /* r = t - n ln2, with ln2 split into 0x1.63p-1 (9 bits, so n times it
     * is exact for |n| < 2^15) and the remainder. */
    float r = t - n * 0x1.63p-1f;
    r = r - n * -2.12194440e-4f;

    float z = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * z + r + 1.0f;

    /* n is in [-162, 0], so 2^(n + 64) is a normal float: shifting the bits
     * of `shifted` left by 23 leaves n in the exponent field, and the bias
     * 127 + 64 is added there. Multiplying by 2^(n + 64) is exact, and the
     * final 2^-64 rounds only when the result is subnormal. */
    uint32_t scale_bits = (float_bits(shifted) << 23) + ((uint32_t)(127 + 64) << 23);
    return p * float_from_bits(scale_bits) * 0x1p-64f;
}

/* 1 / (1 + exp(-v)) for v >= 0 and exp(v) / (1 + exp(v)) for v < 0, both
 * from exp(-|v|), which cannot overflow. -0 counts as v >= 0 and gives 0.5. */
static inline float sigmoid(float v)
{
    float e = exp_nonpositive(-fabsf(v));
    float numerator = select_float(v >= 0.0f, 1.0f, e);
    return numerator / (1.0f + e);
}

/*
 * Compute tanh(|v|) and give it the sign of v, so that tanh(-0) = -0.
 * Below |v| = 0.625 an odd polynomial (Cephes tanhf's) keeps tanh(v) = v
 * for tiny v and avoids the cancellation in 1 - e. Above it, the result is
 * (1 - e) / (1 + e) with e = exp(-2|v|) <= 0.29, which is exactly 1 for
 * |v| above 8.67, infinity included.
 */
static inline float tanh_approx(float v)
{
    float a = fabsf(v);

    float z = a * a;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    float small = p * z * a + a;

    float e = exp_nonpositive(-2.0f * a);
    float large = (1.0f - e) / (1.0f + e);

    /* NaN fails the comparison and takes `large`, which is NaN too. */
    return copysignf(select_float(a < 0.625f, small, large), v);
}

NNB_CLONE_AVX2
void nnb_kernel_bias_activation(int64_t rows, int64_t width, const float *x, int64_t ldx,
                                const float *b, nnb_op activation, float *y, int64_t ldy)
{
    for (int64_t i = 0; i < rows; i++) {
        const float *xi = x + i * ldx;
        float *yi = y + i * ldy;
        switch (activation) {
        case NNB_OP_RELU:
#pragma omp simd
            for (int64_t j = 0; j < width; j++)
                yi[j] = relu(xi[j] + b[j]);
            break;
        case NNB_OP_SIGMOID:
#pragma omp simd
            for (int64_t j = 0; j < width; j++)
                yi[j] = sigmoid(xi[j] + b[j]);
            break;
        case NNB_OP_TANH:
#pragma omp simd
            for (int64_t j = 0; j < width; j++)
                yi[j] = tanh_approx(xi[j] + b[j]);
            break;
        default:
#pragma omp simd
            for (int64_t j = 0; j < width; j++)
                yi[j] = xi[j] + b[j];
            break;
        }
    }
}

void nnb_kernel_relu(int64_t rows, int64_t width, const float *x, int64_t ldx,
                     float *y, int64_t ldy)
{
    for (int64_t i = 0; i < rows; i++) {
        const float *xi = x + i * ldx;
        float *yi = y + i * ldy;
#pragma omp simd
        for (int64_t j = 0; j < width; j++)
            yi[j] = relu(xi[j]);
    }
}

NNB_CLONE_AVX2
void nnb_kernel_sigmoid(int64_t rows, int64_t width, const float *x, int64_t ldx,
                        float *y, int64_t ldy)
{
    for (int64_t i = 0; i < rows; i++) {
        const float *xi = x + i * ldx;
        float *yi = y + i * ldy;
#pragma omp simd
        for (int64_t j = 0; j < width; j++)
            yi[j] = sigmoid(xi[j]);
    }
}

NNB_CLONE_AVX2
void nnb_kernel_tanh(int64_t rows, int64_t width, const float *x, int64_t ldx,
                     float *y, int64_t ldy)
{
    for (int64_t i = 0; i < rows; i++) {
        const float *xi = x + i * ldx;
        float *yi = y + i * ldy;
#pragma omp simd
        for (int64_t j = 0; j < width; j++)
            yi[j] = tanh_approx(xi[j]);
    }
}

/* Maximum of a row, NaN if any entry is NaN. */
static float row_max(const float *x, int64_t width)
{
    float max = -INFINITY;
    for (int64_t j = 0; j < width; j++) {
        if (x[j] != x[j])
            return x[j];
        if (x[j] > max)
            max = x[j];
    }
    return max;
}

static void softmax_row(int64_t width, const float *x, float *y)
{
    float max = row_max(x, width);

    /* NaN anywhere, or every entry -inf: no defined limit. */
    if (max != max || max == -INFINITY) {
        for (int64_t j = 0; j < width; j++)
            y[j] = NAN;
        return;
    }

    /* +inf entries take all the mass, shared equally. */
    if (max == INFINITY) {
        float count = 0.0f;
        for (int64_t j = 0; j < width; j++)
            count += (x[j] == INFINITY) ? 1.0f : 0.0f;
        for (int64_t j = 0; j < width; j++)
            y[j] = (x[j] == INFINITY) ? 1.0f / count : 0.0f;
        return;
    }

    /* Every exp argument is <= 0 and the maximum contributes 1, so the sum is
     * in [1, width]: no overflow and no division by zero. */
    float sum = 0.0f;
    for (int64_t j = 0; j < width; j++) {
        float e = expf(x[j] - max);
        y[j] = e;
        sum += e;
    }
    float scale = 1.0f / sum;
    for (int64_t j = 0; j < width; j++)
        y[j] *= scale;
}

void nnb_kernel_softmax(int64_t rows, int64_t width, const float *x, int64_t ldx,
                        float *y, int64_t ldy)
{
    for (int64_t i = 0; i < rows; i++)
        softmax_row(width, x + i * ldx, y + i * ldy);
}

/* -log softmax(z)[label] for one row. */
static double cross_entropy_row(int64_t width, const float *z, int32_t label)
{
    float max = row_max(z, width);
    if (max != max || max == -INFINITY)
        return NAN;

    if (max == INFINITY) {
        /* Limit of the loss: log(k) when the label is one of k +inf entries,
         * +inf when it is finite. */
        if (z[label] != INFINITY)
            return INFINITY;
        double count = 0.0;
        for (int64_t j = 0; j < width; j++)
            count += (z[j] == INFINITY) ? 1.0 : 0.0;
        return log(count);
    }

    double sum = 0.0;
    for (int64_t j = 0; j < width; j++)
        sum += exp((double)z[j] - (double)max);
    return (double)max + log(sum) - (double)z[label];
}

static int64_t row_argmax(const float *x, int64_t width)
{
    int64_t best = 0;
    for (int64_t j = 1; j < width; j++) {
        if (x[j] > x[best])
            best = j;
    }
    return best;
}

void nnb_kernel_cross_entropy(int64_t rows, int64_t width, const float *z, int64_t ldz,
                              const int32_t *labels, double *loss, uint8_t *correct)
{
    for (int64_t i = 0; i < rows; i++) {
        const float *zi = z + i * ldz;
        loss[i] = cross_entropy_row(width, zi, labels[i]);
        /* A row holding NaN has no meaningful class and never counts. */
        correct[i] = row_max(zi, width) == row_max(zi, width)
                     && row_argmax(zi, width) == labels[i];
    }
}

int nnb_kernel_has_nonfinite(int64_t width, const float *x)
{
    /* v - v is 0 for finite v and NaN for NaN or infinity; OR-ing the
     * comparisons (not summing) lets the compiler vectorize the loop. */
    int bad = 0;
#pragma omp simd reduction(| : bad)
    for (int64_t j = 0; j < width; j++)
        bad |= !(x[j] - x[j] == 0.0f);
    return bad;
}
