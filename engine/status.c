#include "status.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const status_names[] = {
    [NNB_OK] = "NNB_OK",
    [NNB_ERR_INVALID_ARGUMENT] = "NNB_ERR_INVALID_ARGUMENT",
    [NNB_ERR_NO_MEMORY] = "NNB_ERR_NO_MEMORY",
    [NNB_ERR_IO] = "NNB_ERR_IO",
    [NNB_ERR_FORMAT] = "NNB_ERR_FORMAT",
    [NNB_ERR_MODEL] = "NNB_ERR_MODEL",
    [NNB_ERR_SHAPE] = "NNB_ERR_SHAPE",
    [NNB_ERR_LABEL] = "NNB_ERR_LABEL",
    [NNB_ERR_CANCELLED] = "NNB_ERR_CANCELLED",
    [NNB_ERR_INTERNAL] = "NNB_ERR_INTERNAL",
};

const char *nnb_status_string(nnb_status status)
{
    if ((unsigned)status >= sizeof status_names / sizeof status_names[0])
        return "NNB_ERR_UNKNOWN";
    return status_names[status];
}

const char *nnb_version(void)
{
    return NNB_VERSION_STRING;
}

nnb_status nnb_error_set(nnb_error *error, nnb_status status, const char *format, ...)
{
    if (error == NULL)
        return status;

    error->status = status;
    va_list args;
    va_start(args, format);
    vsnprintf(error->message, sizeof error->message, format, args);
    va_end(args);
    return status;
}

void nnb_error_clear(nnb_error *error)
{
    if (error == NULL)
        return;
    error->status = NNB_OK;
    error->message[0] = '\0';
}
