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
