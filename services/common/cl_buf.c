/* cl_buf.c - growable byte buffer and PostgreSQL array literals. */
#include "cl_buf.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>

void cl_buf_free(cl_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void cl_buf_reset(cl_buf_t *b)
{
    b->len = 0;
    if (b->cap)
        b->data[0] = '\0';
}

void cl_buf_reserve(cl_buf_t *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        abort();
    b->data = p;
    b->cap = cap;
}

void cl_buf_append(cl_buf_t *b, const void *data, size_t len)
{
    cl_buf_reserve(b, len);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void cl_buf_puts(cl_buf_t *b, const char *s)
{
    cl_buf_append(b, s, strlen(s));
}

void cl_buf_printf(cl_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    cl_buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

int cl_buf_read_file(cl_buf_t *b, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char chunk[8192];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
        cl_buf_append(b, chunk, got);
    /* the failed fread set errno (EISDIR for a folder): keep it for the caller */
    int failed = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    cl_buf_append(b, "", 0); /* NUL-terminated, an empty file too */
    if (failed) {
        errno = failed;
        return -1;
    }
    return 0;
}

void cl_pgarr_begin(cl_buf_t *b)
{
    cl_buf_reset(b);
    cl_buf_puts(b, "{");
}

static void s_sep(cl_buf_t *b)
{
    if (b->len > 1)
        cl_buf_puts(b, ",");
}

void cl_pgarr_text(cl_buf_t *b, const char *s)
{
    s_sep(b);
    if (!s) {
        cl_buf_puts(b, "NULL");
        return;
    }
    /* Quoted element: backslash and double quote are escaped, all else verbatim. */
    cl_buf_reserve(b, strlen(s) + 2);
    cl_buf_puts(b, "\"");
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\')
            cl_buf_append(b, "\\", 1);
        cl_buf_append(b, p, 1);
    }
    cl_buf_puts(b, "\"");
}

void cl_pgarr_i64(cl_buf_t *b, int64_t v)
{
    s_sep(b);
    cl_buf_printf(b, "%" PRId64, v);
}

void cl_pgarr_bool(cl_buf_t *b, bool v)
{
    s_sep(b);
    cl_buf_puts(b, v ? "t" : "f");
}

void cl_pgarr_bytea(cl_buf_t *b, const void *data, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = data;
    s_sep(b);
    /* "\\x..." inside the array literal is the bytea hex input \x... */
    cl_buf_reserve(b, len * 2 + 6);
    cl_buf_puts(b, "\"\\\\x");
    for (size_t i = 0; i < len; i++) {
        char h[2] = {hex[p[i] >> 4], hex[p[i] & 15]};
        cl_buf_append(b, h, 2);
    }
    cl_buf_puts(b, "\"");
}

void cl_pgarr_end(cl_buf_t *b)
{
    cl_buf_puts(b, "}");
}
