/* dispatcher.c - the dispatcher service loop: policy requests, and the event log applied exactly once. */
#include "dispatcher.h"
#include "cl_policy.h"
#include "cl_publish.h"
#include "route.h"
#include "store.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SENDER "dispatcher"
#define CONSUMER "dispatcher"

const cl_cfg_option_t cl_dispatcher_options[] = {
    CL_SERVICE_OPTIONS(cl_dispatcher_config_t),
    CL_SERVICE_ENDPOINTS(cl_dispatcher_config_t, "DISPATCHER", "tcp://127.0.0.1:7111", "tcp://127.0.0.1:7112"),
    CL_CFG_STR("CL_INTAKE_PUB", cl_dispatcher_config_t, intake_pub, "tcp://127.0.0.1:7102",
               "intake's event endpoint, subscribed to hear of new cases at once"),
    CL_SERVICE_LIMITS(cl_dispatcher_config_t, "1048576",
                      "largest request frame accepted, in bytes (a policy document travels in one)", "500", 10000,
                      "most events applied in one transaction"),
    CL_SERVICE_IDLE_OPTION(cl_dispatcher_config_t),
    {0},
};

/* What the dispatcher keeps of one site in force between cases. */
typedef struct {
    uint32_t *open;             /* workloads: open cases per staff of its policy; NULL when not known */
    int64_t local_at;           /* the time (UTC, us) `local` is of; 0 for none */
    struct tm local;            /* the site's local time then (who is on shift) */
} s_site_state_t;

struct cl_dispatcher {
    const cl_dispatcher_config_t *cfg;
    cl_runtime_t rt;
    cl_policies_t policies;     /* in force */
    bool recheck_waiting;       /* a policy came: cases that waited for one may go now */
    /* Per site in force (policies.sites[i]): state[i]. Its workloads, which
       assignment balances (R-RT-2), are kept between batches so that a batch
       needs no query for them: state[i].open[j] = open cases of staff j, or
       open NULL when not known. They hold as of the consumer position
       `known`, the one this process committed last (none when !has_known); a
       batch that starts elsewhere forgets them all, and one that reads an
       event changing a site's workloads (which this process did not count
       itself) forgets that site's. A forgotten site is read again
       (cl_dstore_open_counts) at its next case. */
    s_site_state_t *state;
    size_t nstate;              /* = policies.n */
    bool has_known;
    uint64_t known;
    /* The positions this process appended in its batches (their CaseAssigned
       are counted in open already) that its reads may still meet: spans
       [lo, hi] beyond the position it last started a batch from. */
    cl_span_t *own;
    size_t nown, own_cap;
};

/* --- workloads kept in memory (R-RT-2) ------------------------------------------------ */

/* Forgets the workloads of site i in force. */
static void s_forget_site(cl_dispatcher_t *self, size_t i)
{
    if (i < self->nstate) {
        free(self->state[i].open);
        self->state[i].open = NULL;
    }
}

/* Forgets every workload and the position they held as of. */
static void s_forget_workloads(cl_dispatcher_t *self)
{
    for (size_t i = 0; i < self->nstate; i++)
        s_forget_site(self, i);
    self->has_known = false;
}

/* Makes room for the sites in force now, knowing nothing of them (their
   staff lists and time zones may have changed). */
static void s_state_resize(cl_dispatcher_t *self)
{
    s_forget_workloads(self);
    free(self->state);
    self->nstate = self->policies.n;
    self->state = calloc(self->nstate + 1, sizeof *self->state);
    if (!self->state)
        abort();
}

/* Remembers that this process appended the events evs (consecutive positions) and committed them. */
static void s_own_add(cl_dispatcher_t *self, const cl_event_t *evs, size_t n)
{
    if (n == 0)
        return;
    if (self->nown == self->own_cap) {
        self->own_cap = self->own_cap ? self->own_cap * 2 : 8;
        self->own = realloc(self->own, self->own_cap * sizeof *self->own);
        if (!self->own)
            abort();
    }
    self->own[self->nown].lo = evs[0].env->position;
    self->own[self->nown].hi = evs[n - 1].env->position;
    self->nown++;
}

/* Drops the spans at or before position `from`: no read of this process meets them again. */
static void s_own_prune(cl_dispatcher_t *self, uint64_t from)
{
    size_t k = 0;
    for (size_t i = 0; i < self->nown; i++)
        if (self->own[i].hi > from)
            self->own[k++] = self->own[i];
    self->nown = k;
}

/* --- policies in force ------------------------------------------------------------ */

/* Loads each site's newest policy when a newer version exists; then cases
   that waited for a policy are looked at again, and the workloads kept
   (indexed by the staff of the policies) are read again when needed. */
static int s_load_policies(cl_dispatcher_t *self, cl_err_t *err)
{
    int rc = cl_policies_refresh(&self->policies, self->rt.db, err);
    if (rc > 0) {
        self->recheck_waiting = true;
        s_state_resize(self);
    }
    return rc < 0 ? -1 : 0;
}

static const cl_site_in_force_t *s_site(const cl_dispatcher_t *self, const char *code)
{
    return cl_policies_site(&self->policies, code);
}

static void s_load_policy(void *arg, cl_request_t *req, const cl_env_t *env)
{
    cl_dispatcher_t *self = arg;
    const Caseloop__V1__LoadPolicy *q = env->load_policy;
    cl_err_t err;
    cl_err_clear(&err);
    const char *doc = q->document ? q->document : "";
    cl_policy_t *p = cl_policy_parse(doc, strlen(doc), self->cfg->base.tz_dir, &err);
    if (!p) {
        cl_service_refuse(self->rt.svc, req, env, &err);
        return;
    }
    const char *source = q->source && *q->source ? q->source : "(unnamed)";
    int version = cl_policies_store(self->rt.db, p, source, cl_clock_now(self->rt.clock), &err);
    if (version < 0) {
        cl_service_refuse(self->rt.svc, req, env, &err);
        cl_policy_destroy(&p);
        return;
    }
    cl_log(CL_LOG_INFO, NULL, "policy version %d loaded from %s", version, source);
    cl_env_t reply;
    char id[CL_ID_MAX + 1];
    cl_service_reply_init(self->rt.svc, &reply, id, env);
    Caseloop__V1__LoadPolicyReply body = CASELOOP__V1__LOAD_POLICY_REPLY__INIT;
    body.has_version = 1, body.version = (uint32_t)version;
    char **codes = calloc(p->nsites + 1, sizeof *codes);
    if (!codes)
        abort();
    for (size_t i = 0; i < p->nsites; i++)
        codes[i] = p->sites[i].code;
    body.sites = codes;
    body.n_sites = p->nsites;
    reply.body_case = CASELOOP__V1__ENVELOPE__BODY_LOAD_POLICY_REPLY;
    reply.load_policy_reply = &body;
    cl_service_reply(self->rt.svc, req, &reply);
    free(codes);
    cl_policy_destroy(&p);
    cl_service_count(self->rt.svc, "policies_loaded", 1);
    if (s_load_policies(self, &err) < 0)
        cl_log(CL_LOG_WARN, NULL, "could not reload policies: %s", err.message);
}

static void s_get_policy(void *arg, cl_request_t *req, const cl_env_t *env)
{
    cl_dispatcher_t *self = arg;
    cl_err_t err;
    cl_err_clear(&err);
    const char *site = env->get_policy->site;
    if (cl_text_check(site, "site", 1, 64, &err) < 0) {
        cl_service_refuse(self->rt.svc, req, env, &err);
        return;
    }
    cl_policy_stored_t stored;
    if (cl_policies_latest(self->rt.db, site, &stored, &err) < 0) {
        cl_service_refuse(self->rt.svc, req, env, &err);
        return;
    }
    cl_env_t reply;
    char id[CL_ID_MAX + 1];
    cl_service_reply_init(self->rt.svc, &reply, id, env);
    Caseloop__V1__GetPolicyReply body = CASELOOP__V1__GET_POLICY_REPLY__INIT;
    body.has_version = 1, body.version = (uint32_t)stored.version;
    body.document = stored.document;
    body.has_loaded_at_us = 1, body.loaded_at_us = stored.loaded_at_us;
    body.source = stored.source;
    reply.body_case = CASELOOP__V1__ENVELOPE__BODY_GET_POLICY_REPLY;
    reply.get_policy_reply = &body;
    cl_service_reply(self->rt.svc, req, &reply);
    cl_policy_stored_free(&stored);
}

/* --- transfers and handovers --------------------------------------------------------- */


static int s_staff_index(const cl_site_policy_t *s, const char *id)
{
    for (size_t i = 0; i < s->nstaff; i++)
        if (strcmp(s->staff[i].id, id) == 0)
            return (int)i;
    return -1;
}

static int s_department_index(const cl_site_policy_t *s, const char *code)
{
    for (size_t i = 0; i < s->ndepartments; i++)
        if (strcmp(s->departments[i].code, code) == 0)
            return (int)i;
    return -1;
}

/* Appends one event about a case (0 for none) and commits; publishes after. */
static int s_append_commit(cl_dispatcher_t *self, cl_env_t *env, int64_t case_id, int64_t now, cl_err_t *err)
{
    cl_event_t ev = {env, case_id, {0}};
    uint64_t turn = cl_publisher_commit(self->rt.publisher, self->rt.db, &ev, 1, now, err);
    if (turn)
        cl_publisher_put(self->rt.publisher, turn, &ev, 1);
    cl_eventlog_release(&ev, 1);
    return turn ? 0 : -1;
}

/* Passes case q->case_id on to another department and/or person (R-RT-3: the
   case goes to whoever can meet it, never back to the customer): to a named
   person, or by the normal assignment rule within the department named (or
   the current one). Refuses a case not dispatched, resolved or closed, or of a
   site without a policy. Stores the dispatch and CaseTransferred in one
   transaction, publishes after commit, and fills out. Returns 0, or -1 with
   err (INVALID_ARGUMENT, NOT_FOUND, CONFLICT, UNAVAILABLE, INTERNAL). */
static int s_transfer(cl_dispatcher_t *self, const Caseloop__V1__TransferCase *q, Caseloop__V1__TransferCaseReply *out,
                      char *dept_buf, char *who_buf, cl_err_t *err)
{
    if (!q->has_case_id || q->case_id == 0 || q->case_id > INT64_MAX)
        return cl_err_set(err, CL_INVALID_ARGUMENT, "case_id", "case_id is required");
    if (cl_text_check(q->actor, "actor", 1, 100, err) < 0 || cl_text_check(q->reason, "reason", 0, 4000, err) < 0 ||
        cl_text_check(q->department, "department", 0, 64, err) < 0 ||
        cl_text_check(q->assignee, "assignee", 0, 100, err) < 0)
        return -1;
    bool to_dept = q->department && *q->department, to_person = q->assignee && *q->assignee;
    if (!to_dept && !to_person)
        return cl_err_set(err, CL_INVALID_ARGUMENT, "department", "give a department, an assignee or both");
    char id[24];
    snprintf(id, sizeof id, "%" PRIu64, q->case_id); /* for messages */
    if (cl_db_begin(self->rt.db, err) < 0)
        return -1;
    cl_dispatch_row_t row;
    if (cl_dstore_lock_dispatch(self->rt.db, q->case_id, &row, err) < 0)
        goto err;
    const char *site = row.site, *from_dept = row.department, *from_who = row.assignee;
    int state = row.state, kind = row.kind;
    if (state == CASELOOP__V1__CASE_STATE__CASE_STATE_CLOSED || state == CASELOOP__V1__CASE_STATE__CASE_STATE_RESOLVED) {
        char name[32];
        cl_err_set(err, CL_CONFLICT, "case_id", "cannot transfer a case that is %s",
                   cl_codec_enum_name(&caseloop__v1__case_state__descriptor, state, name, sizeof name));
        goto err;
    }
    const cl_site_in_force_t *ps = s_site(self, site);
    if (!ps) {
        cl_err_set(err, CL_CONFLICT, "case_id", "site \"%s\" has no policy", site);
        goto err;
    }
    const cl_site_policy_t *s = &ps->policy->sites[0];
    int dept = to_dept ? s_department_index(s, q->department) : s_department_index(s, from_dept);
    if (to_dept && dept < 0) {
        cl_err_set(err, CL_NOT_FOUND, "department", "department \"%s\" is not one of site \"%s\"", q->department, site);
        goto err;
    }
    int who = -1;
    if (to_person) {
        who = s_staff_index(s, q->assignee);
        if (who < 0) {
            cl_err_set(err, CL_NOT_FOUND, "assignee", "staff \"%s\" is not of site \"%s\"", q->assignee, site);
            goto err;
        }
        if (to_dept && s->staff[who].department >= 0 && s->staff[who].department != dept) {
            cl_err_set(err, CL_INVALID_ARGUMENT, "assignee", "staff \"%s\" is not of department \"%s\"", q->assignee,
                       q->department);
            goto err;
        }
        if (!to_dept && s->staff[who].department >= 0)
            dept = s->staff[who].department;
    } else {
        uint32_t *open = calloc(s->nstaff + 1, sizeof *open);
        if (!open)
            abort();
        struct tm local;
        cl_tz_localtime(s->time_zone, cl_clock_now(self->rt.clock), &local);
        if (cl_dstore_open_counts(self->rt.db, s, open, err) < 0) {
            free(open);
            goto err;
        }
        who = cl_assign_in(s, dept, kind, &local, open);
        free(open);
    }
    if (dept < 0) {
        cl_err_set(err, CL_CONFLICT, "department", "case %s has no department to stay in; name one", id);
        goto err;
    }
    snprintf(dept_buf, 80, "%s", s->departments[dept].code);
    snprintf(who_buf, 120, "%s", who >= 0 ? s->staff[who].id : "");
    if (cl_dstore_move(self->rt.db, q->case_id, dept_buf, who >= 0 ? who_buf : NULL, ps->version, err) < 0)
        goto err;
    int64_t now = cl_clock_now(self->rt.clock);
    Caseloop__V1__CaseTransferred t = CASELOOP__V1__CASE_TRANSFERRED__INIT;
    t.has_case_id = 1, t.case_id = q->case_id;
    t.site = (char *)site;
    t.from_department = (char *)from_dept;
    t.to_department = dept_buf;
    t.from_assignee = (char *)from_who;
    t.to_assignee = who_buf;
    t.actor = q->actor;
    t.reason = q->reason;
    t.has_policy_version = 1, t.policy_version = (uint32_t)ps->version;
    cl_env_t env;
    char eid[CL_ID_MAX + 1];
    cl_codec_init(&env, eid, SENDER, now);
    env.site = (char *)site;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_CASE_TRANSFERRED;
    env.case_transferred = &t;
    if (s_append_commit(self, &env, (int64_t)q->case_id, now, err) < 0)
        goto err;
    /* Two workloads changed: read them again at the site's next case (the
       next batch also meets CaseTransferred in the log, maybe after a case). */
    s_forget_site(self, (size_t)(ps - self->policies.sites));
    out->has_case_id = 1, out->case_id = q->case_id;
    out->department = dept_buf;
    out->assignee = who_buf;
    out->has_queued = 1, out->queued = who < 0;
    return 0;
err:
    cl_db_rollback(self->rt.db);
    return -1;
}

static void s_transfer_case(void *arg, cl_request_t *req, const cl_env_t *env)
{
    cl_dispatcher_t *self = arg;
    cl_err_t err;
    cl_err_clear(&err);
    char dept[80], who[120];
    Caseloop__V1__TransferCaseReply body = CASELOOP__V1__TRANSFER_CASE_REPLY__INIT;
    if (s_transfer(self, env->transfer_case, &body, dept, who, &err) < 0) {
        cl_service_refuse(self->rt.svc, req, env, &err);
        return;
    }
    cl_env_t reply;
    char id[CL_ID_MAX + 1];
    cl_service_reply_init(self->rt.svc, &reply, id, env);
    reply.body_case = CASELOOP__V1__ENVELOPE__BODY_TRANSFER_CASE_REPLY;
    reply.transfer_case_reply = &body;
    cl_service_reply(self->rt.svc, req, &reply);
    cl_service_count(self->rt.svc, "cases_transferred", 1);
}

/* The shift handover of site q->site (R-CL-4): records every open case the
   outgoing person tracks (as first receiver or by an earlier handover) and
   makes the incoming person its tracker, with ShiftHandedOver, in one
   transaction; one handover of a site at a time. Fills h (its case lists are
   the caller's to free). Returns 0, or -1 with err (INVALID_ARGUMENT,
   NOT_FOUND, UNAVAILABLE, INTERNAL). */
static int s_hand_over(cl_dispatcher_t *self, const Caseloop__V1__HandOver *q, Caseloop__V1__Handover *h,
                       cl_err_t *err)
{
    if (cl_text_check(q->site, "site", 1, 64, err) < 0 || cl_text_check(q->outgoing, "outgoing", 1, 100, err) < 0 ||
        cl_text_check(q->incoming, "incoming", 1, 100, err) < 0 || cl_text_check(q->note, "note", 0, 4000, err) < 0)
        return -1;
    if (strcmp(q->outgoing, q->incoming) == 0)
        return cl_err_set(err, CL_INVALID_ARGUMENT, "incoming", "the incoming person is the outgoing one");
    if (s_load_policies(self, err) < 0)
        return -1;
    const cl_site_in_force_t *ps = s_site(self, q->site);
    if (!ps)
        return cl_err_set(err, CL_NOT_FOUND, "site", "site \"%s\" has no policy", q->site);
    const cl_site_policy_t *s = &ps->policy->sites[0];
    if (s_staff_index(s, q->outgoing) < 0)
        return cl_err_set(err, CL_NOT_FOUND, "outgoing", "staff \"%s\" is not of site \"%s\"", q->outgoing, q->site);
    if (s_staff_index(s, q->incoming) < 0)
        return cl_err_set(err, CL_NOT_FOUND, "incoming", "staff \"%s\" is not of site \"%s\"", q->incoming, q->site);
    int64_t now = cl_clock_now(self->rt.clock);
    if (cl_dstore_hand_over(self->rt.db, q, now, h, err) < 0)
        return -1;
    h->site = q->site;
    h->outgoing = q->outgoing;
    h->incoming = q->incoming;
    h->note = q->note ? q->note : "";
    Caseloop__V1__ShiftHandedOver ev = CASELOOP__V1__SHIFT_HANDED_OVER__INIT;
    ev.handover = h;
    cl_env_t env;
    char eid[CL_ID_MAX + 1];
    cl_codec_init(&env, eid, SENDER, now);
    env.site = q->site;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_SHIFT_HANDED_OVER;
    env.shift_handed_over = &ev;
    cl_event_t e = {&env, 0, {0}};
    cl_publisher_lock(self->rt.publisher);
    int rc = cl_eventlog_append(self->rt.db, &e, 1, now, err);
    if (rc == 0)
        rc = cl_dstore_handover_at(self->rt.db, h->handover_id, env.position, err);
    if (rc == 0)
        rc = cl_db_commit(self->rt.db, err);
    else
        cl_db_rollback(self->rt.db);
    uint64_t turn = cl_publisher_unlock(self->rt.publisher, rc == 0);
    if (turn)
        cl_publisher_put(self->rt.publisher, turn, &e, 1);
    cl_eventlog_release(&e, 1);
    if (rc < 0)
        goto err;
    return 0;
err:
    cl_db_rollback(self->rt.db);
    return -1;
}

static void s_hand_over_request(void *arg, cl_request_t *req, const cl_env_t *env)
{
    cl_dispatcher_t *self = arg;
    cl_err_t err;
    cl_err_clear(&err);
    Caseloop__V1__Handover h = CASELOOP__V1__HANDOVER__INIT;
    if (s_hand_over(self, env->hand_over, &h, &err) < 0) {
        free(h.case_ids);
        free(h.states);
        cl_service_refuse(self->rt.svc, req, env, &err);
        return;
    }
    cl_env_t reply;
    char id[CL_ID_MAX + 1];
    cl_service_reply_init(self->rt.svc, &reply, id, env);
    Caseloop__V1__HandOverReply body = CASELOOP__V1__HAND_OVER_REPLY__INIT;
    body.handover = &h;
    reply.body_case = CASELOOP__V1__ENVELOPE__BODY_HAND_OVER_REPLY;
    reply.hand_over_reply = &body;
    cl_service_reply(self->rt.svc, req, &reply);
    free(h.case_ids);
    free(h.states);
    cl_service_count(self->rt.svc, "handovers", 1);
}

static void s_list_handovers(void *arg, cl_request_t *req, const cl_env_t *env)
{
    cl_dispatcher_t *self = arg;
    const Caseloop__V1__ListHandovers *q = env->list_handovers;
    cl_err_t err;
    cl_err_clear(&err);
    uint32_t limit;
    if (cl_text_check(q->site, "site", 1, 64, &err) < 0 || cl_text_check(q->incoming, "incoming", 0, 100, &err) < 0 ||
        cl_text_limit(q->has_limit, q->limit, 10, 100, &limit, &err) < 0) {
        cl_service_refuse(self->rt.svc, req, env, &err);
        return;
    }
    Caseloop__V1__ListHandoversReply body = CASELOOP__V1__LIST_HANDOVERS_REPLY__INIT;
    if (cl_dstore_list_handovers(self->rt.db, q->site, q->incoming && *q->incoming ? q->incoming : NULL, limit, &body,
                                 &err) < 0) {
        cl_service_refuse(self->rt.svc, req, env, &err);
        return;
    }
    cl_env_t reply;
    char id[CL_ID_MAX + 1];
    cl_service_reply_init(self->rt.svc, &reply, id, env);
    reply.body_case = CASELOOP__V1__ENVELOPE__BODY_LIST_HANDOVERS_REPLY;
    reply.list_handovers_reply = &body;
    cl_service_reply(self->rt.svc, req, &reply);
    cl_dstore_handovers_free(&body);
}

/* --- applying the event log ------------------------------------------------------- */

/* The workloads of site si in force (policy s), from memory, or read once
   (cl_dstore_open_counts) when not known; the caller's batch keeps them up to date
   with its own assignments (R-RT-2). NULL with err when the read fails. */
static uint32_t *s_workloads(cl_dispatcher_t *self, size_t si, const cl_site_policy_t *s, cl_err_t *err)
{
    if (si >= self->nstate) { /* cannot happen: nstate follows the policies */
        cl_err_set(err, CL_INTERNAL, "", "no room for the workloads of site \"%s\"", s->code);
        return NULL;
    }
    if (!self->state[si].open) {
        uint32_t *open = calloc(s->nstaff + 1, sizeof *open);
        if (!open)
            abort();
        if (cl_dstore_open_counts(self->rt.db, s, open, err) < 0) {
            free(open);
            return NULL;
        }
        self->state[si].open = open;
        cl_service_count(self->rt.svc, "workloads_read", 1);
    }
    return self->state[si].open;
}

/* True when some site's workloads are known. */
static bool s_workloads_known(const cl_dispatcher_t *self)
{
    for (size_t i = 0; i < self->nstate; i++)
        if (self->state[i].open)
            return true;
    return false;
}

/* Forgets the workloads of each site that an event in (from, upto] changed,
   unless this process appended it (and counted it as it did): a case
   assigned (by another instance, or before a restart) or transferred, or
   closed or reopened (CaseUpdated to or from CLOSED). Every change of
   dispatches.assignee or of a case to or from CLOSED comes with one of these
   events in its transaction. A site read again after such an event's commit
   and forgotten for it once more costs a read, nothing else. Returns 0, or
   -1 with err. */
/* An event changed site's workloads: they are forgotten. */
static void s_site_changed(void *arg, const char *site)
{
    cl_dispatcher_t *self = arg;
    const cl_site_in_force_t *in_force = s_site(self, site);
    if (in_force && (size_t)(in_force - self->policies.sites) < self->nstate)
        s_forget_site(self, (size_t)(in_force - self->policies.sites));
}

static int s_forget_changed(cl_dispatcher_t *self, uint64_t from, uint64_t upto, cl_err_t *err)
{
    if (upto <= from || !s_workloads_known(self))
        return 0;
    return cl_dstore_workload_changes(self->rt.db, from, upto, self->own, self->nown, s_site_changed, self, err);
}

/* Decides one case: department, person, whom to tell, by the workloads of
   its site (s_workloads), which its assignment adds to. */
static int s_decide(cl_dispatcher_t *self, const Caseloop__V1__Case *c, int64_t now, cl_dispatch_rec_t *d, cl_err_t *err)
{
    d->case_id = c->case_id;
    d->site = c->site;
    d->kind = (int)c->kind;
    d->severity = c->has_severity && c->severity ? (int)c->severity : CASELOOP__V1__SEVERITY__SEVERITY_GENERAL;
    d->department = "";
    const cl_site_in_force_t *site = s_site(self, c->site);
    if (!site) {
        cl_log_ctx_t ctx = {(int64_t)c->case_id, c->site, NULL, NULL};
        cl_log(CL_LOG_ERROR, &ctx, "site has no policy: the case waits until one is loaded (caseloop policy load)");
        return 0;
    }
    const cl_site_policy_t *s = &site->policy->sites[0];
    d->version = site->version;
    if (d->kind == CASELOOP__V1__KIND__KIND_UNSPECIFIED) {
        d->kind = cl_classify(s, c->description ? c->description : "");
        d->classified = true;
    }
    size_t si = (size_t)(site - self->policies.sites);
    uint32_t *open = s_workloads(self, si, s, err);
    if (!open)
        return -1;
    /* A batch decides at one time: the site's local time is worked out once
       (cl_tz_localtime reads the zone file). */
    s_site_state_t *st = &self->state[si];
    if (st->local_at != now) {
        cl_tz_localtime(s->time_zone, now, &st->local);
        st->local_at = now;
    }
    cl_dispatch_t out;
    if (cl_dispatch_decide(s, d->kind, d->severity, &st->local, open, &out) < 0) {
        cl_log_ctx_t ctx = {(int64_t)c->case_id, c->site, NULL, NULL};
        cl_log(CL_LOG_ERROR, &ctx, "no department takes kind %d: the case waits undispatched", d->kind);
        return 0;
    }
    d->department = s->departments[out.department].code;
    d->special = out.special;
    if (out.assignee >= 0) {
        d->assignee = s->staff[out.assignee].id;
        open[out.assignee]++;
    }
    if (out.notify >= 0)
        d->notified = s->staff[out.notify].id;
    return 0;
}

static void s_events(cl_dispatch_rec_t *d, int64_t now, cl_event_t *evs)
{
    Caseloop__V1__CaseDispatched *x = &d->dispatched;
    caseloop__v1__case_dispatched__init(x);
    x->has_case_id = 1, x->case_id = d->case_id;
    x->site = (char *)d->site;
    x->has_kind = 1, x->kind = (Caseloop__V1__Kind)d->kind;
    x->has_classified = 1, x->classified = d->classified;
    x->has_severity = 1, x->severity = (Caseloop__V1__Severity)d->severity;
    x->department = (char *)d->department;
    x->has_special = 1, x->special = d->special;
    x->has_policy_version = d->version > 0, x->policy_version = (uint32_t)d->version;
    Caseloop__V1__CaseAssigned *a = &d->assigned;
    caseloop__v1__case_assigned__init(a);
    a->has_case_id = 1, a->case_id = d->case_id;
    a->site = (char *)d->site;
    a->department = (char *)d->department;
    a->assignee = (char *)(d->assignee ? d->assignee : "");
    a->has_queued = 1, a->queued = d->assignee == NULL;
    if (d->notified) {
        d->notified_list[0] = (char *)d->notified;
        a->notified = d->notified_list;
        a->n_notified = 1;
    }
    a->has_policy_version = d->version > 0, a->policy_version = (uint32_t)d->version;
    for (int k = 0; k < 2; k++) {
        cl_codec_init(&d->env[k], d->ids[k], SENDER, now);
        d->env[k].site = (char *)d->site;
        evs[k].env = &d->env[k];
        evs[k].case_id = (int64_t)d->case_id;
    }
    d->env[0].body_case = CASELOOP__V1__ENVELOPE__BODY_CASE_DISPATCHED;
    d->env[0].case_dispatched = x;
    d->env[1].body_case = CASELOOP__V1__ENVELOPE__BODY_CASE_ASSIGNED;
    d->env[1].case_assigned = a;
}

/* Cases that came while their site had no policy, for the sites that have
   one now: decided into ds from *nd on, at most room. The rows stay in w
   until the batch ends (ds points into them). Returns how many, -1. */
static int s_waiting(cl_dispatcher_t *self, cl_dispatch_rec_t *ds, size_t *nd, size_t room, int64_t now, cl_waiting_t *w,
                     cl_err_t *err)
{
    if (cl_dstore_waiting(self->rt.db, &self->policies, room, w, err) < 0)
        return -1;
    for (size_t r = 0; r < w->n; r++) {
        cl_dispatch_rec_t *d = &ds[*nd];
        d->position = w->positions[r];
        d->waited = true;
        if (s_decide(self, &w->cases[r], now, d, err) < 0)
            return -1;
        (*nd)++;
    }
    return (int)w->n;
}

/* Applies the next events of the log in one transaction, holding the
   consumer's position row so that another instance waits. Returns how many
   events it applied, 0 at the end of the log, -1 on failure. */
static int s_apply_batch(void *arg, cl_err_t *err)
{
    cl_dispatcher_t *self = arg;
    cl_env_t **events = calloc((size_t)self->cfg->base.batch_max, sizeof *events);
    int nev = 0;
    cl_dispatch_rec_t *ds = calloc((size_t)self->cfg->base.batch_max, sizeof *ds);
    cl_event_t *evs = calloc((size_t)self->cfg->base.batch_max * 2, sizeof *evs);
    if (!events || !ds || !evs)
        abort();
    size_t nd = 0, nevs = 0;
    int rc = -1;
    cl_waiting_t waiting = {0};
    int64_t now = cl_clock_now(self->rt.clock);
    uint64_t from, upto;
    static const char *const types[] = {"CaseReceived", NULL}; /* what it dispatches; nothing else moves it */
    nev = cl_eventlog_consume(self->rt.db, CONSUMER, types, (uint32_t)self->cfg->base.batch_max, events, &from, &upto, err);
    if (nev < 0) {
        nev = 0;
        goto out;
    }
    if (s_load_policies(self, err) < 0)
        goto out;
    /* The workloads in memory hold as of the position this process committed
       last: if the log was applied from elsewhere since (another instance), or
       never, they are read again; then each site that the events to apply now
       changed is (events that lie beyond a shortened batch's end, once more
       next time: forgetting twice costs a read). */
    if (!self->has_known || from != self->known)
        s_forget_workloads(self);
    s_own_prune(self, from);
    if (s_forget_changed(self, from, upto, err) < 0)
        goto out;
    /* First the cases that waited for a policy, then the log's new events. */
    int n = 0;
    if (self->recheck_waiting) {
        size_t room = self->cfg->base.batch_max > 1 ? (size_t)self->cfg->base.batch_max / 2 : 1;
        n = s_waiting(self, ds, &nd, room, now, &waiting, err);
        if (n < 0)
            goto out;
        if ((size_t)n < room)
            self->recheck_waiting = false;
        if (n > 0)
            cl_log(CL_LOG_INFO, NULL, "%d case(s) that waited for their site's policy are dispatched", n);
    }
    if (nev > (int)((size_t)self->cfg->base.batch_max - nd)) {
        for (int i = (int)((size_t)self->cfg->base.batch_max - nd); i < nev; i++)
            cl_codec_free(events[i]);
        nev = (int)((size_t)self->cfg->base.batch_max - nd);
        upto = nev ? events[nev - 1]->position : from; /* the rest is read again next time */
    }
    if (nev == 0 && nd == 0) {
        /* none of its kind: the position still moves on past the others */
        rc = (upto > from ? cl_eventlog_consumed(self->rt.db, CONSUMER, upto, err) : cl_db_commit(self->rt.db, err)) < 0 ? -1 : 0;
        if (rc == 0)
            self->has_known = true, self->known = upto;
        goto out;
    }
    for (int i = 0; i < nev; i++) {
        const cl_env_t *ev = events[i];
        if (ev->body_case != CASELOOP__V1__ENVELOPE__BODY_CASE_RECEIVED || !ev->case_received->details)
            continue;
        ds[nd].position = ev->position;
        if (s_decide(self, ev->case_received->details, now, &ds[nd], err) < 0)
            goto out;
        nd++;
    }
    /* A case whose site has no policy yet is stored, waiting, with no event:
       CaseDispatched says a case reached its department. */
    for (size_t i = 0; i < nd; i++)
        if (*ds[i].department) {
            s_events(&ds[i], now, &evs[nevs]);
            nevs += 2;
        }
    if (cl_dstore_dispatches(self->rt.db, ds, nd, false, now, err) < 0 ||
        cl_dstore_dispatches(self->rt.db, ds, nd, true, now, err) < 0)
        goto out;
    cl_publisher_lock(self->rt.publisher);
    bool committed = cl_eventlog_append(self->rt.db, evs, nevs, now, err) == 0 &&
                     cl_eventlog_consumed(self->rt.db, CONSUMER, upto, err) == 0;
    if (!committed)
        cl_db_rollback(self->rt.db); /* before the lock is left */
    uint64_t turn = cl_publisher_unlock(self->rt.publisher, committed);
    if (!committed)
        goto out;
    /* Committed: the workloads, with this batch's assignments, hold as of upto. */
    self->has_known = true, self->known = upto;
    s_own_add(self, evs, nevs);
    cl_publisher_put(self->rt.publisher, turn, evs, nevs);
    cl_service_count(self->rt.svc, "events_applied", (uint64_t)nev);
    cl_service_count(self->rt.svc, "cases_dispatched", nd);
    for (size_t i = 0; i < nd; i++)
        if (!ds[i].assignee && *ds[i].department)
            cl_service_count(self->rt.svc, "cases_queued", 1);
    rc = nev + n;
out:
    if (rc < 0) {
        cl_db_rollback(self->rt.db);
        s_forget_workloads(self); /* they may count this batch's assignments */
    }
    cl_waiting_free(&waiting);
    cl_eventlog_release(evs, nevs);
    cl_eventlog_free_envs(events, nev);
    free(ds);
    free(evs);
    return rc;
}


/* --- the loop ------------------------------------------------------------------------ */

static const cl_handler_t s_handlers[] = {
    {CASELOOP__V1__ENVELOPE__BODY_LOAD_POLICY, s_load_policy, NULL},
    {CASELOOP__V1__ENVELOPE__BODY_GET_POLICY, s_get_policy, NULL},
    {CASELOOP__V1__ENVELOPE__BODY_TRANSFER_CASE, s_transfer_case, NULL},
    {CASELOOP__V1__ENVELOPE__BODY_HAND_OVER, s_hand_over_request, NULL},
    {CASELOOP__V1__ENVELOPE__BODY_LIST_HANDOVERS, s_list_handovers, NULL},
    {0, NULL, NULL},
};

cl_dispatcher_t *cl_dispatcher_new(const cl_dispatcher_config_t *cfg, cl_clock_t *clock, cl_err_t *err)
{
    cl_dispatcher_t *self = cl_service_alloc(sizeof *self, err);
    if (!self)
        return NULL;
    self->cfg = cfg;
    cl_policies_init(&self->policies, cfg->base.tz_dir);
    if (cl_runtime_open(&self->rt, SENDER, &cfg->base, clock, err) < 0 || s_load_policies(self, err) < 0 ||
        cl_runtime_listen(&self->rt, cfg->intake_pub, "CL_INTAKE_PUB", err) < 0)
        cl_dispatcher_destroy(&self);
    return self;
}

void cl_dispatcher_destroy(cl_dispatcher_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cl_dispatcher_t *self = *self_p;
    cl_runtime_close(&self->rt);
    s_forget_workloads(self);
    free(self->state);
    free(self->own);
    cl_policies_free(&self->policies);
    free(self);
    *self_p = NULL;
}

int cl_dispatcher_run(cl_dispatcher_t *self, volatile sig_atomic_t *stop)
{
    cl_log(CL_LOG_INFO, NULL, "hearing intake at %s", self->cfg->intake_pub);
    const cl_loop_t loop = {.self = self, .handlers = s_handlers, .apply = s_apply_batch};
    return cl_runtime_run(&self->rt, &loop, stop);
}
