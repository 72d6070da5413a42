/* cl_err.h - the one error type: a stable code, the field at fault, a sentence. */
#ifndef CL_ERR_H
#define CL_ERR_H

#include <stdarg.h>
#include "caseloop/v1/common.pb-c.h"

#define CL_WARN_UNUSED __attribute__((warn_unused_result))

typedef Caseloop__V1__ErrorCode cl_code_t;

#define CL_OK CASELOOP__V1__ERROR_CODE__ERROR_CODE_UNSPECIFIED
#define CL_INVALID_ARGUMENT CASELOOP__V1__ERROR_CODE__INVALID_ARGUMENT
#define CL_NOT_FOUND CASELOOP__V1__ERROR_CODE__NOT_FOUND
#define CL_PERMISSION_DENIED CASELOOP__V1__ERROR_CODE__PERMISSION_DENIED
#define CL_CONFLICT CASELOOP__V1__ERROR_CODE__CONFLICT
#define CL_UNAVAILABLE CASELOOP__V1__ERROR_CODE__UNAVAILABLE
#define CL_RESOURCE_EXHAUSTED CASELOOP__V1__ERROR_CODE__RESOURCE_EXHAUSTED
#define CL_UNIMPLEMENTED CASELOOP__V1__ERROR_CODE__UNIMPLEMENTED
#define CL_INTERNAL CASELOOP__V1__ERROR_CODE__INTERNAL
/* Not a code of the wire, never in a reply: a wait its caller stopped (cl_client_stop_on). */
#define CL_CANCELLED ((cl_code_t)100)

typedef struct {
    cl_code_t code;     /* CL_OK when no error */
    char field[64];     /* the field at fault, "" when none */
    char message[256];  /* one lowercase sentence */
} cl_err_t;

/* Fills err (when not NULL) and returns -1, so callers can `return cl_err_set(...)`. */
int cl_err_set(cl_err_t *err, cl_code_t code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Clears err to CL_OK. */
void cl_err_clear(cl_err_t *err);

/* The stable name of a code ("INVALID_ARGUMENT"), never NULL. */
const char *cl_err_code_name(cl_code_t code);

#endif
