/* Interpreting Keras model configurations; see io/keras_config.h. */
#include "io/keras_config.h"

#include "engine/status.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keras' default BatchNormalization epsilon (Keras 1, 2 and 3). */
#define KERAS_DEFAULT_EPSILON 1e-3

static const char supported_classes[] =
    "InputLayer, Dense, Activation, Dropout, Flatten and BatchNormalization";
static const char supported_activations[] = "linear, relu, sigmoid, tanh and softmax";

typedef struct config_reader {
    const char *source;
    nnb_error *error;
} config_reader;

/* Store "SOURCE: <text>". */
static nnb_status config_error(const config_reader *reader, nnb_status status,
                               const char *format, ...) __attribute__((format(printf, 3, 4)));

static nnb_status config_error(const config_reader *reader, nnb_status status,
                               const char *format, ...)
{
    char detail[NNB_ERROR_MESSAGE_MAX];
    va_list args;
    va_start(args, format);
    vsnprintf(detail, sizeof detail, format, args);
    va_end(args);
    return nnb_error_set(reader->error, status, "%s: %s", reader->source, detail);
}

/* Store "SOURCE: layer N 'NAME' (CLASS): <text>", or "SOURCE: model config:
 * <text>" when `layer` is NULL. */
static nnb_status layer_error(const config_reader *reader, const nnb_keras_layer *layer,
                              nnb_status status, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

static nnb_status layer_error(const config_reader *reader, const nnb_keras_layer *layer,
                              nnb_status status, const char *format, ...)
{
    char detail[NNB_ERROR_MESSAGE_MAX];
    va_list args;
    va_start(args, format);
    vsnprintf(detail, sizeof detail, format, args);
    va_end(args);
    if (layer == NULL)
        return nnb_error_set(reader->error, status, "%s: model config: %s", reader->source, detail);
    return nnb_error_set(reader->error, status, "%s: layer %d '%s' (%s): %s", reader->source,
                         layer->position, layer->name, layer->class_name, detail);
}

const char *nnb_io_keras_activation_name(nnb_keras_activation activation)
{
    switch (activation) {
    case NNB_KERAS_LINEAR: return "linear";
    case NNB_KERAS_RELU: return "relu";
    case NNB_KERAS_SIGMOID: return "sigmoid";
    case NNB_KERAS_TANH: return "tanh";
    case NNB_KERAS_SOFTMAX: return "softmax";
    }
    return "unknown";
}

void nnb_io_keras_format_shape(const nnb_keras_shape *shape, char *buffer, size_t size)
{
    size_t used = (size_t)snprintf(buffer, size, "(None");
    for (int d = 0; d < shape->rank && used < size; d++)
        used += (size_t)snprintf(buffer + used, size - used, ", %lld", (long long)shape->dims[d]);
    if (used < size)
        snprintf(buffer + used, size - used, ")");
}

/* ---- Typed members of a layer's config ---------------------------------- */

/* Nonzero when `value` is a whole number that fits in int64_t. */
static int is_whole_number(const nnb_json_value *value)
{
    return value->type == NNB_JSON_NUMBER && isfinite(value->number)
           && floor(value->number) == value->number && fabs(value->number) < 9.0e18;
}

static nnb_status read_bool(const config_reader *reader, const nnb_keras_layer *layer,
                            const nnb_json_value *config, const char *key, int fallback,
                            int *value)
{
    const nnb_json_value *member = nnb_json_get(config, key);
    if (member == NULL) {
        *value = fallback;
        return NNB_OK;
    }
    if (member->type != NNB_JSON_BOOL) {
        return layer_error(reader, layer, NNB_ERR_FORMAT, "config key '%s' is a %s; expected "
                           "true or false", key, nnb_json_type_name(member->type));
    }
    *value = member->boolean;
    return NNB_OK;
}

/* Read a whole number of at least 1 stored under `key`; *found is 0 when
 * the key is absent or null. */
static nnb_status read_positive(const config_reader *reader, const nnb_keras_layer *layer,
                                const nnb_json_value *config, const char *key, int64_t *value,
                                int *found)
{
    const nnb_json_value *member = nnb_json_get(config, key);
    *found = member != NULL && member->type != NNB_JSON_NULL;
    if (!*found)
        return NNB_OK;
    if (!is_whole_number(member) || member->number < 1) {
        return layer_error(reader, layer, NNB_ERR_FORMAT,
                           "config key '%s' must be a whole number of at least 1", key);
    }
    *value = (int64_t)member->number;
    return NNB_OK;
}

/* Read a Keras shape list whose first entry is the batch dimension (null
 * or a number): [null, 4] is the shape (4). */
static nnb_status read_shape(const config_reader *reader, const nnb_keras_layer *layer,
                             const char *key, const nnb_json_value *list, nnb_keras_shape *shape)
{
    if (list->type != NNB_JSON_ARRAY || list->count < 2) {
        return layer_error(reader, layer, NNB_ERR_FORMAT,
                           "config key '%s' must be a list [batch, features, ...] with at "
                           "least two entries", key);
    }
    if (list->count - 1 > NNB_KERAS_MAX_RANK) {
        return layer_error(reader, layer, NNB_ERR_MODEL,
                           "config key '%s' has %d dimensions besides the batch; at most %d "
                           "are supported", key, list->count - 1, NNB_KERAS_MAX_RANK);
    }
    const nnb_json_value *batch = &list->items[0];
    if (batch->type != NNB_JSON_NULL && !is_whole_number(batch)) {
        return layer_error(reader, layer, NNB_ERR_FORMAT,
                           "config key '%s' starts with a %s; expected the batch size "
                           "(null or a number)", key, nnb_json_type_name(batch->type));
    }

    shape->rank = list->count - 1;
    for (int d = 0; d < shape->rank; d++) {
        const nnb_json_value *dim = &list->items[d + 1];
        if (!is_whole_number(dim) || dim->number < 1 || dim->number > 2147483648.0) {
            return layer_error(reader, layer, NNB_ERR_MODEL,
                               "config key '%s': dimension %d is not a size from 1 to 2^31; "
                               "nnbatch needs every feature dimension of the input to be "
                               "fixed", key, d + 1);
        }
        shape->dims[d] = (int64_t)dim->number;
    }
    return NNB_OK;
}

/* Read the input shape a layer may declare: batch_input_shape (Keras 1 and
 * 2), batch_shape (Keras 3) or input_dim (Keras 1 Dense). */
static nnb_status read_input_shape(const config_reader *reader, nnb_keras_layer *layer,
                                   const nnb_json_value *config)
{
    static const char *const keys[] = {"batch_input_shape", "batch_shape"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        const nnb_json_value *list = nnb_json_get(config, keys[k]);
        if (list != NULL && list->type != NNB_JSON_NULL)
            return read_shape(reader, layer, keys[k], list, &layer->input_shape);
    }

    int64_t width = 0;
    int found = 0;
    nnb_status status = read_positive(reader, layer, config, "input_dim", &width, &found);
    if (status == NNB_OK && found) {
        layer->input_shape.rank = 1;
        layer->input_shape.dims[0] = width;
    }
    return status;
}

/* Accept the float dtypes, stored as a string (Keras 1 and 2) or as a
 * policy object {"class_name": "DTypePolicy", "config": {"name": ...}}
 * (Keras 3). nnbatch computes every one of them in float32. */
static nnb_status check_dtype(const config_reader *reader, const nnb_keras_layer *layer,
                              const nnb_json_value *config)
{
    const nnb_json_value *dtype = nnb_json_get(config, "dtype");
    if (dtype == NULL || dtype->type == NNB_JSON_NULL)
        return NNB_OK;
    if (dtype->type == NNB_JSON_OBJECT) {
        const nnb_json_value *name = nnb_json_get(nnb_json_get(dtype, "config"), "name");
        dtype = name != NULL ? name : dtype;
    }
    if (dtype->type != NNB_JSON_STRING) {
        return layer_error(reader, layer, NNB_ERR_FORMAT,
                           "config key 'dtype' is a %s; expected a string or a dtype policy "
                           "object with config.name", nnb_json_type_name(dtype->type));
    }

    static const char *const accepted[] = {"float32", "float16", "float64", "bfloat16",
                                           "mixed_float16", "mixed_bfloat16"};
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        if (strcmp(dtype->string, accepted[i]) == 0)
            return NNB_OK;
    }
    return layer_error(reader, layer, NNB_ERR_MODEL,
                       "dtype '%s' is not supported; nnbatch computes in float32 and reads "
                       "layers of dtype float16, bfloat16, float32, float64 and the mixed "
                       "policies", dtype->string);
}

/* Read the activation, a name or (Keras 3) an object whose "config" is
 * the name. */
static nnb_status read_activation(const config_reader *reader, nnb_keras_layer *layer,
                                  const nnb_json_value *config)
{
    const nnb_json_value *activation = nnb_json_get(config, "activation");
    if (activation == NULL) {
        if (layer->kind == NNB_KERAS_DENSE) {
            layer->activation = NNB_KERAS_LINEAR;
            return NNB_OK;
        }
        return layer_error(reader, layer, NNB_ERR_FORMAT, "config key 'activation' is missing");
    }
    if (activation->type == NNB_JSON_NULL) {
        layer->activation = NNB_KERAS_LINEAR;
        return NNB_OK;
    }
    if (activation->type == NNB_JSON_OBJECT) {
        const nnb_json_value *inner = nnb_json_get(activation, "config");
        if (inner != NULL && inner->type == NNB_JSON_STRING)
            activation = inner;
    }
    if (activation->type != NNB_JSON_STRING) {
        return layer_error(reader, layer, NNB_ERR_MODEL,
                           "config key 'activation' is a %s; nnbatch reads the built-in "
                           "activations by name (%s)",
                           nnb_json_type_name(activation->type), supported_activations);
    }

    static const nnb_keras_activation all[] = {NNB_KERAS_LINEAR, NNB_KERAS_RELU,
                                               NNB_KERAS_SIGMOID, NNB_KERAS_TANH,
                                               NNB_KERAS_SOFTMAX};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(activation->string, nnb_io_keras_activation_name(all[i])) == 0) {
            layer->activation = all[i];
            return NNB_OK;
        }
    }
    return layer_error(reader, layer, NNB_ERR_MODEL,
                       "activation '%s' is not supported; nnbatch reads %s",
                       activation->string, supported_activations);
}

/* ---- Layers --------------------------------------------------------------- */

static nnb_status read_dense(const config_reader *reader, nnb_keras_layer *layer,
                             const nnb_json_value *config)
{
    int found = 0;
    nnb_status status = read_positive(reader, layer, config, "units", &layer->units, &found);
    if (status == NNB_OK && !found)
        status = read_positive(reader, layer, config, "output_dim", &layer->units, &found);
    if (status != NNB_OK)
        return status;
    if (!found) {
        return layer_error(reader, layer, NNB_ERR_FORMAT,
                           "config key 'units' (Keras 2 and 3) or 'output_dim' (Keras 1) is "
                           "missing");
    }

    const char *bias_key = nnb_json_get(config, "use_bias") != NULL ? "use_bias" : "bias";
    status = read_bool(reader, layer, config, bias_key, 1, &layer->use_bias);
    if (status == NNB_OK)
        status = read_activation(reader, layer, config);
    return status;
}

static nnb_status read_batch_normalization(const config_reader *reader, nnb_keras_layer *layer,
                                           const nnb_json_value *config)
{
    /* Keras 1 modes 1 and 2 normalize with statistics of the batch itself,
     * also when predicting, so they are no fixed per-feature affine map. */
    const nnb_json_value *mode = nnb_json_get(config, "mode");
    if (mode != NULL && !(is_whole_number(mode) && mode->number == 0)) {
        return layer_error(reader, layer, NNB_ERR_MODEL,
                           "only mode 0 is supported; modes 1 and 2 use batch statistics at "
                           "prediction time");
    }

    /* The features axis of a (batch, features) value is 1 or -1. */
    const nnb_json_value *axis = nnb_json_get(config, "axis");
    if (axis != NULL && axis->type == NNB_JSON_ARRAY && axis->count == 1)
        axis = &axis->items[0];
    if (axis != NULL && !(is_whole_number(axis) && (axis->number == -1 || axis->number == 1))) {
        return layer_error(reader, layer, NNB_ERR_MODEL,
                           "only axis -1 or 1 (the features axis) is supported");
    }

    const nnb_json_value *epsilon = nnb_json_get(config, "epsilon");
    layer->epsilon = KERAS_DEFAULT_EPSILON;
    if (epsilon != NULL) {
        if (epsilon->type != NNB_JSON_NUMBER || !(epsilon->number >= 0)
            || !isfinite(epsilon->number)) {
            return layer_error(reader, layer, NNB_ERR_FORMAT,
                               "config key 'epsilon' must be a number of at least 0");
        }
        layer->epsilon = epsilon->number;
    }

    nnb_status status = read_bool(reader, layer, config, "scale", 1, &layer->scale);
    if (status == NNB_OK)
        status = read_bool(reader, layer, config, "center", 1, &layer->center);
    return status;
}

/* The class of a layer entry, and nnbatch's kind for it; -1 when the class
 * is not supported. */
static int layer_kind(const char *class_name)
{
    static const struct {
        const char *name;
        nnb_keras_kind kind;
    } classes[] = {
        {"InputLayer", NNB_KERAS_INPUT},
        {"Dense", NNB_KERAS_DENSE},
        {"Activation", NNB_KERAS_ACTIVATION},
        {"Dropout", NNB_KERAS_DROPOUT},
        {"Flatten", NNB_KERAS_FLATTEN},
        {"BatchNormalization", NNB_KERAS_BATCH_NORMALIZATION},
    };
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++) {
        if (strcmp(class_name, classes[i].name) == 0)
            return (int)classes[i].kind;
    }
    return -1;
}

/* Read layer entry `entry` ({"class_name": ..., "config": {...}}) found at
 * `position` (from 1) of the configuration's layer list. */
static nnb_status read_layer(const config_reader *reader, const nnb_json_value *entry,
                             int position, nnb_keras_layer *layer)
{
    memset(layer, 0, sizeof *layer);
    layer->position = position;
    layer->name = "?";
    layer->class_name = "?";
    if (entry->type != NNB_JSON_OBJECT) {
        return config_error(reader, NNB_ERR_FORMAT, "layer %d is a %s; expected an object "
                            "with class_name and config", position,
                            nnb_json_type_name(entry->type));
    }

    const nnb_json_value *class_name = nnb_json_get(entry, "class_name");
    const nnb_json_value *config = nnb_json_get(entry, "config");
    if (class_name == NULL || class_name->type != NNB_JSON_STRING || config == NULL
        || config->type != NNB_JSON_OBJECT) {
        return config_error(reader, NNB_ERR_FORMAT,
                            "layer %d needs a string 'class_name' and an object 'config'",
                            position);
    }
    layer->class_name = class_name->string;

    /* Functional models repeat the name beside class_name; Sequential ones
     * keep it only in the config. */
    const nnb_json_value *name = nnb_json_get(entry, "name");
    if (name == NULL)
        name = nnb_json_get(config, "name");
    if (name == NULL || name->type != NNB_JSON_STRING || name->string[0] == '\0') {
        return config_error(reader, NNB_ERR_FORMAT, "layer %d (%s) has no name", position,
                            layer->class_name);
    }
    layer->name = name->string;

    int kind = layer_kind(layer->class_name);
    if (kind < 0) {
        return config_error(reader, NNB_ERR_MODEL,
                            "layer %d '%s' has class %s, which nnbatch does not support; "
                            "supported classes: %s",
                            position, layer->name, layer->class_name, supported_classes);
    }
    layer->kind = (nnb_keras_kind)kind;

    nnb_status status = check_dtype(reader, layer, config);
    if (status == NNB_OK)
        status = read_input_shape(reader, layer, config);
    if (status != NNB_OK)
        return status;

    switch (layer->kind) {
    case NNB_KERAS_INPUT:
        if (layer->input_shape.rank == 0) {
            return layer_error(reader, layer, NNB_ERR_FORMAT,
                               "config key 'batch_input_shape' (Keras 2) or 'batch_shape' "
                               "(Keras 3) is missing");
        }
        return NNB_OK;
    case NNB_KERAS_DENSE:
        return read_dense(reader, layer, config);
    case NNB_KERAS_ACTIVATION:
        return read_activation(reader, layer, config);
    case NNB_KERAS_BATCH_NORMALIZATION:
        return read_batch_normalization(reader, layer, config);
    case NNB_KERAS_DROPOUT:
    case NNB_KERAS_FLATTEN:
        return NNB_OK;
    }
    return NNB_OK;
}

/* Read every entry of `list` into chain->layers, in list order. */
static nnb_status read_layer_list(const config_reader *reader, const nnb_json_value *list,
                                  nnb_keras_chain *chain)
{
    if (list == NULL || list->type != NNB_JSON_ARRAY) {
        return config_error(reader, NNB_ERR_FORMAT,
                            "the model config has no list of layers ('config' or "
                            "'config.layers')");
    }
    if (list->count == 0)
        return config_error(reader, NNB_ERR_MODEL, "the model config lists no layers");
    if (list->count > NNB_KERAS_MAX_LAYERS) {
        return config_error(reader, NNB_ERR_MODEL, "the model config lists %d layers; at most "
                            "%d are supported", list->count, NNB_KERAS_MAX_LAYERS);
    }

    chain->layers = calloc((size_t)list->count, sizeof *chain->layers);
    if (chain->layers == NULL)
        return config_error(reader, NNB_ERR_NO_MEMORY, "out of memory reading the model config");
    chain->count = list->count;
    for (int i = 0; i < list->count; i++) {
        nnb_status status = read_layer(reader, &list->items[i], i + 1, &chain->layers[i]);
        if (status != NNB_OK)
            return status;
    }
    return NNB_OK;
}

/* ---- Functional models ---------------------------------------------------- */

/* Name of the layer a tensor reference points at: the first entry of
 * [name, node, tensor] or [name, node, tensor, kwargs]; NULL if malformed. */
static const char *reference_name(const nnb_json_value *reference)
{
    if (reference == NULL || reference->type != NNB_JSON_ARRAY || reference->count < 3
        || reference->items[0].type != NNB_JSON_STRING)
        return NULL;
    return reference->items[0].string;
}

/* The single layer named by input_layers or output_layers, stored as
 * [[name, 0, 0]] or, by Keras 3 for one tensor, [name, 0, 0]. */
static nnb_status read_endpoint(const config_reader *reader, const nnb_json_value *config,
                                const char *key, const char **name)
{
    const nnb_json_value *list = nnb_json_get(config, key);
    *name = NULL;
    if (list == NULL || list->type != NNB_JSON_ARRAY || list->count == 0) {
        return config_error(reader, NNB_ERR_FORMAT,
                            "the functional model config has no list '%s'", key);
    }
    if (list->items[0].type == NNB_JSON_STRING) {
        *name = reference_name(list);
    } else if (list->count == 1) {
        *name = reference_name(&list->items[0]);
    } else {
        return config_error(reader, NNB_ERR_MODEL,
                            "the model has %d %s; nnbatch reads models with one input and "
                            "one output", list->count,
                            strcmp(key, "input_layers") == 0 ? "inputs" : "outputs");
    }
    if (*name == NULL) {
        return config_error(reader, NNB_ERR_FORMAT,
                            "'%s' must hold a reference [layer name, node index, tensor index]",
                            key);
    }
    return NNB_OK;
}

/* Name of the one layer whose output `entry` reads, from its inbound_nodes:
 * [[[name, 0, 0, {kwargs}]]] in Keras 1 and 2, [{"args": [tensor], "kwargs":
 * {}}] in Keras 3, where the tensor's config.keras_history is [name, 0, 0].
 * *parent is NULL for a layer with no inbound nodes. */
static nnb_status read_parent(const config_reader *reader, const nnb_keras_layer *layer,
                              const nnb_json_value *entry, const char **parent)
{
    *parent = NULL;
    const nnb_json_value *nodes = nnb_json_get(entry, "inbound_nodes");
    if (nodes == NULL || (nodes->type == NNB_JSON_ARRAY && nodes->count == 0))
        return NNB_OK;
    if (nodes->type != NNB_JSON_ARRAY) {
        return layer_error(reader, layer, NNB_ERR_FORMAT, "'inbound_nodes' is a %s; expected a "
                           "list", nnb_json_type_name(nodes->type));
    }
    if (nodes->count > 1) {
        return layer_error(reader, layer, NNB_ERR_MODEL,
                           "the layer is called %d times; nnbatch reads models in which each "
                           "layer is called once, in a chain", nodes->count);
    }

    const nnb_json_value *node = &nodes->items[0];
    const nnb_json_value *tensors = node;
    if (node->type == NNB_JSON_OBJECT)
        tensors = nnb_json_get(node, "args");
    if (tensors == NULL || tensors->type != NNB_JSON_ARRAY || tensors->count == 0) {
        return layer_error(reader, layer, NNB_ERR_FORMAT,
                           "'inbound_nodes' holds no input tensor reference");
    }
    if (tensors->count > 1) {
        return layer_error(reader, layer, NNB_ERR_MODEL,
                           "the layer reads %d tensors; nnbatch reads models whose layers each "
                           "read the one output of the layer before them", tensors->count);
    }

    const nnb_json_value *tensor = &tensors->items[0];
    if (tensor->type == NNB_JSON_OBJECT) {
        tensor = nnb_json_get(nnb_json_get(tensor, "config"), "keras_history");
    } else if (tensor->type == NNB_JSON_ARRAY && tensor->count > 0
               && tensor->items[0].type == NNB_JSON_OBJECT) {
        /* Keras 3 wraps a layer's inputs in a list when it was called on one. */
        if (tensor->count > 1) {
            return layer_error(reader, layer, NNB_ERR_MODEL,
                               "the layer reads %d tensors; nnbatch reads models whose layers "
                               "each read the one output of the layer before them",
                               tensor->count);
        }
        tensor = nnb_json_get(nnb_json_get(&tensor->items[0], "config"), "keras_history");
    }
    *parent = reference_name(tensor);
    if (*parent == NULL) {
        return layer_error(reader, layer, NNB_ERR_FORMAT,
                           "'inbound_nodes' holds no reference [layer name, node index, "
                           "tensor index]");
    }
    return NNB_OK;
}

/* A layer name and its index in the configuration's layer list. */
typedef struct name_index {
    const char *name;
    int index;
} name_index;

static int compare_names(const void *a, const void *b)
{
    return strcmp(((const name_index *)a)->name, ((const name_index *)b)->name);
}

static int find_layer(const name_index *sorted, int count, const char *name)
{
    name_index key = {name, 0};
    const name_index *found = bsearch(&key, sorted, (size_t)count, sizeof *sorted,
                                      compare_names);
    return found != NULL ? found->index : -1;
}

/* Put the layers of a functional model in execution order: from the input
 * layer, each layer must be read by exactly one other, up to the output
 * layer, and every layer must be on that path. */
static nnb_status order_functional(const config_reader *reader, const nnb_json_value *config,
                                   nnb_keras_chain *chain)
{
    const nnb_json_value *list = nnb_json_get(config, "layers");
    int count = chain->count;
    name_index *sorted = calloc((size_t)count, sizeof *sorted);
    int *parent = calloc((size_t)count, sizeof *parent);
    int *child = calloc((size_t)count, sizeof *child);
    nnb_keras_layer *ordered = calloc((size_t)count, sizeof *ordered);
    unsigned char *on_path = calloc((size_t)count, 1);
    nnb_status status = NNB_OK;
    const char *input_name = NULL;
    const char *output_name = NULL;

    if (sorted == NULL || parent == NULL || child == NULL || ordered == NULL || on_path == NULL) {
        status = config_error(reader, NNB_ERR_NO_MEMORY, "out of memory reading the model config");
        goto cleanup;
    }

    for (int i = 0; i < count; i++)
        sorted[i] = (name_index){chain->layers[i].name, i};
    qsort(sorted, (size_t)count, sizeof *sorted, compare_names);
    for (int i = 1; i < count; i++) {
        if (strcmp(sorted[i - 1].name, sorted[i].name) == 0) {
            status = config_error(reader, NNB_ERR_FORMAT, "two layers are named '%s'",
                                  sorted[i].name);
            goto cleanup;
        }
    }

    /* Resolve each layer's input to an index; child[] counts readers first. */
    for (int i = 0; i < count; i++) {
        const nnb_keras_layer *layer = &chain->layers[i];
        const char *parent_name = NULL;
        status = read_parent(reader, layer, &list->items[i], &parent_name);
        if (status != NNB_OK)
            goto cleanup;
        parent[i] = -1;
        if (parent_name != NULL) {
            parent[i] = find_layer(sorted, count, parent_name);
            if (parent[i] < 0) {
                status = layer_error(reader, layer, NNB_ERR_FORMAT,
                                     "it reads layer '%s', which is not in the model config",
                                     parent_name);
                goto cleanup;
            }
            child[parent[i]]++;
        } else if (layer->kind != NNB_KERAS_INPUT) {
            status = layer_error(reader, layer, NNB_ERR_FORMAT,
                                 "'inbound_nodes' is missing or empty, so the layer reads "
                                 "nothing");
            goto cleanup;
        }
    }
    for (int i = 0; i < count; i++) {
        if (child[i] > 1) {
            status = layer_error(reader, &chain->layers[i], NNB_ERR_MODEL,
                                 "its output is read by %d layers; nnbatch reads models whose "
                                 "layers form a chain without branches", child[i]);
            goto cleanup;
        }
    }
    for (int i = 0; i < count; i++)
        child[i] = -1;
    for (int i = 0; i < count; i++) {
        if (parent[i] >= 0)
            child[parent[i]] = i;
    }

    status = read_endpoint(reader, config, "input_layers", &input_name);
    if (status == NNB_OK)
        status = read_endpoint(reader, config, "output_layers", &output_name);
    if (status != NNB_OK)
        goto cleanup;
    int input = find_layer(sorted, count, input_name);
    int output = find_layer(sorted, count, output_name);
    if (input < 0 || output < 0) {
        status = config_error(reader, NNB_ERR_FORMAT, "the model's %s layer '%s' is not in the "
                              "model config", input < 0 ? "input" : "output",
                              input < 0 ? input_name : output_name);
        goto cleanup;
    }
    if (parent[input] >= 0) {
        status = layer_error(reader, &chain->layers[input], NNB_ERR_MODEL,
                             "the model's input layer reads another layer");
        goto cleanup;
    }

    /* Walk from the input along the single reader of each layer. Every
     * layer has at most one input and the input layer has none, so the
     * walk cannot revisit a layer. */
    int placed = 0;
    int last = -1;
    for (int i = input; i >= 0 && placed < count; i = child[i]) {
        ordered[placed++] = chain->layers[i];
        on_path[i] = 1;
        last = i;
    }
    if (last != output) {
        status = layer_error(reader, &chain->layers[last], NNB_ERR_MODEL,
                             "the chain from the input layer ends here, but the model's output "
                             "is layer '%s'; nnbatch reads models whose layers form one chain",
                             output_name);
        goto cleanup;
    }
    for (int i = 0; i < count; i++) {
        if (!on_path[i]) {
            status = layer_error(reader, &chain->layers[i], NNB_ERR_MODEL,
                                 "the layer is not on the path from the input layer to the "
                                 "output layer; nnbatch reads models whose layers form one "
                                 "chain");
            goto cleanup;
        }
    }

    memcpy(chain->layers, ordered, (size_t)count * sizeof *ordered);

cleanup:
    free(on_path);
    free(ordered);
    free(child);
    free(parent);
    free(sorted);
    return status;
}

/* ---- The model ------------------------------------------------------------ */

nnb_status nnb_io_keras_config_read(const nnb_json_value *root, const char *source,
                                    nnb_keras_chain *chain, nnb_error *error)
{
    config_reader reader = {source, error};
    memset(chain, 0, sizeof *chain);

    const nnb_json_value *class_name = nnb_json_get(root, "class_name");
    const nnb_json_value *config = nnb_json_get(root, "config");
    if (class_name == NULL || class_name->type != NNB_JSON_STRING || config == NULL) {
        return config_error(&reader, NNB_ERR_FORMAT,
                            "the model config is not a Keras model description (expected an "
                            "object with 'class_name' and 'config', as model.to_json() "
                            "writes)");
    }

    nnb_status status;
    if (strcmp(class_name->string, "Sequential") == 0) {
        /* Keras 1 and 2.0-2.1 store the layer list itself, later versions an
         * object with the list under "layers". */
        const nnb_json_value *list = config->type == NNB_JSON_ARRAY ? config
                                                                    : nnb_json_get(config, "layers");
        status = read_layer_list(&reader, list, chain);
        const nnb_json_value *build = nnb_json_get(config, "build_input_shape");
        if (status == NNB_OK && build != NULL && build->type == NNB_JSON_ARRAY) {
            status = read_shape(&reader, NULL, "build_input_shape", build, &chain->build_shape);
        }
    } else if (strcmp(class_name->string, "Model") == 0
               || strcmp(class_name->string, "Functional") == 0) {
        status = read_layer_list(&reader, nnb_json_get(config, "layers"), chain);
        if (status == NNB_OK)
            status = order_functional(&reader, config, chain);
    } else {
        status = config_error(&reader, NNB_ERR_MODEL,
                              "model class %s is not supported; nnbatch reads Sequential models "
                              "and functional models (Model, Functional) whose layers form a "
                              "chain", class_name->string);
    }

    if (status != NNB_OK)
        nnb_io_keras_chain_destroy(chain);
    return status;
}

void nnb_io_keras_chain_destroy(nnb_keras_chain *chain)
{
    if (chain == NULL)
        return;
    free(chain->layers);
    memset(chain, 0, sizeof *chain);
}
