/* harness.h - integration test support: the real database, a real service process, real sockets. */
#ifndef CL_TEST_HARNESS_H
#define CL_TEST_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include "cl.h"
#include "cl_client.h"

/* The test database's conninfo (CL_TEST_DB); the program exits with a message if unset. */
const char *cl_test_db(void);

/* Empties the test database (drops and recreates schema public). Returns 0 or -1. */
int cl_test_reset_db(void);

/* Runs SQL (no parameters) on a fresh connection and returns the first
   column of the first row as a number; -1 on failure or no row. */
long long cl_test_scalar(const char *sql);

/* --- waiting: the one place tests wait ---------------------------------------------------
   Tests never sleep: they wait for a condition, with a deadline, through cl_test_poll
   (scripts/test refuses a sleep call anywhere else in tests/). */

/* Calls ready(arg) at once and then about every 20 ms until it returns true or
   timeout_ms have passed (it is called once more at the deadline). Returns
   whether it became true. Calls no cmocka function, so a helper thread may use it. */
bool cl_test_poll(bool (*ready)(void *arg), void *arg, int timeout_ms);

/* Waits until the query printf makes of fmt (no parameters; on one connection
   for the whole wait) gives want, checking about every 20 ms; after timeout_ms
   fails the test with the query, the last value and the one wanted, and at once
   when the query itself fails (a mistake in it is no reason to wait). Main
   thread only (fails through cmocka). */
__attribute__((format(printf, 3, 4)))
void cl_test_wait_scalar(long long want, int timeout_ms, const char *fmt, ...);

/* Lets wall time pass until the real clock (cl_clock_now(cl_clock_real()), microseconds)
   reads at least until_us: for a test that needs time itself to pass (a clock
   coming due), with nothing else to wait for. Returns at once if that is past;
   false only if the clock (stepped back) still has not got there a second after
   the time that was left. Calls no cmocka function. */
bool cl_test_pass_until(int64_t until_us);

/* Stops or starts the test database ("stop" / "start") through CL_TEST_PGCTL. Returns its exit status. */
int cl_test_pgctl(const char *action);

/* A service process started for a test. */
typedef struct {
    pid_t pid;
    char dir[128];      /* temporary folder for its ipc endpoints */
    char router[192];
    char pub[192];
} cl_svc_t;

/* How long cl_svc_start waits for READY, and cl_svc_stop for the end after its signal. */
#define CL_SVC_READY_MS 20000
#define CL_SVC_STOP_MS 20000

/* The business clock of the services this program starts (CL_TEST_CLOCK_FILE,
   set for each): real time plus an offset, 0 until a test moves it forward by
   by_us; every service sees the move at once. cl_test_clock_now is their now. */
void cl_test_clock_shift(int64_t by_us);
int64_t cl_test_clock_now(void);

/* Starts CL_BIN_DIR/<bin> with CL_DB set to the test database, its own ipc
   endpoints in a fresh folder (CL_INTAKE_ROUTER/PUB, CL_DISPATCHER_ROUTER/PUB and
   CL_ESCALATION_ROUTER/PUB and CL_CALLBACK_ROUTER/PUB all name them), and extra "NAME=value" settings after those (NULL-terminated
   list, may be NULL; e.g. the dispatcher's CL_INTAKE_PUB); returns 0 once it has said READY, -1 if it died or
   stayed silent CL_SVC_READY_MS (it is then killed). */
int cl_svc_start(cl_svc_t *svc, const char *bin, const char *const *extra_env);

/* Starts bin again on the folder and endpoints of svc, stopped with keep_dir
   (those connected to it reconnect); 0 when it is READY, else -1. */
int cl_svc_restart(cl_svc_t *svc, const char *bin, const char *const *extra_env);

/* Sends sig (SIGTERM for a clean stop, SIGKILL for a crash) and reaps it;
   returns its exit status (or 128+signal), or -1 when it had not ended
   CL_SVC_STOP_MS after the signal (it is then killed). Removes the folder unless keep_dir. */
int cl_svc_stop(cl_svc_t *svc, int sig, int keep_dir);

/* A DEALER connected to endpoint, in the process-wide test context. */
void *cl_test_dealer(const char *endpoint);
void *cl_test_sub(const char *endpoint);
void cl_test_close(void **sock_p);

/* A case with every required field set, from this test's source and id n. */
void cl_test_case(Caseloop__V1__Case *c, const char *site, const char *source, char *id_buf, size_t id_len, long n);

/* Sends SubmitCase(c) on dealer and returns the reply envelope (Error or
   SubmitCaseReply), or NULL when none came within timeout_ms. */
cl_env_t *cl_test_submit(void *dealer, Caseloop__V1__Case *c, int timeout_ms);

/* Sends raw bytes as one frame and returns the decoded reply or NULL. */
cl_env_t *cl_test_raw(void *dealer, const void *data, size_t len, int timeout_ms);

/* Sends any request envelope (message id and version filled in) and returns the reply or NULL. */
cl_env_t *cl_test_call(void *dealer, cl_env_t *env, int timeout_ms);

/* Sends CaseCommand `action` on case_id by actor (text, and satisfied unless it is
   negative) to intake at dealer; returns the reply (CaseCommandReply or Error), the
   caller's to free; fails the test when none came within 10 s. */
cl_env_t *cl_test_command(void *dealer, uint64_t case_id, Caseloop__V1__CaseAction action, const char *actor,
                          const char *text, int satisfied);

/* The value of counter name in the service's GetStats reply (0 if absent), -1 on no reply. */
long long cl_test_counter(void *dealer, const char *name);

/* Runs CL_BIN_DIR/caseloop with args (shell words) and the environment of
   this process; its stdout and stderr go into out. Returns its exit status. */
int cl_test_cli(const char *args, char *out, size_t len);

/* Loads into the dispatcher at router a policy of three sites, site-a, site-b
   and site-c: departments customer-service, engineering, security, services;
   staff cs1, cs2 (assistants), cs-sup, eng1, eng2, eng-sup, sec1, svc1, head,
   mgr, lead, all on shift all day, except that nobody staffs site-c's
   engineering; major cases special; keywords "漏水"/"leak" -> repair,
   "fire"/"危险" -> safety; clocks of 4 seconds (cl_test_clocks). Returns 0 or -1. */
int cl_test_load_policy(const char *router);

/* The same policy for the sites named (NULL-terminated); "site-c" is the one
   whose engineering nobody staffs. A new version each time. */
int cl_test_load_policy_for(const char *router, const char *const *sites);

/* The same with the calendar and clocks members clocks (",\"calendar\":..., \"clocks\":[...]"),
   NULL for cl_test_clocks(4, false). A new version each time. */
int cl_test_load_policy_with(const char *router, const char *const *sites, const char *clocks);

/* Calendar and clocks members for a test policy: C2 (received; met by
   acknowledge or first contact), C3 (dispatched; met by first contact;
   paused while waiting for the customer; re-timed on a policy change), R1
   (reopened; met by progress or resolve), C4 (returned to the department head;
   to the project head), C5 (transferred; to leadership), C6 (callback made; met by its
   record) and C7 (raised in a callback; met by resolve) of `seconds`, warnings at 50% and
   80%, ladders one second a level; a calendar working all week, or (quiet) only the whole
   day three days after today, so that now is outside working hours. Returns a static buffer. */
const char *cl_test_clocks(int seconds, bool quiet);

#endif
