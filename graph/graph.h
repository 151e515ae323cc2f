/*
 * The operator graph: a description as read from a model file, and the
 * validated, shape-inferred, topologically ordered model built from it.
 *
 * The description (nnb_graph_desc) carries names and strings exactly as the
 * file stores them and is not checked; nnb_graph_build() does every check and
 * is the only way to make an nnb_model. Keeping the file reader out of this
 * module lets tests and other front ends (Keras, ONNX) build graphs without
 * HDF5.
 */
#ifndef NNB_GRAPH_H
#define NNB_GRAPH_H

#include "nnbatch.h"

#include <stdint.h>

/* Maximum inputs of one node (cross_entropy reads two). */
#define NNB_MAX_NODE_INPUTS 2

/* Value ids of the graph inputs; node values are the node's index (>= 0). */
#define NNB_VALUE_FEATURES (-1)
#define NNB_VALUE_LABELS (-2)

/* ---- Unvalidated description, as read from a file ---------------------- */

/* Role of a graph input. */
typedef enum nnb_input_role {
    NNB_INPUT_FEATURES = 0, /* rows x width floats */
    NNB_INPUT_LABELS        /* one class index per row */
} nnb_input_role;

typedef struct nnb_input_desc {
    char *name;          /* owned */
    nnb_input_role role;
    int64_t width;       /* features per row; unused for labels */
} nnb_input_desc;

/* A parameter dataset of a node, converted to float32 by the reader. */
typedef struct nnb_param_desc {
    char *name;          /* dataset name inside the node group, owned */
    int rank;            /* 1 or 2 for valid parameters */
    int64_t dims[2];     /* dims[0..rank-1] */
    float *data;         /* row-major, owned; ownership moves to the model */
} nnb_param_desc;

typedef struct nnb_node_desc {
    char *name;          /* owned */
    char *op;            /* operator name as stored, owned */
    char **inputs;       /* names of the values read, owned */
    int input_count;
    nnb_param_desc *params; /* owned */
    int param_count;
} nnb_node_desc;

typedef struct nnb_graph_desc {
    char *source;        /* model file path, used in messages; owned */
    nnb_input_desc *inputs;
    int input_count;
    nnb_node_desc *nodes; /* in file order, which need not be execution order */
    int node_count;
    char **outputs;      /* names of the nodes written as graph outputs */
    int output_count;
} nnb_graph_desc;

/* Release everything a description owns, then zero it. */
void nnb_graph_desc_destroy(nnb_graph_desc *desc);

/* ---- Validated model ---------------------------------------------------- */

typedef struct nnb_node {
    char *name;
    nnb_op op;
    int inputs[NNB_MAX_NODE_INPUTS]; /* value ids: node index or NNB_VALUE_* */
    int input_count;
    int64_t width;       /* output width per row */
    /* matmul: weight is (weight_rows = input width) x (weight_cols = width),
     * row-major. bias: bias has `width` entries. Other ops: both NULL. */
    float *weight;
    int64_t weight_rows;
    int64_t weight_cols;
    float *bias;
} nnb_node;

struct nnb_model {
    char *source;            /* file the model was loaded from */
    char *features_name;
    int64_t input_width;
    char *labels_name;       /* NULL when the graph has no labels input */
    int64_t label_classes;   /* width of the softmax read by cross_entropy, or 0 */
    nnb_node *nodes;         /* topological order: inputs before readers */
    int node_count;
    int *outputs;            /* node indices of the graph outputs, file order */
    int output_count;
    int loss_node;           /* the cross_entropy node, or -1 */
    double flops_per_row;
    int64_t parameter_count;
    char *origin;            /* software that saved an imported model ("Keras 2.3.1"), or NULL */
};

/* Validate `desc`, infer shapes, order the nodes and build a model. The
 * parameter arrays move from `desc` into the model (their pointers in `desc`
 * are set to NULL); the caller still destroys `desc`. On failure the message
 * names the model file, the node and the problem. */
nnb_status nnb_graph_build(nnb_graph_desc *desc, nnb_model **model, nnb_error *error);

/* Nonzero when computing node `node` needs the labels input. */
int nnb_graph_node_needs_labels(const nnb_model *model, int node);

#endif
