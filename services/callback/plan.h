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

#endif
