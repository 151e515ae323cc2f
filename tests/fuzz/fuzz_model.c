#include "fuzz_model.h"

#include "fuzz_common.h"
#include "graph/graph.h"

#include <string.h>

void fuzz_check_load_result(const char *target, const char *path, nnb_status status,
                            const nnb_model *model, const nnb_error *error)
{
    if (status == NNB_OK) {
        fuzz_require(model != NULL, target, "nnb_model_load returned NNB_OK without a model");
        fuzz_log("%s: loaded: %d nodes, %d outputs, input width %lld", target,
                 nnb_model_node_count(model), nnb_model_output_count(model),
                 (long long)nnb_model_input_width(model));
        return;
    }

    fuzz_log("%s: %s: %s", target, nnb_status_string(status), error->message);
    fuzz_require(model == NULL, target, "nnb_model_load failed but returned a model");
    fuzz_require(error->status == status, target,
                 "the error record holds another status than the one returned");
    fuzz_require(status == NNB_ERR_IO || status == NNB_ERR_FORMAT || status == NNB_ERR_MODEL
                     || status == NNB_ERR_NO_MEMORY,
                 target, "nnb_model_load failed with a status that loading cannot cause");
    fuzz_require(memchr(error->message, '\0', sizeof error->message) != NULL, target,
                 "the error message is not NUL-terminated");
    fuzz_require(strncmp(error->message, path, strlen(path)) == 0, target,
                 "the error message does not start with the model path");
    fuzz_require(strchr(error->message, '\n') == NULL, target,
                 "the error message holds a newline; messages are one line");
}

/* Check node `index` of the model, whose nodes before it are checked. */
static void check_node(const char *target, const nnb_model *model, int index)
{
    const nnb_node *node = &model->nodes[index];
    fuzz_require(node->name != NULL && node->name[0] != '\0', target, "a node has no name");
    fuzz_require(node->op >= 0 && node->op < NNB_OP_COUNT, target, "a node has no valid op");
    fuzz_require(node->width >= 1, target, "a node has width less than 1");
    fuzz_require(node->input_count >= 1 && node->input_count <= NNB_MAX_NODE_INPUTS, target,
                 "a node reads no value or too many");

    for (int slot = 0; slot < node->input_count; slot++) {
        int value = node->inputs[slot];
        fuzz_require(value == NNB_VALUE_FEATURES || value == NNB_VALUE_LABELS
                         || (value >= 0 && value < index),
                     target, "a node reads a value that is not computed before it");
        fuzz_require(value != NNB_VALUE_LABELS || model->labels_name != NULL, target,
                     "a node reads labels but the model has no labels input");
        fuzz_require(nnb_model_node_input(model, index, slot) != NULL, target,
                     "nnb_model_node_input returned NULL for an existing input");
    }
    fuzz_require(nnb_model_node_input(model, index, node->input_count) == NULL, target,
                 "nnb_model_node_input returned a name past the last input");

    int64_t in_width = 0;
    if (node->inputs[0] == NNB_VALUE_FEATURES)
        in_width = model->input_width;
    else if (node->inputs[0] >= 0)
        in_width = model->nodes[node->inputs[0]].width;

    switch (node->op) {
    case NNB_OP_MATMUL:
        fuzz_require(node->weight != NULL && node->weight_rows == in_width
                         && node->weight_cols == node->width,
                     target, "a matmul's weight does not match its input and output widths");
        break;
    case NNB_OP_BIAS:
        fuzz_require(node->bias != NULL && node->width == in_width, target,
                     "a bias node has no bias or changes the width");
        break;
    case NNB_OP_CROSS_ENTROPY:
        fuzz_require(node->input_count == 2 && node->inputs[1] == NNB_VALUE_LABELS
                         && node->inputs[0] >= 0
                         && model->nodes[node->inputs[0]].op == NNB_OP_SOFTMAX
                         && node->width == 1,
                     target, "a cross_entropy node does not read [softmax, labels]");
        break;
    default:
        fuzz_require(node->weight == NULL && node->bias == NULL, target,
                     "a node without parameters holds a weight or bias");
        fuzz_require(node->width == in_width, target,
                     "an elementwise node changes the width of its input");
        break;
    }
}

void fuzz_check_model(const char *target, const nnb_model *model)
{
    fuzz_require(nnb_model_input_width(model) >= 1, target, "the input width is less than 1");
    fuzz_require(model->features_name != NULL, target, "the features input has no name");

    int count = nnb_model_node_count(model);
    fuzz_require(count >= 1, target, "a loaded model has no nodes");
    int loss_nodes = 0;
    for (int i = 0; i < count; i++) {
        check_node(target, model, i);
        loss_nodes += model->nodes[i].op == NNB_OP_CROSS_ENTROPY;
    }
    fuzz_require(nnb_model_node_name(model, count) == NULL, target,
                 "nnb_model_node_name returned a name past the last node");

    fuzz_require(loss_nodes <= 1, target, "a model has more than one cross_entropy node");
    fuzz_require((loss_nodes == 1) == (model->loss_node >= 0), target,
                 "loss_node does not match the cross_entropy nodes");
    fuzz_require((loss_nodes == 1) == (nnb_model_label_classes(model) > 0), target,
                 "the class count is set without a cross_entropy node, or missing with one");

    int outputs = nnb_model_output_count(model);
    fuzz_require(outputs >= 1, target, "a loaded model has no outputs");
    for (int k = 0; k < outputs; k++) {
        int node = model->outputs[k];
        fuzz_require(node >= 0 && node < count, target, "an output is not a node");
        for (int j = 0; j < k; j++)
            fuzz_require(model->outputs[j] != node, target, "a node is listed twice as output");
        fuzz_require(nnb_model_output_name(model, k) != NULL, target, "an output has no name");
        fuzz_require(nnb_model_output_width(model, k) == model->nodes[node].width, target,
                     "an output's width is not its node's width");
        (void)nnb_model_output_needs_labels(model, k);
    }
    fuzz_require(nnb_model_output_name(model, outputs) == NULL, target,
                 "nnb_model_output_name returned a name past the last output");
}
