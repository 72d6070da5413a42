/* store.h - the dispatcher's SQL: dispatches, waiting cases, workloads, transfers and handovers. */
#ifndef CL_DISPATCHER_STORE_H
#define CL_DISPATCHER_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include "cl.h"
#include "cl_db.h"
#include "cl_policies.h"
#include "caseloop/v1/envelope.pb-c.h"

/* One case's dispatch, and the memory its two events point into. */
typedef struct {
    uint64_t case_id;
    uint64_t position;
    const char *site;
    int kind, severity;
    bool classified, special;
    const char *department;     /* code, "" for none */
    const char *assignee;       /* staff id, NULL when queued */
    const char *notified;       /* staff id, NULL for none */
    int version;                /* 0 when the site has no policy */
    bool waited;                /* it waited for its site's policy: its row exists */
    Caseloop__V1__CaseDispatched dispatched;
    Caseloop__V1__CaseAssigned assigned;
    char *notified_list[1];
    cl_env_t env[2];
    char ids[2][CL_ID_MAX + 1];
} cl_dispatch_rec_t;

/* Stores the dispatches of ds that waited (updates their rows) or not (new
   rows), decided at now_us. Returns 0, or -1 with err. */
int cl_dstore_dispatches(cl_db_t *db, const cl_dispatch_rec_t *ds, size_t n, bool waited, int64_t now_us,
                         cl_err_t *err) CL_WARN_UNUSED;

/* The cases that came while their site had no policy, of the sites in force,
   oldest first, locked: cases[i] (its strings point into the rows kept) and
   the position of its row. */
typedef struct {
    void *rows;
    size_t n;
    Caseloop__V1__Case *cases;
    uint64_t *positions;
} cl_waiting_t;

/* Reads at most room waiting cases into out (free with cl_waiting_free).
   Returns 0, or -1 with err. */
int cl_dstore_waiting(cl_db_t *db, const cl_policies_t *in_force, size_t room, cl_waiting_t *out, cl_err_t *err)
    CL_WARN_UNUSED;
void cl_waiting_free(cl_waiting_t *w);

/* R-RT-2: open[i]: open cases staff i of site s carries: the workload that
   assignment balances. Returns 0, or -1 with err. */
int cl_dstore_open_counts(cl_db_t *db, const cl_site_policy_t *s, uint32_t *open, cl_err_t *err) CL_WARN_UNUSED;

/* A span of positions [lo, hi]. */
typedef struct {
    uint64_t lo, hi;
} cl_span_t;

/* Calls changed(arg, site) for each event in (from, upto] outside the spans
   own that may have changed a site's workloads: a case assigned or
   transferred, or closed or reopened (CaseUpdated to or from CLOSED; an
   unreadable one counts). Returns 0, or -1 with err. */
int cl_dstore_workload_changes(cl_db_t *db, uint64_t from, uint64_t upto, const cl_span_t *own, size_t nown,
                               void (*changed)(void *arg, const char *site), void *arg, cl_err_t *err) CL_WARN_UNUSED;

/* A case as a transfer finds it. */
typedef struct {
    char site[80], department[80], assignee[120];
    int state, kind;
} cl_dispatch_row_t;

/* Locks case case_id (FOR NO KEY UPDATE, in the transaction begun) and reads
   its dispatch into out. Returns 0, or -1 with err: NOT_FOUND when no such
   case, CONFLICT when it is not dispatched yet. */
int cl_dstore_lock_dispatch(cl_db_t *db, uint64_t case_id, cl_dispatch_row_t *out, cl_err_t *err) CL_WARN_UNUSED;

/* Moves case case_id's dispatch to department dept and person who (NULL:
   queued) under policy version. Returns 0, or -1 with err. */
int cl_dstore_move(cl_db_t *db, uint64_t case_id, const char *dept, const char *who, int version, cl_err_t *err)
    CL_WARN_UNUSED;

/* Begins the handover of site q->site (one at a time per site: a second one
   waits for the first's commit) at now_us: records it with every open case
   the outgoing person tracks (as first receiver or by an earlier handover),
   locked, and makes the incoming person their tracker. Fills h's id, cases
   (the caller frees h->case_ids and h->states) and time. The transaction
   stays open for the event. Returns 0, or -1 with err (rolled back). */
int cl_dstore_hand_over(cl_db_t *db, const Caseloop__V1__HandOver *q, int64_t now_us, Caseloop__V1__Handover *h,
                        cl_err_t *err) CL_WARN_UNUSED;

/* Records the position of handover id's event. Returns 0, or -1 with err. */
int cl_dstore_handover_at(cl_db_t *db, uint64_t id, uint64_t position, cl_err_t *err) CL_WARN_UNUSED;

/* The newest limit handovers of site (to incoming when not NULL) into out
   (free with cl_dstore_handovers_free). Returns 0, or -1 with err. */
int cl_dstore_list_handovers(cl_db_t *db, const char *site, const char *incoming, uint32_t limit,
                             Caseloop__V1__ListHandoversReply *out, cl_err_t *err) CL_WARN_UNUSED;
void cl_dstore_handovers_free(Caseloop__V1__ListHandoversReply *out);

#endif
