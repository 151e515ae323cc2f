/*
 * Row kernels of the operators that are not matrix products. Each works on
 * `rows` rows of `width` floats, with row strides counted in floats. `x` and
 * `y` may be the same array (in place) but must not otherwise overlap.
 */
#ifndef NNB_KERNELS_H
#define NNB_KERNELS_H

#include "nnbatch.h"

#include <stdint.h>

/* y = x + b, b of `width` entries. */
void nnb_kernel_bias(int64_t rows, int64_t width, const float *x, int64_t ldx,
                     const float *b, float *y, int64_t ldy);

/* y = activation(x + b) in one pass, for activation NNB_OP_RELU,
 * NNB_OP_SIGMOID or NNB_OP_TANH; the same values as nnb_kernel_bias followed
 * by the activation's kernel. */
void nnb_kernel_bias_activation(int64_t rows, int64_t width, const float *x, int64_t ldx,
                                const float *b, nnb_op activation, float *y, int64_t ldy);

/* y = x where x > 0, NaN stays NaN, else +0. */
void nnb_kernel_relu(int64_t rows, int64_t width, const float *x, int64_t ldx,
                     float *y, int64_t ldy);

/* y = 1 / (1 + exp(-x)), computed from exp(-|x|), whose argument is never
 * positive, so exp cannot overflow. */
void nnb_kernel_sigmoid(int64_t rows, int64_t width, const float *x, int64_t ldx,
                        float *y, int64_t ldy);

/* y = tanh(x). */
void nnb_kernel_tanh(int64_t rows, int64_t width, const float *x, int64_t ldx,
                     float *y, int64_t ldy);

/* Row-wise softmax with the row maximum subtracted before exp(). A row
 * holding NaN gives NaN throughout; a row of all -inf gives NaN throughout
 * (the limit is undefined); +inf entries share the mass equally. */
void nnb_kernel_softmax(int64_t rows, int64_t width, const float *x, int64_t ldx,
                        float *y, int64_t ldy);

/* Per-row cross-entropy from logits z: loss[i] = logsumexp(z_i) - z_i[label_i],
 * computed in double so a true class whose probability underflows to 0 still
 * has a finite loss. Also stores in correct[i] 1 when the label is the first
 * index of the row's largest logit, else 0. Labels must be in [0, width). */
void nnb_kernel_cross_entropy(int64_t rows, int64_t width, const float *z, int64_t ldz,
                              const int32_t *labels, double *loss, uint8_t *correct);

/* Nonzero when any of the `width` values is NaN or infinite. */
int nnb_kernel_has_nonfinite(int64_t width, const float *x);

#endif
