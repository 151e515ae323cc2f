/*
 * Execution of a model over a row source.
 *
 * Rows move in blocks: the driving thread reads a block from the source,
 * OpenMP threads score the block's tiles, and the driving thread writes the
 * block's outputs to the sink. Only the driving thread touches the source and
 * sink. Each tile is scored by one thread from start to end, so a row's
 * result depends only on the row, never on the thread count or tile size.
 */
#include "engine.h"

#include "kernels.h"
#include "run.h"
#include "status.h"

#include <blis.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Input bytes per block. Large enough that each block feeds every thread
 * several tiles, small enough to keep memory flat for any row count. */
#define BLOCK_INPUT_BYTES (INT64_C(8) << 20)

/* Where a node's value lives while a tile is scored. */
typedef enum home_kind {
    HOME_NONE = 0,   /* not computed in this run */
    HOME_SCRATCH,    /* thread scratch at `offset` floats */
    HOME_OUTPUT      /* block output buffer of sink slot `slot` */
} home_kind;

typedef struct node_home {
    home_kind kind;
    int64_t offset; /* HOME_SCRATCH: floats from the tile's scratch start */
    int slot;       /* HOME_OUTPUT */
} node_home;

/* Per-call plan: which nodes run and where their values live. */
typedef struct plan {
    int node_count;
    unsigned char *needed; /* node runs in this call */
    node_home *home;
} plan;

/* Block buffers owned by one nnb_engine_run() call. */
typedef struct block_buffers {
    int64_t rows;           /* capacity in rows */
    float *input;           /* rows x input_width, when the source has no view */
    int32_t *labels;        /* rows, when the source has labels and no view */
    double *loss;           /* per-row loss, when a loss node runs */
    uint8_t *correct;       /* per-row arg-max hit, when a loss node runs */
    float **outputs;        /* per sink slot: rows x width, when the sink has no view */
} block_buffers;

/* Node id of the logits a cross_entropy node works from: the input of the
 * softmax node it reads. */
static int loss_logits(const nnb_model *model, int loss_node)
{
    int softmax = model->nodes[loss_node].inputs[0];
    return model->nodes[softmax].inputs[0];
}

/* Mark the nodes needed for the sink's outputs; cross_entropy needs the
 * softmax's input, not the softmax itself. */
static void mark_needed(const nnb_model *model, int node, unsigned char *needed)
{
    if (node < 0 || needed[node])
        return;
    needed[node] = 1;

    const nnb_node *n = &model->nodes[node];
    if (n->op == NNB_OP_CROSS_ENTROPY) {
        mark_needed(model, loss_logits(model, node), needed);
        return;
    }
    for (int k = 0; k < n->input_count; k++)
        mark_needed(model, n->inputs[k], needed);
}

static int is_in_place_op(nnb_op op)
{
    return op == NNB_OP_BIAS || op == NNB_OP_RELU || op == NNB_OP_SIGMOID
           || op == NNB_OP_TANH || op == NNB_OP_SOFTMAX;
}

static void plan_free(plan *p)
{
    free(p->needed);
    free(p->home);
    memset(p, 0, sizeof *p);
}

/*
 * Decide where each needed node's value lives. Graph outputs go straight to
 * the block output buffers. A node read only by one element-wise node, and
 * not an output itself, shares that reader's buffer: the reader then works in
 * place, so a matmul -> bias -> relu chain uses one buffer and each step
 * finds the tile in cache. Everything else gets its own scratch buffer.
 */
static nnb_status plan_build(const nnb_model *model, const nnb_row_sink *sink, int has_labels,
                             plan *p, nnb_error *error)
{
    memset(p, 0, sizeof *p);
    int count = model->node_count;
    p->node_count = count;
    p->needed = calloc((size_t)count, 1);
    p->home = calloc((size_t)count, sizeof *p->home);
    int *readers = calloc((size_t)count, sizeof *readers);
    int *only_reader = calloc((size_t)count, sizeof *only_reader);
    if (p->needed == NULL || p->home == NULL || readers == NULL || only_reader == NULL) {
        free(readers);
        free(only_reader);
        plan_free(p);
        return nnb_error_set(error, NNB_ERR_NO_MEMORY, "out of memory planning a run");
    }

    for (int s = 0; s < sink->output_count; s++)
        mark_needed(model, model->outputs[sink->outputs[s]], p->needed);
    /* With labels at hand, loss and accuracy are always reported. */
    if (has_labels && model->loss_node >= 0)
        mark_needed(model, model->loss_node, p->needed);

    /* Count the readers of each node among the nodes that run. */
    for (int i = 0; i < count; i++) {
        if (!p->needed[i])
            continue;
        const nnb_node *n = &model->nodes[i];
        int read[NNB_MAX_NODE_INPUTS];
        int read_count = 0;
        if (n->op == NNB_OP_CROSS_ENTROPY) {
            read[read_count++] = loss_logits(model, i);
        } else {
            for (int k = 0; k < n->input_count; k++)
                read[read_count++] = n->inputs[k];
        }
        for (int k = 0; k < read_count; k++) {
            if (read[k] >= 0) {
                readers[read[k]]++;
                only_reader[read[k]] = i;
            }
        }
    }

    for (int s = 0; s < sink->output_count; s++) {
        int node = model->outputs[sink->outputs[s]];
        p->home[node].kind = HOME_OUTPUT;
        p->home[node].slot = s;
    }

    /* Walk backwards so a reader's home is known before its input's. */
    int64_t offset = 0;
    for (int i = count - 1; i >= 0; i--) {
        if (!p->needed[i] || p->home[i].kind == HOME_OUTPUT)
            continue;
        if (readers[i] == 1 && is_in_place_op(model->nodes[only_reader[i]].op)
            && model->nodes[only_reader[i]].width == model->nodes[i].width) {
            p->home[i] = p->home[only_reader[i]];
            continue;
        }
        p->home[i].kind = HOME_SCRATCH;
        p->home[i].offset = offset;
        offset += NNB_ROUND_UP(model->nodes[i].width, NNB_FLOATS_PER_LINE);
    }

    free(readers);
    free(only_reader);
    return NNB_OK;
}

static void block_buffers_free(block_buffers *b, int slots)
{
    free(b->input);
    free(b->labels);
    free(b->loss);
    free(b->correct);
    if (b->outputs != NULL) {
        for (int s = 0; s < slots; s++)
            free(b->outputs[s]);
    }
    free(b->outputs);
    memset(b, 0, sizeof *b);
}

static void *aligned_array(int64_t count, size_t size)
{
    size_t bytes = NNB_ROUND_UP((size_t)count * size, NNB_CACHE_LINE);
    return aligned_alloc(NNB_CACHE_LINE, bytes > 0 ? bytes : NNB_CACHE_LINE);
}

static nnb_status block_buffers_create(const nnb_run *run, const nnb_row_source *source,
                                       const nnb_row_sink *sink, int has_loss,
                                       block_buffers *b, nnb_error *error)
{
    const nnb_model *model = run->model;
    memset(b, 0, sizeof *b);

    /* A whole number of tiles per thread, at least one each. */
    int64_t group = run->tile_rows * run->threads;
    int64_t rows = BLOCK_INPUT_BYTES / (model->input_width * (int64_t)sizeof(float));
    rows = NNB_ROUND_UP(rows > group ? rows : group, group);
    if (rows > source->rows)
        rows = source->rows > 0 ? source->rows : 1;
    b->rows = rows;

    int ok = 1;
    if (source->view == NULL) {
        ok &= (b->input = aligned_array(rows * model->input_width, sizeof(float))) != NULL;
        if (source->has_labels)
            ok &= (b->labels = aligned_array(rows, sizeof(int32_t))) != NULL;
    }
    if (has_loss) {
        ok &= (b->loss = aligned_array(rows, sizeof(double))) != NULL;
        ok &= (b->correct = aligned_array(rows, sizeof(uint8_t))) != NULL;
    }
    if (sink->view == NULL && sink->output_count > 0) {
        b->outputs = calloc((size_t)sink->output_count, sizeof *b->outputs);
        ok &= b->outputs != NULL;
        for (int s = 0; ok && s < sink->output_count; s++) {
            int64_t width = nnb_model_output_width(model, sink->outputs[s]);
            ok &= (b->outputs[s] = aligned_array(rows * width, sizeof(float))) != NULL;
        }
    }

    if (!ok) {
        block_buffers_free(b, sink->output_count);
        return nnb_error_set(error, NNB_ERR_NO_MEMORY,
                             "out of memory allocating block buffers of %lld rows",
                             (long long)rows);
    }
    return NNB_OK;
}

/* Pointers to one block's rows, as the tiles see them. */
typedef struct block_view {
    const float *input;
    int64_t ld_input;
    const int32_t *labels;
    float **outputs;        /* per sink slot */
    int64_t *ld_outputs;    /* per sink slot */
    double *loss;
    uint8_t *correct;
} block_view;

/* Location of value `id` for the tile starting `row` rows into the block. */
static const float *value_at(const nnb_model *model, const plan *p, const block_view *view,
                             float *scratch, int id, int64_t row, int64_t *ld)
{
    if (id == NNB_VALUE_FEATURES) {
        *ld = view->ld_input;
        return view->input + row * view->ld_input;
    }
    const node_home *home = &p->home[id];
    if (home->kind == HOME_OUTPUT) {
        *ld = view->ld_outputs[home->slot];
        return view->outputs[home->slot] + row * *ld;
    }
    *ld = model->nodes[id].width;
    return scratch + home->offset;
}

/* BLIS context for one GEMM call: one thread, so BLIS never starts threads
 * of its own inside our OpenMP workers. The small-matrix ("sup") path is
 * turned off because it picks kernels by matrix size, which would let a
 * row's result depend on the tile size. */
static void gemm_runtime_init(rntm_t *rntm)
{
    bli_rntm_init(rntm);
    bli_rntm_set_num_threads(1, rntm);
    bli_rntm_disable_l3_sup(rntm);
}

/* Score `rows` rows starting `row` rows into the block. */
static void score_tile(const nnb_model *model, const plan *p, const block_view *view,
                       float *scratch, rntm_t *rntm, int64_t row, int64_t rows)
{
    for (int i = 0; i < model->node_count; i++) {
        if (!p->needed[i])
            continue;
        const nnb_node *node = &model->nodes[i];
        int64_t ld_out;
        float *out = (float *)value_at(model, p, view, scratch, i, row, &ld_out);
        int64_t ld_in;
        const float *in = value_at(model, p, view, scratch, node->inputs[0], row, &ld_in);
        int64_t width = node->width;

        switch (node->op) {
        case NNB_OP_MATMUL: {
            float one = 1.0f, zero = 0.0f;
            bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, rows, width, node->weight_rows,
                         &one, (float *)in, ld_in, 1, node->weight, node->weight_cols, 1,
                         &zero, out, ld_out, 1, NULL, rntm);
            break;
        }
        case NNB_OP_BIAS:
            nnb_kernel_bias(rows, width, in, ld_in, node->bias, out, ld_out);
            break;
        case NNB_OP_RELU:
            nnb_kernel_relu(rows, width, in, ld_in, out, ld_out);
            break;
        case NNB_OP_SIGMOID:
            nnb_kernel_sigmoid(rows, width, in, ld_in, out, ld_out);
            break;
        case NNB_OP_TANH:
            nnb_kernel_tanh(rows, width, in, ld_in, out, ld_out);
            break;
        case NNB_OP_SOFTMAX:
            nnb_kernel_softmax(rows, width, in, ld_in, out, ld_out);
            break;
        case NNB_OP_CROSS_ENTROPY: {
            int logits = loss_logits(model, i);
            int64_t ld_z;
            const float *z = value_at(model, p, view, scratch, logits, row, &ld_z);
            double *loss = view->loss + row;
            nnb_kernel_cross_entropy(rows, model->nodes[logits].width, z, ld_z,
                                     view->labels + row, loss, view->correct + row);
            for (int64_t r = 0; r < rows; r++)
                out[r * ld_out] = (float)loss[r];
            break;
        }
        case NNB_OP_COUNT:
            break;
        }
    }
}

/* Neumaier's compensated sum, added to in row order, so the mean loss of a
 * billion rows keeps its precision and never depends on the tiling. */
typedef struct compensated_sum {
    double sum;
    double compensation;
} compensated_sum;

static void compensated_add(compensated_sum *s, double value)
{
    double t = s->sum + value;
    if (fabs(s->sum) >= fabs(value))
        s->compensation += (s->sum - t) + value;
    else
        s->compensation += (value - t) + s->sum;
    s->sum = t;
}

nnb_status nnb_engine_run(nnb_run *run, const nnb_row_source *source,
                          const nnb_row_sink *sink, nnb_summary *summary, nnb_error *error)
{
    const nnb_model *model = run->model;
    double start = omp_get_wtime();
    memset(summary, 0, sizeof *summary);

    plan p;
    nnb_status status = plan_build(model, sink, source->has_labels, &p, error);
    if (status != NNB_OK)
        return status;

    int has_loss = model->loss_node >= 0 && p.needed[model->loss_node];
    if (has_loss && !source->has_labels) {
        plan_free(&p);
        return nnb_error_set(error, NNB_ERR_LABEL,
                             "output needs labels: node '%s' (cross_entropy) reads input '%s'",
                             model->nodes[model->loss_node].name, model->labels_name);
    }

    block_buffers buffers;
    status = block_buffers_create(run, source, sink, has_loss, &buffers, error);
    if (status != NNB_OK) {
        plan_free(&p);
        return status;
    }

    int slots = sink->output_count;
    float *slot_pointers[slots > 0 ? slots : 1];
    int64_t slot_strides[slots > 0 ? slots : 1];
    compensated_sum loss_sum = {0.0, 0.0};
    int64_t correct = 0;

    for (int64_t first = 0; first < source->rows; first += buffers.rows) {
        int64_t count = source->rows - first;
        if (count > buffers.rows)
            count = buffers.rows;

        /* Read: the driving thread alone talks to the source. */
        block_view view = {0};
        view.outputs = slot_pointers;
        view.ld_outputs = slot_strides;
        view.loss = buffers.loss;
        view.correct = buffers.correct;
        if (source->view != NULL) {
            source->view(source->state, first, count, &view.input, &view.ld_input,
                         &view.labels);
        } else {
            status = source->read(source->state, first, count, buffers.input,
                                  model->input_width, buffers.labels, error);
            if (status != NNB_OK)
                break;
            view.input = buffers.input;
            view.ld_input = model->input_width;
            view.labels = buffers.labels;
        }
        for (int s = 0; s < slots; s++) {
            if (sink->view != NULL) {
                sink->view(sink->state, s, first, count, &slot_pointers[s], &slot_strides[s]);
            } else {
                slot_pointers[s] = buffers.outputs[s];
                slot_strides[s] = nnb_model_output_width(model, sink->outputs[s]);
            }
        }

        /* Score: threads take whole tiles; dynamic scheduling only changes
         * which thread scores a tile, never its result. */
        int64_t tiles = (count + run->tile_rows - 1) / run->tile_rows;
#pragma omp parallel num_threads(run->threads)
        {
            float *scratch = run->scratch + (int64_t)omp_get_thread_num() * run->scratch_stride;
            rntm_t rntm;
            gemm_runtime_init(&rntm);
#pragma omp for schedule(dynamic, 1)
            for (int64_t t = 0; t < tiles; t++) {
                int64_t row = t * run->tile_rows;
                int64_t rows = count - row < run->tile_rows ? count - row : run->tile_rows;
                score_tile(model, &p, &view, scratch, &rntm, row, rows);
            }
        }

        /* Reduce the loss in row order, whatever the tiling. */
        if (has_loss) {
            for (int64_t r = 0; r < count; r++) {
                compensated_add(&loss_sum, buffers.loss[r]);
                correct += buffers.correct[r];
            }
        }

        /* Write: again only the driving thread. */
        if (sink->view == NULL) {
            for (int s = 0; s < slots && status == NNB_OK; s++) {
                status = sink->write(sink->state, s, first, count, slot_pointers[s],
                                     slot_strides[s], error);
            }
            if (status != NNB_OK)
                break;
        }

        if (run->options.progress != NULL
            && run->options.progress(run->options.progress_user_data, first + count,
                                     source->rows) != 0) {
            status = nnb_error_set(error, NNB_ERR_CANCELLED, "run cancelled after %lld of %lld rows",
                                   (long long)(first + count), (long long)source->rows);
            break;
        }
    }

    if (status == NNB_OK) {
        summary->rows = source->rows;
        summary->flops = model->flops_per_row * (double)source->rows;
        summary->has_labels = has_loss;
        if (has_loss && source->rows > 0) {
            summary->mean_loss = (loss_sum.sum + loss_sum.compensation) / (double)source->rows;
            summary->correct = correct;
            summary->accuracy = (double)correct / (double)source->rows;
        }
        summary->seconds = omp_get_wtime() - start;
    }

    block_buffers_free(&buffers, slots);
    plan_free(&p);
    return status;
}
