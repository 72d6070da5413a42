/* cl_sql.c - statement parameters by type and result columns by name. */
#include "cl_sql.h"
#include "cl_log.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

void cl_sql_params_init(cl_sql_params_t *p)
{
    p->n = 0;
}

/* The next parameter's slot; more than CL_SQL_MAX_PARAMS is a bug. */
static int s_slot(cl_sql_params_t *p)
{
    if (p->n >= CL_SQL_MAX_PARAMS) {
        cl_log(CL_LOG_ERROR, NULL, "a statement with more than %d parameters", CL_SQL_MAX_PARAMS);
        abort();
    }
    return p->n++;
}

void cl_sql_text(cl_sql_params_t *p, const char *s)
{
    p->values[s_slot(p)] = s;
}

void cl_sql_int(cl_sql_params_t *p, int64_t v)
{
    int i = s_slot(p);
    snprintf(p->room[i], sizeof p->room[i], "%" PRId64, v);
    p->values[i] = p->room[i];
}

void cl_sql_uint(cl_sql_params_t *p, uint64_t v)
{
    int i = s_slot(p);
    snprintf(p->room[i], sizeof p->room[i], "%" PRIu64, v);
    p->values[i] = p->room[i];
}

void cl_sql_bool(cl_sql_params_t *p, bool v)
{
    p->values[s_slot(p)] = v ? "t" : "f";
}

PGresult *cl_sql_exec(cl_db_t *db, const char *sql, const cl_sql_params_t *p, cl_err_t *err)
{
    return cl_db_exec(db, sql, p->n, p->values, false, err);
}

PGresult *cl_sql_exec_binary(cl_db_t *db, const char *sql, const cl_sql_params_t *p, cl_err_t *err)
{
    return cl_db_exec(db, sql, p->n, p->values, true, err);
}

int cl_sql_cmd(cl_db_t *db, const char *sql, const cl_sql_params_t *p, cl_err_t *err)
{
    return cl_db_cmd(db, sql, p->n, p->values, err);
}

/* The number of column col in res; abort when it has none of that name. */
static int s_col(const PGresult *res, const char *col)
{
    int c = PQfnumber(res, col);
    if (c < 0) {
        cl_log(CL_LOG_ERROR, NULL, "a result without column \"%s\"", col);
        abort();
    }
    return c;
}

bool cl_row_null(const PGresult *res, int r, const char *col)
{
    return PQgetisnull(res, r, s_col(res, col));
}

const char *cl_row_text(const PGresult *res, int r, const char *col)
{
    return PQgetvalue(res, r, s_col(res, col));
}

int64_t cl_row_int(const PGresult *res, int r, const char *col)
{
    return strtoll(cl_row_text(res, r, col), NULL, 10);
}

uint64_t cl_row_uint(const PGresult *res, int r, const char *col)
{
    return strtoull(cl_row_text(res, r, col), NULL, 10);
}

bool cl_row_bool(const PGresult *res, int r, const char *col)
{
    return cl_row_text(res, r, col)[0] == 't';
}

int cl_row_length(const PGresult *res, int r, const char *col)
{
    return PQgetlength(res, r, s_col(res, col));
}

char *cl_row_strdup(const PGresult *res, int r, const char *col)
{
    return cl_db_strdup(res, r, s_col(res, col));
}
