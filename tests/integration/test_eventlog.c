/* test_eventlog.c - event positions under concurrent writers, migrations started together, live events with gap recovery. */
#include "harness.h"
#include "cl_consumer.h"
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *s_migrations(void)
{
    const char *dir = getenv("CL_MIGRATIONS");
    return dir && *dir ? dir : cl_migrate_default_dir();
}

#define WRITERS 4

/* What a test holds, owned by its fixture: s_teardown rolls back and closes
   the connections and joins the threads whether the test passed or failed,
   so that a failed assertion cannot leave a transaction holding locks that
   the next test's schema reset would wait on. */
typedef struct {
    cl_db_t *db;                /* the test's connection ("test") */
    cl_db_t *other;             /* a second one, when a test needs it */
    pthread_t threads[WRITERS]; /* threads started and not yet joined */
    int nthreads;
    cl_svc_t svc;               /* a service, when a test starts one */
    void *dealer;
    cl_client_t *client;
    cl_consumer_t *consumer;
} s_fix_t;

/* Fixture: an empty database migrated to the current schema, and the test's connection. */
static int s_setup(void **state)
{
    if (cl_test_reset_db() < 0)
        return -1;
    s_fix_t *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    *state = f;
    f->db = cl_db_new(cl_test_db(), "test");
    cl_err_t err;
    cl_err_clear(&err);
    if (!f->db || cl_migrate(f->db, s_migrations(), &err) < 0) {
        fprintf(stderr, "setup: could not migrate: %s\n", err.message);
        return -1;
    }
    return 0;
}

/* Releases what the test held, first the transactions (which may be what its threads wait on). */
static int s_teardown(void **state)
{
    s_fix_t *f = *state;
    if (!f)
        return 0;
    if (f->db)
        cl_db_rollback(f->db);
    if (f->other)
        cl_db_rollback(f->other);
    cl_db_destroy(&f->db);
    cl_db_destroy(&f->other);
    while (f->nthreads > 0)
        pthread_join(f->threads[--f->nthreads], NULL);
    cl_consumer_destroy(&f->consumer);
    cl_client_destroy(&f->client);
    cl_test_close(&f->dealer);
    int rc = f->svc.pid > 0 && cl_svc_stop(&f->svc, SIGTERM, 0) != 0 ? -1 : 0;
    free(f);
    *state = NULL;
    return rc;
}

/* Starts fn(arg) on a thread the fixture joins. */
static void s_start_thread(s_fix_t *f, void *(*fn)(void *), void *arg)
{
    assert_true(f->nthreads < WRITERS);
    assert_int_equal(pthread_create(&f->threads[f->nthreads], NULL, fn, arg), 0);
    f->nthreads++;
}

/* Appends one transaction of n events through db; commits unless hold. */
static int s_append(cl_db_t *db, int n, int work, bool commit)
{
    cl_err_t err;
    cl_env_t envs[3];
    char ids[3][CL_ID_MAX + 1];
    Caseloop__V1__CaseReceived bodies[3];
    cl_event_t evs[3];
    memset(evs, 0, sizeof evs);
    for (int i = 0; i < n; i++) {
        cl_codec_init(&envs[i], ids[i], "test", 0);
        caseloop__v1__case_received__init(&bodies[i]);
        envs[i].site = "T";
        envs[i].body_case = CASELOOP__V1__ENVELOPE__BODY_CASE_RECEIVED;
        envs[i].case_received = &bodies[i];
        evs[i].env = &envs[i];
    }
    char w[16];
    snprintf(w, sizeof w, "%d", work);
    const char *p[] = {w};
    int rc = 0;
    if (cl_db_begin(db, &err) < 0 || cl_eventlog_append(db, evs, (size_t)n, 0, &err) < 0 ||
        /* vary how long each transaction stays open after taking its positions */
        cl_db_cmd(db, "SELECT count(*) FROM generate_series(1, $1::int)", 1, p, &err) < 0 ||
        (commit && cl_db_commit(db, &err) < 0)) {
        fprintf(stderr, "append: %s\n", err.message);
        cl_db_rollback(db);
        rc = -1;
    }
    cl_eventlog_release(evs, (size_t)n);
    return rc;
}

/* Appends one CaseAssigned event through db, in a transaction of its own. */
static void s_append_assigned(cl_db_t *db)
{
    cl_err_t err;
    cl_env_t env;
    char id[CL_ID_MAX + 1];
    Caseloop__V1__CaseAssigned body = CASELOOP__V1__CASE_ASSIGNED__INIT;
    cl_codec_init(&env, id, "test", 0);
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_CASE_ASSIGNED;
    env.case_assigned = &body;
    cl_event_t ev = {&env, 0, {0}};
    assert_int_equal(cl_db_begin(db, &err), 0);
    assert_int_equal(cl_eventlog_append(db, &ev, 1, 0, &err), 0);
    assert_int_equal(cl_db_commit(db, &err), 0);
    cl_eventlog_release(&ev, 1);
}

/* Consumes for consumer (at most max, at most 16) and commits: returns how many
   events of types it read. Fails the test unless it read (want_from, want_upto] and
   only events of types[0]; the check comes after the events are freed and the
   transaction (which holds the consumer's row) has ended, so a failure holds nothing. */
static int s_consume(cl_db_t *db, const char *consumer, const char *const *types, uint32_t max, uint64_t want_from,
                     uint64_t want_upto)
{
    cl_env_t *out[16];
    uint64_t from = 0, upto = 0;
    cl_err_t err;
    cl_err_clear(&err);
    assert_true(max <= 16);
    int n = cl_eventlog_consume(db, consumer, types, max, out, &from, &upto, &err); /* rolled back when -1 */
    if (n < 0)
        fail_msg("consumer %s could not read: %s", consumer, err.message);
    char other[64] = "";
    for (int i = 0; i < n; i++) {
        const char *name = cl_codec_body_name(out[i]);
        if (types && !other[0] && strcmp(name, types[0]) != 0)
            snprintf(other, sizeof other, "%s", name);
        cl_codec_free(out[i]);
    }
    bool as_wanted = from == want_from && upto == want_upto && !other[0];
    int committed = 0;
    if (as_wanted)
        committed = cl_eventlog_consumed(db, consumer, upto, &err);
    else
        cl_db_rollback(db);
    if (!as_wanted)
        fail_msg("consumer %s read (%llu, %llu]%s%s, expected (%llu, %llu] of %s only", consumer,
                 (unsigned long long)from, (unsigned long long)upto, other[0] ? " with a " : "", other,
                 (unsigned long long)want_from, (unsigned long long)want_upto, types ? types[0] : "any type");
    if (committed < 0)
        fail_msg("consumer %s could not move to %llu: %s", consumer, (unsigned long long)upto, err.message);
    return n;
}

static void test_a_consumer_reads_only_its_types_and_moves_past_the_others(void **state)
{
    cl_db_t *db = ((s_fix_t *)*state)->db;
    /* positions: 1-2 received, 3-5 assigned, 6 received, 7-8 assigned */
    assert_int_equal(s_append(db, 2, 1, true), 0);
    for (int i = 0; i < 3; i++)
        s_append_assigned(db);
    assert_int_equal(s_append(db, 1, 1, true), 0);
    s_append_assigned(db);
    s_append_assigned(db);
    static const char *const received[] = {"CaseReceived", NULL};
    assert_int_equal(s_consume(db, "r", received, 2, 0, 2), 2);  /* max read: through the last one read */
    assert_int_equal(s_consume(db, "r", received, 2, 2, 8), 1);  /* fewer: through the head */
    assert_int_equal(s_consume(db, "r", received, 2, 8, 8), 0);
    assert_int_equal(s_consume(db, "all", NULL, 16, 0, 8), 8);
    s_append_assigned(db);
    assert_int_equal(s_consume(db, "r", received, 2, 8, 9), 0);  /* none of its type: still moves on */
}

/* --- concurrent writers, one reader ------------------------------------------ */

#define TXNS 150
#define READ_MS 20000 /* for the writers to finish (ctest gives the program 30 s) */

static volatile int s_writers_done;

static void *s_writer(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    cl_db_t *db = cl_db_new(cl_test_db(), "writer");
    long total = 0;
    for (int t = 0; t < TXNS; t++) {
        int n = 1 + (int)(rand_r(&seed) % 3);
        if (s_append(db, n, (int)(rand_r(&seed) % 20000), true) == 0)
            total += n;
    }
    cl_db_destroy(&db);
    __atomic_add_fetch(&s_writers_done, 1, __ATOMIC_SEQ_CST);
    return (void *)total;
}

typedef struct {
    cl_db_t *db;
    uint64_t last;
    long seen;
    long out_of_order;
    long reads;
    bool failed;          /* a read failed */
} s_reader_t;

static int s_check_row(void *arg, uint64_t position, const void *data, size_t len)
{
    s_reader_t *r = arg;
    cl_err_t err;
    cl_env_t *env = cl_codec_decode(data, len, SIZE_MAX, &err);
    if (!env || env->position != position || position != r->last + 1)
        r->out_of_order++;
    cl_codec_free(env);
    r->last = position;
    r->seen++;
    return 0;
}

/* One pass of the reader: reads all there is; true once it has read after the
   last writer finished (or a read failed). */
static bool s_read_all(void *arg)
{
    s_reader_t *r = arg;
    int done = __atomic_load_n(&s_writers_done, __ATOMIC_SEQ_CST);
    cl_err_t err;
    int n;
    do {
        n = cl_eventlog_read(r->db, r->last, 50, s_check_row, r, &err);
        r->reads++;
    } while (n > 0);
    r->failed = n < 0;
    return done == WRITERS || r->failed;
}

static void test_readers_never_see_a_gap_or_a_repeat_while_writers_commit(void **state)
{
    s_fix_t *f = *state;
    s_writers_done = 0;
    for (int i = 0; i < WRITERS; i++)
        s_start_thread(f, s_writer, (void *)(uintptr_t)(i + 1));
    s_reader_t r = {.db = f->db};
    /* Read while they write, then once more after the last commit. */
    assert_true(cl_test_poll(s_read_all, &r, READ_MS));
    assert_false(r.failed);
    long total = 0;
    for (; f->nthreads > 0; f->nthreads--) {
        void *t;
        pthread_join(f->threads[f->nthreads - 1], &t);
        total += (long)t;
    }
    assert_int_equal(r.out_of_order, 0);
    assert_int_equal(r.seen, total);
    assert_true(r.reads > 1);
    uint64_t head;
    cl_err_t err;
    assert_int_equal(cl_eventlog_head(f->db, &head, &err), 0);
    assert_int_equal(head, (uint64_t)total);
}

/* --- a later position is never visible before an earlier one ------------------ */

static void *s_second_writer(void *arg)
{
    (void)arg;
    cl_db_t *db = cl_db_new(cl_test_db(), "second-writer");
    long rc = s_append(db, 1, 0, true);
    cl_db_destroy(&db);
    return (void *)rc;
}

static void test_a_later_commit_waits_for_the_earlier_position(void **state)
{
    s_fix_t *f = *state;
    cl_db_t *first = f->db;
    assert_int_equal(s_append(first, 1, 0, false), 0); /* position 1, not committed */
    s_start_thread(f, s_second_writer, NULL);
    /* Wait until the second writer is queued behind the first (seen by the server, not guessed). */
    cl_test_wait_scalar(1, 10000, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'second-writer'"
                                  " AND wait_event_type = 'Lock'");
    s_reader_t r = {0};
    cl_db_t *reader = f->other = cl_db_new(cl_test_db(), "reader");
    cl_err_t err;
    assert_int_equal(cl_eventlog_read(reader, 0, 10, s_check_row, &r, &err), 0);
    cl_err_clear(&err);
    assert_int_equal(cl_db_commit(first, &err), 0);
    void *rc;
    pthread_join(f->threads[--f->nthreads], &rc);
    assert_int_equal((long)rc, 0);
    assert_int_equal(cl_eventlog_read(reader, 0, 10, s_check_row, &r, &err), 2);
    assert_int_equal(r.out_of_order, 0);
    assert_int_equal(r.last, 2);
}

/* --- two services migrating at once ------------------------------------------- */

static void *s_migrator(void *arg)
{
    (void)arg;
    cl_db_t *db = cl_db_new(cl_test_db(), "migrator");
    cl_err_t err;
    long applied = cl_migrate(db, s_migrations(), &err);
    if (applied < 0)
        fprintf(stderr, "migrate: %s\n", err.message);
    cl_db_destroy(&db);
    return (void *)applied;
}

static void test_services_starting_together_migrate_once(void **state)
{
    (void)state;
    assert_int_equal(cl_test_reset_db(), 0);
    pthread_t a, b;
    pthread_create(&a, NULL, s_migrator, NULL);
    pthread_create(&b, NULL, s_migrator, NULL);
    void *ra, *rb;
    pthread_join(a, &ra);
    pthread_join(b, &rb);
    assert_true((long)ra >= 0 && (long)rb >= 0);
    long long files = cl_test_scalar("SELECT count(*) FROM schema_migrations");
    assert_true(files >= 1);
    assert_int_equal((long)ra + (long)rb, files); /* each applied by exactly one of them */
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM event_head"), 1);
}

static void test_two_migrations_with_one_number_are_refused(void **state)
{
    (void)state;
    char dir[] = "/tmp/cl-migrations-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    const char *names[] = {"001_a.sql", "001_b.sql"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs("SELECT 1;\n", f);
        fclose(f);
    }
    cl_db_t *db = cl_db_new(cl_test_db(), "migrator");
    cl_err_t err;
    cl_err_clear(&err);
    assert_int_equal(cl_migrate(db, dir, &err), -1);
    assert_string_equal(err.field, "CL_MIGRATIONS");
    assert_non_null(strstr(err.message, "001"));
    cl_db_destroy(&db);
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* --- live events, and a gap filled from the log -------------------------------- */

typedef struct {
    uint64_t applied[16];
    int n;
} s_applied_t;

static int s_apply(void *arg, const cl_env_t *ev)
{
    s_applied_t *a = arg;
    if (a->n < 16)
        a->applied[a->n] = ev->position;
    a->n++;
    return 0;
}

static void s_submit(void *dealer, long n)
{
    Caseloop__V1__Case c;
    char id[32], descr[64];
    cl_test_case(&c, "A", "live", id, sizeof id, n);
    snprintf(descr, sizeof descr, "live event case %ld", n);
    c.description = descr;
    cl_env_t *reply = cl_test_submit(dealer, &c, 10000);
    assert_non_null(reply);
    assert_int_equal(reply->body_case, CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY);
    cl_codec_free(reply);
}

/* Polls c (up to 20 s) until it has applied through position want. */
static void s_poll_until(cl_consumer_t *c, uint64_t want)
{
    cl_err_t err;
    cl_err_clear(&err);
    for (int polled = 0; cl_consumer_position(c) < want && polled < 100; polled++)
        if (cl_consumer_poll(c, 200, &err) < 0)
            fail_msg("consumer failed: %s", err.message);
    assert_int_equal(cl_consumer_position(c), want);
}

/* Waits (up to 20 s) for the live feed to bring c to position want: each poll
   waits all the time left, so c reads the log only for a live event past a
   gap (or at the deadline), never because a live event was slow to come. */
static void s_hear_until(cl_consumer_t *c, uint64_t want)
{
    cl_err_t err;
    cl_err_clear(&err);
    int64_t deadline = cl_mono_us() + 20 * CL_US_PER_S, left_ms;
    while (cl_consumer_position(c) < want && (left_ms = (deadline - cl_mono_us()) / 1000) > 0)
        if (cl_consumer_poll(c, (int)left_ms, &err) < 0)
            fail_msg("consumer failed: %s", err.message);
    assert_int_equal(cl_consumer_position(c), want);
}

static void test_subscriber_fills_a_gap_from_the_log_and_applies_in_order(void **state)
{
    s_fix_t *f = *state;
    assert_int_equal(cl_test_reset_db(), 0);
    assert_int_equal(cl_svc_start(&f->svc, "caseloop-intake", NULL), 0);
    void *dealer = f->dealer = cl_test_dealer(f->svc.router);
    cl_err_t err;
    f->client = cl_client_new(NULL, f->svc.router, "test", &err);
    assert_non_null(f->client);
    s_applied_t applied = {{0}, 0};
    cl_consumer_t *c = f->consumer = cl_consumer_new(f->client, f->svc.pub, 0, 5000, s_apply, &applied, &err);
    assert_non_null(c);
    /* The subscription is live once a published event arrives (PUB drops to
       late joiners); until then each event is read from the log. */
    long n = 0;
    while (cl_consumer_heard(c) == 0 && n < 50) {
        s_submit(dealer, n++);
        s_poll_until(c, (uint64_t)n);
    }
    assert_true(cl_consumer_heard(c) > 0);
    assert_int_equal(cl_consumer_gaps(c), 0);
    /* An event committed but never published (as when a service stops between
       its commit and its publish): the next live one shows the gap. */
    s_append_assigned(f->db);
    uint64_t heard = cl_consumer_heard(c);
    s_submit(dealer, n++);
    uint64_t last = (uint64_t)n + 1;
    s_hear_until(c, last);
    assert_true(cl_consumer_heard(c) > heard);
    assert_int_equal(cl_consumer_gaps(c), 1);
    assert_int_equal(applied.n, (int)last); /* each event once */
    for (int i = 0; i < applied.n && i < 16; i++)
        assert_int_equal(applied.applied[i], (uint64_t)i + 1);
    assert_int_equal(cl_svc_stop(&f->svc, SIGTERM, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_readers_never_see_a_gap_or_a_repeat_while_writers_commit, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_a_later_commit_waits_for_the_earlier_position, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_a_consumer_reads_only_its_types_and_moves_past_the_others, s_setup,
                                        s_teardown),
        cmocka_unit_test(test_services_starting_together_migrate_once),
        cmocka_unit_test(test_two_migrations_with_one_number_are_refused),
        cmocka_unit_test_setup_teardown(test_subscriber_fills_a_gap_from_the_log_and_applies_in_order, s_setup,
                                        s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
