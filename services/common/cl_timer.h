/* cl_timer.h - durable timers: rows of a table with a due time, claimed by N workers with
   FOR UPDATE SKIP LOCKED, re-armed in one statement a batch; each worker sleeps towards
   the earliest due time and is woken only when a due time earlier than that is armed. */
#ifndef CL_TIMER_H
#define CL_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cl_buf.h"
#include "cl_db.h"
#include "cl_err.h"

/* A table of timers: a bigint key column and a timestamptz due column, NULL while
   nothing is due, indexed where it is not NULL
   (CREATE INDEX ... ON table (due) WHERE due IS NOT NULL), and the workers of one
   process that fire them. */
typedef struct cl_timer cl_timer_t;

/* The timers of `table` keyed by `key`, due at `due`, fired by nworkers workers
   (0 .. nworkers-1). The three names are identifiers of the program's own, never
   input. Returns NULL on no memory. */
cl_timer_t *cl_timer_new(const char *table, const char *key, const char *due, size_t nworkers);

/* Frees; *self_p may be NULL; sets it to NULL. */
void cl_timer_destroy(cl_timer_t **self_p);

/* --- in the database ------------------------------------------------------------------ */

/* In db's open transaction: takes the rows due by now_us that no other transaction
   holds (FOR UPDATE SKIP LOCKED; locks they hold are passed over, never waited for),
   at most limit of them, earliest first, and returns `columns` of each (a select list
   over the table, the program's own text). Returns NULL with err on failure; the
   caller PQclears the result. */
PGresult *cl_timer_claim(const cl_timer_t *self, cl_db_t *db, const char *columns, int64_t now_us, int64_t limit,
                         cl_err_t *err) CL_WARN_UNUSED;

/* A column of the caller's own that a re-arming sets: u.<name> in its SET text, of
   SQL type <type> (each row's value is added with cl_pgarr_*). */
typedef struct {
    const char *name;
    const char *type;
} cl_timer_col_t;

#define CL_TIMER_MAX_COLS 8

/* Rows to re-arm in one statement: each row's next due time (or none) and the values
   of the caller's columns. */
typedef struct {
    const cl_timer_col_t *cols;    /* ended by {NULL, NULL} */
    size_t ncols;
    cl_buf_t key, due, col[CL_TIMER_MAX_COLS];
    size_t n;                      /* rows added */
    int64_t earliest;              /* the earliest due time added, INT64_MAX for none */
} cl_timer_batch_t;

/* Starts an empty batch whose rows carry the columns cols (at most CL_TIMER_MAX_COLS;
   NULL for none). */
void cl_timer_batch_begin(cl_timer_batch_t *b, const cl_timer_col_t *cols);

/* Adds the row with key `key`, due next at due_us (negative: nothing more is due).
   Returns the arrays of the caller's columns, b->col: one element is to be added to
   each, in the order of cols. */
cl_buf_t *cl_timer_batch_add(cl_timer_batch_t *b, int64_t key, int64_t due_us);

/* Releases the batch's memory. */
void cl_timer_batch_free(cl_timer_batch_t *b);

/* Sets the due time of each row of batch b, and runs `set` (assignments such as
   "stage = u.stage", where u.<name> are the caller's columns and the table its own
   name; NULL for none) on it, in one statement of db's transaction. The rows are
   then due as added: the arming side tells the workers with cl_timer_armed once it
   has committed (b->earliest). Does nothing for an empty batch. Returns 0, or -1
   with err. */
int cl_timer_rearm(const cl_timer_t *self, cl_db_t *db, cl_timer_batch_t *b, const char *set,
                   cl_err_t *err) CL_WARN_UNUSED;

/* --- the wake-up rule --------------------------------------------------------------------- */

/* The rule: a worker sleeping towards `towards` (the moment it wakes by itself) is
   woken by a due time armed at `armed` only when that is earlier. Pure. */
bool cl_timer_wakes(int64_t towards, int64_t armed);

/* Worker `worker` fires rows: nothing armed wakes it, as it looks at what is due
   (cl_timer_next_due) before it sleeps again. */
void cl_timer_busy(cl_timer_t *self, size_t worker);

/* Worker `worker` is about to sleep: sets *due_us to the earliest due time db shows
   (INT64_MAX when nothing is due). From the call on until cl_timer_sleep, any due
   time armed wakes the worker, so that one the answer missed is not slept through.
   Returns 0, or -1 with err. */
int cl_timer_next_due(cl_timer_t *self, size_t worker, cl_db_t *db, int64_t *due_us, cl_err_t *err) CL_WARN_UNUSED;

/* Worker `worker` sleeps until until_us (its next due time, or sooner: its idle
   period, a backoff): from now on only a due time armed before that wakes it. */
void cl_timer_sleep(cl_timer_t *self, size_t worker, int64_t until_us);

/* A due time due_us was armed and committed: calls wake(arg, worker) for each worker
   that the rule says it wakes. Returns how many. */
size_t cl_timer_armed(cl_timer_t *self, int64_t due_us, void (*wake)(void *arg, size_t worker), void *arg);

#endif
