/*
 * Interpreting the model configuration of a Keras file, which is the JSON
 * of model.to_json() stored in the root attribute model_config. The result
 * is the layers of a Sequential model, or of a functional model whose layers
 * form a chain, in execution order, with the settings nnbatch needs.
 *
 * Dialects read: Keras 1 (Sequential config as a list, keys output_dim and
 * bias, inbound nodes [name, node, tensor]), Keras 2.0-2.3 and tf.keras 2.x
 * (Sequential config as a list or as an object with "layers", keys units and
 * use_bias, class Model or Functional, inbound nodes [name, node, tensor,
 * kwargs]) and Keras 3 (dtype as a DTypePolicy object, batch_shape, inbound
 * nodes {"args": [keras tensor], "kwargs": {}}).
 */
#ifndef NNB_KERAS_CONFIG_H
#define NNB_KERAS_CONFIG_H

#include "io/json.h"
#include "nnbatch.h"

#include <stdint.h>

/* Most dimensions of an input shape, batch dimension excluded. */
#define NNB_KERAS_MAX_RANK 8

/* Maximum layers in one model configuration. */
#define NNB_KERAS_MAX_LAYERS 65536

typedef enum nnb_keras_kind {
    NNB_KERAS_INPUT = 0,
    NNB_KERAS_DENSE,
    NNB_KERAS_ACTIVATION,
    NNB_KERAS_DROPOUT,
    NNB_KERAS_FLATTEN,
    NNB_KERAS_BATCH_NORMALIZATION
} nnb_keras_kind;

typedef enum nnb_keras_activation {
    NNB_KERAS_LINEAR = 0,
    NNB_KERAS_RELU,
    NNB_KERAS_SIGMOID,
    NNB_KERAS_TANH,
    NNB_KERAS_SOFTMAX
} nnb_keras_activation;

/* An input shape without the batch dimension: (28, 28) has rank 2. */
typedef struct nnb_keras_shape {
    int rank;                            /* 0 when the layer declares no shape */
    int64_t dims[NNB_KERAS_MAX_RANK];
} nnb_keras_shape;

/* One layer of the configuration. Strings point into the JSON tree, which
 * must outlive the layer. */
typedef struct nnb_keras_layer {
    const char *class_name;
    const char *name;
    int position;                    /* 1-based index in the configuration's layer list */
    nnb_keras_kind kind;
    nnb_keras_shape input_shape;     /* batch_input_shape, batch_shape or input_dim */
    /* Dense */
    int64_t units;
    int use_bias;
    /* Dense and Activation */
    nnb_keras_activation activation;
    /* BatchNormalization: gamma is stored only when scale, beta when center */
    int scale;
    int center;
    double epsilon;
} nnb_keras_layer;

/* The layers of a model in execution order. */
typedef struct nnb_keras_chain {
    nnb_keras_layer *layers;
    int count;
    /* Sequential build_input_shape (Keras 2.3 and later), rank 0 if absent */
    nnb_keras_shape build_shape;
} nnb_keras_chain;

/* Interpret the model configuration `root`. `source` starts every message
 * (the file and the attribute or the JSON file the configuration came from).
 * Fails with NNB_ERR_MODEL when a layer class, activation or setting is not
 * supported or the functional graph is not a chain. That message names the
 * layer's position, name and class. Fails with NNB_ERR_FORMAT when the
 * configuration lacks a key or has one of the wrong type, and with
 * NNB_ERR_NO_MEMORY. */
nnb_status nnb_io_keras_config_read(const nnb_json_value *root, const char *source,
                                    nnb_keras_chain *chain, nnb_error *error);

void nnb_io_keras_chain_destroy(nnb_keras_chain *chain);

/* Keras' name of an activation ("relu", ...). */
const char *nnb_io_keras_activation_name(nnb_keras_activation activation);

/* Format a shape as Keras prints it, "(None, 28, 28)". */
void nnb_io_keras_format_shape(const nnb_keras_shape *shape, char *buffer, size_t size);

#endif
