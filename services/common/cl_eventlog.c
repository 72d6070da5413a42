/* cl_eventlog.c - the event log. */
#include "cl_eventlog.h"
#include "cl_sql.h"
#include "cl_bus.h"
#include "cl_log.h"
#include <endian.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An int8 column of a binary result. */
/* The envelopes go to the server as a bytea[] in PostgreSQL's binary array
   format (big-endian: dimensions 1, no NULLs, element type bytea, length,
   lower bound 1, then each element's length and bytes): half the bytes of
   the hex text form, and nothing for the server to decode. */
#define BYTEA_OID 17

static void s_be32(cl_buf_t *b, uint32_t v)
{
    uint32_t be = htobe32(v);
    cl_buf_append(b, &be, sizeof be);
}

static void s_bytea_array_begin(cl_buf_t *b, size_t n)
{
    s_be32(b, 1);
    s_be32(b, 0);
    s_be32(b, BYTEA_OID);
    s_be32(b, (uint32_t)n);
    s_be32(b, 1);
}

static void s_bytea_array_add(cl_buf_t *b, const void *data, size_t len)
{
    s_be32(b, (uint32_t)len);
    cl_buf_append(b, data, len);
}

int cl_eventlog_append(cl_db_t *db, cl_event_t *evs, size_t n, int64_t now_us, cl_err_t *err)
{
    if (n == 0)
        return 0;
    cl_sql_params_t p1;
    cl_sql_params_init(&p1);
    cl_sql_uint(&p1, n);
    PGresult *res = cl_sql_exec(db, "UPDATE event_head SET position = position + $1::bigint RETURNING position", &p1,
                                err);
    if (!res)
        return -1;
    uint64_t last = cl_row_uint(res, 0, "position");
    PQclear(res);

    cl_buf_t pos = {0}, type = {0}, site = {0}, cases = {0}, env = {0};
    cl_pgarr_begin(&pos);
    cl_pgarr_begin(&type);
    cl_pgarr_begin(&site);
    cl_pgarr_begin(&cases);
    s_bytea_array_begin(&env, n);
    for (size_t i = 0; i < n; i++) {
        cl_event_t *e = &evs[i];
        e->env->has_position = 1;
        e->env->position = last - n + 1 + i;
        cl_codec_encode(e->env, &e->packed);
        cl_pgarr_i64(&pos, (int64_t)e->env->position);
        cl_pgarr_text(&type, cl_codec_body_name(e->env));
        cl_pgarr_text(&site, e->env->site ? e->env->site : "");
        if (e->case_id)
            cl_pgarr_i64(&cases, e->case_id);
        else
            cl_pgarr_text(&cases, NULL);
        s_bytea_array_add(&env, e->packed.data, e->packed.len);
    }
    cl_pgarr_end(&pos);
    cl_pgarr_end(&type);
    cl_pgarr_end(&site);
    cl_pgarr_end(&cases);
    cl_sql_params_t p2;
    cl_sql_params_init(&p2);
    cl_sql_text(&p2, pos.data);
    cl_sql_text(&p2, type.data);
    cl_sql_text(&p2, site.data);
    cl_sql_text(&p2, cases.data);
    cl_sql_bytes(&p2, env.data, env.len);
    cl_sql_int(&p2, now_us);
    int rc = cl_sql_cmd(db,
                        "INSERT INTO events (position, type, site, case_id, recorded_at, envelope)"
                        " SELECT p, t, s, c, cl_us_to_ts($6::bigint), e"
                        " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bytea[])"
                        " AS u(p, t, s, c, e)",
                        &p2, err);
    cl_buf_free(&pos);
    cl_buf_free(&type);
    cl_buf_free(&site);
    cl_buf_free(&cases);
    cl_buf_free(&env);
    return rc;
}

void cl_eventlog_release(cl_event_t *evs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cl_buf_free(&evs[i].packed);
}

int cl_eventlog_read(cl_db_t *db, uint64_t after, uint32_t max, cl_eventlog_row_fn fn, void *arg, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, after);
    cl_sql_uint(&p, max);
    /* Binary results: position as int8, envelope as raw bytes. */
    PGresult *res = cl_sql_exec_binary(db,
                                       "SELECT position, envelope FROM events WHERE position > $1::bigint"
                                       " ORDER BY position LIMIT $2::int",
                                       &p, err);
    if (!res)
        return -1;
    int rows = PQntuples(res);
    int rc = rows;
    for (int i = 0; i < rows; i++) {
        uint64_t pos = cl_row_u64_binary(res, i, "position");
        if (fn(arg, pos, cl_row_text(res, i, "envelope"), (size_t)cl_row_length(res, i, "envelope")) < 0) {
            cl_err_set(err, CL_INTERNAL, "", "event at position %" PRIu64 " could not be applied", pos);
            rc = -1;
            break;
        }
    }
    PQclear(res);
    return rc;
}

typedef struct {
    cl_env_t **out;
    int n;
} s_decoded_t;

static int s_decode_row(void *arg, uint64_t position, const void *data, size_t len)
{
    s_decoded_t *d = arg;
    cl_err_t err;
    cl_env_t *ev = cl_codec_decode(data, len, SIZE_MAX, &err);
    if (!ev) {
        cl_log(CL_LOG_ERROR, NULL, "event at position %" PRIu64 " is unreadable: %s", position, err.message);
        return -1;
    }
    d->out[d->n++] = ev;
    return 0;
}

int cl_eventlog_read_envs(cl_db_t *db, uint64_t after, const char *const *types, uint32_t max, cl_env_t **out,
                          uint64_t *head, uint64_t *upto, cl_err_t *err)
{
    /* One statement: one snapshot, in which every position up to the head is committed. */
    cl_buf_t t = {0};
    if (types) {
        cl_pgarr_begin(&t);
        for (size_t i = 0; types[i]; i++)
            cl_pgarr_text(&t, types[i]);
        cl_pgarr_end(&t);
    }
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, after);
    cl_sql_uint(&p, max);
    cl_sql_text(&p, types ? t.data : NULL);
    PGresult *res = cl_sql_exec_binary(db,
                                       "SELECT h.position AS head, e.position, e.envelope"
                                       " FROM (SELECT (SELECT position FROM event_head) AS position) h LEFT JOIN LATERAL"
                                       " (SELECT position, envelope FROM events WHERE position > $1::bigint"
                                       " AND position <= h.position AND ($3::text[] IS NULL OR type = ANY ($3::text[]))"
                                       " ORDER BY position LIMIT $2::int) e ON true",
                                       &p, err);
    cl_buf_free(&t);
    if (!res)
        return -1;
    s_decoded_t d = {out, 0};
    int rows = PQntuples(res), rc = 0;
    *head = rows > 0 ? cl_row_u64_binary(res, 0, "head") : 0;
    *upto = *head;
    for (int i = 0; i < rows && rc == 0 && !cl_row_null(res, i, "position"); i++) {
        uint64_t pos = cl_row_u64_binary(res, i, "position");
        if (s_decode_row(&d, pos, cl_row_text(res, i, "envelope"), (size_t)cl_row_length(res, i, "envelope")) < 0)
            rc = cl_err_set(err, CL_INTERNAL, "", "event at position %" PRIu64 " could not be read", pos);
        else if ((uint32_t)d.n == max)
            *upto = pos;
    }
    PQclear(res);
    if (rc < 0) {
        for (int i = 0; i < d.n; i++)
            cl_codec_free(out[i]);
        return -1;
    }
    if (*upto < after)
        *upto = after;
    return d.n;
}

int cl_eventlog_consume(cl_db_t *db, const char *consumer, const char *const *types, uint32_t max, cl_env_t **out,
                        uint64_t *from, uint64_t *upto, cl_err_t *err)
{
    static const char lock[] = "SELECT position FROM consumer_positions WHERE consumer = $1 FOR UPDATE";
    const char *p[] = {consumer};
    if (cl_db_begin(db, err) < 0)
        return -1;
    PGresult *res = cl_db_exec(db, lock, 1, p, false, err);
    if (res && PQntuples(res) == 0) { /* the consumer's first batch ever */
        PQclear(res);
        res = cl_db_cmd(db, "INSERT INTO consumer_positions (consumer, position) VALUES ($1, 0) ON CONFLICT DO NOTHING",
                        1, p, err) < 0
                  ? NULL
                  : cl_db_exec(db, lock, 1, p, false, err);
    }
    int n = -1;
    if (res && PQntuples(res) != 1) {
        PQclear(res);
        res = NULL;
        cl_err_set(err, CL_INTERNAL, "", "consumer \"%s\" has no position", consumer);
    }
    if (res) {
        *from = cl_row_uint(res, 0, "position");
        PQclear(res);
        uint64_t head;
        n = cl_eventlog_read_envs(db, *from, types, max, out, &head, upto, err);
    }
    if (n < 0)
        cl_db_rollback(db);
    return n;
}

int cl_eventlog_consumed(cl_db_t *db, const char *consumer, uint64_t to, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_text(&p, consumer);
    cl_sql_uint(&p, to);
    if (cl_sql_cmd(db, "UPDATE consumer_positions SET position = $2::bigint WHERE consumer = $1", &p, err) < 0)
        return -1;
    return cl_db_commit(db, err);
}

int cl_eventlog_head(cl_db_t *db, uint64_t *head, cl_err_t *err)
{
    PGresult *res = cl_db_exec(db, "SELECT position FROM event_head", 0, NULL, false, err);
    if (!res)
        return -1;
    *head = cl_row_uint(res, 0, "position");
    PQclear(res);
    return 0;
}

void cl_eventlog_free_envs(cl_env_t **events, int n)
{
    for (int i = 0; events && i < n; i++)
        cl_codec_free(events[i]);
    free(events);
}
