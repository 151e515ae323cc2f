/*
 * The element-wise loops carry `omp simd` because x and y are either the
 * same array (in place) or disjoint, which the compiler cannot prove, and
 * because -O2 would not vectorize them otherwise. Each lane computes the
 * same IEEE operations as the scalar loop, so results are unchanged.
 */
#include "kernels.h"

#include <math.h>

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

static inline float sigmoid(float v)
{
    /* exp of a non-positive argument cannot overflow. */
    if (v >= 0.0f)
        return 1.0f / (1.0f + expf(-v));
    float e = expf(v);
    return e / (1.0f + e);
}

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
            for (int64_t j = 0; j < width; j++)
                yi[j] = sigmoid(xi[j] + b[j]);
            break;
        case NNB_OP_TANH:
            for (int64_t j = 0; j < width; j++)
                yi[j] = tanhf(xi[j] + b[j]);
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

void nnb_kernel_sigmoid(int64_t rows, int64_t width, const float *x, int64_t ldx,
                        float *y, int64_t ldy)
{
    for (int64_t i = 0; i < rows; i++) {
        const float *xi = x + i * ldx;
        float *yi = y + i * ldy;
        for (int64_t j = 0; j < width; j++)
            yi[j] = sigmoid(xi[j]);
    }
}

void nnb_kernel_tanh(int64_t rows, int64_t width, const float *x, int64_t ldx,
                     float *y, int64_t ldy)
{
    for (int64_t i = 0; i < rows; i++) {
        const float *xi = x + i * ldx;
        float *yi = y + i * ldy;
        for (int64_t j = 0; j < width; j++)
            yi[j] = tanhf(xi[j]);
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
