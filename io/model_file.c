/* The HDF5 model file reader, and nnb_model_load() built on it. */
#include "io/model_file.h"

#include "engine/status.h"
#include "io/hdf5_util.h"
#include "io/keras.h"

#include <hdf5.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for "node '<name>'" and similar owner labels in messages. */
#define OWNER_LABEL_SIZE (NNB_MODEL_MAX_NAME + 32)
#define ATTRIBUTE_LABEL_SIZE (OWNER_LABEL_SIZE + 64)

/* The file being read, for messages. */
typedef struct model_reader {
    const char *path;
    nnb_error *error;
} model_reader;

/* Store an error "PATH: <formatted text>". */
static nnb_status reader_error(const model_reader *reader, nnb_status status,
                               const char *format, ...) __attribute__((format(printf, 3, 4)));

static nnb_status reader_error(const model_reader *reader, nnb_status status,
                               const char *format, ...)
{
    char detail[NNB_ERROR_MESSAGE_MAX];
    va_list args;
    va_start(args, format);
    vsnprintf(detail, sizeof detail, format, args);
    va_end(args);
    return nnb_error_set(reader->error, status, "%s: %s", reader->path, detail);
}

static nnb_status out_of_memory(const model_reader *reader)
{
    return reader_error(reader, NNB_ERR_NO_MEMORY, "out of memory reading the model");
}

/* Name attribute `name` of `owner` for messages: "root attribute 'format'"
 * when owner is NULL, else "node 'dense1': attribute 'op'". */
static void attribute_label(char *buffer, size_t size, const char *owner, const char *name)
{
    if (owner == NULL)
        snprintf(buffer, size, "root attribute '%s'", name);
    else
        snprintf(buffer, size, "%s: attribute '%s'", owner, name);
}

static char *copy_string(const char *text)
{
    return strdup(text);
}

/* ---- Attributes --------------------------------------------------------- */

static nnb_status attribute_exists(const model_reader *reader, hid_t object, const char *owner,
                                   const char *name, int *exists)
{
    htri_t found = H5Aexists(object, name);
    if (found < 0) {
        char label[ATTRIBUTE_LABEL_SIZE];
        attribute_label(label, sizeof label, owner, name);
        return reader_error(reader, NNB_ERR_IO, "cannot check for %s", label);
    }
    *exists = found > 0;
    return NNB_OK;
}

/* Number of elements of an attribute's dataspace: 1 for a scalar, the
 * length of a one-dimensional array, 0 for a null dataspace. */
static nnb_status count_attribute_elements(const model_reader *reader, hid_t space,
                                           const char *label, int *count)
{
    H5S_class_t space_class = H5Sget_simple_extent_type(space);
    if (space_class == H5S_SCALAR) {
        *count = 1;
        return NNB_OK;
    }
    if (space_class == H5S_NULL) {
        *count = 0;
        return NNB_OK;
    }

    int rank = H5Sget_simple_extent_ndims(space);
    if (space_class != H5S_SIMPLE || rank < 0)
        return reader_error(reader, NNB_ERR_IO, "cannot read the shape of %s", label);
    if (rank != 1) {
        return reader_error(reader, NNB_ERR_FORMAT,
                            "%s has rank %d; expected one string or a one-dimensional list",
                            label, rank);
    }

    hsize_t length = 0;
    if (H5Sget_simple_extent_dims(space, &length, NULL) < 0)
        return reader_error(reader, NNB_ERR_IO, "cannot read the shape of %s", label);
    if (length > NNB_MODEL_MAX_OBJECTS) {
        return reader_error(reader, NNB_ERR_FORMAT, "%s has %llu entries; at most %d are supported",
                            label, (unsigned long long)length, NNB_MODEL_MAX_OBJECTS);
    }
    *count = (int)length;
    return NNB_OK;
}

/* Read string attribute `name` of `object` into *strings_out, a new array of
 * *count_out new strings (NULL when the count is 0). Accepts fixed- and
 * variable-length strings, ASCII or UTF-8, stored as a scalar (one string)
 * or a one-dimensional array. Fixed-length strings lose their padding. */
static nnb_status read_string_attribute(const model_reader *reader, hid_t object,
                                        const char *owner, const char *name,
                                        char ***strings_out, int *count_out)
{
    hid_t attribute = H5I_INVALID_HID;
    hid_t file_type = H5I_INVALID_HID;
    hid_t space = H5I_INVALID_HID;
    char **strings = NULL;
    int count = 0;
    nnb_status status = NNB_OK;

    char label[ATTRIBUTE_LABEL_SIZE];
    attribute_label(label, sizeof label, owner, name);
    *strings_out = NULL;
    *count_out = 0;

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

    H5T_class_t type_class = H5Tget_class(file_type);
    if (type_class != H5T_STRING) {
        status = reader_error(reader, NNB_ERR_FORMAT, "%s has type class %s; expected a string",
                              label, nnb_io_hdf5_class_name(type_class));
        goto cleanup;
    }
    status = count_attribute_elements(reader, space, label, &count);
    if (status != NNB_OK || count == 0)
        goto cleanup;

    strings = calloc((size_t)count, sizeof *strings);
    if (strings == NULL) {
        status = out_of_memory(reader);
        goto cleanup;
    }
    int entry = 0;
    size_t length = 0;
    switch (nnb_io_hdf5_read_strings(attribute, file_type, space, count, NNB_MODEL_MAX_NAME,
                                     strings, &entry, &length)) {
    case NNB_IO_STRING_OK:
        break;
    case NNB_IO_STRING_BAD_TYPE:
        status = reader_error(reader, NNB_ERR_IO, "cannot read the string type of %s", label);
        break;
    case NNB_IO_STRING_TOO_LONG:
        if (entry < 0)
            status = reader_error(reader, NNB_ERR_FORMAT,
                                  "%s holds fixed-length strings of %zu bytes; strings are "
                                  "limited to %d bytes",
                                  label, length, NNB_MODEL_MAX_NAME);
        else
            status = reader_error(reader, NNB_ERR_FORMAT,
                                  "%s: entry %d is %zu bytes long; strings are limited to %d "
                                  "bytes",
                                  label, entry, length, NNB_MODEL_MAX_NAME);
        break;
    case NNB_IO_STRING_READ_FAILED:
        status = reader_error(reader, NNB_ERR_IO, "cannot read %s", label);
        break;
    case NNB_IO_STRING_NO_MEMORY:
        status = out_of_memory(reader);
        break;
    }

cleanup:
    if (status == NNB_OK && count > 0) {
        *strings_out = strings;
        *count_out = count;
    } else if (strings != NULL) {
        for (int i = 0; i < count; i++)
            free(strings[i]);
        free(strings);
    }
    if (space >= 0)
        H5Sclose(space);
    if (file_type >= 0)
        H5Tclose(file_type);
    if (attribute >= 0)
        H5Aclose(attribute);
    return status;
}

/* Read a string attribute that must hold exactly one string (a scalar or a
 * one-element array) into a new string. */
static nnb_status read_single_string_attribute(const model_reader *reader, hid_t object,
                                               const char *owner, const char *name,
                                               char **text)
{
    char **strings = NULL;
    int count = 0;
    *text = NULL;
    nnb_status status = read_string_attribute(reader, object, owner, name, &strings, &count);
    if (status != NNB_OK)
        return status;

    if (count != 1) {
        char label[ATTRIBUTE_LABEL_SIZE];
        attribute_label(label, sizeof label, owner, name);
        status = reader_error(reader, NNB_ERR_FORMAT, "%s holds %d strings; expected one",
                              label, count);
        for (int i = 0; i < count; i++)
            free(strings[i]);
    } else {
        *text = strings[0];
    }
    free(strings);
    return status;
}

/* Read a one-element integer attribute of any HDF5 integer type. */
static nnb_status read_integer_attribute(const model_reader *reader, hid_t object,
                                         const char *owner, const char *name, int64_t *value)
{
    hid_t attribute = H5I_INVALID_HID;
    hid_t file_type = H5I_INVALID_HID;
    hid_t space = H5I_INVALID_HID;
    nnb_status status = NNB_OK;

    char label[ATTRIBUTE_LABEL_SIZE];
    attribute_label(label, sizeof label, owner, name);

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

    H5T_class_t type_class = H5Tget_class(file_type);
    if (type_class != H5T_INTEGER) {
        status = reader_error(reader, NNB_ERR_FORMAT, "%s has type class %s; expected an integer",
                              label, nnb_io_hdf5_class_name(type_class));
        goto cleanup;
    }
    hssize_t points = H5Sget_simple_extent_npoints(space);
    if (points != 1) {
        status = reader_error(reader, NNB_ERR_FORMAT, "%s holds %lld values; expected one",
                              label, (long long)points);
        goto cleanup;
    }
    if (H5Aread(attribute, H5T_NATIVE_INT64, value) < 0)
        status = reader_error(reader, NNB_ERR_IO, "cannot read %s", label);

cleanup:
    if (space >= 0)
        H5Sclose(space);
    if (file_type >= 0)
        H5Tclose(file_type);
    if (attribute >= 0)
        H5Aclose(attribute);
    return status;
}

/* ---- Groups ------------------------------------------------------------- */

/* Why collect_link() stopped H5Literate(). */
typedef enum link_problem {
    LINK_OK = 0,
    LINK_NO_MEMORY,
    LINK_NOT_HARD,      /* a soft or external link */
    LINK_NAME_TOO_LONG, /* longer than NNB_MODEL_MAX_NAME bytes */
    LINK_TOO_MANY       /* more links than H5Gget_info() reported */
} link_problem;

/* Names of the links in a group, collected by H5Literate(). */
typedef struct link_list {
    char **names;
    int count;
    int capacity;
    link_problem problem;
    char problem_name[NNB_MODEL_MAX_NAME + 1]; /* the link concerned, maybe cut */
} link_list;

static herr_t collect_link(hid_t group, const char *name, const H5L_info_t *info, void *data)
{
    (void)group;
    link_list *list = data;

    if (info->type != H5L_TYPE_HARD)
        list->problem = LINK_NOT_HARD;
    else if (strlen(name) > NNB_MODEL_MAX_NAME)
        list->problem = LINK_NAME_TOO_LONG;
    else if (list->count >= list->capacity)
        list->problem = LINK_TOO_MANY;
    if (list->problem != LINK_OK) {
        snprintf(list->problem_name, sizeof list->problem_name, "%s", name);
        return -1;
    }

    list->names[list->count] = copy_string(name);
    if (list->names[list->count] == NULL) {
        list->problem = LINK_NO_MEMORY;
        return -1;
    }
    list->count++;
    return 0;
}

static void free_link_list(link_list *list)
{
    for (int i = 0; i < list->count; i++)
        free(list->names[i]);
    free(list->names);
    list->names = NULL;
    list->count = 0;
}

/* List the links of `group` (HDF5 path `group_path`, for messages) in name
 * order. Every link must be a hard link with a name of at most
 * NNB_MODEL_MAX_NAME bytes. */
static nnb_status list_links(const model_reader *reader, hid_t group, const char *group_path,
                             link_list *list)
{
    memset(list, 0, sizeof *list);

    H5G_info_t info;
    if (H5Gget_info(group, &info) < 0)
        return reader_error(reader, NNB_ERR_IO, "cannot read group '%s'", group_path);
    if (info.nlinks > NNB_MODEL_MAX_OBJECTS) {
        return reader_error(reader, NNB_ERR_FORMAT,
                            "group '%s' has %llu members; at most %d are supported",
                            group_path, (unsigned long long)info.nlinks, NNB_MODEL_MAX_OBJECTS);
    }

    list->capacity = (int)info.nlinks;
    list->names = calloc(info.nlinks > 0 ? (size_t)info.nlinks : 1, sizeof *list->names);
    if (list->names == NULL)
        return out_of_memory(reader);

    hsize_t index = 0;
    if (H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &index, collect_link, list) >= 0)
        return NNB_OK;

    nnb_status status;
    switch (list->problem) {
    case LINK_NO_MEMORY:
        status = out_of_memory(reader);
        break;
    case LINK_NOT_HARD:
        status = reader_error(reader, NNB_ERR_FORMAT,
                              "'%s/%s' is a soft or external link; store the group or "
                              "dataset itself there",
                              group_path, list->problem_name);
        break;
    case LINK_NAME_TOO_LONG:
        status = reader_error(reader, NNB_ERR_FORMAT,
                              "group '%s' has a member whose name is longer than %d bytes "
                              "(starting '%.40s')",
                              group_path, NNB_MODEL_MAX_NAME, list->problem_name);
        break;
    default:
        status = reader_error(reader, NNB_ERR_IO, "cannot list the members of group '%s'",
                              group_path);
        break;
    }
    free_link_list(list);
    return status;
}

/* Open member `name` of `parent` and check that it is an object of type
 * `expected` (H5I_GROUP or H5I_DATASET). `what` and `path` describe it in
 * messages ("node 'dense1'", "/nodes/dense1"). */
static nnb_status open_member(const model_reader *reader, hid_t parent, const char *name,
                              H5I_type_t expected, const char *what, const char *path,
                              hid_t *object)
{
    *object = H5Oopen(parent, name, H5P_DEFAULT);
    if (*object < 0)
        return reader_error(reader, NNB_ERR_IO, "cannot open %s at '%s'", what, path);

    H5I_type_t type = H5Iget_type(*object);
    if (type == expected)
        return NNB_OK;

    H5Oclose(*object);
    *object = H5I_INVALID_HID;
    return reader_error(reader, NNB_ERR_FORMAT, "'%s' is a %s, but %s must be a %s", path,
                        type == H5I_GROUP     ? "group"
                        : type == H5I_DATASET ? "dataset"
                                              : "named datatype",
                        what, expected == H5I_GROUP ? "group" : "dataset");
}

/* Open group `path` (absolute, such as "/nodes") of the file, which must
 * exist. `purpose` ends the message when it is missing. */
static nnb_status open_required_group(const model_reader *reader, hid_t file, const char *path,
                                      const char *purpose, hid_t *group)
{
    *group = H5I_INVALID_HID;
    htri_t exists = H5Lexists(file, path, H5P_DEFAULT);
    if (exists < 0)
        return reader_error(reader, NNB_ERR_IO, "cannot check for group '%s'", path);
    if (exists == 0) {
        return reader_error(reader, NNB_ERR_FORMAT, "group '%s' is missing; %s", path,
                            purpose);
    }
    return open_member(reader, file, path, H5I_GROUP, "it", path, group);
}

/* ---- Graph inputs ------------------------------------------------------- */

/* Read group /inputs/<name> into *input. */
static nnb_status read_input(const model_reader *reader, hid_t inputs_group, const char *name,
                             nnb_input_desc *input)
{
    hid_t group = H5I_INVALID_HID;
    char *role = NULL;
    nnb_status status = NNB_OK;

    char owner[OWNER_LABEL_SIZE];
    char path[OWNER_LABEL_SIZE];
    snprintf(owner, sizeof owner, "input '%s'", name);
    snprintf(path, sizeof path, "/inputs/%s", name);

    input->name = copy_string(name);
    if (input->name == NULL) {
        status = out_of_memory(reader);
        goto cleanup;
    }
    status = open_member(reader, inputs_group, name, H5I_GROUP, "a graph input", path, &group);
    if (status != NNB_OK)
        goto cleanup;

    int exists = 0;
    status = attribute_exists(reader, group, owner, "role", &exists);
    if (status != NNB_OK)
        goto cleanup;
    if (!exists) {
        status = reader_error(reader, NNB_ERR_FORMAT,
                              "%s: attribute 'role' is missing; set it to \"features\" or "
                              "\"labels\"",
                              owner);
        goto cleanup;
    }
    status = read_single_string_attribute(reader, group, owner, "role", &role);
    if (status != NNB_OK)
        goto cleanup;

    if (strcmp(role, "labels") == 0) {
        input->role = NNB_INPUT_LABELS;
        input->width = 0;
    } else if (strcmp(role, "features") == 0) {
        input->role = NNB_INPUT_FEATURES;
        status = attribute_exists(reader, group, owner, "width", &exists);
        if (status != NNB_OK)
            goto cleanup;
        if (!exists) {
            status = reader_error(reader, NNB_ERR_FORMAT,
                                  "%s: attribute 'width' is missing; a features input "
                                  "stores the number of features per row",
                                  owner);
            goto cleanup;
        }
        status = read_integer_attribute(reader, group, owner, "width", &input->width);
    } else {
        status = reader_error(reader, NNB_ERR_FORMAT,
                              "%s: attribute 'role' is \"%s\"; expected \"features\" or "
                              "\"labels\"",
                              owner, role);
    }

cleanup:
    free(role);
    if (group >= 0)
        H5Oclose(group);
    return status;
}

/* ---- Nodes -------------------------------------------------------------- */

/* Read dataset `name` of a node group into *param, converted to float32.
 * A parameter whose rank is not 1 or 2, or that has a dimension 0, is stored
 * with its rank and first two dimensions but no data. The graph builder then
 * rejects it with a message about the rank or the empty shape. */
static nnb_status read_parameter(const model_reader *reader, hid_t node_group,
                                 const char *node_name, const char *name, nnb_param_desc *param)
{
    hid_t dataset = H5I_INVALID_HID;
    nnb_status status = NNB_OK;

    char what[OWNER_LABEL_SIZE];
    char path[2 * OWNER_LABEL_SIZE];
    snprintf(what, sizeof what, "a parameter of node '%s'", node_name);
    snprintf(path, sizeof path, "/nodes/%s/%s", node_name, name);

    param->name = copy_string(name);
    if (param->name == NULL) {
        status = out_of_memory(reader);
        goto cleanup;
    }
    status = open_member(reader, node_group, name, H5I_DATASET, what, path, &dataset);
    if (status != NNB_OK)
        goto cleanup;

    H5T_class_t type_class;
    switch (nnb_io_hdf5_read_parameter(dataset, param, &type_class)) {
    case NNB_IO_PARAMETER_OK:
        break;
    case NNB_IO_PARAMETER_NOT_NUMERIC:
        status = reader_error(reader, NNB_ERR_FORMAT,
                              "node '%s': parameter dataset '%s' has type class %s; parameters "
                              "must be integer or floating-point numbers",
                              node_name, name, nnb_io_hdf5_class_name(type_class));
        break;
    case NNB_IO_PARAMETER_TOO_LARGE:
        status = reader_error(reader, NNB_ERR_FORMAT,
                              "dataset '%s' is too large: a parameter holds at most %lld values",
                              path, (long long)NNB_IO_MAX_PARAMETER_VALUES);
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

/* Read group /nodes/<name> into *node: @op, @inputs and the parameter
 * datasets. */
static nnb_status read_node(const model_reader *reader, hid_t nodes_group, const char *name,
                            nnb_node_desc *node)
{
    hid_t group = H5I_INVALID_HID;
    link_list params = {0};
    nnb_status status = NNB_OK;

    char owner[OWNER_LABEL_SIZE];
    char path[OWNER_LABEL_SIZE];
    snprintf(owner, sizeof owner, "node '%s'", name);
    snprintf(path, sizeof path, "/nodes/%s", name);

    node->name = copy_string(name);
    if (node->name == NULL) {
        status = out_of_memory(reader);
        goto cleanup;
    }
    status = open_member(reader, nodes_group, name, H5I_GROUP, "a node", path, &group);
    if (status != NNB_OK)
        goto cleanup;

    static const char *const required[] = {"op", "inputs"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        int exists = 0;
        status = attribute_exists(reader, group, owner, required[i], &exists);
        if (status != NNB_OK)
            goto cleanup;
        if (!exists) {
            status = reader_error(reader, NNB_ERR_FORMAT,
                                  "%s: attribute '%s' is missing; every node stores 'op' and "
                                  "'inputs'",
                                  owner, required[i]);
            goto cleanup;
        }
    }
    status = read_single_string_attribute(reader, group, owner, "op", &node->op);
    if (status != NNB_OK)
        goto cleanup;
    status = read_string_attribute(reader, group, owner, "inputs", &node->inputs,
                                   &node->input_count);
    if (status != NNB_OK)
        goto cleanup;

    status = list_links(reader, group, path, &params);
    if (status != NNB_OK || params.count == 0)
        goto cleanup;
    node->params = calloc((size_t)params.count, sizeof *node->params);
    if (node->params == NULL) {
        status = out_of_memory(reader);
        goto cleanup;
    }
    node->param_count = params.count;
    for (int k = 0; k < params.count && status == NNB_OK; k++)
        status = read_parameter(reader, group, name, params.names[k], &node->params[k]);

cleanup:
    free_link_list(&params);
    if (group >= 0)
        H5Oclose(group);
    return status;
}

/* ---- The file ----------------------------------------------------------- */

/* Check the root attributes @format and @format_version. */
static nnb_status check_format(const model_reader *reader, hid_t file)
{
    int exists = 0;
    nnb_status status = attribute_exists(reader, file, NULL, "format", &exists);
    if (status != NNB_OK)
        return status;
    if (!exists) {
        return reader_error(reader, NNB_ERR_FORMAT,
                            "is not an nnbatch model: root attribute 'format' is missing "
                            "(expected \"%s\")",
                            NNB_MODEL_FORMAT);
    }

    char *format = NULL;
    status = read_single_string_attribute(reader, file, NULL, "format", &format);
    if (status != NNB_OK)
        return status;
    if (strcmp(format, NNB_MODEL_FORMAT) != 0) {
        status = reader_error(reader, NNB_ERR_FORMAT,
                              "is not an nnbatch model: root attribute 'format' is \"%s\", "
                              "expected \"%s\"",
                              format, NNB_MODEL_FORMAT);
    }
    free(format);
    if (status != NNB_OK)
        return status;

    status = attribute_exists(reader, file, NULL, "format_version", &exists);
    if (status != NNB_OK)
        return status;
    if (!exists) {
        return reader_error(reader, NNB_ERR_FORMAT,
                            "root attribute 'format_version' is missing; this nnbatch reads "
                            "format_version %d",
                            NNB_MODEL_FORMAT_VERSION);
    }
    int64_t version = 0;
    status = read_integer_attribute(reader, file, NULL, "format_version", &version);
    if (status != NNB_OK)
        return status;
    if (version != NNB_MODEL_FORMAT_VERSION) {
        return reader_error(reader, NNB_ERR_FORMAT,
                            "format_version %lld is not supported; nnbatch %s reads "
                            "format_version %d",
                            (long long)version, NNB_VERSION_STRING, NNB_MODEL_FORMAT_VERSION);
    }
    return NNB_OK;
}

static nnb_status read_inputs(const model_reader *reader, hid_t file, nnb_graph_desc *desc)
{
    hid_t group = H5I_INVALID_HID;
    link_list names = {0};

    nnb_status status = open_required_group(reader, file, "/inputs",
                                            "a model stores one group per graph input there",
                                            &group);
    if (status == NNB_OK)
        status = list_links(reader, group, "/inputs", &names);
    if (status != NNB_OK || names.count == 0)
        goto cleanup;

    desc->inputs = calloc((size_t)names.count, sizeof *desc->inputs);
    if (desc->inputs == NULL) {
        status = out_of_memory(reader);
        goto cleanup;
    }
    desc->input_count = names.count;
    for (int i = 0; i < names.count && status == NNB_OK; i++)
        status = read_input(reader, group, names.names[i], &desc->inputs[i]);

cleanup:
    free_link_list(&names);
    if (group >= 0)
        H5Oclose(group);
    return status;
}

static nnb_status read_nodes(const model_reader *reader, hid_t file, nnb_graph_desc *desc)
{
    hid_t group = H5I_INVALID_HID;
    link_list names = {0};

    nnb_status status = open_required_group(reader, file, "/nodes",
                                            "a model stores one group per node there", &group);
    if (status == NNB_OK)
        status = list_links(reader, group, "/nodes", &names);
    if (status != NNB_OK || names.count == 0)
        goto cleanup;

    desc->nodes = calloc((size_t)names.count, sizeof *desc->nodes);
    if (desc->nodes == NULL) {
        status = out_of_memory(reader);
        goto cleanup;
    }
    desc->node_count = names.count;
    for (int i = 0; i < names.count && status == NNB_OK; i++)
        status = read_node(reader, group, names.names[i], &desc->nodes[i]);

cleanup:
    free_link_list(&names);
    if (group >= 0)
        H5Oclose(group);
    return status;
}

/* Open the model file and read it into *desc. */
static nnb_status read_model_file(const model_reader *reader, nnb_graph_desc *desc)
{
    hid_t file = H5I_INVALID_HID;
    nnb_status status = NNB_OK;

    /* The status of a failed open is only stored in an nnb_error, so use a
     * local one when the caller passed none. */
    nnb_error open_error;
    nnb_error *open_target = reader->error != NULL ? reader->error : &open_error;
    file = nnb_io_hdf5_open_read(reader->path, "model", open_target);
    if (file < 0) {
        status = open_target->status;
        goto cleanup;
    }

    status = check_format(reader, file);
    if (status != NNB_OK)
        goto cleanup;

    int exists = 0;
    status = attribute_exists(reader, file, NULL, "outputs", &exists);
    if (status != NNB_OK)
        goto cleanup;
    if (!exists) {
        status = reader_error(reader, NNB_ERR_FORMAT,
                              "root attribute 'outputs' is missing; list the names of the "
                              "nodes to write there");
        goto cleanup;
    }
    status = read_string_attribute(reader, file, NULL, "outputs", &desc->outputs,
                                   &desc->output_count);
    if (status != NNB_OK)
        goto cleanup;

    status = read_inputs(reader, file, desc);
    if (status != NNB_OK)
        goto cleanup;
    status = read_nodes(reader, file, desc);

cleanup:
    if (file >= 0)
        H5Fclose(file);
    return status;
}

nnb_status nnb_io_model_read(const char *path, nnb_graph_desc *desc, nnb_error *error)
{
    if (desc != NULL)
        memset(desc, 0, sizeof *desc);
    if (desc == NULL || path == NULL) {
        return nnb_error_set(error, NNB_ERR_INVALID_ARGUMENT,
                             "nnb_io_model_read: path and description must not be NULL");
    }
    model_reader reader = {path, error};

    desc->source = copy_string(path);
    if (desc->source == NULL)
        return out_of_memory(&reader);

    nnb_io_hdf5_quiet quiet;
    nnb_io_hdf5_quiet_begin(&quiet);
    nnb_status status = read_model_file(&reader, desc);
    nnb_io_hdf5_quiet_end(&quiet);

    if (status != NNB_OK)
        nnb_graph_desc_destroy(desc);
    return status;
}

nnb_status nnb_model_load(const char *path, nnb_model **model, nnb_error *error)
{
    if (model == NULL || path == NULL) {
        return nnb_error_set(error, NNB_ERR_INVALID_ARGUMENT,
                             "nnb_model_load: path and model must not be NULL");
    }
    *model = NULL;

    /* Keras files carry no architecture in nnbatch's format; their reader
     * builds the same description from the Keras layers. */
    if (nnb_io_keras_detect(path))
        return nnb_model_load_keras(path, NULL, model, error);

    nnb_graph_desc desc;
    nnb_status status = nnb_io_model_read(path, &desc, error);
    if (status != NNB_OK)
        return status;
    status = nnb_graph_build(&desc, model, error);
    nnb_graph_desc_destroy(&desc);
    return status;
}
