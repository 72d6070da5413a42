/* plan.h - the callback-scheduler's decisions: whether a closed case is called back, by whom, when and how. Pure: no I/O but the zone files. */
#ifndef CL_CALLBACK_PLAN_H
#define CL_CALLBACK_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cl_policy.h"

/* Why a closed case gets no callback. */
typedef enum {
    CL_CB_CALL = 0,            /* it may be called back (sampling decides) */
    CL_CB_SKIP_ANONYMOUS,      /* no name or contact to call (R-CB-7) */
    CL_CB_SKIP_REPLY_LETTER,   /* a superior body asked for a reply letter only (R-CB-7) */
    CL_CB_SKIP_DO_NOT_CALL,    /* the customer asked not to be called */
} cl_cb_skip_t;

/* The callback policy of kind at site s: the kind's own, or OTHER's for kind 0 or an
   unknown one. */
const cl_cb_kind_t *cl_cb_kind(const cl_site_policy_t *s, int kind);

/* Whether a closed case is called back at all, by rule: anonymous cases and
   reply-letter-only ones are not (R-CB-7), nor are customers who asked not
   to be called. The first reason that applies, in that order. */
cl_cb_skip_t cl_cb_skip(bool anonymous, bool reply_letter_only, bool do_not_call);

/* The rule a skip names in CallbackSkipped ("R-CB-7", "do-not-call"), "" for CL_CB_CALL. */
const char *cl_cb_skip_rule(cl_cb_skip_t why);

/* The sampling key of a deployment: what makes the draw of a case unpredictable. */
#define CL_CB_SEED_BYTES 16

/* One site's and kind's month so far: the closed cases counted (not skipped by
   rule, each case once however often it closes) and those called back. */
typedef struct {
    uint32_t counted;
    uint32_t called;
} cl_cb_tally_t;

/* Whether the case closed now is called back, counting it into t (R-CB-1's
   share): a draw from a keyed hash of the case (seed, case_id), the same on
   every replay and unreadable without the seed, at the kind's share; corrected
   as the month goes, so that t->called stays within max(1, 1%% of share x
   t->counted) of share x t->counted: a draw is overruled only when it would
   leave that band. */
bool cl_cb_sampled(const uint8_t seed[CL_CB_SEED_BYTES], uint64_t case_id, double share, cl_cb_tally_t *t);

/* The deadline of a callback of a case of kind closed at closed_us: the kind's
   `within` after closing, in wall or working time (R-CB-1's table). Returns
   0, or -1 when the calendar cannot place it. */
int cl_cb_deadline(const cl_site_policy_t *s, int kind, int64_t closed_us, int64_t *due_us);

/* The modes callback number `number` (1 for the first) of a case of kind and
   severity may use: bits 1 << caseloop.v1.CallbackMode, from the last mode
   rule of the kind that matches (R-CB-3, R-CB-5: from the second callback on,
   non-major cases may be called by phone). 0 when none does. */
uint8_t cl_cb_modes(const cl_site_policy_t *s, int kind, int severity, int number);

/* How many callbacks staff member `staff` (index) already has in the window
   instance that starts at window_us. */
typedef uint32_t (*cl_cb_load_fn)(void *arg, int staff, int64_t window_us);

/* Who performs a callback of kind and severity at local time `local` (the
   site's zone): staff of the kind's performer role for that severity (of the
   kind's department when the role has departments), on shift then, with
   room in the window (load below the policy's per_window), the fewest open
   callbacks (open[i], by staff index) first, then the lower index; -1 when
   nobody. R-CB-1's "by whom", open callbacks balanced as R-RT-2 balances cases. */
int cl_cb_performer(const cl_site_policy_t *s, int kind, int severity, const struct tm *local, const uint32_t *open,
                    cl_cb_load_fn load, void *arg, int64_t window_us);

/* The customer's preferences: windows in their own zone (or the site's). */
typedef struct {
    const cl_calendar_interval_t *windows; /* n preferred windows, minutes of the customer's day; none: any */
    size_t n;
    const cl_calendar_t *zone;             /* a calendar in the customer's zone (its hours do not matter);
                                              NULL: the site's zone */
} cl_cb_prefs_t;

/* A place for a callback. */
typedef struct {
    int64_t start_us;        /* the part of a window it is to be made in: [start_us, end_us) */
    int64_t end_us;
    int64_t window_us;       /* the start of the window instance it counts against (capacity) */
    int performer;           /* staff index */
    bool late;               /* no slot fitted before the deadline: the earliest one after it */
} cl_cb_slot_t;

/* How far past the deadline a slot is looked for. */
#define CL_CB_HORIZON_DAYS 62

/* When a callback is made (R-CB-1, R-CB-2): the first part of a callback
   window of the site (site time, on the days the kind may call) at or after
   not_before_us, inside one of the customer's preferred windows when they
   gave any, with a performer free in that window (cl_cb_performer), before
   deadline_us; when none fits before it, the earliest after it, flagged
   late. Returns 0, or -1 when none is found within CL_CB_HORIZON_DAYS of the
   deadline (nobody of the role works, or no preferred window ever meets a
   callback window). */
int cl_cb_place(const cl_site_policy_t *s, int kind, int severity, const cl_cb_prefs_t *prefs, int64_t not_before_us,
                int64_t deadline_us, const uint32_t *open, cl_cb_load_fn load, void *arg, cl_cb_slot_t *out);

/* A case a letter answers, as the letter's checks need it. */
typedef struct {
    bool found;
    char site[80];
    int kind;                /* as dispatched (classified), else as submitted */
    bool anonymous, reply_letter_only;
} cl_letter_case_t;

/* Most cases one open letter answers. */
#define CL_CB_MAX_LETTER_CASES 500

/* R-CB-7 (seed 000 section 1.10): checks the n cases (ids[i], read into
   cases[i]) a letter of `site` answers, and its words (text or document_ref,
   one of them given, within 20000 and 200 bytes). A reply letter (open
   false) answers one existing case of the site that gets no callback by rule
   (anonymous or reply-letter-only): NOT_FOUND, INVALID_ARGUMENT (another
   site) or CONFLICT (a case called back) on "case_id". An open letter
   answers 1 to CL_CB_MAX_LETTER_CASES distinct existing cases of the site
   and of one problem (one kind), each refused on "case_ids[i]". Returns 0,
   or -1 with err. */
int cl_cb_letter_check(const char *site, bool open, const char *text, const char *document_ref, const uint64_t *ids,
                       const cl_letter_case_t *cases, size_t n, cl_err_t *err);

/* R-CB-8: whether staff member `who` may review callback records at site s:
   one of the site's staff whose role is supervisor or above. */
bool cl_cb_may_review(const cl_site_policy_t *s, const char *who);

/* The customer-service supervisor of site s (who hears of overdue callbacks):
   the supervisor of its customer_service department, else any supervisor;
   NULL when it has none. */
const char *cl_cb_supervisor(const cl_site_policy_t *s);

/* A callback's timer as it stands. */
typedef struct {
    bool open;               /* still to be made (scheduled): the slot and the deadline matter */
    int64_t slot_end_us;     /* its slot's end; -1 when it has no slot */
    int64_t deadline_us;
    bool slot_missed;        /* the slot's passing was told already */
    bool overdue;            /* the deadline's passing was told already */
} cl_cb_timer_t;

/* What its timer does at now_us. */
typedef struct {
    bool tell_slot;          /* CallbackOverdue: its slot passed with nothing done */
    bool tell_deadline;      /* CallbackOverdue: still open at its deadline (R-CB-9) */
    int64_t next_us;         /* when it fires next; -1 for nothing more */
} cl_cb_fire_t;

/* Decides a callback's timer at now_us: an open callback whose slot ended
   with nothing done is told once (unless its deadline passed too: that is
   told instead), and one still open at its deadline is told once; it fires
   next at the first of those still ahead. A callback made, recorded or
   unreachable fires no more. */
void cl_cb_fire_decide(const cl_cb_timer_t *t, int64_t now_us, cl_cb_fire_t *out);

/* Where an attempt leaves a callback (R-CB-2): reached -> REACHED (its record
   is due); busy or unreachable -> SCHEDULED again for another attempt, or,
   once `attempts` (this one counted) reaches max_attempts, UNREACHABLE.
   Returns a caseloop.v1.CallbackState. */
int cl_cb_after_attempt(int outcome, uint32_t attempts, int max_attempts);

struct Caseloop__V1__CallbackRecord;

/* New problems one record may raise. */
#define CL_CB_MAX_RAISED 10

/* What a record leads to (cl_cb_outcome). */
typedef struct {
    bool satisfied;
    bool reopen;
    size_t raised;
} cl_cb_outcome_t;

/* R-CB-5, R-CB-6: what a checked record leads to: whether it counts as
   satisfied (so, or fixed during the callback), whether the case is reopened
   (not), and how many new cases its raised problems make. */
void cl_cb_outcome(const struct Caseloop__V1__CallbackRecord *r, cl_cb_outcome_t *out);

/* R-CB-3, R-CB-4, R-CB-5, R-CB-6: checks the record of a callback that may use `modes` (bits
   1 << CallbackMode) at site s: a mode it may use ("mode"); a visit with the
   customer's signature reference ("signature_ref"); one score of 1-5 for
   each aspect of the site, each once, a reason for a 1 or 2
   ("scores[i].score", ".reason", "scores" for a missing aspect); the overall
   opinion ("satisfied"); a willingness to recommend of 0-10 ("recommend");
   fixed during the callback only when not satisfied, with notes saying how
   ("fixed_during_callback", "notes"); the customer's words when not
   satisfied and not fixed ("customer_words"); at most CL_CB_MAX_RAISED new
   problems, each described ("raised[i].description", ".location", ".kind");
   text within its length. Field names are under "record.". Returns 0, or -1
   with err INVALID_ARGUMENT naming the field. */
int cl_cb_record_check(const cl_site_policy_t *s, uint8_t modes, const struct Caseloop__V1__CallbackRecord *r,
                       cl_err_t *err);

#endif
