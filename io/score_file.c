/* nnb_score_file(): an HDF5 dataset in, an HDF5 file of outputs out. */
#include "dataset.h"
#include "engine/engine.h"
#include "engine/run.h"
#include "engine/status.h"
#include "output.h"

#include <stdlib.h>

/* Record how the file was made, so a result can be traced to its inputs. */
static nnb_status write_provenance(nnb_io_output *output, const nnb_run *run,
                                   const nnb_file_request *request,
                                   const nnb_summary *summary, nnb_error *error)
{
    nnb_status status = nnb_io_output_set_string(output, "nnbatch_version", nnb_version(), error);
    if (status == NNB_OK)
        status = nnb_io_output_set_string(output, "model", run->model->source, error);
    if (status == NNB_OK)
        status = nnb_io_output_set_string(output, "input_file", request->data_path, error);
    if (status == NNB_OK)
        status = nnb_io_output_set_string(output, "input_dataset", request->input_dataset, error);
    if (status == NNB_OK && request->labels_dataset != NULL)
        status = nnb_io_output_set_string(output, "labels_dataset", request->labels_dataset,
                                          error);
    if (status == NNB_OK)
        status = nnb_io_output_set_int(output, "threads", run->threads, error);
    if (status == NNB_OK)
        status = nnb_io_output_set_int(output, "tile_rows", run->tile_rows, error);
    if (status == NNB_OK)
        status = nnb_io_output_set_int(output, "rows", summary->rows, error);
    if (status == NNB_OK)
        status = nnb_io_output_set_int(output, "nonfinite_rows", summary->nonfinite_rows, error);
    if (status == NNB_OK && summary->has_labels) {
        status = nnb_io_output_set_double(output, "mean_loss", summary->mean_loss, error);
        if (status == NNB_OK)
            status = nnb_io_output_set_double(output, "accuracy", summary->accuracy, error);
    }
    return status;
}

/* Pick the outputs this request can compute: all of them with labels, those
 * that do not need labels without. */
static nnb_status select_outputs(const nnb_model *model, int has_labels, int *slots,
                                 int *count, nnb_error *error)
{
    *count = 0;
    for (int i = 0; i < model->output_count; i++) {
        if (has_labels || !nnb_model_output_needs_labels(model, i))
            slots[(*count)++] = i;
    }
    if (*count == 0) {
        return nnb_error_set(error, NNB_ERR_LABEL,
                             "%s: every output of the model needs labels; give the labels "
                             "dataset (--labels)",
                             model->source);
    }
    return NNB_OK;
}

nnb_status nnb_score_file(nnb_run *run, const nnb_file_request *request,
                          nnb_summary *summary, nnb_error *error)
{
    nnb_error_clear(error);
    if (run == NULL || request == NULL || summary == NULL || request->data_path == NULL
        || request->input_dataset == NULL || request->output_path == NULL) {
        return nnb_error_set(error, NNB_ERR_INVALID_ARGUMENT,
                             "nnb_score_file: run, request, summary, data path, input "
                             "dataset and output path must not be NULL");
    }
    const nnb_model *model = run->model;
    if (request->labels_dataset != NULL && model->labels_name == NULL) {
        return nnb_error_set(error, NNB_ERR_LABEL,
                             "%s: the model has no labels input, so labels dataset '%s' "
                             "cannot be scored; leave out --labels",
                             model->source, request->labels_dataset);
    }

    nnb_io_dataset_reader *reader = NULL;
    nnb_io_output *output = NULL;
    int *slots = malloc((size_t)model->output_count * sizeof *slots);
    const char **names = malloc((size_t)model->output_count * sizeof *names);
    int64_t *widths = malloc((size_t)model->output_count * sizeof *widths);
    nnb_status status = NNB_OK;
    if (slots == NULL || names == NULL || widths == NULL) {
        status = nnb_error_set(error, NNB_ERR_NO_MEMORY, "out of memory");
        goto done;
    }

    int count = 0;
    status = select_outputs(model, request->labels_dataset != NULL, slots, &count, error);
    if (status != NNB_OK)
        goto done;
    for (int s = 0; s < count; s++) {
        names[s] = nnb_model_output_name(model, slots[s]);
        widths[s] = nnb_model_output_width(model, slots[s]);
    }

    status = nnb_io_dataset_open(request->data_path, request->input_dataset,
                                 request->labels_dataset, model->input_width,
                                 model->label_classes, &reader, error);
    if (status != NNB_OK)
        goto done;

    /* Writing over the model would replace it with the predictions. */
    status = nnb_io_output_check_distinct(request->output_path, model->source, "model", error);
    if (status != NNB_OK)
        goto done;

    status = nnb_io_output_create(request->output_path, request->data_path,
                                  nnb_io_dataset_rows(reader), count, names, widths, &output,
                                  error);
    if (status != NNB_OK)
        goto done;

    nnb_row_source source = nnb_io_dataset_source(reader);
    nnb_row_sink sink = nnb_io_output_sink(output, count, slots);
    status = nnb_engine_run(run, &source, &sink, summary, error);
    if (status == NNB_OK)
        status = write_provenance(output, run, request, summary, error);

    /* One more progress call before the output is committed, so that a
     * request to stop made after the last block still leaves no file. */
    const nnb_options *options = &run->options;
    if (status == NNB_OK && options->progress != NULL
        && options->progress(options->progress_user_data, summary->rows, summary->rows) != 0) {
        status = nnb_error_set(error, NNB_ERR_CANCELLED,
                               "run cancelled after %lld of %lld rows, before %s was written",
                               (long long)summary->rows, (long long)summary->rows,
                               request->output_path);
    }
    if (status == NNB_OK) {
        status = nnb_io_output_commit(output, error);
        output = NULL;
    }

done:
    nnb_io_output_abort(output);
    nnb_io_dataset_close(reader);
    free(widths);
    free(names);
    free(slots);
    return status;
}
