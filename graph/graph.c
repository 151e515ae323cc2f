/*
 * Graph building: checks a model description, resolves names to value ids,
 * orders the nodes, infers widths and assembles the nnb_model. Also the
 * public nnb_model accessors.
 *
 * Checks run in this order, so the first message is about the earliest
 * problem a reader of the file would fix: graph inputs, names, each node in
 * file order (op, inputs, parameters), outputs, cycles, then shapes in
 * execution order.
 */
#include "graph/graph.h"

#include "engine/status.h"
#include "graph/ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Shown in messages in place of the file path when a description has none. */
#define UNNAMED_SOURCE "model description"

/* Largest features width accepted. It rejects a damaged @width (HDF5 clips
 * an out-of-range unsigned value to INT64_MAX) before run contexts multiply
 * widths by tile rows and thread counts. */
#define MAX_INPUT_WIDTH (INT64_C(1) << 31)

/* ---- Descriptions ------------------------------------------------------- */

static void free_strings(char **strings, int count)
{
    if (strings == NULL)
        return;
    for (int i = 0; i < count; i++)
        free(strings[i]);
    free(strings);
}

void nnb_graph_desc_destroy(nnb_graph_desc *desc)
{
    if (desc == NULL)
        return;

    free(desc->source);
    for (int i = 0; i < desc->input_count; i++)
        free(desc->inputs[i].name);
    free(desc->inputs);

    for (int i = 0; i < desc->node_count; i++) {
        nnb_node_desc *node = &desc->nodes[i];
        free(node->name);
        free(node->op);
        free_strings(node->inputs, node->input_count);
        for (int k = 0; k < node->param_count; k++) {
            free(node->params[k].name);
            free(node->params[k].data);
        }
        free(node->params);
    }
    free(desc->nodes);

    free_strings(desc->outputs, desc->output_count);
    memset(desc, 0, sizeof *desc);
}

/* ---- Builder state and messages ----------------------------------------- */

/* A graph input or node name and the value id it resolves to. */
typedef struct name_entry {
    const char *name;
    int value; /* file index of a node, or NNB_VALUE_FEATURES / NNB_VALUE_LABELS */
} name_entry;

/* Working data of one nnb_graph_build() call. Per-node arrays are indexed
 * by the node's position in the description (its file index). Until the
 * model is assembled, the value id of a node is its file index. */
typedef struct graph_builder {
    nnb_graph_desc *desc;
    nnb_error *error;
    const char *source;   /* desc->source, or UNNAMED_SOURCE */
    int features_input;   /* index into desc->inputs */
    int labels_input;     /* index into desc->inputs, or -1 */
    name_entry *names;    /* inputs and nodes, sorted by name */
    int name_count;
    nnb_op *ops;
    int (*inputs)[NNB_MAX_NODE_INPUTS];
    nnb_param_desc *(*params)[NNB_OP_MAX_PARAMS]; /* in the op table's order */
    int *output_nodes;    /* file index of each graph output */
    unsigned char *is_output;
    int *order;           /* file indices in execution order */
    int *position;        /* execution position of each file index */
    int64_t *widths;
    int loss_node;        /* file index of the cross_entropy node, or -1 */
} graph_builder;

/* Store a model error "SOURCE: <formatted text>". */
static nnb_status graph_error(const graph_builder *builder, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static nnb_status graph_error(const graph_builder *builder, const char *format, ...)
{
    char detail[NNB_ERROR_MESSAGE_MAX];
    va_list args;
    va_start(args, format);
    vsnprintf(detail, sizeof detail, format, args);
    va_end(args);
    return nnb_error_set(builder->error, NNB_ERR_MODEL, "%s: %s", builder->source, detail);
}

/* Store a model error "SOURCE: node 'NAME' (OP): <formatted text>", with the
 * op as the file spells it. The node must have a name. */
static nnb_status node_error(const graph_builder *builder, int node, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static nnb_status node_error(const graph_builder *builder, int node, const char *format, ...)
{
    const nnb_node_desc *desc = &builder->desc->nodes[node];
    char detail[NNB_ERROR_MESSAGE_MAX];
    va_list args;
    va_start(args, format);
    vsnprintf(detail, sizeof detail, format, args);
    va_end(args);
    return nnb_error_set(builder->error, NNB_ERR_MODEL, "%s: node '%s' (%s): %s",
                         builder->source, desc->name, desc->op != NULL ? desc->op : "no op",
                         detail);
}

static nnb_status out_of_memory(const graph_builder *builder)
{
    return nnb_error_set(builder->error, NNB_ERR_NO_MEMORY,
                         "%s: out of memory building the model graph", builder->source);
}

/* Format a parameter's shape as "(300, 10)". Rank 0 gives "()". */
static void format_shape(const nnb_param_desc *param, char *buffer, size_t size)
{
    if (param->rank == 1) {
        snprintf(buffer, size, "(%lld)", (long long)param->dims[0]);
    } else if (param->rank == 2) {
        snprintf(buffer, size, "(%lld, %lld)", (long long)param->dims[0],
                 (long long)param->dims[1]);
    } else if (param->rank > 2) {
        snprintf(buffer, size, "(%lld, %lld, ...)", (long long)param->dims[0],
                 (long long)param->dims[1]);
    } else {
        snprintf(buffer, size, "()");
    }
}

/* Allocate `count` zeroed elements, at least one so that a graph with no
 * nodes does not look like an allocation failure. */
static void *allocate_array(size_t count, size_t size)
{
    return calloc(count > 0 ? count : 1, size);
}

/* ---- Graph inputs and names --------------------------------------------- */

static nnb_status check_inputs(graph_builder *builder)
{
    const nnb_graph_desc *desc = builder->desc;
    builder->features_input = -1;
    builder->labels_input = -1;

    for (int i = 0; i < desc->input_count; i++) {
        const nnb_input_desc *input = &desc->inputs[i];
        if (input->name == NULL || input->name[0] == '\0')
            return graph_error(builder, "graph input %d has no name", i);

        if (input->role == NNB_INPUT_FEATURES) {
            if (builder->features_input >= 0) {
                return graph_error(builder,
                                   "inputs '%s' and '%s' both have role 'features'; "
                                   "a model has exactly one features input",
                                   desc->inputs[builder->features_input].name, input->name);
            }
            if (input->width < 1 || input->width > MAX_INPUT_WIDTH) {
                return graph_error(builder,
                                   "input '%s' has width %lld; the width of a features "
                                   "input must be from 1 to %lld",
                                   input->name, (long long)input->width,
                                   (long long)MAX_INPUT_WIDTH);
            }
            builder->features_input = i;
        } else if (input->role == NNB_INPUT_LABELS) {
            if (builder->labels_input >= 0) {
                return graph_error(builder,
                                   "inputs '%s' and '%s' both have role 'labels'; "
                                   "a model has at most one labels input",
                                   desc->inputs[builder->labels_input].name, input->name);
            }
            builder->labels_input = i;
        } else {
            return graph_error(builder, "input '%s' has an invalid role (%d)", input->name,
                               (int)input->role);
        }
    }

    if (builder->features_input < 0) {
        return graph_error(builder,
                           "no input has role 'features'; declare one graph input with "
                           "role 'features' and the width of a data row");
    }
    return NNB_OK;
}

static int compare_name_entries(const void *a, const void *b)
{
    const name_entry *left = a;
    const name_entry *right = b;
    int order = strcmp(left->name, right->name);
    if (order != 0)
        return order;
    /* Same name: graph inputs (negative ids) first, then nodes in file
     * order, so duplicate messages do not depend on qsort. */
    return (left->value > right->value) - (left->value < right->value);
}

/* Sort the names of the graph inputs and nodes and reject duplicates. */
static nnb_status index_names(graph_builder *builder)
{
    const nnb_graph_desc *desc = builder->desc;
    builder->name_count = desc->input_count + desc->node_count;
    builder->names = allocate_array((size_t)builder->name_count, sizeof *builder->names);
    if (builder->names == NULL)
        return out_of_memory(builder);

    int count = 0;
    for (int i = 0; i < desc->input_count; i++) {
        builder->names[count].name = desc->inputs[i].name;
        builder->names[count].value = desc->inputs[i].role == NNB_INPUT_FEATURES
                                          ? NNB_VALUE_FEATURES
                                          : NNB_VALUE_LABELS;
        count++;
    }
    for (int i = 0; i < desc->node_count; i++) {
        const char *name = desc->nodes[i].name;
        if (name == NULL || name[0] == '\0')
            return graph_error(builder, "node %d (in file order) has no name", i);
        builder->names[count].name = name;
        builder->names[count].value = i;
        count++;
    }
    qsort(builder->names, (size_t)count, sizeof *builder->names, compare_name_entries);

    for (int i = 1; i < count; i++) {
        const name_entry *first = &builder->names[i - 1];
        const name_entry *second = &builder->names[i];
        if (strcmp(first->name, second->name) != 0)
            continue;
        if (first->value < 0 && second->value < 0) {
            return graph_error(builder, "two graph inputs are named '%s'; rename one of them",
                               first->name);
        }
        if (first->value < 0) {
            return graph_error(builder,
                               "node '%s' has the same name as a graph input; "
                               "rename the node or the input",
                               second->name);
        }
        return graph_error(builder, "two nodes are named '%s'; rename one of them",
                           first->name);
    }
    return NNB_OK;
}

/* Returns the entry named `name`, or NULL. The entries are sorted by name
 * (index_names has rejected duplicates), so a lower-bound search finds it. */
static const name_entry *find_name(const graph_builder *builder, const char *name)
{
    if (name == NULL)
        return NULL;

    size_t low = 0;
    size_t high = (size_t)builder->name_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (strcmp(builder->names[middle].name, name) < 0)
            low = middle + 1;
        else
            high = middle;
    }
    if (low < (size_t)builder->name_count && strcmp(builder->names[low].name, name) == 0)
        return &builder->names[low];
    return NULL;
}

/* ---- Nodes -------------------------------------------------------------- */

/* Resolve the values node `node` reads into value ids. */
static nnb_status resolve_node_inputs(graph_builder *builder, int node, const nnb_op_info *info)
{
    const nnb_node_desc *desc = &builder->desc->nodes[node];
    if (desc->input_count != info->input_count) {
        return node_error(builder, node,
                          "has %d inputs but %s takes %d; list %s in its 'inputs' attribute",
                          desc->input_count, info->name, info->input_count,
                          info->input_count == 2 ? "[softmax node, labels input]"
                                                 : "the one value it reads");
    }

    for (int slot = 0; slot < desc->input_count; slot++) {
        const char *name = desc->inputs[slot];
        const name_entry *entry = find_name(builder, name);
        if (entry == NULL) {
            return node_error(builder, node,
                              "input '%s' is neither a graph input nor a node; "
                              "check the name in its 'inputs' attribute",
                              name != NULL ? name : "");
        }

        if (slot == info->labels_slot && entry->value != NNB_VALUE_LABELS) {
            return node_error(builder, node,
                              "input %d ('%s') must be the labels input, a graph input "
                              "with role 'labels'",
                              slot + 1, name);
        }
        if (slot != info->labels_slot && entry->value == NNB_VALUE_LABELS) {
            return node_error(builder, node,
                              "input %d ('%s') is the labels input, which only "
                              "cross_entropy reads (as its second input)",
                              slot + 1, name);
        }
        builder->inputs[node][slot] = entry->value;
    }
    return NNB_OK;
}

/* Match the node's parameter datasets against the op's list. Each listed
 * parameter must be present once, with the right rank and no dimension 0,
 * and the node must have no other parameters. */
static nnb_status resolve_node_params(graph_builder *builder, int node, const nnb_op_info *info)
{
    nnb_node_desc *desc = &builder->desc->nodes[node];

    for (int k = 0; k < desc->param_count; k++) {
        const char *name = desc->params[k].name != NULL ? desc->params[k].name : "";
        int known = 0;
        for (int p = 0; p < info->param_count; p++)
            known |= strcmp(name, info->params[p].name) == 0;
        if (!known) {
            return node_error(builder, node,
                              "has parameter '%s', which %s does not use; remove it or "
                              "check its name",
                              name, info->name);
        }
        for (int j = 0; j < k; j++) {
            if (strcmp(name, desc->params[j].name) == 0)
                return node_error(builder, node, "has two parameters named '%s'", name);
        }
    }

    for (int p = 0; p < info->param_count; p++) {
        const nnb_op_param *spec = &info->params[p];
        nnb_param_desc *param = NULL;
        for (int k = 0; k < desc->param_count && param == NULL; k++) {
            if (strcmp(desc->params[k].name, spec->name) == 0)
                param = &desc->params[k];
        }

        if (param == NULL) {
            return node_error(builder, node,
                              "parameter '%s' is missing; %s needs a rank-%d dataset "
                              "'%s' of shape %s",
                              spec->name, info->name, spec->rank, spec->name, spec->shape);
        }
        if (param->rank != spec->rank) {
            return node_error(builder, node,
                              "parameter '%s' has rank %d but %s needs rank %d, shape %s",
                              spec->name, param->rank, info->name, spec->rank, spec->shape);
        }

        int empty = 0;
        for (int d = 0; d < param->rank; d++)
            empty |= param->dims[d] < 1;
        if (empty) {
            char shape[64];
            format_shape(param, shape, sizeof shape);
            return node_error(builder, node,
                              "parameter '%s' has shape %s and is empty; %s needs shape %s "
                              "with no dimension 0",
                              spec->name, shape, info->name, spec->shape);
        }
        if (param->data == NULL)
            return node_error(builder, node, "parameter '%s' has no data", spec->name);

        /* A NaN or infinite weight would turn every row it touches into NaN
         * without any other sign, so such a model is rejected. */
        int64_t count = param->rank == 2 ? param->dims[0] * param->dims[1] : param->dims[0];
        for (int64_t e = 0; e < count; e++) {
            float v = param->data[e];
            if (!(v - v == 0.0f)) {
                return node_error(builder, node,
                                  "parameter '%s' holds a non-finite value (%g) at flat index "
                                  "%lld; the model file is damaged or was saved after training "
                                  "diverged",
                                  spec->name, (double)v, (long long)e);
            }
        }

        builder->params[node][p] = param;
    }
    return NNB_OK;
}

/* Check each node in file order: known op, inputs that exist, parameters,
 * and at most one cross_entropy. */
static nnb_status resolve_nodes(graph_builder *builder)
{
    const nnb_graph_desc *desc = builder->desc;
    builder->loss_node = -1;

    for (int i = 0; i < desc->node_count; i++) {
        const nnb_node_desc *node = &desc->nodes[i];
        nnb_op op;
        if (nnb_op_lookup(node->op, &op) != 0) {
            char names[256];
            nnb_op_list_names(names, sizeof names);
            if (node->op == NULL) {
                return graph_error(builder, "node '%s' has no op; set its 'op' attribute to "
                                   "one of: %s", node->name, names);
            }
            return graph_error(builder, "node '%s': unknown op '%s'; valid ops are: %s",
                               node->name, node->op, names);
        }
        builder->ops[i] = op;
        const nnb_op_info *info = nnb_op_info_get(op);

        nnb_status status = resolve_node_inputs(builder, i, info);
        if (status != NNB_OK)
            return status;
        status = resolve_node_params(builder, i, info);
        if (status != NNB_OK)
            return status;

        if (op == NNB_OP_CROSS_ENTROPY) {
            if (builder->loss_node >= 0) {
                return graph_error(builder,
                                   "nodes '%s' and '%s' are both cross_entropy; a model has "
                                   "at most one cross_entropy node",
                                   desc->nodes[builder->loss_node].name, node->name);
            }
            builder->loss_node = i;
        }
    }
    return NNB_OK;
}

static nnb_status resolve_outputs(graph_builder *builder)
{
    const nnb_graph_desc *desc = builder->desc;
    if (desc->output_count < 1) {
        return graph_error(builder,
                           "the model has no outputs; list the nodes to write in the root "
                           "attribute 'outputs'");
    }

    for (int k = 0; k < desc->output_count; k++) {
        const char *name = desc->outputs[k] != NULL ? desc->outputs[k] : "";
        const name_entry *entry = find_name(builder, name);
        if (entry == NULL) {
            return graph_error(builder, "output '%s' is not a node; 'outputs' must name nodes",
                               name);
        }
        if (entry->value < 0) {
            return graph_error(builder,
                               "output '%s' is a graph input, not a node; 'outputs' must "
                               "name nodes",
                               name);
        }
        if (builder->is_output[entry->value])
            return graph_error(builder, "output '%s' is listed twice in 'outputs'", name);
        builder->is_output[entry->value] = 1;
        builder->output_nodes[k] = entry->value;
    }
    return NNB_OK;
}

/* ---- Execution order ---------------------------------------------------- */

/* Min-heap of file indices, so Kahn's algorithm takes the ready node that
 * comes first in the file and ties keep file order. */
static void heap_push(int *heap, int *size, int value)
{
    int i = (*size)++;
    while (i > 0 && heap[(i - 1) / 2] > value) {
        heap[i] = heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    heap[i] = value;
}

static int heap_pop(int *heap, int *size)
{
    int top = heap[0];
    int last = heap[--(*size)];
    int i = 0;
    for (;;) {
        int child = 2 * i + 1;
        if (child >= *size)
            break;
        if (child + 1 < *size && heap[child + 1] < heap[child])
            child++;
        if (heap[child] >= last)
            break;
        heap[i] = heap[child];
        i = child;
    }
    heap[i] = last;
    return top;
}

/* Returns the first node that `node` reads and that is still unordered
 * (indegree > 0), or -1. */
static int unordered_input(const graph_builder *builder, const int *indegree, int node)
{
    for (int slot = 0; slot < builder->desc->nodes[node].input_count; slot++) {
        int value = builder->inputs[node][slot];
        if (value >= 0 && indegree[value] > 0)
            return value;
    }
    return -1;
}

/* Report a cycle among the nodes left unordered (indegree > 0). Every such
 * node reads at least one other such node, so walking back node_count steps
 * from any of them ends on a cycle. */
static nnb_status report_cycle(const graph_builder *builder, const int *indegree)
{
    const nnb_graph_desc *desc = builder->desc;
    int node = 0;
    while (indegree[node] == 0)
        node++;
    for (int step = 0; step < desc->node_count; step++)
        node = unordered_input(builder, indegree, node);

    /* List the cycle from its node that comes first in the file. */
    int first = node;
    for (int current = unordered_input(builder, indegree, node); current != node;
         current = unordered_input(builder, indegree, current)) {
        if (current < first)
            first = current;
    }
    node = first;

    /* "'a' reads 'b', which reads 'c', which reads 'a'", cut with "..." when
     * the cycle is too long for one message. */
    char path[600];
    size_t used = (size_t)snprintf(path, sizeof path, "'%s' reads", desc->nodes[node].name);
    int current = node;
    do {
        int next = unordered_input(builder, indegree, current);
        if (used < sizeof path) {
            used += (size_t)snprintf(path + used, sizeof path - used, "%s '%s'",
                                     current == node ? "" : ", which reads",
                                     desc->nodes[next].name);
        }
        current = next;
    } while (current != node);
    if (used >= sizeof path)
        memcpy(path + sizeof path - 4, "...", 4);

    return graph_error(builder,
                       "node '%s' (%s) is on a cycle: %s; a node must not depend on its own "
                       "output",
                       desc->nodes[node].name, desc->nodes[node].op, path);
}

/* Order the nodes so that each runs after the nodes it reads (Kahn's
 * algorithm, ties broken by file order), or report a cycle. */
static nnb_status order_nodes(graph_builder *builder)
{
    const nnb_graph_desc *desc = builder->desc;
    int count = desc->node_count;
    nnb_status status = NNB_OK;

    int *indegree = allocate_array((size_t)count, sizeof *indegree);
    int *first_reader = allocate_array((size_t)count + 1, sizeof *first_reader);
    int *readers = allocate_array((size_t)count * NNB_MAX_NODE_INPUTS, sizeof *readers);
    int *heap = allocate_array((size_t)count, sizeof *heap);
    if (indegree == NULL || first_reader == NULL || readers == NULL || heap == NULL) {
        status = out_of_memory(builder);
        goto cleanup;
    }

    /* Readers of each node in compressed rows: readers[first_reader[j] ..
     * first_reader[j + 1]) are the nodes that read node j, one entry per
     * input slot. */
    for (int i = 0; i < count; i++) {
        for (int slot = 0; slot < desc->nodes[i].input_count; slot++) {
            int value = builder->inputs[i][slot];
            if (value >= 0) {
                indegree[i]++;
                first_reader[value + 1]++;
            }
        }
    }
    for (int j = 0; j < count; j++)
        first_reader[j + 1] += first_reader[j];
    int *fill = heap; /* the heap is empty until the readers are filled */
    memcpy(fill, first_reader, (size_t)count * sizeof *fill);
    for (int i = 0; i < count; i++) {
        for (int slot = 0; slot < desc->nodes[i].input_count; slot++) {
            int value = builder->inputs[i][slot];
            if (value >= 0)
                readers[fill[value]++] = i;
        }
    }

    int heap_size = 0;
    for (int i = 0; i < count; i++) {
        if (indegree[i] == 0)
            heap_push(heap, &heap_size, i);
    }

    int ordered = 0;
    while (heap_size > 0) {
        int node = heap_pop(heap, &heap_size);
        builder->order[ordered] = node;
        builder->position[node] = ordered;
        ordered++;
        for (int r = first_reader[node]; r < first_reader[node + 1]; r++) {
            if (--indegree[readers[r]] == 0)
                heap_push(heap, &heap_size, readers[r]);
        }
    }

    if (ordered < count)
        status = report_cycle(builder, indegree);

cleanup:
    free(heap);
    free(readers);
    free(first_reader);
    free(indegree);
    return status;
}

/* ---- Widths ------------------------------------------------------------- */

/* Describe value `value` as an operand of a shape rule. */
static nnb_op_operand describe_value(const graph_builder *builder, int value)
{
    const nnb_graph_desc *desc = builder->desc;
    nnb_op_operand operand = {NULL, 0, 0, -1};
    if (value == NNB_VALUE_FEATURES) {
        operand.name = desc->inputs[builder->features_input].name;
        operand.width = desc->inputs[builder->features_input].width;
    } else if (value == NNB_VALUE_LABELS) {
        operand.name = desc->inputs[builder->labels_input].name;
        operand.is_labels = 1;
    } else {
        operand.name = desc->nodes[value].name;
        operand.width = builder->widths[value];
        operand.producer = (int)builder->ops[value];
    }
    return operand;
}

/* Apply each node's shape rule in execution order, so the widths of the
 * values it reads are known. */
static nnb_status infer_widths(graph_builder *builder)
{
    const nnb_graph_desc *desc = builder->desc;
    for (int p = 0; p < desc->node_count; p++) {
        int node = builder->order[p];
        const nnb_op_info *info = nnb_op_info_get(builder->ops[node]);

        nnb_op_operand operands[NNB_MAX_NODE_INPUTS];
        for (int slot = 0; slot < info->input_count; slot++)
            operands[slot] = describe_value(builder, builder->inputs[node][slot]);

        char reason[NNB_ERROR_MESSAGE_MAX / 2];
        const nnb_param_desc *params[NNB_OP_MAX_PARAMS];
        for (int k = 0; k < info->param_count; k++)
            params[k] = builder->params[node][k];
        if (info->shape_rule(operands, params, &builder->widths[node], reason, sizeof reason) != 0)
            return node_error(builder, node, "%s", reason);
    }
    return NNB_OK;
}

/* ---- Model assembly ----------------------------------------------------- */

static int copy_string(char **copy, const char *text)
{
    *copy = strdup(text);
    return *copy != NULL ? 0 : -1;
}

/* Build the model in execution order and move the parameter arrays from the
 * description into it. Nothing moves unless every allocation succeeded. */
static nnb_status assemble_model(graph_builder *builder, nnb_model **model_out)
{
    const nnb_graph_desc *desc = builder->desc;
    int count = desc->node_count;

    nnb_model *model = calloc(1, sizeof *model);
    if (model == NULL)
        return out_of_memory(builder);
    model->node_count = count;
    model->output_count = desc->output_count;
    model->nodes = allocate_array((size_t)count, sizeof *model->nodes);
    model->outputs = allocate_array((size_t)desc->output_count, sizeof *model->outputs);
    if (model->nodes == NULL || model->outputs == NULL)
        goto out_of_memory;

    const nnb_input_desc *features = &desc->inputs[builder->features_input];
    if (copy_string(&model->source, builder->source) != 0
        || copy_string(&model->features_name, features->name) != 0)
        goto out_of_memory;
    model->input_width = features->width;
    if (builder->labels_input >= 0
        && copy_string(&model->labels_name, desc->inputs[builder->labels_input].name) != 0)
        goto out_of_memory;

    for (int p = 0; p < count; p++) {
        int file_index = builder->order[p];
        nnb_node *node = &model->nodes[p];
        if (copy_string(&node->name, desc->nodes[file_index].name) != 0)
            goto out_of_memory;
        node->op = builder->ops[file_index];
        node->input_count = desc->nodes[file_index].input_count;
        for (int slot = 0; slot < node->input_count; slot++) {
            int value = builder->inputs[file_index][slot];
            node->inputs[slot] = value >= 0 ? builder->position[value] : value;
        }
        node->width = builder->widths[file_index];

        const nnb_param_desc *param = builder->params[file_index][0];
        if (node->op == NNB_OP_MATMUL) {
            node->weight_rows = param->dims[0];
            node->weight_cols = param->dims[1];
            model->flops_per_row += 2.0 * (double)param->dims[0] * (double)param->dims[1];
            model->parameter_count += param->dims[0] * param->dims[1];
        } else if (node->op == NNB_OP_BIAS) {
            model->parameter_count += param->dims[0];
        }
    }

    for (int k = 0; k < desc->output_count; k++)
        model->outputs[k] = builder->position[builder->output_nodes[k]];

    model->loss_node = -1;
    if (builder->loss_node >= 0) {
        model->loss_node = builder->position[builder->loss_node];
        int softmax = builder->inputs[builder->loss_node][0];
        model->label_classes = builder->widths[softmax];
    }

    /* Every allocation succeeded: take the parameter arrays. */
    for (int p = 0; p < count; p++) {
        nnb_node *node = &model->nodes[p];
        nnb_param_desc *param = builder->params[builder->order[p]][0];
        if (node->op == NNB_OP_MATMUL)
            node->weight = param->data;
        else if (node->op == NNB_OP_BIAS)
            node->bias = param->data;
        else
            continue;
        param->data = NULL;
    }

    *model_out = model;
    return NNB_OK;

out_of_memory:
    nnb_model_free(model);
    return out_of_memory(builder);
}

nnb_status nnb_graph_build(nnb_graph_desc *desc, nnb_model **model, nnb_error *error)
{
    if (model == NULL) {
        return nnb_error_set(error, NNB_ERR_INVALID_ARGUMENT,
                             "nnb_graph_build: model pointer is NULL");
    }
    *model = NULL;
    if (desc == NULL) {
        return nnb_error_set(error, NNB_ERR_INVALID_ARGUMENT,
                             "nnb_graph_build: description is NULL");
    }

    graph_builder builder = {
        .desc = desc,
        .error = error,
        .source = desc->source != NULL ? desc->source : UNNAMED_SOURCE,
        .labels_input = -1,
        .loss_node = -1,
    };
    nnb_status status = NNB_OK;

    size_t count = (size_t)(desc->node_count > 0 ? desc->node_count : 0);
    size_t outputs = (size_t)(desc->output_count > 0 ? desc->output_count : 0);
    builder.ops = allocate_array(count, sizeof *builder.ops);
    builder.inputs = allocate_array(count, sizeof *builder.inputs);
    builder.params = allocate_array(count, sizeof *builder.params);
    builder.output_nodes = allocate_array(outputs, sizeof *builder.output_nodes);
    builder.is_output = allocate_array(count, sizeof *builder.is_output);
    builder.order = allocate_array(count, sizeof *builder.order);
    builder.position = allocate_array(count, sizeof *builder.position);
    builder.widths = allocate_array(count, sizeof *builder.widths);
    if (builder.ops == NULL || builder.inputs == NULL || builder.params == NULL
        || builder.output_nodes == NULL || builder.is_output == NULL || builder.order == NULL
        || builder.position == NULL || builder.widths == NULL) {
        status = out_of_memory(&builder);
        goto cleanup;
    }

    status = check_inputs(&builder);
    if (status == NNB_OK)
        status = index_names(&builder);
    if (status == NNB_OK)
        status = resolve_nodes(&builder);
    if (status == NNB_OK)
        status = resolve_outputs(&builder);
    if (status == NNB_OK)
        status = order_nodes(&builder);
    if (status == NNB_OK)
        status = infer_widths(&builder);
    if (status == NNB_OK)
        status = assemble_model(&builder, model);

cleanup:
    free(builder.widths);
    free(builder.position);
    free(builder.order);
    free(builder.is_output);
    free(builder.output_nodes);
    free(builder.params);
    free(builder.inputs);
    free(builder.ops);
    free(builder.names);
    return status;
}

/* ---- Models ------------------------------------------------------------- */

int nnb_graph_node_needs_labels(const nnb_model *model, int node)
{
    /* Walk back through the values the node reads: nodes read only earlier
     * nodes, so the walk ends at the graph inputs. The last node input is
     * followed in the loop and any earlier ones by recursion. NOTE: every
     * current op reads at most one node, so the walk is a single chain. An
     * op that reads two nodes would make it visit shared ancestors once per
     * path. */
    while (node >= 0 && node < model->node_count) {
        const nnb_node *current = &model->nodes[node];
        int next = -1;
        for (int slot = 0; slot < current->input_count; slot++) {
            int value = current->inputs[slot];
            if (value == NNB_VALUE_LABELS)
                return 1;
            if (value >= 0) {
                if (next >= 0 && nnb_graph_node_needs_labels(model, next))
                    return 1;
                next = value;
            }
        }
        node = next;
    }
    return 0;
}

void nnb_model_free(nnb_model *model)
{
    if (model == NULL)
        return;
    if (model->nodes != NULL) {
        for (int i = 0; i < model->node_count; i++) {
            free(model->nodes[i].name);
            free(model->nodes[i].weight);
            free(model->nodes[i].bias);
        }
    }
    free(model->nodes);
    free(model->outputs);
    free(model->labels_name);
    free(model->features_name);
    free(model->source);
    free(model->origin);
    free(model);
}

/* The accessors below return 0, NULL or -1 (as the type allows) for an index
 * out of range instead of reading past the arrays. */

int64_t nnb_model_input_width(const nnb_model *model)
{
    return model->input_width;
}

int64_t nnb_model_label_classes(const nnb_model *model)
{
    return model->label_classes;
}

int nnb_model_output_count(const nnb_model *model)
{
    return model->output_count;
}

static int valid_output(const nnb_model *model, int index)
{
    return index >= 0 && index < model->output_count;
}

static int valid_node(const nnb_model *model, int index)
{
    return index >= 0 && index < model->node_count;
}

const char *nnb_model_output_name(const nnb_model *model, int index)
{
    return valid_output(model, index) ? model->nodes[model->outputs[index]].name : NULL;
}

int64_t nnb_model_output_width(const nnb_model *model, int index)
{
    return valid_output(model, index) ? model->nodes[model->outputs[index]].width : 0;
}

int nnb_model_output_needs_labels(const nnb_model *model, int index)
{
    if (!valid_output(model, index))
        return 0;
    return nnb_graph_node_needs_labels(model, model->outputs[index]);
}

double nnb_model_flops_per_row(const nnb_model *model)
{
    return model->flops_per_row;
}

int64_t nnb_model_parameter_count(const nnb_model *model)
{
    return model->parameter_count;
}

int nnb_model_node_count(const nnb_model *model)
{
    return model->node_count;
}

const char *nnb_model_node_name(const nnb_model *model, int index)
{
    return valid_node(model, index) ? model->nodes[index].name : NULL;
}

/* Returns NNB_OP_COUNT for an index out of range. */
nnb_op nnb_model_node_op(const nnb_model *model, int index)
{
    return valid_node(model, index) ? model->nodes[index].op : NNB_OP_COUNT;
}

int64_t nnb_model_node_width(const nnb_model *model, int index)
{
    return valid_node(model, index) ? model->nodes[index].width : 0;
}

const char *nnb_model_node_input(const nnb_model *model, int index, int slot)
{
    if (!valid_node(model, index))
        return NULL;
    const nnb_node *node = &model->nodes[index];
    if (slot < 0 || slot >= node->input_count)
        return NULL;

    int value = node->inputs[slot];
    if (value == NNB_VALUE_FEATURES)
        return model->features_name;
    if (value == NNB_VALUE_LABELS)
        return model->labels_name;
    return model->nodes[value].name;
}
