/* cl_db.h - libpq wrapper: parameters only, reconnect with backoff, UNAVAILABLE while the database is down. */
#ifndef CL_DB_H
#define CL_DB_H

#include <stdbool.h>
#include <libpq-fe.h>
#include "cl_err.h"

typedef struct cl_db cl_db_t;

/* A handle for conninfo (libpq keyword/value or URI); connects lazily. NULL on no memory. */
cl_db_t *cl_db_new(const char *conninfo, const char *application_name);

/* Closes the connection and frees; *db_p may be NULL; sets it to NULL. */
void cl_db_destroy(cl_db_t **db_p);

/* Makes sure there is a connection. While the database is down it tries again
   only when the backoff (100 ms doubling to 5 s) has passed, and otherwise
   answers at once. Returns 0, or -1 with err UNAVAILABLE. */
int cl_db_connect(cl_db_t *db, cl_err_t *err) CL_WARN_UNUSED;

/* True while connected. */
bool cl_db_up(const cl_db_t *db);

/* Runs one statement with text parameters ($1..$n; NULL is SQL NULL) and
   returns its result, in text (binary false) or binary form. A statement
   with parameters is prepared on the connection the first time it runs, so
   that the server parses it once (and caches its plan); a new connection
   prepares again. On failure
   returns NULL with err: UNAVAILABLE when the connection is lost (so also
   when libpq, not the server, reports the failure: no SQLSTATE), the server
   is shutting down, read-only (after a failover) or out of resources (the
   connection is dropped, to be made again by cl_db_connect), else INTERNAL; the SQLSTATE
   is kept for cl_db_sqlstate. The caller PQclears the result. */
PGresult *cl_db_exec(cl_db_t *db, const char *sql, int n, const char *const *params, bool binary,
                     cl_err_t *err) CL_WARN_UNUSED;

/* cl_db_exec with each parameter's length and format (formats[i] 1: binary,
   lengths[i] bytes; 0: text); lengths and formats may be NULL for all text. */
PGresult *cl_db_exec_formats(cl_db_t *db, const char *sql, int n, const char *const *params, const int *lengths,
                             const int *formats, bool binary, cl_err_t *err) CL_WARN_UNUSED;

/* cl_db_exec for statements whose rows are not needed. Returns 0 or -1. */
int cl_db_cmd(cl_db_t *db, const char *sql, int n, const char *const *params, cl_err_t *err) CL_WARN_UNUSED;

int cl_db_begin(cl_db_t *db, cl_err_t *err) CL_WARN_UNUSED;
int cl_db_commit(cl_db_t *db, cl_err_t *err) CL_WARN_UNUSED;
/* Rolls back if a transaction is open; never fails the caller. */
void cl_db_rollback(cl_db_t *db);

/* A malloc'd copy of a text result value (aborts on no memory). */
char *cl_db_strdup(const PGresult *res, int row, int col);

/* SQLSTATE of the last failed statement ("" if none): "23505" unique violation, ... */
const char *cl_db_sqlstate(const cl_db_t *db);

/* True when the last failure is worth retrying the whole transaction for
   (unique violation from a concurrent writer, serialization failure, deadlock). */
bool cl_db_retryable(const cl_db_t *db);

#endif
