/*
 * Suite "keras": the JSON parser, Keras legacy HDF5 files of every dialect
 * nnbatch reads, the real Keras files, one test per kind of rejected file,
 * the model writer, and `nnbatch convert`.
 *
 * The Keras files are written at setup by tools/make_keras_fixtures.py,
 * run with $NNB_PYTHON (default /usr/bin/python3), together with the
 * outputs of a float64 numpy forward pass. Without Python, numpy or h5py the
 * tests that need those files print one note and pass without checking.
 * The real files are read from $NNB_KERAS_MODELS, by default from the
 * directory REAL_MODELS_DIR below, relative to the repository root where
 * `make test` runs. Their tests are skipped the same way when it is absent.
 */
#include "fixtures.h"
#include "graph/graph.h"
#include "io/json.h"
#include "io/keras.h"
#include "io/model_write.h"
#include "suites.h"

#include <CUnit/CUnit.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FIXTURE_SCRIPT "tools/make_keras_fixtures.py"
#define REAL_MODELS_DIR "../shared/keras-models"

/* Exit status of the fixture script when numpy or h5py is missing. */
#define EXIT_SKIP 77

/* Largest |actual - expected| / max(1, |expected|) accepted: the expected
 * outputs are float64 and nnbatch computes in float32. */
#define TOLERANCE 1e-6

static char fixture_dir[600];
static char real_dir[600];
static int have_fixtures;   /* the fixture script ran and wrote the files */
static int have_real_files; /* the real files exist and have expected outputs */
static int script_status;   /* exit status of the fixture script, -1 if it did not run */

/* stdout and stderr of the last run_program() call. */
static char program_stdout[8192];
static char program_stderr[4096];

/* ---- Processes and files --------------------------------------------------- */

static void read_text_file(const char *path, char *buffer, size_t size)
{
    buffer[0] = '\0';
    FILE *file = fopen(path, "r");
    if (file == NULL)
        return;
    size_t length = fread(buffer, 1, size - 1, file);
    buffer[length] = '\0';
    fclose(file);
}

/* Run `argv` (argv[0] is the program path) with stdout and stderr kept in
 * program_stdout and program_stderr. Returns the exit status, 127 when the
 * program could not be started, or -1 when it did not exit normally. */
static int run_program(const char *const *argv)
{
    char out_path[700], err_path[700];
    snprintf(out_path, sizeof out_path, "%s/stdout.txt", test_temp_dir());
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", test_temp_dir());

    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(out, STDOUT_FILENO);
        dup2(err, STDERR_FILENO);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    read_text_file(out_path, program_stdout, sizeof program_stdout);
    read_text_file(err_path, program_stderr, sizeof program_stderr);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static const char *cli_path(void)
{
    const char *path = getenv("NNB_CLI");
    return path != NULL ? path : "build/nnbatch";
}

static int is_directory(const char *path)
{
    struct stat info;
    return stat(path, &info) == 0 && S_ISDIR(info.st_mode);
}

/* Path of fixture file `name` (static buffer, valid until the next call). */
static const char *fixture(const char *name)
{
    static char path[800];
    snprintf(path, sizeof path, "%s/%s", fixture_dir, name);
    return path;
}

/* Read a whole rank-2 dataset `name` (a path in the file) as doubles; NULL
 * when it is missing. */
static double *read_doubles(const char *path, const char *name, int64_t *rows, int64_t *cols)
{
    *rows = *cols = 0;
    double *data = NULL;
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0)
        return NULL;
    hid_t dataset = H5Dopen2(file, name, H5P_DEFAULT);
    if (dataset >= 0) {
        hid_t space = H5Dget_space(dataset);
        hsize_t dims[2] = {0, 0};
        if (H5Sget_simple_extent_ndims(space) == 2) {
            H5Sget_simple_extent_dims(space, dims, NULL);
            data = malloc((size_t)(dims[0] * dims[1]) * sizeof *data + 1);
            if (data != NULL
                && H5Dread(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
                free(data);
                data = NULL;
            }
            *rows = (int64_t)dims[0];
            *cols = (int64_t)dims[1];
        }
        H5Sclose(space);
        H5Dclose(dataset);
    }
    H5Fclose(file);
    return data;
}

/* ---- Setup ------------------------------------------------------------------ */

static int keras_setup(void)
{
    snprintf(fixture_dir, sizeof fixture_dir, "%s", test_temp_path("keras"));
    const char *real = getenv("NNB_KERAS_MODELS");
    snprintf(real_dir, sizeof real_dir, "%s", real != NULL ? real : REAL_MODELS_DIR);
    int real_present = is_directory(real_dir);

    const char *python = getenv("NNB_PYTHON");
    if (python == NULL)
        python = "/usr/bin/python3";
    const char *argv[] = {python, FIXTURE_SCRIPT, fixture_dir, "--real", real_dir, NULL};
    if (!real_present)
        argv[3] = NULL;
    script_status = run_program(argv);

    have_fixtures = script_status == 0;
    have_real_files = have_fixtures && real_present;
    if (script_status == EXIT_SKIP || script_status == 127) {
        fprintf(stderr, "\nkeras: Keras file tests skipped: %s with numpy and h5py is not "
                        "available (set NNB_PYTHON)\n", python);
    } else if (have_fixtures && !real_present) {
        fprintf(stderr, "\nkeras: real Keras file tests skipped: directory '%s' not found "
                        "(set NNB_KERAS_MODELS)\n", real_dir);
    }
    return 0;
}

static int keras_cleanup(void)
{
    test_temp_cleanup();
    return 0;
}

static void test_fixture_script_runs(void)
{
    /* Skipping is fine; any other failure of the script is a test failure. */
    if (script_status == EXIT_SKIP || script_status == 127)
        return;
    CU_ASSERT_EQUAL(script_status, 0);
    if (script_status != 0)
        fprintf(stderr, "\n  %s failed (%d): %s", FIXTURE_SCRIPT, script_status, program_stderr);
}

/* ---- Scoring and comparing -------------------------------------------------- */

/* Score `rows` rows through output 0 of `model`; returns a new array. */
static float *score_rows(const nnb_model *model, const float *input, int64_t rows)
{
    nnb_options options;
    nnb_options_init(&options);
    nnb_run *run = NULL;
    nnb_error error;
    if (nnb_run_create(model, &options, &run, &error) != NNB_OK) {
        fprintf(stderr, "\n  nnb_run_create: %s", error.message);
        return NULL;
    }
    int64_t width = nnb_model_output_width(model, 0);
    float *output = calloc((size_t)(rows * width), sizeof *output);
    nnb_summary summary;
    if (output != NULL
        && nnb_score_array(run, rows, input, nnb_model_input_width(model), NULL, 0, output,
                           width, &summary, &error) != NNB_OK) {
        fprintf(stderr, "\n  nnb_score_array: %s", error.message);
        free(output);
        output = NULL;
    }
    nnb_run_free(run);
    return output;
}

/* Score the inputs stored under `group` of expected.h5 with `model` and
 * compare with the stored outputs. */
static void check_against_expected(const nnb_model *model, const char *group)
{
    char name[300];
    int64_t rows, width, out_rows, out_width;
    snprintf(name, sizeof name, "%s/input", group);
    double *input64 = read_doubles(fixture("expected.h5"), name, &rows, &width);
    snprintf(name, sizeof name, "%s/output", group);
    double *expected = read_doubles(fixture("expected.h5"), name, &out_rows, &out_width);
    CU_ASSERT_PTR_NOT_NULL_FATAL(input64);
    CU_ASSERT_PTR_NOT_NULL_FATAL(expected);
    CU_ASSERT_EQUAL(width, nnb_model_input_width(model));
    CU_ASSERT_EQUAL(out_width, nnb_model_output_width(model, 0));
    CU_ASSERT_EQUAL_FATAL(out_rows, rows);

    float *input = malloc((size_t)(rows * width) * sizeof *input);
    CU_ASSERT_PTR_NOT_NULL_FATAL(input);
    for (int64_t i = 0; i < rows * width; i++)
        input[i] = (float)input64[i];
    float *output = NULL;
    if (width == nnb_model_input_width(model) && out_width == nnb_model_output_width(model, 0))
        output = score_rows(model, input, rows);
    CU_ASSERT_PTR_NOT_NULL(output);

    double worst = 0.0;
    for (int64_t i = 0; output != NULL && i < rows * out_width; i++) {
        double scale = fabs(expected[i]) > 1.0 ? fabs(expected[i]) : 1.0;
        double difference = fabs((double)output[i] - expected[i]) / scale;
        if (!(difference <= worst))
            worst = difference;
    }
    CU_ASSERT(worst <= TOLERANCE);
    if (!(worst <= TOLERANCE))
        fprintf(stderr, "\n  %s: max scaled difference %.3g > %g", group, worst, TOLERANCE);

    free(output);
    free(input);
    free(expected);
    free(input64);
}

/* Load a dialect fixture with nnb_model_load() (or, with `config`, with
 * nnb_model_load_keras()), check its origin and output name, then its
 * outputs. */
static void check_dialect(const char *name, const char *config, const char *origin,
                          const char *output)
{
    if (!have_fixtures)
        return;
    char file[100];
    snprintf(file, sizeof file, "%s.h5", name);
    char path[800];
    snprintf(path, sizeof path, "%s", fixture(file));

    nnb_model *model = NULL;
    nnb_error error;
    nnb_status status = config != NULL
                            ? nnb_model_load_keras(path, fixture(config), &model, &error)
                            : nnb_model_load(path, &model, &error);
    CU_ASSERT_EQUAL(status, NNB_OK);
    if (status != NNB_OK) {
        fprintf(stderr, "\n  %s: %s", name, error.message);
        return;
    }
    CU_ASSERT_PTR_NOT_NULL(nnb_model_origin(model));
    if (nnb_model_origin(model) != NULL)
        CU_ASSERT_STRING_EQUAL(nnb_model_origin(model), origin);
    CU_ASSERT_EQUAL(nnb_model_output_count(model), 1);
    CU_ASSERT_STRING_EQUAL(nnb_model_output_name(model, 0), output);
    CU_ASSERT_EQUAL(nnb_model_label_classes(model), 0);
    check_against_expected(model, name);
    nnb_model_free(model);
}

/* ---- Dialects ------------------------------------------------------------------ */

static void test_keras1_sequential(void)
{
    check_dialect("keras1_sequential", NULL, "Keras 1.2.1", "dense_3");
}

static void test_keras20_sequential_list(void)
{
    check_dialect("keras20_sequential_list", NULL, "Keras 2.0.9", "activation_15");
}

static void test_keras23_batchnorm_first(void)
{
    check_dialect("keras23_batchnorm_first", NULL, "Keras 2.3.1", "dense_2");
}

static void test_tfkeras27_functional(void)
{
    check_dialect("tfkeras27_functional", NULL, "Keras 2.7.0", "dense_1");
}

static void test_keras3_functional(void)
{
    check_dialect("keras3_functional", NULL, "Keras 3.5.0", "dense_1");
}

static void test_keras3_sequential(void)
{
    check_dialect("keras3_sequential", NULL, "Keras 3.5.0", "dense_1");
}

static void test_keras1_functional_model(void)
{
    check_dialect("keras1_functional_model", NULL, "Keras 1.2.1", "dense_2");
}

static void test_weights_with_config(void)
{
    check_dialect("weights_only", "weights_only.json", "Keras 2.3.1", "dense_2");
}

/* BatchNormalization after a linear Dense becomes part of that Dense: no
 * node of its own, and the Dense keeps a bias node. */
static void test_batchnorm_folded(void)
{
    if (!have_fixtures)
        return;
    nnb_model *model = NULL;
    nnb_error error;
    CU_ASSERT_EQUAL_FATAL(nnb_model_load(fixture("keras1_sequential.h5"), &model, &error),
                          NNB_OK);
    static const char *const names[] = {"dense_1:matmul", "dense_1:bias", "dense_1",
                                        "dense_2:matmul", "dense_2", "activation_1",
                                        "dense_3:matmul", "dense_3:bias", "dense_3"};
    static const nnb_op ops[] = {NNB_OP_MATMUL, NNB_OP_BIAS, NNB_OP_TANH,
                                 NNB_OP_MATMUL, NNB_OP_BIAS, NNB_OP_RELU,
                                 NNB_OP_MATMUL, NNB_OP_BIAS, NNB_OP_SOFTMAX};
    int count = (int)(sizeof names / sizeof names[0]);
    CU_ASSERT_EQUAL_FATAL(nnb_model_node_count(model), count);
    for (int i = 0; i < count; i++) {
        CU_ASSERT_STRING_EQUAL(nnb_model_node_name(model, i), names[i]);
        CU_ASSERT_EQUAL(nnb_model_node_op(model, i), ops[i]);
    }
    CU_ASSERT_STRING_EQUAL(nnb_model_node_input(model, 0, 0), "dense_1_input");
    nnb_model_free(model);
}

/* ---- Real Keras files ------------------------------------------------------------ */

static void check_real_file(const char *stem, const char *origin, const char *output)
{
    if (!have_real_files)
        return;
    char path[800], group[200];
    snprintf(path, sizeof path, "%s/%s.h5", real_dir, stem);
    snprintf(group, sizeof group, "real/%s", stem);

    nnb_model *model = NULL;
    nnb_error error;
    nnb_status status = nnb_model_load(path, &model, &error);
    CU_ASSERT_EQUAL(status, NNB_OK);
    if (status != NNB_OK) {
        fprintf(stderr, "\n  %s", error.message);
        return;
    }
    CU_ASSERT_STRING_EQUAL(nnb_model_origin(model), origin);
    CU_ASSERT_STRING_EQUAL(nnb_model_output_name(model, 0), output);
    check_against_expected(model, group);
    nnb_model_free(model);
}

static void test_real_keras_1_2_1(void)
{
    check_real_file("keras-1.2.1_rlcode_cartpole_dqn", "Keras 1.2.1", "dense_2");
}

static void test_real_keras_2_0_9(void)
{
    check_real_file("keras-2.0.9_mindaugas_iris_activation_layers", "Keras 2.0.9",
                    "activation_14");
}

static void test_real_keras_2_3_1(void)
{
    check_real_file("keras-2.3.1_jai8004_churn", "Keras 2.3.1", "dense_3");
}

static void test_real_keras_2_7_0(void)
{
    check_real_file("keras-2.7.0_fotoon_iris", "Keras 2.7.0", "dense_1");
}

static void test_real_keras_3_5_0(void)
{
    check_real_file("keras-3.5.0_2024rock_friction", "Keras 3.5.0", "dense_4");
}

/* The tf.keras 2.7.0 iris classifier maps the first iris sample to about
 * [0.9715, 0.0265, 0.0020]; a numpy forward pass of its weights agrees. */
static void test_real_iris_known_output(void)
{
    if (!is_directory(real_dir))
        return;
    char path[800];
    snprintf(path, sizeof path, "%s/keras-2.7.0_fotoon_iris.h5", real_dir);
    nnb_model *model = NULL;
    nnb_error error;
    CU_ASSERT_EQUAL_FATAL(nnb_model_load(path, &model, &error), NNB_OK);
    const float sample[4] = {5.1f, 3.5f, 1.4f, 0.2f};
    float *output = score_rows(model, sample, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(output);
    CU_ASSERT_DOUBLE_EQUAL(output[0], 0.9715, 5e-5);
    CU_ASSERT_DOUBLE_EQUAL(output[1], 0.0265, 5e-5);
    CU_ASSERT_DOUBLE_EQUAL(output[2], 0.0020, 5e-5);
    free(output);
    nnb_model_free(model);
}

/* ---- Rejected files ---------------------------------------------------------------- */

/* How expect_rejected() loads a file. */
typedef enum loader {
    LOAD_MODEL,      /* nnb_model_load(), which detects Keras files */
    LOAD_KERAS       /* nnb_model_load_keras() */
} loader;

/* Load fixture `file` (with the architecture in `config`, which may be
 * NULL) and expect `status`, no model and a one-line message that names
 * `named` (the file, when NULL) and contains both fragments. */
static void expect_rejected(const char *file, loader how, const char *config, nnb_status status,
                            const char *named, const char *fragment, const char *fragment2)
{
    if (!have_fixtures)
        return;
    char path[800];
    snprintf(path, sizeof path, "%s", fixture(file));
    nnb_model *model = NULL;
    nnb_error error;
    nnb_status result = how == LOAD_KERAS ? nnb_model_load_keras(path, config, &model, &error)
                                          : nnb_model_load(path, &model, &error);
    CU_ASSERT_EQUAL(result, status);
    CU_ASSERT_PTR_NULL(model);
    if (result == NNB_OK) {
        nnb_model_free(model);
        return;
    }
    CU_ASSERT_EQUAL(error.status, status);
    CU_ASSERT_PTR_NOT_NULL(strstr(error.message, named != NULL ? named : path));
    CU_ASSERT_PTR_NULL(strchr(error.message, '\n'));
    int found = strstr(error.message, fragment) != NULL
                && (fragment2 == NULL || strstr(error.message, fragment2) != NULL);
    CU_ASSERT_TRUE(found);
    if (!found)
        fprintf(stderr, "\n  expected '%s' in: %s", fragment, error.message);
}

static void test_reject_not_keras(void)
{
    expect_rejected("error_not_keras.h5", LOAD_KERAS, NULL, NNB_ERR_FORMAT, NULL,
                    "is not a Keras model file", NULL);

    /* nnb_model_load() does not take it for a Keras file, so nnbatch's own
     * reader reports it. */
    if (!have_fixtures)
        return;
    nnb_model *model = NULL;
    nnb_error error;
    CU_ASSERT_EQUAL(nnb_model_load(fixture("error_not_keras.h5"), &model, &error),
                    NNB_ERR_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(error.message, "is not an nnbatch model"));
}

static void test_reject_unsupported_layer(void)
{
    expect_rejected("error_unsupported_layer.h5", LOAD_MODEL, NULL, NNB_ERR_MODEL, NULL,
                    "layer 2 'conv2d_1' has class Conv2D", "supported classes");
}

static void test_reject_unsupported_activation(void)
{
    expect_rejected("error_unsupported_activation.h5", LOAD_MODEL, NULL, NNB_ERR_MODEL, NULL,
                    "layer 1 'dense_1' (Dense): activation 'elu' is not supported", NULL);
}

static void test_reject_missing_weight(void)
{
    expect_rejected("error_missing_weight.h5", LOAD_MODEL, NULL, NNB_ERR_FORMAT, NULL,
                    "weight 'dense_2/bias:0' listed in weight_names is missing",
                    "/model_weights/dense_2/dense_2/bias:0");
}

static void test_reject_wrong_weight_shape(void)
{
    expect_rejected("error_wrong_shape.h5", LOAD_MODEL, NULL, NNB_ERR_FORMAT, NULL,
                    "layer 2 'dense_2' (Dense): weight 'dense_2/kernel:0' has shape (5, 2)",
                    "expected (3, 2)");
}

static void test_reject_weights_without_config(void)
{
    expect_rejected("error_weights_only.h5", LOAD_MODEL, NULL, NNB_ERR_FORMAT, NULL,
                    "holds Keras weights only", "--keras-config");
}

static void test_reject_invalid_json(void)
{
    expect_rejected("error_bad_json.h5", LOAD_MODEL, NULL, NNB_ERR_FORMAT, NULL,
                    "root attribute 'model_config' is not valid JSON: line 1, column 52",
                    "found ','");
}

static void test_reject_branching_model(void)
{
    expect_rejected("error_branching.h5", LOAD_MODEL, NULL, NNB_ERR_MODEL, NULL,
                    "layer 1 'input_1' (InputLayer): its output is read by 2 layers", NULL);
}

static void test_reject_unfoldable_batchnorm(void)
{
    expect_rejected("error_batchnorm_unfoldable.h5", LOAD_MODEL, NULL, NNB_ERR_MODEL, NULL,
                    "layer 2 'batch_normalization_1' (BatchNormalization): the layer cannot "
                    "be folded", NULL);
}

static void test_reject_missing_config_file(void)
{
    expect_rejected("weights_only.h5", LOAD_KERAS, "no-such-config.json", NNB_ERR_IO,
                    "no-such-config.json", "cannot open the Keras config file", NULL);
}

/* ---- JSON parser ------------------------------------------------------------------- */

static void test_json_valid_document(void)
{
    static const char text[] =
        " {\"a\": [1, -2.5e3, 0.125, true, false, null, NaN, -Infinity],\n"
        "  \"s\": \"tab\\tq\\\"\\u00e9\\ud83d\\ude00/\", \"o\": {}, \"e\": []} ";
    nnb_json_value *root = NULL;
    nnb_json_error error;
    CU_ASSERT_EQUAL_FATAL(nnb_json_parse(text, strlen(text), &root, &error), NNB_OK);
    CU_ASSERT_EQUAL(root->type, NNB_JSON_OBJECT);
    CU_ASSERT_EQUAL(root->count, 4);

    const nnb_json_value *a = nnb_json_get(root, "a");
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL_FATAL(a->count, 8);
    CU_ASSERT_DOUBLE_EQUAL(a->items[0].number, 1.0, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(a->items[1].number, -2500.0, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(a->items[2].number, 0.125, 0.0);
    CU_ASSERT_EQUAL(a->items[3].type, NNB_JSON_BOOL);
    CU_ASSERT_EQUAL(a->items[3].boolean, 1);
    CU_ASSERT_EQUAL(a->items[4].boolean, 0);
    CU_ASSERT_EQUAL(a->items[5].type, NNB_JSON_NULL);
    CU_ASSERT_TRUE(isnan(a->items[6].number));
    CU_ASSERT_TRUE(isinf(a->items[7].number) && a->items[7].number < 0);

    const nnb_json_value *s = nnb_json_get(root, "s");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_STRING_EQUAL(s->string, "tab\tq\"\xc3\xa9\xf0\x9f\x98\x80/");
    CU_ASSERT_EQUAL(nnb_json_get(root, "o")->type, NNB_JSON_OBJECT);
    CU_ASSERT_EQUAL(nnb_json_get(root, "e")->count, 0);
    CU_ASSERT_PTR_NULL(nnb_json_get(root, "missing"));
    nnb_json_free(root);
}

static void test_json_rejects_malformed(void)
{
    static const struct {
        const char *text;
        int line;
        int column;
        const char *fragment;
    } cases[] = {
        {"", 1, 1, "expected a value"},
        {"[1, 2,]", 1, 7, "found ']'"},
        {"{\"a\": 1,}", 1, 9, "member name"},
        {"{\"a\" 1}", 1, 6, "':'"},
        {"[01]", 1, 3, "leading zero"},
        {"[1.]", 1, 4, "decimal point"},
        {"[+1]", 1, 2, "expected a value"},
        {"[1e]", 1, 4, "exponent"},
        {"[1e999]", 1, 2, "out of the range"},
        {"\"abc", 1, 5, "not terminated"},
        {"\"a\tb\"", 1, 3, "control character"},
        {"\"\\x\"", 1, 3, "after '\\'"},
        {"\"\\u12G4\"", 1, 6, "hex digit"},
        {"\"\\u0000\"", 1, 2, "\\u0000"},
        {"\"\\udc00\"", 1, 2, "low surrogate"},
        {"\"\\ud800x\"", 1, 8, "low surrogate"},
        {"\"\xc3\x28\"", 1, 2, "invalid UTF-8"},
        {"\"\xed\xa0\x80\"", 1, 2, "invalid UTF-8"},
        {"{\"k\": 1, \"k\": 2}", 1, 10, "two members named \"k\""},
        {"[1]\n x", 2, 2, "end of the text"},
        {"tru", 1, 1, "expected a value"},
        {"{'a': 1}", 1, 2, "member name"},
        {"[1 // note\n]", 1, 4, "',' or ']'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nnb_json_value *root = NULL;
        nnb_json_error error;
        nnb_status status = nnb_json_parse(cases[i].text, strlen(cases[i].text), &root, &error);
        CU_ASSERT_EQUAL(status, NNB_ERR_FORMAT);
        CU_ASSERT_PTR_NULL(root);
        CU_ASSERT_EQUAL(error.line, cases[i].line);
        CU_ASSERT_EQUAL(error.column, cases[i].column);
        CU_ASSERT_PTR_NOT_NULL(strstr(error.message, cases[i].fragment));
        if (status != NNB_ERR_FORMAT || error.line != cases[i].line
            || error.column != cases[i].column || strstr(error.message, cases[i].fragment) == NULL)
            fprintf(stderr, "\n  case %zu '%s': %d:%d %s", i, cases[i].text, error.line,
                    error.column, error.message);
        nnb_json_free(root);
    }
}

static void test_json_nesting_limit(void)
{
    char text[2 * NNB_JSON_MAX_DEPTH + 8];
    size_t length = 0;
    for (int i = 0; i < NNB_JSON_MAX_DEPTH; i++)
        text[length++] = '[';
    for (int i = 0; i < NNB_JSON_MAX_DEPTH; i++)
        text[length++] = ']';

    nnb_json_value *root = NULL;
    nnb_json_error error;
    CU_ASSERT_EQUAL(nnb_json_parse(text, length, &root, &error), NNB_OK);
    nnb_json_free(root);

    /* One level deeper is rejected before the recursion goes further. */
    memmove(text + 1, text, length);
    text[0] = '[';
    text[length + 1] = ']';
    root = NULL;
    CU_ASSERT_EQUAL(nnb_json_parse(text, length + 2, &root, &error), NNB_ERR_FORMAT);
    CU_ASSERT_PTR_NULL(root);
    CU_ASSERT_PTR_NOT_NULL(strstr(error.message, "nested more than"));
}

/* ---- The model writer -------------------------------------------------------------- */

/* A model with a labels input and a loss node written and read back gives
 * the same graph and the same outputs. */
static void test_model_save_round_trip(void)
{
    float weight1[3 * 4], bias1[3], weight2[2 * 3];
    test_fill_random(weight1, 12, 31, 0.7f);
    test_fill_random(bias1, 3, 32, 0.2f);
    test_fill_random(weight2, 6, 33, 0.7f);
    const test_layer layers[] = {{4, 3, weight1, bias1, NNB_OP_TANH},
                                 {3, 2, weight2, NULL, NNB_OP_COUNT}};
    const test_mlp mlp = {4, layers, 2, 1};
    nnb_model *model = test_mlp_model(&mlp);

    char path[700];
    snprintf(path, sizeof path, "%s", test_temp_path("saved.h5"));
    nnb_error error;
    CU_ASSERT_EQUAL_FATAL(nnb_model_save(model, path, "round trip", &error), NNB_OK);

    nnb_model *loaded = NULL;
    CU_ASSERT_EQUAL_FATAL(nnb_model_load(path, &loaded, &error), NNB_OK);
    CU_ASSERT_PTR_NULL(nnb_model_origin(loaded));
    CU_ASSERT_EQUAL(nnb_model_input_width(loaded), 4);
    CU_ASSERT_EQUAL(nnb_model_label_classes(loaded), nnb_model_label_classes(model));
    CU_ASSERT_EQUAL_FATAL(nnb_model_node_count(loaded), nnb_model_node_count(model));
    for (int i = 0; i < nnb_model_node_count(model); i++) {
        CU_ASSERT_STRING_EQUAL(nnb_model_node_name(loaded, i), nnb_model_node_name(model, i));
        CU_ASSERT_EQUAL(nnb_model_node_op(loaded, i), nnb_model_node_op(model, i));
    }
    CU_ASSERT_EQUAL_FATAL(nnb_model_output_count(loaded), nnb_model_output_count(model));
    for (int i = 0; i < nnb_model_output_count(model); i++)
        CU_ASSERT_STRING_EQUAL(nnb_model_output_name(loaded, i), nnb_model_output_name(model, i));

    float input[5 * 4];
    test_fill_random(input, 20, 34, 1.5f);
    float *expected = score_rows(model, input, 5);
    float *actual = score_rows(loaded, input, 5);
    CU_ASSERT_PTR_NOT_NULL_FATAL(expected);
    CU_ASSERT_PTR_NOT_NULL_FATAL(actual);
    int64_t count = 5 * nnb_model_output_width(model, 0);
    CU_ASSERT_EQUAL(memcmp(expected, actual, (size_t)count * sizeof *actual), 0);

    free(expected);
    free(actual);
    nnb_model_free(loaded);
    nnb_model_free(model);
}

/* A failed save leaves nothing at the path. */
static void test_model_save_into_missing_directory(void)
{
    float weight[2 * 2] = {1, 2, 3, 4};
    const test_layer layers[] = {{2, 2, weight, NULL, NNB_OP_COUNT}};
    const test_mlp mlp = {2, layers, 1, 0};
    nnb_model *model = test_mlp_model(&mlp);

    char path[700];
    snprintf(path, sizeof path, "%s/no-such-dir/model.h5", test_temp_dir());
    nnb_error error;
    CU_ASSERT_EQUAL(nnb_model_save(model, path, NULL, &error), NNB_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(error.message, "cannot create the model file"));
    CU_ASSERT_FALSE(test_file_exists(path));
    nnb_model_free(model);
}

static void test_model_save_over_source(void)
{
    if (!have_fixtures)
        return;
    nnb_model *model = NULL;
    nnb_error error;
    CU_ASSERT_EQUAL_FATAL(nnb_model_load(fixture("keras3_sequential.h5"), &model, &error),
                          NNB_OK);
    CU_ASSERT_EQUAL(nnb_model_save(model, fixture("keras3_sequential.h5"), NULL, &error),
                    NNB_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(error.message, "the file the model was loaded from"));
    CU_ASSERT_TRUE(nnb_io_keras_detect(fixture("keras3_sequential.h5")));
    nnb_model_free(model);
}

/* ---- nnbatch convert --------------------------------------------------------------- */

/* Score `model` on the rows of data.h5 with the CLI; returns the output
 * dataset `output` read back. */
static float *score_with_cli(const char *model, const char *output_file, const char *output,
                             int64_t *count)
{
    char data[700], out[700];
    snprintf(data, sizeof data, "%s", test_temp_path("keras-data.h5"));
    snprintf(out, sizeof out, "%s", test_temp_path(output_file));
    const char *argv[] = {cli_path(), "score", model, data, "--input", "x", "--output", out,
                          "--quiet", NULL};
    int status = run_program(argv);
    CU_ASSERT_EQUAL(status, 0);
    if (status != 0) {
        fprintf(stderr, "\n  nnbatch score %s: %s", model, program_stderr);
        return NULL;
    }
    int64_t rows, cols;
    float *values = test_read_matrix(out, output, &rows, &cols);
    *count = rows * cols;
    return values;
}

static void test_convert_scores_identically(void)
{
    if (!have_fixtures)
        return;
    float rows[40 * 5];
    test_fill_random(rows, 40 * 5, 41, 2.0f);
    CU_ASSERT_EQUAL_FATAL(test_write_matrix(test_temp_path("keras-data.h5"), 1, "x", 40, 5, rows),
                          0);

    char keras[800], converted[800];
    snprintf(keras, sizeof keras, "%s", fixture("tfkeras27_functional.h5"));
    snprintf(converted, sizeof converted, "%s", test_temp_path("converted.h5"));
    const char *convert[] = {cli_path(), "convert", keras, converted, NULL};
    CU_ASSERT_EQUAL_FATAL(run_program(convert), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(program_stdout, "saved by Keras 2.7.0"));

    /* The converted file is nnbatch's own format, not a Keras file. */
    CU_ASSERT_FALSE(nnb_io_keras_detect(converted));

    int64_t keras_count = 0, converted_count = 0;
    float *from_keras = score_with_cli(keras, "from-keras.h5", "dense_1", &keras_count);
    float *from_converted = score_with_cli(converted, "from-converted.h5", "dense_1",
                                           &converted_count);
    CU_ASSERT_PTR_NOT_NULL_FATAL(from_keras);
    CU_ASSERT_PTR_NOT_NULL_FATAL(from_converted);
    CU_ASSERT_EQUAL_FATAL(keras_count, 40 * 4);
    CU_ASSERT_EQUAL_FATAL(converted_count, keras_count);
    CU_ASSERT_EQUAL(memcmp(from_keras, from_converted, (size_t)keras_count * sizeof(float)), 0);
    free(from_keras);
    free(from_converted);
}

static void test_convert_weights_only(void)
{
    if (!have_fixtures)
        return;
    char keras[800], config[800], converted[800];
    snprintf(keras, sizeof keras, "%s", fixture("weights_only.h5"));
    snprintf(config, sizeof config, "%s", fixture("weights_only.json"));
    snprintf(converted, sizeof converted, "%s", test_temp_path("weights-converted.h5"));

    const char *without[] = {cli_path(), "convert", keras, converted, NULL};
    CU_ASSERT_EQUAL(run_program(without), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(program_stderr, "holds Keras weights only"));
    CU_ASSERT_FALSE(test_file_exists(converted));

    const char *with[] = {cli_path(), "convert", keras, converted, "--keras-config", config,
                          NULL};
    CU_ASSERT_EQUAL(run_program(with), 0);
    nnb_model *model = NULL;
    nnb_error error;
    CU_ASSERT_EQUAL_FATAL(nnb_model_load(converted, &model, &error), NNB_OK);
    check_against_expected(model, "weights_only");
    nnb_model_free(model);
}

static void test_info_prints_keras_version(void)
{
    if (!have_fixtures)
        return;
    char keras[800];
    snprintf(keras, sizeof keras, "%s", fixture("keras23_batchnorm_first.h5"));
    const char *argv[] = {cli_path(), "info", keras, NULL};
    CU_ASSERT_EQUAL(run_program(argv), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(program_stdout, "saved by      Keras 2.3.1\n"));
}

int nnb_test_register_keras(void)
{
    CU_pSuite suite = CU_add_suite("keras", keras_setup, keras_cleanup);
    if (suite == NULL)
        return -1;
    int failed = 0;
    failed |= CU_add_test(suite, "fixture script runs", test_fixture_script_runs) == NULL;
    failed |= CU_add_test(suite, "json valid document", test_json_valid_document) == NULL;
    failed |= CU_add_test(suite, "json rejects malformed", test_json_rejects_malformed) == NULL;
    failed |= CU_add_test(suite, "json nesting limit", test_json_nesting_limit) == NULL;
    failed |= CU_add_test(suite, "keras 1 sequential", test_keras1_sequential) == NULL;
    failed |= CU_add_test(suite, "keras 2.0 sequential list", test_keras20_sequential_list)
              == NULL;
    failed |= CU_add_test(suite, "keras 2.3 batchnorm first", test_keras23_batchnorm_first)
              == NULL;
    failed |= CU_add_test(suite, "tf.keras 2.7 functional", test_tfkeras27_functional) == NULL;
    failed |= CU_add_test(suite, "keras 3 functional", test_keras3_functional) == NULL;
    failed |= CU_add_test(suite, "keras 3 sequential", test_keras3_sequential) == NULL;
    failed |= CU_add_test(suite, "keras 1 functional model", test_keras1_functional_model)
              == NULL;
    failed |= CU_add_test(suite, "weights with config", test_weights_with_config) == NULL;
    failed |= CU_add_test(suite, "batchnorm folded", test_batchnorm_folded) == NULL;
    failed |= CU_add_test(suite, "real keras 1.2.1", test_real_keras_1_2_1) == NULL;
    failed |= CU_add_test(suite, "real keras 2.0.9", test_real_keras_2_0_9) == NULL;
    failed |= CU_add_test(suite, "real keras 2.3.1", test_real_keras_2_3_1) == NULL;
    failed |= CU_add_test(suite, "real keras 2.7.0", test_real_keras_2_7_0) == NULL;
    failed |= CU_add_test(suite, "real keras 3.5.0", test_real_keras_3_5_0) == NULL;
    failed |= CU_add_test(suite, "real iris known output", test_real_iris_known_output) == NULL;
    failed |= CU_add_test(suite, "reject not keras", test_reject_not_keras) == NULL;
    failed |= CU_add_test(suite, "reject unsupported layer", test_reject_unsupported_layer)
              == NULL;
    failed |= CU_add_test(suite, "reject unsupported activation",
                          test_reject_unsupported_activation) == NULL;
    failed |= CU_add_test(suite, "reject missing weight", test_reject_missing_weight) == NULL;
    failed |= CU_add_test(suite, "reject wrong weight shape", test_reject_wrong_weight_shape)
              == NULL;
    failed |= CU_add_test(suite, "reject weights without config",
                          test_reject_weights_without_config) == NULL;
    failed |= CU_add_test(suite, "reject invalid json", test_reject_invalid_json) == NULL;
    failed |= CU_add_test(suite, "reject branching model", test_reject_branching_model) == NULL;
    failed |= CU_add_test(suite, "reject unfoldable batchnorm", test_reject_unfoldable_batchnorm)
              == NULL;
    failed |= CU_add_test(suite, "reject missing config file", test_reject_missing_config_file)
              == NULL;
    failed |= CU_add_test(suite, "model save round trip", test_model_save_round_trip) == NULL;
    failed |= CU_add_test(suite, "model save into missing directory",
                          test_model_save_into_missing_directory) == NULL;
    failed |= CU_add_test(suite, "model save over source", test_model_save_over_source) == NULL;
    failed |= CU_add_test(suite, "convert scores identically", test_convert_scores_identically)
              == NULL;
    failed |= CU_add_test(suite, "convert weights only", test_convert_weights_only) == NULL;
    failed |= CU_add_test(suite, "info prints keras version", test_info_prints_keras_version)
              == NULL;
    return failed ? -1 : 0;
}
