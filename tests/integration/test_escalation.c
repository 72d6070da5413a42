/* test_escalation.c - response clocks with second-long durations: met in time, warned, breached, the ladder,
   a killed service, two instances. */
#include "harness.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TIMEOUT_MS 10000

static cl_svc_t s_intake, s_disp, s_esc;
static void *s_in;
static char s_listen[700];

static int s_start_escalation(cl_svc_t *svc)
{
    const char *env[] = {s_listen, "CL_IDLE_MS=100", NULL};
    return cl_svc_start(svc, "caseloop-escalation", env);
}

static int s_setup(void **state)
{
    (void)state;
    if (cl_test_reset_db() < 0 || cl_svc_start(&s_intake, "caseloop-intake", NULL) < 0)
        return -1;
    static char pub[300];
    snprintf(pub, sizeof pub, "CL_INTAKE_PUB=%s", s_intake.pub);
    const char *env[] = {pub, "CL_IDLE_MS=100", NULL};
    if (cl_svc_start(&s_disp, "caseloop-dispatcher", env) < 0 || cl_test_load_policy(s_disp.router) < 0)
        return -1;
    snprintf(s_listen, sizeof s_listen, "CL_ESCALATION_LISTEN=%s,%s", s_intake.pub, s_disp.pub);
    if (s_start_escalation(&s_esc) < 0)
        return -1;
    s_in = cl_test_dealer(s_intake.router);
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    cl_test_close(&s_in);
    int a = cl_svc_stop(&s_esc, SIGTERM, 0), b = cl_svc_stop(&s_disp, SIGTERM, 0), c = cl_svc_stop(&s_intake, SIGTERM, 0);
    return a == 0 && b == 0 && c == 0 ? 0 : -1;
}

/* Submits a complaint at site (contact unique by n), raised in the callback of case
   `callback_of` unless 0; returns the reply. */
static cl_env_t *s_submit_at(const char *site, long n, bool major, uint64_t callback_of)
{
    Caseloop__V1__Case c;
    char id[32], contact[32];
    cl_test_case(&c, site, "esc", id, sizeof id, n);
    snprintf(contact, sizeof contact, "1360000%05ld", n);
    c.customer_contact = contact;
    c.kind = CASELOOP__V1__KIND__KIND_COMPLAINT;
    if (major)
        c.has_severity = 1, c.severity = CASELOOP__V1__SEVERITY__SEVERITY_MAJOR;
    if (callback_of)
        c.has_raised_in_callback_of = 1, c.raised_in_callback_of = callback_of;
    cl_env_t *reply = cl_test_submit(s_in, &c, TIMEOUT_MS);
    assert_non_null(reply);
    return reply;
}

static uint64_t s_case_at(const char *site, long n, bool major)
{
    cl_env_t *reply = s_submit_at(site, n, major, 0);
    assert_int_equal(reply->body_case, CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY);
    uint64_t id_ = reply->submit_case_reply->case_id;
    cl_codec_free(reply);
    return id_;
}

static uint64_t s_new_case(long n, bool major)
{
    return s_case_at("site-a", n, major);
}

/* Lets wall time pass: the clocks under test must come due (while the
   service is down, or the clock paused); nothing is being waited for. */
static void s_let_time_pass(int seconds)
{
    int64_t past = cl_clock_now(cl_clock_real()) + seconds * 1000000LL;
    while (cl_clock_now(cl_clock_real()) < past) {
        struct timespec pause = {0, 100 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
}

/* Waits (checking the database, up to 30 s) until sql gives want. */
static void s_wait_for(const char *sql, long long want)
{
    long long got = -1;
    for (int i = 0; i < 1500 && (got = cl_test_scalar(sql)) != want; i++) {
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    if (got != want)
        fail_msg("%s gave %lld, not %lld", sql, got, want);
}

/* s_wait_for of the query printf makes of fmt. */
__attribute__((format(printf, 2, 3))) static void s_wait_until(long long want, const char *fmt, ...)
{
    char sql[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    s_wait_for(sql, want);
}

static void s_command(uint64_t id, Caseloop__V1__CaseAction action, const char *text)
{
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__CaseCommand cmd = CASELOOP__V1__CASE_COMMAND__INIT;
    cmd.has_case_id = 1, cmd.case_id = id;
    cmd.has_action = 1, cmd.action = action;
    cmd.actor = "cs1";
    cmd.text = (char *)text;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND;
    env.case_command = &cmd;
    cl_env_t *r = cl_test_call(s_in, &env, TIMEOUT_MS);
    assert_non_null(r);
    if (r->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR)
        fail_msg("command refused: %s", r->error->message);
    cl_codec_free(r);
}

/* What clock `code` of case id went through, from the event log: "A W50 W80 B R1:supervisor ...".
   *max_late_us gets the largest lateness of a breach or escalation. */
static void s_story(uint64_t id, const char *code, char *out, size_t len, int64_t *max_late_us)
{
    cl_db_t *db = cl_db_new(cl_test_db(), "test");
    char cid[24];
    snprintf(cid, sizeof cid, "%llu", (unsigned long long)id);
    const char *p[] = {cid};
    cl_err_t err;
    PGresult *res = cl_db_exec(db, "SELECT envelope FROM events WHERE case_id = $1::bigint ORDER BY position", 1, p,
                               true, &err);
    assert_non_null(res);
    size_t n = 0;
    out[0] = '\0';
    *max_late_us = 0;
    for (int r = 0; r < PQntuples(res); r++) {
        cl_env_t *ev = cl_codec_decode(PQgetvalue(res, r, 0), (size_t)PQgetlength(res, r, 0), SIZE_MAX, &err);
        assert_non_null(ev);
        const Caseloop__V1__Clock *c = NULL;
        char step[48] = "";
        int64_t late = 0;
        switch (ev->body_case) {
        case CASELOOP__V1__ENVELOPE__BODY_CLOCK_ARMED: c = ev->clock_armed->clock; snprintf(step, sizeof step, "A"); break;
        case CASELOOP__V1__ENVELOPE__BODY_CLOCK_WARNING:
            c = ev->clock_warning->clock;
            snprintf(step, sizeof step, "W%u", ev->clock_warning->percent);
            break;
        case CASELOOP__V1__ENVELOPE__BODY_CLOCK_MET:
            c = ev->clock_met->clock;
            snprintf(step, sizeof step, "%s", ev->clock_met->in_time ? "M" : "ML");
            break;
        case CASELOOP__V1__ENVELOPE__BODY_CLOCK_BREACHED:
            c = ev->clock_breached->clock;
            late = ev->clock_breached->late_us;
            snprintf(step, sizeof step, "B");
            break;
        case CASELOOP__V1__ENVELOPE__BODY_ESCALATION_RAISED:
            c = ev->escalation_raised->clock;
            late = ev->escalation_raised->late_us;
            snprintf(step, sizeof step, "R%u:%s", ev->escalation_raised->level, ev->escalation_raised->role);
            break;
        default: break;
        }
        if (c && strcmp(c->code, code) == 0) {
            n += (size_t)snprintf(out + n, len - n, "%s%s", n ? " " : "", step);
            if (late > *max_late_us)
                *max_late_us = late;
        }
        cl_codec_free(ev);
    }
    PQclear(res);
    cl_db_destroy(&db);
}

/* Appends a callback event to the log, as the callback-scheduler does (escalation reads it
   within its CL_IDLE_MS):
   the callback `callback_id` about case_id took place, or (recorded) its record was filled in. */
static void s_callback_event(uint64_t case_id, uint64_t callback_id, bool recorded)
{
    cl_db_t *db = cl_db_new(cl_test_db(), "test");
    int64_t now = cl_clock_now(cl_clock_real());
    cl_env_t env;
    char id[CL_ID_MAX + 1];
    cl_codec_init(&env, id, "callback-scheduler", now);
    env.site = "site-a";
    Caseloop__V1__CallbackMade made = CASELOOP__V1__CALLBACK_MADE__INIT;
    Caseloop__V1__CallbackRecorded rec = CASELOOP__V1__CALLBACK_RECORDED__INIT;
    if (recorded) {
        rec.has_callback_id = 1, rec.callback_id = callback_id;
        rec.has_case_id = 1, rec.case_id = case_id;
        rec.site = "site-a", rec.by = "cs1";
        rec.has_recorded_at_us = 1, rec.recorded_at_us = now;
        rec.has_satisfied = 1, rec.satisfied = 1;
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_CALLBACK_RECORDED;
        env.callback_recorded = &rec;
    } else {
        made.has_callback_id = 1, made.callback_id = callback_id;
        made.has_case_id = 1, made.case_id = case_id;
        made.site = "site-a", made.by = "cs1";
        made.has_mode = 1, made.mode = CASELOOP__V1__CALLBACK_MODE__CALLBACK_MODE_PHONE;
        made.has_made_at_us = 1, made.made_at_us = now;
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_CALLBACK_MADE;
        env.callback_made = &made;
    }
    cl_event_t ev = {&env, (int64_t)case_id, {0}};
    cl_err_t err;
    if (cl_db_begin(db, &err) < 0 || cl_eventlog_append(db, &ev, 1, now, &err) < 0 || cl_db_commit(db, &err) < 0)
        fail_msg("callback event: %s", err.message);
    cl_eventlog_release(&ev, 1);
    cl_db_destroy(&db);
}

#define A(x) CASELOOP__V1__CASE_ACTION__CASE_ACTION_##x
#define FULL "A W50 W80 B R1:supervisor R2:project_head R3:leadership"

static void test_clocks_met_in_time_never_fire(void **state)
{
    (void)state;
    uint64_t id = s_new_case(1, false);
    s_wait_until(2, "SELECT count(*) FROM clocks WHERE case_id = %llu", (unsigned long long)id); /* C2, C3 */
                 s_command(id, A(ACKNOWLEDGE), NULL);
    s_command(id, A(FIRST_CONTACT), "the plan");
    s_wait_until(2, "SELECT count(*) FROM clocks WHERE case_id = %llu AND state = 2", (unsigned long long)id);
    /* Beyond every moment it had, nothing more happened to it. */
    uint64_t other = s_new_case(2, false);
    s_wait_until(2, "SELECT count(*) FROM clocks WHERE case_id = %llu AND level = 3", (unsigned long long)other);
    char story[256];
    int64_t late;
    s_story(id, "C2", story, sizeof story, &late);
    assert_string_equal(story, "A M");
    s_story(id, "C3", story, sizeof story, &late);
    assert_string_equal(story, "A M");
}

static void test_missed_clocks_warn_breach_and_climb_every_level_in_order(void **state)
{
    (void)state;
    uint64_t id = s_new_case(3, false), major = s_new_case(4, true);
    char sql[200];
    s_wait_until(2, "SELECT count(*) FROM clocks WHERE case_id = %llu AND level = 3", (unsigned long long)id);
    s_wait_until(2, "SELECT count(*) FROM clocks WHERE case_id = %llu AND level = 2", (unsigned long long)major);
    char story[256];
    int64_t late;
    s_story(id, "C2", story, sizeof story, &late);
    assert_string_equal(story, FULL);
    assert_true(late < 1000000); /* fired within a second of its moment */
    s_story(id, "C3", story, sizeof story, &late);
    assert_string_equal(story, FULL);
    assert_true(late < 1000000);
    s_story(major, "C2", story, sizeof story, &late);
    assert_string_equal(story, "A W50 W80 B R1:manager R2:leadership");
    /* Operators see the same from the CLI. */
    char out[8192], args[64];
    setenv("CL_ESCALATION_ROUTER", s_esc.router, 1);
    snprintf(args, sizeof args, "clocks --case %llu", (unsigned long long)id);
    assert_int_equal(cl_test_cli(args, out, sizeof out), 0);
    assert_non_null(strstr(out, "C2"));
    assert_non_null(strstr(out, "breached"));
    assert_non_null(strstr(out, "now lead")); /* the person the policy names for the role */
    assert_int_equal(cl_test_cli("breaches --site site-a --open", out, sizeof out), 0);
    assert_non_null(strstr(out, "C3"));
    /* Each level names the person: the complaint department's supervisor, the project head, leadership. */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM events WHERE case_id = %llu AND type = 'EscalationRaised'",
             (unsigned long long)id);
    assert_int_equal(cl_test_scalar(sql), 6);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM clocks WHERE case_id = %llu AND responsible = 'lead'",
             (unsigned long long)id);
    assert_int_equal(cl_test_scalar(sql), 2);
    /* Meeting a breached clock late says so, and stops it. */
    s_command(id, A(ACKNOWLEDGE), NULL);
    s_wait_until(1, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C2' AND state = 5",
                 (unsigned long long)id);
}

static void test_a_killed_service_fires_each_breach_once_after_restart(void **state)
{
    (void)state;
    uint64_t ids[10];
    for (int i = 0; i < 10; i++)
        ids[i] = s_new_case(100 + i, false);
    s_wait_for("SELECT count(*) FROM clocks WHERE case_id >= (SELECT min(id) FROM cases WHERE external_source = 'esc'"
               " AND external_id::int >= 100)", 20);
    assert_int_equal(cl_svc_stop(&s_esc, SIGKILL, 0), 128 + SIGKILL);
    /* Let them all come due while it is down. */
    s_let_time_pass(5);
    assert_int_equal(s_start_escalation(&s_esc), 0);
    for (int i = 0; i < 10; i++) {
        s_wait_until(2, "SELECT count(*) FROM clocks WHERE case_id = %llu AND level = 3",
                     (unsigned long long)ids[i]);
        char story[256];
        int64_t late;
        s_story(ids[i], "C2", story, sizeof story, &late);
        /* Warnings that came due after the due time are not sent; the breach fires once, late, and says how late. */
        assert_string_equal(story, "A B R1:supervisor R2:project_head R3:leadership");
        assert_true(late > 0);
    }
}

static void test_two_instances_never_fire_a_clock_twice(void **state)
{
    (void)state;
    cl_svc_t second;
    assert_int_equal(s_start_escalation(&second), 0);
    uint64_t ids[20];
    for (int i = 0; i < 20; i++)
        ids[i] = s_new_case(200 + i, i % 5 == 0);
    for (int i = 0; i < 20; i++) {
        s_wait_until(2, "SELECT count(*) FROM clocks WHERE case_id = %llu AND next_fire_at IS NULL",
                     (unsigned long long)ids[i]);
        char story[256];
        int64_t late;
        for (int k = 0; k < 2; k++) {
            s_story(ids[i], k ? "C3" : "C2", story, sizeof story, &late);
            assert_string_equal(story, i % 5 == 0 ? "A W50 W80 B R1:manager R2:leadership" : FULL);
        }
    }
    assert_int_equal(cl_svc_stop(&second, SIGTERM, 0), 0);
}


static void test_quiet_hours_hold_warnings_and_the_ladder_but_not_the_breach(void **state)
{
    (void)state;
    /* site-q works one minute a week: now is outside its working hours. */
    static const char *const sites[] = {"site-q", NULL};
    assert_int_equal(cl_test_load_policy_with(s_disp.router, sites, cl_test_clocks(2, true)), 0);
    uint64_t plain = s_case_at("site-q", 500, false), major = s_case_at("site-q", 501, true);
    char sql[200];
    s_wait_until(2, "SELECT count(*) FROM clocks WHERE case_id IN (%llu, %llu) AND code = 'C2' AND state = 3",
                 (unsigned long long)plain, (unsigned long long)major);
    s_wait_until(1, "SELECT count(*) FROM clocks WHERE case_id = %llu AND level = 2 AND code = 'C2'",
                 (unsigned long long)major);
    char story[256];
    int64_t late;
    /* The breach keeps its true time; the people are told when the site works again. */
    s_story(plain, "C2", story, sizeof story, &late);
    assert_string_equal(story, "A B");
    assert_true(late < 1000000);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C2'"
                              " AND next_fire_at > now() + interval '1 minute'", (unsigned long long)plain);
    assert_int_equal(cl_test_scalar(sql), 1);
    /* A major case does not wait. */
    s_story(major, "C2", story, sizeof story, &late);
    assert_string_equal(story, "A W50 W80 B R1:manager R2:leadership");
}

static void test_a_new_policy_retimes_running_clocks_or_stops_them(void **state)
{
    (void)state;
    /* Clocks long enough to be still running whatever the machine's load when the new version lands. */
    static const char *const sites[] = {"site-b", NULL};
    assert_int_equal(cl_test_load_policy_with(s_disp.router, sites, cl_test_clocks(60, false)), 0);
    uint64_t id = s_case_at("site-b", 600, false), held = s_case_at("site-b", 601, false),
             waiting = s_case_at("site-b", 602, false);
    s_wait_until(6, "SELECT count(*) FROM clocks WHERE case_id IN (%llu, %llu, %llu)",
                 (unsigned long long)id, (unsigned long long)held, (unsigned long long)waiting);
    /* One C3 was paused for a while and counts again; another waits on its customer. */
    s_command(held, A(ACKNOWLEDGE), NULL);
    s_command(waiting, A(ACKNOWLEDGE), NULL);
    s_command(held, A(WAIT_FOR_CUSTOMER), "owner away");
    s_command(waiting, A(WAIT_FOR_CUSTOMER), "owner away");
    s_let_time_pass(1);
    s_command(held, A(RESUME), NULL);
    s_wait_until(1, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND state = 1"
                 " AND paused_us >= 1000000", (unsigned long long)held);
    static const char clocks[] =
        ",\"calendar\":{\"working_hours\":{\"mon\":[\"00:00-24:00\"],\"tue\":[\"00:00-24:00\"],\"wed\":[\"00:00-24:00\"],"
        "\"thu\":[\"00:00-24:00\"],\"fri\":[\"00:00-24:00\"],\"sat\":[\"00:00-24:00\"],\"sun\":[\"00:00-24:00\"]}},"
        "\"clocks\":[{\"code\":\"C2\",\"name\":\"feedback form\",\"starts_on\":\"received\",\"met_by\":[\"acknowledge\"],"
        "\"duration\":4,\"active\":false},"
        "{\"code\":\"C3\",\"name\":\"first contact\",\"starts_on\":\"dispatched\",\"met_by\":[\"first_contact\"],"
        "\"duration\":\"1h\",\"on_policy_change\":\"retime\"}]";
    assert_int_equal(cl_test_load_policy_with(s_disp.router, sites, clocks), 0);
    /* C2 is no longer a clock of this site: it stops. C3 takes the new hour. */
    s_wait_until(1, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C2' AND state = 4"
                 " AND next_fire_at IS NULL", (unsigned long long)id);
    s_wait_until(1, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND state = 1"
                 " AND due_at - armed_at = interval '1 hour'", (unsigned long long)id);
    /* The paused time is kept: the hour counts from the arming plus the time it was held back. */
    s_wait_until(1, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND state = 1"
                 " AND due_at - armed_at = interval '1 hour' + paused_us * interval '1 microsecond'",
                 (unsigned long long)held);
    /* A paused clock takes the new times and stays paused; resumed, it moves on by its pause. */
    s_wait_until(1, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND state = 6"
                 " AND next_fire_at IS NULL AND due_at - armed_at = interval '1 hour'",
                 (unsigned long long)waiting);
    s_command(waiting, A(RESUME), NULL);
    s_wait_until(1, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND state = 1"
                 " AND paused_us >= 1000000 AND next_fire_at IS NOT NULL"
                 " AND due_at - armed_at = interval '1 hour' + paused_us * interval '1 microsecond'",
                 (unsigned long long)waiting);
}

static void test_a_clock_met_late_while_the_service_was_down_is_told_breached_then_met_late(void **state)
{
    (void)state;
    uint64_t id = s_new_case(700, false);
    s_wait_until(2, "SELECT count(*) FROM clocks WHERE case_id = %llu", (unsigned long long)id);
    assert_int_equal(cl_svc_stop(&s_esc, SIGKILL, 0), 128 + SIGKILL);
    s_let_time_pass(5);
    s_command(id, A(ACKNOWLEDGE), NULL); /* after C2's due time, while nobody watched */
    assert_int_equal(s_start_escalation(&s_esc), 0);
    s_wait_until(1, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C2' AND state = 5",
                 (unsigned long long)id);
    char story[256];
    int64_t late;
    s_story(id, "C2", story, sizeof story, &late);
    assert_string_equal(story, "A B ML");
}

static void test_a_clock_waits_while_the_case_waits_on_the_customer(void **state)
{
    (void)state;
    uint64_t id = s_new_case(800, false), late = s_new_case(801, false);
    char sql[300];
    s_wait_until(2, "SELECT count(*) FROM clocks WHERE case_id = %llu", (unsigned long long)id);
    s_command(id, A(ACKNOWLEDGE), NULL);
    s_command(id, A(WAIT_FOR_CUSTOMER), "waiting for the owner to be home");
    /* A clock already breached stays breached, but its ladder stops climbing while the case waits. */
    s_command(late, A(ACKNOWLEDGE), NULL);
    s_wait_until(1, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND level >= 1",
                 (unsigned long long)late);
    s_command(late, A(WAIT_FOR_CUSTOMER), "owner away");
    s_wait_until(1, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND state = 3"
                 " AND paused_at IS NOT NULL AND next_fire_at IS NULL", (unsigned long long)late);
    char levels[300];
    snprintf(levels, sizeof levels, "SELECT count(*) FROM events WHERE case_id = %llu AND type = 'EscalationRaised'",
             (unsigned long long)late);
    long long told = cl_test_scalar(levels);
    s_wait_until(1, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND state = 6",
                 (unsigned long long)id);
    /* Past the time it would have been due: it does not breach while paused. */
    s_let_time_pass(5);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM events WHERE case_id = %llu AND type = 'ClockBreached'",
             (unsigned long long)id);
    assert_int_equal(cl_test_scalar(sql), 0);
    assert_int_equal(cl_test_scalar(levels), told); /* past every level's time: nobody more was told */
    s_command(late, A(RESUME), NULL);
    s_wait_until(1, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND level = 3"
                 " AND state = 3 AND paused_at IS NULL", (unsigned long long)late);
    s_command(id, A(RESUME), NULL);
    /* It counts again from where it stopped: later than it was, and then it runs out. */
    s_wait_until(1, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND state = 3"
                 " AND due_at > armed_at + interval '8 seconds'", (unsigned long long)id);
}

static void test_a_reopened_case_arms_the_clocks_that_start_on_reopening(void **state)
{
    (void)state;
    uint64_t id = s_new_case(900, false);
    s_wait_until(2, "SELECT count(*) FROM clocks WHERE case_id = %llu", (unsigned long long)id);
    s_command(id, A(FIRST_CONTACT), "the plan");
    s_command(id, A(RESOLVE), "done");
    s_command(id, A(REOPEN), "it is back");
    s_wait_until(1, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'R1' AND state = 1",
                 (unsigned long long)id);
    s_command(id, A(PROGRESS), "on it again");
    s_wait_until(1, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'R1' AND state = 2",
                 (unsigned long long)id);
}

static void test_a_returned_case_and_a_transferred_case_get_their_clocks(void **state)
{
    (void)state;
    uint64_t id = s_new_case(1000, false);
    char sql[300];
    s_wait_until(2, "SELECT count(*) FROM clocks WHERE case_id = %llu", (unsigned long long)id);
    s_command(id, A(FIRST_CONTACT), "the plan");
    s_command(id, A(RESOLVE), "done");
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__CaseCommand cmd = CASELOOP__V1__CASE_COMMAND__INIT;
    cmd.has_case_id = 1, cmd.case_id = id;
    cmd.has_action = 1, cmd.action = A(REPORT_RESULT);
    cmd.actor = "cs1";
    cmd.has_satisfied = 1, cmd.satisfied = 0;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND;
    env.case_command = &cmd;
    cl_env_t *r = cl_test_call(s_in, &env, TIMEOUT_MS);
    assert_non_null(r);
    cl_codec_free(r);
    /* Not satisfied: back to the department head, whose decision has its clock (C4). */
    s_wait_until(1, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C4' AND state = 1",
                 (unsigned long long)id);
    /* Passed to another department: its taking the case has its clock (C5), to leadership when missed. */
    void *dp = cl_test_dealer(s_disp.router);
    cl_env_t te = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__TransferCase t = CASELOOP__V1__TRANSFER_CASE__INIT;
    t.has_case_id = 1, t.case_id = id;
    t.department = "security";
    t.actor = "cs-sup";
    te.body_case = CASELOOP__V1__ENVELOPE__BODY_TRANSFER_CASE;
    te.transfer_case = &t;
    r = cl_test_call(dp, &te, TIMEOUT_MS);
    assert_non_null(r);
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_TRANSFER_CASE_REPLY);
    cl_codec_free(r);
    cl_test_close(&dp);
    s_wait_until(1, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C5' AND level = 1"
                 " AND responsible = 'lead'", (unsigned long long)id);
    s_command(id, A(PROGRESS), "security is on it");
    s_wait_until(2, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code IN ('C4', 'C5')"
                 " AND state IN (2, 5)", (unsigned long long)id);
    /* Returned a second time: the head's decision has its clock again. */
    s_command(id, A(RESOLVE), "done again");
    r = cl_test_call(s_in, &env, TIMEOUT_MS);
    assert_non_null(r);
    cl_codec_free(r);
    s_wait_until(1, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C4' AND state = 1"
                 " AND level = 0", (unsigned long long)id);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM events WHERE case_id = %llu AND type = 'ClockArmed'",
             (unsigned long long)id);
    assert_int_equal(cl_test_scalar(sql), 5); /* C2, C3, C4, C5, and C4 again */
}

static void test_a_callback_arms_the_record_clock_that_its_record_meets(void **state)
{
    (void)state;
    uint64_t done = s_new_case(1100, false), late = s_new_case(1101, true);
    /* A callback about a case that does not exist (another system's mistake) arms nothing
       and holds up nothing after it. */
    s_callback_event(987654321, 70, false);
    s_callback_event(done, 71, false);
    s_callback_event(late, 72, false);
    s_wait_until(2, "SELECT count(*) FROM clocks WHERE case_id IN (%llu, %llu) AND code = 'C6'",
                 (unsigned long long)done, (unsigned long long)late);
    s_callback_event(done, 71, true);
    s_wait_until(1, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C6' AND state = 2",
                 (unsigned long long)done);
    /* The record of a major case's callback that is never filled in climbs the major ladder:
       the case's severity holds for clocks that start after its receipt. */
    s_wait_until(1, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C6' AND level = 2",
                 (unsigned long long)late);
    char story[256];
    int64_t lateness;
    s_story(done, "C6", story, sizeof story, &lateness);
    assert_string_equal(story, "A M");
    s_story(late, "C6", story, sizeof story, &lateness);
    assert_string_equal(story, "A W50 W80 B R1:manager R2:leadership");
    assert_true(lateness < 1000000);
}

static void test_a_problem_raised_in_a_callback_is_a_linked_case_with_its_clock(void **state)
{
    (void)state;
    uint64_t called = s_new_case(1200, false);
    cl_env_t *r = s_submit_at("site-a", 1201, false, called);
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY);
    uint64_t answered = r->submit_case_reply->case_id;
    cl_codec_free(r);
    r = s_submit_at("site-a", 1202, false, called);
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY);
    uint64_t missed = r->submit_case_reply->case_id;
    cl_codec_free(r);
    /* The same problem as the case called back (same contact, kind and words) is still a case of
       its own, not a further report of it. */
    Caseloop__V1__Case same;
    char xid[32], contact[32];
    cl_test_case(&same, "site-a", "esc-callback", xid, sizeof xid, 1200);
    snprintf(contact, sizeof contact, "1360000%05d", 1200);
    same.customer_contact = contact;
    same.kind = CASELOOP__V1__KIND__KIND_COMPLAINT;
    same.has_raised_in_callback_of = 1, same.raised_in_callback_of = called;
    r = cl_test_submit(s_in, &same, TIMEOUT_MS);
    assert_non_null(r);
    assert_int_equal(r->submit_case_reply->outcome, CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_CREATED);
    uint64_t again = r->submit_case_reply->case_id;
    assert_true(again != called);
    cl_codec_free(r);
    s_wait_until(1, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C7'", (unsigned long long)again);
    /* The case called back must exist, at the same site. */
    r = s_submit_at("site-a", 1203, false, 987654321);
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_ERROR);
    assert_int_equal(r->error->code, CASELOOP__V1__ERROR_CODE__NOT_FOUND);
    assert_string_equal(r->error->field, "details.raised_in_callback_of");
    cl_codec_free(r);
    r = s_submit_at("site-b", 1204, false, called);
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_ERROR);
    assert_int_equal(r->error->code, CASELOOP__V1__ERROR_CODE__INVALID_ARGUMENT);
    assert_string_equal(r->error->field, "details.raised_in_callback_of");
    cl_codec_free(r);
    char sql[300];
    s_wait_until(2, "SELECT count(*) FROM clocks WHERE case_id IN (%llu, %llu) AND code = 'C7'",
                 (unsigned long long)answered, (unsigned long long)missed);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C7'",
             (unsigned long long)called);
    assert_int_equal(cl_test_scalar(sql), 0);
    s_command(answered, A(FIRST_CONTACT), "we look into it");
    s_command(answered, A(RESOLVE), "the answer");
    s_wait_until(1, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C7' AND level = 3",
                 (unsigned long long)missed);
    char story[256];
    int64_t late;
    s_story(answered, "C7", story, sizeof story, &late);
    assert_string_equal(story, "A M");
    s_story(missed, "C7", story, sizeof story, &late);
    assert_string_equal(story, FULL);
    /* The link shows on the case. */
    char out[8192], args[64];
    snprintf(args, sizeof args, "case show %llu", (unsigned long long)answered);
    setenv("CL_INTAKE_ROUTER", s_intake.router, 1);
    assert_int_equal(cl_test_cli(args, out, sizeof out), 0);
    snprintf(args, sizeof args, "raised in the callback of case %llu", (unsigned long long)called);
    assert_non_null(strstr(out, args));
}

/* Takes one escalation event off its PUB and appends it to the story of its
   clock when that is C2 or C3 of a case of ids[0..n) (*mine then true); returns its position. */
static uint64_t s_heard(void *sub, const uint64_t *ids, int n, char (*stories)[2][128], bool *mine)
{
    *mine = false;
    zmq_msg_t topic, body;
    zmq_msg_init(&topic);
    zmq_msg_init(&body);
    assert_true(zmq_msg_recv(&topic, sub, 0) >= 0 && zmq_msg_recv(&body, sub, 0) >= 0);
    cl_err_t err;
    cl_env_t *ev = cl_codec_decode(zmq_msg_data(&body), zmq_msg_size(&body), SIZE_MAX, &err);
    assert_non_null(ev);
    uint64_t position = ev->position;
    const Caseloop__V1__Clock *c = NULL;
    char step[48] = "";
    switch (ev->body_case) {
    case CASELOOP__V1__ENVELOPE__BODY_CLOCK_ARMED: c = ev->clock_armed->clock; snprintf(step, sizeof step, "A"); break;
    case CASELOOP__V1__ENVELOPE__BODY_CLOCK_WARNING:
        c = ev->clock_warning->clock;
        snprintf(step, sizeof step, "W%u", ev->clock_warning->percent);
        break;
    case CASELOOP__V1__ENVELOPE__BODY_CLOCK_BREACHED: c = ev->clock_breached->clock; snprintf(step, sizeof step, "B"); break;
    case CASELOOP__V1__ENVELOPE__BODY_ESCALATION_RAISED:
        c = ev->escalation_raised->clock;
        snprintf(step, sizeof step, "R%u:%s", ev->escalation_raised->level, ev->escalation_raised->role);
        break;
    default: break;
    }
    for (int i = 0; c && i < n; i++) {
        if (c->case_id != ids[i] || (strcmp(c->code, "C2") != 0 && strcmp(c->code, "C3") != 0))
            continue;
        char *story = stories[i][strcmp(c->code, "C3") == 0];
        size_t len = strlen(story);
        snprintf(story + len, sizeof stories[i][0] - len, "%s%s", len ? " " : "", step);
        *mine = true;
    }
    cl_codec_free(ev);
    zmq_msg_close(&topic);
    zmq_msg_close(&body);
    return position;
}

static void test_three_fire_workers_fire_each_step_once_and_publish_in_position_order(void **state)
{
    (void)state;
    /* Small batches, so that the workers' transactions interleave; clocks of 8 s, so that
       even on a loaded machine each warning fires before its breach. */
    static const char *const sites[] = {"site-a", NULL};
    assert_int_equal(cl_test_load_policy_with(s_disp.router, sites, cl_test_clocks(8, false)), 0);
    assert_int_equal(cl_svc_stop(&s_esc, SIGTERM, 0), 0);
    const char *env[] = {s_listen, "CL_IDLE_MS=100", "CL_FIRE_WORKERS=3", "CL_BATCH_MAX=1", NULL};
    assert_int_equal(cl_svc_start(&s_esc, "caseloop-escalation", env), 0);
    /* Three workers, each on its own connection. */
    s_wait_for("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'caseloop-escalation-fire-%'", 3);
    void *sub = cl_test_sub(s_esc.pub);
    /* The subscription is live once a published event arrives (PUB drops to late joiners). */
    bool live = false;
    for (long k = 0; k < 50 && !live; k++) {
        s_new_case(1500 + k, false);
        zmq_pollitem_t item = {sub, 0, ZMQ_POLLIN, 0};
        live = zmq_poll(&item, 1, 500) == 1;
    }
    assert_true(live);
    /* Forty cases at once: their 80 clocks come due together, each fires 6 steps. */
    enum { N = 40 };
    uint64_t ids[N];
    static char stories[N][2][128];
    memset(stories, 0, sizeof stories);
    for (int i = 0; i < N; i++)
        ids[i] = s_new_case(1600 + i, false);
    uint64_t last = 0;
    int heard = 0;
    while (heard < N * 2 * 7) {
        zmq_pollitem_t item = {sub, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, TIMEOUT_MS) != 1)
            fail_msg("heard %d of %d events", heard, N * 2 * 7);
        bool mine;
        uint64_t position = s_heard(sub, ids, N, stories, &mine);
        assert_true(position > last); /* in the order of the log */
        last = position;
        heard += mine;
    }
    /* Each step once, in order, on the PUB and in the log. */
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < 2; k++) {
            assert_string_equal(stories[i][k], FULL);
            char story[256];
            int64_t late;
            s_story(ids[i], k ? "C3" : "C2", story, sizeof story, &late);
            assert_string_equal(story, FULL);
        }
    }
    cl_test_close(&sub);
    /* Stopped, it ends its workers cleanly. */
    assert_int_equal(cl_svc_stop(&s_esc, SIGTERM, 0), 0);
    assert_int_equal(s_start_escalation(&s_esc), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clocks_met_in_time_never_fire),
        cmocka_unit_test(test_missed_clocks_warn_breach_and_climb_every_level_in_order),
        cmocka_unit_test(test_a_killed_service_fires_each_breach_once_after_restart),
        cmocka_unit_test(test_a_clock_met_late_while_the_service_was_down_is_told_breached_then_met_late),
        cmocka_unit_test(test_two_instances_never_fire_a_clock_twice),
        cmocka_unit_test(test_a_clock_waits_while_the_case_waits_on_the_customer),
        cmocka_unit_test(test_a_reopened_case_arms_the_clocks_that_start_on_reopening),
        cmocka_unit_test(test_a_returned_case_and_a_transferred_case_get_their_clocks),
        cmocka_unit_test(test_quiet_hours_hold_warnings_and_the_ladder_but_not_the_breach),
        cmocka_unit_test(test_a_new_policy_retimes_running_clocks_or_stops_them),
        cmocka_unit_test(test_a_callback_arms_the_record_clock_that_its_record_meets),
        cmocka_unit_test(test_a_problem_raised_in_a_callback_is_a_linked_case_with_its_clock),
        cmocka_unit_test(test_three_fire_workers_fire_each_step_once_and_publish_in_position_order),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
