#include "plan.h"

#include "run.h"
#include "status.h"

#include <stdlib.h>
#include <string.h>

int nnb_plan_loss_logits(const nnb_model *model, int loss_node)
{
    int softmax = model->nodes[loss_node].inputs[0];
    return model->nodes[softmax].inputs[0];
}

/* Mark `node` and everything it depends on as running. cross_entropy works
 * from the softmax's input, so the softmax itself is not needed for it. */
static void mark_runs(const nnb_model *model, int node, unsigned char *runs)
{
    if (node < 0 || runs[node])
        return;
    runs[node] = 1;

    const nnb_node *n = &model->nodes[node];
    if (n->op == NNB_OP_CROSS_ENTROPY) {
        mark_runs(model, nnb_plan_loss_logits(model, node), runs);
        return;
    }
    for (int k = 0; k < n->input_count; k++)
        mark_runs(model, n->inputs[k], runs);
}

/* Node values read by node `i` (graph inputs excluded); returns their count. */
static int node_reads(const nnb_model *model, int i, int *read)
{
    const nnb_node *n = &model->nodes[i];
    int count = 0;
    if (n->op == NNB_OP_CROSS_ENTROPY) {
        read[count++] = nnb_plan_loss_logits(model, i);
        return count;
    }
    for (int k = 0; k < n->input_count; k++) {
        if (n->inputs[k] >= 0)
            read[count++] = n->inputs[k];
    }
    return count;
}

static int is_in_place_op(nnb_op op)
{
    return op == NNB_OP_BIAS || op == NNB_OP_RELU || op == NNB_OP_SIGMOID
           || op == NNB_OP_TANH || op == NNB_OP_SOFTMAX;
}

static int is_activation(nnb_op op)
{
    return op == NNB_OP_RELU || op == NNB_OP_SIGMOID || op == NNB_OP_TANH;
}

void nnb_plan_destroy(nnb_plan *plan)
{
    free(plan->runs);
    free(plan->skip);
    free(plan->fused);
    free(plan->home);
    memset(plan, 0, sizeof *plan);
}

/* Working arrays of nnb_plan_build(), one entry per node. */
typedef struct plan_work {
    int *readers;      /* number of running nodes that read this node */
    int *only_reader;  /* the reader, when there is exactly one */
    int *last_use;     /* index of the last running node that reads it */
    int *group;        /* buffer-sharing group, -1 for none */
    int *group_start;  /* per group: first node writing the group's buffer */
    int *group_end;    /* per group: last node reading it */
    int64_t *group_width;
    int *group_buffer; /* per group: scratch buffer assigned */
    int64_t *buffer_width;
    int *buffer_busy_until;
} plan_work;

static void plan_work_free(plan_work *w)
{
    free(w->readers);
    free(w->only_reader);
    free(w->last_use);
    free(w->group);
    free(w->group_start);
    free(w->group_end);
    free(w->group_width);
    free(w->group_buffer);
    free(w->buffer_width);
    free(w->buffer_busy_until);
}

static int plan_work_alloc(plan_work *w, int count)
{
    memset(w, 0, sizeof *w);
    size_t n = (size_t)(count > 0 ? count : 1);
    w->readers = calloc(n, sizeof(int));
    w->only_reader = calloc(n, sizeof(int));
    w->last_use = calloc(n, sizeof(int));
    w->group = calloc(n, sizeof(int));
    w->group_start = calloc(n, sizeof(int));
    w->group_end = calloc(n, sizeof(int));
    w->group_width = calloc(n, sizeof(int64_t));
    w->group_buffer = calloc(n, sizeof(int));
    w->buffer_width = calloc(n, sizeof(int64_t));
    w->buffer_busy_until = calloc(n, sizeof(int));
    return w->readers && w->only_reader && w->last_use && w->group && w->group_start
           && w->group_end && w->group_width && w->group_buffer && w->buffer_width
           && w->buffer_busy_until;
}

/*
 * Give each scratch group a buffer, reusing a buffer once its last reader
 * has run, so a deep chain of layers needs two or three buffers per thread
 * rather than one per node. Groups are visited in order of their first
 * writer. A buffer is free for a group only when its previous group's last
 * reader runs strictly before that first writer, because a GEMM cannot
 * write the buffer it reads. Returns the scratch floats per tile row.
 */
static int64_t assign_buffers(plan_work *w, int group_count, int *order)
{
    /* Groups are numbered while walking the nodes backwards; sort them by
     * first writer (insertion sort: graphs are small). */
    for (int g = 0; g < group_count; g++)
        order[g] = g;
    for (int a = 1; a < group_count; a++) {
        int key = order[a];
        int b = a - 1;
        while (b >= 0 && w->group_start[order[b]] > w->group_start[key]) {
            order[b + 1] = order[b];
            b--;
        }
        order[b + 1] = key;
    }

    int buffer_count = 0;
    for (int a = 0; a < group_count; a++) {
        int g = order[a];
        int best = -1;
        for (int b = 0; b < buffer_count; b++) {
            if (w->buffer_busy_until[b] >= w->group_start[g])
                continue;
            /* Prefer the smallest free buffer that fits, else the widest. */
            int fits = w->buffer_width[b] >= w->group_width[g];
            int best_fits = best >= 0 && w->buffer_width[best] >= w->group_width[g];
            if (best < 0 || (fits && !best_fits)
                || (fits && w->buffer_width[b] < w->buffer_width[best])
                || (!fits && !best_fits && w->buffer_width[b] > w->buffer_width[best]))
                best = b;
        }
        if (best < 0)
            best = buffer_count++;
        if (w->buffer_width[best] < w->group_width[g])
            w->buffer_width[best] = w->group_width[g];
        w->buffer_busy_until[best] = w->group_end[g];
        w->group_buffer[g] = best;
    }

    /* Lay the buffers out one after another, each padded to a cache line so
     * every buffer (for any tile rows) starts on a line boundary. */
    int64_t total = 0;
    for (int b = 0; b < buffer_count; b++) {
        int64_t width = NNB_ROUND_UP(w->buffer_width[b], NNB_FLOATS_PER_LINE);
        w->buffer_width[b] = total; /* now the buffer's offset per tile row */
        total += width;
    }
    return total;
}

nnb_status nnb_plan_build(const nnb_model *model, const int *outputs, int output_count,
                          int has_labels, nnb_plan *plan, nnb_error *error)
{
    memset(plan, 0, sizeof *plan);
    int count = model->node_count;
    size_t n = (size_t)(count > 0 ? count : 1);
    plan->node_count = count;
    plan->runs = calloc(n, 1);
    plan->skip = calloc(n, 1);
    plan->fused = calloc(n, sizeof *plan->fused);
    plan->home = calloc(n, sizeof *plan->home);
    plan_work w;
    int work_ok = plan_work_alloc(&w, count);
    int *order = calloc(n, sizeof *order);
    if (!plan->runs || !plan->skip || !plan->fused || !plan->home || !work_ok || !order) {
        plan_work_free(&w);
        free(order);
        nnb_plan_destroy(plan);
        return nnb_error_set(error, NNB_ERR_NO_MEMORY, "out of memory planning a run");
    }

    /* Which nodes run. */
    for (int s = 0; s < output_count; s++)
        mark_runs(model, model->outputs[outputs[s]], plan->runs);
    if (has_labels && model->loss_node >= 0)
        mark_runs(model, model->loss_node, plan->runs);
    plan->has_loss = model->loss_node >= 0 && plan->runs[model->loss_node];

    /* Readers of each node among the nodes that run. */
    for (int i = 0; i < count; i++) {
        plan->fused[i] = NNB_OP_COUNT;
        w.group[i] = -1;
        w.last_use[i] = i;
        if (!plan->runs[i])
            continue;
        int read[NNB_MAX_NODE_INPUTS];
        int read_count = node_reads(model, i, read);
        for (int k = 0; k < read_count; k++) {
            w.readers[read[k]]++;
            w.only_reader[read[k]] = i;
            w.last_use[read[k]] = i;
        }
    }

    /* Graph outputs live in the block output buffers. */
    for (int s = 0; s < output_count; s++) {
        int node = model->outputs[outputs[s]];
        plan->home[node].kind = NNB_HOME_OUTPUT;
        plan->home[node].slot = s;
    }

    /* A node read only by one in-place node of the same width, and not an
     * output itself, shares that reader's buffer, so a matmul -> bias ->
     * relu chain works in one buffer while the tile is in cache. Walking
     * backwards settles a reader before the nodes it reads. */
    int group_count = 0;
    for (int i = count - 1; i >= 0; i--) {
        if (!plan->runs[i] || plan->home[i].kind == NNB_HOME_OUTPUT)
            continue;
        int reader = w.only_reader[i];
        if (w.readers[i] == 1 && is_in_place_op(model->nodes[reader].op)
            && model->nodes[reader].width == model->nodes[i].width) {
            plan->home[i] = plan->home[reader];
            int g = w.group[reader];
            w.group[i] = g;
            if (g >= 0)
                w.group_start[g] = i;
            continue;
        }
        int g = group_count++;
        w.group[i] = g;
        w.group_start[g] = i;
        w.group_end[g] = w.last_use[i];
        w.group_width[g] = model->nodes[i].width;
        plan->home[i].kind = NNB_HOME_SCRATCH;
    }

    plan->scratch_floats_per_row = assign_buffers(&w, group_count, order);
    for (int i = 0; i < count; i++) {
        if (plan->home[i].kind == NNB_HOME_SCRATCH)
            plan->home[i].offset = w.buffer_width[w.group_buffer[w.group[i]]];
    }

    /* Fuse an activation into the bias before it when the activation works
     * in place on the bias's buffer: one pass over the tile instead of two. */
    for (int i = 0; i < count; i++) {
        if (!plan->runs[i] || model->nodes[i].op != NNB_OP_BIAS || w.readers[i] != 1)
            continue;
        int reader = w.only_reader[i];
        if (!is_activation(model->nodes[reader].op))
            continue;
        int same_buffer = plan->home[i].kind == plan->home[reader].kind
                          && plan->home[i].offset == plan->home[reader].offset
                          && plan->home[i].slot == plan->home[reader].slot;
        if (same_buffer && w.group[i] == w.group[reader]) {
            plan->fused[i] = model->nodes[reader].op;
            plan->skip[reader] = 1;
        }
    }

    plan_work_free(&w);
    free(order);
    return NNB_OK;
}
