/*
 * A matmul with one output column is a dot product per row. A GEMM
 * micro-kernel computes a block of columns at a time (16 on AVX2 BLIS
 * configurations), so on one column it does 16 times the arithmetic.
 * This kernel reads each input value once and does no packing.
 */
#include "matvec.h"

/* Independent partial sums per row: enough to hide the add latency and to
 * fill two SSE or one AVX register. */
#define LANES 8

static float dot(int64_t depth, const float *x, const float *w)
{
    float acc[LANES] = {0.0f};
    int64_t j = 0;
    for (; j + LANES <= depth; j += LANES) {
        for (int l = 0; l < LANES; l++)
            acc[l] += x[j + l] * w[j + l];
    }
    for (int l = 0; j < depth; j++, l++)
        acc[l] += x[j] * w[j];
    /* A fixed pairwise order for the partial sums. */
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

void nnb_kernel_matvec(int64_t rows, int64_t depth, const float *x, int64_t ldx,
                       const float *w, float *y, int64_t ldy)
{
    for (int64_t i = 0; i < rows; i++)
        y[i * ldy] = dot(depth, x + i * ldx, w);
}
