/* cl_sql.h - statement parameters by type and result columns by name: no hand formatting, no column numbers. */
#ifndef CL_SQL_H
#define CL_SQL_H

#include <stdbool.h>
#include <stdint.h>
#include <libpq-fe.h>
#include "cl_db.h"

#define CL_SQL_MAX_PARAMS 32

/* A statement's parameters, $1, $2, ... in the order they are added; each
   number is formatted into the struct's own room (text form, as cl_db_exec
   sends it). */
typedef struct {
    const char *values[CL_SQL_MAX_PARAMS];
    int lengths[CL_SQL_MAX_PARAMS];   /* of binary parameters */
    int formats[CL_SQL_MAX_PARAMS];   /* 1: binary, 0: text */
    int n;
    char room[CL_SQL_MAX_PARAMS][24];
} cl_sql_params_t;

/* Empties p. */
void cl_sql_params_init(cl_sql_params_t *p);

/* Adds text (borrowed until the statement runs; NULL is SQL NULL). */
void cl_sql_text(cl_sql_params_t *p, const char *s);

/* Adds a whole number: any integer, an enum value (its number), a count. */
void cl_sql_int(cl_sql_params_t *p, int64_t v);
void cl_sql_uint(cl_sql_params_t *p, uint64_t v);

/* Adds v when has, else SQL NULL (an optional field of a message). */
void cl_sql_opt_int(cl_sql_params_t *p, bool has, int64_t v);

/* Adds a boolean. */
void cl_sql_bool(cl_sql_params_t *p, bool v);

/* Adds len bytes sent in binary form (a bytea, or an array in PostgreSQL's
   binary array format), borrowed until the statement runs. */
void cl_sql_bytes(cl_sql_params_t *p, const void *data, size_t len);

/* cl_db_exec with p's parameters (text results). */
PGresult *cl_sql_exec(cl_db_t *db, const char *sql, const cl_sql_params_t *p, cl_err_t *err) CL_WARN_UNUSED;

/* The same with results in binary form (bytea columns as their bytes). */
PGresult *cl_sql_exec_binary(cl_db_t *db, const char *sql, const cl_sql_params_t *p, cl_err_t *err) CL_WARN_UNUSED;

/* cl_db_cmd with p's parameters. Returns 0 or -1 with err. */
int cl_sql_cmd(cl_db_t *db, const char *sql, const cl_sql_params_t *p, cl_err_t *err) CL_WARN_UNUSED;

/* Row r's value of column `col` (by its name in the result: alias computed
   columns). A name the result lacks is a bug: logged, then abort. */
bool cl_row_null(const PGresult *res, int r, const char *col);
const char *cl_row_text(const PGresult *res, int r, const char *col);   /* "" for NULL */
int64_t cl_row_int(const PGresult *res, int r, const char *col);        /* 0 for NULL */
uint64_t cl_row_uint(const PGresult *res, int r, const char *col);      /* 0 for NULL */
bool cl_row_bool(const PGresult *res, int r, const char *col);          /* false for NULL */
int cl_row_length(const PGresult *res, int r, const char *col);         /* bytes of the value */
char *cl_row_strdup(const PGresult *res, int r, const char *col);       /* a malloc'd copy (aborts on no memory) */
uint64_t cl_row_u64_binary(const PGresult *res, int r, const char *col); /* an int8 of a binary result */

#endif
