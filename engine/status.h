/* Status codes and error messages shared by every module. */
#ifndef NNB_STATUS_H
#define NNB_STATUS_H

#include "nnbatch.h"

/* Store `status` and a printf-formatted message in `error` (which may be
 * NULL) and return `status`, so a failure path reads
 * `return nnb_error_set(error, NNB_ERR_IO, "...", ...);`. */
nnb_status nnb_error_set(nnb_error *error, nnb_status status, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* Reset `error` (which may be NULL) to NNB_OK with an empty message. */
void nnb_error_clear(nnb_error *error);

#endif
