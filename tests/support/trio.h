/* trio.h - integration test support: intake, the dispatcher and escalation running together
   on the test database, cases submitted and commanded through intake, what their clocks did. */
#ifndef CL_TEST_TRIO_H
#define CL_TEST_TRIO_H

#include "harness.h"

/* How long a test waits for a reply, and for the database to show what it waits for. */
#define CL_TRIO_REPLY_MS 10000
#define CL_TRIO_WAIT_MS 30000

typedef struct {
    cl_svc_t intake, disp, esc;
    void *in; /* a DEALER to intake */
    char listen[700]; /* escalation's CL_ESCALATION_LISTEN=<intake PUB>,<dispatcher PUB> */
} cl_trio_t;

/* The three services of the program's tests (one group at a time). */
extern cl_trio_t cl_trio;

/* cmocka group setup: empties the database, starts intake, the dispatcher (with
   cl_test_load_policy) and escalation (CL_IDLE_MS=100). Returns 0 or -1. */
int cl_trio_setup(void **state);

/* cmocka per-test setup: starts escalation again when a test that stopped it
   failed before starting it again, so that one failure does not fail the rest. */
int cl_trio_up(void **state);

/* cmocka group teardown: stops the three with SIGTERM; -1 unless each ended cleanly. */
int cl_trio_teardown(void **state);

/* Starts (another) escalation listening to intake and the dispatcher; 0 or -1. */
int cl_trio_start_escalation(cl_svc_t *svc);

/* Submits a complaint at site (source "esc", external id and contact unique by n,
   major or general), raised in the callback of case callback_of unless 0; returns the
   reply (fails the test when none came). */
cl_env_t *cl_trio_submit(const char *site, long n, bool major, uint64_t callback_of);

/* cl_trio_submit with no callback; returns the new case's id (fails the test on an error reply). */
uint64_t cl_trio_case(const char *site, long n, bool major);

/* Sends a lifecycle command on case id as cs1; fails the test when it is refused. */
void cl_trio_command(uint64_t id, Caseloop__V1__CaseAction action, const char *text);

/* The clock an escalation event is about, and its step in step: "A" armed, "W50" a
   warning, "M" met in time, "ML" met late, "B" breached, "R1:supervisor" a level told;
   *late_us how late a breach or level was told (else 0). NULL for other events. */
const Caseloop__V1__Clock *cl_trio_step(const cl_env_t *ev, char *step, size_t len, int64_t *late_us);

/* What clock `code` of case id went through, from the event log, in order:
   "A W50 W80 B R1:supervisor ... M" (armed, warnings, breach, levels, met in time,
   ML met late). *max_late_us gets the largest lateness of a breach or level. */
void cl_trio_story(uint64_t id, const char *code, char *out, size_t len, int64_t *max_late_us);

/* Appends a callback event to the log, as the callback-scheduler does (escalation reads
   it within its CL_IDLE_MS): the callback `callback_id` about case_id of site took
   place, or (recorded) its record was filled in. */
void cl_trio_callback_event(const char *site, uint64_t case_id, uint64_t callback_id, bool recorded);
/* The same, saying it took place at at_us (0: now). */
void cl_trio_callback_event_at(const char *site, uint64_t case_id, uint64_t callback_id, bool recorded, int64_t at_us);

/* Lets wall time pass until at_us, or for seconds: the clocks under test come due
   (while the service is down, or the clock paused); nothing else is waited for. */
void cl_trio_pass_until(int64_t at_us);
void cl_trio_pass(int seconds);

#endif
