/* The nnbatch model file writer declared in io/model_write.h. */
#include "io/model_write.h"

#include "engine/status.h"
#include "graph/graph.h"
#include "io/hdf5_util.h"
#include "io/model_file.h"

#include <hdf5.h>

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct model_writer {
    const char *path;      /* final path, for messages */
    const char *temp_path; /* file being written */
    nnb_error *error;
} model_writer;

/* Store "PATH: cannot write <target>: <HDF5 detail>". */
static nnb_status write_error(const model_writer *writer, const char *target)
{
    char detail[256];
    nnb_io_hdf5_error_detail(detail, sizeof detail);
    return nnb_error_set(writer->error, NNB_ERR_IO, "%s: cannot write %s%s%s", writer->path,
                         target, detail[0] != '\0' ? ": " : "", detail);
}

/* Nonzero when `name` can be the link name of a group that nnbatch reads
 * back: HDF5 reads '/' as a path separator and "." as the current group,
 * and the model reader accepts names of at most NNB_MODEL_MAX_NAME bytes. */
static int is_link_name(const char *name)
{
    return name[0] != '\0' && strchr(name, '/') == NULL && strcmp(name, ".") != 0
           && strlen(name) <= NNB_MODEL_MAX_NAME;
}

/* Create an empty file beside `path` named ".NAME.tmp-XXXXXX", in the same
 * file system so that rename() replaces `path` atomically. */
static nnb_status create_temp_file(const char *path, char **temp_out, nnb_error *error)
{
    char *dir_copy = strdup(path);
    char *base_copy = strdup(path);
    char *temp = NULL;
    nnb_status status = NNB_OK;
    *temp_out = NULL;
    if (dir_copy == NULL || base_copy == NULL) {
        status = nnb_error_set(error, NNB_ERR_NO_MEMORY, "%s: out of memory", path);
        goto cleanup;
    }

    const char *dir = dirname(dir_copy);
    const char *base = basename(base_copy);
    size_t size = strlen(dir) + strlen(base) + 16;
    temp = malloc(size);
    if (temp == NULL) {
        status = nnb_error_set(error, NNB_ERR_NO_MEMORY, "%s: out of memory", path);
        goto cleanup;
    }
    snprintf(temp, size, "%s/.%s.tmp-XXXXXX", dir, base);

    int fd = mkstemp(temp);
    if (fd < 0) {
        status = nnb_error_set(error, NNB_ERR_IO, "%s: cannot create the model file in "
                               "directory '%s': %s", path, dir, strerror(errno));
        free(temp);
        temp = NULL;
        goto cleanup;
    }
    /* mkstemp() creates mode 0600; give the model the usual umask mode. */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    close(fd);
    *temp_out = temp;

cleanup:
    free(base_copy);
    free(dir_copy);
    return status;
}

/* ---- Attributes and datasets ---------------------------------------------- */

/* Write string attribute `name`: a scalar when `scalar`, else a
 * one-dimensional array of `count` strings. */
static herr_t write_strings(hid_t object, const char *name, const char *const *values,
                            int count, int scalar)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    hid_t space = H5I_INVALID_HID;
    hid_t attribute = H5I_INVALID_HID;
    herr_t result = -1;

    if (type < 0 || H5Tset_size(type, H5T_VARIABLE) < 0 || H5Tset_cset(type, H5T_CSET_UTF8) < 0)
        goto cleanup;
    hsize_t dims[1] = {(hsize_t)count};
    space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, NULL);
    if (space < 0)
        goto cleanup;
    attribute = H5Acreate2(object, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attribute >= 0)
        result = H5Awrite(attribute, type, values);

cleanup:
    if (attribute >= 0 && H5Aclose(attribute) < 0)
        result = -1;
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    return result;
}

static herr_t write_string(hid_t object, const char *name, const char *value)
{
    return write_strings(object, name, &value, 1, 1);
}

static herr_t write_integer(hid_t object, const char *name, int64_t value)
{
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attribute = H5I_INVALID_HID;
    herr_t result = -1;
    if (space >= 0)
        attribute = H5Acreate2(object, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attribute >= 0)
        result = H5Awrite(attribute, H5T_NATIVE_INT64, &value);
    if (attribute >= 0 && H5Aclose(attribute) < 0)
        result = -1;
    if (space >= 0)
        H5Sclose(space);
    return result;
}

/* Write a float32 dataset of rank 1 (d1 ignored) or 2. */
static herr_t write_floats(hid_t group, const char *name, int rank, int64_t d0, int64_t d1,
                           const float *data)
{
    hsize_t dims[2] = {(hsize_t)d0, (hsize_t)d1};
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t dataset = H5I_INVALID_HID;
    herr_t result = -1;
    if (space >= 0)
        dataset = H5Dcreate2(group, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT,
                             H5P_DEFAULT);
    if (dataset >= 0)
        result = H5Dwrite(dataset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    if (dataset >= 0 && H5Dclose(dataset) < 0)
        result = -1;
    if (space >= 0)
        H5Sclose(space);
    return result;
}

/* ---- The model -------------------------------------------------------------- */

static nnb_status write_inputs(const model_writer *writer, const nnb_model *model, hid_t file)
{
    hid_t inputs = H5Gcreate2(file, "inputs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t group = H5I_INVALID_HID;
    nnb_status status = NNB_OK;
    if (inputs < 0)
        return write_error(writer, "group '/inputs'");

    group = H5Gcreate2(inputs, model->features_name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (group < 0 || write_string(group, "role", "features") < 0
        || write_integer(group, "width", model->input_width) < 0) {
        status = write_error(writer, "the features input");
        goto cleanup;
    }
    if (model->labels_name != NULL) {
        H5Gclose(group);
        group = H5Gcreate2(inputs, model->labels_name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (group < 0 || write_string(group, "role", "labels") < 0)
            status = write_error(writer, "the labels input");
    }

cleanup:
    if (group >= 0)
        H5Gclose(group);
    H5Gclose(inputs);
    return status;
}

static nnb_status write_node(const model_writer *writer, const nnb_model *model, hid_t nodes,
                             int index)
{
    const nnb_node *node = &model->nodes[index];
    const char *inputs[NNB_MAX_NODE_INPUTS];
    int input_count = 0;
    for (int slot = 0; slot < node->input_count; slot++)
        inputs[input_count++] = nnb_model_node_input(model, index, slot);

    char label[NNB_MODEL_MAX_NAME + 32];
    snprintf(label, sizeof label, "node '%s'", node->name);
    hid_t group = H5Gcreate2(nodes, node->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t result = group >= 0 ? 0 : -1;
    if (result >= 0)
        result = write_string(group, "op", nnb_op_name(node->op));
    if (result >= 0)
        result = write_strings(group, "inputs", inputs, input_count, 0);
    if (result >= 0 && node->weight != NULL)
        result = write_floats(group, "weight", 2, node->weight_rows, node->weight_cols,
                              node->weight);
    if (result >= 0 && node->bias != NULL)
        result = write_floats(group, "bias", 1, node->width, 0, node->bias);
    if (group >= 0 && H5Gclose(group) < 0)
        result = -1;
    return result >= 0 ? NNB_OK : write_error(writer, label);
}

static nnb_status write_model(const model_writer *writer, const nnb_model *model,
                              const char *description, hid_t file)
{
    const char **outputs = calloc((size_t)model->output_count, sizeof *outputs);
    if (outputs == NULL)
        return nnb_error_set(writer->error, NNB_ERR_NO_MEMORY, "%s: out of memory", writer->path);
    for (int i = 0; i < model->output_count; i++)
        outputs[i] = model->nodes[model->outputs[i]].name;

    herr_t result = write_string(file, "format", NNB_MODEL_FORMAT);
    if (result >= 0)
        result = write_integer(file, "format_version", NNB_MODEL_FORMAT_VERSION);
    if (result >= 0)
        result = write_strings(file, "outputs", outputs, model->output_count, 0);
    if (result >= 0 && description != NULL)
        result = write_string(file, "description", description);
    free(outputs);
    if (result < 0)
        return write_error(writer, "the root attributes");

    nnb_status status = write_inputs(writer, model, file);
    if (status != NNB_OK)
        return status;

    hid_t nodes = H5Gcreate2(file, "nodes", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (nodes < 0)
        return write_error(writer, "group '/nodes'");
    for (int i = 0; i < model->node_count && status == NNB_OK; i++)
        status = write_node(writer, model, nodes, i);
    H5Gclose(nodes);
    return status;
}

/* Reject names that cannot be HDF5 link names before creating any file. */
static nnb_status check_names(const nnb_model *model, const char *path, nnb_error *error)
{
    const char *names[2] = {model->features_name, model->labels_name};
    for (int i = 0; i < 2; i++) {
        if (names[i] != NULL && !is_link_name(names[i])) {
            return nnb_error_set(error, NNB_ERR_INVALID_ARGUMENT,
                                 "%s: input name '%s' cannot be stored in an nnbatch model "
                                 "file, which takes names of 1 to %d bytes without '/' that "
                                 "are not '.'; rename the input", path, names[i],
                                 NNB_MODEL_MAX_NAME);
        }
    }
    for (int i = 0; i < model->node_count; i++) {
        if (!is_link_name(model->nodes[i].name)) {
            return nnb_error_set(error, NNB_ERR_INVALID_ARGUMENT,
                                 "%s: node name '%s' cannot be stored in an nnbatch model "
                                 "file, which takes names of 1 to %d bytes without '/' that "
                                 "are not '.'; rename the layer", path, model->nodes[i].name,
                                 NNB_MODEL_MAX_NAME);
        }
    }
    return NNB_OK;
}

nnb_status nnb_model_save(const nnb_model *model, const char *path, const char *description,
                          nnb_error *error)
{
    if (model == NULL || path == NULL) {
        return nnb_error_set(error, NNB_ERR_INVALID_ARGUMENT,
                             "nnb_model_save: model and path must not be NULL");
    }
    struct stat target;
    struct stat source;
    if (stat(path, &target) == 0 && S_ISDIR(target.st_mode)) {
        return nnb_error_set(error, NNB_ERR_IO, "%s: output path is a directory; give a file "
                             "name such as %s/model.h5", path, path);
    }
    if (model->source != NULL && stat(path, &target) == 0 && stat(model->source, &source) == 0
        && source.st_dev == target.st_dev && source.st_ino == target.st_ino) {
        return nnb_error_set(error, NNB_ERR_IO, "%s: output path is the file the model was "
                             "loaded from; choose another output path", path);
    }
    nnb_status status = check_names(model, path, error);
    if (status != NNB_OK)
        return status;

    char *temp_path = NULL;
    status = create_temp_file(path, &temp_path, error);
    if (status != NNB_OK)
        return status;
    model_writer writer = {path, temp_path, error};

    nnb_io_hdf5_quiet quiet;
    nnb_io_hdf5_quiet_begin(&quiet);
    hid_t file = H5Fcreate(temp_path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0)
        status = write_error(&writer, "the model file");
    else
        status = write_model(&writer, model, description, file);
    if (file >= 0 && H5Fclose(file) < 0 && status == NNB_OK)
        status = write_error(&writer, "the model file (closing it failed)");
    nnb_io_hdf5_quiet_end(&quiet);

    if (status == NNB_OK && rename(temp_path, path) != 0) {
        status = nnb_error_set(error, NNB_ERR_IO, "%s: cannot rename the finished model file "
                               "'%s' to it: %s", path, temp_path, strerror(errno));
    }
    if (status != NNB_OK)
        unlink(temp_path);
    free(temp_path);
    return status;
}
