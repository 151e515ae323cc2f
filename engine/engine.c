/*
 * Execution of a model over a row source.
 *
 * Rows move in blocks through a ring of block buffers. When the source and
 * sink are files, a reader thread fills the next blocks while OpenMP
 * workers score the ready ones and a writer thread drains finished blocks
 * in order, so reading, computing and writing overlap. Workers never call
 * the source or sink. One team of workers lives for the whole run and takes
 * tiles in row order across block boundaries, so no worker waits at the
 * end of a block while another finishes its last tile. Each tile is scored
 * by one worker from start to end, so a row's result depends only on the
 * row, never on the thread count or tile size.
 */
#include "engine.h"

#include "kernels.h"
#include "matvec.h"
#include "plan.h"
#include "run.h"
#include "status.h"

#include <blis.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

/* Input bytes per block: large enough that each block feeds every worker
 * several tiles, small enough that the ring stays a few MiB for any row
 * count. A block also spans whole input chunks, so chunks larger than this
 * make the blocks, and the ring, larger. */
#define BLOCK_INPUT_BYTES (INT64_C(4) << 20)

/* Blocks in flight: one being read, two being scored (the workers move on
 * to the next block while the last tiles of a block finish) and one being
 * written. */
#define RING_SLOTS 4

typedef enum slot_state {
    SLOT_FREE = 0, /* ready to be filled by the reader */
    SLOT_READY,    /* input rows read, waiting to be scored */
    SLOT_SCORED    /* outputs computed, waiting to be written */
} slot_state;

/* One block of the ring. */
typedef struct block_slot {
    slot_state state;
    int64_t first;          /* first row of the block */
    int64_t count;          /* rows in the block */
    float *input_buffer;    /* rows x input_width, when the source has no view */
    int32_t *label_buffer;  /* when the source has labels and no view */
    float **output_buffers; /* per sink slot, when the sink has no view */
    /* Rows the workers read and write: the buffers above, or views. */
    const float *input;
    int64_t ld_input;
    const int32_t *labels;
    float **outputs;
    int64_t *ld_outputs;
    /* Per row of the block: loss, arg-max hit, non-finite flag. */
    double *loss;
    uint8_t *correct;
    uint8_t *nonfinite;
    int64_t block;          /* index of the block the slot holds; -1 before the first */
    int64_t tiles;          /* tiles in the block */
    int64_t tiles_done;     /* tiles scored so far */
    int64_t nonfinite_rows; /* rows with a NaN or infinity, over the scored tiles */
} block_slot;

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

/* State shared by the workers, the reader and the writer. */
typedef struct pipeline {
    nnb_run *run;
    const nnb_row_source *source;
    const nnb_row_sink *sink;
    const nnb_plan *plan;
    int threaded;    /* reader and writer threads run (file source or sink) */
    int slot_count;  /* ring slots in use */
    int64_t block_rows;
    int64_t block_count;
    block_slot slots[RING_SLOTS];

    /* `lock` protects every slot's state and tile counts, the fields below
     * and the first failure; `changed` is broadcast whenever one of them
     * changes. */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int stop;
    nnb_status status;
    nnb_error error;
    int64_t next_block;    /* block of the next tile a worker takes */
    int64_t next_tile;     /* that tile's index within its block */
    int64_t blocks_summed; /* blocks whose rows were added to the totals */

    /* Totals over the summed blocks, added in row order. */
    compensated_sum loss_sum;
    int64_t correct_rows;
    int64_t nonfinite_rows;

    /* Serializes source reads with sink writes: HDF5 builds without the
     * thread-safe option must never see two threads at once.
     * NOTE: the lock is per run, so two runs in one process may still call
     * HDF5 at the same time. That is safe only with HDF5's thread-safe
     * build, which is the one Debian ships. */
    pthread_mutex_t io_lock;
} pipeline;

/* ---- Scoring one tile ---------------------------------------------------- */

/* Location of value `id` for the tile starting `row` rows into the block. */
static const float *value_at(const nnb_model *model, const nnb_plan *plan,
                             const block_slot *block, float *scratch, int64_t tile_rows, int id,
                             int64_t row, int64_t *ld)
{
    if (id == NNB_VALUE_FEATURES) {
        *ld = block->ld_input;
        return block->input + row * block->ld_input;
    }
    const nnb_node_home *home = &plan->home[id];
    if (home->kind == NNB_HOME_OUTPUT) {
        *ld = block->ld_outputs[home->slot];
        return block->outputs[home->slot] + row * *ld;
    }
    *ld = model->nodes[id].width;
    return scratch + home->offset * tile_rows;
}

/* BLIS context for the GEMM calls of one worker: one thread, so BLIS never
 * starts threads of its own inside our workers. The small-matrix ("sup")
 * path is turned off because it picks kernels by matrix size, which would
 * let a row's result depend on the tile size. */
static void gemm_runtime_init(rntm_t *rntm)
{
    bli_rntm_init(rntm);
    bli_rntm_set_num_threads(1, rntm);
    bli_rntm_disable_l3_sup(rntm);
}

/* Score `rows` rows starting `row` rows into the block. Per-row losses and
 * arg-max hits go to loss[row...] and correct[row...]. */
static void score_tile(const nnb_model *model, const nnb_plan *plan, const block_slot *block,
                       float *scratch, int64_t tile_rows, rntm_t *rntm, int64_t row,
                       int64_t rows, double *loss, uint8_t *correct)
{
    for (int i = 0; i < model->node_count; i++) {
        if (!plan->runs[i] || plan->skip[i])
            continue;
        const nnb_node *node = &model->nodes[i];
        int64_t ld_out, ld_in;
        float *out = (float *)value_at(model, plan, block, scratch, tile_rows, i, row, &ld_out);
        const float *in = value_at(model, plan, block, scratch, tile_rows, node->inputs[0], row,
                                   &ld_in);
        int64_t width = node->width;

        switch (node->op) {
        case NNB_OP_MATMUL: {
            if (width == 1) {
                nnb_kernel_matvec(rows, node->weight_rows, in, ld_in, node->weight, out, ld_out);
                break;
            }
            float one = 1.0f, zero = 0.0f;
            bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, rows, width, node->weight_rows,
                         &one, (float *)in, ld_in, 1, node->weight, node->weight_cols, 1,
                         &zero, out, ld_out, 1, NULL, rntm);
            break;
        }
        case NNB_OP_BIAS:
            nnb_kernel_bias_activation(rows, width, in, ld_in, node->bias, plan->fused[i], out,
                                       ld_out);
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
            int logits = nnb_plan_loss_logits(model, i);
            int64_t ld_z;
            const float *z = value_at(model, plan, block, scratch, tile_rows, logits, row, &ld_z);
            nnb_kernel_cross_entropy(rows, model->nodes[logits].width, z, ld_z,
                                     block->labels + row, loss + row, correct + row);
            for (int64_t r = 0; r < rows; r++)
                out[r * ld_out] = (float)loss[row + r];
            break;
        }
        case NNB_OP_COUNT:
            break;
        }
    }
}

/* ---- Block buffers --------------------------------------------------------- */

static void *aligned_array(int64_t count, size_t size)
{
    size_t bytes = NNB_ROUND_UP((size_t)count * size, NNB_CACHE_LINE);
    return aligned_alloc(NNB_CACHE_LINE, bytes > 0 ? bytes : NNB_CACHE_LINE);
}

static void slot_free(block_slot *slot, int outputs)
{
    free(slot->input_buffer);
    free(slot->label_buffer);
    if (slot->output_buffers != NULL) {
        for (int s = 0; s < outputs; s++)
            free(slot->output_buffers[s]);
    }
    free(slot->output_buffers);
    free(slot->outputs);
    free(slot->ld_outputs);
    free(slot->loss);
    free(slot->correct);
    free(slot->nonfinite);
    memset(slot, 0, sizeof *slot);
}

/* Allocate one slot's buffers: input and labels unless the source has a
 * view, outputs unless the sink has one, and the per-row results. */
static int slot_alloc(block_slot *slot, const nnb_model *model, const nnb_row_source *source,
                      const nnb_row_sink *sink, int has_loss, int64_t rows)
{
    memset(slot, 0, sizeof *slot);
    slot->block = -1;
    int outputs = sink->output_count;
    int ok = 1;
    ok &= (slot->nonfinite = aligned_array(rows, sizeof(uint8_t))) != NULL;
    if (has_loss) {
        ok &= (slot->loss = aligned_array(rows, sizeof(double))) != NULL;
        ok &= (slot->correct = aligned_array(rows, sizeof(uint8_t))) != NULL;
    }
    ok &= (slot->outputs = calloc((size_t)outputs + 1, sizeof *slot->outputs)) != NULL;
    ok &= (slot->ld_outputs = calloc((size_t)outputs + 1, sizeof *slot->ld_outputs)) != NULL;
    if (source->view == NULL) {
        ok &= (slot->input_buffer = aligned_array(rows * model->input_width, sizeof(float)))
              != NULL;
        if (source->has_labels)
            ok &= (slot->label_buffer = aligned_array(rows, sizeof(int32_t))) != NULL;
    }
    if (sink->view == NULL && ok) {
        ok &= (slot->output_buffers = calloc((size_t)outputs + 1, sizeof(float *))) != NULL;
        for (int s = 0; ok && s < outputs; s++) {
            int64_t width = nnb_model_output_width(model, sink->outputs[s]);
            ok &= (slot->output_buffers[s] = aligned_array(rows * width, sizeof(float))) != NULL;
        }
    }
    return ok;
}

/* Rows per block: about BLOCK_INPUT_BYTES of input, a whole number of
 * tiles for every worker, and a multiple of the source's preferred
 * alignment (its chunk rows) so each chunk is read by one block. */
static int64_t choose_block_rows(const nnb_run *run, const nnb_row_source *source)
{
    int64_t group = run->call_tile_rows * run->threads;
    int64_t rows = BLOCK_INPUT_BYTES / (run->model->input_width * (int64_t)sizeof(float));
    rows = NNB_ROUND_UP(rows > group ? rows : group, group);
    if (source->block_alignment > 1)
        rows = NNB_ROUND_UP(rows, source->block_alignment);
    if (rows > source->rows)
        rows = source->rows > 0 ? source->rows : 1;
    return rows;
}

/* Rows in block `k`: block_rows, or fewer for the last block. */
static int64_t block_row_count(const pipeline *p, int64_t k)
{
    int64_t first = k * p->block_rows;
    return p->source->rows - first < p->block_rows ? p->source->rows - first : p->block_rows;
}

/* Tiles in block `k`. */
static int64_t block_tile_count(const pipeline *p, int64_t k)
{
    int64_t tile_rows = p->run->call_tile_rows;
    return (block_row_count(p, k) + tile_rows - 1) / tile_rows;
}

/* Point the slot's views at the rows of block `k`, from the source and
 * sink views where they have them, else at the slot's own buffers. The
 * caller then publishes the slot with slot_ready(). */
static void slot_bind(pipeline *p, block_slot *slot, int64_t k)
{
    const nnb_model *model = p->run->model;
    const nnb_row_source *source = p->source;
    const nnb_row_sink *sink = p->sink;
    int64_t first = k * p->block_rows;
    int64_t count = block_row_count(p, k);

    slot->first = first;
    slot->count = count;
    slot->tiles = block_tile_count(p, k);
    slot->tiles_done = 0;
    slot->nonfinite_rows = 0;
    if (source->view != NULL) {
        source->view(source->state, first, count, &slot->input, &slot->ld_input, &slot->labels);
    } else {
        slot->input = slot->input_buffer;
        slot->ld_input = model->input_width;
        slot->labels = slot->label_buffer;
    }
    for (int s = 0; s < sink->output_count; s++) {
        if (sink->view != NULL) {
            sink->view(sink->state, s, first, count, &slot->outputs[s], &slot->ld_outputs[s]);
        } else {
            slot->outputs[s] = slot->output_buffers[s];
            slot->ld_outputs[s] = nnb_model_output_width(model, sink->outputs[s]);
        }
    }
}

/* ---- Pipeline threads ------------------------------------------------------ */

/* Record the first failure and wake every thread so all of them stop. */
static void pipeline_fail(pipeline *p, nnb_status status, const nnb_error *error)
{
    pthread_mutex_lock(&p->lock);
    if (!p->stop) {
        p->stop = 1;
        p->status = status;
        p->error = *error;
    }
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
}

/* Wait until `slot` reaches `state`; returns 0 when the run is stopping. */
static int pipeline_wait(pipeline *p, block_slot *slot, slot_state state)
{
    pthread_mutex_lock(&p->lock);
    while (slot->state != state && !p->stop)
        pthread_cond_wait(&p->changed, &p->lock);
    int go = !p->stop;
    pthread_mutex_unlock(&p->lock);
    return go;
}

static void pipeline_set(pipeline *p, block_slot *slot, slot_state state)
{
    pthread_mutex_lock(&p->lock);
    slot->state = state;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
}

/* Mark `slot` as holding the rows of block `k`, ready to be scored. Called
 * with p->lock held. */
static void slot_ready(pipeline *p, block_slot *slot, int64_t k)
{
    slot->block = k;
    slot->state = SLOT_READY;
    pthread_cond_broadcast(&p->changed);
}

static void *reader_main(void *argument)
{
    pipeline *p = argument;
    const nnb_model *model = p->run->model;
    for (int64_t k = 0; k < p->block_count; k++) {
        block_slot *slot = &p->slots[k % p->slot_count];
        if (!pipeline_wait(p, slot, SLOT_FREE))
            break;

        slot_bind(p, slot, k);
        if (p->source->view == NULL) {
            nnb_error error;
            nnb_error_clear(&error);
            pthread_mutex_lock(&p->io_lock);
            nnb_status status = p->source->read(p->source->state, slot->first, slot->count,
                                                slot->input_buffer, model->input_width,
                                                slot->label_buffer, &error);
            pthread_mutex_unlock(&p->io_lock);
            if (status != NNB_OK) {
                pipeline_fail(p, status, &error);
                break;
            }
        }
        pthread_mutex_lock(&p->lock);
        slot_ready(p, slot, k);
        pthread_mutex_unlock(&p->lock);
    }
    return NULL;
}

static void *writer_main(void *argument)
{
    pipeline *p = argument;
    for (int64_t k = 0; k < p->block_count; k++) {
        block_slot *slot = &p->slots[k % p->slot_count];
        if (!pipeline_wait(p, slot, SLOT_SCORED))
            break;

        if (p->sink->view == NULL) {
            nnb_error error;
            nnb_error_clear(&error);
            nnb_status status = NNB_OK;
            pthread_mutex_lock(&p->io_lock);
            for (int s = 0; s < p->sink->output_count && status == NNB_OK; s++) {
                status = p->sink->write(p->sink->state, s, slot->first, slot->count,
                                        slot->outputs[s], slot->ld_outputs[s], &error);
            }
            pthread_mutex_unlock(&p->io_lock);
            if (status != NNB_OK) {
                pipeline_fail(p, status, &error);
                break;
            }
        }
        pipeline_set(p, slot, SLOT_FREE);
    }
    return NULL;
}

/* ---- Workers --------------------------------------------------------------- */

/* Take the next tile in row order and wait until its block is ready.
 * Returns the block's slot, or NULL when no tile is left or the run stops. */
static block_slot *take_tile(pipeline *p, int64_t *tile)
{
    pthread_mutex_lock(&p->lock);
    block_slot *slot = NULL;
    if (!p->stop && p->next_block < p->block_count) {
        int64_t k = p->next_block;
        *tile = p->next_tile;
        if (++p->next_tile == block_tile_count(p, k)) {
            p->next_block++;
            p->next_tile = 0;
        }
        slot = &p->slots[k % p->slot_count];
        while (!p->stop && !(slot->state == SLOT_READY && slot->block == k))
            pthread_cond_wait(&p->changed, &p->lock);
        if (p->stop)
            slot = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    return slot;
}

/* Add the rows of every fully scored block to the totals, in block order,
 * and pass each block on: to the writer, or, without a writer, straight
 * back to the ring bound to the next block. Called with p->lock held. */
static void sum_finished_blocks(pipeline *p)
{
    while (p->blocks_summed < p->block_count) {
        int64_t k = p->blocks_summed;
        block_slot *slot = &p->slots[k % p->slot_count];
        if (!(slot->state == SLOT_READY && slot->block == k && slot->tiles_done == slot->tiles))
            break;

        p->nonfinite_rows += slot->nonfinite_rows;
        if (p->plan->has_loss) {
            for (int64_t r = 0; r < slot->count; r++) {
                compensated_add(&p->loss_sum, slot->loss[r]);
                p->correct_rows += slot->correct[r];
            }
        }
        p->blocks_summed++;

        if (p->threaded) {
            slot->state = SLOT_SCORED;
        } else if (k + p->slot_count < p->block_count) {
            slot_bind(p, slot, k + p->slot_count);
            slot_ready(p, slot, k + p->slot_count);
        } else {
            slot->state = SLOT_FREE;
        }
        pthread_cond_broadcast(&p->changed);
    }
}

/* Flag the rows of a tile that hold a NaN or infinity in their input or in
 * any output the sink receives; returns how many. */
static int64_t flag_nonfinite(const nnb_model *model, const nnb_row_sink *sink,
                              block_slot *block, int64_t row, int64_t rows)
{
    int64_t flagged = 0;
    for (int64_t r = row; r < row + rows; r++) {
        int bad = nnb_kernel_has_nonfinite(model->input_width, block->input + r * block->ld_input);
        for (int s = 0; s < sink->output_count && !bad; s++) {
            int64_t width = nnb_model_output_width(model, sink->outputs[s]);
            bad = nnb_kernel_has_nonfinite(width, block->outputs[s] + r * block->ld_outputs[s]);
        }
        flagged += bad;
    }
    return flagged;
}

/* Report progress from the driving thread, once for each block summed
 * since the last report; a nonzero return from the callback stops the run. */
static void report_progress(pipeline *p, int64_t blocks_summed, int64_t *blocks_reported)
{
    const nnb_options *options = &p->run->options;
    for (; *blocks_reported < blocks_summed; ++*blocks_reported) {
        int64_t end = (*blocks_reported + 1) * p->block_rows;
        int64_t rows_done = end < p->source->rows ? end : p->source->rows;
        if (options->progress == NULL
            || options->progress(options->progress_user_data, rows_done, p->source->rows) == 0)
            continue;
        nnb_error cancelled;
        nnb_error_set(&cancelled, NNB_ERR_CANCELLED, "run cancelled after %lld of %lld rows",
                      (long long)rows_done, (long long)p->source->rows);
        pipeline_fail(p, NNB_ERR_CANCELLED, &cancelled);
        *blocks_reported = blocks_summed;
        return;
    }
}

/* One worker: score tiles until none is left. Thread 0 is the thread that
 * called the run, and it alone reports progress. */
static void worker_main(pipeline *p, int64_t *blocks_reported)
{
    nnb_run *run = p->run;
    const nnb_model *model = run->model;
    int64_t tile_rows = run->call_tile_rows;
    int driver = omp_get_thread_num() == 0;

    /* Each thread has its own floating-point control register: set
     * flush-to-zero and denormals-are-zero here, and restore them so the
     * caller's threads are left as they were. */
#if defined(__SSE2__)
    unsigned int saved_csr = _mm_getcsr();
    if (!run->options.keep_denormals)
        _mm_setcsr(saved_csr | 0x8040u);
#endif
    float *scratch = run->scratch + (int64_t)omp_get_thread_num() * run->scratch_stride;
    rntm_t rntm;
    gemm_runtime_init(&rntm);

    int64_t tile;
    block_slot *slot;
    while ((slot = take_tile(p, &tile)) != NULL) {
        int64_t row = tile * tile_rows;
        int64_t rows = slot->count - row < tile_rows ? slot->count - row : tile_rows;
        score_tile(model, p->plan, slot, scratch, tile_rows, &rntm, row, rows, slot->loss,
                   slot->correct);
        int64_t flagged = flag_nonfinite(model, p->sink, slot, row, rows);

        pthread_mutex_lock(&p->lock);
        slot->nonfinite_rows += flagged;
        slot->tiles_done++;
        sum_finished_blocks(p);
        int64_t blocks_summed = p->blocks_summed;
        pthread_mutex_unlock(&p->lock);

        if (driver)
            report_progress(p, blocks_summed, blocks_reported);
    }
#if defined(__SSE2__)
    _mm_setcsr(saved_csr);
#endif
}

/* ---- The run -------------------------------------------------------------- */

/* Make sure the run's scratch has room for `floats_per_row` floats per tile row
 * for every worker. It only grows, so repeated calls reuse it. */
static nnb_status reserve_scratch(nnb_run *run, int64_t floats_per_row, nnb_error *error)
{
    int64_t stride = NNB_ROUND_UP(floats_per_row * run->call_tile_rows, NNB_FLOATS_PER_LINE);
    if (stride <= run->scratch_stride && run->scratch != NULL)
        return NNB_OK;

    size_t bytes = (size_t)(stride > 0 ? stride : NNB_FLOATS_PER_LINE) * (size_t)run->threads
                   * sizeof(float);
    float *scratch = aligned_alloc(NNB_CACHE_LINE, bytes);
    if (scratch == NULL) {
        return nnb_error_set(error, NNB_ERR_NO_MEMORY,
                             "out of memory allocating %zu bytes of scratch for %d threads x "
                             "%lld tile rows; lower the tile rows",
                             bytes, run->threads, (long long)run->call_tile_rows);
    }
    free(run->scratch);
    run->scratch = scratch;
    run->scratch_stride = stride;
    return NNB_OK;
}

nnb_status nnb_engine_run(nnb_run *run, const nnb_row_source *source,
                          const nnb_row_sink *sink, nnb_summary *summary, nnb_error *error)
{
    const nnb_model *model = run->model;
    double start = omp_get_wtime();
    memset(summary, 0, sizeof *summary);

    nnb_plan plan;
    nnb_status status = nnb_plan_build(model, sink->outputs, sink->output_count,
                                       source->has_labels, &plan, error);
    if (status != NNB_OK)
        return status;
    if (plan.has_loss && !source->has_labels) {
        nnb_plan_destroy(&plan);
        return nnb_error_set(error, NNB_ERR_LABEL,
                             "output needs labels: node '%s' (cross_entropy) reads input '%s'",
                             model->nodes[model->loss_node].name, model->labels_name);
    }
    /* A tile larger than each worker's share of the rows only costs
     * memory; results do not depend on the tile size. */
    int64_t share = (source->rows + run->threads - 1) / run->threads;
    run->call_tile_rows = run->tile_rows < share ? run->tile_rows : (share > 0 ? share : 1);

    status = reserve_scratch(run, plan.scratch_floats_per_row, error);
    if (status != NNB_OK) {
        nnb_plan_destroy(&plan);
        return status;
    }

    pipeline p;
    memset(&p, 0, sizeof p);
    p.run = run;
    p.source = source;
    p.sink = sink;
    p.plan = &plan;
    p.block_rows = choose_block_rows(run, source);
    p.block_count = (source->rows + p.block_rows - 1) / p.block_rows;
    /* In-memory sources and sinks need no I/O threads: reading and writing
     * a block is pointer arithmetic, done by the worker that finishes the
     * block before it. */
    p.threaded = source->view == NULL || sink->view == NULL;
    p.slot_count = (int)(p.block_count < RING_SLOTS ? p.block_count : RING_SLOTS);
    if (p.slot_count < 1)
        p.slot_count = 1;

    int ok = 1;
    for (int i = 0; i < p.slot_count && ok; i++)
        ok &= slot_alloc(&p.slots[i], model, source, sink, plan.has_loss, p.block_rows);
    if (!ok) {
        status = nnb_error_set(error, NNB_ERR_NO_MEMORY,
                               "out of memory allocating blocks of %lld rows",
                               (long long)p.block_rows);
        goto done;
    }

    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.changed, NULL);
    pthread_mutex_init(&p.io_lock, NULL);
    pthread_t reader, writer;
    int reader_started = 0, writer_started = 0;
    if (p.threaded) {
        reader_started = pthread_create(&reader, NULL, reader_main, &p) == 0;
        writer_started = reader_started && pthread_create(&writer, NULL, writer_main, &p) == 0;
        if (!writer_started) {
            nnb_error failure;
            nnb_error_set(&failure, NNB_ERR_INTERNAL, "could not start the I/O threads");
            pipeline_fail(&p, NNB_ERR_INTERNAL, &failure);
        }
    } else {
        for (int i = 0; i < p.slot_count; i++) {
            slot_bind(&p, &p.slots[i], i);
            slot_ready(&p, &p.slots[i], i);
        }
    }

    /* The team starts only when the I/O threads did: libgomp exits the
     * process when it cannot create a thread, which would leave no chance
     * to report the failure and remove the output. */
    int64_t blocks_reported = 0;
    if (!p.stop) {
#pragma omp parallel num_threads(run->threads)
        worker_main(&p, &blocks_reported);
    }

    /* The last blocks may have been summed by another worker. */
    if (!p.stop)
        report_progress(&p, p.blocks_summed, &blocks_reported);

    if (reader_started)
        pthread_join(reader, NULL);
    if (writer_started)
        pthread_join(writer, NULL);
    pthread_mutex_destroy(&p.io_lock);
    pthread_cond_destroy(&p.changed);
    pthread_mutex_destroy(&p.lock);

    if (p.stop) {
        status = p.status;
        if (error != NULL)
            *error = p.error;
        goto done;
    }

    summary->rows = source->rows;
    summary->flops = model->flops_per_row * (double)source->rows;
    summary->has_labels = plan.has_loss;
    summary->nonfinite_rows = p.nonfinite_rows;
    if (plan.has_loss && source->rows > 0) {
        summary->mean_loss = (p.loss_sum.sum + p.loss_sum.compensation) / (double)source->rows;
        summary->correct = p.correct_rows;
        summary->accuracy = (double)p.correct_rows / (double)source->rows;
    }
    summary->seconds = omp_get_wtime() - start;

done:
    for (int i = 0; i < RING_SLOTS; i++)
        slot_free(&p.slots[i], sink->output_count);
    nnb_plan_destroy(&plan);
    return status;
}
