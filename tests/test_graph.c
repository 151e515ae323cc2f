/*
 * Suite "graph": builds model descriptions in memory (no HDF5) and checks
 * nnb_graph_build(): shape inference, execution order, counts, and one
 * message per kind of invalid graph.
 */
#include "graph/graph.h"
#include "graph/ops.h"
#include "suites.h"

#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SOURCE "test-graph.h5"

/* ---- Description builders ------------------------------------------------ */

static void *allocate_or_abort(void *pointer)
{
    if (pointer == NULL)
        abort();
    return pointer;
}

static char *copy_text(const char *text)
{
    return allocate_or_abort(strdup(text));
}

static void add_input(nnb_graph_desc *desc, const char *name, nnb_input_role role, int64_t width)
{
    desc->inputs = allocate_or_abort(
        realloc(desc->inputs, (size_t)(desc->input_count + 1) * sizeof *desc->inputs));
    nnb_input_desc *input = &desc->inputs[desc->input_count++];
    input->name = copy_text(name);
    input->role = role;
    input->width = width;
}

/* Append a node reading `first` and `second` (either may be NULL for fewer
 * inputs). The pointer returned is valid until the next add_node(). */
static nnb_node_desc *add_node(nnb_graph_desc *desc, const char *name, const char *op,
                               const char *first, const char *second)
{
    desc->nodes = allocate_or_abort(
        realloc(desc->nodes, (size_t)(desc->node_count + 1) * sizeof *desc->nodes));
    nnb_node_desc *node = &desc->nodes[desc->node_count++];
    memset(node, 0, sizeof *node);
    node->name = copy_text(name);
    node->op = copy_text(op);
    node->inputs = allocate_or_abort(calloc(2, sizeof *node->inputs));
    if (first != NULL)
        node->inputs[node->input_count++] = copy_text(first);
    if (second != NULL)
        node->inputs[node->input_count++] = copy_text(second);
    return node;
}

/* Append a parameter of shape (rows) or (rows, cols) holding 0.25, 0.5, ...
 * so tests can check that values arrive in row-major order. */
static void add_param(nnb_node_desc *node, const char *name, int rank, int64_t rows, int64_t cols)
{
    node->params = allocate_or_abort(
        realloc(node->params, (size_t)(node->param_count + 1) * sizeof *node->params));
    nnb_param_desc *param = &node->params[node->param_count++];
    memset(param, 0, sizeof *param);
    param->name = copy_text(name);
    param->rank = rank;
    param->dims[0] = rows;
    param->dims[1] = rank >= 2 ? cols : 0;

    int64_t elements = rank >= 2 ? rows * cols : rows;
    if (elements > 0) {
        param->data = allocate_or_abort(malloc((size_t)elements * sizeof(float)));
        for (int64_t k = 0; k < elements; k++)
            param->data[k] = 0.25f * (float)(k + 1);
    }
}

static void add_output(nnb_graph_desc *desc, const char *name)
{
    desc->outputs = allocate_or_abort(
        realloc(desc->outputs, (size_t)(desc->output_count + 1) * sizeof *desc->outputs));
    desc->outputs[desc->output_count++] = copy_text(name);
}

static nnb_node_desc *find_node_desc(nnb_graph_desc *desc, const char *name)
{
    for (int i = 0; i < desc->node_count; i++) {
        if (strcmp(desc->nodes[i].name, name) == 0)
            return &desc->nodes[i];
    }
    CU_FAIL_FATAL("test description has no node with this name");
    return NULL;
}

static void replace_text(char **text, const char *value)
{
    free(*text);
    *text = copy_text(value);
}

/* The nodes of a 2-3-2 MLP with a probability output and a loss output, in
 * execution order. */
typedef struct node_spec {
    const char *name;
    const char *op;
    const char *first;
    const char *second;
    const char *param;
    int rank;
    int64_t rows;
    int64_t cols;
} node_spec;

static const node_spec mlp_nodes[] = {
    {"dense1", "matmul", "x", NULL, "weight", 2, 2, 3},
    {"dense1_bias", "bias", "dense1", NULL, "bias", 1, 3, 0},
    {"hidden", "relu", "dense1_bias", NULL, NULL, 0, 0, 0},
    {"dense2", "matmul", "hidden", NULL, "weight", 2, 3, 2},
    {"logits", "bias", "dense2", NULL, "bias", 1, 2, 0},
    {"probabilities", "softmax", "logits", NULL, NULL, 0, 0, 0},
    {"loss", "cross_entropy", "probabilities", "labels", NULL, 0, 0, 0},
};
#define MLP_NODE_COUNT ((int)(sizeof mlp_nodes / sizeof mlp_nodes[0]))

/* Describe the MLP with its nodes in execution order, or in reverse. */
static void describe_mlp(nnb_graph_desc *desc, int reversed)
{
    memset(desc, 0, sizeof *desc);
    desc->source = copy_text(SOURCE);
    add_input(desc, "x", NNB_INPUT_FEATURES, 2);
    add_input(desc, "labels", NNB_INPUT_LABELS, 0);

    for (int k = 0; k < MLP_NODE_COUNT; k++) {
        const node_spec *spec = &mlp_nodes[reversed ? MLP_NODE_COUNT - 1 - k : k];
        nnb_node_desc *node = add_node(desc, spec->name, spec->op, spec->first, spec->second);
        if (spec->param != NULL)
            add_param(node, spec->param, spec->rank, spec->rows, spec->cols);
    }
    add_output(desc, "probabilities");
    add_output(desc, "loss");
}

static int find_model_node(const nnb_model *model, const char *name)
{
    for (int i = 0; i < nnb_model_node_count(model); i++) {
        if (strcmp(nnb_model_node_name(model, i), name) == 0)
            return i;
    }
    return -1;
}

/* Build `desc`, expect NNB_ERR_MODEL with a message that starts with the
 * source path and contains each of `expected` (NULL-terminated), then
 * destroy `desc`. */
static void expect_model_error(nnb_graph_desc *desc, const char *const *expected)
{
    nnb_model *model = NULL;
    nnb_error error;
    memset(&error, 0, sizeof error);

    nnb_status status = nnb_graph_build(desc, &model, &error);
    CU_ASSERT_EQUAL(status, NNB_ERR_MODEL);
    CU_ASSERT_EQUAL(error.status, NNB_ERR_MODEL);
    CU_ASSERT_PTR_NULL(model);
    CU_ASSERT_EQUAL(strncmp(error.message, SOURCE ": ", strlen(SOURCE ": ")), 0);
    CU_ASSERT_PTR_NULL(strchr(error.message, '\n'));
    for (int k = 0; expected[k] != NULL; k++) {
        if (strstr(error.message, expected[k]) == NULL) {
            CU_FAIL("message lacks an expected part");
            fprintf(stderr, "\n  message: %s\n  expected to contain: %s\n", error.message,
                    expected[k]);
        }
    }

    nnb_model_free(model);
    nnb_graph_desc_destroy(desc);
}

/* ---- Valid graphs ------------------------------------------------------- */

static void test_mlp_builds(void)
{
    nnb_graph_desc desc;
    describe_mlp(&desc, 0);
    const float *dense1_weight = desc.nodes[0].params[0].data;

    nnb_model *model = NULL;
    nnb_error error;
    memset(&error, 0, sizeof error);
    CU_ASSERT_EQUAL_FATAL(nnb_graph_build(&desc, &model, &error), NNB_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(model);

    CU_ASSERT_EQUAL(nnb_model_input_width(model), 2);
    CU_ASSERT_EQUAL(nnb_model_label_classes(model), 2);
    CU_ASSERT_EQUAL(nnb_model_node_count(model), MLP_NODE_COUNT);

    CU_ASSERT_EQUAL_FATAL(nnb_model_output_count(model), 2);
    CU_ASSERT_STRING_EQUAL(nnb_model_output_name(model, 0), "probabilities");
    CU_ASSERT_STRING_EQUAL(nnb_model_output_name(model, 1), "loss");
    CU_ASSERT_EQUAL(nnb_model_output_width(model, 0), 2);
    CU_ASSERT_EQUAL(nnb_model_output_width(model, 1), 1);
    CU_ASSERT_FALSE(nnb_model_output_needs_labels(model, 0));
    CU_ASSERT_TRUE(nnb_model_output_needs_labels(model, 1));
    CU_ASSERT_PTR_NULL(nnb_model_output_name(model, 2));

    static const int64_t widths[] = {3, 3, 3, 2, 2, 2, 1};
    for (int k = 0; k < MLP_NODE_COUNT; k++) {
        int index = find_model_node(model, mlp_nodes[k].name);
        CU_ASSERT_EQUAL(index, k);
        CU_ASSERT_EQUAL(nnb_model_node_width(model, index), widths[k]);
    }

    /* The 2 x 3 and 3 x 2 matmuls give 2 * (6 + 6) FLOPs per row, and the
     * weights and biases 6 + 3 + 6 + 2 parameters. */
    CU_ASSERT_DOUBLE_EQUAL(nnb_model_flops_per_row(model), 24.0, 0.0);
    CU_ASSERT_EQUAL(nnb_model_parameter_count(model), 17);
    CU_ASSERT_EQUAL(model->loss_node, 6);

    CU_ASSERT_EQUAL(nnb_model_node_op(model, 6), NNB_OP_CROSS_ENTROPY);
    CU_ASSERT_STRING_EQUAL(nnb_model_node_input(model, 6, 0), "probabilities");
    CU_ASSERT_STRING_EQUAL(nnb_model_node_input(model, 6, 1), "labels");
    CU_ASSERT_PTR_NULL(nnb_model_node_input(model, 6, 2));
    CU_ASSERT_STRING_EQUAL(nnb_model_node_input(model, 0, 0), "x");

    /* The weight array moved from the description into the model. */
    CU_ASSERT_PTR_NULL(desc.nodes[0].params[0].data);
    CU_ASSERT_PTR_EQUAL(model->nodes[0].weight, dense1_weight);
    CU_ASSERT_EQUAL(model->nodes[0].weight_rows, 2);
    CU_ASSERT_EQUAL(model->nodes[0].weight_cols, 3);
    CU_ASSERT_EQUAL(model->nodes[0].weight[5], 1.5f);
    CU_ASSERT_PTR_NOT_NULL(model->nodes[1].bias);
    CU_ASSERT_PTR_NULL(model->nodes[2].weight);

    nnb_model_free(model);
    nnb_graph_desc_destroy(&desc);
}

static void test_reverse_file_order(void)
{
    nnb_graph_desc desc;
    describe_mlp(&desc, 1);

    nnb_model *model = NULL;
    CU_ASSERT_EQUAL_FATAL(nnb_graph_build(&desc, &model, NULL), NNB_OK);

    /* A chain has one execution order: the MLP's. */
    for (int k = 0; k < MLP_NODE_COUNT; k++)
        CU_ASSERT_STRING_EQUAL(nnb_model_node_name(model, k), mlp_nodes[k].name);

    /* Every node reads graph inputs or earlier nodes. */
    for (int i = 0; i < model->node_count; i++) {
        for (int slot = 0; slot < model->nodes[i].input_count; slot++)
            CU_ASSERT(model->nodes[i].inputs[slot] < i);
    }
    CU_ASSERT_EQUAL(model->outputs[0], 5);
    CU_ASSERT_EQUAL(model->outputs[1], 6);
    CU_ASSERT_EQUAL(model->loss_node, 6);

    nnb_model_free(model);
    nnb_graph_desc_destroy(&desc);
}

static void test_ties_keep_file_order(void)
{
    /* "b" comes first in the file but reads "a". "c" and "a" are both ready
     * at the start, so they keep their file order. */
    nnb_graph_desc desc;
    memset(&desc, 0, sizeof desc);
    desc.source = copy_text(SOURCE);
    add_input(&desc, "x", NNB_INPUT_FEATURES, 4);
    add_node(&desc, "b", "tanh", "a", NULL);
    add_node(&desc, "c", "relu", "x", NULL);
    add_node(&desc, "a", "sigmoid", "x", NULL);
    add_output(&desc, "b");
    add_output(&desc, "c");

    nnb_model *model = NULL;
    CU_ASSERT_EQUAL_FATAL(nnb_graph_build(&desc, &model, NULL), NNB_OK);
    CU_ASSERT_STRING_EQUAL(nnb_model_node_name(model, 0), "c");
    CU_ASSERT_STRING_EQUAL(nnb_model_node_name(model, 1), "a");
    CU_ASSERT_STRING_EQUAL(nnb_model_node_name(model, 2), "b");
    CU_ASSERT_EQUAL(nnb_model_node_width(model, 2), 4);
    CU_ASSERT_EQUAL(nnb_model_label_classes(model), 0);
    CU_ASSERT_EQUAL(model->loss_node, -1);
    CU_ASSERT_DOUBLE_EQUAL(nnb_model_flops_per_row(model), 0.0, 0.0);
    CU_ASSERT_FALSE(nnb_model_output_needs_labels(model, 0));

    nnb_model_free(model);
    nnb_graph_desc_destroy(&desc);
}

static void test_op_names_round_trip(void)
{
    for (int i = 0; i < NNB_OP_COUNT; i++) {
        nnb_op op = NNB_OP_COUNT;
        CU_ASSERT_EQUAL(nnb_op_lookup(nnb_op_name((nnb_op)i), &op), 0);
        CU_ASSERT_EQUAL(op, (nnb_op)i);
    }
    CU_ASSERT_STRING_EQUAL(nnb_op_name(NNB_OP_CROSS_ENTROPY), "cross_entropy");
    CU_ASSERT_STRING_EQUAL(nnb_op_name(NNB_OP_COUNT), "unknown");

    nnb_op op = NNB_OP_COUNT;
    CU_ASSERT_EQUAL(nnb_op_lookup("Relu", &op), -1);
    CU_ASSERT_EQUAL(nnb_op_lookup(NULL, &op), -1);
}

/* ---- Invalid graphs, one test per kind ---------------------------------- */

static void test_unknown_op(void)
{
    nnb_graph_desc desc;
    describe_mlp(&desc, 0);
    replace_text(&find_node_desc(&desc, "hidden")->op, "gelu");
    expect_model_error(&desc, (const char *[]){"node 'hidden'", "unknown op 'gelu'", "relu", NULL});
}

static void test_missing_input_name(void)
{
    nnb_graph_desc desc;
    describe_mlp(&desc, 0);
    replace_text(&find_node_desc(&desc, "dense2")->inputs[0], "hiden");
    expect_model_error(&desc, (const char *[]){"node 'dense2' (matmul)", "'hiden'",
                                               "neither a graph input nor a node", NULL});
}

static void test_missing_parameter(void)
{
    nnb_graph_desc desc;
    describe_mlp(&desc, 0);
    replace_text(&find_node_desc(&desc, "dense1")->params[0].name, "kernel");
    expect_model_error(&desc, (const char *[]){"node 'dense1' (matmul)", "'kernel'", NULL});

    /* With the unknown dataset gone, the message names the missing one. */
    describe_mlp(&desc, 0);
    nnb_node_desc *dense1 = find_node_desc(&desc, "dense1");
    free(dense1->params[0].name);
    free(dense1->params[0].data);
    dense1->param_count = 0;
    expect_model_error(&desc, (const char *[]){"node 'dense1' (matmul)",
                                               "parameter 'weight' is missing", "(in, out)",
                                               NULL});
}

static void test_empty_parameter(void)
{
    nnb_graph_desc desc;
    describe_mlp(&desc, 0);
    nnb_node_desc *bias = find_node_desc(&desc, "logits");
    free(bias->params[0].data);
    bias->params[0].data = NULL;
    bias->params[0].dims[0] = 0;
    expect_model_error(&desc, (const char *[]){"node 'logits' (bias)", "shape (0)", "empty",
                                               NULL});
}

static void test_cycle(void)
{
    nnb_graph_desc desc;
    describe_mlp(&desc, 0);
    replace_text(&find_node_desc(&desc, "dense1")->inputs[0], "logits");
    expect_model_error(&desc, (const char *[]){"cycle", "'dense1' reads 'logits'",
                                               "'logits', which reads 'dense2'", NULL});

    /* A node that reads itself is the shortest cycle. */
    describe_mlp(&desc, 0);
    replace_text(&find_node_desc(&desc, "hidden")->inputs[0], "hidden");
    expect_model_error(&desc, (const char *[]){"node 'hidden' (relu) is on a cycle",
                                               "'hidden' reads 'hidden'", NULL});
}

static void test_duplicate_name(void)
{
    nnb_graph_desc desc;
    describe_mlp(&desc, 0);
    add_node(&desc, "x", "relu", "hidden", NULL);
    expect_model_error(&desc, (const char *[]){"node 'x'", "same name as a graph input", NULL});

    describe_mlp(&desc, 0);
    add_node(&desc, "hidden", "tanh", "dense1", NULL);
    expect_model_error(&desc, (const char *[]){"two nodes are named 'hidden'", NULL});
}

static void test_shape_mismatch(void)
{
    nnb_graph_desc desc;
    describe_mlp(&desc, 0);
    nnb_node_desc *dense2 = find_node_desc(&desc, "dense2");
    free(dense2->params[0].name);
    free(dense2->params[0].data);
    dense2->param_count = 0;
    add_param(dense2, "weight", 2, 4, 2);
    expect_model_error(&desc, (const char *[]){"node 'dense2' (matmul)", "shape (4, 2)",
                                               "input 'hidden' has width 3", NULL});

    describe_mlp(&desc, 0);
    find_node_desc(&desc, "logits")->params[0].dims[0] = 1;
    expect_model_error(&desc, (const char *[]){"node 'logits' (bias)", "shape (1)",
                                               "input 'dense2' has width 2", NULL});
}

static void test_wrong_rank(void)
{
    nnb_graph_desc desc;
    describe_mlp(&desc, 0);
    nnb_param_desc *bias = &find_node_desc(&desc, "dense1_bias")->params[0];
    bias->rank = 2;
    bias->dims[1] = 1;
    expect_model_error(&desc, (const char *[]){"node 'dense1_bias' (bias)", "has rank 2",
                                               "needs rank 1", NULL});
}

static void test_non_finite_parameter(void)
{
    nnb_graph_desc desc;
    describe_mlp(&desc, 0);
    find_node_desc(&desc, "dense2")->params[0].data[3] = NAN;
    expect_model_error(&desc, (const char *[]){"node 'dense2' (matmul)", "parameter 'weight'",
                                               "non-finite value (nan)", "flat index 3", NULL});

    describe_mlp(&desc, 0);
    find_node_desc(&desc, "logits")->params[0].data[0] = -INFINITY;
    expect_model_error(&desc, (const char *[]){"node 'logits' (bias)", "(-inf)", NULL});
}

static void test_wrong_input_count(void)
{
    nnb_graph_desc desc;
    describe_mlp(&desc, 0);
    nnb_node_desc *hidden = find_node_desc(&desc, "hidden");
    hidden->inputs[hidden->input_count++] = copy_text("x");
    expect_model_error(&desc, (const char *[]){"node 'hidden' (relu)", "has 2 inputs",
                                               "relu takes 1", NULL});
}

static void test_unused_parameter(void)
{
    nnb_graph_desc desc;
    describe_mlp(&desc, 0);
    add_param(find_node_desc(&desc, "hidden"), "weight", 2, 3, 3);
    expect_model_error(&desc, (const char *[]){"node 'hidden' (relu)", "parameter 'weight'",
                                               "does not use", NULL});
}

static void test_output_not_a_node(void)
{
    nnb_graph_desc desc;
    describe_mlp(&desc, 0);
    add_output(&desc, "x");
    expect_model_error(&desc, (const char *[]){"output 'x' is a graph input", NULL});

    describe_mlp(&desc, 0);
    add_output(&desc, "probs");
    expect_model_error(&desc, (const char *[]){"output 'probs' is not a node", NULL});

    describe_mlp(&desc, 0);
    add_output(&desc, "loss");
    expect_model_error(&desc, (const char *[]){"output 'loss' is listed twice", NULL});
}

static void test_no_outputs(void)
{
    nnb_graph_desc desc;
    describe_mlp(&desc, 0);
    for (int k = 0; k < desc.output_count; k++)
        free(desc.outputs[k]);
    desc.output_count = 0;
    expect_model_error(&desc, (const char *[]){"no outputs", "'outputs'", NULL});
}

static void test_features_input_rules(void)
{
    nnb_graph_desc desc;
    describe_mlp(&desc, 0);
    desc.inputs[0].role = NNB_INPUT_LABELS;
    expect_model_error(&desc, (const char *[]){"'labels'", "both have role 'labels'", NULL});

    describe_mlp(&desc, 0);
    free(desc.inputs[0].name);
    desc.inputs[0] = desc.inputs[1];
    desc.input_count = 1;
    expect_model_error(&desc, (const char *[]){"no input has role 'features'", NULL});

    describe_mlp(&desc, 0);
    add_input(&desc, "more", NNB_INPUT_FEATURES, 4);
    expect_model_error(&desc, (const char *[]){"inputs 'x' and 'more'", "exactly one", NULL});

    describe_mlp(&desc, 0);
    desc.inputs[0].width = 0;
    expect_model_error(&desc, (const char *[]){"input 'x' has width 0", "from 1 to", NULL});

    describe_mlp(&desc, 0);
    desc.inputs[0].width = INT64_MAX;
    expect_model_error(&desc, (const char *[]){"input 'x' has width 9223372036854775807",
                                               NULL});
}

static void test_cross_entropy_not_softmax(void)
{
    nnb_graph_desc desc;
    describe_mlp(&desc, 0);
    replace_text(&find_node_desc(&desc, "loss")->inputs[0], "logits");
    expect_model_error(&desc, (const char *[]){"node 'loss' (cross_entropy)",
                                               "'logits' is a bias node",
                                               "not a softmax node", NULL});

    describe_mlp(&desc, 0);
    replace_text(&find_node_desc(&desc, "loss")->inputs[1], "x");
    expect_model_error(&desc, (const char *[]){"node 'loss' (cross_entropy)",
                                               "must be the labels input", NULL});
}

static void test_labels_read_by_relu(void)
{
    nnb_graph_desc desc;
    describe_mlp(&desc, 0);
    replace_text(&find_node_desc(&desc, "hidden")->inputs[0], "labels");
    expect_model_error(&desc, (const char *[]){"node 'hidden' (relu)", "labels input",
                                               NULL});
}

static void test_two_cross_entropy_nodes(void)
{
    nnb_graph_desc desc;
    describe_mlp(&desc, 0);
    add_node(&desc, "loss2", "cross_entropy", "probabilities", "labels");
    expect_model_error(&desc, (const char *[]){"'loss' and 'loss2'", "at most one", NULL});
}

int nnb_test_register_graph(void)
{
    CU_pSuite suite = CU_add_suite("graph", NULL, NULL);
    if (suite == NULL)
        return -1;

    static const struct {
        const char *name;
        CU_TestFunc function;
    } tests[] = {
        {"MLP builds", test_mlp_builds},
        {"reverse file order", test_reverse_file_order},
        {"ties keep file order", test_ties_keep_file_order},
        {"op names round trip", test_op_names_round_trip},
        {"unknown op", test_unknown_op},
        {"missing input name", test_missing_input_name},
        {"missing parameter", test_missing_parameter},
        {"empty parameter", test_empty_parameter},
        {"cycle", test_cycle},
        {"duplicate name", test_duplicate_name},
        {"shape mismatch", test_shape_mismatch},
        {"wrong rank", test_wrong_rank},
        {"non-finite parameter", test_non_finite_parameter},
        {"wrong input count", test_wrong_input_count},
        {"unused parameter", test_unused_parameter},
        {"output not a node", test_output_not_a_node},
        {"no outputs", test_no_outputs},
        {"features input rules", test_features_input_rules},
        {"cross_entropy not reading softmax", test_cross_entropy_not_softmax},
        {"labels read by relu", test_labels_read_by_relu},
        {"two cross_entropy nodes", test_two_cross_entropy_nodes},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if (CU_add_test(suite, tests[i].name, tests[i].function) == NULL)
            return -1;
    }
    return 0;
}
