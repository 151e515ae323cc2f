/*
 * The GEMM ceiling: the model's matmul sequence alone, on rows already in
 * memory, tiled and threaded the way the engine does it. OpenMP threads
 * take tiles dynamically and each matmul of a tile is one single-threaded
 * BLIS GEMM with the small-matrix (sup) path off, as in engine/engine.c.
 * No bias, activation, loss or I/O runs, so no nnbatch run can be faster
 * with the same threads and tile rows.
 */
#include "nnb_bench.h"

#include <blis.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_LINE 64

/* One matmul of the model: a tile of `in` columns times weight (in, out). */
typedef struct gemm_layer {
    int64_t in;
    int64_t out;
    float *weight; /* in x out, row-major */
} gemm_layer;

/* Width of the value named `name`: a node's width, else the features input
 * (a valid model never feeds the labels input to a matmul). */
static int64_t value_width(const nnb_model *model, const char *name)
{
    for (int i = 0; i < nnb_model_node_count(model); i++) {
        if (strcmp(nnb_model_node_name(model, i), name) == 0)
            return nnb_model_node_width(model, i);
    }
    return nnb_model_input_width(model);
}

/* splitmix64: a seeded, portable source of the fill values. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Uniform float in [low, high). */
static float uniform(uint64_t *state, float low, float high)
{
    double unit = (double)(next_random(state) >> 11) * 0x1.0p-53;
    return (float)(low + (high - low) * unit);
}

static void *aligned_floats(int64_t count)
{
    size_t bytes = (size_t)count * sizeof(float);
    bytes = (bytes + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
    return aligned_alloc(CACHE_LINE, bytes > 0 ? bytes : CACHE_LINE);
}

/* Collect the shapes of the model's matmuls in execution order. */
static int collect_layers(const nnb_model *model, gemm_layer **layers_out, int *count_out)
{
    int count = 0;
    for (int i = 0; i < nnb_model_node_count(model); i++)
        count += nnb_model_node_op(model, i) == NNB_OP_MATMUL;
    if (count == 0) {
        fprintf(stderr, "nnb_bench: the model has no matmul node, so it has no GEMM ceiling\n");
        return 1;
    }

    gemm_layer *layers = calloc((size_t)count, sizeof *layers);
    if (layers == NULL) {
        fprintf(stderr, "nnb_bench: out of memory\n");
        return 1;
    }
    int k = 0;
    for (int i = 0; i < nnb_model_node_count(model); i++) {
        if (nnb_model_node_op(model, i) == NNB_OP_MATMUL) {
            layers[k].in = value_width(model, nnb_model_node_input(model, i, 0));
            layers[k].out = nnb_model_node_width(model, i);
            k++;
        }
    }
    *layers_out = layers;
    *count_out = count;
    return 0;
}

/* Give every layer a weight of its shape. The values are He-uniform random
 * numbers of the model's scale, not the model's own, because the public API
 * does not expose those. GEMM time does not depend on the values as long as
 * no subnormals occur, and chaining these layers without activations only
 * doubles the variance per layer, so none occur. */
static int fill_weights(gemm_layer *layers, int count)
{
    uint64_t seed = 20240601;
    for (int l = 0; l < count; l++) {
        gemm_layer *layer = &layers[l];
        layer->weight = aligned_floats(layer->in * layer->out);
        if (layer->weight == NULL) {
            fprintf(stderr, "nnb_bench: out of memory for a %lld x %lld weight\n",
                    (long long)layer->in, (long long)layer->out);
            return 1;
        }
        float bound = (float)sqrt(6.0 / (double)layer->in);
        for (int64_t j = 0; j < layer->in * layer->out; j++)
            layer->weight[j] = uniform(&seed, -bound, bound);
    }
    return 0;
}

/* Multiply `rows` rows of `x` through every layer, ping-ponging between
 * the two scratch buffers, as score_tile() in engine/engine.c does for the
 * matmul nodes. */
static void multiply_tile(const gemm_layer *layers, int count, const float *x, int64_t ld_x,
                          int64_t rows, float *scratch_a, float *scratch_b, rntm_t *rntm)
{
    float one = 1.0f, zero = 0.0f;
    float *y = scratch_a;
    for (int l = 0; l < count; l++) {
        const gemm_layer *layer = &layers[l];
        bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, rows, layer->out, layer->in, &one,
                     (float *)x, ld_x, 1, layer->weight, layer->out, 1, &zero, y, layer->out,
                     1, NULL, rntm);
        x = y;
        ld_x = layer->out;
        y = y == scratch_a ? scratch_b : scratch_a;
    }
}

int nnb_bench_ceiling(const nnb_bench_options *options)
{
    nnb_model *model = NULL;
    gemm_layer *layers = NULL;
    int layer_count = 0;
    float *input = NULL;
    float *scratch = NULL;
    int threads = 0;
    int64_t tile_rows = 0;
    int status = 1;

    if (options->rows < 1) {
        fprintf(stderr, "nnb_bench: ceiling needs --rows N\n");
        goto done;
    }
    if (nnb_bench_load_model(options, &model, &threads, &tile_rows) != 0)
        goto done;
    if (collect_layers(model, &layers, &layer_count) != 0)
        goto done;

    /* The model's own parameters are not used: free them before the
     * weights are made, so they do not count in this process's peak RSS. */
    double flops_per_row = nnb_model_flops_per_row(model);
    nnb_model_free(model);
    model = NULL;
    if (fill_weights(layers, layer_count) != 0)
        goto done;

    /* The input is one block of rows, because the engine also scores from
     * one block in memory. Tiles past its end wrap around to its start. */
    int64_t width = layers[0].in;
    int64_t block_rows = nnb_bench_block_rows(width, threads, tile_rows, 0, options->rows);
    int64_t tiles_per_block = (block_rows + tile_rows - 1) / tile_rows;
    int64_t input_rows = tiles_per_block * tile_rows;
    input = aligned_floats(input_rows * width);

    int64_t max_out = 0;
    for (int l = 0; l < layer_count; l++)
        max_out = layers[l].out > max_out ? layers[l].out : max_out;
    int64_t stride = (tile_rows * max_out + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
    scratch = aligned_floats(2 * stride * threads);
    if (input == NULL || scratch == NULL) {
        fprintf(stderr, "nnb_bench: out of memory for the ceiling's input and scratch\n");
        goto done;
    }
    uint64_t seed = 7;
    for (int64_t j = 0; j < input_rows * width; j++)
        input[j] = uniform(&seed, 0.0f, 1.0f);
    memset(scratch, 0, (size_t)(2 * stride * threads) * sizeof(float));

    int64_t tiles = (options->rows + tile_rows - 1) / tile_rows;
    double start = nnb_bench_now();
#pragma omp parallel num_threads(threads)
    {
        float *own = scratch + (int64_t)omp_get_thread_num() * 2 * stride;
        rntm_t rntm;
        bli_rntm_init(&rntm);
        bli_rntm_set_num_threads(1, &rntm);
        bli_rntm_disable_l3_sup(&rntm);
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < tiles; t++) {
            int64_t first = t * tile_rows;
            int64_t rows = options->rows - first < tile_rows ? options->rows - first : tile_rows;
            const float *x = input + (t % tiles_per_block) * tile_rows * width;
            multiply_tile(layers, layer_count, x, width, rows, own, own + stride, &rntm);
        }
    }
    double seconds = nnb_bench_now() - start;

    printf("rows=%lld\n", (long long)options->rows);
    printf("seconds=%.6f\n", seconds);
    printf("flops=%.0f\n", flops_per_row * (double)options->rows);
    printf("threads=%d\n", threads);
    printf("tile_rows=%lld\n", (long long)tile_rows);
    printf("gemm_layers=%d\n", layer_count);
    status = 0;

done:
    free(scratch);
    free(input);
    for (int l = 0; layers != NULL && l < layer_count; l++)
        free(layers[l].weight);
    free(layers);
    nnb_model_free(model);
    return status;
}
