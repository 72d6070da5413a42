/* cl_buf.h - a growable byte buffer, and PostgreSQL array literals built in it. */
#ifndef CL_BUF_H
#define CL_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef struct {
    char *data;    /* always NUL-terminated when cap > 0 */
    size_t len;
    size_t cap;
} cl_buf_t;

/* Buffers start zeroed ({0}); cl_buf_free releases and re-zeroes. Allocation
   failure aborts: a service out of memory cannot answer anyone anyway. */
void cl_buf_free(cl_buf_t *b);
void cl_buf_reset(cl_buf_t *b);
void cl_buf_reserve(cl_buf_t *b, size_t extra);
void cl_buf_append(cl_buf_t *b, const void *data, size_t len);
void cl_buf_puts(cl_buf_t *b, const char *s);
void cl_buf_printf(cl_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends the whole file at path (b->data is then NUL-terminated, an empty
   file too). Returns 0, or -1 with errno set when it cannot be opened or read
   (what was read stays in b). */
int cl_buf_read_file(cl_buf_t *b, const char *path);

/* PostgreSQL array literal ("{...}") for one $n parameter of type text[],
   bigint[], bool[] or bytea[]. Call cl_pgarr_begin, add elements, then
   cl_pgarr_end; the literal is b->data. */
void cl_pgarr_begin(cl_buf_t *b);
void cl_pgarr_text(cl_buf_t *b, const char *s);            /* NULL adds SQL NULL */
void cl_pgarr_i64(cl_buf_t *b, int64_t v);
void cl_pgarr_bool(cl_buf_t *b, bool v);
void cl_pgarr_bytea(cl_buf_t *b, const void *data, size_t len);
void cl_pgarr_end(cl_buf_t *b);

#endif
