/* cl_policies.h - the site policies in force, as stored by the dispatcher, kept up to date by each service that reads them. */
#ifndef CL_POLICIES_H
#define CL_POLICIES_H

#include <stddef.h>
#include "cl_db.h"
#include "cl_policy.h"

/* One site's policy in force: its own parsed copy and its version. */
typedef struct {
    char *code;
    int version;
    cl_policy_t *policy;     /* holds exactly this site */
} cl_site_in_force_t;

typedef struct {
    cl_site_in_force_t *sites;
    size_t n;
    int newest;              /* the highest version loaded, 0 for none */
    const char *tz_dir;
} cl_policies_t;

/* Starts empty; tz_dir as for cl_policy_parse. */
void cl_policies_init(cl_policies_t *p, const char *tz_dir);
void cl_policies_free(cl_policies_t *p);

/* Loads each site's newest policy when a version newer than the one loaded
   exists. Returns 1 when it loaded, 0 when nothing changed, -1 with err. A
   stored document that no longer reads is logged and its site left out. */
int cl_policies_refresh(cl_policies_t *p, cl_db_t *db, cl_err_t *err) CL_WARN_UNUSED;

/* Stores policy p (read by cl_policy_parse) from source as the next version,
   loaded at now_us, one site per row; one writer of versions at a time.
   Returns the version, or -1 with err. */
int cl_policies_store(cl_db_t *db, const cl_policy_t *p, const char *source, int64_t now_us, cl_err_t *err)
    CL_WARN_UNUSED;

/* A site's newest stored policy: its version, document, load time and source. */
typedef struct {
    int version;
    char *document;
    int64_t loaded_at_us;
    char *source;
} cl_policy_stored_t;

/* Reads site's newest stored policy into out (free with cl_policy_stored_free).
   Returns 0, or -1 with err (NOT_FOUND on field site when it has none). */
int cl_policies_latest(cl_db_t *db, const char *site, cl_policy_stored_t *out, cl_err_t *err) CL_WARN_UNUSED;
void cl_policy_stored_free(cl_policy_stored_t *out);

/* The site's policy in force, or NULL. */
const cl_site_in_force_t *cl_policies_site(const cl_policies_t *p, const char *code);

#endif
