/*
 * Reading Keras legacy HDF5 files (model.save() to .h5 and
 * model.save_weights() to .h5, Keras 1.x to 3.x) into graph descriptions.
 *
 * The model configuration (JSON) gives the layers; the weights are read
 * from model_weights/<layer>/ (model.save) or /<layer>/ (save_weights), in
 * the order and at the paths the layer's weight_names attribute lists.
 * Supported layers and the resulting nodes are described in
 * docs/model-format.md.
 */
#ifndef NNB_KERAS_H
#define NNB_KERAS_H

#include "graph/graph.h"
#include "nnbatch.h"

/* Largest model configuration read, in bytes, from the model_config
 * attribute or a --keras-config file. */
#define NNB_KERAS_MAX_CONFIG_BYTES (64 * 1024 * 1024)

/* Returns nonzero when `path` is an HDF5 file that looks like a Keras file.
 * Such a file has one of the root attributes keras_version, backend,
 * model_config, layer_names (or layer_names0), or a group model_weights. It
 * has no root attribute format, which marks nnbatch's own format. Returns 0
 * for any other file, including one that cannot be opened, so that the
 * caller's own reader reports the problem. */
int nnb_io_keras_detect(const char *path);

/* Read the Keras file at `path` into *desc (overwritten; on failure left
 * empty). `config_path` names a JSON file with the architecture, as written
 * by model.to_json(), or is NULL. It is required when the file contains
 * weights only, and takes precedence over the file's model_config otherwise.
 * On success *origin is a new string such as "Keras 2.3.1", for the caller
 * to free. Every message starts with the path of the file concerned. */
nnb_status nnb_io_keras_read(const char *path, const char *config_path, nnb_graph_desc *desc,
                             char **origin, nnb_error *error);

#endif
