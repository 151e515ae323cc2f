/* Oracles shared by the model fuzz targets: what a finished nnb_model_load()
 * must satisfy, whether it succeeded or failed. */
#ifndef NNB_FUZZ_MODEL_H
#define NNB_FUZZ_MODEL_H

#include "nnbatch.h"

/* Check the result of nnb_model_load(path, &model, &error): on success a
 * model and NNB_OK; on failure no model and an error record holding the same
 * status, a load-time status code and a message that starts with `path`.
 * Aborts (a crash for libFuzzer) when a check fails. */
void fuzz_check_load_result(const char *target, const char *path, nnb_status status,
                            const nnb_model *model, const nnb_error *error);

/* Check the invariants of a loaded model through the public accessors and
 * the struct in graph/graph.h. Nodes come in topological order and every
 * width is at least 1. Each matmul and bias has parameters of the matching
 * shape, the outputs name distinct nodes, and the class count is set exactly
 * when there is a cross_entropy node. Aborts when one fails. */
void fuzz_check_model(const char *target, const nnb_model *model);

#endif
