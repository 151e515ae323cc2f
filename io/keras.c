/*
 * The Keras legacy HDF5 reader: file detection, string attributes, the
 * model configuration, weights, and the graph description built from them.
 *
 * Layers become nodes as follows. Dense: matmul, then bias when use_bias,
 * then its activation unless linear. Activation: one node unless linear.
 * InputLayer, Dropout and Flatten: no node.
 *
 * BatchNormalization computes gamma * (x - mean) / sqrt(variance + epsilon)
 * + beta at prediction time, which is a per-feature affine map x * s + t.
 * nnbatch has no operator for that, so the map is folded into the Dense
 * layer before it when that Dense has a linear activation, else into the
 * Dense layer after it. Only Dropout and Flatten may sit between them.
 */
#include "io/keras.h"

#include "engine/status.h"
#include "io/hdf5_util.h"
#include "io/json.h"
#include "io/keras_config.h"

#include <hdf5.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Maximum length of a layer or weight name in layer_names and weight_names. */
#define MAX_NAME_BYTES 4096
/* Maximum entries of one name list (layer_names or weight_names). */
#define MAX_LIST_ENTRIES 65536
/* Room for HDF5 paths and labels built from names in messages. */
#define LABEL_SIZE (2 * MAX_NAME_BYTES + 64)

/* Group for weights of the model itself rather than of a layer, found in
 * files of tf.keras 2.7 and Keras 3.5. It is empty in the models read here. */
static const char top_level_weights[] = "top_level_model_weights";

typedef struct keras_reader {
    const char *path;
    nnb_error *error;
} keras_reader;

/* A list of new strings. */
typedef struct string_list {
    char **items;
    int count;
} string_list;

static nnb_status reader_error(const keras_reader *reader, nnb_status status,
                               const char *format, ...) __attribute__((format(printf, 3, 4)));

/* Store "PATH: <text>". */
static nnb_status reader_error(const keras_reader *reader, nnb_status status,
                               const char *format, ...)
{
    char detail[NNB_ERROR_MESSAGE_MAX];
    va_list args;
    va_start(args, format);
    vsnprintf(detail, sizeof detail, format, args);
    va_end(args);
    return nnb_error_set(reader->error, status, "%s: %s", reader->path, detail);
}

static nnb_status layer_error(const keras_reader *reader, const nnb_keras_layer *layer,
                              nnb_status status, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

/* Store "PATH: layer N 'NAME' (CLASS): <text>". */
static nnb_status layer_error(const keras_reader *reader, const nnb_keras_layer *layer,
                              nnb_status status, const char *format, ...)
{
    char detail[NNB_ERROR_MESSAGE_MAX];
    va_list args;
    va_start(args, format);
    vsnprintf(detail, sizeof detail, format, args);
    va_end(args);
    return nnb_error_set(reader->error, status, "%s: layer %d '%s' (%s): %s", reader->path,
                         layer->position, layer->name, layer->class_name, detail);
}

static nnb_status out_of_memory(const keras_reader *reader)
{
    return reader_error(reader, NNB_ERR_NO_MEMORY, "out of memory reading the Keras model");
}

static void string_list_free(string_list *list)
{
    for (int i = 0; i < list->count; i++)
        free(list->items[i]);
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

/* Describe attribute `name` of `group_path` ("" for the root) in messages. */
static void attribute_label(char *buffer, size_t size, const char *group_path, const char *name)
{
    if (group_path[0] == '\0')
        snprintf(buffer, size, "root attribute '%s'", name);
    else
        snprintf(buffer, size, "attribute '%s' of group '%s'", name, group_path);
}

/* ---- String attributes ---------------------------------------------------- */

/* Copy the strings of an open string attribute into `list`. */
static nnb_status copy_string_attribute(const keras_reader *reader, hid_t attribute,
                                        hid_t file_type, hid_t space, const char *label,
                                        int count, size_t max_length, string_list *list)
{
    list->items = calloc((size_t)count, sizeof *list->items);
    if (list->items == NULL)
        return out_of_memory(reader);
    list->count = count;

    int entry = 0;
    size_t length = 0;
    nnb_status status = NNB_OK;
    switch (nnb_io_hdf5_read_strings(attribute, file_type, space, count, max_length,
                                     list->items, &entry, &length)) {
    case NNB_IO_STRING_OK:
        break;
    case NNB_IO_STRING_BAD_TYPE:
        status = reader_error(reader, NNB_ERR_IO, "cannot read the string type of %s", label);
        break;
    case NNB_IO_STRING_TOO_LONG:
        if (entry < 0)
            status = reader_error(reader, NNB_ERR_FORMAT,
                                  "%s holds strings of %zu bytes; at most %zu are supported",
                                  label, length, max_length);
        else
            status = reader_error(reader, NNB_ERR_FORMAT,
                                  "%s: entry %d is %zu bytes long; at most %zu are supported",
                                  label, entry, length, max_length);
        break;
    case NNB_IO_STRING_READ_FAILED:
        status = reader_error(reader, NNB_ERR_IO, "cannot read %s", label);
        break;
    case NNB_IO_STRING_NO_MEMORY:
        status = out_of_memory(reader);
        break;
    }
    if (status != NNB_OK)
        string_list_free(list);
    return status;
}

/* Read string attribute `name` of `object` (the group at `group_path`) into
 * `list`: fixed- or variable-length, ASCII or UTF-8, a scalar or a
 * one-dimensional array. An attribute with no elements of any type (Keras
 * stores weight_names of a layer without weights as an empty float array)
 * gives an empty list. */
static nnb_status read_strings(const keras_reader *reader, hid_t object, const char *group_path,
                               const char *name, size_t max_length, string_list *list)
{
    hid_t attribute = H5I_INVALID_HID;
    hid_t file_type = H5I_INVALID_HID;
    hid_t space = H5I_INVALID_HID;
    nnb_status status = NNB_OK;
    char label[LABEL_SIZE];
    attribute_label(label, sizeof label, group_path, name);
    list->items = NULL;
    list->count = 0;

    attribute = H5Aopen(object, name, H5P_DEFAULT);
    if (attribute < 0) {
        status = reader_error(reader, NNB_ERR_IO, "cannot open %s", label);
        goto cleanup;
    }
    file_type = H5Aget_type(attribute);
    space = H5Aget_space(attribute);
    if (file_type < 0 || space < 0) {
        status = reader_error(reader, NNB_ERR_IO, "cannot read the type of %s", label);
        goto cleanup;
    }

    int rank = H5Sget_simple_extent_ndims(space);
    hssize_t points = H5Sget_simple_extent_npoints(space);
    if (rank < 0 || points < 0) {
        status = reader_error(reader, NNB_ERR_IO, "cannot read the shape of %s", label);
        goto cleanup;
    }
    if (points == 0)
        goto cleanup;

    H5T_class_t type_class = H5Tget_class(file_type);
    if (type_class != H5T_STRING) {
        status = reader_error(reader, NNB_ERR_FORMAT, "%s has type class %s; expected strings",
                              label, nnb_io_hdf5_class_name(type_class));
        goto cleanup;
    }
    if (rank > 1) {
        status = reader_error(reader, NNB_ERR_FORMAT,
                              "%s has rank %d; expected one string or a one-dimensional list",
                              label, rank);
        goto cleanup;
    }
    if (points > MAX_LIST_ENTRIES) {
        status = reader_error(reader, NNB_ERR_FORMAT, "%s has %lld entries; at most %d are "
                              "supported", label, (long long)points, MAX_LIST_ENTRIES);
        goto cleanup;
    }
    status = copy_string_attribute(reader, attribute, file_type, space, label, (int)points,
                                   max_length, list);

cleanup:
    if (space >= 0)
        H5Sclose(space);
    if (file_type >= 0)
        H5Tclose(file_type);
    if (attribute >= 0)
        H5Aclose(attribute);
    return status;
}

static nnb_status attribute_exists(const keras_reader *reader, hid_t object,
                                   const char *group_path, const char *name, int *exists)
{
    htri_t found = H5Aexists(object, name);
    if (found < 0) {
        char label[LABEL_SIZE];
        attribute_label(label, sizeof label, group_path, name);
        return reader_error(reader, NNB_ERR_IO, "cannot check for %s", label);
    }
    *exists = found > 0;
    return NNB_OK;
}

/* Read a string attribute that must hold exactly one string. */
static nnb_status read_single_string(const keras_reader *reader, hid_t object,
                                     const char *group_path, const char *name,
                                     size_t max_length, char **text)
{
    string_list list = {0};
    *text = NULL;
    nnb_status status = read_strings(reader, object, group_path, name, max_length, &list);
    if (status != NNB_OK)
        return status;
    if (list.count != 1) {
        char label[LABEL_SIZE];
        attribute_label(label, sizeof label, group_path, name);
        status = reader_error(reader, NNB_ERR_FORMAT, "%s holds %d strings; expected one",
                              label, list.count);
    } else {
        *text = list.items[0];
        list.items[0] = NULL;
    }
    string_list_free(&list);
    return status;
}

/* Read the name list `base` (layer_names, weight_names) of `object`. Keras
 * splits a list too large for one HDF5 object header into base0, base1, ...
 * and those are joined in order. *found is 0 when neither form exists. */
static nnb_status read_name_list(const keras_reader *reader, hid_t object, const char *group_path,
                                 const char *base, string_list *list, int *found)
{
    list->items = NULL;
    list->count = 0;
    *found = 0;

    int exists = 0;
    nnb_status status = attribute_exists(reader, object, group_path, base, &exists);
    if (status != NNB_OK)
        return status;
    if (exists) {
        *found = 1;
        return read_strings(reader, object, group_path, base, MAX_NAME_BYTES, list);
    }

    for (int part = 0;; part++) {
        char name[64];
        snprintf(name, sizeof name, "%s%d", base, part);
        status = attribute_exists(reader, object, group_path, name, &exists);
        if (status != NNB_OK || !exists)
            break;
        *found = 1;

        string_list chunk = {0};
        status = read_strings(reader, object, group_path, name, MAX_NAME_BYTES, &chunk);
        if (status != NNB_OK)
            break;
        if (list->count + chunk.count > MAX_LIST_ENTRIES) {
            string_list_free(&chunk);
            status = reader_error(reader, NNB_ERR_FORMAT, "the parts of '%s' in '%s' hold more "
                                  "than %d names", base, group_path[0] ? group_path : "/",
                                  MAX_LIST_ENTRIES);
            break;
        }
        char **items = realloc(list->items, (size_t)(list->count + chunk.count + 1)
                                                * sizeof *items);
        if (items == NULL) {
            string_list_free(&chunk);
            status = out_of_memory(reader);
            break;
        }
        list->items = items;
        memcpy(list->items + list->count, chunk.items, (size_t)chunk.count * sizeof *items);
        list->count += chunk.count;
        free(chunk.items);
    }
    if (status != NNB_OK)
        string_list_free(list);
    return status;
}

/* ---- Detection ---------------------------------------------------------- */

/* Nonzero when the open file carries one of the Keras markers. */
static int has_keras_markers(hid_t file)
{
    static const char *const markers[] = {"keras_version", "backend", "model_config",
                                          "layer_names", "layer_names0"};
    for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++) {
        if (H5Aexists(file, markers[i]) > 0)
            return 1;
    }
    return H5Lexists(file, "model_weights", H5P_DEFAULT) > 0;
}

int nnb_io_keras_detect(const char *path)
{
    if (path == NULL)
        return 0;
    nnb_io_hdf5_quiet quiet;
    nnb_io_hdf5_quiet_begin(&quiet);

    int keras = 0;
    hid_t file = H5I_INVALID_HID;
    if (H5Fis_hdf5(path) > 0)
        file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file >= 0)
        keras = H5Aexists(file, "format") == 0 && has_keras_markers(file);

    if (file >= 0)
        H5Fclose(file);
    nnb_io_hdf5_quiet_end(&quiet);
    return keras;
}

/* ---- The model configuration -------------------------------------------- */

/* Read a whole JSON file of at most NNB_KERAS_MAX_CONFIG_BYTES. */
static nnb_status read_config_file(const char *config_path, char **text, size_t *length,
                                   nnb_error *error)
{
    *text = NULL;
    *length = 0;
    FILE *file = fopen(config_path, "rb");
    if (file == NULL) {
        return nnb_error_set(error, NNB_ERR_IO, "%s: cannot open the Keras config file: %s",
                             config_path, strerror(errno));
    }

    nnb_status status = NNB_OK;
    size_t capacity = 64 * 1024;
    char *buffer = malloc(capacity);
    size_t used = 0;
    while (buffer != NULL) {
        used += fread(buffer + used, 1, capacity - used, file);
        if (used < capacity)
            break;
        if (capacity >= NNB_KERAS_MAX_CONFIG_BYTES) {
            status = nnb_error_set(error, NNB_ERR_FORMAT, "%s: the Keras config file is larger "
                                   "than %d bytes", config_path, NNB_KERAS_MAX_CONFIG_BYTES);
            break;
        }
        capacity *= 2;
        char *grown = realloc(buffer, capacity);
        if (grown == NULL) {
            free(buffer);
            buffer = NULL;
            break;
        }
        buffer = grown;
    }
    if (status == NNB_OK && buffer == NULL)
        status = nnb_error_set(error, NNB_ERR_NO_MEMORY, "%s: out of memory reading the Keras "
                               "config file", config_path);
    if (status == NNB_OK && ferror(file)) {
        status = nnb_error_set(error, NNB_ERR_IO, "%s: cannot read the Keras config file: %s",
                               config_path, strerror(errno));
    }
    fclose(file);

    if (status != NNB_OK) {
        free(buffer);
        return status;
    }
    *text = buffer;
    *length = used;
    return NNB_OK;
}

/* Parse the architecture: the --keras-config file when given, else the
 * root attribute model_config. A file without either contains weights only. */
static nnb_status read_model_config(const keras_reader *reader, hid_t file,
                                    const char *config_path, nnb_json_value **root)
{
    char *text = NULL;
    size_t length = 0;
    nnb_status status;
    char source[LABEL_SIZE];
    *root = NULL;

    if (config_path != NULL) {
        status = read_config_file(config_path, &text, &length, reader->error);
        snprintf(source, sizeof source, "%s", config_path);
    } else {
        int exists = 0;
        status = attribute_exists(reader, file, "", "model_config", &exists);
        if (status != NNB_OK)
            return status;
        if (!exists) {
            return reader_error(reader, NNB_ERR_FORMAT,
                                "the file holds Keras weights only (no root attribute "
                                "'model_config', as model.save_weights() writes); give the "
                                "architecture as JSON from model.to_json(), for example with "
                                "'nnbatch convert %s OUT.h5 --keras-config model.json'",
                                reader->path);
        }
        status = read_single_string(reader, file, "", "model_config",
                                    NNB_KERAS_MAX_CONFIG_BYTES, &text);
        if (text != NULL)
            length = strlen(text);
        snprintf(source, sizeof source, "%s: root attribute 'model_config'", reader->path);
    }
    if (status != NNB_OK)
        return status;

    nnb_json_error json_error;
    status = nnb_json_parse(text, length, root, &json_error);
    free(text);
    if (status == NNB_ERR_NO_MEMORY)
        return out_of_memory(reader);
    if (status != NNB_OK) {
        return nnb_error_set(reader->error, status, "%s is not valid JSON: line %d, column %d: "
                             "%s", source, json_error.line, json_error.column,
                             json_error.message);
    }
    return NNB_OK;
}

/* ---- Weights -------------------------------------------------------------- */

/* Where the per-layer weight groups are and which layers have one. */
typedef struct weight_store {
    hid_t root;             /* the model_weights group, or the file */
    const char *root_path;  /* "/model_weights" or "" */
    string_list layer_names;
    char **sorted_names;    /* layer_names sorted, for lookups */
} weight_store;

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int store_has_layer(const weight_store *store, const char *name)
{
    return bsearch(&name, store->sorted_names, (size_t)store->layer_names.count,
                   sizeof *store->sorted_names, compare_strings) != NULL;
}

/* Nonzero when every component of the relative HDF5 path `relative` exists
 * under `base`. H5Lexists() fails, rather than returning 0, when an
 * intermediate group is missing, so the components are checked in turn. */
static int path_exists(hid_t base, const char *relative)
{
    char prefix[MAX_NAME_BYTES + 1];
    size_t length = strlen(relative);
    if (length > MAX_NAME_BYTES)
        return 0;
    for (size_t i = 0; i <= length; i++) {
        if (relative[i] != '/' && relative[i] != '\0')
            continue;
        memcpy(prefix, relative, i);
        prefix[i] = '\0';
        if (H5Lexists(base, prefix, H5P_DEFAULT) <= 0)
            return 0;
    }
    return 1;
}

/* Read weight `name` (a path relative to the layer group `group`, at HDF5
 * path `group_path`) into *param, converted to float32. A weight of rank
 * other than 1 or 2 keeps its rank and first dimensions but no data; the
 * layer's checks reject it. */
static nnb_status read_weight(const keras_reader *reader, const nnb_keras_layer *layer,
                              hid_t group, const char *group_path, const char *name,
                              nnb_param_desc *param)
{
    hid_t dataset = H5I_INVALID_HID;
    nnb_status status = NNB_OK;
    char path[LABEL_SIZE + MAX_NAME_BYTES + 2];
    snprintf(path, sizeof path, "%s/%s", group_path, name);

    param->name = strdup(name);
    if (param->name == NULL)
        return out_of_memory(reader);
    if (name[0] == '\0' || name[0] == '/' || strstr(name, "//") != NULL
        || name[strlen(name) - 1] == '/') {
        return layer_error(reader, layer, NNB_ERR_FORMAT,
                           "weight_names lists '%s', which is not a path relative to the "
                           "layer's group '%s'", name, group_path);
    }
    if (!path_exists(group, name)) {
        return layer_error(reader, layer, NNB_ERR_FORMAT,
                           "weight '%s' listed in weight_names is missing: no dataset '%s'",
                           name, path);
    }

    dataset = H5Oopen(group, name, H5P_DEFAULT);
    if (dataset < 0 || H5Iget_type(dataset) != H5I_DATASET) {
        status = layer_error(reader, layer, NNB_ERR_FORMAT, "weight '%s' is not a dataset "
                             "('%s')", name, path);
        goto cleanup;
    }
    H5T_class_t type_class;
    switch (nnb_io_hdf5_read_parameter(dataset, param, &type_class)) {
    case NNB_IO_PARAMETER_OK:
        break;
    case NNB_IO_PARAMETER_NOT_NUMERIC:
        status = layer_error(reader, layer, NNB_ERR_FORMAT, "weight '%s' has type class %s; "
                             "expected numbers", name, nnb_io_hdf5_class_name(type_class));
        break;
    case NNB_IO_PARAMETER_TOO_LARGE:
        status = layer_error(reader, layer, NNB_ERR_FORMAT,
                             "weight '%s' is too large: a weight holds at most %lld values",
                             name, (long long)NNB_IO_MAX_PARAMETER_VALUES);
        break;
    case NNB_IO_PARAMETER_READ_FAILED:
        status = reader_error(reader, NNB_ERR_IO, "cannot read dataset '%s'", path);
        break;
    case NNB_IO_PARAMETER_NO_MEMORY:
        status = out_of_memory(reader);
        break;
    }

cleanup:
    if (dataset >= 0)
        H5Oclose(dataset);
    return status;
}

static void free_params(nnb_param_desc *params, int count)
{
    for (int i = 0; params != NULL && i < count; i++) {
        free(params[i].name);
        free(params[i].data);
    }
    free(params);
}

/* Read the weights of `layer` in weight_names order into a new array of
 * exactly `expected` parameters; `roles` names them for messages
 * ("kernel, bias"). */
static nnb_status read_layer_weights(const keras_reader *reader, const weight_store *store,
                                     const nnb_keras_layer *layer, int expected,
                                     const char *roles, nnb_param_desc **params_out)
{
    hid_t group = H5I_INVALID_HID;
    string_list names = {0};
    nnb_param_desc *params = NULL;
    nnb_status status = NNB_OK;
    char group_path[LABEL_SIZE];
    snprintf(group_path, sizeof group_path, "%s/%s", store->root_path, layer->name);
    *params_out = NULL;

    if (!store_has_layer(store, layer->name)) {
        char label[LABEL_SIZE];
        attribute_label(label, sizeof label, store->root_path, "layer_names");
        return layer_error(reader, layer, NNB_ERR_FORMAT,
                           "the layer's weights are missing: %s does not list it", label);
    }
    if (!path_exists(store->root, layer->name)) {
        return layer_error(reader, layer, NNB_ERR_FORMAT,
                           "the layer's weights are missing: group '%s' does not exist",
                           group_path);
    }
    group = H5Gopen2(store->root, layer->name, H5P_DEFAULT);
    if (group < 0) {
        status = reader_error(reader, NNB_ERR_IO, "cannot open group '%s'", group_path);
        goto cleanup;
    }

    int found = 0;
    status = read_name_list(reader, group, group_path, "weight_names", &names, &found);
    if (status != NNB_OK)
        goto cleanup;
    if (!found) {
        status = layer_error(reader, layer, NNB_ERR_FORMAT, "group '%s' has no attribute "
                             "'weight_names'", group_path);
        goto cleanup;
    }
    if (names.count != expected) {
        status = layer_error(reader, layer, NNB_ERR_FORMAT,
                             "weight_names of group '%s' lists %d weight%s; this layer's "
                             "config needs %d (%s)",
                             group_path, names.count, names.count == 1 ? "" : "s", expected,
                             roles);
        goto cleanup;
    }

    params = calloc((size_t)expected, sizeof *params);
    if (params == NULL) {
        status = out_of_memory(reader);
        goto cleanup;
    }
    for (int i = 0; i < expected && status == NNB_OK; i++)
        status = read_weight(reader, layer, group, group_path, names.items[i], &params[i]);

cleanup:
    if (status == NNB_OK)
        *params_out = params;
    else
        free_params(params, expected);
    string_list_free(&names);
    if (group >= 0)
        H5Gclose(group);
    return status;
}

/* Open the weights: model_weights/ of a full save, else the root of a
 * save_weights file. Reads layer_names (or its split form). */
static nnb_status open_weight_store(const keras_reader *reader, hid_t file, weight_store *store)
{
    memset(store, 0, sizeof *store);
    store->root = H5I_INVALID_HID;

    htri_t full_save = H5Lexists(file, "model_weights", H5P_DEFAULT);
    if (full_save < 0)
        return reader_error(reader, NNB_ERR_IO, "cannot check for group 'model_weights'");
    if (full_save) {
        store->root = H5Gopen2(file, "model_weights", H5P_DEFAULT);
        store->root_path = "/model_weights";
        if (store->root < 0)
            return reader_error(reader, NNB_ERR_IO, "cannot open group '/model_weights'");
    } else {
        store->root = H5Gopen2(file, "/", H5P_DEFAULT);
        store->root_path = "";
        if (store->root < 0)
            return reader_error(reader, NNB_ERR_IO, "cannot open the root group");
    }

    int found = 0;
    nnb_status status = read_name_list(reader, store->root, store->root_path, "layer_names",
                                       &store->layer_names, &found);
    if (status != NNB_OK)
        return status;
    if (!found) {
        return reader_error(reader, NNB_ERR_FORMAT,
                            full_save ? "group '/model_weights' has no attribute 'layer_names'"
                                      : "no weights found: the file has neither a group "
                                        "'model_weights' (model.save) nor a root attribute "
                                        "'layer_names' (model.save_weights)");
    }

    int count = store->layer_names.count;
    store->sorted_names = malloc((size_t)(count > 0 ? count : 1) * sizeof *store->sorted_names);
    if (store->sorted_names == NULL)
        return out_of_memory(reader);
    memcpy(store->sorted_names, store->layer_names.items, (size_t)count * sizeof(char *));
    qsort(store->sorted_names, (size_t)count, sizeof *store->sorted_names, compare_strings);
    return NNB_OK;
}

static void close_weight_store(weight_store *store)
{
    if (store->root >= 0)
        H5Gclose(store->root);
    free(store->sorted_names);
    string_list_free(&store->layer_names);
    store->root = H5I_INVALID_HID;
}

/* Reject weights of layers that the configuration does not have: such a
 * file does not belong to this architecture (Keras itself refuses to load
 * it). Layers without weights, such as InputLayer and Dropout, may be
 * listed freely. */
static nnb_status check_unused_weights(const keras_reader *reader, const weight_store *store,
                                       const nnb_keras_chain *chain)
{
    char **config_names = malloc((size_t)chain->count * sizeof *config_names);
    if (config_names == NULL)
        return out_of_memory(reader);
    for (int i = 0; i < chain->count; i++)
        config_names[i] = (char *)chain->layers[i].name;
    qsort(config_names, (size_t)chain->count, sizeof *config_names, compare_strings);

    nnb_status status = NNB_OK;
    for (int i = 0; i < store->layer_names.count && status == NNB_OK; i++) {
        const char *name = store->layer_names.items[i];
        if (strcmp(name, top_level_weights) == 0
            || bsearch(&name, config_names, (size_t)chain->count, sizeof *config_names,
                       compare_strings) != NULL)
            continue;

        char group_path[LABEL_SIZE];
        snprintf(group_path, sizeof group_path, "%s/%s", store->root_path, name);
        hid_t group = path_exists(store->root, name) ? H5Gopen2(store->root, name, H5P_DEFAULT)
                                                     : H5I_INVALID_HID;
        if (group < 0)
            continue;
        string_list names = {0};
        int found = 0;
        status = read_name_list(reader, group, group_path, "weight_names", &names, &found);
        if (status == NNB_OK && names.count > 0) {
            status = reader_error(reader, NNB_ERR_FORMAT,
                                  "the file has weights for layer '%s' (group '%s'), which the "
                                  "model config does not have; the weights belong to another "
                                  "architecture", name, group_path);
        }
        string_list_free(&names);
        H5Gclose(group);
    }
    free(config_names);
    return status;
}

/* ---- From layers to computation stages ------------------------------------ */

/* A Dense layer (matmul, optional bias, activation) or an Activation
 * layer, after BatchNormalization folding. */
typedef struct keras_stage {
    const nnb_keras_layer *layer;
    int is_dense;
    int64_t in;
    int64_t out;
    float *kernel; /* (in, out), row-major */
    float *bias;   /* out entries, or NULL */
    nnb_keras_activation activation;
} keras_stage;

typedef struct stage_builder {
    const keras_reader *reader;
    const weight_store *store;
    keras_stage *stages;
    int stage_count;
    int64_t width;          /* features per row of the current value; -1 until known */
    int flat;               /* 0 while the value has more than one feature dimension */
    nnb_keras_shape shape;  /* the input's shape, for messages while !flat */
    int foldable;           /* the last stage is a Dense with a linear activation and
                               only Dropout or Flatten layers came after it */
    /* BatchNormalization maps waiting for the next Dense: x * scale + shift */
    double *pending_scale;
    double *pending_shift;
    const nnb_keras_layer *pending_layer;
} stage_builder;

static nnb_status stage_shape_error(const stage_builder *builder, const nnb_keras_layer *layer,
                                    const nnb_param_desc *param, const char *expected)
{
    char shape[64];
    if (param->rank == 1)
        snprintf(shape, sizeof shape, "(%lld)", (long long)param->dims[0]);
    else if (param->rank == 2)
        snprintf(shape, sizeof shape, "(%lld, %lld)", (long long)param->dims[0],
                 (long long)param->dims[1]);
    else
        snprintf(shape, sizeof shape, "of rank %d", param->rank);
    return layer_error(builder->reader, layer, NNB_ERR_FORMAT,
                       "weight '%s' has shape %s; expected %s", param->name, shape, expected);
}

static nnb_status require_flat(const stage_builder *builder, const nnb_keras_layer *layer)
{
    if (builder->flat)
        return NNB_OK;
    char shape[160];
    nnb_io_keras_format_shape(&builder->shape, shape, sizeof shape);
    return layer_error(builder->reader, layer, NNB_ERR_MODEL,
                       "the layer reads a value of shape %s; nnbatch scores one feature vector "
                       "per row, so a Flatten layer must come first", shape);
}

/* Set the input width from a weight when no layer declared an input shape. */
static void learn_width(stage_builder *builder, int64_t width)
{
    if (builder->width < 0)
        builder->width = width;
}

static nnb_status add_stage(stage_builder *builder, keras_stage **stage)
{
    keras_stage *grown = realloc(builder->stages,
                                 (size_t)(builder->stage_count + 1) * sizeof *grown);
    if (grown == NULL)
        return out_of_memory(builder->reader);
    builder->stages = grown;
    *stage = &builder->stages[builder->stage_count++];
    memset(*stage, 0, sizeof **stage);
    return NNB_OK;
}

static nnb_status build_dense(stage_builder *builder, const nnb_keras_layer *layer)
{
    nnb_param_desc *params = NULL;
    int expected = layer->use_bias ? 2 : 1;
    nnb_status status = require_flat(builder, layer);
    if (status == NNB_OK)
        status = read_layer_weights(builder->reader, builder->store, layer, expected,
                                    layer->use_bias ? "kernel, bias" : "kernel", &params);
    if (status != NNB_OK)
        return status;

    char expected_shape[96];
    const nnb_param_desc *kernel = &params[0];
    if (kernel->rank == 2)
        learn_width(builder, kernel->dims[0]);
    if (builder->width >= 0)
        snprintf(expected_shape, sizeof expected_shape, "(%lld, %lld), (input width, units)",
                 (long long)builder->width, (long long)layer->units);
    else
        snprintf(expected_shape, sizeof expected_shape, "(input width, %lld)",
                 (long long)layer->units);
    if (kernel->rank != 2 || kernel->dims[0] != builder->width
        || kernel->dims[1] != layer->units) {
        status = stage_shape_error(builder, layer, kernel, expected_shape);
        goto cleanup;
    }
    if (layer->use_bias) {
        snprintf(expected_shape, sizeof expected_shape, "(%lld), (units)",
                 (long long)layer->units);
        if (params[1].rank != 1 || params[1].dims[0] != layer->units) {
            status = stage_shape_error(builder, layer, &params[1], expected_shape);
            goto cleanup;
        }
    }

    keras_stage *stage = NULL;
    status = add_stage(builder, &stage);
    if (status != NNB_OK)
        goto cleanup;
    stage->layer = layer;
    stage->is_dense = 1;
    stage->in = builder->width;
    stage->out = layer->units;
    stage->activation = layer->activation;
    stage->kernel = params[0].data;
    params[0].data = NULL;
    if (layer->use_bias) {
        stage->bias = params[1].data;
        params[1].data = NULL;
    }

    /* Fold waiting BatchNormalization maps: (x * s + t) W + b
     * = x (diag(s) W) + (t W + b). */
    if (builder->pending_layer != NULL) {
        if (stage->bias == NULL) {
            stage->bias = calloc((size_t)stage->out, sizeof *stage->bias);
            if (stage->bias == NULL) {
                status = out_of_memory(builder->reader);
                goto cleanup;
            }
        }
        for (int64_t j = 0; j < stage->out; j++) {
            double sum = stage->bias[j];
            for (int64_t i = 0; i < stage->in; i++)
                sum += builder->pending_shift[i] * stage->kernel[i * stage->out + j];
            stage->bias[j] = (float)sum;
        }
        for (int64_t i = 0; i < stage->in; i++) {
            for (int64_t j = 0; j < stage->out; j++) {
                float *w = &stage->kernel[i * stage->out + j];
                *w = (float)(builder->pending_scale[i] * *w);
            }
        }
        free(builder->pending_scale);
        free(builder->pending_shift);
        builder->pending_scale = NULL;
        builder->pending_shift = NULL;
        builder->pending_layer = NULL;
    }

    builder->width = layer->units;
    builder->foldable = layer->activation == NNB_KERAS_LINEAR;

cleanup:
    free_params(params, expected);
    return status;
}

/* The message for a BatchNormalization layer with no Dense to fold into. */
static nnb_status unfoldable_error(const stage_builder *builder, const nnb_keras_layer *layer)
{
    return layer_error(builder->reader, layer, NNB_ERR_MODEL,
                       "the layer cannot be folded into a Dense layer; nnbatch has no "
                       "per-feature scale operator, so a BatchNormalization must follow a "
                       "Dense layer with a linear activation or precede a Dense layer, with "
                       "only Dropout or Flatten layers between them");
}

static nnb_status build_activation(stage_builder *builder, const nnb_keras_layer *layer)
{
    if (layer->activation == NNB_KERAS_LINEAR)
        return NNB_OK;
    if (builder->pending_layer != NULL)
        return unfoldable_error(builder, builder->pending_layer);
    if (builder->width < 0) {
        return layer_error(builder->reader, layer, NNB_ERR_MODEL,
                           "the input width is unknown; give the first layer an input shape "
                           "(batch_input_shape, or an InputLayer)");
    }

    keras_stage *stage = NULL;
    nnb_status status = add_stage(builder, &stage);
    if (status != NNB_OK)
        return status;
    stage->layer = layer;
    stage->in = builder->width;
    stage->out = builder->width;
    stage->activation = layer->activation;
    builder->foldable = 0;
    return NNB_OK;
}

/* Fold a BatchNormalization layer: weights gamma (when scale), beta (when
 * center), moving_mean and moving_variance, in weight_names order. */
static nnb_status build_batch_normalization(stage_builder *builder,
                                            const nnb_keras_layer *layer)
{
    nnb_param_desc *params = NULL;
    double *scale = NULL;
    double *shift = NULL;
    int expected = layer->scale + layer->center + 2;
    char roles[64];
    snprintf(roles, sizeof roles, "%s%smoving_mean, moving_variance",
             layer->scale ? "gamma, " : "", layer->center ? "beta, " : "");

    nnb_status status = require_flat(builder, layer);
    if (status == NNB_OK)
        status = read_layer_weights(builder->reader, builder->store, layer, expected, roles,
                                    &params);
    if (status != NNB_OK)
        return status;

    if (params[0].rank == 1)
        learn_width(builder, params[0].dims[0]);
    char expected_shape[64];
    if (builder->width >= 0)
        snprintf(expected_shape, sizeof expected_shape, "(%lld), the input width",
                 (long long)builder->width);
    else
        snprintf(expected_shape, sizeof expected_shape, "(input width)");
    for (int k = 0; k < expected; k++) {
        if (params[k].rank != 1 || params[k].dims[0] != builder->width) {
            status = stage_shape_error(builder, layer, &params[k], expected_shape);
            goto cleanup;
        }
    }

    int64_t width = builder->width;
    scale = malloc((size_t)width * sizeof *scale);
    shift = malloc((size_t)width * sizeof *shift);
    if (scale == NULL || shift == NULL) {
        status = out_of_memory(builder->reader);
        goto cleanup;
    }
    const float *gamma = layer->scale ? params[0].data : NULL;
    const float *beta = layer->center ? params[layer->scale].data : NULL;
    const float *mean = params[expected - 2].data;
    const float *variance = params[expected - 1].data;
    for (int64_t i = 0; i < width; i++) {
        double s = (gamma != NULL ? gamma[i] : 1.0) / sqrt((double)variance[i] + layer->epsilon);
        scale[i] = s;
        shift[i] = (beta != NULL ? beta[i] : 0.0) - (double)mean[i] * s;
    }

    if (builder->foldable) {
        /* (x W + b) * s + t = x (W diag(s)) + (b * s + t) */
        keras_stage *dense = &builder->stages[builder->stage_count - 1];
        if (dense->bias == NULL) {
            dense->bias = calloc((size_t)dense->out, sizeof *dense->bias);
            if (dense->bias == NULL) {
                status = out_of_memory(builder->reader);
                goto cleanup;
            }
        }
        for (int64_t i = 0; i < dense->in; i++) {
            for (int64_t j = 0; j < dense->out; j++) {
                float *w = &dense->kernel[i * dense->out + j];
                *w = (float)(*w * scale[j]);
            }
        }
        for (int64_t j = 0; j < dense->out; j++)
            dense->bias[j] = (float)(dense->bias[j] * scale[j] + shift[j]);
    } else if (builder->pending_layer == NULL) {
        builder->pending_scale = scale;
        builder->pending_shift = shift;
        builder->pending_layer = layer;
        scale = NULL;
        shift = NULL;
    } else {
        /* Two maps in a row compose: (x * s1 + t1) * s2 + t2. */
        for (int64_t i = 0; i < width; i++) {
            builder->pending_shift[i] = builder->pending_shift[i] * scale[i] + shift[i];
            builder->pending_scale[i] *= scale[i];
        }
    }

cleanup:
    free(scale);
    free(shift);
    free_params(params, expected);
    return status;
}

/* Set the input shape from the first layer, or the Sequential model's
 * build_input_shape; the width stays -1 when neither declares one. */
static nnb_status start_input(stage_builder *builder, const nnb_keras_chain *chain)
{
    const nnb_keras_shape *shape = &chain->layers[0].input_shape;
    if (shape->rank == 0)
        shape = &chain->build_shape;
    builder->width = -1;
    builder->flat = 1;
    if (shape->rank == 0)
        return NNB_OK;

    int64_t width = 1;
    for (int d = 0; d < shape->rank; d++) {
        if (shape->dims[d] > (INT64_C(1) << 31) / width) {
            return layer_error(builder->reader, &chain->layers[0], NNB_ERR_MODEL,
                               "the input has more than 2^31 features per row");
        }
        width *= shape->dims[d];
    }
    builder->width = width;
    builder->flat = shape->rank == 1;
    builder->shape = *shape;
    return NNB_OK;
}

static nnb_status build_stages(stage_builder *builder, const nnb_keras_chain *chain)
{
    nnb_status status = start_input(builder, chain);
    for (int i = 0; i < chain->count && status == NNB_OK; i++) {
        const nnb_keras_layer *layer = &chain->layers[i];
        switch (layer->kind) {
        case NNB_KERAS_INPUT:
            if (i != 0) {
                status = layer_error(builder->reader, layer, NNB_ERR_MODEL,
                                     "an InputLayer must be the first layer");
            }
            break;
        case NNB_KERAS_DENSE:
            status = build_dense(builder, layer);
            break;
        case NNB_KERAS_ACTIVATION:
            status = build_activation(builder, layer);
            break;
        case NNB_KERAS_BATCH_NORMALIZATION:
            status = build_batch_normalization(builder, layer);
            break;
        case NNB_KERAS_FLATTEN:
            builder->flat = 1;
            break;
        case NNB_KERAS_DROPOUT:
            break;
        }
    }
    if (status != NNB_OK)
        return status;

    if (builder->pending_layer != NULL)
        return unfoldable_error(builder, builder->pending_layer);
    if (builder->stage_count == 0) {
        return reader_error(builder->reader, NNB_ERR_MODEL,
                            "the model has no Dense layer and no Activation layer other than "
                            "linear, so there is nothing to compute");
    }
    return NNB_OK;
}

static void free_stages(stage_builder *builder)
{
    for (int i = 0; i < builder->stage_count; i++) {
        free(builder->stages[i].kernel);
        free(builder->stages[i].bias);
    }
    free(builder->stages);
    free(builder->pending_scale);
    free(builder->pending_shift);
    memset(builder, 0, sizeof *builder);
}

/* ---- The graph description ---------------------------------------------- */

static nnb_op activation_op(nnb_keras_activation activation)
{
    switch (activation) {
    case NNB_KERAS_RELU: return NNB_OP_RELU;
    case NNB_KERAS_SIGMOID: return NNB_OP_SIGMOID;
    case NNB_KERAS_TANH: return NNB_OP_TANH;
    case NNB_KERAS_SOFTMAX: return NNB_OP_SOFTMAX;
    case NNB_KERAS_LINEAR: break;
    }
    return NNB_OP_COUNT;
}

/* Append a node reading `input`, named `name` or "name:suffix" when suffix
 * is not NULL. */
static nnb_status append_node(const keras_reader *reader, nnb_graph_desc *desc, const char *name,
                              const char *suffix, nnb_op op, const char *input)
{
    nnb_node_desc *node = &desc->nodes[desc->node_count++];
    size_t size = strlen(name) + (suffix != NULL ? strlen(suffix) + 2 : 1);
    node->name = malloc(size);
    node->op = strdup(nnb_op_name(op));
    node->inputs = calloc(1, sizeof *node->inputs);
    if (node->name == NULL || node->op == NULL || node->inputs == NULL)
        return out_of_memory(reader);
    node->input_count = 1;
    node->inputs[0] = strdup(input);
    if (node->inputs[0] == NULL)
        return out_of_memory(reader);
    if (suffix != NULL)
        snprintf(node->name, size, "%s:%s", name, suffix);
    else
        snprintf(node->name, size, "%s", name);
    return NNB_OK;
}

/* Give the last node a parameter, taking ownership of `data`. */
static nnb_status attach_param(const keras_reader *reader, nnb_graph_desc *desc,
                               const char *name, int rank, int64_t d0, int64_t d1, float *data)
{
    nnb_node_desc *node = &desc->nodes[desc->node_count - 1];
    node->params = calloc(1, sizeof *node->params);
    if (node->params == NULL) {
        free(data);
        return out_of_memory(reader);
    }
    node->param_count = 1;
    node->params[0].name = strdup(name);
    node->params[0].rank = rank;
    node->params[0].dims[0] = d0;
    node->params[0].dims[1] = d1;
    node->params[0].data = data;
    return node->params[0].name != NULL ? NNB_OK : out_of_memory(reader);
}

/* Turn the stages into nodes. A layer's last node carries the layer's name,
 * and its earlier ones are "NAME:matmul" and "NAME:bias". The model's last
 * node, the graph output, is named after the configuration's last layer. */
static nnb_status emit_graph(const keras_reader *reader, stage_builder *builder,
                             const nnb_keras_chain *chain, nnb_graph_desc *desc)
{
    const nnb_keras_layer *first = &chain->layers[0];
    const char *last_layer = chain->layers[chain->count - 1].name;

    desc->inputs = calloc(1, sizeof *desc->inputs);
    if (desc->inputs == NULL)
        return out_of_memory(reader);
    desc->input_count = 1;
    desc->inputs[0].role = NNB_INPUT_FEATURES;
    /* Only Dense layers change the width, so the first stage reads the input. */
    desc->inputs[0].width = builder->stages[0].in;
    /* Keras names the implicit input of a Sequential model "<first layer>_input". */
    size_t size = strlen(first->name) + sizeof "_input";
    desc->inputs[0].name = malloc(size);
    if (desc->inputs[0].name == NULL)
        return out_of_memory(reader);
    snprintf(desc->inputs[0].name, size, "%s%s", first->name,
             first->kind == NNB_KERAS_INPUT ? "" : "_input");

    /* A stage becomes at most three nodes: matmul, bias and activation. */
    desc->nodes = calloc((size_t)builder->stage_count * 3, sizeof *desc->nodes);
    if (desc->nodes == NULL)
        return out_of_memory(reader);

    nnb_status status = NNB_OK;
    for (int i = 0; i < builder->stage_count && status == NNB_OK; i++) {
        keras_stage *stage = &builder->stages[i];
        const char *name = stage->layer->name;
        const char *input = desc->node_count > 0 ? desc->nodes[desc->node_count - 1].name
                                                 : desc->inputs[0].name;
        nnb_op op = activation_op(stage->activation);
        if (!stage->is_dense) {
            status = append_node(reader, desc, name, NULL, op, input);
            continue;
        }

        int has_bias = stage->bias != NULL;
        int has_activation = op != NNB_OP_COUNT;
        status = append_node(reader, desc, name, has_bias || has_activation ? "matmul" : NULL,
                             NNB_OP_MATMUL, input);
        if (status == NNB_OK) {
            status = attach_param(reader, desc, "weight", 2, stage->in, stage->out,
                                  stage->kernel);
            stage->kernel = NULL;
        }
        if (status == NNB_OK && has_bias) {
            status = append_node(reader, desc, name, has_activation ? "bias" : NULL,
                                 NNB_OP_BIAS, desc->nodes[desc->node_count - 1].name);
            if (status == NNB_OK) {
                status = attach_param(reader, desc, "bias", 1, stage->out, 0, stage->bias);
                stage->bias = NULL;
            }
        }
        if (status == NNB_OK && has_activation)
            status = append_node(reader, desc, name, NULL, op,
                                 desc->nodes[desc->node_count - 1].name);
    }
    if (status != NNB_OK)
        return status;

    nnb_node_desc *last = &desc->nodes[desc->node_count - 1];
    if (strcmp(last->name, last_layer) != 0) {
        char *renamed = strdup(last_layer);
        if (renamed == NULL)
            return out_of_memory(reader);
        free(last->name);
        last->name = renamed;
    }
    desc->outputs = calloc(1, sizeof *desc->outputs);
    if (desc->outputs == NULL)
        return out_of_memory(reader);
    desc->output_count = 1;
    desc->outputs[0] = strdup(last_layer);
    return desc->outputs[0] != NULL ? NNB_OK : out_of_memory(reader);
}

/* ---- The file --------------------------------------------------------------- */

/* "Keras VERSION" from the root attribute keras_version, or from the
 * model_weights group where some versions also store it. */
static nnb_status read_origin(const keras_reader *reader, hid_t file, char **origin)
{
    static const char *const places[] = {"/", "model_weights"};
    char *version = NULL;
    nnb_status status = NNB_OK;
    *origin = NULL;

    for (size_t i = 0; i < sizeof places / sizeof places[0] && version == NULL; i++) {
        if (i > 0 && H5Lexists(file, places[i], H5P_DEFAULT) <= 0)
            continue;
        hid_t group = H5Oopen(file, places[i], H5P_DEFAULT);
        if (group < 0)
            continue;
        const char *group_path = i == 0 ? "" : "/model_weights";
        int exists = 0;
        status = attribute_exists(reader, group, group_path, "keras_version", &exists);
        if (status == NNB_OK && exists)
            status = read_single_string(reader, group, group_path, "keras_version", 64,
                                        &version);
        H5Oclose(group);
        if (status != NNB_OK)
            return status;
    }

    const char *text = version != NULL ? version : "(version not recorded)";
    size_t size = strlen(text) + sizeof "Keras ";
    *origin = malloc(size);
    if (*origin != NULL)
        snprintf(*origin, size, "Keras %s", text);
    free(version);
    return *origin != NULL ? NNB_OK : out_of_memory(reader);
}

static nnb_status read_keras_file(const keras_reader *reader, const char *config_path,
                                  nnb_graph_desc *desc, char **origin)
{
    hid_t file = H5I_INVALID_HID;
    nnb_json_value *config = NULL;
    nnb_keras_chain chain = {0};
    weight_store store = {.root = H5I_INVALID_HID};
    stage_builder builder = {0};
    nnb_status status = NNB_OK;

    /* The status of a failed open is only stored in an nnb_error, so use a
     * local one when the caller passed none. */
    nnb_error open_error;
    nnb_error *open_target = reader->error != NULL ? reader->error : &open_error;
    file = nnb_io_hdf5_open_read(reader->path, "Keras model", open_target);
    if (file < 0) {
        status = open_target->status;
        goto cleanup;
    }
    if (H5Aexists(file, "format") > 0) {
        status = reader_error(reader, NNB_ERR_FORMAT,
                              "is not a Keras model file: it has the root attribute 'format' "
                              "of nnbatch's own model format, which needs no conversion");
        goto cleanup;
    }
    if (!has_keras_markers(file)) {
        status = reader_error(reader, NNB_ERR_FORMAT,
                              "is not a Keras model file: it has none of the root attributes "
                              "keras_version, backend, model_config and layer_names, and no "
                              "group 'model_weights'");
        goto cleanup;
    }

    status = read_origin(reader, file, origin);
    if (status == NNB_OK)
        status = read_model_config(reader, file, config_path, &config);
    if (status != NNB_OK)
        goto cleanup;

    char source[LABEL_SIZE];
    if (config_path != NULL)
        snprintf(source, sizeof source, "%s", config_path);
    else
        snprintf(source, sizeof source, "%s", reader->path);
    status = nnb_io_keras_config_read(config, source, &chain, reader->error);
    if (status == NNB_OK)
        status = open_weight_store(reader, file, &store);
    if (status == NNB_OK)
        status = check_unused_weights(reader, &store, &chain);
    if (status != NNB_OK)
        goto cleanup;

    builder.reader = reader;
    builder.store = &store;
    status = build_stages(&builder, &chain);
    if (status == NNB_OK)
        status = emit_graph(reader, &builder, &chain, desc);

cleanup:
    free_stages(&builder);
    close_weight_store(&store);
    nnb_io_keras_chain_destroy(&chain);
    nnb_json_free(config);
    if (file >= 0)
        H5Fclose(file);
    return status;
}

nnb_status nnb_io_keras_read(const char *path, const char *config_path, nnb_graph_desc *desc,
                             char **origin, nnb_error *error)
{
    if (desc != NULL)
        memset(desc, 0, sizeof *desc);
    if (origin != NULL)
        *origin = NULL;
    if (path == NULL || desc == NULL || origin == NULL) {
        return nnb_error_set(error, NNB_ERR_INVALID_ARGUMENT,
                             "nnb_io_keras_read: path, description and origin must not be "
                             "NULL");
    }
    keras_reader reader = {path, error};

    desc->source = strdup(path);
    if (desc->source == NULL)
        return out_of_memory(&reader);

    nnb_io_hdf5_quiet quiet;
    nnb_io_hdf5_quiet_begin(&quiet);
    nnb_status status = read_keras_file(&reader, config_path, desc, origin);
    nnb_io_hdf5_quiet_end(&quiet);

    if (status != NNB_OK) {
        nnb_graph_desc_destroy(desc);
        free(*origin);
        *origin = NULL;
    }
    return status;
}

nnb_status nnb_model_load_keras(const char *path, const char *config_path, nnb_model **model,
                                nnb_error *error)
{
    if (model == NULL || path == NULL) {
        return nnb_error_set(error, NNB_ERR_INVALID_ARGUMENT,
                             "nnb_model_load_keras: path and model must not be NULL");
    }
    *model = NULL;

    nnb_graph_desc desc;
    char *origin = NULL;
    nnb_status status = nnb_io_keras_read(path, config_path, &desc, &origin, error);
    if (status != NNB_OK)
        return status;
    status = nnb_graph_build(&desc, model, error);
    nnb_graph_desc_destroy(&desc);
    if (status == NNB_OK)
        (*model)->origin = origin;
    else
        free(origin);
    return status;
}

const char *nnb_model_origin(const nnb_model *model)
{
    return model != NULL ? model->origin : NULL;
}
