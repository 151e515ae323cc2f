/* Shared test fixtures: small models built in memory or written to HDF5,
 * datasets written to HDF5, a reference forward pass and temporary files. */
#ifndef NNB_TEST_FIXTURES_H
#define NNB_TEST_FIXTURES_H

#include "graph/graph.h"
#include "nnbatch.h"

#include <stdint.h>

/* One dense layer as written in the math: weight is (out x in), row-major,
 * so z = W x + b; the fixtures transpose it to the (in, out) file layout. */
typedef struct test_layer {
    int64_t in;
    int64_t out;
    const float *weight; /* out x in */
    const float *bias;   /* out entries, or NULL for no bias node */
    nnb_op activation;   /* NNB_OP_RELU, _SIGMOID, _TANH, or NNB_OP_COUNT for none */
} test_layer;

/* Graph outputs of a test MLP: "logits" (the last layer) always; with
 * `with_loss`, also "probabilities" (softmax) and "loss" (cross_entropy). */
typedef struct test_mlp {
    int64_t input_width;
    const test_layer *layers;
    int layer_count;
    int with_loss;
} test_mlp;

/* Fill `desc` with the MLP's graph, nodes in execution order. */
void test_mlp_desc(const test_mlp *mlp, nnb_graph_desc *desc);

/* Build the MLP as a model; aborts the test program on failure. */
nnb_model *test_mlp_model(const test_mlp *mlp);

/* Write the MLP as an nnbatch model file; returns 0 on success. */
int test_mlp_write(const test_mlp *mlp, const char *path);

/* Reference forward pass in double for one row: fills logits (out of the
 * last layer) and, with a softmax, probabilities; returns the cross-entropy
 * of `label` (or 0 when label < 0). */
double test_mlp_reference(const test_mlp *mlp, const float *x, int label, double *logits,
                          double *probabilities);

/* Fill `data` with `count` deterministic pseudo-random values in [-scale, scale]. */
void test_fill_random(float *data, int64_t count, uint32_t seed, float scale);

/* Write a (rows x cols) float32 dataset, creating the file when `create`. */
int test_write_matrix(const char *path, int create, const char *name, int64_t rows,
                      int64_t cols, const float *data);

/* Write a rank-1 int32 labels dataset into an existing file. */
int test_write_labels(const char *path, const char *name, int64_t rows, const int32_t *labels);

/* Read a whole (rows x cols) float32 dataset; returns a malloc'ed array or
 * NULL, and stores the shape. */
float *test_read_matrix(const char *path, const char *name, int64_t *rows, int64_t *cols);

/* Read a scalar double attribute of the root group; returns 0 on success. */
int test_read_root_double(const char *path, const char *name, double *value);

/* A fresh directory under /tmp for the calling suite, and a path inside it
 * (static buffer, valid until the next call). */
const char *test_temp_dir(void);
const char *test_temp_path(const char *name);

/* Remove the temporary directory and everything in it. */
void test_temp_cleanup(void);

/* Nonzero when `path` exists. */
int test_file_exists(const char *path);

#endif
