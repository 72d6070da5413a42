/* test_escalation.c - response clocks with second-long durations: met in time, warned, breached,
   the ladder at its pace, quiet hours, a new policy, a killed service, two instances, three workers,
   workers woken by a clock armed while they sleep. */
#include "trio.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define A(x) CASELOOP__V1__CASE_ACTION__CASE_ACTION_##x
#define FULL "A W50 W80 B R1:supervisor R2:project_head R3:leadership"

static void test_clocks_met_in_time_never_fire(void **state)
{
    (void)state;
    uint64_t id = cl_trio_case("site-a", 1, false);
    cl_test_wait_scalar(2, CL_TRIO_WAIT_MS, "SELECT count(*) FROM clocks WHERE case_id = %llu",
                        (unsigned long long)id); /* C2, C3 */
    cl_trio_command(id, A(ACKNOWLEDGE), NULL);
    cl_trio_command(id, A(FIRST_CONTACT), "the plan");
    cl_test_wait_scalar(2, CL_TRIO_WAIT_MS, "SELECT count(*) FROM clocks WHERE case_id = %llu AND state = 2",
                        (unsigned long long)id);
    /* Beyond every moment it had, nothing more happened to it. */
    uint64_t other = cl_trio_case("site-a", 2, false);
    cl_test_wait_scalar(2, CL_TRIO_WAIT_MS, "SELECT count(*) FROM clocks WHERE case_id = %llu AND level = 3",
                        (unsigned long long)other);
    char story[256];
    int64_t late;
    cl_trio_story(id, "C2", story, sizeof story, &late);
    assert_string_equal(story, "A M");
    cl_trio_story(id, "C3", story, sizeof story, &late);
    assert_string_equal(story, "A M");
}

static void test_missed_clocks_warn_breach_and_climb_every_level_in_order(void **state)
{
    (void)state;
    uint64_t id = cl_trio_case("site-a", 3, false), major = cl_trio_case("site-a", 4, true);
    char sql[200];
    cl_test_wait_scalar(2, CL_TRIO_WAIT_MS, "SELECT count(*) FROM clocks WHERE case_id = %llu AND level = 3",
                        (unsigned long long)id);
    cl_test_wait_scalar(2, CL_TRIO_WAIT_MS, "SELECT count(*) FROM clocks WHERE case_id = %llu AND level = 2",
                        (unsigned long long)major);
    char story[256];
    int64_t late;
    cl_trio_story(id, "C2", story, sizeof story, &late);
    assert_string_equal(story, FULL);
    assert_true(late < 1000000); /* fired within a second of its moment */
    cl_trio_story(id, "C3", story, sizeof story, &late);
    assert_string_equal(story, FULL);
    assert_true(late < 1000000);
    cl_trio_story(major, "C2", story, sizeof story, &late);
    assert_string_equal(story, "A W50 W80 B R1:manager R2:leadership");
    /* Operators see the same from the CLI. */
    char out[8192], args[64];
    setenv("CL_ESCALATION_ROUTER", cl_trio.esc.router, 1);
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
    cl_trio_command(id, A(ACKNOWLEDGE), NULL);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C2' AND state = 5",
                        (unsigned long long)id);
}

static void test_a_killed_service_fires_each_breach_once_after_restart(void **state)
{
    (void)state;
    uint64_t ids[10];
    for (int i = 0; i < 10; i++)
        ids[i] = cl_trio_case("site-a", 100 + i, false);
    cl_test_wait_scalar(
        20, CL_TRIO_WAIT_MS,
        "SELECT count(*) FROM clocks WHERE case_id >= (SELECT min(id) FROM cases WHERE external_source = 'esc'"
        " AND external_id::int >= 100)");
    assert_int_equal(cl_svc_stop(&cl_trio.esc, SIGKILL, 0), 128 + SIGKILL);
    /* Let them all come due while it is down. */
    cl_trio_pass(5);
    assert_int_equal(cl_trio_start_escalation(&cl_trio.esc), 0);
    for (int i = 0; i < 10; i++) {
        cl_test_wait_scalar(2, CL_TRIO_WAIT_MS, "SELECT count(*) FROM clocks WHERE case_id = %llu AND level = 3",
                            (unsigned long long)ids[i]);
        char story[256];
        int64_t late;
        cl_trio_story(ids[i], "C2", story, sizeof story, &late);
        /* Warnings that came due after the due time are not sent; the breach fires once, late, and says how late. */
        assert_string_equal(story, "A B R1:supervisor R2:project_head R3:leadership");
        assert_true(late > 0);
    }
}

static void test_a_clock_met_late_while_the_service_was_down_is_told_breached_then_met_late(void **state)
{
    (void)state;
    uint64_t id = cl_trio_case("site-a", 700, false);
    cl_test_wait_scalar(2, CL_TRIO_WAIT_MS, "SELECT count(*) FROM clocks WHERE case_id = %llu", (unsigned long long)id);
    assert_int_equal(cl_svc_stop(&cl_trio.esc, SIGKILL, 0), 128 + SIGKILL);
    cl_trio_pass(5);
    cl_trio_command(id, A(ACKNOWLEDGE), NULL); /* after C2's due time, while nobody watched */
    assert_int_equal(cl_trio_start_escalation(&cl_trio.esc), 0);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C2' AND state = 5",
                        (unsigned long long)id);
    char story[256];
    int64_t late;
    cl_trio_story(id, "C2", story, sizeof story, &late);
    assert_string_equal(story, "A B ML");
}

static void test_two_instances_never_fire_a_clock_twice(void **state)
{
    (void)state;
    cl_svc_t second;
    assert_int_equal(cl_trio_start_escalation(&second), 0);
    uint64_t ids[20];
    for (int i = 0; i < 20; i++)
        ids[i] = cl_trio_case("site-a", 200 + i, i % 5 == 0);
    for (int i = 0; i < 20; i++) {
        cl_test_wait_scalar(2, CL_TRIO_WAIT_MS,
                            "SELECT count(*) FROM clocks WHERE case_id = %llu AND next_fire_at IS NULL",
                            (unsigned long long)ids[i]);
        char story[256];
        int64_t late;
        for (int k = 0; k < 2; k++) {
            cl_trio_story(ids[i], k ? "C3" : "C2", story, sizeof story, &late);
            assert_string_equal(story, i % 5 == 0 ? "A W50 W80 B R1:manager R2:leadership" : FULL);
        }
    }
    assert_int_equal(cl_svc_stop(&second, SIGTERM, 0), 0);
}

static void test_quiet_hours_hold_warnings_and_the_ladder_but_not_the_breach(void **state)
{
    (void)state;
    /* site-q works one day a week, three days after today: now is outside its working hours. */
    static const char *const sites[] = {"site-q", NULL};
    assert_int_equal(cl_test_load_policy_with(cl_trio.disp.router, sites, cl_test_clocks(4, true)), 0);
    uint64_t plain = cl_trio_case("site-q", 500, false), major = cl_trio_case("site-q", 501, true);
    char sql[200];
    cl_test_wait_scalar(2, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id IN (%llu, %llu) AND code = 'C2' AND state = 3",
                        (unsigned long long)plain, (unsigned long long)major);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND level = 2 AND code = 'C2'",
                        (unsigned long long)major);
    char story[256];
    int64_t late;
    /* The breach keeps its true time; the people are told when the site works again. */
    cl_trio_story(plain, "C2", story, sizeof story, &late);
    assert_string_equal(story, "A B");
    assert_true(late < 1000000);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C2'"
             " AND next_fire_at > now() + interval '1 minute'",
             (unsigned long long)plain);
    assert_int_equal(cl_test_scalar(sql), 1);
    /* A major case does not wait. */
    cl_trio_story(major, "C2", story, sizeof story, &late);
    assert_string_equal(story, "A W50 W80 B R1:manager R2:leadership");
}

static void test_a_new_policy_retimes_running_clocks_or_stops_them(void **state)
{
    (void)state;
    /* Clocks long enough to be still running whatever the machine's load when the new version lands. */
    static const char *const sites[] = {"site-b", NULL};
    assert_int_equal(cl_test_load_policy_with(cl_trio.disp.router, sites, cl_test_clocks(60, false)), 0);
    uint64_t id = cl_trio_case("site-b", 600, false), held = cl_trio_case("site-b", 601, false),
             waiting = cl_trio_case("site-b", 602, false);
    cl_test_wait_scalar(6, CL_TRIO_WAIT_MS, "SELECT count(*) FROM clocks WHERE case_id IN (%llu, %llu, %llu)",
                        (unsigned long long)id, (unsigned long long)held, (unsigned long long)waiting);
    /* One C3 was paused for a while and counts again; another waits on its customer. */
    cl_trio_command(held, A(ACKNOWLEDGE), NULL);
    cl_trio_command(waiting, A(ACKNOWLEDGE), NULL);
    cl_trio_command(held, A(WAIT_FOR_CUSTOMER), "owner away");
    cl_trio_command(waiting, A(WAIT_FOR_CUSTOMER), "owner away");
    cl_trio_pass(1);
    cl_trio_command(held, A(RESUME), NULL);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND state = 1"
                        " AND paused_us >= 1000000",
                        (unsigned long long)held);
    static const char clocks[] =
        ",\"calendar\":{\"working_hours\":{\"mon\":[\"00:00-24:00\"],\"tue\":[\"00:00-24:00\"],\"wed\":[\"00:00-24:"
        "00\"],"
        "\"thu\":[\"00:00-24:00\"],\"fri\":[\"00:00-24:00\"],\"sat\":[\"00:00-24:00\"],\"sun\":[\"00:00-24:00\"]}},"
        "\"clocks\":[{\"code\":\"C2\",\"name\":\"feedback "
        "form\",\"starts_on\":\"received\",\"met_by\":[\"acknowledge\"],"
        "\"duration\":4,\"active\":false},"
        "{\"code\":\"C3\",\"name\":\"first contact\",\"starts_on\":\"dispatched\",\"met_by\":[\"first_contact\"],"
        "\"duration\":\"1h\",\"on_policy_change\":\"retime\"}]";
    assert_int_equal(cl_test_load_policy_with(cl_trio.disp.router, sites, clocks), 0);
    /* C2 is no longer a clock of this site: it stops. C3 takes the new hour. */
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C2' AND state = 4"
                        " AND next_fire_at IS NULL",
                        (unsigned long long)id);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND state = 1"
                        " AND due_at - armed_at = interval '1 hour'",
                        (unsigned long long)id);
    /* The paused time is kept: the hour counts from the arming plus the time it was held back. */
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND state = 1"
                        " AND due_at - armed_at = interval '1 hour' + paused_us * interval '1 microsecond'",
                        (unsigned long long)held);
    /* A paused clock takes the new times and stays paused; resumed, it moves on by its pause. */
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND state = 6"
                        " AND next_fire_at IS NULL AND due_at - armed_at = interval '1 hour'",
                        (unsigned long long)waiting);
    cl_trio_command(waiting, A(RESUME), NULL);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND state = 1"
                        " AND paused_us >= 1000000 AND next_fire_at IS NOT NULL"
                        " AND due_at - armed_at = interval '1 hour' + paused_us * interval '1 microsecond'",
                        (unsigned long long)waiting);
}

/* Clock definitions for one site: C2 of 4 s whose normal ladder tells a level a second and
   whose major ladder gives the manager 3 s before leadership. */
static const char s_major_pace[] =
    ",\"calendar\":{\"working_hours\":{\"mon\":[\"00:00-24:00\"],\"tue\":[\"00:00-24:00\"],"
    "\"wed\":[\"00:00-24:00\"],\"thu\":[\"00:00-24:00\"],\"fri\":[\"00:00-24:00\"],"
    "\"sat\":[\"00:00-24:00\"],\"sun\":[\"00:00-24:00\"]}},"
    "\"clocks\":[{\"code\":\"C2\",\"name\":\"feedback form reaches the department\",\"starts_on\":\"received\","
    "\"met_by\":[\"acknowledge\"],\"duration\":4,"
    "\"ladder\":[{\"role\":\"supervisor\",\"for\":1},{\"role\":\"leadership\"}],"
    "\"major_ladder\":[{\"role\":\"manager\",\"for\":3},{\"role\":\"leadership\"}]}]";

static void test_a_major_case_climbs_the_major_ladder_at_its_pace(void **state)
{
    (void)state;
    static const char *const sites[] = {"site-m", NULL};
    assert_int_equal(cl_test_load_policy_with(cl_trio.disp.router, sites, s_major_pace), 0);
    uint64_t plain = cl_trio_case("site-m", 1400, false), major = cl_trio_case("site-m", 1401, true);
    cl_test_wait_scalar(2, CL_TRIO_WAIT_MS, "SELECT count(*) FROM clocks WHERE case_id IN (%llu, %llu) AND level = 2",
                        (unsigned long long)plain, (unsigned long long)major);
    char story[256];
    int64_t late;
    cl_trio_story(major, "C2", story, sizeof story, &late);
    assert_string_equal(story, "A W50 W80 B R1:manager R2:leadership");
    cl_trio_story(plain, "C2", story, sizeof story, &late);
    assert_string_equal(story, "A W50 W80 B R1:supervisor R2:leadership");
    /* Leadership hears of the major case 3 s after the manager, of the other 1 s after the
       supervisor (at least: a level told late moves the next ones on by as much). */
    char sql[400];
    const char *gap = "SELECT extract(epoch FROM max(recorded_at) - min(recorded_at)) * 1000000 FROM events"
                      " WHERE case_id = %llu AND type = 'EscalationRaised'";
    snprintf(sql, sizeof sql, gap, (unsigned long long)major);
    long long major_gap = cl_test_scalar(sql);
    snprintf(sql, sizeof sql, gap, (unsigned long long)plain);
    long long plain_gap = cl_test_scalar(sql);
    if (major_gap < 3000000 || plain_gap < 1000000)
        fail_msg("leadership was told %lld us after the manager (major), %lld us after the supervisor", major_gap,
                 plain_gap);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM events e JOIN clocks c ON c.case_id = e.case_id AND c.code = 'C2'"
             " WHERE e.case_id = %llu AND e.type = 'EscalationRaised' AND e.recorded_at >= c.due_at + interval '3 seconds'",
             (unsigned long long)major);
    assert_int_equal(cl_test_scalar(sql), 1);
}

/* R-CB-5: a clock may start on several events. Here C2 and C3 start on receipt and on
   dispatch as usual, and again when the case is reopened (the default policy's, so that a
   case a callback found unsolved goes back to its department on the clock); the department
   then acknowledges and contacts the customer again, which meets them. */
static void test_a_reopened_case_runs_c2_and_c3_again(void **state)
{
    (void)state;
    static const char *const sites[] = {"site-r", NULL};
    static const char clocks[] =
        ",\"calendar\":{\"working_hours\":{\"mon\":[\"00:00-24:00\"],\"tue\":[\"00:00-24:00\"],"
        "\"wed\":[\"00:00-24:00\"],\"thu\":[\"00:00-24:00\"],\"fri\":[\"00:00-24:00\"],"
        "\"sat\":[\"00:00-24:00\"],\"sun\":[\"00:00-24:00\"]}},"
        "\"clocks\":[{\"code\":\"C2\",\"name\":\"feedback form reaches the department\","
        "\"starts_on\":[\"received\",\"reopened\"],\"met_by\":[\"acknowledge\",\"first_contact\"],\"duration\":\"1h\"},"
        "{\"code\":\"C3\",\"name\":\"the department contacts the customer\","
        "\"starts_on\":[\"dispatched\",\"reopened\"],\"met_by\":[\"first_contact\"],\"duration\":\"1h\"}]";
    assert_int_equal(cl_test_load_policy_with(cl_trio.disp.router, sites, clocks), 0);
    uint64_t id = cl_trio_case("site-r", 1500, false);
    const char *armed = "SELECT count(*) FROM clocks WHERE case_id = %llu AND code IN ('C2', 'C3') AND state = %d";
    cl_test_wait_scalar(2, CL_TRIO_WAIT_MS, armed, (unsigned long long)id, 1);
    cl_trio_command(id, A(ACKNOWLEDGE), NULL);
    cl_trio_command(id, A(FIRST_CONTACT), "we come at ten");
    cl_test_wait_scalar(2, CL_TRIO_WAIT_MS, armed, (unsigned long long)id, 2);
    cl_trio_command(id, A(RESOLVE), "replaced the seal");
    cl_trio_command(id, A(CLOSE), NULL);
    cl_trio_command(id, A(REOPEN), "it leaks again");
    cl_test_wait_scalar(2, CL_TRIO_WAIT_MS, armed, (unsigned long long)id, 1);
    cl_trio_command(id, A(ACKNOWLEDGE), NULL); /* reopened -> acknowledged */
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C2' AND state = 2",
                        (unsigned long long)id);
    cl_trio_command(id, A(FIRST_CONTACT), "a new seal on Monday");
    cl_test_wait_scalar(2, CL_TRIO_WAIT_MS, armed, (unsigned long long)id, 2);
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM events WHERE type = 'ClockArmed' AND case_id IN"
                                    " (SELECT id FROM cases WHERE site = 'site-r')"),
                     4);
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
    char step[48];
    int64_t late;
    const Caseloop__V1__Clock *c = cl_trio_step(ev, step, sizeof step, &late);
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
    assert_int_equal(cl_test_load_policy_with(cl_trio.disp.router, sites, cl_test_clocks(8, false)), 0);
    assert_int_equal(cl_svc_stop(&cl_trio.esc, SIGTERM, 0), 0);
    const char *env[] = {cl_trio.listen, "CL_IDLE_MS=100", "CL_FIRE_WORKERS=3", "CL_BATCH_MAX=1", NULL};
    assert_int_equal(cl_svc_start(&cl_trio.esc, "caseloop-escalation", env), 0);
    /* Three workers, each on its own connection. */
    cl_test_wait_scalar(
        3, CL_TRIO_WAIT_MS,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'caseloop-escalation-fire-%%'");
    void *sub = cl_test_sub(cl_trio.esc.pub);
    /* The subscription is live once a published event arrives (PUB drops to late joiners). */
    bool live = false;
    for (long k = 0; k < 50 && !live; k++) {
        cl_trio_case("site-a", 1500 + k, false);
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
        ids[i] = cl_trio_case("site-a", 1600 + i, false);
    uint64_t last = 0;
    int heard = 0;
    while (heard < N * 2 * 7) {
        zmq_pollitem_t item = {sub, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, CL_TRIO_REPLY_MS) != 1)
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
            cl_trio_story(ids[i], k ? "C3" : "C2", story, sizeof story, &late);
            assert_string_equal(story, FULL);
        }
    }
    cl_test_close(&sub);
    /* Stopped, it ends its workers cleanly. */
    assert_int_equal(cl_svc_stop(&cl_trio.esc, SIGTERM, 0), 0);
    assert_int_equal(cl_trio_start_escalation(&cl_trio.esc), 0);
}

/* Started behind a long backlog, applied one event per transaction: it answers a
   request at once and, told to stop, ends cleanly within CL_SHUTDOWN_S, the backlog
   left in the log for the next start. */
static void test_a_backlog_holds_up_neither_requests_nor_a_stop(void **state)
{
    (void)state;
    static const char *const sites[] = {"site-a", NULL};
    assert_int_equal(cl_test_load_policy_with(cl_trio.disp.router, sites, cl_test_clocks(3600, false)), 0);
    assert_int_equal(cl_svc_stop(&cl_trio.esc, SIGTERM, 0), 0);
    enum { N = 600 };
    for (int i = 0; i < N; i++)
        cl_trio_case("site-a", 3000 + i, false);
#define BACKLOG_CASES "cases c WHERE c.external_source = 'esc' AND c.external_id::bigint BETWEEN 3000 AND 3599"
    cl_test_wait_scalar(N, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM dispatches d, " BACKLOG_CASES " AND d.case_id = c.id AND d.department <> ''");
    const char *env[] = {cl_trio.listen, "CL_IDLE_MS=100", "CL_BATCH_MAX=1", "CL_SHUTDOWN_S=5", NULL};
    assert_int_equal(cl_svc_start(&cl_trio.esc, "caseloop-escalation", env), 0);
    void *dealer = cl_test_dealer(cl_trio.esc.router);
    cl_env_t req = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__GetStats body = CASELOOP__V1__GET_STATS__INIT;
    req.body_case = CASELOOP__V1__ENVELOPE__BODY_GET_STATS;
    req.get_stats = &body;
    for (int k = 0; k < 3; k++) {
        int64_t t0 = cl_mono_us();
        cl_env_t *reply = cl_test_call(dealer, &req, 1000);
        if (!reply)
            fail_msg("request %d: no answer within 1 s while the backlog is applied", k + 1);
        assert_int_equal(reply->body_case, CASELOOP__V1__ENVELOPE__BODY_STATS_REPLY);
        cl_codec_free(reply);
        assert_true(cl_mono_us() - t0 < 1000000);
    }
    cl_test_close(&dealer);
    /* Still behind: what follows is a stop during a backlog. */
    assert_true(cl_test_scalar("SELECT (SELECT position FROM event_head)"
                               " - (SELECT position FROM consumer_positions WHERE consumer = 'escalation')") > 100);
    int64_t t0 = cl_mono_us();
    assert_int_equal(cl_svc_stop(&cl_trio.esc, SIGTERM, 0), 0);
    assert_true(cl_mono_us() - t0 < 5 * 1000000);
    /* Started again, it applies the rest: every case's C2 armed once. */
    assert_int_equal(cl_trio_start_escalation(&cl_trio.esc), 0);
    cl_test_wait_scalar(N, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks k, " BACKLOG_CASES " AND k.case_id = c.id AND k.code = 'C2'");
}

static void test_a_clock_armed_while_the_workers_sleep_wakes_them_in_time(void **state)
{
    (void)state;
    /* An idle period of a minute: with nothing due sooner, the workers sleep that long
       unless a clock armed to fire before then wakes them. */
    static const char *const sites[] = {"site-a", NULL};
    assert_int_equal(cl_test_load_policy_with(cl_trio.disp.router, sites, cl_test_clocks(4, false)), 0);
    assert_int_equal(cl_svc_stop(&cl_trio.esc, SIGTERM, 0), 0);
    const char *env[] = {cl_trio.listen, "CL_IDLE_MS=60000", NULL};
    assert_int_equal(cl_svc_start(&cl_trio.esc, "caseloop-escalation", env), 0);
    uint64_t id = cl_trio_case("site-a", 1800, false);
    cl_test_wait_scalar(2, CL_TRIO_WAIT_MS, "SELECT count(*) FROM clocks WHERE case_id = %llu AND level = 3",
                        (unsigned long long)id);
    char story[256];
    int64_t late;
    for (int k = 0; k < 2; k++) {
        cl_trio_story(id, k ? "C3" : "C2", story, sizeof story, &late);
        assert_string_equal(story, FULL);
        assert_true(late < 1000000); /* told on time, not at the end of a minute's sleep */
    }
    assert_int_equal(cl_svc_stop(&cl_trio.esc, SIGTERM, 0), 0);
    assert_int_equal(cl_trio_start_escalation(&cl_trio.esc), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_clocks_met_in_time_never_fire, cl_trio_up),
        cmocka_unit_test_setup(test_missed_clocks_warn_breach_and_climb_every_level_in_order, cl_trio_up),
        cmocka_unit_test_setup(test_a_killed_service_fires_each_breach_once_after_restart, cl_trio_up),
        cmocka_unit_test_setup(test_a_clock_met_late_while_the_service_was_down_is_told_breached_then_met_late, cl_trio_up),
        cmocka_unit_test_setup(test_two_instances_never_fire_a_clock_twice, cl_trio_up),
        cmocka_unit_test_setup(test_quiet_hours_hold_warnings_and_the_ladder_but_not_the_breach, cl_trio_up),
        cmocka_unit_test_setup(test_a_new_policy_retimes_running_clocks_or_stops_them, cl_trio_up),
        cmocka_unit_test_setup(test_a_major_case_climbs_the_major_ladder_at_its_pace, cl_trio_up),
        cmocka_unit_test_setup(test_a_reopened_case_runs_c2_and_c3_again, cl_trio_up),
        cmocka_unit_test_setup(test_three_fire_workers_fire_each_step_once_and_publish_in_position_order, cl_trio_up),
        cmocka_unit_test_setup(test_a_backlog_holds_up_neither_requests_nor_a_stop, cl_trio_up),
        cmocka_unit_test_setup(test_a_clock_armed_while_the_workers_sleep_wakes_them_in_time, cl_trio_up),
    };
    return cmocka_run_group_tests(tests, cl_trio_setup, cl_trio_teardown);
}
