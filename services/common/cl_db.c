/* cl_db.c - libpq wrapper. */
#include "cl_db.h"
#include "cl_clock.h"
#include "cl_log.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKOFF_MIN_US (100 * 1000)
#define BACKOFF_MAX_US (5 * CL_US_PER_S)
#define PREPARED_MAX 256   /* statements prepared on one connection; past it the rest run unprepared */

/* A statement prepared on the connection: parsed once, planned by the server's cache. */
typedef struct {
    uint64_t hash;
    char *sql;
} s_prepared_t;

struct cl_db {
    char *conninfo;
    char *appname;
    PGconn *conn;
    int64_t next_try_us;   /* monotonic; 0 = try now */
    int64_t backoff_us;
    bool was_up;           /* to log the change of state once */
    char sqlstate[6];
    s_prepared_t prepared[PREPARED_MAX]; /* named "s<index>" on this connection */
    size_t nprepared;
};

/* Forgets the statements prepared on a connection that is gone. */
static void s_forget_prepared(cl_db_t *db)
{
    for (size_t i = 0; i < db->nprepared; i++)
        free(db->prepared[i].sql);
    db->nprepared = 0;
}

cl_db_t *cl_db_new(const char *conninfo, const char *application_name)
{
    cl_db_t *db = calloc(1, sizeof *db);
    if (!db)
        return NULL;
    db->conninfo = strdup(conninfo);
    db->appname = strdup(application_name);
    if (!db->conninfo || !db->appname) {
        cl_db_destroy(&db);
        return NULL;
    }
    db->backoff_us = BACKOFF_MIN_US;
    return db;
}

void cl_db_destroy(cl_db_t **db_p)
{
    if (!db_p || !*db_p)
        return;
    cl_db_t *db = *db_p;
    if (db->conn)
        PQfinish(db->conn);
    s_forget_prepared(db);
    free(db->conninfo);
    free(db->appname);
    free(db);
    *db_p = NULL;
}

static void s_drop(cl_db_t *db, const char *why)
{
    if (db->conn)
        PQfinish(db->conn);
    db->conn = NULL;
    s_forget_prepared(db);
    db->next_try_us = cl_mono_us() + db->backoff_us;
    if (db->was_up)
        cl_log(CL_LOG_ERROR, NULL, "database connection lost: %s", why);
    db->was_up = false;
}

/* Server notices go to the log as debug lines, not raw onto stderr. */
static void s_notice(void *arg, const char *message)
{
    (void)arg;
    char line[512];
    snprintf(line, sizeof line, "%s", message);
    line[strcspn(line, "\n")] = '\0';
    cl_log(CL_LOG_DEBUG, NULL, "database: %s", line);
}

/* Failures that say this connection cannot do the work now, though a new one
   may: lost or shutting down (08, 57), a read-only server after a failover
   (25006), out of resources (53). An error with no SQLSTATE is libpq's own: the
   statement or its answer did not get through, so the connection is lost even
   when PQstatus still says CONNECTION_OK (an immediate shutdown or a crash sends
   a WARNING before the end; the next write fails, the WARNING is read, and only
   the call after that finds the end). A COMMIT cut off so may have been applied:
   the caller's retry, not this answer, tells. */
static bool s_unavailable(const cl_db_t *db, ExecStatusType st)
{
    bool from_libpq = (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE) && db->sqlstate[0] == '\0';
    return PQstatus(db->conn) != CONNECTION_OK || from_libpq || strncmp(db->sqlstate, "08", 2) == 0 ||
           strncmp(db->sqlstate, "57", 2) == 0 || strncmp(db->sqlstate, "53", 2) == 0 ||
           strcmp(db->sqlstate, "25006") == 0;
}

int cl_db_connect(cl_db_t *db, cl_err_t *err)
{
    if (db->conn)
        return 0;
    if (cl_mono_us() < db->next_try_us)
        return cl_err_set(err, CL_UNAVAILABLE, "", "database is unavailable");
    /* Defaults first: what CL_DB says wins. A database host that goes silent
       is noticed within about 30 s instead of the kernel's 15 minutes, and a
       statement cannot hold a service for longer than a minute. No JIT: every
       statement is short, and a cost estimate over jit_above_cost (a table
       never analyzed is enough) made the server compile one for 100 ms. */
    const char *keys[] = {"application_name", "connect_timeout", "keepalives", "keepalives_idle",
                          "keepalives_interval", "keepalives_count", "tcp_user_timeout", "options", "dbname", NULL};
    const char *vals[] = {db->appname, "5", "1", "10", "5", "3", "30000", "-c statement_timeout=60000 -c jit=off",
                          db->conninfo, NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        char why[256];
        snprintf(why, sizeof why, "%s", conn ? PQerrorMessage(conn) : "out of memory");
        why[strcspn(why, "\n")] = '\0';
        if (conn)
            PQfinish(conn);
        db->next_try_us = cl_mono_us() + db->backoff_us;
        db->backoff_us = db->backoff_us * 2 > BACKOFF_MAX_US ? BACKOFF_MAX_US : db->backoff_us * 2;
        return cl_err_set(err, CL_UNAVAILABLE, "", "could not connect to the database: %s", why);
    }
    PQsetNoticeProcessor(conn, s_notice, NULL);
    db->conn = conn;
    db->backoff_us = BACKOFF_MIN_US;
    db->next_try_us = 0;
    if (!db->was_up)
        cl_log(CL_LOG_INFO, NULL, "database connected");
    db->was_up = true;
    return 0;
}

bool cl_db_up(const cl_db_t *db)
{
    return db->conn != NULL;
}

PGresult *cl_db_exec(cl_db_t *db, const char *sql, int n, const char *const *params, bool binary, cl_err_t *err)
{
    return cl_db_exec_formats(db, sql, n, params, NULL, NULL, binary, err);
}

static uint64_t s_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Runs sql as a statement prepared on this connection (prepared at its first
   run) when it takes parameters, which is where parsing and planning cost;
   unprepared when it takes none (transaction control, migrations) or once
   PREPARED_MAX are. A failed preparation is the statement's failure: its
   result is returned. */
static PGresult *s_exec(cl_db_t *db, const char *sql, int n, const char *const *params, const int *lengths,
                        const int *formats, int result_format)
{
    if (n == 0)
        return PQexecParams(db->conn, sql, n, NULL, params, lengths, formats, result_format);
    uint64_t h = s_hash(sql);
    size_t i = 0;
    while (i < db->nprepared && (db->prepared[i].hash != h || strcmp(db->prepared[i].sql, sql) != 0))
        i++;
    char name[24];
    snprintf(name, sizeof name, "s%zu", i);
    if (i == db->nprepared) {
        if (i == PREPARED_MAX)
            return PQexecParams(db->conn, sql, n, NULL, params, lengths, formats, result_format);
        PGresult *res = PQprepare(db->conn, name, sql, n, NULL);
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
            return res;
        PQclear(res);
        char *copy = strdup(sql);
        if (!copy)
            abort();
        db->prepared[db->nprepared++] = (s_prepared_t){h, copy};
    }
    return PQexecPrepared(db->conn, name, n, params, lengths, formats, result_format);
}

PGresult *cl_db_exec_formats(cl_db_t *db, const char *sql, int n, const char *const *params, const int *lengths,
                             const int *formats, bool binary, cl_err_t *err)
{
    db->sqlstate[0] = '\0';
    if (cl_db_connect(db, err) < 0)
        return NULL;
    PGresult *res = s_exec(db, sql, n, params, lengths, formats, binary ? 1 : 0);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(db->sqlstate, sizeof db->sqlstate, "%s", state ? state : "");
    char why[512];
    snprintf(why, sizeof why, "%s", res ? PQresultErrorMessage(res) : PQerrorMessage(db->conn));
    why[strcspn(why, "\n")] = '\0';
    PQclear(res);
    if (s_unavailable(db, st)) {
        s_drop(db, why);
        return cl_err_set(err, CL_UNAVAILABLE, "", "database is unavailable: %s", why), NULL;
    }
    cl_err_set(err, CL_INTERNAL, "", "database refused a statement: %s", why);
    return NULL;
}

int cl_db_cmd(cl_db_t *db, const char *sql, int n, const char *const *params, cl_err_t *err)
{
    PGresult *res = cl_db_exec(db, sql, n, params, false, err);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

int cl_db_begin(cl_db_t *db, cl_err_t *err)
{
    return cl_db_cmd(db, "BEGIN", 0, NULL, err);
}

int cl_db_commit(cl_db_t *db, cl_err_t *err)
{
    return cl_db_cmd(db, "COMMIT", 0, NULL, err);
}

void cl_db_rollback(cl_db_t *db)
{
    if (!db->conn || PQtransactionStatus(db->conn) == PQTRANS_IDLE)
        return;
    char state[6];
    memcpy(state, db->sqlstate, sizeof state);
    cl_err_t err;
    if (cl_db_cmd(db, "ROLLBACK", 0, NULL, &err) < 0)
        cl_log(CL_LOG_WARN, NULL, "could not roll back: %s", err.message);
    memcpy(db->sqlstate, state, sizeof state);
}

const char *cl_db_sqlstate(const cl_db_t *db)
{
    return db->sqlstate;
}

bool cl_db_retryable(const cl_db_t *db)
{
    return strcmp(db->sqlstate, "23505") == 0 || strcmp(db->sqlstate, "40001") == 0 ||
           strcmp(db->sqlstate, "40P01") == 0;
}

char *cl_db_strdup(const PGresult *res, int row, int col)
{
    char *s = strdup(PQgetvalue(res, row, col));
    if (!s)
        abort();
    return s;
}
