/* cl_policies.c - the site policies in force. */
#include "cl_policies.h"
#include "cl_sql.h"
#include "cl_buf.h"
#include "cl_log.h"
#include <stdlib.h>
#include <string.h>

void cl_policies_init(cl_policies_t *p, const char *tz_dir)
{
    memset(p, 0, sizeof *p);
    p->tz_dir = tz_dir;
}

static void s_free_sites(cl_site_in_force_t *sites, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(sites[i].code);
        cl_policy_destroy(&sites[i].policy);
    }
    free(sites);
}

void cl_policies_free(cl_policies_t *p)
{
    s_free_sites(p->sites, p->n);
    p->sites = NULL;
    p->n = 0;
    p->newest = 0;
}

const cl_site_in_force_t *cl_policies_site(const cl_policies_t *p, const char *code)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->sites[i].code, code) == 0)
            return &p->sites[i];
    return NULL;
}

int cl_policies_refresh(cl_policies_t *p, cl_db_t *db, cl_err_t *err)
{
    PGresult *res = cl_db_exec(db, "SELECT coalesce(max(version), 0) AS newest FROM policies", 0, NULL, false, err);
    if (!res)
        return -1;
    int newest = (int)cl_row_int(res, 0, "newest");
    PQclear(res);
    if (newest == p->newest)
        return 0;
    res = cl_db_exec(db, "SELECT DISTINCT ON (site) site, version, document FROM policy_sites ORDER BY site, version DESC",
                     0, NULL, false, err);
    if (!res)
        return -1;
    int rows = PQntuples(res);
    cl_site_in_force_t *sites = calloc((size_t)rows + 1, sizeof *sites);
    if (!sites)
        abort();
    size_t n = 0;
    for (int r = 0; r < rows; r++) {
        cl_buf_t doc = {0};
        cl_buf_printf(&doc, "{\"sites\":[%s]}", cl_row_text(res, r, "document"));
        cl_err_t perr;
        cl_policy_t *one = cl_policy_parse(doc.data, doc.len, p->tz_dir, &perr);
        cl_buf_free(&doc);
        if (!one) {
            cl_log_ctx_t ctx = {0, cl_row_text(res, r, "site"), NULL, perr.field};
            cl_log(CL_LOG_ERROR, &ctx, "stored policy version %s no longer reads: %s", cl_row_text(res, r, "version"),
                   perr.message);
            continue;
        }
        sites[n].code = cl_row_strdup(res, r, "site");
        sites[n].version = (int)cl_row_int(res, r, "version");
        sites[n++].policy = one;
    }
    PQclear(res);
    s_free_sites(p->sites, p->n);
    p->sites = sites;
    p->n = n;
    p->newest = newest;
    cl_log(CL_LOG_INFO, NULL, "policy version %d in force (%zu sites)", newest, n);
    return 1;
}

int cl_policies_store(cl_db_t *db, const cl_policy_t *p, const char *source, int64_t now_us, cl_err_t *err)
{
    cl_buf_t sites = {0}, docs = {0};
    cl_pgarr_begin(&sites);
    cl_pgarr_begin(&docs);
    for (size_t i = 0; i < p->nsites; i++) {
        cl_pgarr_text(&sites, p->sites[i].code);
        cl_pgarr_text(&docs, p->sites[i].document);
    }
    cl_pgarr_end(&sites);
    cl_pgarr_end(&docs);
    cl_sql_params_t params;
    cl_sql_params_init(&params);
    cl_sql_int(&params, now_us);
    cl_sql_text(&params, source);
    int version = -1;
    PGresult *res = NULL;
    /* One writer of versions at a time: the table lock orders them. */
    if (cl_db_begin(db, err) == 0 && cl_db_cmd(db, "LOCK TABLE policies IN SHARE ROW EXCLUSIVE MODE", 0, NULL, err) == 0 &&
        (res = cl_sql_exec(db,
                           "INSERT INTO policies (version, loaded_at, source)"
                           " SELECT coalesce(max(version), 0) + 1, cl_us_to_ts($1::bigint), $2 FROM policies"
                           " RETURNING version",
                           &params, err)) != NULL) {
        version = (int)cl_row_int(res, 0, "version");
        PQclear(res);
        cl_sql_params_t p2;
        cl_sql_params_init(&p2);
        cl_sql_int(&p2, version);
        cl_sql_text(&p2, sites.data);
        cl_sql_text(&p2, docs.data);
        if (cl_sql_cmd(db,
                       "INSERT INTO policy_sites (version, site, document)"
                       " SELECT $1::int, s, d FROM unnest($2::text[], $3::text[]) AS u(s, d)",
                       &p2, err) < 0 ||
            cl_db_commit(db, err) < 0)
            version = -1;
    }
    cl_buf_free(&sites);
    cl_buf_free(&docs);
    if (version < 0)
        cl_db_rollback(db);
    return version;
}

int cl_policies_latest(cl_db_t *db, const char *site, cl_policy_stored_t *out, cl_err_t *err)
{
    memset(out, 0, sizeof *out);
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_text(&p, site);
    PGresult *res = cl_sql_exec(db,
                                "SELECT s.version, s.document, cl_ts_to_us(p.loaded_at) AS loaded_at_us, p.source"
                                " FROM policy_sites s JOIN policies p USING (version)"
                                " WHERE s.site = $1 ORDER BY s.version DESC LIMIT 1",
                                &p, err);
    if (!res)
        return -1;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return cl_err_set(err, CL_NOT_FOUND, "site", "site \"%s\" has no policy", site);
    }
    out->version = (int)cl_row_int(res, 0, "version");
    out->document = cl_row_strdup(res, 0, "document");
    out->loaded_at_us = cl_row_int(res, 0, "loaded_at_us");
    out->source = cl_row_strdup(res, 0, "source");
    PQclear(res);
    return 0;
}

void cl_policy_stored_free(cl_policy_stored_t *out)
{
    free(out->document);
    free(out->source);
    memset(out, 0, sizeof *out);
}
