/* test_cli.c - the caseloop command-line tool against a running intake, as an operator uses it. */
#include "harness.h"
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

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

/* `caseloop events tail` run in the background against an intake of the
   test's own (a ROUTER that answers as the test says), its output into a file. */
typedef struct {
    char dir[64];
    char router_ep[128], pub_ep[128], out[128];
    void *ctx, *router;
    pid_t pid;  /* 0 once reaped */
    int status;
} s_tail_t;

static s_tail_t s_tail;

/* Starts CL_BIN_DIR/caseloop events tail with intake at the test's ROUTER and
   timeout_ms for each reply. Returns 0 or -1. */
static int s_tail_start(s_tail_t *t, int timeout_ms)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/cl-cli-XXXXXX");
    if (!mkdtemp(t->dir))
        return -1;
    snprintf(t->router_ep, sizeof t->router_ep, "ipc://%s/router", t->dir);
    snprintf(t->pub_ep, sizeof t->pub_ep, "ipc://%s/pub", t->dir);
    snprintf(t->out, sizeof t->out, "%s/out", t->dir);
    cl_err_t err;
    t->ctx = zmq_ctx_new();
    t->router = t->ctx ? cl_bus_open(t->ctx, ZMQ_ROUTER, t->router_ep, true, &err) : NULL;
    if (!t->router)
        return -1;
    char bin[512], router[160], pub[160], timeout[64];
    snprintf(bin, sizeof bin, "%s/caseloop", getenv("CL_BIN_DIR"));
    snprintf(router, sizeof router, "CL_INTAKE_ROUTER=%s", t->router_ep);
    snprintf(pub, sizeof pub, "CL_INTAKE_PUB=%s", t->pub_ep);
    snprintf(timeout, sizeof timeout, "CL_TIMEOUT_MS=%d", timeout_ms);
    size_t n = 0;
    while (environ[n])
        n++;
    char **envp = calloc(n + 4, sizeof *envp);
    if (!envp)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "CL_INTAKE_", 10) != 0 && strncmp(environ[i], "CL_TIMEOUT_MS=", 14) != 0)
            envp[k++] = environ[i];
    envp[k++] = router, envp[k++] = pub, envp[k++] = timeout;
    char *argv[] = {bin, "events", "tail", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, t->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGINT);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &dfl);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int rc = posix_spawn(&t->pid, bin, &fa, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    free(envp);
    if (rc != 0)
        t->pid = 0;
    return rc == 0 ? 0 : -1;
}

/* Takes the next request off the test's ROUTER (failing the test when none
   comes within 10 s); it must be a ReadEvents. Answered, when answer, with
   an empty log (no events, head 0); else left unanswered. */
static void s_tail_serve(s_tail_t *t, bool answer)
{
    zmq_pollitem_t item = {t->router, 0, ZMQ_POLLIN, 0};
    assert_int_equal(zmq_poll(&item, 1, 10000), 1);
    cl_request_t req;
    assert_int_equal(cl_bus_recv_request(t->router, &req, 0), 0);
    cl_err_t err;
    cl_env_t *env = cl_codec_decode(zmq_msg_data(&req.body), zmq_msg_size(&req.body), SIZE_MAX, &err);
    if (!env || env->body_case != CASELOOP__V1__ENVELOPE__BODY_READ_EVENTS || !answer) {
        cl_bus_request_close(&req);
        assert_non_null(env);
        assert_int_equal(env->body_case, CASELOOP__V1__ENVELOPE__BODY_READ_EVENTS);
        cl_codec_free(env);
        return;
    }
    cl_env_t reply;
    char id[CL_ID_MAX + 1];
    cl_codec_init(&reply, id, "test-intake", 0);
    Caseloop__V1__ReadEventsReply body = CASELOOP__V1__READ_EVENTS_REPLY__INIT;
    body.has_head_position = 1, body.head_position = 0;
    reply.correlation_id = env->message_id;
    reply.body_case = CASELOOP__V1__ENVELOPE__BODY_READ_EVENTS_REPLY;
    reply.read_events_reply = &body;
    cl_buf_t out = {0};
    cl_codec_encode(&reply, &out);
    cl_bus_reply(t->router, &req, out.data, out.len);
    cl_buf_free(&out);
    cl_codec_free(env);
}

/* Presses Ctrl-C (again at each look, as an impatient operator would) and
   tells whether the CLI has ended. */
static bool s_tail_interrupted(void *arg)
{
    s_tail_t *t = arg;
    if (waitpid(t->pid, &t->status, WNOHANG) == t->pid) {
        t->pid = 0;
        return true;
    }
    kill(t->pid, SIGINT);
    return false;
}

static int s_tail_teardown(void **state)
{
    (void)state;
    s_tail_t *t = &s_tail;
    if (t->pid > 0) {
        kill(t->pid, SIGKILL);
        waitpid(t->pid, NULL, 0);
        t->pid = 0;
    }
    cl_bus_close(&t->router);
    if (t->ctx)
        zmq_ctx_term(t->ctx);
    t->ctx = NULL;
    if (t->dir[0]) {
        unlink(t->out);
        unlink(t->router_ep + strlen("ipc://"));
        rmdir(t->dir);
        t->dir[0] = '\0';
    }
    return 0;
}

static void test_ctrl_c_ends_events_tail_at_once_while_intake_does_not_answer(void **state)
{
    (void)state;
    s_tail_t *t = &s_tail;
    /* a reply may take 20 s: long enough that waiting it out shows */
    assert_int_equal(s_tail_start(t, 20000), 0);
    s_tail_serve(t, true);  /* where the log ends */
    s_tail_serve(t, true);  /* what came after it: nothing */
    s_tail_serve(t, false); /* following, a quiet moment reads the log: intake is paused */
    assert_true(cl_test_poll(s_tail_interrupted, t, 5000));
    /* a clean stop: status 0, nothing said */
    assert_true(WIFEXITED(t->status));
    assert_int_equal(WEXITSTATUS(t->status), 0);
    FILE *f = fopen(t->out, "r");
    assert_non_null(f);
    char said[512];
    size_t n = fread(said, 1, sizeof said - 1, f);
    fclose(f);
    said[n] = '\0';
    assert_string_equal(said, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_submit_show_tail_and_stats),
        cmocka_unit_test(test_mistakes_are_explained),
        cmocka_unit_test(test_every_command_has_help),
        cmocka_unit_test_teardown(test_ctrl_c_ends_events_tail_at_once_while_intake_does_not_answer, s_tail_teardown),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
