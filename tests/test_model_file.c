/*
 * Suite "model_file": writes small model files with the HDF5 C API into a
 * temporary directory, loads them with nnb_model_load() and checks the
 * loaded graph or the error.
 */
#include "graph/graph.h"
#include "io/model_file.h"
#include "suites.h"

#include <CUnit/CUnit.h>
#include <dirent.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char temp_dir[] = "/tmp/nnb-model-file-XXXXXX";

static int create_temp_dir(void)
{
    return mkdtemp(temp_dir) != NULL ? 0 : -1;
}

/* Remove every file written into the temporary directory, then the
 * directory. */
static int remove_temp_dir(void)
{
    DIR *dir = opendir(temp_dir);
    if (dir == NULL)
        return -1;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", temp_dir, entry->d_name);
        unlink(path);
    }
    closedir(dir);
    return rmdir(temp_dir);
}

static void temp_path(char *buffer, size_t size, const char *name)
{
    snprintf(buffer, size, "%s/%s", temp_dir, name);
}

/* ---- Writing model files ------------------------------------------------- */

typedef enum string_kind {
    STRINGS_VARIABLE, /* variable-length UTF-8, as h5py writes a str */
    STRINGS_FIXED     /* fixed-length null-padded ASCII, as numpy 'S' arrays */
} string_kind;

typedef struct model_options {
    string_kind strings;
    hid_t param_type;         /* file type of the parameter datasets */
    hid_t version_type;       /* file type of @format_version */
    const char *format;       /* @format, or NULL to leave it out */
    int64_t version;          /* @format_version */
    int string_parameter;     /* store dense1's weight as a string dataset */
    int without_nodes;        /* leave out the /nodes group */
    const char *last_output;  /* second entry of @outputs */
} model_options;

static model_options default_options(void)
{
    model_options options = {
        .strings = STRINGS_VARIABLE,
        .param_type = H5T_IEEE_F32LE,
        .version_type = H5T_STD_I64LE,
        .format = NNB_MODEL_FORMAT,
        .version = NNB_MODEL_FORMAT_VERSION,
        .last_output = "loss",
    };
    return options;
}

/* Write a string attribute: a scalar when `scalar`, else a 1-D array. */
static int write_strings(hid_t object, const char *name, const char *const *values, int count,
                         string_kind kind, int scalar)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    hsize_t length = (hsize_t)count;
    hid_t space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &length, NULL);
    char *buffer = NULL;
    int failed = type < 0 || space < 0;

    if (!failed && kind == STRINGS_VARIABLE) {
        failed |= H5Tset_size(type, H5T_VARIABLE) < 0;
        failed |= H5Tset_cset(type, H5T_CSET_UTF8) < 0;
    } else if (!failed) {
        /* Sized to the longest string, so that one has no terminator. */
        size_t size = 1;
        for (int i = 0; i < count; i++)
            size = strlen(values[i]) > size ? strlen(values[i]) : size;
        failed |= H5Tset_size(type, size) < 0;
        failed |= H5Tset_strpad(type, H5T_STR_NULLPAD) < 0;
        buffer = calloc((size_t)count, size);
        failed |= buffer == NULL;
        for (int i = 0; i < count && buffer != NULL; i++)
            memcpy(buffer + (size_t)i * size, values[i], strlen(values[i]));
    }

    hid_t attribute = H5I_INVALID_HID;
    if (!failed) {
        attribute = H5Acreate2(object, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
        const void *data = kind == STRINGS_VARIABLE ? (const void *)values : (const void *)buffer;
        failed |= attribute < 0 || H5Awrite(attribute, type, data) < 0;
    }

    free(buffer);
    if (attribute >= 0)
        H5Aclose(attribute);
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    return failed ? -1 : 0;
}

static int write_integer(hid_t object, const char *name, int64_t value, hid_t file_type)
{
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attribute = H5Acreate2(object, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    int failed = space < 0 || attribute < 0
                 || H5Awrite(attribute, H5T_NATIVE_INT64, &value) < 0;
    if (attribute >= 0)
        H5Aclose(attribute);
    if (space >= 0)
        H5Sclose(space);
    return failed ? -1 : 0;
}

/* Value k of every parameter, exact in the integer file types used here. */
static double parameter_value(hid_t param_type, int k)
{
    if (H5Tget_class(param_type) == H5T_INTEGER)
        return (double)(k - 3);
    return 0.1 * (k + 1) - 0.5;
}

static int write_parameter(hid_t group, const char *name, int rank, const hsize_t *dims,
                           hid_t file_type)
{
    hsize_t elements = rank == 2 ? dims[0] * dims[1] : dims[0];
    double *values = malloc((size_t)elements * sizeof *values);
    if (values == NULL)
        return -1;
    for (hsize_t k = 0; k < elements; k++)
        values[k] = parameter_value(file_type, (int)k);

    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t dataset = H5Dcreate2(group, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT,
                               H5P_DEFAULT);
    int failed = space < 0 || dataset < 0
                 || H5Dwrite(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0;
    if (dataset >= 0)
        H5Dclose(dataset);
    if (space >= 0)
        H5Sclose(space);
    free(values);
    return failed ? -1 : 0;
}

static int write_string_dataset(hid_t group, const char *name)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    hsize_t length = 2;
    hid_t space = H5Screate_simple(1, &length, NULL);
    int failed = type < 0 || space < 0 || H5Tset_size(type, 4) < 0;
    hid_t dataset = H5I_INVALID_HID;
    if (!failed) {
        dataset = H5Dcreate2(group, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        failed |= dataset < 0 || H5Dwrite(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                          "abcdefgh") < 0;
    }
    if (dataset >= 0)
        H5Dclose(dataset);
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    return failed ? -1 : 0;
}

/* The 3-4-2 MLP every file test writes, in file order. */
typedef struct node_spec {
    const char *name;
    const char *op;
    const char *inputs[2];
    int input_count;
    const char *param; /* NULL when the op takes none */
    int rank;
    hsize_t dims[2];
} node_spec;

static const node_spec mlp_nodes[] = {
    {"dense1", "matmul", {"features"}, 1, "weight", 2, {3, 4}},
    {"dense1_bias", "bias", {"dense1"}, 1, "bias", 1, {4, 0}},
    {"hidden", "tanh", {"dense1_bias"}, 1, NULL, 0, {0, 0}},
    {"dense2", "matmul", {"hidden"}, 1, "weight", 2, {4, 2}},
    {"probabilities", "softmax", {"dense2"}, 1, NULL, 0, {0, 0}},
    {"loss", "cross_entropy", {"probabilities", "labels"}, 2, NULL, 0, {0, 0}},
};

/* Write one node group. With fixed-length strings a one-entry @inputs is
 * stored as a scalar, the form the format accepts for a one-entry list. */
static int write_node(hid_t nodes, const node_spec *spec, const model_options *options)
{
    hid_t group = H5Gcreate2(nodes, spec->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (group < 0)
        return -1;

    int failed = write_strings(group, "op", &spec->op, 1, options->strings, 1) != 0;
    int scalar = options->strings == STRINGS_FIXED && spec->input_count == 1;
    failed |= write_strings(group, "inputs", spec->inputs, spec->input_count, options->strings,
                            scalar) != 0;
    if (spec->param != NULL) {
        if (options->string_parameter && strcmp(spec->name, "dense1") == 0)
            failed |= write_string_dataset(group, spec->param) != 0;
        else
            failed |= write_parameter(group, spec->param, spec->rank, spec->dims,
                                      options->param_type) != 0;
    }
    H5Gclose(group);
    return failed ? -1 : 0;
}

static int write_model(const char *path, const model_options *options)
{
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0)
        return -1;

    int failed = 0;
    if (options->format != NULL)
        failed |= write_strings(file, "format", &options->format, 1, options->strings, 1) != 0;
    failed |= write_integer(file, "format_version", options->version, options->version_type);
    const char *outputs[] = {"probabilities", options->last_output};
    failed |= write_strings(file, "outputs", outputs, 2, options->strings, 0) != 0;

    hid_t inputs = H5Gcreate2(file, "inputs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t features = H5Gcreate2(file, "inputs/features", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t labels = H5Gcreate2(file, "inputs/labels", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    failed |= inputs < 0 || features < 0 || labels < 0;
    if (!failed) {
        const char *features_role = "features";
        const char *labels_role = "labels";
        failed |= write_strings(features, "role", &features_role, 1, options->strings, 1) != 0;
        failed |= write_integer(features, "width", 3, H5T_STD_I32LE) != 0;
        failed |= write_strings(labels, "role", &labels_role, 1, options->strings, 1) != 0;
    }
    if (labels >= 0)
        H5Gclose(labels);
    if (features >= 0)
        H5Gclose(features);
    if (inputs >= 0)
        H5Gclose(inputs);

    if (!options->without_nodes) {
        hid_t nodes = H5Gcreate2(file, "nodes", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        failed |= nodes < 0;
        for (size_t i = 0; nodes >= 0 && i < sizeof mlp_nodes / sizeof mlp_nodes[0]; i++)
            failed |= write_node(nodes, &mlp_nodes[i], options) != 0;
        if (nodes >= 0)
            H5Gclose(nodes);
    }

    failed |= H5Fclose(file) < 0;
    return failed ? -1 : 0;
}

/* ---- Checks ------------------------------------------------------------- */

static int find_node(const nnb_model *model, const char *name)
{
    for (int i = 0; i < nnb_model_node_count(model); i++) {
        if (strcmp(nnb_model_node_name(model, i), name) == 0)
            return i;
    }
    return -1;
}

/* Write a model with `options` to `file_name`, load it and check the graph
 * and the parameters of dense1 against the values written. */
static void check_valid_model(const char *file_name, const model_options *options)
{
    char path[256];
    temp_path(path, sizeof path, file_name);
    CU_ASSERT_EQUAL_FATAL(write_model(path, options), 0);

    nnb_model *model = NULL;
    nnb_error error;
    memset(&error, 0, sizeof error);
    nnb_status status = nnb_model_load(path, &model, &error);
    if (status != NNB_OK)
        fprintf(stderr, "\n  load failed: %s\n", error.message);
    CU_ASSERT_EQUAL_FATAL(status, NNB_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(model);

    CU_ASSERT_EQUAL(nnb_model_input_width(model), 3);
    CU_ASSERT_EQUAL(nnb_model_label_classes(model), 2);
    CU_ASSERT_EQUAL(nnb_model_node_count(model), 6);
    CU_ASSERT_EQUAL_FATAL(nnb_model_output_count(model), 2);
    CU_ASSERT_STRING_EQUAL(nnb_model_output_name(model, 0), "probabilities");
    CU_ASSERT_STRING_EQUAL(nnb_model_output_name(model, 1), "loss");
    CU_ASSERT_EQUAL(nnb_model_output_width(model, 0), 2);
    CU_ASSERT_EQUAL(nnb_model_output_width(model, 1), 1);
    CU_ASSERT_TRUE(nnb_model_output_needs_labels(model, 1));
    CU_ASSERT_EQUAL(nnb_model_parameter_count(model), 12 + 4 + 8 + 0);
    CU_ASSERT_DOUBLE_EQUAL(nnb_model_flops_per_row(model), 2.0 * (12 + 8), 0.0);
    CU_ASSERT_STRING_EQUAL(model->source, path);

    int dense1 = find_node(model, "dense1");
    CU_ASSERT_FATAL(dense1 >= 0);
    CU_ASSERT_EQUAL(nnb_model_node_width(model, dense1), 4);
    CU_ASSERT_STRING_EQUAL(nnb_model_node_input(model, dense1, 0), "features");
    const nnb_node *node = &model->nodes[dense1];
    CU_ASSERT_EQUAL(node->weight_rows, 3);
    CU_ASSERT_EQUAL(node->weight_cols, 4);
    for (int k = 0; k < 12; k++)
        CU_ASSERT_EQUAL(node->weight[k], (float)parameter_value(options->param_type, k));

    nnb_model_free(model);
}

/* Load `path`, expect `expected_status`, no model, and a message that starts
 * with the path and contains each of `expected` (NULL-terminated). */
static void expect_load_error(const char *path, nnb_status expected_status,
                              const char *const *expected)
{
    nnb_model *model = NULL;
    nnb_error error;
    memset(&error, 0, sizeof error);

    CU_ASSERT_EQUAL(nnb_model_load(path, &model, &error), expected_status);
    CU_ASSERT_EQUAL(error.status, expected_status);
    CU_ASSERT_PTR_NULL(model);
    CU_ASSERT_EQUAL(strncmp(error.message, path, strlen(path)), 0);
    for (int k = 0; expected[k] != NULL; k++) {
        if (strstr(error.message, expected[k]) == NULL) {
            CU_FAIL("message lacks an expected part");
            fprintf(stderr, "\n  message: %s\n  expected to contain: %s\n", error.message,
                    expected[k]);
        }
    }
    nnb_model_free(model);
}

/* Write a model with `options` to `file_name` and expect its load to fail. */
static void expect_model_file_error(const char *file_name, const model_options *options,
                                    nnb_status expected_status, const char *const *expected)
{
    char path[256];
    temp_path(path, sizeof path, file_name);
    CU_ASSERT_EQUAL_FATAL(write_model(path, options), 0);
    expect_load_error(path, expected_status, expected);
}

/* ---- Tests -------------------------------------------------------------- */

static void test_variable_length_strings(void)
{
    model_options options = default_options();
    check_valid_model("variable-strings.h5", &options);
}

static void test_fixed_length_strings(void)
{
    model_options options = default_options();
    options.strings = STRINGS_FIXED;
    options.version_type = H5T_STD_U8LE;
    check_valid_model("fixed-strings.h5", &options);
}

static void test_float64_parameters(void)
{
    model_options options = default_options();
    options.param_type = H5T_IEEE_F64LE;
    check_valid_model("float64.h5", &options);
}

static void test_integer_parameters(void)
{
    model_options options = default_options();
    options.param_type = H5T_STD_I16BE;
    check_valid_model("int16.h5", &options);
}

static void test_missing_file(void)
{
    char path[256];
    temp_path(path, sizeof path, "no-such-model.h5");
    expect_load_error(path, NNB_ERR_IO, (const char *[]){"file not found", NULL});
}

static void test_not_hdf5(void)
{
    char path[256];
    temp_path(path, sizeof path, "random.h5");
    FILE *file = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(file);
    /* A fixed linear congruential sequence, so every run writes the same bytes. */
    uint32_t state = 12345;
    for (int i = 0; i < 4096; i++) {
        state = state * 1664525u + 1013904223u;
        fputc((int)(state >> 24), file);
    }
    CU_ASSERT_EQUAL_FATAL(fclose(file), 0);

    expect_load_error(path, NNB_ERR_FORMAT, (const char *[]){"not an HDF5 file", NULL});
}

static void test_wrong_format(void)
{
    model_options options = default_options();
    options.format = "keras-model";
    expect_model_file_error("wrong-format.h5", &options, NNB_ERR_FORMAT,
                            (const char *[]){"is not an nnbatch model", "\"keras-model\"",
                                             "\"nnbatch-model\"", NULL});

    options.format = NULL;
    expect_model_file_error("no-format.h5", &options, NNB_ERR_FORMAT,
                            (const char *[]){"root attribute 'format' is missing", NULL});
}

static void test_unsupported_version(void)
{
    model_options options = default_options();
    options.version = 2;
    expect_model_file_error("version-2.h5", &options, NNB_ERR_FORMAT,
                            (const char *[]){"format_version 2 is not supported",
                                             "reads format_version 1", NULL});
}

static void test_string_parameter(void)
{
    model_options options = default_options();
    options.string_parameter = 1;
    expect_model_file_error("string-weight.h5", &options, NNB_ERR_FORMAT,
                            (const char *[]){"node 'dense1'", "'weight'", "class string",
                                             NULL});
}

static void test_huge_unwritten_parameter(void)
{
    /* A few KiB of file declaring a 65536 x 65536 weight that was never
     * written: the loader must reject it instead of allocating 16 GiB. */
    char path[256];
    temp_path(path, sizeof path, "huge-weight.h5");
    model_options options = default_options();
    CU_ASSERT_EQUAL_FATAL(write_model(path, &options), 0);

    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CU_ASSERT_TRUE_FATAL(file >= 0);
    CU_ASSERT_TRUE(H5Ldelete(file, "/nodes/dense1/weight", H5P_DEFAULT) >= 0);
    hsize_t dims[2] = {65536, 65536};
    hsize_t chunk[2] = {64, 64};
    hid_t space = H5Screate_simple(2, dims, NULL);
    hid_t create = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(create, 2, chunk);
    hid_t dataset = H5Dcreate2(file, "/nodes/dense1/weight", H5T_IEEE_F32LE, space, H5P_DEFAULT,
                               create, H5P_DEFAULT);
    CU_ASSERT_TRUE(dataset >= 0);
    H5Dclose(dataset);
    H5Pclose(create);
    H5Sclose(space);
    H5Fclose(file);

    expect_load_error(path, NNB_ERR_FORMAT,
                      (const char *[]){"/nodes/dense1/weight", "too large", NULL});
}

static void test_missing_nodes_group(void)
{
    model_options options = default_options();
    options.without_nodes = 1;
    expect_model_file_error("no-nodes.h5", &options, NNB_ERR_FORMAT,
                            (const char *[]){"group '/nodes' is missing", NULL});
}

static void test_graph_error_names_file(void)
{
    model_options options = default_options();
    options.last_output = "dense3";
    expect_model_file_error("bad-output.h5", &options, NNB_ERR_MODEL,
                            (const char *[]){"output 'dense3' is not a node", NULL});
}

static int error_handler_calls;

static herr_t count_error_handler_calls(hid_t stack, void *data)
{
    (void)stack;
    (void)data;
    error_handler_calls++;
    return 0;
}

static void test_error_printing_restored(void)
{
    H5E_auto2_t original_handler = NULL;
    void *original_data = NULL;
    CU_ASSERT_FATAL(H5Eget_auto2(H5E_DEFAULT, &original_handler, &original_data) >= 0);
    CU_ASSERT_FATAL(H5Eset_auto2(H5E_DEFAULT, count_error_handler_calls, &error_handler_calls) >= 0);
    error_handler_calls = 0;

    /* A file cut short keeps its HDF5 signature, so H5Fopen() itself fails
     * and HDF5 reports the error on its stack. */
    char path[256];
    temp_path(path, sizeof path, "truncated.h5");
    model_options options = default_options();
    CU_ASSERT_EQUAL_FATAL(write_model(path, &options), 0);
    CU_ASSERT_EQUAL_FATAL(truncate(path, 1024), 0);
    expect_load_error(path, NNB_ERR_IO, (const char *[]){"cannot open model file", NULL});

    /* The loader did not call the handler, and it restored the handler. */
    H5E_auto2_t handler = NULL;
    void *data = NULL;
    CU_ASSERT(H5Eget_auto2(H5E_DEFAULT, &handler, &data) >= 0);
    CU_ASSERT(handler == count_error_handler_calls);
    CU_ASSERT_PTR_EQUAL(data, &error_handler_calls);
    CU_ASSERT_EQUAL(error_handler_calls, 0);

    H5Eset_auto2(H5E_DEFAULT, original_handler, original_data);
}

int nnb_test_register_model_file(void)
{
    CU_pSuite suite = CU_add_suite("model_file", create_temp_dir, remove_temp_dir);
    if (suite == NULL)
        return -1;

    static const struct {
        const char *name;
        CU_TestFunc function;
    } tests[] = {
        {"variable-length strings", test_variable_length_strings},
        {"fixed-length strings", test_fixed_length_strings},
        {"float64 parameters", test_float64_parameters},
        {"integer parameters", test_integer_parameters},
        {"missing file", test_missing_file},
        {"not an HDF5 file", test_not_hdf5},
        {"wrong format", test_wrong_format},
        {"unsupported format_version", test_unsupported_version},
        {"string parameter", test_string_parameter},
        {"huge unwritten parameter", test_huge_unwritten_parameter},
        {"missing nodes group", test_missing_nodes_group},
        {"graph error names file", test_graph_error_names_file},
        {"error printing restored", test_error_printing_restored},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if (CU_add_test(suite, tests[i].name, tests[i].function) == NULL)
            return -1;
    }
    return 0;
}
