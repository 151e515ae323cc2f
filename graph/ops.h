/*
 * The operator table: for each nnb_op, its name in model files, the values
 * it reads, the parameter datasets it needs and its shape rule. The graph
 * builder checks every node against this table, so adding an operator means
 * adding an enum value in nnbatch.h and one row here (plus its kernel).
 */
#ifndef NNB_OPS_H
#define NNB_OPS_H

#include "graph/graph.h"
#include "nnbatch.h"

#include <stddef.h>
#include <stdint.h>

/* Maximum parameter datasets of one operator (matmul and bias have one). */
#define NNB_OP_MAX_PARAMS 1

/* A parameter dataset an operator needs. */
typedef struct nnb_op_param {
    const char *name;  /* dataset name inside the node group */
    int rank;          /* required rank */
    const char *shape; /* required shape in symbols, for messages: "(in, out)" */
} nnb_op_param;

/* A value read by a node, as passed to a shape rule. */
typedef struct nnb_op_operand {
    const char *name; /* name of the graph input or node that provides it */
    int64_t width;    /* features per row; 0 for the labels input */
    int is_labels;    /* nonzero for the labels input */
    int producer;     /* nnb_op of the node that computes it, or -1 for a graph input */
} nnb_op_operand;

/* Shape rule of an operator. `inputs` has the operator's input_count entries
 * and `params[i]` is the parameter named by the operator's params[i], with
 * its rank already checked and no dimension 0. Sets *width to the output
 * width and returns 0, or returns -1 after writing into `reason` one clause
 * saying which shapes disagree (without the file or node name). */
typedef int (*nnb_op_shape_rule)(const nnb_op_operand *inputs,
                                 const nnb_param_desc *const *params,
                                 int64_t *width, char *reason, size_t reason_size);

typedef struct nnb_op_info {
    const char *name;         /* as written in the @op attribute */
    int input_count;          /* values read, in @inputs order */
    int labels_slot;          /* input that must be the labels input, or -1 */
    int param_count;
    nnb_op_param params[NNB_OP_MAX_PARAMS];
    nnb_op_shape_rule shape_rule;
} nnb_op_info;

/* Returns the table row of `op`, or NULL when `op` is not a valid nnb_op. */
const nnb_op_info *nnb_op_info_get(nnb_op op);

/* Looks up an operator by its file name (case-sensitive). Returns 0 and sets
 * *op when found, else returns -1. */
int nnb_op_lookup(const char *name, nnb_op *op);

/* Writes the names of all operators, comma-separated, into `buffer`, for
 * messages that list the valid choices. Truncates to fit `size`. */
void nnb_op_list_names(char *buffer, size_t size);

#endif
