/* cl_timer.c - durable timers: claim, re-arm, and the wake-up rule of their workers. */
#include "cl_timer.h"
#include "cl_sql.h"
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a worker sleeps towards: BUSY while it fires (nothing wakes it), LOOKING while
   it reads the next due time (anything armed wakes it), else the moment it wakes. */
#define BUSY INT64_MIN
#define LOOKING INT64_MAX

struct cl_timer {
    char *table, *key, *due;
    size_t nworkers;
    _Atomic int64_t *towards;   /* per worker */
};

cl_timer_t *cl_timer_new(const char *table, const char *key, const char *due, size_t nworkers)
{
    cl_timer_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->table = strdup(table);
    self->key = strdup(key);
    self->due = strdup(due);
    self->nworkers = nworkers;
    self->towards = calloc(nworkers ? nworkers : 1, sizeof *self->towards);
    if (!self->table || !self->key || !self->due || !self->towards) {
        cl_timer_destroy(&self);
        return NULL;
    }
    for (size_t i = 0; i < nworkers; i++)
        atomic_init(&self->towards[i], BUSY);
    return self;
}

void cl_timer_destroy(cl_timer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cl_timer_t *self = *self_p;
    free(self->table);
    free(self->key);
    free(self->due);
    free((void *)self->towards);
    free(self);
    *self_p = NULL;
}

/* --- in the database ------------------------------------------------------------------ */

PGresult *cl_timer_claim(const cl_timer_t *self, cl_db_t *db, const char *columns, int64_t now_us, int64_t limit,
                         cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_int(&p, now_us);
    cl_sql_int(&p, limit);
    cl_buf_t sql = {0};
    cl_buf_printf(&sql,
                  "SELECT %s FROM %s WHERE %s <= cl_us_to_ts($1::bigint) ORDER BY %s LIMIT $2::int"
                  " FOR UPDATE OF %s SKIP LOCKED",
                  columns, self->table, self->due, self->due, self->table);
    PGresult *res = cl_sql_exec(db, sql.data, &p, err);
    cl_buf_free(&sql);
    return res;
}

void cl_timer_batch_begin(cl_timer_batch_t *b, const cl_timer_col_t *cols)
{
    memset(b, 0, sizeof *b);
    b->cols = cols;
    while (cols && cols[b->ncols].name && b->ncols < CL_TIMER_MAX_COLS)
        b->ncols++;
    b->earliest = INT64_MAX;
    cl_pgarr_begin(&b->key);
    cl_pgarr_begin(&b->due);
    for (size_t k = 0; k < b->ncols; k++)
        cl_pgarr_begin(&b->col[k]);
}

cl_buf_t *cl_timer_batch_add(cl_timer_batch_t *b, int64_t key, int64_t due_us)
{
    cl_pgarr_i64(&b->key, key);
    if (due_us < 0) {
        cl_pgarr_text(&b->due, NULL);
    } else {
        cl_pgarr_i64(&b->due, due_us);
        if (due_us < b->earliest)
            b->earliest = due_us;
    }
    b->n++;
    return b->col;
}

void cl_timer_batch_free(cl_timer_batch_t *b)
{
    cl_buf_free(&b->key);
    cl_buf_free(&b->due);
    for (size_t k = 0; k < CL_TIMER_MAX_COLS; k++)
        cl_buf_free(&b->col[k]);
    b->n = 0;
}

int cl_timer_rearm(const cl_timer_t *self, cl_db_t *db, cl_timer_batch_t *b, const char *set, cl_err_t *err)
{
    if (b->n == 0)
        return 0;
    const char *p[2 + CL_TIMER_MAX_COLS];
    cl_buf_t sql = {0}, types = {0}, names = {0};
    cl_pgarr_end(&b->key);
    cl_pgarr_end(&b->due);
    p[0] = b->key.data;
    p[1] = b->due.data;
    for (size_t k = 0; k < b->ncols; k++) {
        cl_pgarr_end(&b->col[k]);
        p[2 + k] = b->col[k].data;
        cl_buf_printf(&types, ", $%zu::%s[]", k + 3, b->cols[k].type);
        cl_buf_printf(&names, ", %s", b->cols[k].name);
    }
    cl_buf_printf(&sql,
                  "UPDATE %s SET %s = cl_us_to_ts(u.timer_due)%s%s FROM unnest($1::bigint[], $2::bigint[]%s)"
                  " AS u(timer_key, timer_due%s) WHERE %s.%s = u.timer_key",
                  self->table, self->due, set ? ", " : "", set ? set : "", types.data ? types.data : "",
                  names.data ? names.data : "", self->table, self->key);
    int rc = cl_db_cmd(db, sql.data, (int)(2 + b->ncols), p, err);
    cl_buf_free(&sql);
    cl_buf_free(&types);
    cl_buf_free(&names);
    return rc;
}

/* --- the wake-up rule --------------------------------------------------------------------- */

bool cl_timer_wakes(int64_t towards, int64_t armed)
{
    return armed < towards;
}

void cl_timer_busy(cl_timer_t *self, size_t worker)
{
    if (worker < self->nworkers)
        atomic_store(&self->towards[worker], BUSY);
}

int cl_timer_next_due(cl_timer_t *self, size_t worker, cl_db_t *db, int64_t *due_us, cl_err_t *err)
{
    /* Looking before the read: what is armed after its snapshot wakes the worker. */
    if (worker < self->nworkers)
        atomic_store(&self->towards[worker], LOOKING);
    cl_buf_t sql = {0};
    cl_buf_printf(&sql, "SELECT cl_ts_to_us(min(%s)) AS due_us FROM %s", self->due, self->table);
    PGresult *res = cl_db_exec(db, sql.data, 0, NULL, false, err);
    cl_buf_free(&sql);
    if (!res)
        return -1;
    *due_us = cl_row_null(res, 0, "due_us") ? INT64_MAX : cl_row_int(res, 0, "due_us");
    PQclear(res);
    return 0;
}

void cl_timer_sleep(cl_timer_t *self, size_t worker, int64_t until_us)
{
    if (worker < self->nworkers)
        atomic_store(&self->towards[worker], until_us);
}

size_t cl_timer_armed(cl_timer_t *self, int64_t due_us, void (*wake)(void *arg, size_t worker), void *arg)
{
    size_t n = 0;
    for (size_t i = 0; i < self->nworkers; i++)
        if (cl_timer_wakes(atomic_load(&self->towards[i]), due_us)) {
            wake(arg, i);
            n++;
        }
    return n;
}
