/* cl_sql.c - statement parameters by type and result columns by name. */
#include "cl_sql.h"
#include "cl_log.h"
#include <endian.h>
#include <inttypes.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>

void cl_sql_params_init(cl_sql_params_t *p)
{
    p->n = 0;
}

/* The next parameter's slot (text unless said otherwise); more than CL_SQL_MAX_PARAMS is a bug. */
static int s_slot(cl_sql_params_t *p)
{
    if (p->n >= CL_SQL_MAX_PARAMS) {
        cl_log(CL_LOG_ERROR, NULL, "a statement with more than %d parameters", CL_SQL_MAX_PARAMS);
        abort();
    }
    p->lengths[p->n] = 0, p->formats[p->n] = 0;
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

void cl_sql_opt_int(cl_sql_params_t *p, bool has, int64_t v)
{
    if (has)
        cl_sql_int(p, v);
    else
        cl_sql_text(p, NULL);
}

void cl_sql_bool(cl_sql_params_t *p, bool v)
{
    p->values[s_slot(p)] = v ? "t" : "f";
}

void cl_sql_bytes(cl_sql_params_t *p, const void *data, size_t len)
{
    int i = s_slot(p);
    p->values[i] = data;
    p->lengths[i] = (int)len;
    p->formats[i] = 1;
}

PGresult *cl_sql_exec(cl_db_t *db, const char *sql, const cl_sql_params_t *p, cl_err_t *err)
{
    return cl_db_exec_formats(db, sql, p->n, p->values, p->lengths, p->formats, false, err);
}

PGresult *cl_sql_exec_binary(cl_db_t *db, const char *sql, const cl_sql_params_t *p, cl_err_t *err)
{
    return cl_db_exec_formats(db, sql, p->n, p->values, p->lengths, p->formats, true, err);
}

int cl_sql_cmd(cl_db_t *db, const char *sql, const cl_sql_params_t *p, cl_err_t *err)
{
    PGresult *res = cl_sql_exec(db, sql, p, err);
    PQclear(res);
    return res ? 0 : -1;
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

uint64_t cl_row_u64_binary(const PGresult *res, int r, const char *col)
{
    uint64_t be;
    memcpy(&be, PQgetvalue(res, r, s_col(res, col)), sizeof be);
    return be64toh(be);
}
