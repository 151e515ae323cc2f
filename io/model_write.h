/*
 * Writing a loaded model as an nnbatch model file, format_version 1
 * (docs/model-format.md): how `nnbatch convert` turns an imported Keras
 * model into nnbatch's own format.
 */
#ifndef NNB_MODEL_WRITE_H
#define NNB_MODEL_WRITE_H

#include "nnbatch.h"

#endif
