/*
 * nnb_bench: times one benchmark contender per run (see bench/README.md).
 * bench/bench.py runs every command under `nnb_bench measure` so that each
 * contender is a separate process with its own peak resident memory.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "nnb_bench.h"

#include <blis.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "Usage: nnb_bench COMMAND [options]\n"
    "\n"
    "Times one contender of the nnbatch benchmark and prints key=value lines.\n"
    "bench/bench.py drives it; see bench/README.md.\n"
    "\n"
    "Commands:\n"
    "  info      CPU model, usable cores, BLIS configuration and version\n"
    "  plan      threads, tile rows, block rows and chunk cache nnbatch would use\n"
    "  ceiling   the model's GEMMs alone on in-memory rows (needs --model --rows)\n"
    "  read      read the input dataset block by block, no compute (needs --data\n"
    "            --input, and --model unless --block-rows is given)\n"
    "  file      nnb_score_file(): HDF5 file in, HDF5 file out (needs --output)\n"
    "  array     nnb_score_array() on the whole dataset loaded into memory\n"
    "  measure -- COMMAND [ARGS]\n"
    "            run COMMAND as a child process and print its peak resident\n"
    "            memory (ru_maxrss of wait4) and wall time\n"
    "\n"
    "Options:\n"
    "  --model PATH       nnbatch model file\n"
    "  --data PATH        HDF5 file with the input rows\n"
    "  --input DATASET    rows x features dataset in --data\n"
    "  --labels DATASET   class indices in --data (optional)\n"
    "  --output PATH      output file of `file`; replaced if it exists\n"
    "  --rows N           rows that `ceiling` multiplies\n"
    "  --threads N        worker threads (default: as nnbatch resolves 0)\n"
    "  --tile-rows R      rows per tile (default: nnbatch's automatic choice)\n"
    "  --block-rows B     rows per H5Dread of `read` (default: the engine's rule)\n";

double nnb_bench_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}

int nnb_bench_load_model(const nnb_bench_options *options, nnb_model **model, int *threads,
                         int64_t *tile_rows)
{
    nnb_error error;
    nnb_run *run = NULL;
    nnb_options run_options;
    nnb_options_init(&run_options);
    run_options.threads = options->threads;
    run_options.tile_rows = options->tile_rows;

    *model = NULL;
    if (options->model_path == NULL) {
        fprintf(stderr, "nnb_bench: --model is required\n");
        return 1;
    }
    if (nnb_model_load(options->model_path, model, &error) != NNB_OK
        || nnb_run_create(*model, &run_options, &run, &error) != NNB_OK) {
        fprintf(stderr, "nnb_bench: %s\n", error.message);
        nnb_model_free(*model);
        *model = NULL;
        return 1;
    }
    *threads = nnb_run_threads(run);
    *tile_rows = nnb_run_tile_rows(run);
    nnb_run_free(run);
    return 0;
}

int64_t nnb_bench_block_rows(int64_t input_width, int threads, int64_t tile_rows,
                             int64_t chunk_rows, int64_t rows)
{
    int64_t group = tile_rows * threads;
    int64_t block = (INT64_C(4) << 20) / (input_width * (int64_t)sizeof(float));
    if (block < group)
        block = group;
    block = (block + group - 1) / group * group;
    if (chunk_rows > 1)
        block = (block + chunk_rows - 1) / chunk_rows * chunk_rows;
    if (block > rows)
        block = rows > 0 ? rows : 1;
    return block;
}

/* Print the first "model name" of /proc/cpuinfo, or "unknown". */
static void print_cpu_model(void)
{
    char line[512];
    const char *model = "unknown";
    FILE *cpuinfo = fopen("/proc/cpuinfo", "r");
    while (cpuinfo != NULL && fgets(line, sizeof line, cpuinfo) != NULL) {
        if (strncmp(line, "model name", 10) == 0) {
            char *value = strchr(line, ':');
            if (value != NULL) {
                value += strspn(value + 1, " \t") + 1;
                value[strcspn(value, "\n")] = '\0';
                model = value;
                break;
            }
        }
    }
    printf("cpu_model=%s\n", model);
    if (cpuinfo != NULL)
        fclose(cpuinfo);
}

int nnb_bench_info(void)
{
    cpu_set_t set;
    int cores = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        cores = CPU_COUNT(&set);
    if (cores < 1)
        cores = (int)sysconf(_SC_NPROCESSORS_ONLN);

    unsigned major = 0, minor = 0, release = 0;
    H5get_libversion(&major, &minor, &release);

    print_cpu_model();
    printf("cores=%d\n", cores);
    printf("blis_arch=%s\n", bli_arch_string(bli_arch_query_id()));
    printf("blis_version=%s\n", bli_info_get_version_str());
    printf("hdf5_version=%u.%u.%u\n", major, minor, release);
    printf("nnbatch_version=%s\n", nnb_version());
    return 0;
}

int nnb_bench_plan_command(const nnb_bench_options *options)
{
    nnb_model *model = NULL;
    nnb_bench_plan plan = {0};
    if (nnb_bench_load_model(options, &model, &plan.threads, &plan.tile_rows) != 0)
        return 1;
    plan.input_width = nnb_model_input_width(model);

    int status = 0;
    if (options->data_path != NULL && options->input_dataset != NULL) {
        hid_t file = H5Fopen(options->data_path, H5F_ACC_RDONLY, H5P_DEFAULT);
        hid_t dataset = file >= 0 ? nnb_bench_open_dataset(file, options->input_dataset,
                                                           &plan.chunk_cache_bytes,
                                                           &plan.chunk_rows)
                                  : H5I_INVALID_HID;
        hid_t space = dataset >= 0 ? H5Dget_space(dataset) : H5I_INVALID_HID;
        hsize_t dims[2] = {0, 0};
        if (space < 0 || H5Sget_simple_extent_ndims(space) != 2
            || H5Sget_simple_extent_dims(space, dims, NULL) < 0) {
            fprintf(stderr, "nnb_bench: %s: cannot read the shape of rank-2 dataset '%s'\n",
                    options->data_path, options->input_dataset);
            status = 1;
        }
        plan.rows = (int64_t)dims[0];
        if (space >= 0)
            H5Sclose(space);
        if (dataset >= 0)
            H5Dclose(dataset);
        if (file >= 0)
            H5Fclose(file);
    }
    plan.block_rows = nnb_bench_block_rows(plan.input_width, plan.threads, plan.tile_rows,
                                           plan.chunk_rows,
                                           plan.rows > 0 ? plan.rows : INT64_MAX);

    printf("threads=%d\n", plan.threads);
    printf("tile_rows=%lld\n", (long long)plan.tile_rows);
    printf("input_width=%lld\n", (long long)plan.input_width);
    printf("rows=%lld\n", (long long)plan.rows);
    printf("chunk_rows=%lld\n", (long long)plan.chunk_rows);
    printf("chunk_cache_bytes=%zu\n", plan.chunk_cache_bytes);
    printf("block_rows=%lld\n", (long long)plan.block_rows);
    printf("flops_per_row=%.0f\n", nnb_model_flops_per_row(model));
    printf("parameter_bytes=%lld\n",
           (long long)nnb_model_parameter_count(model) * (long long)sizeof(float));
    nnb_model_free(model);
    return status;
}

/* Parse a whole decimal number of at least `minimum` into *value. */
static int parse_count(const char *option, const char *text, int64_t minimum, int64_t *value)
{
    errno = 0;
    char *end = NULL;
    long long parsed = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || parsed < minimum) {
        fprintf(stderr, "nnb_bench: %s '%s' is invalid: give a whole number >= %lld\n", option,
                text, (long long)minimum);
        return 1;
    }
    *value = parsed;
    return 0;
}

static int parse_options(int argc, char **argv, nnb_bench_options *options)
{
    memset(options, 0, sizeof *options);
    for (int i = 2; i < argc; i++) {
        const char *name = argv[i];
        if (i + 1 >= argc) {
            fprintf(stderr, "nnb_bench: option %s needs a value\n", name);
            return 1;
        }
        const char *value = argv[++i];
        int64_t count = 0;
        if (strcmp(name, "--model") == 0) {
            options->model_path = value;
        } else if (strcmp(name, "--data") == 0) {
            options->data_path = value;
        } else if (strcmp(name, "--input") == 0) {
            options->input_dataset = value;
        } else if (strcmp(name, "--labels") == 0) {
            options->labels_dataset = value;
        } else if (strcmp(name, "--output") == 0) {
            options->output_path = value;
        } else if (strcmp(name, "--rows") == 0) {
            if (parse_count(name, value, 1, &options->rows) != 0)
                return 1;
        } else if (strcmp(name, "--threads") == 0) {
            if (parse_count(name, value, 0, &count) != 0)
                return 1;
            if (count > 1024) {
                fprintf(stderr, "nnb_bench: --threads %lld is too large: use 0 to 1024\n",
                        (long long)count);
                return 1;
            }
            options->threads = (int)count;
        } else if (strcmp(name, "--tile-rows") == 0) {
            if (parse_count(name, value, 0, &options->tile_rows) != 0)
                return 1;
        } else if (strcmp(name, "--block-rows") == 0) {
            if (parse_count(name, value, 0, &options->block_rows) != 0)
                return 1;
        } else {
            fprintf(stderr, "nnb_bench: unknown option %s; run nnb_bench --help\n", name);
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *command = argv[1];

    /* measure must not touch HDF5 or BLIS first: the child it forks starts
     * with a copy of this process's resident pages, which count toward the
     * child's ru_maxrss. */
    if (strcmp(command, "measure") == 0)
        return nnb_bench_measure(argc - 2, argv + 2);
    if (strcmp(command, "info") == 0)
        return nnb_bench_info();

    nnb_bench_options options;
    if (parse_options(argc, argv, &options) != 0)
        return 2;

    if (strcmp(command, "plan") == 0)
        return nnb_bench_plan_command(&options);
    if (strcmp(command, "ceiling") == 0)
        return nnb_bench_ceiling(&options);
    if (strcmp(command, "read") == 0)
        return nnb_bench_read(&options);
    if (strcmp(command, "file") == 0)
        return nnb_bench_file(&options);
    if (strcmp(command, "array") == 0)
        return nnb_bench_array(&options);

    fprintf(stderr, "nnb_bench: unknown command '%s'; run nnb_bench --help\n", command);
    return 2;
}
