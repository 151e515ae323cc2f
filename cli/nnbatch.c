/*
 * nnbatch command-line program: `nnbatch score`, `nnbatch info` and
 * `nnbatch convert`.
 * Results go to stdout, errors and progress to stderr; every failure exits
 * with status 1 (2 for a usage error) after one message.
 */
#include "nnbatch.h"

#include "io/keras.h"
#include "io/model_write.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE 2

static const char main_usage[] =
    "Usage: nnbatch COMMAND [ARGS]\n"
    "\n"
    "Score HDF5 datasets with small neural networks on the CPU.\n"
    "\n"
    "Commands:\n"
    "  score   score the rows of an HDF5 dataset and write the model's outputs\n"
    "  info    print a model's graph, shapes, parameter count and FLOPs per row\n"
    "  convert write a Keras .h5 model in nnbatch's own model format\n"
    "\n"
    "Run 'nnbatch COMMAND --help' for a command's options.\n"
    "Options: --help (this text), --version (the nnbatch version).\n";

static const char score_usage[] =
    "Usage: nnbatch score MODEL.h5 DATA.h5 --input DATASET --output OUT.h5 [options]\n"
    "\n"
    "Reads the rows of DATASET in DATA.h5 tile by tile, runs them through the\n"
    "model and writes every graph output to OUT.h5 as a (rows x width) float32\n"
    "dataset named after its node. OUT.h5 is replaced only when the run succeeds.\n"
    "\n"
    "Options:\n"
    "  --input DATASET    input dataset, (rows x features), any numeric type (required)\n"
    "  --labels DATASET   class indices, (rows) or (rows x 1), or one-hot\n"
    "                     (rows x classes); adds the loss outputs and prints mean\n"
    "                     cross-entropy and accuracy\n"
    "  --output PATH      output HDF5 file (required)\n"
    "  --threads N        worker threads (default: OMP_NUM_THREADS, else the CPUs\n"
    "                     available to the process)\n"
    "  --tile-rows R      rows per tile, the unit of work of one thread (default:\n"
    "                     chosen from the layer widths)\n"
    "  --keep-denormals   keep subnormal floats (default: workers flush them to\n"
    "                     zero, because subnormal arithmetic is much slower)\n"
    "  --quiet            print no progress line\n"
    "  --help             print this text\n";

static const char info_usage[] =
    "Usage: nnbatch info MODEL.h5\n"
    "\n"
    "Loads and validates the model and prints its inputs, its nodes in\n"
    "execution order with their ops and output shapes, its outputs, the\n"
    "parameter count and the FLOPs per row.\n"
    "\n"
    "Options:\n"
    "  --help   print this text\n";

static const char convert_usage[] =
    "Usage: nnbatch convert KERAS.h5 OUT.h5 [--keras-config MODEL.json]\n"
    "\n"
    "Loads a Keras legacy HDF5 file (saved by model.save() or model.save_weights()\n"
    "with Keras 1.x to 3.x) and writes the same graph to OUT.h5 in nnbatch's model\n"
    "format (docs/model-format.md). OUT.h5 is replaced only when the conversion\n"
    "succeeds. nnbatch score and nnbatch info also read Keras files directly.\n"
    "\n"
    "Options:\n"
    "  --keras-config MODEL.json   the architecture, as written by model.to_json();\n"
    "                              required for a file of weights only, and used in\n"
    "                              place of the file's own architecture otherwise\n"
    "  --help                      print this text\n";

/* The signal (SIGINT, SIGTERM or SIGHUP) that asked the run to stop, or 0;
 * the progress callback turns it into a cancel. */
static volatile sig_atomic_t interrupted = 0;

static void on_signal(int signal_number)
{
    interrupted = signal_number;
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct progress_state {
    int show;           /* stderr is a terminal and --quiet was not given */
    double start;
    double last_print;
    int printed;
} progress_state;

static int report_progress(void *user_data, int64_t rows_done, int64_t rows_total)
{
    progress_state *state = user_data;
    if (interrupted)
        return 1;
    if (!state->show)
        return 0;

    double now = now_seconds();
    if (now - state->last_print < 0.5 && rows_done < rows_total)
        return 0;
    state->last_print = now;
    double elapsed = now - state->start;
    double rate = elapsed > 0 ? (double)rows_done / elapsed : 0.0;
    double eta = rate > 0 ? (double)(rows_total - rows_done) / rate : 0.0;
    fprintf(stderr, "\rnnbatch: %lld / %lld rows (%.1f%%), %.0f rows/s, %.0f s left   ",
            (long long)rows_done, (long long)rows_total,
            rows_total > 0 ? 100.0 * (double)rows_done / (double)rows_total : 100.0, rate, eta);
    state->printed = 1;
    return 0;
}

/* Parse a whole number in [minimum, maximum] for option `name`. */
static int parse_count(const char *name, const char *text, long long minimum, long long maximum,
                       long long *value)
{
    errno = 0;
    char *end = NULL;
    long long parsed = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || parsed < minimum || parsed > maximum) {
        fprintf(stderr, "nnbatch: %s must be a whole number from %lld to %lld, got '%s'\n", name,
                minimum, maximum, text);
        return -1;
    }
    *value = parsed;
    return 0;
}

typedef struct score_args {
    const char *model_path;
    const char *data_path;
    nnb_file_request request;
    nnb_options options;
    int quiet;
} score_args;

/* Store the value of option `name` (given as "--name VALUE" or
 * "--name=VALUE") into the matching field of `args`. */
static int set_score_option(score_args *args, const char *name, const char *value)
{
    long long number = 0;
    if (strcmp(name, "--input") == 0) {
        args->request.input_dataset = value;
    } else if (strcmp(name, "--labels") == 0) {
        args->request.labels_dataset = value;
    } else if (strcmp(name, "--output") == 0) {
        if (value[0] == '\0') {
            fprintf(stderr, "nnbatch score: --output must name a file, got an empty string\n");
            return -1;
        }
        args->request.output_path = value;
    } else if (strcmp(name, "--threads") == 0) {
        if (parse_count("--threads", value, 1, 1024, &number) != 0)
            return -1;
        args->options.threads = (int)number;
    } else if (strcmp(name, "--tile-rows") == 0) {
        if (parse_count("--tile-rows", value, 1, 1 << 20, &number) != 0)
            return -1;
        args->options.tile_rows = number;
    }
    return 0;
}

static int parse_score_args(int argc, char **argv, score_args *args)
{
    static const char *const value_options[] = {"--input", "--labels", "--output", "--threads",
                                                "--tile-rows"};
    enum { VALUE_OPTION_COUNT = sizeof value_options / sizeof value_options[0] };
    int seen[VALUE_OPTION_COUNT] = {0};

    memset(args, 0, sizeof *args);
    nnb_options_init(&args->options);
    const char *positional[2] = {NULL, NULL};
    int positional_count = 0;

    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(score_usage, stdout);
            exit(0);
        }
        if (strcmp(arg, "--quiet") == 0) {
            args->quiet = 1;
            continue;
        }
        if (strcmp(arg, "--keep-denormals") == 0) {
            args->options.keep_denormals = 1;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0) {
            if (positional_count == 2) {
                fprintf(stderr, "nnbatch score: unexpected argument '%s'; see "
                                "'nnbatch score --help'\n", arg);
                return -1;
            }
            positional[positional_count++] = arg;
            continue;
        }

        /* An option that takes a value: "--name VALUE" or "--name=VALUE". */
        char name[32];
        const char *equals = strchr(arg, '=');
        size_t name_length = equals != NULL ? (size_t)(equals - arg) : strlen(arg);
        snprintf(name, sizeof name, "%.*s", (int)name_length, arg);
        int option = -1;
        for (int k = 0; k < VALUE_OPTION_COUNT; k++) {
            if (strcmp(name, value_options[k]) == 0)
                option = k;
        }
        if (option < 0) {
            fprintf(stderr, "nnbatch score: unknown option %s; see 'nnbatch score --help'\n",
                    name);
            return -1;
        }
        if (seen[option]++) {
            fprintf(stderr, "nnbatch score: option %s is given twice; give it once\n", name);
            return -1;
        }
        const char *value = NULL;
        if (equals != NULL) {
            value = equals + 1;
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
            value = argv[++i];
        } else {
            fprintf(stderr, "nnbatch score: option %s needs a value; see "
                            "'nnbatch score --help'\n", name);
            return -1;
        }
        if (set_score_option(args, name, value) != 0)
            return -1;
    }

    if (positional_count < 2) {
        fprintf(stderr, "nnbatch score: give MODEL.h5 and DATA.h5; see 'nnbatch score --help'\n");
        return -1;
    }
    if (args->request.input_dataset == NULL || args->request.output_path == NULL) {
        fprintf(stderr, "nnbatch score: --input and --output are required; see "
                        "'nnbatch score --help'\n");
        return -1;
    }
    args->model_path = positional[0];
    args->data_path = positional[1];
    args->request.data_path = positional[1];
    return 0;
}

static void print_summary(const nnb_summary *summary, const nnb_model *model,
                          const nnb_run *run, const char *output_path)
{
    double seconds = summary->seconds > 0 ? summary->seconds : 1e-9;
    printf("rows          %lld\n", (long long)summary->rows);
    printf("seconds       %.3f\n", summary->seconds);
    printf("rows/s        %.0f\n", (double)summary->rows / seconds);
    printf("GFLOP/s       %.2f\n", summary->flops / seconds * 1e-9);
    printf("threads       %d\n", nnb_run_threads(run));
    printf("tile rows     %lld\n", (long long)nnb_run_tile_rows(run));
    if (summary->nonfinite_rows > 0) {
        printf("non-finite    %lld rows hold NaN or infinity in their input or outputs\n",
               (long long)summary->nonfinite_rows);
    }
    if (summary->has_labels) {
        printf("mean loss     %.6f (cross-entropy)\n", summary->mean_loss);
        printf("accuracy      %.4f (%lld of %lld)\n", summary->accuracy,
               (long long)summary->correct, (long long)summary->rows);
    }
    printf("output        %s (", output_path);
    int printed = 0;
    for (int i = 0; i < nnb_model_output_count(model); i++) {
        if (!summary->has_labels && nnb_model_output_needs_labels(model, i))
            continue;
        printf("%s%s", printed++ ? ", " : "", nnb_model_output_name(model, i));
    }
    printf(")\n");
}

static int command_score(int argc, char **argv)
{
    score_args args;
    if (parse_score_args(argc, argv, &args) != 0)
        return EXIT_USAGE;

    progress_state progress = {0};
    progress.show = !args.quiet && isatty(STDERR_FILENO);
    progress.start = now_seconds();
    args.options.progress = report_progress;
    args.options.progress_user_data = &progress;

    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGHUP, &action, NULL);

    nnb_error error;
    nnb_model *model = NULL;
    nnb_run *run = NULL;
    nnb_summary summary;
    int exit_code = 1;

    if (nnb_model_load(args.model_path, &model, &error) != NNB_OK)
        goto done;
    if (nnb_run_create(model, &args.options, &run, &error) != NNB_OK)
        goto done;
    nnb_status status = nnb_score_file(run, &args.request, &summary, &error);
    if (progress.printed)
        fputc('\n', stderr);
    if (status != NNB_OK)
        goto done;

    print_summary(&summary, model, run, args.request.output_path);
    exit_code = 0;

done:
    if (exit_code != 0 && interrupted) {
        /* 128 + signal number is the shell's convention for a killed job. */
        fprintf(stderr, "nnbatch: interrupted by %s; %s, and no output file was written\n",
                strsignal(interrupted), error.message);
        exit_code = 128 + interrupted;
    } else if (exit_code != 0) {
        fprintf(stderr, "nnbatch: error: %s\n", error.message);
    }
    nnb_run_free(run);
    nnb_model_free(model);
    return exit_code;
}

static void format_shape(char *buffer, size_t size, int64_t width)
{
    snprintf(buffer, size, "(rows, %lld)", (long long)width);
}

static int command_info(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(info_usage, stdout);
            return 0;
        }
        if (strncmp(argv[i], "--", 2) == 0 || path != NULL) {
            fprintf(stderr, "nnbatch info: unexpected argument '%s'; see 'nnbatch info --help'\n",
                    argv[i]);
            return EXIT_USAGE;
        }
        path = argv[i];
    }
    if (path == NULL) {
        fprintf(stderr, "nnbatch info: give MODEL.h5; see 'nnbatch info --help'\n");
        return EXIT_USAGE;
    }

    nnb_error error;
    nnb_model *model = NULL;
    if (nnb_model_load(path, &model, &error) != NNB_OK) {
        fprintf(stderr, "nnbatch: error: %s\n", error.message);
        return 1;
    }

    char shape[64];
    printf("model         %s\n", path);
    if (nnb_model_origin(model) != NULL)
        printf("saved by      %s\n", nnb_model_origin(model));
    format_shape(shape, sizeof shape, nnb_model_input_width(model));
    printf("features      %s\n", shape);
    if (nnb_model_label_classes(model) > 0)
        printf("labels        class indices, %lld classes\n",
               (long long)nnb_model_label_classes(model));

    printf("\n%-4s %-20s %-14s %-16s %s\n", "#", "node", "op", "output shape", "reads");
    for (int i = 0; i < nnb_model_node_count(model); i++) {
        format_shape(shape, sizeof shape, nnb_model_node_width(model, i));
        printf("%-4d %-20s %-14s %-16s ", i, nnb_model_node_name(model, i),
               nnb_op_name(nnb_model_node_op(model, i)), shape);
        for (int slot = 0; nnb_model_node_input(model, i, slot) != NULL; slot++)
            printf("%s%s", slot > 0 ? ", " : "", nnb_model_node_input(model, i, slot));
        printf("\n");
    }

    printf("\noutputs       ");
    for (int i = 0; i < nnb_model_output_count(model); i++) {
        format_shape(shape, sizeof shape, nnb_model_output_width(model, i));
        printf("%s%s %s%s", i > 0 ? ", " : "", nnb_model_output_name(model, i), shape,
               nnb_model_output_needs_labels(model, i) ? " [needs labels]" : "");
    }
    printf("\nparameters    %lld\n", (long long)nnb_model_parameter_count(model));
    printf("FLOPs/row     %.0f\n", nnb_model_flops_per_row(model));

    nnb_model_free(model);
    return 0;
}

static int command_convert(int argc, char **argv)
{
    const char *positional[2] = {NULL, NULL};
    int positional_count = 0;
    const char *config_path = NULL;

    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(convert_usage, stdout);
            return 0;
        }
        if (strncmp(arg, "--", 2) != 0) {
            if (positional_count == 2) {
                fprintf(stderr, "nnbatch convert: unexpected argument '%s'; see "
                                "'nnbatch convert --help'\n", arg);
                return EXIT_USAGE;
            }
            positional[positional_count++] = arg;
            continue;
        }

        /* The one option takes a value: "--keras-config PATH" or
         * "--keras-config=PATH". */
        static const char option[] = "--keras-config";
        size_t length = sizeof option - 1;
        if (strncmp(arg, option, length) != 0 || (arg[length] != '\0' && arg[length] != '=')) {
            fprintf(stderr, "nnbatch convert: unknown option %s; see 'nnbatch convert --help'\n",
                    arg);
            return EXIT_USAGE;
        }
        if (config_path != NULL) {
            fprintf(stderr, "nnbatch convert: option %s is given twice; give it once\n", option);
            return EXIT_USAGE;
        }
        if (arg[length] == '=') {
            config_path = arg + length + 1;
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
            config_path = argv[++i];
        } else {
            fprintf(stderr, "nnbatch convert: option %s needs a value; see "
                            "'nnbatch convert --help'\n", option);
            return EXIT_USAGE;
        }
        if (config_path[0] == '\0') {
            fprintf(stderr, "nnbatch convert: %s must name a file, got an empty string\n",
                    option);
            return EXIT_USAGE;
        }
    }
    if (positional_count < 2) {
        fprintf(stderr, "nnbatch convert: give KERAS.h5 and OUT.h5; see "
                        "'nnbatch convert --help'\n");
        return EXIT_USAGE;
    }

    nnb_error error;
    nnb_model *model = NULL;
    if (nnb_model_load_keras(positional[0], config_path, &model, &error) != NNB_OK) {
        fprintf(stderr, "nnbatch: error: %s\n", error.message);
        return 1;
    }

    char description[1024];
    snprintf(description, sizeof description, "converted by nnbatch %s from %s (saved by %s)",
             nnb_version(), positional[0], nnb_model_origin(model));
    int exit_code = 0;
    if (nnb_model_save(model, positional[1], description, &error) != NNB_OK) {
        fprintf(stderr, "nnbatch: error: %s\n", error.message);
        exit_code = 1;
    } else {
        printf("wrote %s: %d nodes, %lld parameters, from %s (saved by %s)\n", positional[1],
               nnb_model_node_count(model), (long long)nnb_model_parameter_count(model),
               positional[0], nnb_model_origin(model));
    }
    nnb_model_free(model);
    return exit_code;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(main_usage, stderr);
        return EXIT_USAGE;
    }
    const char *command = argv[1];
    if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0
        || strcmp(command, "help") == 0) {
        fputs(main_usage, stdout);
        return 0;
    }
    if (strcmp(command, "--version") == 0) {
        printf("nnbatch %s\n", nnb_version());
        return 0;
    }
    if (strcmp(command, "score") == 0)
        return command_score(argc - 2, argv + 2);
    if (strcmp(command, "info") == 0)
        return command_info(argc - 2, argv + 2);
    if (strcmp(command, "convert") == 0)
        return command_convert(argc - 2, argv + 2);

    fprintf(stderr, "nnbatch: unknown command '%s'; run 'nnbatch --help'\n", command);
    return EXIT_USAGE;
}
