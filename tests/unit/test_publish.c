/* test_publish.c - turns are handed out in commit order and published in turn order. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "cl.h"
#include "cl_publish.h"

/* A PUB and a SUB over inproc in one context. */
typedef struct {
    void *ctx, *pub, *sub;
    cl_publisher_t *p;
} fixture_t;

static int s_setup(void **state)
{
    static fixture_t f;
    cl_err_t err;
    f.ctx = zmq_ctx_new();
    f.pub = cl_bus_open(f.ctx, ZMQ_PUB, "inproc://test-publish", true, &err);
    f.sub = cl_bus_open(f.ctx, ZMQ_SUB, "inproc://test-publish", false, &err);
    f.p = cl_publisher_new(f.pub);
    *state = &f;
    if (!f.pub || !f.sub)
        return -1;
    /* The subscription is in place once a message gets through. */
    for (int i = 0; i < 100; i++) {
        cl_bus_publish(f.pub, "warm", "up", 2);
        zmq_pollitem_t item = {f.sub, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 10) == 1) {
            cl_bus_drain(f.sub);
            return 0;
        }
    }
    return -1;
}

static int s_teardown(void **state)
{
    fixture_t *f = *state;
    cl_publisher_destroy(&f->p);
    cl_bus_close(&f->sub);
    cl_bus_close(&f->pub);
    zmq_ctx_term(f->ctx);
    return 0;
}

/* An event at position, packed as it would be stored. */
static void s_event(cl_event_t *e, cl_env_t *env, char *id, uint64_t position)
{
    cl_codec_init(env, id, "test", 1);
    env->has_position = 1, env->position = position;
    env->body_case = CASELOOP__V1__ENVELOPE__BODY_GET_STATS; /* any body: only the order is looked at */
    static Caseloop__V1__GetStats body = CASELOOP__V1__GET_STATS__INIT;
    env->get_stats = &body;
    memset(e, 0, sizeof *e);
    e->env = env;
    cl_codec_encode(env, &e->packed);
}

/* The positions received on sub, in order, until none is waiting. */
static size_t s_heard(void *sub, uint64_t *out, size_t max)
{
    size_t n = 0;
    zmq_msg_t topic, body;
    zmq_msg_init(&topic);
    zmq_msg_init(&body);
    while (n < max && zmq_msg_recv(&topic, sub, ZMQ_DONTWAIT) >= 0 && zmq_msg_recv(&body, sub, 0) >= 0) {
        cl_err_t err;
        cl_env_t *env = cl_codec_decode(zmq_msg_data(&body), zmq_msg_size(&body), SIZE_MAX, &err);
        assert_non_null(env);
        out[n++] = env->position;
        cl_codec_free(env);
    }
    zmq_msg_close(&topic);
    zmq_msg_close(&body);
    return n;
}

static void test_turns_count_only_commits_and_early_turns_wait_for_theirs(void **state)
{
    fixture_t *f = *state;
    /* Four transactions: the second rolled back, so the turns are 1, 2, 3. */
    uint64_t turns[4];
    for (int i = 0; i < 4; i++) {
        cl_publisher_lock(f->p);
        turns[i] = cl_publisher_unlock(f->p, i != 1);
    }
    assert_int_equal(turns[0], 1);
    assert_int_equal(turns[1], 0);
    assert_int_equal(turns[2], 2);
    assert_int_equal(turns[3], 3);

    cl_event_t e[5];
    cl_env_t env[5];
    char ids[5][CL_ID_MAX + 1];
    for (int i = 0; i < 5; i++)
        s_event(&e[i], &env[i], ids[i], 10 + (uint64_t)i);
    uint64_t heard[8];
    /* Turn 3 (positions 13, 14) and turn 2 (none) come before turn 1: held. */
    cl_publisher_put(f->p, 3, &e[3], 2);
    cl_publisher_put(f->p, 2, NULL, 0);
    assert_int_equal(cl_publisher_held(f->p), 2);
    assert_int_equal(s_heard(f->sub, heard, 8), 0);
    /* Turn 1 (positions 10-12): it, then the held ones, in order. */
    cl_publisher_put(f->p, 1, &e[0], 3);
    assert_int_equal(cl_publisher_held(f->p), 0);
    assert_int_equal(s_heard(f->sub, heard, 8), 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(heard[i], 10 + i);
    cl_eventlog_release(e, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_turns_count_only_commits_and_early_turns_wait_for_theirs),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
