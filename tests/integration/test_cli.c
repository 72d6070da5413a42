/* test_cli.c - the caseloop command-line tool against a running intake, as an operator uses it. */
#include "harness.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cl_svc_t s_svc;

static int s_setup(void **state)
{
    (void)state;
    if (cl_test_reset_db() < 0)
        return -1;
    if (cl_svc_start(&s_svc, "caseloop-intake", NULL) < 0)
        return -1;
    setenv("CL_INTAKE_ROUTER", s_svc.router, 1);
    setenv("CL_INTAKE_PUB", s_svc.pub, 1);
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    return cl_svc_stop(&s_svc, SIGTERM, 0) == 0 ? 0 : -1;
}

static void test_submit_show_tail_and_stats(void **state)
{
    (void)state;
    char out[8192];
    assert_int_equal(cl_test_cli("submit --site site-a --kind complaint --severity important --channel phone"
                           " --customer-name 'Ms Wang' --customer-contact 13800000001 --location 'building 3'"
                           " --occurred-at '2026-01-05 22:30' --description 'pump noisy at night'"
                           " --source cli-test --id 1",
                           out, sizeof out),
                     0);
    assert_non_null(strstr(out, "case 1 created"));
    assert_int_equal(cl_test_cli("submit --site site-a --kind complaint --description 'pump noisy at night'"
                           " --customer-name 'Ms Wang' --source cli-test --id 1",
                           out, sizeof out),
                     0);
    assert_non_null(strstr(out, "case 1 repeated"));
    assert_int_equal(cl_test_cli("case show 1", out, sizeof out), 0);
    assert_non_null(strstr(out, "pump noisy at night"));
    assert_non_null(strstr(out, "important"));
    assert_non_null(strstr(out, "phone"));
    assert_non_null(strstr(out, "cli-test / 1"));
    assert_int_equal(cl_test_cli("events tail --from 0 --no-follow", out, sizeof out), 0);
    assert_non_null(strstr(out, "1\t"));
    assert_non_null(strstr(out, "CaseReceived"));
    assert_int_equal(cl_test_cli("cases --site site-a --state open", out, sizeof out), 0);
    assert_non_null(strstr(out, "pump noisy at night"));
    assert_non_null(strstr(out, "received"));
    /* No dispatcher runs here: the case has not reached a department, and the CLI says so. */
    assert_int_equal(cl_test_cli("case acknowledge 1 --actor li.na", out, sizeof out), 1);
    assert_non_null(strstr(out, "CONFLICT action"));
    assert_non_null(strstr(out, "department"));
    assert_int_equal(cl_test_cli("case resolve 1", out, sizeof out), 1);
    assert_non_null(strstr(out, "INVALID_ARGUMENT actor"));
    assert_int_equal(cl_test_cli("stats", out, sizeof out), 0);
    assert_non_null(strstr(out, "cases_created\t1"));
    assert_non_null(strstr(out, "repeats\t1"));
}

static void test_mistakes_are_explained(void **state)
{
    (void)state;
    char out[8192];
    assert_int_equal(cl_test_cli("submit --site a --kind bogus --description x", out, sizeof out), 2);
    assert_non_null(strstr(out, "complaint|repair"));
    assert_int_equal(cl_test_cli("submit --kind repair --description x --anonymous --source cli-test --id 2", out,
                           sizeof out),
                     1);
    assert_non_null(strstr(out, "INVALID_ARGUMENT details.site"));
    assert_non_null(strstr(out, "--source cli-test --id 2")); /* how to retry safely */
    assert_int_equal(cl_test_cli("case show 999", out, sizeof out), 1);
    assert_non_null(strstr(out, "NOT_FOUND"));
    assert_int_equal(cl_test_cli("case show x", out, sizeof out), 2);
    assert_int_equal(cl_test_cli("events tail --from abc", out, sizeof out), 2);
    assert_int_equal(cl_test_cli("nonsense", out, sizeof out), 2);
}

static void test_every_command_has_help(void **state)
{
    (void)state;
    char out[8192];
    const char *cmds[] = {"--help",        "submit --help",      "case show --help",  "case --help",
                          "cases --help",  "events tail --help", "stats --help",      "policy --help",
                          "shift --help"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        assert_int_equal(cl_test_cli(cmds[i], out, sizeof out), 0);
        assert_non_null(strstr(out, "usage: caseloop"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_submit_show_tail_and_stats),
        cmocka_unit_test(test_mistakes_are_explained),
        cmocka_unit_test(test_every_command_has_help),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
