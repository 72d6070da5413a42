/* intake.h - the intake service: registers cases, answers case lookups and event reads. */
#ifndef CL_INTAKE_H
#define CL_INTAKE_H

#include <signal.h>
#include <stdint.h>
#include "cl.h"
#include "terms.h"
#include "cl_publish.h"

typedef struct {
    cl_service_config_t base;
    int64_t store_workers;
} cl_intake_config_t;

extern const cl_cfg_option_t cl_intake_options[];

/* One SubmitCase of a batch and what became of it. */
typedef struct {
    Caseloop__V1__Case *in;      /* the submitted details (owned by the request envelope) */
    cl_terms_t terms;            /* its site's terms at the time of receipt (cl_terms_of), set before storing */
    cl_err_t err;                /* set when it failed */
    Caseloop__V1__SubmitOutcome outcome;
    uint64_t case_id;
    uint64_t report_id;
    int64_t respond_by_us;
    uint32_t report_count;
    /* working state of cl_store_submit */
    int same_as;                 /* index of an earlier item with the same idempotency key, or -1 */
    int attach_to_item;          /* index of a new case of this batch it attaches to, or -1 */
    uint32_t batch_reports;      /* a new case: reports attached to it in this batch */
} cl_submit_t;

/* The events a stored batch produced, to publish after commit. */
typedef struct {
    cl_event_t *evs;
    size_t n;
    void *mem;   /* one allocation behind evs and their envelopes */
    uint64_t turn;  /* the commit's turn to be published (cl_publisher_put) */
} cl_store_events_t;

/* Stores a batch of validated submissions, received at now_us, in one
   transaction with their events, committed as one of pub's appenders. On
   success every item has its outcome and out holds the events to publish
   with their turn (release with cl_store_events_release);
   returns 0. Returns -1 with err when the batch failed as a whole (UNAVAILABLE
   while the database is down, else INTERNAL or a retryable conflict: see
   cl_db_retryable); nothing is stored then. Every idempotency key stored
   is claimed in table idempotency_keys: a key another transaction (worker or
   intake instance) stored first fails the batch with a retryable conflict,
   and tried again that item is REPEATED with the first one's case and
   report. A new case is promised what its terms promise (respond_by,
   R-IN-2; none when 0), and is the same problem as an open case by its
   terms' dedupe (R-IN-3). */
int cl_store_submit(cl_db_t *db, cl_submit_t *items, size_t n, int64_t now_us, const char *sender,
                    cl_publisher_t *pub, cl_store_events_t *out, cl_err_t *err) CL_WARN_UNUSED;
void cl_store_events_release(cl_store_events_t *out);

/* Reads case_id with its reports into a new *reply_p, freed with
   cl_store_case_free. Returns 0, or -1 with err NOT_FOUND / UNAVAILABLE / INTERNAL. */
int cl_store_get_case(cl_db_t *db, uint64_t case_id, Caseloop__V1__GetCaseReply **reply_p, cl_err_t *err);
void cl_store_case_free(Caseloop__V1__GetCaseReply **reply_p);

/* Checks that the case a new case names as raised in its callback exists and
   is of the same site, so that the new case is linked to it (R-CB-6). Returns
   0, or -1 with err NOT_FOUND / INVALID_ARGUMENT (field
   details.raised_in_callback_of) / UNAVAILABLE / INTERNAL. */
int cl_store_check_callback_of(cl_db_t *db, const Caseloop__V1__Case *c, cl_err_t *err) CL_WARN_UNUSED;

/* In a transaction begun: replaces case case_id's callback preferences with
   the packed bytes (len), and copies its site into site. Returns 0, or -1
   with err (NOT_FOUND on case_id). */
int cl_store_set_preferences(cl_db_t *db, uint64_t case_id, const void *packed, size_t len, char site[80],
                             cl_err_t *err) CL_WARN_UNUSED;

typedef struct cl_intake cl_intake_t;

/* Opens the database (migrating it), binds the ROUTER and PUB endpoints.
   Returns NULL with err when it cannot start. */
cl_intake_t *cl_intake_new(const cl_intake_config_t *cfg, cl_clock_t *clock, cl_err_t *err);
void cl_intake_destroy(cl_intake_t **self_p);

/* Serves until *stop becomes non-zero (set from a signal handler). Returns 0. */
int cl_intake_run(cl_intake_t *self, volatile sig_atomic_t *stop);

#endif
