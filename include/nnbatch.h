/*
 * nnbatch: batch scoring of small neural networks on the CPU.
 *
 * A model is an operator graph loaded from an HDF5 model file (see
 * docs/model-format.md). A run context carries the options of a scoring run
 * (threads, tile rows). Rows are scored in tiles: OpenMP threads take tiles
 * and every matrix product on a tile is one single-threaded BLIS GEMM call.
 *
 * Conventions:
 * - Every function that can fail returns an nnb_status; NNB_OK is 0. When the
 *   caller passes a non-NULL nnb_error, a failing call stores the status and a
 *   one-line message there (naming the file, dataset, node or option).
 * - The library keeps no global mutable state, never prints to stdout and
 *   never exits the process.
 * - A loaded model is immutable: several threads may score with one model at
 *   once, each with its own run context.
 */
#ifndef NNBATCH_H
#define NNBATCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NNB_VERSION_MAJOR 0
#define NNB_VERSION_MINOR 1
#define NNB_VERSION_PATCH 0
#define NNB_VERSION_STRING "0.1.0"

/* Status codes returned by every fallible call. */
typedef enum nnb_status {
    NNB_OK = 0,
    NNB_ERR_INVALID_ARGUMENT, /* bad option value or NULL where not allowed */
    NNB_ERR_NO_MEMORY,        /* an allocation failed */
    NNB_ERR_IO,               /* a file could not be opened, read or written */
    NNB_ERR_FORMAT,           /* a file or dataset is not what was expected */
    NNB_ERR_MODEL,            /* the model graph is invalid */
    NNB_ERR_SHAPE,            /* data shape does not match the model */
    NNB_ERR_LABEL,            /* a label is missing or outside the class range */
    NNB_ERR_CANCELLED,        /* the progress callback asked to stop */
    NNB_ERR_INTERNAL          /* a BLIS or library invariant failed */
} nnb_status;

/* Maximum length of an error message, including the terminating NUL. */
#define NNB_ERROR_MESSAGE_MAX 1024

/* Caller-allocated error record filled by a failing call. */
typedef struct nnb_error {
    nnb_status status;                    /* NNB_OK until a call fails */
    char message[NNB_ERROR_MESSAGE_MAX];  /* one line, no trailing newline */
} nnb_error;

/* Returns a static name for a status code, such as "NNB_ERR_SHAPE". */
const char *nnb_status_string(nnb_status status);

/* Returns the library version, "MAJOR.MINOR.PATCH". */
const char *nnb_version(void);

/* ------------------------------------------------------------------------ */
/* Models                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct nnb_model nnb_model;

/* Operators of the graph. Each row of a value is scored independently. */
typedef enum nnb_op {
    NNB_OP_MATMUL = 0,    /* y = x W, W stored (in_width, out_width) */
    NNB_OP_BIAS,          /* y = x + b, b of the input's width */
    NNB_OP_RELU,          /* y = x if x > 0, NaN stays NaN, else 0 */
    NNB_OP_SIGMOID,       /* y = 1 / (1 + exp(-x)), evaluated without overflow */
    NNB_OP_TANH,          /* y = tanh(x) */
    NNB_OP_SOFTMAX,       /* y_j = exp(x_j - max x) / sum_k exp(x_k - max x) */
    NNB_OP_CROSS_ENTROPY, /* y = logsumexp(z) - z[label], z the softmax's input */
    NNB_OP_COUNT
} nnb_op;

/* Load and validate a model file. On success *model owns the graph and its
 * parameters; release it with nnb_model_free(). */
nnb_status nnb_model_load(const char *path, nnb_model **model, nnb_error *error);

/* Load and validate a Keras legacy HDF5 file (Keras 1.x, 2.x, tf.keras or
 * Keras 3 `model.save('x.h5')`) as a model. `config_path` names a JSON file
 * with the architecture, as written by model.to_json(), or is NULL. It is
 * required when the file holds weights only (save_weights), and takes
 * precedence over the file's model_config otherwise. nnb_model_load() calls
 * this, with no config, for every file it recognizes as Keras. */
nnb_status nnb_model_load_keras(const char *path, const char *config_path, nnb_model **model,
                                nnb_error *error);

/* Write `model` to `path` in nnbatch's model format (format_version 1).
 * The file is written under a hidden temporary name beside `path` and
 * renamed when complete, so a failed call leaves nothing at `path`. The path
 * must not be the file the model was loaded from. `description` (may be
 * NULL) is stored as the root attribute @description. */
nnb_status nnb_model_save(const nnb_model *model, const char *path, const char *description,
                          nnb_error *error);

/* The software that saved an imported model, such as "Keras 2.3.1", or
 * NULL for a model read from nnbatch's own format. */
const char *nnb_model_origin(const nnb_model *model);

/* Release a model; NULL is ignored. No run may be using it. */
void nnb_model_free(nnb_model *model);

/* Width (features per row) of the model's feature input. */
int64_t nnb_model_input_width(const nnb_model *model);

/* Number of classes expected in labels, or 0 when the model reads no labels. */
int64_t nnb_model_label_classes(const nnb_model *model);

/* Graph outputs, in the order the model file lists them. */
int nnb_model_output_count(const nnb_model *model);
const char *nnb_model_output_name(const nnb_model *model, int index);
int64_t nnb_model_output_width(const nnb_model *model, int index);

/* Nonzero when computing output `index` needs the labels input. */
int nnb_model_output_needs_labels(const nnb_model *model, int index);

/* Multiply-add FLOPs per row (2 per multiply-add of every matmul). */
double nnb_model_flops_per_row(const nnb_model *model);

/* Number of stored parameters (weights and biases). */
int64_t nnb_model_parameter_count(const nnb_model *model);

/* Nodes in execution order, for inspection. */
int nnb_model_node_count(const nnb_model *model);
const char *nnb_model_node_name(const nnb_model *model, int index);
nnb_op nnb_model_node_op(const nnb_model *model, int index);
int64_t nnb_model_node_width(const nnb_model *model, int index);
/* Name of input `slot` read by node `index`, or NULL past its last input. */
const char *nnb_model_node_input(const nnb_model *model, int index, int slot);

/* Name of an operator as written in model files, such as "matmul". */
const char *nnb_op_name(nnb_op op);

/* ------------------------------------------------------------------------ */
/* Run contexts                                                             */
/* ------------------------------------------------------------------------ */

/* Options of a scoring run. Initialize with nnb_options_init(). */
typedef struct nnb_options {
    int threads;       /* worker threads; 0 = OMP_NUM_THREADS, else cores available */
    int64_t tile_rows; /* rows per tile; 0 = chosen from the layer widths */
    /* Nonzero keeps subnormal floats. By default every worker sets
     * flush-to-zero and denormals-are-zero while it scores (x86), because
     * subnormal arithmetic can be 100 times slower. */
    int keep_denormals;
    /* Progress callback, or NULL. It is called on the thread that drives
     * the run after each block of rows. nnb_score_file() calls it once
     * more just before it commits the output file. rows_done counts rows
     * scored so far. Returning nonzero stops the run with NNB_ERR_CANCELLED,
     * and no output file is left. */
    int (*progress)(void *user_data, int64_t rows_done, int64_t rows_total);
    void *progress_user_data;
} nnb_options;

/* Fill *options with the defaults (all zero: automatic). */
void nnb_options_init(nnb_options *options);

typedef struct nnb_run nnb_run;

/* Create a run context for `model`, which must outlive it. The context owns
 * per-thread scratch buffers; one context serves one call at a time. */
nnb_status nnb_run_create(const nnb_model *model, const nnb_options *options,
                          nnb_run **run, nnb_error *error);

/* Release a run context; NULL is ignored. */
void nnb_run_free(nnb_run *run);

/* Thread count and tile rows the context resolved from its options. */
int nnb_run_threads(const nnb_run *run);
int64_t nnb_run_tile_rows(const nnb_run *run);

/* Results of a scoring call. */
typedef struct nnb_summary {
    int64_t rows;          /* rows scored */
    double seconds;        /* wall time of the call */
    int has_labels;        /* nonzero when labels were scored */
    double mean_loss;      /* mean cross-entropy over rows (has_labels only) */
    int64_t correct;       /* rows whose arg-max class equals the label */
    double accuracy;       /* correct / rows (has_labels only) */
    double flops;          /* matmul FLOPs performed */
    int64_t nonfinite_rows; /* rows with a NaN or infinity in their input or outputs */
} nnb_summary;

/* Names of the datasets scored by nnb_score_file(). */
typedef struct nnb_file_request {
    const char *data_path;      /* HDF5 file holding the rows */
    const char *input_dataset;  /* rows x features dataset, any numeric type */
    const char *labels_dataset; /* class indices, (rows) or (rows, 1), or one-hot
                                 * (rows, classes); may be NULL */
    const char *output_path;    /* new HDF5 file; replaced only on success */
} nnb_file_request;

/* Score an HDF5 dataset tile by tile and write every graph output it can
 * compute (those needing labels only when labels are given) to a new HDF5
 * file. The output is written under a temporary name beside output_path and
 * renamed on success, so a failed call leaves nothing at output_path. */
nnb_status nnb_score_file(nnb_run *run, const nnb_file_request *request,
                          nnb_summary *summary, nnb_error *error);

/* Score `rows` rows of a row-major float array (row stride ld_input floats)
 * and store graph output `output_index` into the caller-owned row-major array
 * `output` (row stride ld_output floats). `labels` holds one class index per
 * row and may be NULL when the output does not need labels; with labels,
 * the summary also carries loss and accuracy. */
nnb_status nnb_score_array(nnb_run *run, int64_t rows, const float *input,
                           int64_t ld_input, const int32_t *labels,
                           int output_index, float *output, int64_t ld_output,
                           nnb_summary *summary, nnb_error *error);

#ifdef __cplusplus
}
#endif

#endif /* NNBATCH_H */
