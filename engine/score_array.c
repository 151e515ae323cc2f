/* nnb_score_array(): scoring a caller's in-memory arrays, without copies. */
#include "engine.h"

#include "run.h"
#include "status.h"

typedef struct array_source {
    const float *input;
    int64_t ld;
    const int32_t *labels;
} array_source;

typedef struct array_sink {
    float *output;
    int64_t ld;
} array_sink;

static void array_source_view(void *state, int64_t first, int64_t count,
                              const float **features, int64_t *ld, const int32_t **labels)
{
    (void)count;
    const array_source *source = state;
    *features = source->input + first * source->ld;
    *ld = source->ld;
    *labels = source->labels != NULL ? source->labels + first : NULL;
}

static void array_sink_view(void *state, int slot, int64_t first, int64_t count,
                            float **data, int64_t *ld)
{
    (void)slot;
    (void)count;
    const array_sink *sink = state;
    *data = sink->output + first * sink->ld;
    *ld = sink->ld;
}

nnb_status nnb_score_array(nnb_run *run, int64_t rows, const float *input,
                           int64_t ld_input, const int32_t *labels,
                           int output_index, float *output, int64_t ld_output,
                           nnb_summary *summary, nnb_error *error)
{
    nnb_error_clear(error);
    if (run == NULL || summary == NULL)
        return nnb_error_set(error, NNB_ERR_INVALID_ARGUMENT,
                             "nnb_score_array: run and summary must not be NULL");

    const nnb_model *model = run->model;
    if (output_index < 0 || output_index >= model->output_count) {
        return nnb_error_set(error, NNB_ERR_INVALID_ARGUMENT,
                             "nnb_score_array: output index %d is out of range; the model "
                             "has %d outputs",
                             output_index, model->output_count);
    }
    int64_t width = nnb_model_output_width(model, output_index);
    if (rows < 0 || (rows > 0 && (input == NULL || output == NULL))) {
        return nnb_error_set(error, NNB_ERR_INVALID_ARGUMENT,
                             "nnb_score_array: rows must be >= 0 and input and output "
                             "non-NULL");
    }
    if (ld_input < model->input_width || ld_output < width) {
        return nnb_error_set(error, NNB_ERR_SHAPE,
                             "nnb_score_array: row strides %lld (input) and %lld (output) "
                             "must be at least the widths %lld and %lld",
                             (long long)ld_input, (long long)ld_output,
                             (long long)model->input_width, (long long)width);
    }

    /* Labels are checked here because the array source cannot report. */
    int64_t classes = model->label_classes;
    if (labels != NULL && classes > 0) {
        for (int64_t i = 0; i < rows; i++) {
            if (labels[i] < 0 || labels[i] >= classes) {
                return nnb_error_set(error, NNB_ERR_LABEL,
                                     "nnb_score_array: label %d at row %lld is outside the "
                                     "class range 0 to %lld",
                                     (int)labels[i], (long long)i, (long long)classes - 1);
            }
        }
    }

    array_source source_state = {input, ld_input, labels};
    nnb_row_source source = {
        .rows = rows,
        .has_labels = labels != NULL,
        .view = array_source_view,
        .state = &source_state,
    };
    array_sink sink_state = {output, ld_output};
    nnb_row_sink sink = {
        .output_count = 1,
        .outputs = &output_index,
        .view = array_sink_view,
        .state = &sink_state,
    };
    return nnb_engine_run(run, &source, &sink, summary, error);
}
