/* cl_migrate.c - SQL migration runner and statement splitter. */
#include "cl_migrate.h"
#include "cl_buf.h"
#include "cl_log.h"
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CL_MIGRATIONS_DEFAULT
#define CL_MIGRATIONS_DEFAULT "/usr/share/caseloop/sql"
#endif

/* Arbitrary, fixed: the advisory lock key every service takes to migrate. */
#define MIGRATE_LOCK "7243100"

const char *cl_migrate_default_dir(void)
{
    return CL_MIGRATIONS_DEFAULT;
}

static bool s_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i]))
            return false;
    return true;
}

static int s_emit(const char *start, size_t n, cl_sql_stmt_fn fn, void *arg, int *count)
{
    if (s_blank(start, n))
        return 0;
    char *stmt = strndup(start, n);
    if (!stmt)
        return -1;
    int rc = fn(arg, stmt);
    free(stmt);
    if (rc < 0)
        return -1;
    (*count)++;
    return 0;
}

int cl_sql_split(const char *sql, cl_sql_stmt_fn fn, void *arg)
{
    int count = 0;
    const char *start = sql, *p = sql;
    bool only_comments = true; /* a statement of comments alone is skipped */
    while (*p) {
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
            continue;
        }
        if (p[0] == '/' && p[1] == '*') {
            int depth = 1;
            p += 2;
            while (*p && depth) {
                if (p[0] == '/' && p[1] == '*')
                    depth++, p += 2;
                else if (p[0] == '*' && p[1] == '/')
                    depth--, p += 2;
                else
                    p++;
            }
            continue;
        }
        if (*p == '\'' || *p == '"') {
            /* E'...' strings also escape with a backslash */
            bool escapes = *p == '\'' && p > sql && (p[-1] == 'E' || p[-1] == 'e') &&
                           (p - 1 == sql || !(isalnum((unsigned char)p[-2]) || p[-2] == '_'));
            char q = *p++;
            only_comments = false;
            while (*p) {
                if (escapes && *p == '\\' && p[1])
                    p += 2;
                else if (*p == q && p[1] == q)
                    p += 2;
                else if (*p == q)
                    break;
                else
                    p++;
            }
            if (*p)
                p++;
            continue;
        }
        if (*p == '$') {
            /* $tag$ ... $tag$ where tag is empty or an identifier */
            const char *t = p + 1;
            while (isalnum((unsigned char)*t) || *t == '_')
                t++;
            if (*t == '$' && !(p > sql && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))) {
                size_t taglen = (size_t)(t - p) + 1;
                const char *close = memmem(t + 1, strlen(t + 1), p, taglen);
                only_comments = false;
                p = close ? close + taglen : p + strlen(p);
                continue;
            }
        }
        if (*p == ';') {
            if (!only_comments && s_emit(start, (size_t)(p - start), fn, arg, &count) < 0)
                return -1;
            start = p + 1;
            only_comments = true;
            p++;
            continue;
        }
        if (!isspace((unsigned char)*p))
            only_comments = false;
        p++;
    }
    if (!only_comments && s_emit(start, strlen(start), fn, arg, &count) < 0)
        return -1;
    return count;
}

typedef struct {
    cl_db_t *db;
    cl_err_t *err;
} s_exec_ctx_t;

static int s_exec_stmt(void *arg, const char *stmt)
{
    s_exec_ctx_t *ctx = arg;
    return cl_db_cmd(ctx->db, stmt, 0, NULL, ctx->err);
}

static int s_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists NNN_*.sql files of dir, sorted; returns the count or -1. */
static int s_list(const char *dir, char ***names_p, cl_err_t *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return cl_err_set(err, CL_INTERNAL, "CL_MIGRATIONS", "cannot open migrations folder \"%s\": %s", dir,
                          strerror(errno));
    char **names = NULL;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 8 || !isdigit((unsigned char)e->d_name[0]) || !isdigit((unsigned char)e->d_name[1]) ||
            !isdigit((unsigned char)e->d_name[2]) || e->d_name[3] != '_' || strcmp(e->d_name + len - 4, ".sql") != 0)
            continue;
        char **grown = realloc(names, sizeof *names * (size_t)(n + 1));
        if (!grown)
            abort();
        names = grown;
        names[n] = strdup(e->d_name);
        if (!names[n])
            abort();
        n++;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, s_name_cmp);
    *names_p = names;
    for (int i = 1; i < n; i++) {
        if (strncmp(names[i - 1], names[i], 3) == 0) {
            cl_err_set(err, CL_INTERNAL, "CL_MIGRATIONS", "two migrations in \"%s\" have the number %.3s: %s and %s",
                       dir, names[i], names[i - 1], names[i]);
            for (int j = 0; j < n; j++)
                free(names[j]);
            free(names);
            *names_p = NULL;
            return -1;
        }
    }
    return n;
}

/* Applies one file unless recorded. Returns 1 applied, 0 already there, -1. */
static int s_apply(cl_db_t *db, const char *dir, const char *name, cl_err_t *err)
{
    char version[4] = {name[0], name[1], name[2], '\0'};
    const char *p[] = {version, name};
    PGresult *res = cl_db_exec(db, "SELECT 1 FROM schema_migrations WHERE version = $1::int", 1, p, false, err);
    if (!res)
        return -1;
    int seen = PQntuples(res);
    PQclear(res);
    if (seen)
        return 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cl_buf_t sql = {0};
    if (cl_buf_read_file(&sql, path) < 0) {
        int e = errno;
        cl_buf_free(&sql);
        return cl_err_set(err, CL_INTERNAL, "CL_MIGRATIONS", "cannot read migration \"%s\": %s", path, strerror(e));
    }
    s_exec_ctx_t ctx = {db, err};
    int rc = -1;
    if (cl_db_begin(db, err) < 0)
        goto out;
    if (cl_sql_split(sql.data, s_exec_stmt, &ctx) < 0 ||
        cl_db_cmd(db, "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)", 2, p, err) < 0 ||
        cl_db_commit(db, err) < 0) {
        cl_db_rollback(db);
        char why[sizeof err->message];
        snprintf(why, sizeof why, "%s", err->message);
        cl_err_set(err, err->code, "CL_MIGRATIONS", "migration %s failed: %s", name, why);
        goto out;
    }
    cl_log(CL_LOG_INFO, NULL, "applied migration %s", name);
    rc = 1;
out:
    cl_buf_free(&sql);
    return rc;
}

int cl_migrate(cl_db_t *db, const char *dir, cl_err_t *err)
{
    char **names = NULL;
    int n = s_list(dir, &names, err);
    if (n < 0)
        return -1;
    int applied = 0;
    const char *lock[] = {MIGRATE_LOCK};
    if (cl_db_cmd(db, "SELECT pg_advisory_lock($1::bigint)", 1, lock, err) < 0) {
        applied = -1;
        goto out;
    }
    if (cl_db_cmd(db,
                  "CREATE TABLE IF NOT EXISTS schema_migrations ("
                  " version int PRIMARY KEY, name text NOT NULL,"
                  " applied_at timestamptz NOT NULL DEFAULT now())",
                  0, NULL, err) < 0) {
        applied = -1;
    }
    for (int i = 0; applied >= 0 && i < n; i++) {
        int rc = s_apply(db, dir, names[i], err);
        if (rc < 0)
            applied = -1;
        else
            applied += rc;
    }
    cl_err_t unlock_err;
    if (cl_db_up(db) && cl_db_cmd(db, "SELECT pg_advisory_unlock($1::bigint)", 1, lock, &unlock_err) < 0)
        cl_log(CL_LOG_WARN, NULL, "could not release the migration lock: %s", unlock_err.message);
out:
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return applied;
}
