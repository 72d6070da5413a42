/* cl_log.c - JSON-lines logger on stderr. */
#include "cl_log.h"
#include "cl_buf.h"
#include "cl_clock.h"
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *s_service = "caseloop";
static cl_log_level_t s_level = CL_LOG_INFO;
static const char *s_names[] = {"debug", "info", "warn", "error"};

int cl_log_init(const char *service, const char *level_name)
{
    s_service = service;
    for (int i = 0; i < 4; i++) {
        if (level_name && strcmp(level_name, s_names[i]) == 0) {
            s_level = (cl_log_level_t)i;
            return 0;
        }
    }
    return -1;
}

/* Appends s as a JSON string, escaping quotes, backslashes and control bytes. */
static void s_json_str(cl_buf_t *b, const char *s)
{
    cl_buf_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            cl_buf_printf(b, "\\%c", *p);
        else if (*p == '\n')
            cl_buf_puts(b, "\\n");
        else if (*p < 0x20)
            cl_buf_printf(b, "\\u%04x", *p);
        else
            cl_buf_append(b, p, 1);
    }
    cl_buf_puts(b, "\"");
}

void cl_log(cl_log_level_t lvl, const cl_log_ctx_t *ctx, const char *fmt, ...)
{
    if (lvl < s_level)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    int64_t now = cl_clock_now(cl_clock_real());
    time_t secs = (time_t)(now / CL_US_PER_S);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char ts[40];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);

    cl_buf_t b = {0};
    cl_buf_printf(&b, "{\"ts\":\"%s.%06" PRId64 "Z\",\"level\":\"%s\",\"service\":", ts,
                  now % CL_US_PER_S, s_names[lvl]);
    s_json_str(&b, s_service);
    cl_buf_puts(&b, ",\"msg\":");
    s_json_str(&b, msg);
    if (ctx && ctx->case_id)
        cl_buf_printf(&b, ",\"case\":%" PRId64, ctx->case_id);
    if (ctx && ctx->site) {
        cl_buf_puts(&b, ",\"site\":");
        s_json_str(&b, ctx->site);
    }
    if (ctx && ctx->code) {
        cl_buf_puts(&b, ",\"code\":");
        s_json_str(&b, ctx->code);
    }
    if (ctx && ctx->field) {
        cl_buf_puts(&b, ",\"field\":");
        s_json_str(&b, ctx->field);
    }
    cl_buf_puts(&b, "}\n");
    /* One write per line, so lines from several threads never interleave. */
    ssize_t rc = write(STDERR_FILENO, b.data, b.len);
    (void)rc;
    cl_buf_free(&b);
}
