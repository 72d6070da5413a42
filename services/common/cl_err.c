/* cl_err.c - the one error type. */
#include "cl_err.h"
#include <stdio.h>
#include <string.h>

int cl_err_set(cl_err_t *err, cl_code_t code, const char *field, const char *fmt, ...)
{
    if (!err)
        return -1;
    err->code = code;
    snprintf(err->field, sizeof err->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

void cl_err_clear(cl_err_t *err)
{
    memset(err, 0, sizeof *err);
}

const char *cl_err_code_name(cl_code_t code)
{
    if (code == CL_CANCELLED)
        return "CANCELLED";
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&caseloop__v1__error_code__descriptor, (int)code);
    return v ? v->name : "UNKNOWN";
}
