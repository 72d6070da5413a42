/* cl_migrate.h - SQL migrations from a folder, applied in order, recorded, safe when services start together. */
#ifndef CL_MIGRATE_H
#define CL_MIGRATE_H

#include <stddef.h>
#include "cl_db.h"
#include "cl_err.h"

/* The folder compiled in as the default for CL_MIGRATIONS. */
const char *cl_migrate_default_dir(void);

/* Applies every NNN_name.sql file of dir not yet recorded in schema_migrations,
   in NNN order, each in its own transaction with its record. A session
   advisory lock makes a second service wait for the first. Returns the number
   applied, or -1 with err. */
int cl_migrate(cl_db_t *db, const char *dir, cl_err_t *err) CL_WARN_UNUSED;

/* Splits SQL text into statements at top-level semicolons, minding quotes,
   quoted identifiers, dollar quoting and comments. Calls fn for each
   non-empty statement (without its semicolon, NUL-terminated copy); stops and
   returns -1 when fn does; else returns the number of statements. */
typedef int (*cl_sql_stmt_fn)(void *arg, const char *stmt);
int cl_sql_split(const char *sql, cl_sql_stmt_fn fn, void *arg);

#endif
