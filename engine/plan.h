/*
 * Execution plan of one scoring call: which nodes run, which element-wise
 * steps are fused into the step before them, and where each node's value
 * lives while a tile is scored.
 */
#ifndef NNB_PLAN_H
#define NNB_PLAN_H

#include "graph/graph.h"
#include "nnbatch.h"

#include <stdint.h>

typedef enum nnb_home_kind {
    NNB_HOME_NONE = 0, /* not computed in this call */
    NNB_HOME_SCRATCH,  /* thread scratch, `offset` floats from the tile's start */
    NNB_HOME_OUTPUT    /* the block output buffer of sink slot `slot` */
} nnb_home_kind;

typedef struct nnb_node_home {
    nnb_home_kind kind;
    int64_t offset; /* NNB_HOME_SCRATCH: floats per tile row before this buffer */
    int slot;       /* NNB_HOME_OUTPUT */
} nnb_node_home;

typedef struct nnb_plan {
    int node_count;
    unsigned char *runs;   /* per node: computed in this call */
    unsigned char *skip;   /* per node: already applied by the fused step before it */
    nnb_op *fused;         /* per bias node: activation applied in the same pass, or NNB_OP_COUNT */
    nnb_node_home *home;   /* per node */
    int has_loss;          /* the cross_entropy node runs */
    /* Scratch floats one thread needs per tile row. A scratch value at
     * offset `o` of a tile of R rows starts at scratch + o * R. */
    int64_t scratch_floats_per_row;
} nnb_plan;

/* Plan the computation of model outputs `outputs[0..output_count-1]` (indices
 * into the model's output list, one per sink slot). With labels, the loss
 * node always runs so that loss and accuracy are reported. */
nnb_status nnb_plan_build(const nnb_model *model, const int *outputs, int output_count,
                          int has_labels, nnb_plan *plan, nnb_error *error);

void nnb_plan_destroy(nnb_plan *plan);

/* Node id of the logits a cross_entropy node works from: the input of the
 * softmax node it reads. */
int nnb_plan_loss_logits(const nnb_model *model, int loss_node);

#endif
