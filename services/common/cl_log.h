/* cl_log.h - the one logger: JSON lines on stderr with ts, level, service, msg and context. */
#ifndef CL_LOG_H
#define CL_LOG_H

#include <stdint.h>

typedef enum { CL_LOG_DEBUG = 0, CL_LOG_INFO, CL_LOG_WARN, CL_LOG_ERROR } cl_log_level_t;

/* Optional context of a line; zero / NULL members are left out. */
typedef struct {
    int64_t case_id;
    const char *site;
    const char *code;   /* an error code name */
    const char *field;  /* the field at fault */
} cl_log_ctx_t;

/* Names the service in every line and sets the lowest level written.
   Returns 0, or -1 when level_name is not debug|info|warn|error. */
int cl_log_init(const char *service, const char *level_name);

/* Writes one line when lvl is at or above the level set; ctx may be NULL. */
void cl_log(cl_log_level_t lvl, const cl_log_ctx_t *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
