/*
 * Command-line program, run as a child process. The tests cover an
 * end-to-end score whose output file is read back and checked, and identical
 * files for any thread count and tile size. Each kind of bad input has a test
 * that expects a non-zero exit, one message naming the problem and no file at
 * the output path.
 *
 * The program under test is $NNB_CLI (set by `make test`), else
 * build/nnbatch.
 */
#include "fixtures.h"
#include "suites.h"

#include <CUnit/CUnit.h>
#include <dirent.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define IN 12
#define HIDDEN 24
#define CLASSES 4
#define ROWS 1001

static float weight1[HIDDEN * IN], bias1[HIDDEN], weight2[CLASSES * HIDDEN], bias2[CLASSES];
static test_layer layers[2];
static test_mlp mlp;
static float features[ROWS * IN];
static int32_t labels[ROWS];
static char model_path[512], data_path[512];

/* Message printed by the last run_cli() on stderr. */
static char cli_stderr[4096];

static int cli_setup(void)
{
    test_fill_random(weight1, HIDDEN * IN, 21, 0.6f);
    test_fill_random(bias1, HIDDEN, 22, 0.1f);
    test_fill_random(weight2, CLASSES * HIDDEN, 23, 0.6f);
    test_fill_random(bias2, CLASSES, 24, 0.1f);
    layers[0] = (test_layer){IN, HIDDEN, weight1, bias1, NNB_OP_RELU};
    layers[1] = (test_layer){HIDDEN, CLASSES, weight2, bias2, NNB_OP_COUNT};
    mlp = (test_mlp){IN, layers, 2, 1};
    test_fill_random(features, ROWS * IN, 25, 1.5f);
    for (int i = 0; i < ROWS; i++)
        labels[i] = (i * 5 + 1) % CLASSES;

    snprintf(model_path, sizeof model_path, "%s", test_temp_path("model.h5"));
    snprintf(data_path, sizeof data_path, "%s", test_temp_path("data.h5"));
    if (test_mlp_write(&mlp, model_path) != 0)
        return -1;
    if (test_write_matrix(data_path, 1, "/data/x", ROWS, IN, features) != 0)
        return -1;
    return test_write_labels(data_path, "/data/y", ROWS, labels);
}

static int cli_cleanup(void)
{
    test_temp_cleanup();
    return 0;
}

static const char *cli_path(void)
{
    const char *path = getenv("NNB_CLI");
    return path != NULL ? path : "build/nnbatch";
}

/* Run the CLI with a NULL-terminated argument list (after the program name);
 * stdout is discarded, stderr kept in cli_stderr. Returns the exit status,
 * or -1 when the program did not exit normally. */
static int run_cli(const char *const *args)
{
    const char *argv[32];
    int argc = 0;
    argv[argc++] = cli_path();
    for (int i = 0; args[i] != NULL && argc < 31; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;

    char stderr_path[600];
    snprintf(stderr_path, sizeof stderr_path, "%s/stderr.txt", test_temp_dir());
    pid_t pid = fork();
    if (pid == 0) {
        int err = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int null = open("/dev/null", O_WRONLY);
        dup2(err, STDERR_FILENO);
        dup2(null, STDOUT_FILENO);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);

    cli_stderr[0] = '\0';
    FILE *f = fopen(stderr_path, "r");
    if (f != NULL) {
        size_t n = fread(cli_stderr, 1, sizeof cli_stderr - 1, f);
        cli_stderr[n] = '\0';
        fclose(f);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Count leftover temporary output files in the test directory. */
static int temp_files_left(void)
{
    DIR *dir = opendir(test_temp_dir());
    int count = 0;
    struct dirent *entry;
    while (dir != NULL && (entry = readdir(dir)) != NULL) {
        if (strstr(entry->d_name, ".tmp-") != NULL)
            count++;
    }
    if (dir != NULL)
        closedir(dir);
    return count;
}

static int count_lines(const char *text)
{
    int lines = 0;
    for (const char *p = text; *p != '\0'; p++)
        lines += *p == '\n';
    return lines;
}

/* Run a score that must fail: exit status 1 or 2, one line on stderr that
 * contains `expected`, and nothing at `output`. */
static void expect_failure(const char *const *args, const char *output, const char *expected)
{
    remove(output);
    int status = run_cli(args);
    CU_ASSERT_TRUE(status == 1 || status == 2);
    CU_ASSERT_EQUAL(count_lines(cli_stderr), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(cli_stderr, expected));
    if (strstr(cli_stderr, expected) == NULL)
        fprintf(stderr, "\n  expected '%s' in: %s", expected, cli_stderr);
    CU_ASSERT_FALSE(test_file_exists(output));
    CU_ASSERT_EQUAL(temp_files_left(), 0);
}

static void test_end_to_end_outputs(void)
{
    char output[600];
    snprintf(output, sizeof output, "%s", test_temp_path("out.h5"));
    const char *args[] = {"score", model_path, data_path, "--input", "/data/x", "--labels",
                          "/data/y", "--output", output, "--threads", "2", "--tile-rows", "100",
                          NULL};
    CU_ASSERT_EQUAL_FATAL(run_cli(args), 0);

    int64_t rows, cols;
    float *probabilities = test_read_matrix(output, "probabilities", &rows, &cols);
    CU_ASSERT_PTR_NOT_NULL_FATAL(probabilities);
    CU_ASSERT_EQUAL(rows, ROWS);
    CU_ASSERT_EQUAL(cols, CLASSES);
    float *loss = test_read_matrix(output, "loss", &rows, &cols);
    CU_ASSERT_PTR_NOT_NULL_FATAL(loss);
    CU_ASSERT_EQUAL(cols, 1);
    float *logits = test_read_matrix(output, "logits", &rows, &cols);
    CU_ASSERT_PTR_NOT_NULL_FATAL(logits);

    double loss_sum = 0.0;
    int64_t correct = 0;
    for (int r = 0; r < ROWS; r++) {
        double z[CLASSES], p[CLASSES];
        double expected_loss = test_mlp_reference(&mlp, features + r * IN, labels[r], z, p);
        loss_sum += expected_loss;
        int best = 0;
        for (int j = 0; j < CLASSES; j++) {
            CU_ASSERT_DOUBLE_EQUAL(probabilities[r * CLASSES + j], p[j], 1e-5);
            CU_ASSERT_DOUBLE_EQUAL(logits[r * CLASSES + j], z[j], 1e-4);
            best = z[j] > z[best] ? j : best;
        }
        correct += best == labels[r];
        CU_ASSERT_DOUBLE_EQUAL(loss[r], expected_loss, 1e-4);
    }

    double mean_loss = NAN, accuracy = NAN;
    CU_ASSERT_EQUAL(test_read_root_double(output, "mean_loss", &mean_loss), 0);
    CU_ASSERT_EQUAL(test_read_root_double(output, "accuracy", &accuracy), 0);
    CU_ASSERT_DOUBLE_EQUAL(mean_loss, loss_sum / ROWS, 1e-5);
    CU_ASSERT_DOUBLE_EQUAL(accuracy, (double)correct / ROWS, 1e-12);
    CU_ASSERT_EQUAL(temp_files_left(), 0);
    free(probabilities);
    free(loss);
    free(logits);
}

static void test_without_labels(void)
{
    char output[600];
    snprintf(output, sizeof output, "%s", test_temp_path("unlabelled.h5"));
    const char *args[] = {"score", model_path, data_path, "--input", "/data/x", "--output",
                          output, NULL};
    CU_ASSERT_EQUAL_FATAL(run_cli(args), 0);
    int64_t rows, cols;
    float *probabilities = test_read_matrix(output, "probabilities", &rows, &cols);
    CU_ASSERT_PTR_NOT_NULL(probabilities);
    CU_ASSERT_EQUAL(rows, ROWS);
    float *loss = test_read_matrix(output, "loss", &rows, &cols);
    CU_ASSERT_PTR_NULL(loss);
    free(probabilities);
}

static float *score_to_file(const char *name, const char *threads, const char *tile_rows)
{
    char output[600];
    snprintf(output, sizeof output, "%s", test_temp_path(name));
    const char *args[] = {"score", model_path, data_path, "--input", "/data/x", "--labels",
                          "/data/y", "--output", output, "--threads", threads, "--tile-rows",
                          tile_rows, NULL};
    CU_ASSERT_EQUAL(run_cli(args), 0);
    int64_t rows, cols;
    return test_read_matrix(output, "probabilities", &rows, &cols);
}

static void test_files_identical_across_runs(void)
{
    float *base = score_to_file("base.h5", "1", "4096");
    CU_ASSERT_PTR_NOT_NULL_FATAL(base);
    double base_loss;
    CU_ASSERT_EQUAL(test_read_root_double(test_temp_path("base.h5"), "mean_loss", &base_loss), 0);

    const char *settings[][2] = {{"2", "4096"}, {"1", "1"}, {"2", "37"}, {"2", "1"}};
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        float *other = score_to_file("other.h5", settings[i][0], settings[i][1]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(other);
        CU_ASSERT_EQUAL(memcmp(base, other, sizeof(float) * ROWS * CLASSES), 0);
        double loss;
        CU_ASSERT_EQUAL(test_read_root_double(test_temp_path("other.h5"), "mean_loss", &loss), 0);
        CU_ASSERT_EQUAL(memcmp(&loss, &base_loss, sizeof loss), 0);
        free(other);
    }
    free(base);
}

static void test_environment_does_not_change_results(void)
{
    float *base = score_to_file("env-base.h5", "1", "64");
    CU_ASSERT_PTR_NOT_NULL_FATAL(base);

    /* Settings a user's shell may carry; none may change a result. */
    setenv("OMP_NUM_THREADS", "3", 1);
    setenv("BLIS_NUM_THREADS", "4", 1);
    setenv("OMP_MAX_ACTIVE_LEVELS", "2", 1);
    float *with_env = score_to_file("env-set.h5", "2", "33");
    unsetenv("OMP_NUM_THREADS");
    unsetenv("BLIS_NUM_THREADS");
    unsetenv("OMP_MAX_ACTIVE_LEVELS");

    CU_ASSERT_PTR_NOT_NULL_FATAL(with_env);
    CU_ASSERT_EQUAL(memcmp(base, with_env, sizeof(float) * ROWS * CLASSES), 0);
    free(with_env);
    free(base);
}

/* Threads of process `pid` from /proc, or -1 once it has exited. */
static int thread_count(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    int threads = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (sscanf(line, "Threads: %d", &threads) == 1)
            break;
    }
    fclose(f);
    return threads;
}

/* Run the CLI and sample its thread count until it exits; returns the
 * largest count seen, or -1 when the run failed. */
static int run_cli_max_threads(const char *const *args)
{
    const char *argv[32];
    int argc = 0;
    argv[argc++] = cli_path();
    for (int i = 0; args[i] != NULL && argc < 31; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;

    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int max_threads = 0;
    int status = 0;
    for (;;) {
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid)
            break;
        int threads = thread_count(pid);
        if (threads > max_threads)
            max_threads = threads;
        struct timespec pause = {0, 200000};
        nanosleep(&pause, NULL);
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? max_threads : -1;
}

static void test_thread_count_bounded(void)
{
    /* Enough rows at one row per tile for the run to last a while. */
    const int64_t rows = 60000;
    float *x = malloc(sizeof(float) * rows * IN);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    test_fill_random(x, rows * IN, 51, 1.0f);
    char data[600], output[600];
    snprintf(data, sizeof data, "%s", test_temp_path("many-rows.h5"));
    snprintf(output, sizeof output, "%s", test_temp_path("many-rows-out.h5"));
    CU_ASSERT_EQUAL_FATAL(test_write_matrix(data, 1, "x", rows, IN, x), 0);
    free(x);

    /* BLIS would start 4 threads per call if it read this variable, and
     * the OpenMP runtime would let them nest under the workers. */
    setenv("BLIS_NUM_THREADS", "4", 1);
    setenv("OMP_MAX_ACTIVE_LEVELS", "2", 1);
    const char *args[] = {"score", model_path, data, "--input", "x", "--output", output,
                          "--threads", "2", "--tile-rows", "1", NULL};
    int max_threads = run_cli_max_threads(args);
    unsetenv("BLIS_NUM_THREADS");
    unsetenv("OMP_MAX_ACTIVE_LEVELS");

    /* The main thread (also worker 0), one more worker, the reader and the
     * writer. */
    CU_ASSERT_TRUE(max_threads >= 1);
    CU_ASSERT_TRUE(max_threads <= 4);
    if (max_threads > 4)
        fprintf(stderr, "\n  saw %d threads, expected at most 4\n", max_threads);
}

/* ---- Bad input ------------------------------------------------------------ */

static char bad_output[600];

static void score_must_fail(const char *model, const char *data, const char *input,
                            const char *label_set, const char *expected)
{
    snprintf(bad_output, sizeof bad_output, "%s", test_temp_path("bad-out.h5"));
    const char *args[12];
    int n = 0;
    args[n++] = "score";
    args[n++] = model;
    args[n++] = data;
    args[n++] = "--input";
    args[n++] = input;
    if (label_set != NULL) {
        args[n++] = "--labels";
        args[n++] = label_set;
    }
    args[n++] = "--output";
    args[n++] = bad_output;
    args[n] = NULL;
    expect_failure(args, bad_output, expected);
}

static void test_missing_files(void)
{
    char missing[600];
    snprintf(missing, sizeof missing, "%s", test_temp_path("no-model.h5"));
    score_must_fail(missing, data_path, "/data/x", NULL, "not found");
    CU_ASSERT_PTR_NOT_NULL(strstr(cli_stderr, "no-model.h5"));
    snprintf(missing, sizeof missing, "%s", test_temp_path("no-data.h5"));
    score_must_fail(model_path, missing, "/data/x", NULL, "not found");
    CU_ASSERT_PTR_NOT_NULL(strstr(cli_stderr, "no-data.h5"));
}

static void test_not_hdf5(void)
{
    char text_path[600];
    snprintf(text_path, sizeof text_path, "%s", test_temp_path("text.h5"));
    FILE *f = fopen(text_path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("this is not an HDF5 file\n", f);
    fclose(f);
    score_must_fail(text_path, data_path, "/data/x", NULL, "not an HDF5 file");
    score_must_fail(model_path, text_path, "/data/x", NULL, "not an HDF5 file");
}

static void test_missing_dataset(void)
{
    score_must_fail(model_path, data_path, "/data/nope", NULL, "'/data/nope' not found");
    score_must_fail(model_path, data_path, "/data/x", "/data/nolabels", "'/data/nolabels'");
}

static void test_feature_width_mismatch(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s", test_temp_path("narrow.h5"));
    CU_ASSERT_EQUAL_FATAL(test_write_matrix(path, 1, "x", 10, IN - 1, features), 0);
    score_must_fail(model_path, path, "x", NULL, "11 features per row but the model expects 12");
}

static void test_label_count_mismatch(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s", test_temp_path("short-labels.h5"));
    CU_ASSERT_EQUAL_FATAL(test_write_matrix(path, 1, "x", 10, IN, features), 0);
    CU_ASSERT_EQUAL_FATAL(test_write_labels(path, "y", 9, labels), 0);
    score_must_fail(model_path, path, "x", "y", "has 9 rows but input dataset 'x' has 10");
}

static void test_label_out_of_range(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s", test_temp_path("bad-labels.h5"));
    int32_t bad[10] = {0, 1, 2, 3, 0, 1, 2, CLASSES, 0, 1};
    CU_ASSERT_EQUAL_FATAL(test_write_matrix(path, 1, "x", 10, IN, features), 0);
    CU_ASSERT_EQUAL_FATAL(test_write_labels(path, "y", 10, bad), 0);
    score_must_fail(model_path, path, "x", "y", "row 7: label 4 is outside the class range 0 to 3");
}

static void test_non_numeric_dataset(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s", test_temp_path("strings.h5"));
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, 8);
    hsize_t dims[2] = {2, IN};
    hid_t space = H5Screate_simple(2, dims, NULL);
    hid_t dataset = H5Dcreate2(file, "x", type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(dataset);
    H5Sclose(space);
    H5Tclose(type);
    H5Fclose(file);
    score_must_fail(model_path, path, "x", NULL, "holds string values, not numbers");
}

static void test_empty_dataset(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s", test_temp_path("empty.h5"));
    CU_ASSERT_EQUAL_FATAL(test_write_matrix(path, 1, "x", 0, IN, features), 0);
    score_must_fail(model_path, path, "x", NULL, "is empty");
}

static void test_unwritable_output(void)
{
    const char *args[] = {"score", model_path, data_path, "--input", "/data/x", "--output",
                          "/nonexistent-dir/out.h5", NULL};
    expect_failure(args, "/nonexistent-dir/out.h5", "cannot create the output file");

    const char *dir_args[] = {"score", model_path, data_path, "--input", "/data/x", "--output",
                              test_temp_dir(), NULL};
    CU_ASSERT_NOT_EQUAL(run_cli(dir_args), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(cli_stderr, "output path is a directory"));

    const char *same_args[] = {"score", model_path, data_path, "--input", "/data/x", "--output",
                               data_path, NULL};
    CU_ASSERT_NOT_EQUAL(run_cli(same_args), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(cli_stderr, "output path is the input file"));
    CU_ASSERT_TRUE(test_file_exists(data_path));
}

static void test_output_not_a_regular_file(void)
{
    char fifo[600];
    snprintf(fifo, sizeof fifo, "%s", test_temp_path("pipe.h5"));
    CU_ASSERT_EQUAL_FATAL(mkfifo(fifo, 0600), 0);
    const char *args[] = {"score", model_path, data_path, "--input", "/data/x", "--output", fifo,
                          NULL};
    CU_ASSERT_EQUAL(run_cli(args), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(cli_stderr, "not a regular file"));
    struct stat info;
    CU_ASSERT_TRUE(stat(fifo, &info) == 0 && S_ISFIFO(info.st_mode));
    remove(fifo);

    char slash[600];
    snprintf(slash, sizeof slash, "%s/", test_temp_path("new.h5"));
    const char *slash_args[] = {"score", model_path, data_path, "--input", "/data/x", "--output",
                                slash, NULL};
    CU_ASSERT_EQUAL(run_cli(slash_args), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(cli_stderr, "output path must name a file"));
    CU_ASSERT_EQUAL(temp_files_left(), 0);
}

static void test_fractional_label(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s", test_temp_path("fractional.h5"));
    CU_ASSERT_EQUAL_FATAL(test_write_matrix(path, 1, "x", 3, IN, features), 0);
    const float fractional[3] = {1.0f, 2.5f, 0.0f};
    CU_ASSERT_EQUAL_FATAL(test_write_matrix(path, 0, "y", 3, 1, fractional), 0);
    score_must_fail(model_path, path, "x", "y", "row 1: label 2.5 is not a whole number");
}

static void test_bad_options(void)
{
    char output[600];
    snprintf(output, sizeof output, "%s", test_temp_path("opt-out.h5"));
    const char *threads[] = {"score", model_path, data_path, "--input", "/data/x", "--output",
                             output, "--threads", "0", NULL};
    expect_failure(threads, output, "--threads must be a whole number from 1");
    const char *tiles[] = {"score", model_path, data_path, "--input", "/data/x", "--output",
                           output, "--tile-rows", "0", NULL};
    expect_failure(tiles, output, "--tile-rows must be a whole number from 1");
    const char *junk[] = {"score", model_path, data_path, "--input", "/data/x", "--output",
                          output, "--threads", "2x", NULL};
    expect_failure(junk, output, "got '2x'");
    const char *unknown[] = {"score", model_path, data_path, "--input", "/data/x", "--output",
                             output, "--fast", "1", NULL};
    expect_failure(unknown, output, "unknown option --fast");
    const char *no_input[] = {"score", model_path, data_path, "--output", output, NULL};
    expect_failure(no_input, output, "--input and --output are required");
    const char *missing_value[] = {"score", model_path, data_path, "--input", "--output",
                                   output, NULL};
    expect_failure(missing_value, output, "option --input needs a value");
    const char *twice[] = {"score", model_path, data_path, "--input", "/data/x", "--input",
                           "/data/x", "--output", output, NULL};
    expect_failure(twice, output, "option --input is given twice");
    const char *empty_output[] = {"score", model_path, data_path, "--input", "/data/x",
                                  "--output=", NULL};
    expect_failure(empty_output, output, "--output must name a file");

    /* The --name=value form is accepted too. */
    char output_option[700];
    snprintf(output_option, sizeof output_option, "--output=%s", output);
    const char *with_equals[] = {"score", model_path, data_path, "--input=/data/x",
                                 output_option, "--threads=2", NULL};
    CU_ASSERT_EQUAL(run_cli(with_equals), 0);
    CU_ASSERT_TRUE(test_file_exists(output));
    remove(output);
}

static void test_info(void)
{
    const char *args[] = {"info", model_path, NULL};
    CU_ASSERT_EQUAL(run_cli(args), 0);
    const char *missing[] = {"info", test_temp_path("absent.h5"), NULL};
    CU_ASSERT_EQUAL(run_cli(missing), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(cli_stderr, "absent.h5"));
}

int nnb_test_register_cli(void)
{
    CU_pSuite suite = CU_add_suite("cli", cli_setup, cli_cleanup);
    if (suite == NULL)
        return -1;
    int failed = 0;
    failed |= CU_add_test(suite, "end-to-end outputs", test_end_to_end_outputs) == NULL;
    failed |= CU_add_test(suite, "without labels", test_without_labels) == NULL;
    failed |= CU_add_test(suite, "files identical across runs", test_files_identical_across_runs)
              == NULL;
    failed |= CU_add_test(suite, "environment does not change results",
                          test_environment_does_not_change_results) == NULL;
    failed |= CU_add_test(suite, "thread count bounded", test_thread_count_bounded) == NULL;
    failed |= CU_add_test(suite, "missing files", test_missing_files) == NULL;
    failed |= CU_add_test(suite, "not HDF5", test_not_hdf5) == NULL;
    failed |= CU_add_test(suite, "missing dataset", test_missing_dataset) == NULL;
    failed |= CU_add_test(suite, "feature width mismatch", test_feature_width_mismatch) == NULL;
    failed |= CU_add_test(suite, "label count mismatch", test_label_count_mismatch) == NULL;
    failed |= CU_add_test(suite, "label out of range", test_label_out_of_range) == NULL;
    failed |= CU_add_test(suite, "non-numeric dataset", test_non_numeric_dataset) == NULL;
    failed |= CU_add_test(suite, "empty dataset", test_empty_dataset) == NULL;
    failed |= CU_add_test(suite, "unwritable output", test_unwritable_output) == NULL;
    failed |= CU_add_test(suite, "output not a regular file", test_output_not_a_regular_file)
              == NULL;
    failed |= CU_add_test(suite, "fractional label", test_fractional_label) == NULL;
    failed |= CU_add_test(suite, "bad options", test_bad_options) == NULL;
    failed |= CU_add_test(suite, "info", test_info) == NULL;
    return failed ? -1 : 0;
}
