/* Matrix-vector product for matmul nodes with a single output column. */
#ifndef NNB_MATVEC_H
#define NNB_MATVEC_H

#include <stdint.h>

/* y[i * ldy] = sum over j of x[i * ldx + j] * w[j], for `rows` rows of
 * `depth` entries. Each row is summed in a fixed order that depends only
 * on `depth`, so a row's result never depends on the rows around it. */
void nnb_kernel_matvec(int64_t rows, int64_t depth, const float *x, int64_t ldx,
                       const float *w, float *y, int64_t ldy);

#endif
