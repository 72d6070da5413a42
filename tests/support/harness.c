/* harness.c - integration test support. */
#include "harness.h"
#include <sys/mman.h>
#include "policy_fixture.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *s_zctx;

static void *s_ctx(void)
{
    if (!s_zctx)
        s_zctx = zmq_ctx_new();
    return s_zctx;
}

const char *cl_test_db(void)
{
    const char *db = getenv("CL_TEST_DB");
    if (!db || !*db) {
        fprintf(stderr, "CL_TEST_DB is not set: run integration tests through scripts/test\n");
        exit(1);
    }
    return db;
}

static PGconn *s_connect(void)
{
    PGconn *c = PQconnectdb(cl_test_db());
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "test database: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

int cl_test_reset_db(void)
{
    PGconn *c = s_connect();
    if (!c)
        return -1;
    const char *steps[] = {"DROP SCHEMA public CASCADE", "CREATE SCHEMA public"};
    int rc = 0;
    for (size_t i = 0; i < 2 && rc == 0; i++) {
        PGresult *r = PQexecParams(c, steps[i], 0, NULL, NULL, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "reset: %s", PQerrorMessage(c));
            rc = -1;
        }
        PQclear(r);
    }
    PQfinish(c);
    return rc;
}

long long cl_test_scalar(const char *sql)
{
    PGconn *c = s_connect();
    if (!c)
        return -1;
    PGresult *r = PQexecParams(c, sql, 0, NULL, NULL, NULL, NULL, 0);
    long long v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fprintf(stderr, "scalar: %s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return v;
}

/* --- waiting ------------------------------------------------------------------------------ */

#define S_POLL_MS 20

static int64_t s_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool cl_test_poll(bool (*ready)(void *arg), void *arg, int timeout_ms)
{
    int64_t deadline = s_monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        if (ready(arg))
            return true;
        int64_t left = deadline - s_monotonic_ms();
        if (left <= 0)
            return ready(arg);
        int64_t ms = left < S_POLL_MS ? left : S_POLL_MS;
        struct timespec pause = {0, (long)ms * 1000000L};
        nanosleep(&pause, NULL); /* CL_TEST_POLLER: the one sleep in tests/ (scripts/test checks) */
    }
}

typedef struct {
    PGconn *conn; /* one connection for the whole wait */
    const char *sql;
    long long want, got;
    char error[256]; /* the query failed: no use waiting */
} s_scalar_wait_t;

static bool s_scalar_is(void *arg)
{
    s_scalar_wait_t *w = arg;
    if (PQstatus(w->conn) != CONNECTION_OK)
        PQreset(w->conn);
    PGresult *r = PQexecParams(w->conn, w->sql, 0, NULL, NULL, NULL, NULL, 0);
    w->got = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        w->got = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else if (PQresultStatus(r) == PGRES_FATAL_ERROR) {
        /* A mistake in the query (SQLSTATE class 42, or 22 for bad data) fails at once; a
           database that is down or restarting is waited for. */
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (state && (strncmp(state, "42", 2) == 0 || strncmp(state, "22", 2) == 0))
            snprintf(w->error, sizeof w->error, "%s", PQresultErrorMessage(r));
    }
    PQclear(r);
    return w->got == w->want || w->error[0];
}

void cl_test_wait_scalar(long long want, int timeout_ms, const char *fmt, ...)
{
    char sql[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof sql)
        fail_msg("cl_test_wait_scalar: the query is longer than %zu bytes: %.80s...", sizeof sql - 1, sql);
    s_scalar_wait_t w = {PQconnectdb(cl_test_db()), sql, want, -1, ""};
    bool ok = cl_test_poll(s_scalar_is, &w, timeout_ms);
    PQfinish(w.conn);
    if (w.error[0])
        fail_msg("the query failed: %s\n%s", sql, w.error);
    if (!ok)
        fail_msg("waited %d ms for %lld from: %s\nlast value: %lld", timeout_ms, want, sql, w.got);
}

static bool s_clock_reached(void *arg)
{
    return cl_clock_now(cl_clock_real()) >= *(const int64_t *)arg;
}

bool cl_test_pass_until(int64_t until_us)
{
    /* A second to spare, should the real clock be stepped meanwhile. */
    int64_t left_ms = (until_us - cl_clock_now(cl_clock_real())) / 1000 + 1000;
    return cl_test_poll(s_clock_reached, &until_us, (int)(left_ms > INT32_MAX ? INT32_MAX : left_ms));
}

int cl_test_pgctl(const char *action)
{
    const char *ctl = getenv("CL_TEST_PGCTL");
    if (!ctl || !*ctl)
        return -1;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s >/dev/null 2>&1", ctl, action);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* --- the business clock the services run on ------------------------------------------- */

static char s_clock_path[64];
static int64_t *s_clock_offset;

static void s_clock_unlink(void)
{
    unlink(s_clock_path);
}

/* The file of the offset every service this program starts adds to real time. */
static const char *s_clock_file(void)
{
    if (s_clock_offset)
        return s_clock_path;
    snprintf(s_clock_path, sizeof s_clock_path, "/tmp/cl-test-clock-XXXXXX");
    int fd = mkstemp(s_clock_path);
    if (fd < 0 || ftruncate(fd, sizeof(int64_t)) < 0) {
        fprintf(stderr, "cannot make the clock file %s\n", s_clock_path);
        abort();
    }
    void *map = mmap(NULL, sizeof(int64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        abort();
    s_clock_offset = map;
    atexit(s_clock_unlink);
    return s_clock_path;
}

void cl_test_clock_shift(int64_t by_us)
{
    s_clock_file();
    __atomic_store_n(s_clock_offset, *s_clock_offset + by_us, __ATOMIC_RELAXED);
}

int64_t cl_test_clock_now(void)
{
    s_clock_file();
    return cl_clock_now(cl_clock_real()) + __atomic_load_n(s_clock_offset, __ATOMIC_RELAXED);
}

static int s_spawn(cl_svc_t *svc, const char *bin, const char *const *extra_env);

int cl_svc_start(cl_svc_t *svc, const char *bin, const char *const *extra_env)
{
    memset(svc, 0, sizeof *svc);
    snprintf(svc->dir, sizeof svc->dir, "/tmp/cl-test-XXXXXX");
    if (!mkdtemp(svc->dir))
        return -1;
    snprintf(svc->router, sizeof svc->router, "ipc://%s/router", svc->dir);
    snprintf(svc->pub, sizeof svc->pub, "ipc://%s/pub", svc->dir);
    return s_spawn(svc, bin, extra_env);
}

int cl_svc_restart(cl_svc_t *svc, const char *bin, const char *const *extra_env)
{
    if (svc->pid > 0 || !svc->dir[0])
        return -1;
    return s_spawn(svc, bin, extra_env);
}

/* Starts bin on svc's endpoints and waits for its READY. */
static int s_spawn(cl_svc_t *svc, const char *bin, const char *const *extra_env)
{
    const char *clock_file = s_clock_file();
    const char *bindir = getenv("CL_BIN_DIR");
    if (!bindir || !*bindir) {
        fprintf(stderr, "CL_BIN_DIR is not set\n");
        return -1;
    }
    int fds[2];
    if (pipe(fds) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        char path[512], fd[16];
        snprintf(path, sizeof path, "%s/%s", bindir, bin);
        snprintf(fd, sizeof fd, "%d", fds[1]);
        close(fds[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a test that dies takes its service along */
        setenv("CL_DB", cl_test_db(), 1);
        setenv("CL_NOTIFY_FD", fd, 1);
        setenv("CL_TEST_CLOCK_FILE", clock_file, 1);
        /* Each service binds its own names; extra_env points it at the others. */
        setenv("CL_INTAKE_ROUTER", svc->router, 1);
        setenv("CL_INTAKE_PUB", svc->pub, 1);
        setenv("CL_DISPATCHER_ROUTER", svc->router, 1);
        setenv("CL_DISPATCHER_PUB", svc->pub, 1);
        setenv("CL_ESCALATION_ROUTER", svc->router, 1);
        setenv("CL_ESCALATION_PUB", svc->pub, 1);
        setenv("CL_CALLBACK_ROUTER", svc->router, 1);
        setenv("CL_CALLBACK_PUB", svc->pub, 1);
        if (!getenv("CL_LOG_LEVEL"))
            setenv("CL_LOG_LEVEL", "warn", 1);
        for (const char *const *e = extra_env; e && *e; e++)
            putenv((char *)*e);
        execl(path, bin, (char *)NULL);
        fprintf(stderr, "cannot run %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    svc->pid = pid;
    struct pollfd p = {fds[0], POLLIN, 0};
    char buf[16] = {0};
    int ready = poll(&p, 1, CL_SVC_READY_MS) == 1 && read(fds[0], buf, sizeof buf - 1) > 0 && strncmp(buf, "READY", 5) == 0;
    close(fds[0]);
    if (!ready) {
        fprintf(stderr, "%s did not become ready\n", bin);
        cl_svc_stop(svc, SIGKILL, 0);
        return -1;
    }
    return 0;
}

typedef struct {
    pid_t pid;
    int status;
} s_child_t;

static bool s_reaped(void *arg)
{
    s_child_t *c = arg;
    return waitpid(c->pid, &c->status, WNOHANG) == c->pid;
}

int cl_svc_stop(cl_svc_t *svc, int sig, int keep_dir)
{
    int rc = -1;
    if (svc->pid > 0) {
        s_child_t child = {svc->pid, 0};
        kill(svc->pid, sig);
        if (cl_test_poll(s_reaped, &child, CL_SVC_STOP_MS)) {
            rc = WIFEXITED(child.status) ? WEXITSTATUS(child.status) : 128 + WTERMSIG(child.status);
        } else {
            fprintf(stderr, "service %d still ran %d ms after signal %d: killed\n", (int)svc->pid, CL_SVC_STOP_MS,
                    sig);
            kill(svc->pid, SIGKILL);
            waitpid(svc->pid, &child.status, 0);
        }
        svc->pid = 0;
    }
    if (!keep_dir && svc->dir[0]) {
        char path[256];
        snprintf(path, sizeof path, "%s/router", svc->dir);
        unlink(path);
        snprintf(path, sizeof path, "%s/pub", svc->dir);
        unlink(path);
        rmdir(svc->dir);
        svc->dir[0] = '\0';
    }
    return rc;
}

void *cl_test_dealer(const char *endpoint)
{
    cl_err_t err;
    return cl_bus_open(s_ctx(), ZMQ_DEALER, endpoint, false, &err);
}

void *cl_test_sub(const char *endpoint)
{
    cl_err_t err;
    return cl_bus_open(s_ctx(), ZMQ_SUB, endpoint, false, &err);
}

void cl_test_close(void **sock_p)
{
    cl_bus_close(sock_p);
}

void cl_test_case(Caseloop__V1__Case *c, const char *site, const char *source, char *id_buf, size_t id_len, long n)
{
    caseloop__v1__case__init(c);
    snprintf(id_buf, id_len, "%ld", n);
    c->site = (char *)site;
    c->has_kind = 1, c->kind = CASELOOP__V1__KIND__KIND_REPAIR;
    c->description = "lift stuck between floors";
    c->customer_name = "Wang";
    c->customer_contact = "";
    c->location = "";
    c->external_source = (char *)source;
    c->external_id = id_buf;
}

cl_env_t *cl_test_call(void *dealer, cl_env_t *env, int timeout_ms)
{
    char id[CL_ID_MAX + 1];
    cl_codec_new_id(id);
    env->message_id = id;
    env->has_schema_version = 1;
    env->schema_version = CL_SCHEMA_VERSION;
    cl_err_t err;
    cl_env_t *reply = cl_client_exchange(dealer, env, timeout_ms, &err);
    env->message_id = NULL;
    return reply;
}

cl_env_t *cl_test_command(void *dealer, uint64_t case_id, Caseloop__V1__CaseAction action, const char *actor,
                          const char *text, int satisfied)
{
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__CaseCommand cmd = CASELOOP__V1__CASE_COMMAND__INIT;
    cmd.has_case_id = 1, cmd.case_id = case_id;
    cmd.has_action = 1, cmd.action = action;
    cmd.actor = (char *)actor;
    cmd.text = (char *)text;
    if (satisfied >= 0)
        cmd.has_satisfied = 1, cmd.satisfied = satisfied;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND;
    env.case_command = &cmd;
    cl_env_t *reply = cl_test_call(dealer, &env, 10000);
    assert_non_null(reply);
    return reply;
}

cl_env_t *cl_test_submit(void *dealer, Caseloop__V1__Case *c, int timeout_ms)
{
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__SubmitCase body = CASELOOP__V1__SUBMIT_CASE__INIT;
    body.details = c;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE;
    env.submit_case = &body;
    return cl_test_call(dealer, &env, timeout_ms);
}

cl_env_t *cl_test_raw(void *dealer, const void *data, size_t len, int timeout_ms)
{
    if (zmq_send(dealer, data, len, 0) < 0)
        return NULL;
    zmq_pollitem_t item = {dealer, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, timeout_ms) <= 0)
        return NULL;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, dealer, 0) < 0) {
        zmq_msg_close(&msg);
        return NULL;
    }
    cl_err_t err;
    cl_env_t *reply = cl_codec_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), SIZE_MAX, &err);
    zmq_msg_close(&msg);
    return reply;
}

long long cl_test_counter(void *dealer, const char *name)
{
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__GetStats body = CASELOOP__V1__GET_STATS__INIT;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_GET_STATS;
    env.get_stats = &body;
    cl_env_t *reply = cl_test_call(dealer, &env, 5000);
    if (!reply || reply->body_case != CASELOOP__V1__ENVELOPE__BODY_STATS_REPLY) {
        cl_codec_free(reply);
        return -1;
    }
    long long v = (long long)cl_client_counter(reply->stats_reply, name);
    cl_codec_free(reply);
    return v;
}

/* --- a policy for tests ---------------------------------------------------------------- */


const char *cl_test_clocks(int seconds, bool quiet)
{
    static char text[8192], off[64];
    static const char *const days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    /* Quiet: the whole day three days after today (UTC) is the only working time, so that
       now, in the sites' zone as in any other, is outside it for at least a day. */
    time_t now = (time_t)(cl_clock_now(cl_clock_real()) / 1000000);
    struct tm utc;
    gmtime_r(&now, &utc);
    snprintf(off, sizeof off, "\"%s\":[\"00:00-24:00\"]", days[(utc.tm_wday + 3) % 7]);
    const char *hours = quiet ? off
                              : "\"mon\":[\"00:00-24:00\"],\"tue\":[\"00:00-24:00\"],\"wed\":[\"00:00-24:00\"],"
                                "\"thu\":[\"00:00-24:00\"],\"fri\":[\"00:00-24:00\"],\"sat\":[\"00:00-24:00\"],"
                                "\"sun\":[\"00:00-24:00\"]";
    snprintf(text, sizeof text,
             ",\"calendar\":{\"working_hours\":{%s}},\"clocks\":["
             "{\"code\":\"C2\",\"name\":\"feedback form reaches the department\",\"starts_on\":\"received\","
             "\"met_by\":[\"acknowledge\",\"first_contact\"],\"duration\":%d,"
             "\"ladder\":[{\"role\":\"supervisor\",\"for\":1},{\"role\":\"project_head\",\"for\":1},"
             "{\"role\":\"leadership\"}],\"major_ladder\":[{\"role\":\"manager\",\"for\":1},"
             "{\"role\":\"leadership\"}]},"
             "{\"code\":\"C3\",\"name\":\"the department contacts the customer\",\"starts_on\":\"dispatched\","
             "\"met_by\":[\"first_contact\"],\"pauses_on\":[\"wait_for_customer\"],\"resumes_on\":[\"resume\"],"
             "\"duration\":%d,\"on_policy_change\":\"retime\","
             "\"ladder\":[{\"role\":\"supervisor\",\"for\":1},{\"role\":\"project_head\",\"for\":1},"
             "{\"role\":\"leadership\"}],\"major_ladder\":[{\"role\":\"manager\",\"for\":1},"
             "{\"role\":\"leadership\"}]},"
             "{\"code\":\"R1\",\"name\":\"a reopened case is worked on again\",\"starts_on\":\"reopened\","
             "\"met_by\":[\"progress\",\"resolve\"],\"duration\":%d},"
             "{\"code\":\"C4\",\"name\":\"the department head decides\",\"starts_on\":\"returned\","
             "\"met_by\":[\"progress\",\"resolve\"],\"duration\":%d,\"ladder\":[{\"role\":\"project_head\"}]},"
             "{\"code\":\"C5\",\"name\":\"the other department takes it\",\"starts_on\":\"transferred\","
             "\"met_by\":[\"first_contact\",\"progress\",\"resolve\"],\"duration\":%d,"
             "\"ladder\":[{\"role\":\"leadership\"}]},"
             "{\"code\":\"C6\",\"name\":\"the callback record is filled in\",\"starts_on\":\"callback_made\","
             "\"met_by\":[\"callback_recorded\"],\"duration\":%d,"
             "\"ladder\":[{\"role\":\"supervisor\",\"for\":1},{\"role\":\"project_head\",\"for\":1},"
             "{\"role\":\"leadership\"}],\"major_ladder\":[{\"role\":\"manager\",\"for\":1},"
             "{\"role\":\"leadership\"}]},"
             "{\"code\":\"C7\",\"name\":\"a problem raised in a callback is answered\","
             "\"starts_on\":\"raised_in_callback\",\"met_by\":[\"resolve\"],\"duration\":%d,"
             "\"ladder\":[{\"role\":\"supervisor\",\"for\":1},{\"role\":\"project_head\",\"for\":1},"
             "{\"role\":\"leadership\"}]}]",
             hours, seconds, seconds, seconds, seconds, seconds, seconds, seconds);
    return text;
}

int cl_test_load_policy(const char *router)
{
    static const char *const sites[] = {"site-a", "site-b", "site-c", NULL};
    return cl_test_load_policy_for(router, sites);
}

int cl_test_load_policy_for(const char *router, const char *const *sites)
{
    return cl_test_load_policy_with(router, sites, NULL);
}

int cl_test_load_policy_with(const char *router, const char *const *sites, const char *clocks)
{
    cl_buf_t doc = {0};
    cl_fixture_policy(&doc, sites, "site-c", clocks ? clocks : cl_test_clocks(4, false));
    void *dealer = cl_test_dealer(router);
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__LoadPolicy body = CASELOOP__V1__LOAD_POLICY__INIT;
    body.document = doc.data;
    body.source = "test";
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_LOAD_POLICY;
    env.load_policy = &body;
    cl_env_t *reply = cl_test_call(dealer, &env, 10000);
    int rc = reply && reply->body_case == CASELOOP__V1__ENVELOPE__BODY_LOAD_POLICY_REPLY ? 0 : -1;
    if (reply && reply->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR)
        fprintf(stderr, "policy refused: %s: %s\n", reply->error->field, reply->error->message);
    cl_codec_free(reply);
    cl_test_close(&dealer);
    cl_buf_free(&doc);
    return rc;
}


int cl_test_cli(const char *args, char *out, size_t len)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "\"%s/caseloop\" %s 2>&1", getenv("CL_BIN_DIR"), args);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
