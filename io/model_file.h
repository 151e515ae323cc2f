/*
 * Reading nnbatch model files (HDF5, layout in docs/model-format.md) into
 * graph descriptions. This module checks the file's structure and types;
 * nnb_graph_build() checks the graph itself.
 */
#ifndef NNB_MODEL_FILE_H
#define NNB_MODEL_FILE_H

#include "graph/graph.h"
#include "nnbatch.h"

/* Value of the root attribute @format. */
#define NNB_MODEL_FORMAT "nnbatch-model"
/* The only @format_version this reader accepts. */
#define NNB_MODEL_FORMAT_VERSION 1

/* Limits that reject a damaged or hostile file before it causes large
 * allocations. Graph inputs, nodes, parameters of a node and entries of a
 * string-list attribute each count at most NNB_MODEL_MAX_OBJECTS. Names and
 * the strings read from attributes hold at most NNB_MODEL_MAX_NAME bytes. */
#define NNB_MODEL_MAX_OBJECTS 65536
#define NNB_MODEL_MAX_NAME 256

/* Read the model file at `path` into *desc without checking the graph. *desc
 * is overwritten. On success the caller releases it with
 * nnb_graph_desc_destroy(); on failure it is left empty. Fails with
 * NNB_ERR_IO when the file is missing or cannot be opened or read,
 * NNB_ERR_FORMAT when it is not an nnbatch model or an attribute or dataset
 * has the wrong type, and NNB_ERR_NO_MEMORY. Every message starts with
 * `path`. HDF5's error-stack printing is off during the call and restored
 * afterwards, so nothing is printed. */
nnb_status nnb_io_model_read(const char *path, nnb_graph_desc *desc, nnb_error *error);

#endif
