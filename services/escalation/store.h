/* store.h - escalation's SQL: the clocks as rows, armed, met, paused, resumed, fired and re-timed. */
#ifndef CL_ESCALATION_STORE_H
#define CL_ESCALATION_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include "cl_buf.h"
#include "cl_db.h"
#include "cl_eventlog.h"
#include "cl_policies.h"
#include "cl_timer.h"
#include "clockplan.h"
#include "caseloop/v1/envelope.pb-c.h"

/* The events one transaction makes, and the memory they point into (rows
   kept until the events are published). */
typedef struct {
    cl_event_t *evs;
    cl_env_t *envs;
    char (*ids)[CL_ID_MAX + 1];
    Caseloop__V1__Clock *clocks;
    union cl_clock_body {
        Caseloop__V1__ClockArmed armed;
        Caseloop__V1__ClockWarning warning;
        Caseloop__V1__ClockMet met;
        Caseloop__V1__ClockBreached breached;
        Caseloop__V1__EscalationRaised raised;
    } *bodies;
    void **results;
    size_t n, cap, nres, capres;
    int64_t earliest;            /* the earliest moment a clock it armed or resumed fires; INT64_MAX for none */
} cl_clock_out_t;

void cl_clock_out_begin(cl_clock_out_t *o);
/* Points the events, envelopes and bodies at each other once all are added (the arrays move as they grow). */
void cl_clock_out_seal(cl_clock_out_t *o);
void cl_clock_out_free(cl_clock_out_t *o);

#define CL_NARM 15

/* The clocks a batch arms, as columns. */
typedef struct {
    cl_buf_t col[CL_NARM];
    size_t n;
} cl_arms_t;

void cl_arms_begin(cl_arms_t *a);
void cl_arms_free(cl_arms_t *a);

/* Adds to a every active clock of the case's site that `starts` starts, armed
   at armed_us, about callback callback_id (0 for none: a clock runs once per
   case and code, and once per callback of a case for C6). */
void cl_clocks_arm(const cl_policies_t *policies, cl_arms_t *a, uint64_t case_id, uint64_t callback_id,
                   const char *site, cl_clock_start_t starts, int64_t armed_us, bool major);

/* Arms the clocks `starts` starts for a case already received, at its site,
   major as intake registered it or the dispatcher judged it; a case that does
   not exist arms nothing (logged). Returns 0, or -1 with err. */
int cl_clocks_arm_later(cl_db_t *db, const cl_policies_t *policies, cl_arms_t *a, uint64_t case_id,
                        uint64_t callback_id, cl_clock_start_t starts, int64_t armed_us, cl_err_t *err) CL_WARN_UNUSED;

/* Stores the clocks of a with their ClockArmed in out (and the earliest moment
   they fire), and starts a afresh. Returns 0, or -1 with err. */
int cl_clocks_arm_store(cl_db_t *db, cl_arms_t *a, cl_clock_out_t *out, int64_t now, cl_err_t *err) CL_WARN_UNUSED;

/* Meets the open clocks of a case (only those of callback callback_id unless
   0) that `meets` meets (bits of their met_by), or (0) cancels them all, at
   at_us; their events in out. Returns 0, or -1. */
int cl_clocks_close(cl_db_t *db, uint64_t case_id, uint64_t callback_id, uint32_t meets, int64_t at_us,
                    cl_clock_out_t *out, int64_t now, cl_err_t *err) CL_WARN_UNUSED;

/* Stops the clocks of a case that action pauses, at at_us. Returns 0, or -1. */
int cl_clocks_pause(cl_db_t *db, uint64_t case_id, int action, int64_t at_us, cl_err_t *err) CL_WARN_UNUSED;

/* Lets the paused clocks of a case that action resumes count again at at_us.
   Returns 0, or -1 with err. */
int cl_clocks_resume(cl_db_t *db, cl_timer_t *timer, const cl_policies_t *policies, uint64_t case_id, int action,
                     int64_t at_us, cl_clock_out_t *out, cl_err_t *err) CL_WARN_UNUSED;

/* The steps fired more than a second late in a batch: how many, and the
   latest (its strings point into the rows out keeps). */
typedef struct {
    int n;
    int64_t max_us;
    int64_t case_id;
    const char *site, *code;
} cl_fire_late_t;

/* In the transaction begun: claims the clocks due by now that no other worker
   or instance holds (at most batch_max), decides what the next step of each
   does (cl_fire_decide: told, passed over or held for working hours), puts
   the events told in out and moves each clock on. Returns how many rows it
   claimed (*moved: how many moved on), or -1 with err. */
int cl_clocks_fire(cl_db_t *db, cl_timer_t *timer, const cl_policies_t *policies, int64_t now, int64_t batch_max,
                   cl_clock_out_t *out, cl_fire_late_t *late, int *moved, cl_err_t *err) CL_WARN_UNUSED;

/* A new policy version, in one transaction: clocks armed under an older one
   stop when their clock is no longer active, take the new times when it says
   retime (from the first step still ahead), or keep theirs. Returns 0, or -1. */
int cl_clocks_policy_change(cl_db_t *db, cl_timer_t *timer, const cl_policies_t *policies, int64_t now, cl_err_t *err)
    CL_WARN_UNUSED;

/* Clocks read for a request: clocks[i] (strings point into the rows kept), ptrs[i] = &clocks[i]. */
typedef struct {
    void *rows;
    Caseloop__V1__Clock *clocks;
    Caseloop__V1__Clock **ptrs;
    size_t n;
} cl_clock_list_t;

/* A case's clocks, oldest first. Returns 0, or -1 with err. */
int cl_clocks_of_case(cl_db_t *db, uint64_t case_id, cl_clock_list_t *out, cl_err_t *err) CL_WARN_UNUSED;
/* A site's clocks that climbed the ladder (only those still breached when
   open_only), newest first, at most limit. Returns 0, or -1 with err. */
int cl_clocks_breaches(cl_db_t *db, const char *site, bool open_only, uint32_t limit, cl_clock_list_t *out,
                       cl_err_t *err) CL_WARN_UNUSED;
void cl_clock_list_free(cl_clock_list_t *l);

#endif
