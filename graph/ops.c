/* The operator table and the shape rule of each operator. */
#include "graph/ops.h"

#include <stdio.h>
#include <string.h>

/* matmul: x (in) times W (in, out) gives out. */
static int shape_matmul(const nnb_op_operand *inputs, const nnb_param_desc *const *params,
                        int64_t *width, char *reason, size_t reason_size)
{
    const nnb_param_desc *weight = params[0];
    if (weight->dims[0] != inputs[0].width) {
        snprintf(reason, reason_size,
                 "weight has shape (%lld, %lld) but its input '%s' has width %lld; "
                 "the weight must have shape (%lld, out)",
                 (long long)weight->dims[0], (long long)weight->dims[1], inputs[0].name,
                 (long long)inputs[0].width, (long long)inputs[0].width);
        return -1;
    }
    *width = weight->dims[1];
    return 0;
}

/* bias: x (n) plus b (n) gives n. */
static int shape_bias(const nnb_op_operand *inputs, const nnb_param_desc *const *params,
                      int64_t *width, char *reason, size_t reason_size)
{
    const nnb_param_desc *bias = params[0];
    if (bias->dims[0] != inputs[0].width) {
        snprintf(reason, reason_size,
                 "bias has shape (%lld) but its input '%s' has width %lld; "
                 "the bias must have shape (%lld)",
                 (long long)bias->dims[0], inputs[0].name, (long long)inputs[0].width,
                 (long long)inputs[0].width);
        return -1;
    }
    *width = bias->dims[0];
    return 0;
}

/* relu, sigmoid, tanh and softmax keep the width of their input. */
static int shape_same_width(const nnb_op_operand *inputs, const nnb_param_desc *const *params,
                            int64_t *width, char *reason, size_t reason_size)
{
    (void)params;
    (void)reason;
    (void)reason_size;
    *width = inputs[0].width;
    return 0;
}

/* cross_entropy computes its loss from the logits that a softmax node reads,
 * so its first input must be a softmax node. The graph builder has already
 * checked that the second input is the labels input. */
static int shape_cross_entropy(const nnb_op_operand *inputs, const nnb_param_desc *const *params,
                               int64_t *width, char *reason, size_t reason_size)
{
    (void)params;
    if (inputs[0].producer != NNB_OP_SOFTMAX) {
        if (inputs[0].producer < 0) {
            snprintf(reason, reason_size,
                     "its first input '%s' is a graph input, not a softmax node; "
                     "cross_entropy reads [softmax node, labels input]",
                     inputs[0].name);
        } else {
            snprintf(reason, reason_size,
                     "its first input '%s' is a %s node, not a softmax node; "
                     "cross_entropy reads [softmax node, labels input]",
                     inputs[0].name, nnb_op_name((nnb_op)inputs[0].producer));
        }
        return -1;
    }
    *width = 1;
    return 0;
}

static const nnb_op_info op_table[NNB_OP_COUNT] = {
    [NNB_OP_MATMUL] = {
        .name = "matmul", .input_count = 1, .labels_slot = -1,
        .param_count = 1, .params = {{"weight", 2, "(in, out)"}},
        .shape_rule = shape_matmul,
    },
    [NNB_OP_BIAS] = {
        .name = "bias", .input_count = 1, .labels_slot = -1,
        .param_count = 1, .params = {{"bias", 1, "(n)"}},
        .shape_rule = shape_bias,
    },
    [NNB_OP_RELU] = {
        .name = "relu", .input_count = 1, .labels_slot = -1,
        .shape_rule = shape_same_width,
    },
    [NNB_OP_SIGMOID] = {
        .name = "sigmoid", .input_count = 1, .labels_slot = -1,
        .shape_rule = shape_same_width,
    },
    [NNB_OP_TANH] = {
        .name = "tanh", .input_count = 1, .labels_slot = -1,
        .shape_rule = shape_same_width,
    },
    [NNB_OP_SOFTMAX] = {
        .name = "softmax", .input_count = 1, .labels_slot = -1,
        .shape_rule = shape_same_width,
    },
    [NNB_OP_CROSS_ENTROPY] = {
        .name = "cross_entropy", .input_count = 2, .labels_slot = 1,
        .shape_rule = shape_cross_entropy,
    },
};

const nnb_op_info *nnb_op_info_get(nnb_op op)
{
    if ((unsigned)op >= NNB_OP_COUNT)
        return NULL;
    return &op_table[op];
}

/* Returns "unknown" for a value outside nnb_op, so the result is always
 * safe to print. */
const char *nnb_op_name(nnb_op op)
{
    const nnb_op_info *info = nnb_op_info_get(op);
    return info != NULL ? info->name : "unknown";
}

int nnb_op_lookup(const char *name, nnb_op *op)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i < NNB_OP_COUNT; i++) {
        if (strcmp(op_table[i].name, name) == 0) {
            *op = (nnb_op)i;
            return 0;
        }
    }
    return -1;
}

void nnb_op_list_names(char *buffer, size_t size)
{
    if (size == 0)
        return;
    buffer[0] = '\0';

    size_t used = 0;
    for (int i = 0; i < NNB_OP_COUNT && used < size; i++) {
        int written = snprintf(buffer + used, size - used, "%s%s", i > 0 ? ", " : "",
                               op_table[i].name);
        if (written < 0)
            return;
        used += (size_t)written;
    }
}
