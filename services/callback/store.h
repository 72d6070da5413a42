/* store.h - the callback-scheduler's SQL: the sampling key, draws and tallies, callback tasks and their timers. */
#ifndef CL_CALLBACK_STORE_H
#define CL_CALLBACK_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include "cl.h"
#include "cl_buf.h"
#include "cl_db.h"
#include "cl_policy.h"
#include "cl_timer.h"
#include "plan.h"
#include "caseloop/v1/envelope.pb-c.h"

/* The deployment's sampling key: read, or made once (random) and stored.
   Returns 0, or -1 with err. */
int cl_cbstore_seed(cl_db_t *db, uint8_t seed[CL_CB_SEED_BYTES], cl_err_t *err) CL_WARN_UNUSED;

/* A closed case as the scheduler decides on it. */
typedef struct {
    uint64_t case_id;
    char site[80];
    int kind, severity;
    bool anonymous, reply_letter_only;
    Caseloop__V1__CustomerPreferences *prefs; /* NULL: none given */
    int drawn;               /* its draw: -1 none yet, 0 not sampled, 1 sampled */
    uint32_t prior;          /* callbacks it had before */
    bool done;               /* this closing has its task already (a batch applied again) */
    bool found;              /* the case exists */
} cl_closed_case_t;

/* Reads the cases of n closings (case case_ids[i], closed by the event at
   positions[i]) into out[i] (found false for a case that does not exist; free
   each with cl_closed_case_free), in one query. Returns 0, or -1 with err. */
int cl_cbstore_closed_cases(cl_db_t *db, const uint64_t *case_ids, const uint64_t *positions, size_t n,
                            cl_closed_case_t *out, cl_err_t *err) CL_WARN_UNUSED;
void cl_closed_case_free(cl_closed_case_t *c);

/* A tally of site and kind for the month (site time) that `month` ("YYYY-MM-01") names. */
typedef struct {
    char site[80];
    int kind;
    char month[16];
    cl_cb_tally_t t;
} cl_cb_tally_key_t;

/* Reads the tallies of n distinct keys into their t (0, 0 when new), locked
   until the transaction ends; sorts keys (the one order every instance locks
   them in). Returns 0, or -1 with err. */
int cl_cbstore_tallies(cl_db_t *db, cl_cb_tally_key_t *keys, size_t n, cl_err_t *err) CL_WARN_UNUSED;
/* Writes the n tallies back. Returns 0, or -1 with err. */
int cl_cbstore_tallies_put(cl_db_t *db, const cl_cb_tally_key_t *keys, size_t n, cl_err_t *err) CL_WARN_UNUSED;

/* The draw of a case, counted in month ("YYYY-MM-01"). */
typedef struct {
    uint64_t case_id;
    const char *site;
    int kind;
    const char *month;
    bool sampled;
} cl_cb_draw_t;

/* Records n draws. Returns 0, or -1 with err. */
int cl_cbstore_draws(cl_db_t *db, const cl_cb_draw_t *draws, size_t n, cl_err_t *err) CL_WARN_UNUSED;

/* The load of a site's performers: open callbacks per staff index of s
   (open[], zeroed first), and calls each(arg, staff, window_us, n) for the
   callbacks each already has in a window instance starting at or after
   since_us. Returns 0, or -1 with err. */
int cl_cbstore_loads(cl_db_t *db, const cl_site_policy_t *s, int64_t since_us, uint32_t *open,
                     void (*each)(void *arg, int staff, int64_t window_us, uint32_t n), void *arg,
                     cl_err_t *err) CL_WARN_UNUSED;

/* A new callback task: cb (its callback_id set by cl_cbstore_insert), the
   closing it follows (the event at closed_position), the window instance it
   counts against (0: none), its timer first due at fire_us (-1: none). */
typedef struct {
    Caseloop__V1__Callback *cb;
    uint64_t closed_position;
    int64_t window_us;
    int64_t fire_us;
} cl_cb_new_t;

/* Stores n new callback tasks in one statement. Returns 0, or -1 with err. */
int cl_cbstore_insert(cl_db_t *db, cl_cb_new_t *rows, size_t n, cl_err_t *err) CL_WARN_UNUSED;

/* Callbacks read for a request or a decision: each with the customer's name,
   contact and preferences from its case. */
typedef struct {
    void *rows;
    Caseloop__V1__Callback *cbs;
    Caseloop__V1__Callback **ptrs;
    size_t n;
    bool *slot_missed;       /* per callback: its slot's passing was told */
    int64_t *window_us;      /* per callback: the window instance it counts against, 0 for none */
} cl_cb_list_t;
void cl_cb_list_free(cl_cb_list_t *l);

/* Callback id, locked until the transaction ends, into out (one or none). Returns 0, or -1. */
int cl_cbstore_lock(cl_db_t *db, uint64_t id, cl_cb_list_t *out, cl_err_t *err) CL_WARN_UNUSED;

/* The callbacks q asks for: of case q->case_id (oldest first), or of site
   q->site (of q->performer when given) whose slot starts in [from_us, to_us),
   in slot order; open ones only when q->open_only; at most limit. */
int cl_cbstore_list(cl_db_t *db, const Caseloop__V1__ListCallbacks *q, int64_t from_us, int64_t to_us,
                    uint32_t limit, cl_cb_list_t *out, cl_err_t *err) CL_WARN_UNUSED;

/* What a change of a callback's row sets besides the fields of cb it carries
   (state, performer, slot, window, late, attempts, overdue). */
typedef struct {
    int64_t window_us;       /* 0: none */
    bool slot_missed;
    int64_t fire_us;         /* its timer next; -1: nothing more */
    int made_mode;           /* > 0: it was made now, in this mode, by made_by at made_at_us */
    const char *made_by;
    int64_t made_at_us;
    const void *record;      /* not NULL: its record (packed), filed at recorded_at_us */
    size_t record_len;
    int64_t recorded_at_us;
} cl_cb_change_t;

/* Writes callback cb's row. Returns 0, or -1 with err. */
int cl_cbstore_update(cl_db_t *db, const Caseloop__V1__Callback *cb, const cl_cb_change_t *ch, cl_err_t *err)
    CL_WARN_UNUSED;

/* In the transaction begun: claims the callbacks due by now (cl_timer, at most
   limit) into out. Returns 0, or -1 with err. */
int cl_cbstore_claim(cl_db_t *db, const cl_timer_t *timer, int64_t now_us, int64_t limit, cl_cb_list_t *out,
                     cl_err_t *err) CL_WARN_UNUSED;

/* The earliest moment a callback's timer is due, INT64_MAX for none. Returns 0, or -1. */
int cl_cbstore_next_due(cl_db_t *db, int64_t *due_us, cl_err_t *err) CL_WARN_UNUSED;

/* Files a supervisor's review of callback id (locked by the caller). Returns 0, or -1 with err. */
int cl_cbstore_review(cl_db_t *db, uint64_t id, const char *by, const char *opinion, int64_t now_us, cl_err_t *err)
    CL_WARN_UNUSED;

/* --- letters (migration 020) --- */

/* Reads cases ids[0..n) into out[i] (found false for none). Returns 0, or -1 with err. */
int cl_cbstore_letter_cases(cl_db_t *db, const uint64_t *ids, size_t n, cl_letter_case_t *out, cl_err_t *err)
    CL_WARN_UNUSED;

/* A letter: a reply letter (one case) or an open one (many). */
typedef struct {
    const char *site;
    bool open;
    const char *by;
    const char *text;
    const char *document_ref;
} cl_letter_t;

/* Stores letter l, kept with cases case_ids[0..n); an open letter ends each
   case's scheduled callback (ended[i]: its id, 0 for none). Sets *letter_id.
   Returns 0, or -1 with err. */
int cl_cbstore_letter(cl_db_t *db, const cl_letter_t *l, const uint64_t *case_ids, size_t n, int64_t now_us,
                      uint64_t *letter_id, uint64_t *ended, cl_err_t *err) CL_WARN_UNUSED;

/* --- the outbox: requests to intake, written with a record, sent after it (migration 018) --- */

/* Adds n requests (packed Envelopes) that callback callback_id's record makes. Returns 0, or -1 with err. */
int cl_cbstore_outbox_put(cl_db_t *db, uint64_t callback_id, const cl_buf_t *requests, size_t n, int64_t now_us,
                          cl_err_t *err) CL_WARN_UNUSED;

/* Requests still to send, oldest first, with ids after `after`: at most limit. */
typedef struct {
    PGresult *rows;
    size_t n;
} cl_outbox_t;
int cl_cbstore_outbox_next(cl_db_t *db, uint64_t after, uint32_t limit, cl_outbox_t *out, cl_err_t *err) CL_WARN_UNUSED;
uint64_t cl_outbox_id(const cl_outbox_t *o, size_t i);
const void *cl_outbox_request(const cl_outbox_t *o, size_t i, size_t *len);
void cl_outbox_free(cl_outbox_t *o);

/* Marks request id as answered by intake (outcome: what it answered). Returns 0, or -1 with err. */
int cl_cbstore_outbox_sent(cl_db_t *db, uint64_t id, const char *outcome, int64_t now_us, cl_err_t *err) CL_WARN_UNUSED;

#endif
