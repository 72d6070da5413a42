/* test_actor.c - worker threads that get their work in messages and hand back what they did. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "cl.h"
#include "cl_actor.h"
#include "cl_bus.h"

/* A job: numbers to double; owned by whoever holds the pointer. */
typedef struct {
    int n;
    int v[4];
} s_job_t;

/* Doubles each job it gets and hands the pointer back; counts its wake-ups. */
static void s_doubler(cl_actor_t *a, void *arg)
{
    int *wakes = arg;
    for (;;) {
        s_job_t *job;
        size_t len = 0;
        int rc = cl_actor_wait(a, -1, &job, sizeof job, &len);
        if (rc < 0)
            return;
        if (rc == 0) {
            (*wakes)++;
            continue;
        }
        assert_int_equal(len, sizeof job);
        for (int i = 0; i < job->n; i++)
            job->v[i] *= 2;
        const void *part = &job;
        size_t plen = sizeof job;
        cl_actor_put(a, 1, &part, &plen);
    }
}

typedef struct {
    s_job_t *back[16];
    size_t n;
    size_t parts[16];
} s_taken_t;

static void s_take(void *arg, cl_actor_t *a, size_t n, const void *const *data, const size_t *len)
{
    (void)a;
    s_taken_t *t = arg;
    assert_true(t->n < 16);
    t->parts[t->n] = n;
    if (n >= 1 && len[0] == sizeof(s_job_t *))
        memcpy(&t->back[t->n], data[0], sizeof(s_job_t *));
    t->n++;
}

/* Collects from a until `want` messages were taken, waiting up to 10 s. */
static void s_collect_until(cl_actor_t *a, s_taken_t *t, size_t want)
{
    void *socks[1] = {cl_actor_socket(a)};
    bool ready[1];
    for (int i = 0; i < 100 && t->n < want; i++) {
        cl_bus_poll(socks, 1, 100, ready);
        cl_actor_collect(a);
    }
    assert_int_equal(t->n, want);
}

static void test_work_goes_in_the_message_and_comes_back_done(void **state)
{
    (void)state;
    void *ctx = cl_bus_context();
    cl_err_t err;
    int wakes = 0;
    s_taken_t taken = {0};
    cl_actor_t *a = cl_actor_start(ctx, "test-doubler", 0, s_doubler, &wakes, s_take, &taken, &err);
    assert_non_null(a);
    s_job_t *jobs[3];
    for (int k = 0; k < 3; k++) {
        jobs[k] = calloc(1, sizeof *jobs[k]);
        jobs[k]->n = 2, jobs[k]->v[0] = k, jobs[k]->v[1] = 10 + k;
        assert_int_equal(cl_actor_send(a, &jobs[k], sizeof jobs[k]), 0);
    }
    s_collect_until(a, &taken, 3);
    for (int k = 0; k < 3; k++) {
        assert_ptr_equal(taken.back[k], jobs[k]); /* in order, the same jobs */
        assert_int_equal(taken.back[k]->v[0], 2 * k);
        assert_int_equal(taken.back[k]->v[1], 20 + 2 * k);
        assert_int_equal(taken.parts[k], 1);
        free(jobs[k]);
    }
    /* More than it can take is refused. */
    char big[CL_ACTOR_WORK_MAX + 1] = {0};
    assert_int_equal(cl_actor_send(a, big, sizeof big), -1);
    cl_actor_stop_all(&a, 1);
    assert_null(a);
    cl_bus_context_end(&ctx);
}

/* Hands back three messages of parts at once, then waits for a wake-up or its stop, then
   hands back one more: what it hands back after the stop is asked still reaches the main thread. */
static void s_burst(cl_actor_t *a, void *arg)
{
    int *woken = arg;
    for (int k = 0; k < 3; k++) {
        const void *parts[3] = {"a", "bb", "ccc"};
        size_t lens[3] = {1, 2, 3};
        cl_actor_put(a, (size_t)k + 1, parts, lens);
    }
    char buf[8];
    while (cl_actor_wait(a, -1, buf, sizeof buf, NULL) == 0)
        (*woken)++;
    const void *last = "last";
    size_t len = 4;
    cl_actor_put(a, 1, &last, &len);
}

static void test_stopping_takes_everything_handed_back_first(void **state)
{
    (void)state;
    void *ctx = cl_bus_context();
    cl_err_t err;
    int woken = 0;
    s_taken_t taken = {0};
    cl_actor_t *a = cl_actor_start(ctx, "test-burst", 1, s_burst, &woken, s_take, &taken, &err);
    assert_non_null(a);
    assert_int_equal(cl_actor_index(a), 1);
    cl_actor_wake(a);
    cl_actor_stop_all(&a, 1);
    /* three bursts of 1, 2 and 3 parts, then the last one */
    assert_int_equal(taken.n, 4);
    assert_int_equal(taken.parts[0], 1);
    assert_int_equal(taken.parts[1], 2);
    assert_int_equal(taken.parts[2], 3);
    assert_int_equal(taken.parts[3], 1);
    cl_bus_context_end(&ctx);
}

/* Waits for a wake-up, then reports what cl_actor_woken and cl_actor_drain say. */
typedef struct {
    atomic_bool sent;          /* the main thread has sent its three messages */
    bool woken_before, drained, work_after;
    int work;
} s_probe_t;

static void s_prober(cl_actor_t *a, void *arg)
{
    s_probe_t *p = arg;
    char buf[8];
    /* the first message: a wake-up */
    while (cl_actor_wait(a, -1, buf, sizeof buf, NULL) != 0)
        ;
    const void *ack = "1";
    size_t len = 1;
    cl_actor_put(a, 1, &ack, &len);
    /* then the main thread sends a wake-up, work and a wake-up (an inproc message is in
       the pipe once its send returns) */
    while (!atomic_load(&p->sent))
        ;
    p->woken_before = cl_actor_woken(a);
    p->drained = cl_actor_drain(a);
    size_t wl = 0;
    p->work_after = cl_actor_wait(a, 0, &p->work, sizeof p->work, &wl) == 1 && wl == sizeof p->work;
    cl_actor_put(a, 1, &ack, &len);
    while (cl_actor_wait(a, -1, buf, sizeof buf, NULL) >= 0)
        ;
}

static void test_a_drain_takes_wake_ups_and_keeps_the_work(void **state)
{
    (void)state;
    void *ctx = cl_bus_context();
    cl_err_t err;
    s_probe_t probe = {0};
    s_taken_t taken = {0};
    cl_actor_t *a = cl_actor_start(ctx, "test-probe", 2, s_prober, &probe, s_take, &taken, &err);
    assert_non_null(a);
    cl_actor_wake(a);
    s_collect_until(a, &taken, 1);
    /* the three come in one go: the actor sees them waiting */
    int work = 42;
    cl_actor_wake(a);
    assert_int_equal(cl_actor_send(a, &work, sizeof work), 0);
    cl_actor_wake(a);
    atomic_store(&probe.sent, true);
    s_collect_until(a, &taken, 2);
    assert_true(probe.woken_before);
    assert_true(probe.drained);
    assert_true(probe.work_after);
    assert_int_equal(probe.work, 42);
    cl_actor_stop_all(&a, 1);
    cl_bus_context_end(&ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_work_goes_in_the_message_and_comes_back_done),
        cmocka_unit_test(test_stopping_takes_everything_handed_back_first),
        cmocka_unit_test(test_a_drain_takes_wake_ups_and_keeps_the_work),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
