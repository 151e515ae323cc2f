#include "fixtures.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void *checked_calloc(size_t count, size_t size)
{
    void *p = calloc(count > 0 ? count : 1, size);
    if (p == NULL) {
        fprintf(stderr, "fixtures: out of memory\n");
        abort();
    }
    return p;
}

static char *text(const char *s)
{
    char *copy = strdup(s);
    if (copy == NULL)
        abort();
    return copy;
}

/* Add a node to `desc` reading `input_a` (and `input_b` when not NULL). */
static nnb_node_desc *add_node(nnb_graph_desc *desc, const char *name, const char *op,
                               const char *input_a, const char *input_b)
{
    nnb_node_desc *node = &desc->nodes[desc->node_count++];
    node->name = text(name);
    node->op = text(op);
    node->input_count = input_b != NULL ? 2 : 1;
    node->inputs = checked_calloc((size_t)node->input_count, sizeof *node->inputs);
    node->inputs[0] = text(input_a);
    if (input_b != NULL)
        node->inputs[1] = text(input_b);
    return node;
}

static void add_param(nnb_node_desc *node, const char *name, int rank, int64_t d0, int64_t d1,
                      float *data)
{
    node->params = checked_calloc(1, sizeof *node->params);
    node->param_count = 1;
    node->params[0].name = text(name);
    node->params[0].rank = rank;
    node->params[0].dims[0] = d0;
    node->params[0].dims[1] = d1;
    node->params[0].data = data;
}

static const char *activation_name(nnb_op op)
{
    switch (op) {
    case NNB_OP_RELU: return "relu";
    case NNB_OP_SIGMOID: return "sigmoid";
    case NNB_OP_TANH: return "tanh";
    default: return NULL;
    }
}

void test_mlp_desc(const test_mlp *mlp, nnb_graph_desc *desc)
{
    memset(desc, 0, sizeof *desc);
    desc->source = text("test-model.h5");
    desc->input_count = mlp->with_loss ? 2 : 1;
    desc->inputs = checked_calloc((size_t)desc->input_count, sizeof *desc->inputs);
    desc->inputs[0].name = text("x");
    desc->inputs[0].role = NNB_INPUT_FEATURES;
    desc->inputs[0].width = mlp->input_width;
    if (mlp->with_loss) {
        desc->inputs[1].name = text("y");
        desc->inputs[1].role = NNB_INPUT_LABELS;
    }
    desc->nodes = checked_calloc((size_t)(3 * mlp->layer_count + 2), sizeof *desc->nodes);

    char previous[64] = "x";
    for (int l = 0; l < mlp->layer_count; l++) {
        const test_layer *layer = &mlp->layers[l];
        int last = l == mlp->layer_count - 1;
        char name[64];

        /* Transpose (out x in) to the file layout (in, out). */
        float *weight = checked_calloc((size_t)(layer->in * layer->out), sizeof(float));
        for (int64_t o = 0; o < layer->out; o++)
            for (int64_t i = 0; i < layer->in; i++)
                weight[i * layer->out + o] = layer->weight[o * layer->in + i];
        snprintf(name, sizeof name, "dense%d", l + 1);
        int has_tail = layer->bias != NULL || activation_name(layer->activation) != NULL;
        if (last && !has_tail)
            snprintf(name, sizeof name, "logits");
        nnb_node_desc *node = add_node(desc, name, "matmul", previous, NULL);
        add_param(node, "weight", 2, layer->in, layer->out, weight);
        snprintf(previous, sizeof previous, "%s", name);

        if (layer->bias != NULL) {
            float *bias = checked_calloc((size_t)layer->out, sizeof(float));
            memcpy(bias, layer->bias, (size_t)layer->out * sizeof(float));
            if (last && activation_name(layer->activation) == NULL)
                snprintf(name, sizeof name, "logits");
            else
                snprintf(name, sizeof name, "bias%d", l + 1);
            node = add_node(desc, name, "bias", previous, NULL);
            add_param(node, "bias", 1, layer->out, 0, bias);
            snprintf(previous, sizeof previous, "%s", name);
        }
        if (activation_name(layer->activation) != NULL) {
            if (last)
                snprintf(name, sizeof name, "logits");
            else
                snprintf(name, sizeof name, "act%d", l + 1);
            add_node(desc, name, activation_name(layer->activation), previous, NULL);
            snprintf(previous, sizeof previous, "%s", name);
        }
    }

    desc->output_count = mlp->with_loss ? 3 : 1;
    desc->outputs = checked_calloc((size_t)desc->output_count, sizeof *desc->outputs);
    desc->outputs[0] = text("logits");
    if (mlp->with_loss) {
        add_node(desc, "probabilities", "softmax", "logits", NULL);
        add_node(desc, "loss", "cross_entropy", "probabilities", "y");
        desc->outputs[1] = text("probabilities");
        desc->outputs[2] = text("loss");
    }
}

nnb_model *test_mlp_model(const test_mlp *mlp)
{
    nnb_graph_desc desc;
    test_mlp_desc(mlp, &desc);
    nnb_model *model = NULL;
    nnb_error error;
    if (nnb_graph_build(&desc, &model, &error) != NNB_OK) {
        fprintf(stderr, "fixtures: test model does not build: %s\n", error.message);
        abort();
    }
    nnb_graph_desc_destroy(&desc);
    return model;
}

/* ---- Writing models and datasets ---------------------------------------- */

static hid_t string_type(void)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    return type;
}

static int write_string_attribute(hid_t object, const char *name, const char *value)
{
    hid_t type = string_type();
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attribute = H5Acreate2(object, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t result = H5Awrite(attribute, type, &value);
    H5Aclose(attribute);
    H5Sclose(space);
    H5Tclose(type);
    return result < 0 ? -1 : 0;
}

static int write_string_list(hid_t object, const char *name, char **values, int count)
{
    hid_t type = string_type();
    hsize_t dims[1] = {(hsize_t)count};
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t attribute = H5Acreate2(object, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t result = H5Awrite(attribute, type, values);
    H5Aclose(attribute);
    H5Sclose(space);
    H5Tclose(type);
    return result < 0 ? -1 : 0;
}

static int write_int_attribute(hid_t object, const char *name, int64_t value)
{
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attribute = H5Acreate2(object, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t result = H5Awrite(attribute, H5T_NATIVE_INT64, &value);
    H5Aclose(attribute);
    H5Sclose(space);
    return result < 0 ? -1 : 0;
}

int test_mlp_write(const test_mlp *mlp, const char *path)
{
    nnb_graph_desc desc;
    test_mlp_desc(mlp, &desc);
    int failed = 0;

    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) {
        nnb_graph_desc_destroy(&desc);
        return -1;
    }
    failed |= write_string_attribute(file, "format", "nnbatch-model");
    failed |= write_int_attribute(file, "format_version", 1);
    failed |= write_string_list(file, "outputs", desc.outputs, desc.output_count);

    hid_t inputs = H5Gcreate2(file, "inputs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    for (int i = 0; i < desc.input_count; i++) {
        hid_t group = H5Gcreate2(inputs, desc.inputs[i].name, H5P_DEFAULT, H5P_DEFAULT,
                                 H5P_DEFAULT);
        int features = desc.inputs[i].role == NNB_INPUT_FEATURES;
        failed |= write_string_attribute(group, "role", features ? "features" : "labels");
        if (features)
            failed |= write_int_attribute(group, "width", desc.inputs[i].width);
        H5Gclose(group);
    }
    H5Gclose(inputs);

    hid_t nodes = H5Gcreate2(file, "nodes", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    for (int n = 0; n < desc.node_count; n++) {
        const nnb_node_desc *node = &desc.nodes[n];
        hid_t group = H5Gcreate2(nodes, node->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        failed |= write_string_attribute(group, "op", node->op);
        failed |= write_string_list(group, "inputs", node->inputs, node->input_count);
        for (int p = 0; p < node->param_count; p++) {
            const nnb_param_desc *param = &node->params[p];
            hsize_t dims[2] = {(hsize_t)param->dims[0], (hsize_t)param->dims[1]};
            hid_t space = H5Screate_simple(param->rank, dims, NULL);
            hid_t dataset = H5Dcreate2(group, param->name, H5T_IEEE_F32LE, space, H5P_DEFAULT,
                                       H5P_DEFAULT, H5P_DEFAULT);
            failed |= H5Dwrite(dataset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                               param->data) < 0;
            H5Dclose(dataset);
            H5Sclose(space);
        }
        H5Gclose(group);
    }
    H5Gclose(nodes);
    failed |= H5Fclose(file) < 0;
    nnb_graph_desc_destroy(&desc);
    return failed ? -1 : 0;
}

int test_write_matrix(const char *path, int create, const char *name, int64_t rows,
                      int64_t cols, const float *data)
{
    hid_t file = create ? H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)
                        : H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (file < 0)
        return -1;
    hsize_t dims[2] = {(hsize_t)rows, (hsize_t)cols};
    hid_t space = H5Screate_simple(2, dims, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t dataset = H5Dcreate2(file, name, H5T_IEEE_F32LE, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    herr_t result = dataset < 0 ? -1
                                : H5Dwrite(dataset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL,
                                           H5P_DEFAULT, data);
    if (dataset >= 0)
        H5Dclose(dataset);
    H5Pclose(lcpl);
    H5Sclose(space);
    H5Fclose(file);
    return result < 0 ? -1 : 0;
}

int test_write_labels(const char *path, const char *name, int64_t rows, const int32_t *labels)
{
    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (file < 0)
        return -1;
    hsize_t dims[1] = {(hsize_t)rows};
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t dataset = H5Dcreate2(file, name, H5T_STD_I32LE, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    herr_t result = dataset < 0 ? -1
                                : H5Dwrite(dataset, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL,
                                           H5P_DEFAULT, labels);
    if (dataset >= 0)
        H5Dclose(dataset);
    H5Pclose(lcpl);
    H5Sclose(space);
    H5Fclose(file);
    return result < 0 ? -1 : 0;
}

float *test_read_matrix(const char *path, const char *name, int64_t *rows, int64_t *cols)
{
    *rows = *cols = 0;
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0)
        return NULL;
    float *data = NULL;
    if (H5Lexists(file, name, H5P_DEFAULT) <= 0) {
        H5Fclose(file);
        return NULL;
    }
    hid_t dataset = H5Dopen2(file, name, H5P_DEFAULT);
    if (dataset >= 0) {
        hid_t space = H5Dget_space(dataset);
        hsize_t dims[2] = {0, 0};
        if (H5Sget_simple_extent_ndims(space) == 2) {
            H5Sget_simple_extent_dims(space, dims, NULL);
            data = checked_calloc((size_t)(dims[0] * dims[1]), sizeof(float));
            if (H5Dread(dataset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
                free(data);
                data = NULL;
            } else {
                *rows = (int64_t)dims[0];
                *cols = (int64_t)dims[1];
            }
        }
        H5Sclose(space);
        H5Dclose(dataset);
    }
    H5Fclose(file);
    return data;
}

int test_read_root_double(const char *path, const char *name, double *value)
{
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0)
        return -1;
    int result = -1;
    hid_t attribute = H5Aopen(file, name, H5P_DEFAULT);
    if (attribute >= 0) {
        result = H5Aread(attribute, H5T_NATIVE_DOUBLE, value) < 0 ? -1 : 0;
        H5Aclose(attribute);
    }
    H5Fclose(file);
    return result;
}

/* ---- Reference forward pass --------------------------------------------- */

double test_mlp_reference(const test_mlp *mlp, const float *x, int label, double *logits,
                          double *probabilities)
{
    int64_t max_width = mlp->input_width;
    for (int l = 0; l < mlp->layer_count; l++)
        if (mlp->layers[l].out > max_width)
            max_width = mlp->layers[l].out;
    double *a = checked_calloc((size_t)max_width, sizeof(double));
    double *z = checked_calloc((size_t)max_width, sizeof(double));
    for (int64_t i = 0; i < mlp->input_width; i++)
        a[i] = x[i];

    int64_t width = mlp->input_width;
    for (int l = 0; l < mlp->layer_count; l++) {
        const test_layer *layer = &mlp->layers[l];
        for (int64_t o = 0; o < layer->out; o++) {
            double sum = 0.0;
            for (int64_t i = 0; i < layer->in; i++)
                sum += (double)layer->weight[o * layer->in + i] * a[i];
            if (layer->bias != NULL)
                sum += layer->bias[o];
            switch (layer->activation) {
            case NNB_OP_RELU: sum = sum > 0 ? sum : 0; break;
            case NNB_OP_SIGMOID: sum = 1.0 / (1.0 + exp(-sum)); break;
            case NNB_OP_TANH: sum = tanh(sum); break;
            default: break;
            }
            z[o] = sum;
        }
        width = layer->out;
        memcpy(a, z, (size_t)width * sizeof(double));
    }
    memcpy(logits, a, (size_t)width * sizeof(double));

    double loss = 0.0;
    if (probabilities != NULL) {
        double max = a[0];
        for (int64_t j = 1; j < width; j++)
            max = a[j] > max ? a[j] : max;
        double sum = 0.0;
        for (int64_t j = 0; j < width; j++)
            sum += exp(a[j] - max);
        for (int64_t j = 0; j < width; j++)
            probabilities[j] = exp(a[j] - max) / sum;
        if (label >= 0)
            loss = max + log(sum) - a[label];
    }
    free(a);
    free(z);
    return loss;
}

void test_fill_random(float *data, int64_t count, uint32_t seed, float scale)
{
    /* xorshift32: deterministic on every platform, no libc rand() state. */
    uint32_t state = seed != 0 ? seed : 1;
    for (int64_t i = 0; i < count; i++) {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        data[i] = scale * (2.0f * (float)(state >> 8) / 16777216.0f - 1.0f);
    }
}

/* ---- Temporary files ------------------------------------------------------ */

static char temp_dir[256];
static char temp_path[512];

const char *test_temp_dir(void)
{
    if (temp_dir[0] == '\0') {
        snprintf(temp_dir, sizeof temp_dir, "/tmp/nnb-tests-XXXXXX");
        if (mkdtemp(temp_dir) == NULL) {
            perror("fixtures: mkdtemp");
            abort();
        }
    }
    return temp_dir;
}

const char *test_temp_path(const char *name)
{
    snprintf(temp_path, sizeof temp_path, "%s/%s", test_temp_dir(), name);
    return temp_path;
}

void test_temp_cleanup(void)
{
    if (temp_dir[0] == '\0')
        return;
    char command[300];
    snprintf(command, sizeof command, "rm -rf '%s'", temp_dir);
    if (system(command) != 0)
        fprintf(stderr, "fixtures: could not remove %s\n", temp_dir);
    temp_dir[0] = '\0';
}

int test_file_exists(const char *path)
{
    struct stat info;
    return stat(path, &info) == 0;
}
