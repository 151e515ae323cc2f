/*
 * The nnbatch contenders: nnb_score_file() (what `nnbatch score` runs) and
 * nnb_score_array() on the whole dataset held in memory. Only the scoring
 * call is timed; loading the model and creating the run context are not.
 */
#include "nnb_bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Create the run context the contender times. */
static int create_run(const nnb_bench_options *options, nnb_model **model, nnb_run **run)
{
    nnb_error error;
    nnb_options run_options;
    nnb_options_init(&run_options);
    run_options.threads = options->threads;
    run_options.tile_rows = options->tile_rows;

    *model = NULL;
    *run = NULL;
    if (options->model_path == NULL) {
        fprintf(stderr, "nnb_bench: --model is required\n");
        return 1;
    }
    if (nnb_model_load(options->model_path, model, &error) != NNB_OK
        || nnb_run_create(*model, &run_options, run, &error) != NNB_OK) {
        fprintf(stderr, "nnb_bench: %s\n", error.message);
        return 1;
    }
    return 0;
}

static void print_summary(const nnb_run *run, const nnb_summary *summary, double seconds)
{
    printf("rows=%lld\n", (long long)summary->rows);
    printf("seconds=%.6f\n", seconds);
    printf("flops=%.0f\n", summary->flops);
    printf("threads=%d\n", nnb_run_threads(run));
    printf("tile_rows=%lld\n", (long long)nnb_run_tile_rows(run));
    if (summary->has_labels) {
        printf("mean_loss=%.9g\n", summary->mean_loss);
        printf("accuracy=%.6f\n", summary->accuracy);
    }
}

int nnb_bench_file(const nnb_bench_options *options)
{
    nnb_model *model = NULL;
    nnb_run *run = NULL;
    int status = 1;

    if (options->data_path == NULL || options->input_dataset == NULL
        || options->output_path == NULL) {
        fprintf(stderr, "nnb_bench: file needs --data, --input and --output\n");
        goto done;
    }
    if (create_run(options, &model, &run) != 0)
        goto done;

    nnb_file_request request = {
        .data_path = options->data_path,
        .input_dataset = options->input_dataset,
        .labels_dataset = options->labels_dataset,
        .output_path = options->output_path,
    };
    nnb_summary summary;
    nnb_error error;
    double start = nnb_bench_now();
    if (nnb_score_file(run, &request, &summary, &error) != NNB_OK) {
        fprintf(stderr, "nnb_bench: %s\n", error.message);
        goto done;
    }
    print_summary(run, &summary, nnb_bench_now() - start);
    status = 0;

done:
    nnb_run_free(run);
    nnb_model_free(model);
    return status;
}

int nnb_bench_array(const nnb_bench_options *options)
{
    nnb_model *model = NULL;
    nnb_run *run = NULL;
    float *input = NULL;
    int32_t *labels = NULL;
    float *output = NULL;
    int status = 1;

    if (options->data_path == NULL || options->input_dataset == NULL) {
        fprintf(stderr, "nnb_bench: array needs --data and --input\n");
        goto done;
    }
    if (create_run(options, &model, &run) != 0)
        goto done;

    int64_t rows = 0;
    int64_t width = nnb_model_input_width(model);
    if (nnb_bench_load_arrays(options->data_path, options->input_dataset,
                              options->labels_dataset, width, &rows, &input, &labels)
        != 0)
        goto done;

    /* The output array is touched before timing, as a caller that reuses
     * its arrays would have it. */
    int64_t output_width = nnb_model_output_width(model, 0);
    output = malloc((size_t)(rows * output_width) * sizeof(float));
    if (output == NULL) {
        fprintf(stderr, "nnb_bench: out of memory for %lld x %lld outputs\n", (long long)rows,
                (long long)output_width);
        goto done;
    }
    memset(output, 0, (size_t)(rows * output_width) * sizeof(float));

    nnb_summary summary;
    nnb_error error;
    double start = nnb_bench_now();
    if (nnb_score_array(run, rows, input, width, labels, 0, output, output_width, &summary,
                        &error)
        != NNB_OK) {
        fprintf(stderr, "nnb_bench: %s\n", error.message);
        goto done;
    }
    print_summary(run, &summary, nnb_bench_now() - start);
    status = 0;

done:
    free(output);
    free(labels);
    free(input);
    nnb_run_free(run);
    nnb_model_free(model);
    return status;
}
