/* test_intake.c - intake against the real database over real sockets: load, idempotency, duplicates, bad input. */
#include "harness.h"
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUT_MS 10000

static cl_svc_t s_svc;

static int s_setup(void **state)
{
    (void)state;
    if (cl_test_reset_db() < 0)
        return -1;
    return cl_svc_start(&s_svc, "caseloop-intake", NULL);
}

static int s_teardown(void **state)
{
    (void)state;
    return cl_svc_stop(&s_svc, SIGTERM, 0) == 0 ? 0 : -1;
}

/* --- 1,000 cases from 4 concurrent clients ------------------------------------ */

#define CLIENTS 4
#define PER_CLIENT 250

typedef struct {
    int client;
    uint64_t ids[PER_CLIENT];
    int acked;
} s_client_t;

static void *s_client(void *arg)
{
    s_client_t *cl = arg;
    void *dealer = cl_test_dealer(s_svc.router);
    char source[32], id[32], descr[128];
    snprintf(source, sizeof source, "load-%d", cl->client);
    for (int i = 0; i < PER_CLIENT; i++) {
        Caseloop__V1__Case c;
        cl_test_case(&c, "A", source, id, sizeof id, i);
        snprintf(descr, sizeof descr, "load test case %d of client %d", i, cl->client);
        c.description = descr;
        cl_env_t *reply = cl_test_submit(dealer, &c, TIMEOUT_MS);
        if (reply && reply->body_case == CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY &&
            reply->submit_case_reply->outcome == CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_CREATED)
            cl->ids[cl->acked++] = reply->submit_case_reply->case_id;
        cl_codec_free(reply);
    }
    cl_test_close(&dealer);
    return NULL;
}

static int s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_concurrent_clients_all_acknowledged_and_stored_once(void **state)
{
    (void)state;
    static s_client_t clients[CLIENTS];
    pthread_t th[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        clients[i].client = i;
        pthread_create(&th[i], NULL, s_client, &clients[i]);
    }
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(th[i], NULL);
    static uint64_t all[CLIENTS * PER_CLIENT];
    size_t n = 0;
    for (int i = 0; i < CLIENTS; i++) {
        assert_int_equal(clients[i].acked, PER_CLIENT);
        memcpy(all + n, clients[i].ids, sizeof(uint64_t) * PER_CLIENT);
        n += PER_CLIENT;
    }
    qsort(all, n, sizeof *all, s_cmp_u64);
    for (size_t i = 1; i < n; i++)
        assert_true(all[i] != all[i - 1]); /* one case per submission */
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM cases WHERE external_source LIKE 'load-%'"), 1000);
    assert_int_equal(cl_test_scalar("SELECT count(DISTINCT (external_source, external_id)) FROM cases"
                                    " WHERE external_source LIKE 'load-%'"),
                     1000);
    /* Each case has its CaseReceived event in the log. */
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM events e JOIN cases c ON c.id = e.case_id"
                                    " WHERE e.type = 'CaseReceived' AND c.external_source LIKE 'load-%'"),
                     1000);
    /* Group commit happened: fewer transactions than cases. */
    void *dealer = cl_test_dealer(s_svc.router);
    assert_true(cl_test_counter(dealer, "batches") < cl_test_counter(dealer, "batch_items"));
    assert_int_equal(cl_test_counter(dealer, "batch_items"), 1000);
    assert_int_equal(cl_test_counter(dealer, "cases_created"), 1000);
    cl_test_close(&dealer);
}

/* --- idempotency and duplicates ------------------------------------------------ */

static cl_env_t *s_submit_ok(void *dealer, Caseloop__V1__Case *c)
{
    cl_env_t *reply = cl_test_submit(dealer, c, TIMEOUT_MS);
    assert_non_null(reply);
    if (reply->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR)
        fail_msg("refused: %s %s", reply->error->field, reply->error->message);
    assert_int_equal(reply->body_case, CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY);
    return reply;
}

static void test_resubmission_returns_the_same_case(void **state)
{
    (void)state;
    void *dealer = cl_test_dealer(s_svc.router);
    Caseloop__V1__Case c;
    char id[32];
    cl_test_case(&c, "B", "idem", id, sizeof id, 1);
    cl_env_t *first = s_submit_ok(dealer, &c);
    cl_env_t *again = s_submit_ok(dealer, &c);
    assert_int_equal(first->submit_case_reply->outcome, CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_CREATED);
    assert_int_equal(again->submit_case_reply->outcome, CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_REPEATED);
    assert_int_equal(again->submit_case_reply->case_id, first->submit_case_reply->case_id);
    assert_int_equal(again->submit_case_reply->respond_by_us, first->submit_case_reply->respond_by_us);
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM cases WHERE external_source = 'idem'"), 1);
    /* Site B has no policy yet: nothing is promised (R-IN-2), the first time or again. */
    assert_false(first->submit_case_reply->has_respond_by_us);
    assert_false(again->submit_case_reply->has_respond_by_us);
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM cases WHERE external_source = 'idem' AND respond_by IS NULL"),
                     1);
    cl_codec_free(first);
    cl_codec_free(again);
    cl_test_close(&dealer);
}

static void test_same_problem_attaches_to_the_open_case(void **state)
{
    (void)state;
    void *dealer = cl_test_dealer(s_svc.router);
    Caseloop__V1__Case c;
    char id[32];
    cl_test_case(&c, "C", "dup", id, sizeof id, 1);
    c.has_kind = 1, c.kind = CASELOOP__V1__KIND__KIND_COMPLAINT;
    c.location = "3号楼2单元";
    c.description = "水泵晚上噪音很大，影响休息";
    cl_env_t *first = s_submit_ok(dealer, &c);

    /* Another resident, same place, same problem in other words. */
    cl_test_case(&c, "C", "dup", id, sizeof id, 2);
    c.has_kind = 1, c.kind = CASELOOP__V1__KIND__KIND_COMPLAINT;
    c.customer_name = "Zhao";
    c.location = "3号楼2单元";
    c.description = "晚上水泵噪音太大，影响休息";
    cl_env_t *second = s_submit_ok(dealer, &c);
    assert_int_equal(second->submit_case_reply->outcome, CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_ATTACHED);
    assert_int_equal(second->submit_case_reply->case_id, first->submit_case_reply->case_id);
    assert_int_equal(second->submit_case_reply->report_count, 2);
    assert_true(second->submit_case_reply->report_id > 0);

    /* Resending the attached report is a repeat of it, not a third report. */
    cl_env_t *again = s_submit_ok(dealer, &c);
    assert_int_equal(again->submit_case_reply->outcome, CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_REPEATED);
    assert_int_equal(again->submit_case_reply->report_id, second->submit_case_reply->report_id);

    /* Same place, another problem: a case of its own. */
    cl_test_case(&c, "C", "dup", id, sizeof id, 3);
    c.has_kind = 1, c.kind = CASELOOP__V1__KIND__KIND_COMPLAINT;
    c.location = "3号楼2单元";
    c.description = "物业费账单金额有误";
    cl_env_t *other = s_submit_ok(dealer, &c);
    assert_int_equal(other->submit_case_reply->outcome, CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_CREATED);

    /* The case shows both reports. */
    cl_env_t get = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__GetCase body = CASELOOP__V1__GET_CASE__INIT;
    body.has_case_id = 1, body.case_id = first->submit_case_reply->case_id;
    get.body_case = CASELOOP__V1__ENVELOPE__BODY_GET_CASE;
    get.get_case = &body;
    cl_env_t *shown = cl_test_call(dealer, &get, TIMEOUT_MS);
    assert_non_null(shown);
    assert_int_equal(shown->body_case, CASELOOP__V1__ENVELOPE__BODY_GET_CASE_REPLY);
    assert_int_equal(shown->get_case_reply->details->report_count, 2);
    assert_int_equal(shown->get_case_reply->n_reports, 1);
    assert_string_equal(shown->get_case_reply->reports[0]->customer_name, "Zhao");
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM events WHERE type = 'CaseReportAttached'"), 1);

    cl_codec_free(first);
    cl_codec_free(second);
    cl_codec_free(again);
    cl_codec_free(other);
    cl_codec_free(shown);
    cl_test_close(&dealer);
}

static void test_anonymous_case_is_accepted(void **state)
{
    (void)state;
    void *dealer = cl_test_dealer(s_svc.router);
    Caseloop__V1__Case c;
    char id[32];
    cl_test_case(&c, "A", "anon", id, sizeof id, 1);
    c.customer_name = "";
    c.has_anonymous = 1, c.anonymous = 1;
    c.has_kind = 1, c.kind = CASELOOP__V1__KIND__KIND_SAFETY;
    c.description = "broken railing on the 5th floor stairs";
    cl_env_t *r = s_submit_ok(dealer, &c);
    assert_int_equal(r->submit_case_reply->outcome, CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_CREATED);
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM cases WHERE external_source = 'anon' AND anonymous"), 1);
    cl_codec_free(r);
    cl_test_close(&dealer);
}

static void test_fields_of_a_newer_contract_are_not_stored(void **state)
{
    (void)state;
    void *dealer = cl_test_dealer(s_svc.router);
    Caseloop__V1__Case c;
    char id[32];
    cl_test_case(&c, "A", "newer", id, sizeof id, 1);
    uint8_t junk[] = {0x03, 0xff, 0xfe, 0x58}; /* raw wire bytes after the tag: length, then the bytes */
    ProtobufCMessageUnknownField extra = {999, PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED, sizeof junk, junk};
    c.base.n_unknown_fields = 1;
    c.base.unknown_fields = &extra;
    cl_env_t *ok = s_submit_ok(dealer, &c);
    /* The CaseReceived event as stored and published carries only known fields. */
    cl_env_t read = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__ReadEvents rq = CASELOOP__V1__READ_EVENTS__INIT;
    read.body_case = CASELOOP__V1__ENVELOPE__BODY_READ_EVENTS;
    read.read_events = &rq;
    rq.has_max_count = 1, rq.max_count = 1000;
    int found = 0;
    for (uint64_t after = 0;;) {
        rq.has_after_position = 1, rq.after_position = after;
        cl_env_t *page = cl_test_call(dealer, &read, TIMEOUT_MS);
        assert_non_null(page);
        const Caseloop__V1__ReadEventsReply *rr = page->read_events_reply;
        for (size_t i = 0; i < rr->n_events; i++) {
            const cl_env_t *ev = rr->events[i];
            after = ev->position;
            if (ev->body_case == CASELOOP__V1__ENVELOPE__BODY_CASE_RECEIVED &&
                ev->case_received->details->case_id == ok->submit_case_reply->case_id) {
                assert_int_equal(ev->case_received->details->base.n_unknown_fields, 0);
                found++;
            }
        }
        size_t n = rr->n_events;
        cl_codec_free(page);
        if (n == 0)
            break;
    }
    assert_int_equal(found, 1);
    cl_codec_free(ok);
    cl_test_close(&dealer);
}

/* --- pipelined submissions: every report numbered once ---------------------- */

typedef struct {
    Caseloop__V1__Case c;
    char id[32];
    char mid[CL_ID_MAX + 1];
    cl_env_t *reply;
} s_pipe_t;

/* Sends every item without waiting, then takes the replies, matched by correlation id. */
static void s_pipeline(void *dealer, s_pipe_t *items, size_t n)
{
    cl_buf_t out = {0};
    for (size_t i = 0; i < n; i++) {
        cl_env_t env;
        cl_codec_init(&env, items[i].mid, "test", 0);
        Caseloop__V1__SubmitCase body = CASELOOP__V1__SUBMIT_CASE__INIT;
        body.details = &items[i].c;
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE;
        env.submit_case = &body;
        cl_codec_encode(&env, &out);
        assert_true(zmq_send(dealer, out.data, out.len, 0) >= 0);
    }
    cl_buf_free(&out);
    for (size_t got = 0; got < n; got++) {
        zmq_pollitem_t item = {dealer, 0, ZMQ_POLLIN, 0};
        assert_int_equal(zmq_poll(&item, 1, TIMEOUT_MS), 1);
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        assert_true(zmq_msg_recv(&msg, dealer, 0) >= 0);
        cl_err_t err;
        cl_env_t *reply = cl_codec_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), SIZE_MAX, &err);
        zmq_msg_close(&msg);
        assert_non_null(reply);
        assert_int_equal(reply->body_case, CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY);
        for (size_t i = 0; i < n; i++)
            if (strcmp(items[i].mid, reply->correlation_id) == 0)
                items[i].reply = reply;
    }
}

static void s_pipe_case(s_pipe_t *p, const char *source, long n, const char *where, const char *what)
{
    cl_test_case(&p->c, "D", source, p->id, sizeof p->id, n);
    p->c.location = (char *)where;
    p->c.description = (char *)what;
}

static void test_pipelined_reports_are_each_numbered_once(void **state)
{
    (void)state;
    static const char *env[] = {"CL_STORE_WORKERS=1", NULL};
    cl_svc_t svc;
    assert_int_equal(cl_svc_start(&svc, "caseloop-intake", env), 0);
    void *dealer = cl_test_dealer(svc.router);
    /* A stored case S ... */
    s_pipe_t s[1];
    memset(s, 0, sizeof s);
    s_pipe_case(&s[0], "pipe", 1, "gate 2", "gate barrier does not open");
    s_pipeline(dealer, s, 1);
    uint64_t stored = s[0].reply->submit_case_reply->case_id;
    /* ... then, all at once: a new case N, a repeat of N, two reports of N,
       a repeat of S, two reports of S. */
    s_pipe_t p[7];
    memset(p, 0, sizeof p);
    s_pipe_case(&p[0], "pipe", 2, "pool", "pool water is green and smells");
    s_pipe_case(&p[1], "pipe", 2, "pool", "pool water is green and smells");
    s_pipe_case(&p[2], "pipe", 3, "pool", "the pool water is green and smells bad");
    s_pipe_case(&p[3], "pipe", 4, "pool", "pool water green, smells");
    s_pipe_case(&p[4], "pipe", 1, "gate 2", "gate barrier does not open");
    s_pipe_case(&p[5], "pipe", 5, "gate 2", "the gate barrier does not open again");
    s_pipe_case(&p[6], "pipe", 6, "gate 2", "gate barrier will not open");
    s_pipeline(dealer, p, 7);
    const Caseloop__V1__SubmitCaseReply *r[7];
    for (int i = 0; i < 7; i++) {
        assert_non_null(p[i].reply);
        r[i] = p[i].reply->submit_case_reply;
    }
    uint64_t fresh = r[0]->case_id;
    assert_int_equal(r[0]->outcome, CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_CREATED);
    assert_int_equal(r[0]->report_count, 1);
    assert_int_equal(r[1]->outcome, CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_REPEATED);
    assert_int_equal(r[1]->case_id, fresh);
    assert_int_equal(r[4]->outcome, CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_REPEATED);
    assert_int_equal(r[4]->case_id, stored);
    /* Reports of each case are its 2nd and 3rd, in the order they were sent. */
    for (int i = 2; i <= 5; i += 3) {
        uint64_t to = i == 2 ? fresh : stored;
        assert_int_equal(r[i]->outcome, CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_ATTACHED);
        assert_int_equal(r[i + 1]->outcome, CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_ATTACHED);
        assert_int_equal(r[i]->case_id, to);
        assert_int_equal(r[i + 1]->case_id, to);
        assert_int_equal(r[i]->report_count, 2);
        assert_int_equal(r[i + 1]->report_count, 3);
    }
    /* The rows agree, and so does the log: each count once, never going back. */
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM cases WHERE id IN (%llu, %llu) AND report_count = 3",
             (unsigned long long)fresh, (unsigned long long)stored);
    assert_int_equal(cl_test_scalar(sql), 2);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM case_reports WHERE case_id IN (%llu, %llu)",
             (unsigned long long)fresh, (unsigned long long)stored);
    assert_int_equal(cl_test_scalar(sql), 4);
    cl_codec_free(s[0].reply);
    for (int i = 0; i < 7; i++)
        cl_codec_free(p[i].reply);
    cl_test_close(&dealer);
    assert_int_equal(cl_svc_stop(&svc, SIGTERM, 0), 0);
}

/* --- bad input: a clear error, counted, nothing else lost --------------------- */

typedef struct {
    void *dealer;
    long next_good;
} s_bad_t;

/* The reply must be an Error with this code and field, the rejection counted,
   and the next good submission still acknowledged. */
static void s_expect_refused(s_bad_t *b, cl_env_t *reply, cl_code_t code, const char *field)
{
    assert_non_null(reply);
    assert_int_equal(reply->body_case, CASELOOP__V1__ENVELOPE__BODY_ERROR);
    assert_int_equal(reply->error->code, code);
    assert_string_equal(reply->error->field, field);
    assert_true(strlen(reply->error->message) > 0);
    cl_codec_free(reply);
    char name[96];
    snprintf(name, sizeof name, "rejected_field.%s", field);
    assert_true(cl_test_counter(b->dealer, name) >= 1);

    Caseloop__V1__Case c;
    char id[32];
    cl_test_case(&c, "A", "after-bad", id, sizeof id, b->next_good++);
    cl_env_t *ok = s_submit_ok(b->dealer, &c);
    assert_int_equal(ok->submit_case_reply->outcome, CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_CREATED);
    cl_codec_free(ok);
}

static void s_pack_submit(Caseloop__V1__Case *c, cl_buf_t *out)
{
    cl_env_t env;
    char mid[CL_ID_MAX + 1];
    cl_codec_init(&env, mid, "test", 0);
    Caseloop__V1__SubmitCase body = CASELOOP__V1__SUBMIT_CASE__INIT;
    body.details = c;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE;
    env.submit_case = &body;
    cl_codec_encode(&env, out);
}

static void test_bad_input_gets_clear_errors_and_loses_nothing(void **state)
{
    (void)state;
    s_bad_t b = {cl_test_dealer(s_svc.router), 1};
    long long before = cl_test_counter(b.dealer, "requests");
    Caseloop__V1__Case c;
    char id[32];
    cl_buf_t buf = {0};

    /* not protobuf */
    s_expect_refused(&b, cl_test_raw(b.dealer, "\xff\xff\xff\xffhello", 9, TIMEOUT_MS), CL_INVALID_ARGUMENT, "frame");

    /* truncated: cut inside the description */
    cl_test_case(&c, "A", "bad", id, sizeof id, 1);
    s_pack_submit(&c, &buf);
    s_expect_refused(&b, cl_test_raw(b.dealer, buf.data, buf.len - 5, TIMEOUT_MS), CL_INVALID_ARGUMENT, "frame");

    /* over the size limit */
    char *big = malloc(70000);
    memset(big, 'x', 70000);
    s_expect_refused(&b, cl_test_raw(b.dealer, big, 70000, TIMEOUT_MS), CL_RESOURCE_EXHAUSTED, "frame");
    free(big);

    /* far over the limit: cut off at the socket, and intake serves on */
    {
        void *flood = cl_test_dealer(s_svc.router);
        char *huge = calloc(1, 4 << 20);
        assert_true(zmq_send(flood, huge, 4 << 20, 0) >= 0);
        free(huge);
        int linger = 5000; /* let it go out after close */
        zmq_setsockopt(flood, ZMQ_LINGER, &linger, sizeof linger);
        cl_test_close(&flood);
    }

    /* unknown message type: a body field this version does not know (field 999) */
    {
        cl_env_t env;
        char mid[CL_ID_MAX + 1];
        cl_codec_init(&env, mid, "test", 0);
        cl_codec_encode(&env, &buf);
        const unsigned char extra[] = {0xBA, 0x3E, 0x02, 0x08, 0x01}; /* field 999, length 2 */
        cl_buf_append(&buf, extra, sizeof extra);
        s_expect_refused(&b, cl_test_raw(b.dealer, buf.data, buf.len, TIMEOUT_MS), CL_UNIMPLEMENTED, "body");
    }
    /* no body at all: a required field is missing */
    {
        cl_env_t env;
        char mid[CL_ID_MAX + 1];
        cl_codec_init(&env, mid, "test", 0);
        cl_codec_encode(&env, &buf);
        s_expect_refused(&b, cl_test_raw(b.dealer, buf.data, buf.len, TIMEOUT_MS), CL_INVALID_ARGUMENT, "body");
    }
    /* a known type this endpoint does not serve */
    {
        cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
        Caseloop__V1__CaseReceived ev = CASELOOP__V1__CASE_RECEIVED__INIT;
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_CASE_RECEIVED;
        env.case_received = &ev;
        s_expect_refused(&b, cl_test_call(b.dealer, &env, TIMEOUT_MS), CL_UNIMPLEMENTED, "body");
    }

    /* missing site, description (a missing kind is the dispatcher's to classify) */
    cl_test_case(&c, "A", "bad", id, sizeof id, 2);
    c.site = NULL;
    s_expect_refused(&b, cl_test_submit(b.dealer, &c, TIMEOUT_MS), CL_INVALID_ARGUMENT, "details.site");
    cl_test_case(&c, "A", "bad", id, sizeof id, 4);
    c.description = "";
    s_expect_refused(&b, cl_test_submit(b.dealer, &c, TIMEOUT_MS), CL_INVALID_ARGUMENT, "details.description");

    /* unknown enum values */
    cl_test_case(&c, "A", "bad", id, sizeof id, 5);
    c.kind = (Caseloop__V1__Kind)99;
    s_expect_refused(&b, cl_test_submit(b.dealer, &c, TIMEOUT_MS), CL_INVALID_ARGUMENT, "details.kind");
    cl_test_case(&c, "A", "bad", id, sizeof id, 6);
    c.has_severity = 1, c.severity = (Caseloop__V1__Severity)42;
    s_expect_refused(&b, cl_test_submit(b.dealer, &c, TIMEOUT_MS), CL_INVALID_ARGUMENT, "details.severity");

    /* text that is not UTF-8 */
    cl_test_case(&c, "A", "bad", id, sizeof id, 7);
    c.description = "broken \xc3\x28 lift";
    s_expect_refused(&b, cl_test_submit(b.dealer, &c, TIMEOUT_MS), CL_INVALID_ARGUMENT, "details.description");

    /* text with a NUL inside: refused, never stored cut short */
    cl_test_case(&c, "A", "bad", id, sizeof id, 10);
    c.description = "lift broken#and more";
    s_pack_submit(&c, &buf);
    char *hash = memmem(buf.data, buf.len, "broken#", 7);
    assert_non_null(hash);
    hash[6] = '\0';
    s_expect_refused(&b, cl_test_raw(b.dealer, buf.data, buf.len, TIMEOUT_MS), CL_INVALID_ARGUMENT,
                     "details.description");

    /* over the length limit */
    char *longtext = malloc(8002);
    memset(longtext, 'a', 8001);
    longtext[8001] = '\0';
    cl_test_case(&c, "A", "bad", id, sizeof id, 8);
    c.description = longtext;
    s_expect_refused(&b, cl_test_submit(b.dealer, &c, TIMEOUT_MS), CL_INVALID_ARGUMENT, "details.description");
    free(longtext);

    /* occurred-at far in the future */
    cl_test_case(&c, "A", "bad", id, sizeof id, 9);
    c.has_occurred_at_us = 1;
    c.occurred_at_us = cl_clock_now(cl_clock_real()) + 86400LL * 1000000 * 30;
    s_expect_refused(&b, cl_test_submit(b.dealer, &c, TIMEOUT_MS), CL_INVALID_ARGUMENT, "details.occurred_at_us");

    /* SQL-looking text is stored verbatim and harms nothing */
    const char *sql = "'); DROP TABLE cases; -- \\ \" $$ {x,y}";
    cl_test_case(&c, "A", "sql", id, sizeof id, 1);
    c.description = (char *)sql;
    c.customer_name = (char *)sql;
    cl_env_t *ok = s_submit_ok(b.dealer, &c);
    cl_env_t get = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__GetCase body = CASELOOP__V1__GET_CASE__INIT;
    body.has_case_id = 1, body.case_id = ok->submit_case_reply->case_id;
    get.body_case = CASELOOP__V1__ENVELOPE__BODY_GET_CASE;
    get.get_case = &body;
    cl_env_t *shown = cl_test_call(b.dealer, &get, TIMEOUT_MS);
    assert_non_null(shown);
    assert_string_equal(shown->get_case_reply->details->description, sql);
    assert_string_equal(shown->get_case_reply->details->customer_name, sql);
    cl_codec_free(ok);
    cl_codec_free(shown);

    /* a case that does not exist */
    body.case_id = 987654321;
    s_expect_refused(&b, cl_test_call(b.dealer, &get, TIMEOUT_MS), CL_NOT_FOUND, "case_id");

    body.case_id = 0;
    s_expect_refused(&b, cl_test_call(b.dealer, &get, TIMEOUT_MS), CL_INVALID_ARGUMENT, "case_id");

    /* reading events: too many at once is refused; past the end is simply nothing */
    cl_env_t read = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__ReadEvents rq = CASELOOP__V1__READ_EVENTS__INIT;
    rq.has_max_count = 1, rq.max_count = 5000;
    read.body_case = CASELOOP__V1__ENVELOPE__BODY_READ_EVENTS;
    read.read_events = &rq;
    s_expect_refused(&b, cl_test_call(b.dealer, &read, TIMEOUT_MS), CL_INVALID_ARGUMENT, "max_count");
    rq.max_count = 10;
    rq.has_after_position = 1, rq.after_position = UINT64_MAX;
    cl_env_t *past = cl_test_call(b.dealer, &read, TIMEOUT_MS);
    assert_non_null(past);
    assert_int_equal(past->body_case, CASELOOP__V1__ENVELOPE__BODY_READ_EVENTS_REPLY);
    assert_int_equal(past->read_events_reply->n_events, 0);
    assert_true(past->read_events_reply->head_position > 0);
    cl_codec_free(past);

    assert_true(cl_test_counter(b.dealer, "requests") > before);
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM cases WHERE external_source = 'bad'"), 0);
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM cases WHERE external_source = 'after-bad'"), b.next_good - 1);
    cl_buf_free(&buf);
    cl_test_close(&b.dealer);
}

/* --- closed cases, twin keys, the default channel ---------------------------------- */

/* GetCase of case_id: the reply, a GetCaseReply. */
static cl_env_t *s_get_case(void *dealer, uint64_t case_id)
{
    cl_env_t get = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__GetCase body = CASELOOP__V1__GET_CASE__INIT;
    body.has_case_id = 1, body.case_id = case_id;
    get.body_case = CASELOOP__V1__ENVELOPE__BODY_GET_CASE;
    get.get_case = &body;
    cl_env_t *shown = cl_test_call(dealer, &get, TIMEOUT_MS);
    assert_non_null(shown);
    assert_int_equal(shown->body_case, CASELOOP__V1__ENVELOPE__BODY_GET_CASE_REPLY);
    return shown;
}

/* Sends a lifecycle command about case_id and expects the case to be in state afterwards. */
static void s_command_to(void *dealer, uint64_t case_id, Caseloop__V1__CaseAction action, const char *text,
                         int satisfied, Caseloop__V1__CaseState state)
{
    cl_env_t *r = cl_test_command(dealer, case_id, action, "cs1", text, satisfied);
    if (r->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR)
        fail_msg("command %d on case %llu refused: %s", (int)action, (unsigned long long)case_id, r->error->message);
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND_REPLY);
    assert_int_equal(r->case_command_reply->state, state);
    cl_codec_free(r);
}

/* A report of the problem of the closed-case test: a complaint at site-a from contact (may be "")
   at location (may be ""), the same words each time. Returns the reply. */
static cl_env_t *s_lamp_report(void *dealer, long n, const char *contact, const char *location)
{
    Caseloop__V1__Case c;
    char id[32];
    cl_test_case(&c, "site-a", "closed", id, sizeof id, n);
    c.has_kind = 1, c.kind = CASELOOP__V1__KIND__KIND_COMPLAINT;
    c.customer_contact = (char *)contact;
    c.location = (char *)location;
    c.description = "5号楼1单元楼道灯坏了一个星期，晚上看不见路";
    return s_submit_ok(dealer, &c);
}

static void s_expect_outcome(cl_env_t *reply, Caseloop__V1__SubmitOutcome outcome, uint64_t case_id)
{
    assert_int_equal(reply->submit_case_reply->outcome, outcome);
    if (case_id)
        assert_int_equal(reply->submit_case_reply->case_id, case_id);
    cl_codec_free(reply);
}

#define OUTCOME(x) CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_##x
#define ACTION(x) CASELOOP__V1__CASE_ACTION__CASE_ACTION_##x
#define STATE(x) CASELOOP__V1__CASE_STATE__CASE_STATE_##x

static void test_a_closed_case_takes_no_further_report_of_its_problem(void **state)
{
    (void)state;
    /* Closing needs a department: the dispatcher sends the case to customer service. */
    char pub[300];
    snprintf(pub, sizeof pub, "CL_INTAKE_PUB=%s", s_svc.pub);
    const char *denv[] = {pub, "CL_IDLE_MS=100", NULL};
    cl_svc_t disp;
    assert_int_equal(cl_svc_start(&disp, "caseloop-dispatcher", denv), 0);
    assert_int_equal(cl_test_load_policy(disp.router), 0);
    void *dealer = cl_test_dealer(s_svc.router);
    const char *contact = "13911112222", *place = "5号楼1单元";

    cl_env_t *r = s_lamp_report(dealer, 1, contact, place);
    assert_int_equal(r->submit_case_reply->outcome, OUTCOME(CREATED));
    uint64_t closed = r->submit_case_reply->case_id;
    cl_codec_free(r);
    /* While it is open, the same problem attaches by location and by contact. */
    s_expect_outcome(s_lamp_report(dealer, 2, "13922223333", place), OUTCOME(ATTACHED), closed);
    s_expect_outcome(s_lamp_report(dealer, 3, contact, ""), OUTCOME(ATTACHED), closed);

    cl_test_wait_scalar(1, 30000, "SELECT count(*) FROM dispatches WHERE case_id = %llu AND department <> ''",
                        (unsigned long long)closed);
    s_command_to(dealer, closed, ACTION(FIRST_CONTACT), "electrician comes today at 15:00", -1, STATE(IN_PROGRESS));
    s_command_to(dealer, closed, ACTION(RESOLVE), "lamp replaced", -1, STATE(RESOLVED));
    s_command_to(dealer, closed, ACTION(REPORT_RESULT), "light works, thanks", 1, STATE(CLOSED));

    /* Closed: the same problem again at the same place, from another resident, is a new case ... */
    r = s_lamp_report(dealer, 4, "13933334444", place);
    assert_int_equal(r->submit_case_reply->outcome, OUTCOME(CREATED));
    uint64_t by_place = r->submit_case_reply->case_id;
    assert_true(by_place != closed);
    cl_codec_free(r);
    /* ... and so it is from the same customer, giving no place. */
    r = s_lamp_report(dealer, 5, contact, "");
    assert_int_equal(r->submit_case_reply->outcome, OUTCOME(CREATED));
    uint64_t by_contact = r->submit_case_reply->case_id;
    assert_true(by_contact != closed && by_contact != by_place);
    cl_codec_free(r);

    /* The closed case kept its three reports. */
    cl_env_t *shown = s_get_case(dealer, closed);
    assert_int_equal(shown->get_case_reply->details->state, STATE(CLOSED));
    assert_int_equal(shown->get_case_reply->details->report_count, 3);
    assert_int_equal(shown->get_case_reply->n_reports, 2);
    cl_codec_free(shown);
    cl_test_close(&dealer);
    assert_int_equal(cl_svc_stop(&disp, SIGTERM, 0), 0);
}

static void test_same_external_id_from_two_sources_in_one_batch_is_two_cases(void **state)
{
    (void)state;
    /* One store worker: while it stores the first submission, the rest queue and are stored together. */
    static const char *env[] = {"CL_STORE_WORKERS=1", NULL};
    cl_svc_t svc;
    assert_int_equal(cl_svc_start(&svc, "caseloop-intake", env), 0);
    void *dealer = cl_test_dealer(svc.router);
    /* Two systems that both number their forms from 1: form n of each, one after the other. */
    enum { PAIRS = 8 };
    static s_pipe_t p[2 * PAIRS];
    static char descr[2 * PAIRS][64];
    memset(p, 0, sizeof p);
    for (int i = 0; i < 2 * PAIRS; i++) {
        cl_test_case(&p[i].c, "E", i % 2 ? "twin-phone" : "twin-web", p[i].id, sizeof p[i].id, 1 + i / 2);
        snprintf(descr[i], sizeof descr[i], "%s problem number %d", i % 2 ? "hotline" : "web form", i / 2);
        p[i].c.description = descr[i];
    }
    s_pipeline(dealer, p, 2 * PAIRS);
    for (int i = 0; i < 2 * PAIRS; i += 2) {
        const Caseloop__V1__SubmitCaseReply *web = p[i].reply->submit_case_reply,
                                            *phone = p[i + 1].reply->submit_case_reply;
        if (phone->outcome != OUTCOME(CREATED) || phone->case_id == web->case_id)
            fail_msg("form %s of twin-phone was taken for form %s of twin-web (outcome %d, case %llu)",
                     p[i + 1].id, p[i].id, (int)phone->outcome, (unsigned long long)phone->case_id);
        assert_int_equal(web->outcome, OUTCOME(CREATED));
        /* each case is stored with its own source */
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM cases WHERE (id = %llu AND external_source = 'twin-web')"
                 " OR (id = %llu AND external_source = 'twin-phone')",
                 (unsigned long long)web->case_id, (unsigned long long)phone->case_id);
        assert_int_equal(cl_test_scalar(sql), 2);
    }
    assert_int_equal(cl_test_scalar("SELECT count(DISTINCT id) FROM cases WHERE external_source LIKE 'twin-%'"),
                     2 * PAIRS);
    /* the premise: submissions were stored several to a transaction, twins among them */
    assert_true(cl_test_counter(dealer, "batches") < cl_test_counter(dealer, "batch_items"));
    assert_true(cl_test_scalar("SELECT count(*) FROM cases a JOIN cases b ON b.external_id = a.external_id"
                               " AND b.external_source = 'twin-phone' AND b.xmin = a.xmin"
                               " WHERE a.external_source = 'twin-web'") >= 1);
    for (int i = 0; i < 2 * PAIRS; i++)
        cl_codec_free(p[i].reply);
    cl_test_close(&dealer);
    assert_int_equal(cl_svc_stop(&svc, SIGTERM, 0), 0);
}

static void test_explicit_unspecified_channel_is_stored_as_system(void **state)
{
    (void)state;
    void *dealer = cl_test_dealer(s_svc.router);
    Caseloop__V1__Case c;
    char id[32];
    cl_test_case(&c, "F", "chan0", id, sizeof id, 1);
    c.customer_contact = "13700000001";
    c.description = "parking barrier at the north gate does not lift";
    c.has_channel = 1, c.channel = CASELOOP__V1__CHANNEL__CHANNEL_UNSPECIFIED;
    c.has_severity = 1, c.severity = CASELOOP__V1__SEVERITY__SEVERITY_UNSPECIFIED;
    cl_env_t *first = s_submit_ok(dealer, &c);
    assert_int_equal(first->submit_case_reply->outcome, OUTCOME(CREATED));
    uint64_t case_id = first->submit_case_reply->case_id;
    cl_codec_free(first);
    /* a further report of it, sent the same way */
    cl_test_case(&c, "F", "chan0", id, sizeof id, 2);
    c.customer_contact = "13700000001";
    c.description = "parking barrier at the north gate does not lift";
    c.has_channel = 1, c.channel = CASELOOP__V1__CHANNEL__CHANNEL_UNSPECIFIED;
    s_expect_outcome(s_submit_ok(dealer, &c), OUTCOME(ATTACHED), case_id);

    /* case.proto: a channel not given means CHANNEL_SYSTEM; a severity not given, general */
    cl_env_t *shown = s_get_case(dealer, case_id);
    const Caseloop__V1__GetCaseReply *g = shown->get_case_reply;
    assert_true(g->details->has_channel);
    assert_int_equal(g->details->channel, CASELOOP__V1__CHANNEL__CHANNEL_SYSTEM);
    assert_int_equal(g->details->severity, CASELOOP__V1__SEVERITY__SEVERITY_GENERAL);
    assert_int_equal(g->n_reports, 1);
    assert_int_equal(g->reports[0]->channel, CASELOOP__V1__CHANNEL__CHANNEL_SYSTEM);
    cl_codec_free(shown);
    cl_test_close(&dealer);
}

/* --- one key sent at once on several sockets: one case, one outcome ------------------ */

/* Sends items[d * nk + k] on dealers[d] for every key k and every dealer d
   before any reply is read, the dealers taking turns, dealer d lagging lag * d
   keys behind the first; then takes every reply (SubmitCaseReply, or an Error
   the test names), matched by correlation id. */
static void s_send_all(void **dealers, size_t nd, s_pipe_t *items, size_t nk, size_t lag)
{
    cl_buf_t out = {0};
    for (size_t step = 0; step < nk + lag * (nd - 1); step++)
        for (size_t d = 0; d < nd; d++) {
            if (step < lag * d || step - lag * d >= nk)
                continue;
            s_pipe_t *it = &items[d * nk + step - lag * d];
            cl_env_t env;
            cl_codec_init(&env, it->mid, "test", 0);
            Caseloop__V1__SubmitCase body = CASELOOP__V1__SUBMIT_CASE__INIT;
            body.details = &it->c;
            env.body_case = CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE;
            env.submit_case = &body;
            cl_codec_encode(&env, &out);
            assert_true(zmq_send(dealers[d], out.data, out.len, 0) >= 0);
        }
    cl_buf_free(&out);
    for (size_t d = 0; d < nd; d++)
        for (size_t got = 0; got < nk; got++) {
            zmq_pollitem_t item = {dealers[d], 0, ZMQ_POLLIN, 0};
            assert_int_equal(zmq_poll(&item, 1, TIMEOUT_MS), 1);
            zmq_msg_t msg;
            zmq_msg_init(&msg);
            assert_true(zmq_msg_recv(&msg, dealers[d], 0) >= 0);
            cl_err_t err;
            cl_env_t *reply = cl_codec_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), SIZE_MAX, &err);
            zmq_msg_close(&msg);
            assert_non_null(reply);
            if (reply->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR)
                fail_msg("a submission was refused: %s %s", reply->error->field, reply->error->message);
            assert_int_equal(reply->body_case, CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY);
            for (size_t k = 0; k < nk; k++)
                if (strcmp(items[d * nk + k].mid, reply->correlation_id) == 0)
                    items[d * nk + k].reply = reply;
        }
}

/* Submission k of a key-race test: source/k at site, a problem of its own place (so
   that two keys never count as one problem, but a key does match its own case). */
static void s_race_case(s_pipe_t *p, const char *site, const char *source, long k, char *where, size_t wlen)
{
    cl_test_case(&p->c, site, source, p->id, sizeof p->id, k);
    snprintf(where, wlen, "block %ld, lift lobby", k);
    p->c.location = where;
    p->c.description = "the lift stops between floors and the alarm button does nothing";
}

/* Whether the replies items[d * nk + k] (d < nd) to key k agree: one CREATED,
   the others REPEATED, all naming one case and no report. Sets *case_id; else
   says in why (len bytes) what went wrong. */
static bool s_one_answer(const s_pipe_t *items, size_t nd, size_t nk, size_t k, uint64_t *case_id, char *why,
                         size_t len)
{
    int created = 0;
    *case_id = 0;
    for (size_t d = 0; d < nd; d++) {
        const s_pipe_t *it = &items[d * nk + k];
        if (!it->reply) {
            snprintf(why, len, "key %s/%s: no reply to copy %zu", it->c.external_source, it->id, d);
            return false;
        }
        const Caseloop__V1__SubmitCaseReply *r = it->reply->submit_case_reply;
        if ((r->outcome != OUTCOME(CREATED) && r->outcome != OUTCOME(REPEATED)) || r->report_id != 0 ||
            (d > 0 && r->case_id != *case_id)) {
            snprintf(why, len,
                     "key %s/%s sent on %zu sockets at once: reply %zu was outcome %d (case %llu, report %llu),"
                     " where CREATED or REPEATED of one case (earlier replies: case %llu) was due",
                     it->c.external_source, it->id, nd, d, (int)r->outcome, (unsigned long long)r->case_id,
                     (unsigned long long)r->report_id, (unsigned long long)*case_id);
            return false;
        }
        created += r->outcome == OUTCOME(CREATED);
        *case_id = r->case_id;
    }
    if (created != 1) {
        snprintf(why, len, "key %s/%s sent on %zu sockets at once: %d replies CREATED, not 1",
                 items[k].c.external_source, items[k].id, nd, created);
        return false;
    }
    return true;
}

/* Sends keys source/1.. at site in rounds of nk (nd * nk <= RACE_MAX), each key
   from every dealer at once (dealer d lagging lag * d keys behind the first),
   and checks that the copies of each key got one answer; cases[k] gets key
   k+1's case. */
#define RACE_MAX 64
static void s_race_rounds(void **dealers, size_t nd, const char *site, const char *source, int rounds, size_t nk,
                          size_t lag, uint64_t *cases)
{
    static s_pipe_t p[RACE_MAX];
    static char where[RACE_MAX][48];
    assert_true(nd * nk <= RACE_MAX);
    char why[512] = "";
    for (int r = 0; r < rounds && !why[0]; r++) {
        memset(p, 0, sizeof p);
        for (size_t d = 0; d < nd; d++)
            for (size_t k = 0; k < nk; k++)
                s_race_case(&p[d * nk + k], site, source, 1 + (long)(r * nk + k), where[d * nk + k], sizeof where[0]);
        s_send_all(dealers, nd, p, nk, lag);
        for (size_t k = 0; k < nk && !why[0]; k++)
            s_one_answer(p, nd, nk, k, &cases[r * nk + k], why, sizeof why);
        for (size_t i = 0; i < nd * nk; i++)
            cl_codec_free(p[i].reply);
    }
    if (why[0])
        fail_msg("%s", why);
}

static void test_one_key_from_three_sockets_at_once_is_one_case_answered_once(void **state)
{
    (void)state;
    /* Small transactions and several store workers: the copies of a key, sent at once on
       three sockets, are stored side by side in transactions of their own, as when a client
       retries while its first request still waits in the queue. */
    static const char *env[] = {"CL_STORE_WORKERS=4", "CL_BATCH_MAX=4", NULL};
    cl_svc_t svc;
    assert_int_equal(cl_svc_start(&svc, "caseloop-intake", env), 0);
    enum { SOCKS = 3, ROUNDS = 5, PER_ROUND = 16, KEYS = ROUNDS * PER_ROUND };
    void *dealers[SOCKS];
    for (int d = 0; d < SOCKS; d++)
        dealers[d] = cl_test_dealer(svc.router);
    /* 5 rounds of 16 keys, the second socket 6 keys behind the first, the third 12 */
    uint64_t cases[KEYS];
    s_race_rounds(dealers, SOCKS, "G", "race3", ROUNDS, PER_ROUND, 6, cases);

    /* Stored once: a case per key, no report carrying a key, nothing added to the cases. */
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM cases WHERE external_source = 'race3'"), KEYS);
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM case_reports WHERE external_source = 'race3'"), 0);
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM case_reports r JOIN cases c ON c.id = r.case_id"
                                    " WHERE c.external_source = 'race3'"),
                     0);
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM cases WHERE external_source = 'race3' AND report_count <> 1"),
                     0);
    /* The log told each case once, and told no report. */
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM events e JOIN cases c ON c.id = e.case_id"
                                    " WHERE c.external_source = 'race3' AND e.type = 'CaseReceived'"),
                     KEYS);
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM events e JOIN cases c ON c.id = e.case_id"
                                    " WHERE c.external_source = 'race3' AND e.type = 'CaseReportAttached'"),
                     0);
    /* A later repeat answers as the first did. */
    for (int k = 0; k < KEYS; k += 7) {
        s_pipe_t again;
        char where[48];
        s_race_case(&again, "G", "race3", 1 + k, where, sizeof where);
        cl_env_t *r = s_submit_ok(dealers[k % SOCKS], &again.c);
        assert_int_equal(r->submit_case_reply->outcome, OUTCOME(REPEATED));
        assert_int_equal(r->submit_case_reply->case_id, cases[k]);
        assert_int_equal(r->submit_case_reply->report_id, 0);
        cl_codec_free(r);
    }
    for (int d = 0; d < SOCKS; d++)
        cl_test_close(&dealers[d]);
    assert_int_equal(cl_svc_stop(&svc, SIGTERM, 0), 0);
}

static void test_one_key_sent_to_two_intake_instances_at_once_is_one_case(void **state)
{
    (void)state;
    /* Two instances on the one database, as deployments scale intake; small transactions,
       so that many of one instance meet many of the other. */
    enum { INSTANCES = 2, ROUNDS = 10, PER_ROUND = 5, KEYS = ROUNDS * PER_ROUND };
    static const char *env[] = {"CL_STORE_WORKERS=3", "CL_BATCH_MAX=2", NULL};
    cl_svc_t svc[INSTANCES];
    void *dealers[INSTANCES];
    for (int i = 0; i < INSTANCES; i++) {
        assert_int_equal(cl_svc_start(&svc[i], "caseloop-intake", env), 0);
        dealers[i] = cl_test_dealer(svc[i].router);
    }
    /* 50 keys in 10 rounds of 5, each key to both instances, the second one key behind */
    uint64_t cases[KEYS];
    s_race_rounds(dealers, INSTANCES, "H", "race2i", ROUNDS, PER_ROUND, 1, cases);
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM cases WHERE external_source = 'race2i'"), KEYS);
    assert_int_equal(cl_test_scalar("SELECT count(DISTINCT external_id) FROM cases WHERE external_source = 'race2i'"),
                     KEYS);
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM case_reports WHERE external_source = 'race2i'"), 0);
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM events e JOIN cases c ON c.id = e.case_id"
                                    " WHERE c.external_source = 'race2i' AND e.type = 'CaseReceived'"),
                     KEYS);
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM events e JOIN cases c ON c.id = e.case_id"
                                    " WHERE c.external_source = 'race2i' AND e.type = 'CaseReportAttached'"),
                     0);
    for (int i = 0; i < INSTANCES; i++) {
        cl_test_close(&dealers[i]);
        assert_int_equal(cl_svc_stop(&svc[i], SIGTERM, 0), 0);
    }
}

/* --- the site's terms ---------------------------------------------------------- */

#define US INT64_C(1000000)

/* t_us plus span_us of working time, when the working time is 10:00-11:00
   every day in Asia/Shanghai (02:00-03:00 UTC: no daylight saving there). */
static int64_t s_after_working_hour(int64_t t_us, int64_t span_us)
{
    const int64_t day = 86400 * US, from = 2 * 3600 * US, to = 3 * 3600 * US;
    while (span_us > 0) {
        int64_t midnight = t_us - t_us % day, in = t_us - midnight;
        if (in < from) {
            t_us = midnight + from;
        } else if (in >= to) {
            t_us = midnight + day + from;
        } else {
            int64_t step = span_us < to - in ? span_us : to - in;
            t_us += step;
            span_us -= step;
        }
    }
    return t_us;
}

/* SELECT what FROM cases WHERE id = case_id. */
static long long s_case_scalar(const char *what, uint64_t case_id)
{
    char q[256];
    snprintf(q, sizeof q, "SELECT %s FROM cases WHERE id = %llu", what, (unsigned long long)case_id);
    return cl_test_scalar(q);
}

/* The case, as stored and as GetCase shows it, keeps the promise its reply made. */
static void s_expect_promise_kept(void *dealer, uint64_t case_id, int64_t promised_us)
{
    assert_int_equal(s_case_scalar("cl_ts_to_us(respond_by)", case_id), promised_us);
    cl_env_t *shown = s_get_case(dealer, case_id);
    assert_true(shown->get_case_reply->details->has_respond_by_us);
    assert_int_equal(shown->get_case_reply->details->respond_by_us, promised_us);
    cl_codec_free(shown);
}

/* A complaint about the lift at a site, from one place, the same words each time; n makes its key. */
static cl_env_t *s_lift_report(void *dealer, const char *site, long n, int64_t occurred_at_us)
{
    Caseloop__V1__Case c;
    char id[32];
    cl_test_case(&c, site, "terms", id, sizeof id, n);
    c.has_kind = 1, c.kind = CASELOOP__V1__KIND__KIND_COMPLAINT;
    c.location = "7号楼电梯";
    c.description = "7号楼电梯门关不上，一直响";
    if (occurred_at_us)
        c.has_occurred_at_us = 1, c.occurred_at_us = occurred_at_us;
    cl_env_t *r = cl_test_submit(dealer, &c, TIMEOUT_MS);
    assert_non_null(r);
    return r;
}

/* The promise (R-IN-2) is the site's promise clock from receipt on its
   calendar; the dedupe window (R-IN-3) and the skew allowed are the site's;
   a site with no policy is promised nothing. */
static void test_the_promise_and_the_dedupe_window_are_the_site_policy(void **state)
{
    (void)state;
    char pub[300];
    snprintf(pub, sizeof pub, "CL_INTAKE_PUB=%s", s_svc.pub);
    const char *denv[] = {pub, NULL};
    cl_svc_t disp;
    assert_int_equal(cl_svc_start(&disp, "caseloop-dispatcher", denv), 0);
    /* terms-a: C3 counts 30 minutes of working time, one hour a day; no window; an hour of skew.
       terms-b: C3 is 40 seconds of wall time, the rest by default. */
    static const char *const a[] = {"terms-a", NULL}, *const b[] = {"terms-b", NULL};
    static const char a_terms[] =
        ",\"calendar\":{\"working_hours\":{\"mon\":[\"10:00-11:00\"],\"tue\":[\"10:00-11:00\"],"
        "\"wed\":[\"10:00-11:00\"],\"thu\":[\"10:00-11:00\"],\"fri\":[\"10:00-11:00\"],"
        "\"sat\":[\"10:00-11:00\"],\"sun\":[\"10:00-11:00\"]}},"
        "\"clocks\":[{\"code\":\"C3\",\"name\":\"contact\",\"starts_on\":\"dispatched\","
        "\"met_by\":[\"first_contact\"],\"duration\":\"30m\",\"working_time\":true}],"
        "\"intake\":{\"promise_clock\":\"C3\",\"dedupe_window\":0,\"future_skew\":\"1h\"}";
    static const char b_terms[] = ",\"clocks\":[{\"code\":\"C3\",\"name\":\"contact\",\"starts_on\":"
                                  "\"dispatched\",\"met_by\":[\"first_contact\"],\"duration\":40}]";
    assert_int_equal(cl_test_load_policy_with(disp.router, a, a_terms), 0);
    assert_int_equal(cl_test_load_policy_with(disp.router, b, b_terms), 0);
    void *dealer = cl_test_dealer(s_svc.router);

    cl_env_t *r = s_lift_report(dealer, "terms-a", 1, 0);
    assert_int_equal(r->submit_case_reply->outcome, OUTCOME(CREATED));
    assert_true(r->submit_case_reply->has_respond_by_us);
    int64_t received = s_case_scalar("cl_ts_to_us(received_at)", r->submit_case_reply->case_id);
    assert_int_equal(r->submit_case_reply->respond_by_us, s_after_working_hour(received, 1800 * US));
    s_expect_promise_kept(dealer, r->submit_case_reply->case_id, r->submit_case_reply->respond_by_us);
    cl_codec_free(r);
    /* No window on terms-a: the same report again is a case of its own. */
    s_expect_outcome(s_lift_report(dealer, "terms-a", 2, 0), OUTCOME(CREATED), 0);

    r = s_lift_report(dealer, "terms-b", 11, 0);
    assert_int_equal(r->submit_case_reply->outcome, OUTCOME(CREATED));
    uint64_t first_b = r->submit_case_reply->case_id;
    received = s_case_scalar("cl_ts_to_us(received_at)", first_b);
    int64_t promised_b = r->submit_case_reply->respond_by_us;
    assert_int_equal(promised_b, received + 40 * US);
    s_expect_promise_kept(dealer, first_b, promised_b);
    cl_codec_free(r);
    /* The default week-long window on terms-b: the same report attaches, and is told the
       case's promise; so is a repeat of the first. */
    r = s_lift_report(dealer, "terms-b", 12, 0);
    assert_int_equal(r->submit_case_reply->outcome, OUTCOME(ATTACHED));
    assert_int_equal(r->submit_case_reply->case_id, first_b);
    assert_int_equal(r->submit_case_reply->respond_by_us, promised_b);
    cl_codec_free(r);
    r = s_lift_report(dealer, "terms-b", 11, 0);
    assert_int_equal(r->submit_case_reply->outcome, OUTCOME(REPEATED));
    assert_int_equal(r->submit_case_reply->respond_by_us, promised_b);
    cl_codec_free(r);

    /* Half an hour ahead is within terms-a's hour of skew, beyond terms-b's five minutes. */
    int64_t ahead = cl_clock_now(cl_clock_real()) + 1800 * US;
    s_expect_outcome(s_lift_report(dealer, "terms-a", 3, ahead), OUTCOME(CREATED), 0);
    r = s_lift_report(dealer, "terms-b", 13, ahead);
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_ERROR);
    assert_int_equal(r->error->code, CASELOOP__V1__ERROR_CODE__INVALID_ARGUMENT);
    assert_string_equal(r->error->field, "details.occurred_at_us");
    cl_codec_free(r);

    /* A site with no policy: no promise, in the reply, the case and the table. */
    r = s_lift_report(dealer, "terms-none", 21, 0);
    assert_int_equal(r->submit_case_reply->outcome, OUTCOME(CREATED));
    assert_false(r->submit_case_reply->has_respond_by_us);
    cl_env_t *shown = s_get_case(dealer, r->submit_case_reply->case_id);
    assert_false(shown->get_case_reply->details->has_respond_by_us);
    assert_int_equal(s_case_scalar("count(*) FILTER (WHERE respond_by IS NULL)", r->submit_case_reply->case_id), 1);
    cl_codec_free(shown);
    cl_codec_free(r);
    cl_test_close(&dealer);
    assert_int_equal(cl_svc_stop(&disp, SIGTERM, 0), 0);
}

/* --- publication in log order ------------------------------------------------------ */

/* A client of the ordering test: submits cases, or (answer_case set) has
   reception answer the customer of that case again and again. */
typedef struct {
    const char *router;
    int client;
    uint64_t answer_case;
    int acked;
} s_pub_client_t;

#define PUB_CLIENTS 4          /* the last one sends commands */
#define PUB_PER_CLIENT 150

static void *s_pub_client(void *arg)
{
    s_pub_client_t *cl = arg;
    void *dealer = cl_test_dealer(cl->router);
    char source[32], id[32];
    snprintf(source, sizeof source, "order-%d", cl->client);
    for (int i = 0; i < PUB_PER_CLIENT; i++) {
        cl_env_t *reply;
        int want;
        if (cl->answer_case) {
            cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
            Caseloop__V1__CaseCommand cmd = CASELOOP__V1__CASE_COMMAND__INIT;
            cmd.has_case_id = 1, cmd.case_id = cl->answer_case;
            cmd.has_action = 1, cmd.action = CASELOOP__V1__CASE_ACTION__CASE_ACTION_ANSWER;
            cmd.actor = "cs1", cmd.text = "we are on it";
            env.body_case = CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND;
            env.case_command = &cmd;
            reply = cl_test_call(dealer, &env, TIMEOUT_MS);
            want = CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND_REPLY;
        } else {
            Caseloop__V1__Case c;
            cl_test_case(&c, "A", source, id, sizeof id, i);
            reply = cl_test_submit(dealer, &c, TIMEOUT_MS);
            want = CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY;
        }
        if (reply && (int)reply->body_case == want)
            cl->acked++;
        cl_codec_free(reply);
    }
    cl_test_close(&dealer);
    return NULL;
}

/* The position of the next event on sub (waiting up to TIMEOUT_MS), 0 when none came. */
static uint64_t s_next_position(void *sub)
{
    zmq_pollitem_t item = {sub, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, TIMEOUT_MS) != 1)
        return 0;
    zmq_msg_t topic, body;
    zmq_msg_init(&topic);
    zmq_msg_init(&body);
    uint64_t position = 0;
    if (zmq_msg_recv(&topic, sub, 0) >= 0 && zmq_msg_recv(&body, sub, 0) >= 0) {
        cl_err_t err;
        cl_env_t *ev = cl_codec_decode(zmq_msg_data(&body), zmq_msg_size(&body), SIZE_MAX, &err);
        position = ev ? ev->position : 0;
        cl_codec_free(ev);
    }
    zmq_msg_close(&topic);
    zmq_msg_close(&body);
    return position;
}

/* Three store workers committing small batches from three clients at once,
   and lifecycle commands, which the main thread commits, from a fourth: the PUB
   still carries the events in the order of their positions. */
static void test_the_pub_carries_events_in_log_order_under_concurrent_submissions(void **state)
{
    (void)state;
    static const char *env[] = {"CL_STORE_WORKERS=3", "CL_BATCH_MAX=4", NULL};
    cl_svc_t svc;
    assert_int_equal(cl_svc_start(&svc, "caseloop-intake", env), 0);
    void *sub = cl_test_sub(svc.pub);
    void *dealer = cl_test_dealer(svc.router);
    /* The subscription is live once a published event arrives (PUB drops to late joiners). */
    bool live = false;
    uint64_t answered = 0;
    for (long k = 0; k < 50 && !live; k++) {
        Caseloop__V1__Case c;
        char id[32];
        cl_test_case(&c, "A", "order-warm", id, sizeof id, k);
        cl_env_t *r = cl_test_submit(dealer, &c, TIMEOUT_MS);
        assert_non_null(r);
        assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY);
        answered = r->submit_case_reply->case_id;
        cl_codec_free(r);
        zmq_pollitem_t item = {sub, 0, ZMQ_POLLIN, 0};
        live = zmq_poll(&item, 1, 200) == 1;
    }
    assert_true(live);
    cl_test_close(&dealer);
    uint64_t last = s_next_position(sub);
    while (last) { /* the warm-up's own events, up to the last one */
        zmq_pollitem_t item = {sub, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 0) != 1)
            break;
        uint64_t p = s_next_position(sub);
        assert_true(p > last);
        last = p;
    }
    static s_pub_client_t clients[PUB_CLIENTS];
    pthread_t th[PUB_CLIENTS];
    for (int i = 0; i < PUB_CLIENTS; i++) {
        clients[i] = (s_pub_client_t){svc.router, i, i == PUB_CLIENTS - 1 ? answered : 0, 0};
        pthread_create(&th[i], NULL, s_pub_client, &clients[i]);
    }
    for (int heard = 0; heard < PUB_CLIENTS * PUB_PER_CLIENT; heard++) {
        uint64_t p = s_next_position(sub);
        if (!p)
            fail_msg("heard %d of %d events", heard, PUB_CLIENTS * PUB_PER_CLIENT);
        if (p <= last)
            fail_msg("position %llu published after %llu", (unsigned long long)p, (unsigned long long)last);
        last = p;
    }
    for (int i = 0; i < PUB_CLIENTS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(clients[i].acked, PUB_PER_CLIENT);
    }
    cl_test_close(&sub);
    assert_int_equal(cl_svc_stop(&svc, SIGTERM, 0), 0);
}

/* --- overload ----------------------------------------------------------------------- */

/* The next reply on dealer within timeout_ms, or NULL. */
static cl_env_t *s_reply(void *dealer, int timeout_ms)
{
    zmq_pollitem_t item = {dealer, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, timeout_ms) != 1)
        return NULL;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    cl_env_t *reply = NULL;
    if (zmq_msg_recv(&msg, dealer, 0) >= 0) {
        cl_err_t err;
        reply = cl_codec_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), SIZE_MAX, &err);
    }
    zmq_msg_close(&msg);
    return reply;
}

/* Past its queue, intake answers at once. Its one worker is held up by a lock on
   the cases table; of twenty submissions sent together, one is with the worker
   and the queue holds five (at most one of them was taken before the rest came),
   so fourteen or fifteen are answered UNAVAILABLE while the lock is held. Once it
   is released, the rest are stored. */
static void test_past_its_queue_intake_answers_at_once(void **state)
{
    (void)state;
    enum { SENT = 20, QUEUE = 5 };
    static const char *env[] = {"CL_STORE_WORKERS=1", "CL_BATCH_MAX=1", "CL_QUEUE_MAX=5", NULL};
    cl_svc_t svc;
    assert_int_equal(cl_svc_start(&svc, "caseloop-intake", env), 0);
    PGconn *lock = PQconnectdb(cl_test_db());
    assert_int_equal(PQstatus(lock), CONNECTION_OK);
    PGresult *res = PQexec(lock, "BEGIN; LOCK TABLE cases IN EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);

    void *dealer = cl_test_dealer(svc.router);
    cl_buf_t frame = {0};
    for (long k = 0; k < SENT; k++) {
        Caseloop__V1__Case c;
        char id[32], mid[CL_ID_MAX + 1];
        cl_test_case(&c, "A", "overload", id, sizeof id, k);
        cl_env_t e;
        cl_codec_init(&e, mid, "test", cl_clock_now(cl_clock_real()));
        Caseloop__V1__SubmitCase body = CASELOOP__V1__SUBMIT_CASE__INIT;
        body.details = &c;
        e.body_case = CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE;
        e.submit_case = &body;
        cl_buf_reset(&frame);
        cl_codec_encode(&e, &frame);
        assert_int_equal(zmq_send(dealer, frame.data, frame.len, 0), (int)frame.len);
    }
    cl_buf_free(&frame);
    int refused = 0, created = 0;
    int64_t t0 = cl_mono_us();
    while (refused < SENT - QUEUE - 1) {
        cl_env_t *r = s_reply(dealer, 5000);
        if (!r)
            fail_msg("%d answered UNAVAILABLE while the worker was held up; expected at least %d", refused,
                     SENT - QUEUE - 1);
        assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_ERROR); /* nothing is stored yet */
        assert_int_equal(r->error->code, CASELOOP__V1__ERROR_CODE__UNAVAILABLE);
        assert_non_null(strstr(r->error->message, "at capacity"));
        cl_codec_free(r);
        refused++;
    }
    assert_true(cl_mono_us() - t0 < 5 * 1000000);
    res = PQexec(lock, "COMMIT");
    PQclear(res);
    PQfinish(lock);
    while (refused + created < SENT) {
        cl_env_t *r = s_reply(dealer, 10000);
        if (!r)
            fail_msg("%d refused and %d stored of %d", refused, created, SENT);
        if (r->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR) {
            assert_int_equal(r->error->code, CASELOOP__V1__ERROR_CODE__UNAVAILABLE);
            refused++;
        } else {
            assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY);
            assert_int_equal(r->submit_case_reply->outcome, OUTCOME(CREATED));
            created++;
        }
        cl_codec_free(r);
    }
    assert_true(refused == SENT - QUEUE - 1 || refused == SENT - QUEUE);
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM cases WHERE external_source = 'overload'"), created);
    assert_int_equal(cl_test_counter(dealer, "overloaded"), refused);
    cl_test_close(&dealer);
    assert_int_equal(cl_svc_stop(&svc, SIGTERM, 0), 0);
}

/* Sends cmd on dealer without waiting for the reply; mid gets its message id. */
static void s_send_command(void *dealer, Caseloop__V1__CaseCommand *cmd, char mid[CL_ID_MAX + 1])
{
    cl_env_t e;
    cl_codec_init(&e, mid, "test", cl_clock_now(cl_clock_real()));
    e.body_case = CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND;
    e.case_command = cmd;
    cl_buf_t frame = {0};
    cl_codec_encode(&e, &frame);
    assert_int_equal(zmq_send(dealer, frame.data, frame.len, 0), (int)frame.len);
    cl_buf_free(&frame);
}

/* Two cases submitted at site A (source `source`) and marked dispatched, into id[0], id[1]. */
static void s_two_dispatched(void *dealer, const char *source, uint64_t id[2])
{
    for (long k = 0; k < 2; k++) {
        Caseloop__V1__Case c;
        char xid[32];
        cl_test_case(&c, "A", source, xid, sizeof xid, k);
        cl_env_t *r = s_submit_ok(dealer, &c);
        id[k] = r->submit_case_reply->case_id;
        cl_codec_free(r);
    }
    char sql[400];
    snprintf(sql, sizeof sql,
             "INSERT INTO dispatches (case_id, site, kind, classified, severity, department, special, notified,"
             " dispatched_at, position) SELECT id, site, kind, false, severity, 'D', false, '{}', now(), 0 FROM cases"
             " WHERE external_source = '%s' RETURNING 1",
             source);
    assert_int_equal(cl_test_scalar(sql), 1);
}

/* Commands that queue up while the worker is busy are applied together, in one
   transaction, in the order they came, each on the state the ones before left;
   one that is refused (an unknown case, a state it does not fit) refuses no
   other. The worker is held on a lock of the cases table by a first command
   while the others arrive and queue. */
static void test_commands_sent_together_are_applied_in_order_in_one_commit(void **state)
{
    (void)state;
    static const char *env[] = {"CL_STORE_WORKERS=1", "CL_BATCH_MAX=16", NULL};
    cl_svc_t svc;
    assert_int_equal(cl_svc_start(&svc, "caseloop-intake", env), 0);
    void *dealer = cl_test_dealer(svc.router);
    uint64_t id[2];
    s_two_dispatched(dealer, "together", id);
    PGconn *lock = PQconnectdb(cl_test_db());
    assert_int_equal(PQstatus(lock), CONNECTION_OK);
    PGresult *res = PQexec(lock, "BEGIN; LOCK TABLE cases IN EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);

    enum { N = 7 };
    static const struct {
        int on; /* index into id, or -1 for a case that does not exist */
        Caseloop__V1__CaseAction action;
        const char *text;
        int satisfied;
        int want; /* the state after, or -ErrorCode */
    } cmds[N] = {
        {1, CASELOOP__V1__CASE_ACTION__CASE_ACTION_ACKNOWLEDGE, "", -1, CASELOOP__V1__CASE_STATE__CASE_STATE_ACKNOWLEDGED},
        {0, CASELOOP__V1__CASE_ACTION__CASE_ACTION_ACKNOWLEDGE, "", -1, CASELOOP__V1__CASE_STATE__CASE_STATE_ACKNOWLEDGED},
        {0, CASELOOP__V1__CASE_ACTION__CASE_ACTION_FIRST_CONTACT, "we come at ten", -1,
         CASELOOP__V1__CASE_STATE__CASE_STATE_IN_PROGRESS},
        {-1, CASELOOP__V1__CASE_ACTION__CASE_ACTION_CLOSE, "", -1, -CASELOOP__V1__ERROR_CODE__NOT_FOUND},
        {0, CASELOOP__V1__CASE_ACTION__CASE_ACTION_RESOLVE, "fixed", -1, CASELOOP__V1__CASE_STATE__CASE_STATE_RESOLVED},
        {0, CASELOOP__V1__CASE_ACTION__CASE_ACTION_ACKNOWLEDGE, "", -1, -CASELOOP__V1__ERROR_CODE__CONFLICT},
        {0, CASELOOP__V1__CASE_ACTION__CASE_ACTION_REPORT_RESULT, "", 1, CASELOOP__V1__CASE_STATE__CASE_STATE_CLOSED},
    };
    char mid[N][CL_ID_MAX + 1];
    for (int k = 0; k < N; k++) {
        Caseloop__V1__CaseCommand body = CASELOOP__V1__CASE_COMMAND__INIT;
        body.has_case_id = 1, body.case_id = cmds[k].on < 0 ? id[1] + 1000 : id[cmds[k].on];
        body.has_action = 1, body.action = cmds[k].action;
        body.actor = "cs1";
        body.text = (char *)cmds[k].text;
        body.has_satisfied = cmds[k].satisfied >= 0, body.satisfied = cmds[k].satisfied == 1;
        s_send_command(dealer, &body, mid[k]);
        if (k == 0) /* the worker waits for the lock with the first; the others queue behind it */
            cl_test_wait_scalar(1, TIMEOUT_MS, "SELECT count(*) FROM pg_locks WHERE NOT granted");
    }
    res = PQexec(lock, "COMMIT");
    PQclear(res);
    PQfinish(lock);

    uint64_t pos[N] = {0};
    for (int got = 0; got < N; got++) {
        cl_env_t *r = s_reply(dealer, TIMEOUT_MS);
        if (!r)
            fail_msg("%d of %d commands answered", got, N);
        int k = 0;
        while (k < N && strcmp(mid[k], r->correlation_id) != 0)
            k++;
        assert_true(k < N);
        if (cmds[k].want < 0) {
            assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_ERROR);
            assert_int_equal(r->error->code, -cmds[k].want);
            if (cmds[k].on < 0)
                assert_string_equal(r->error->field, "case_id");
        } else {
            if (r->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR)
                fail_msg("command %d refused: %s", k, r->error->message);
            assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND_REPLY);
            assert_int_equal(r->case_command_reply->state, cmds[k].want);
            pos[k] = r->case_command_reply->position;
        }
        cl_codec_free(r);
    }
    /* The first command was applied alone; the rest in one transaction, in the order sent. */
    assert_true(pos[0] < pos[1]);
    assert_int_equal(pos[2], pos[1] + 1);
    assert_int_equal(pos[4], pos[2] + 1);
    assert_int_equal(pos[6], pos[4] + 1);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(DISTINCT xmin::text) FROM events WHERE position BETWEEN %llu AND %llu",
             (unsigned long long)pos[1], (unsigned long long)pos[6]);
    assert_int_equal(cl_test_scalar(sql), 1);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM cases WHERE id = %llu AND state = %d AND satisfied AND acknowledged_at IS NOT NULL"
             " AND first_contact_at IS NOT NULL AND resolved_at IS NOT NULL AND closed_at IS NOT NULL",
             (unsigned long long)id[0], (int)CASELOOP__V1__CASE_STATE__CASE_STATE_CLOSED);
    assert_int_equal(cl_test_scalar(sql), 1);
    assert_int_equal(cl_test_counter(dealer, "case_commands"), 5);
    cl_test_close(&dealer);
    assert_int_equal(cl_svc_stop(&svc, SIGTERM, 0), 0);
}

/* A keyed command with its fields. */
static Caseloop__V1__CaseCommand s_keyed(uint64_t case_id, Caseloop__V1__CaseAction action, const char *text,
                                         const char *source, const char *command_id)
{
    Caseloop__V1__CaseCommand cmd = CASELOOP__V1__CASE_COMMAND__INIT;
    cmd.has_case_id = 1, cmd.case_id = case_id;
    cmd.has_action = 1, cmd.action = action;
    cmd.actor = "cs1";
    cmd.text = (char *)text;
    cmd.source = (char *)source;
    cmd.command_id = (char *)command_id;
    return cmd;
}

/* Sends cmd and returns its reply. */
static cl_env_t *s_call_command(void *dealer, Caseloop__V1__CaseCommand *cmd)
{
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND;
    env.case_command = cmd;
    cl_env_t *r = cl_test_call(dealer, &env, TIMEOUT_MS);
    assert_non_null(r);
    return r;
}

/* The reply r is a CaseCommandReply: state, and repeated or not; returns its position. */
static uint64_t s_command_ok(cl_env_t *r, Caseloop__V1__CaseState state, bool repeated)
{
    if (r->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR)
        fail_msg("refused: %s %s", r->error->field, r->error->message);
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND_REPLY);
    assert_int_equal(r->case_command_reply->state, state);
    assert_int_equal(r->case_command_reply->repeated, repeated);
    uint64_t pos = r->case_command_reply->position;
    cl_codec_free(r);
    return pos;
}

static void s_command_refused(cl_env_t *r, Caseloop__V1__ErrorCode code, const char *field)
{
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_ERROR);
    assert_int_equal(r->error->code, code);
    assert_string_equal(r->error->field, field);
    cl_codec_free(r);
}

/* A command sent again with its key is applied once: the repeat is answered with the
   first outcome and changes nothing, also when the copies arrive together in one batch;
   the key with another command is refused and the first stands; a refused command keeps
   no key; half a key is refused. */
static void test_a_command_sent_again_with_its_key_is_applied_once(void **state)
{
    (void)state;
    static const char *env[] = {"CL_STORE_WORKERS=2", NULL};
    cl_svc_t svc;
    assert_int_equal(cl_svc_start(&svc, "caseloop-intake", env), 0);
    void *dealer = cl_test_dealer(svc.router);
    uint64_t id[2];
    s_two_dispatched(dealer, "keyed", id);
    const Caseloop__V1__CaseState ACKED = CASELOOP__V1__CASE_STATE__CASE_STATE_ACKNOWLEDGED,
                                  IN_PROGRESS = CASELOOP__V1__CASE_STATE__CASE_STATE_IN_PROGRESS,
                                  RESOLVED = CASELOOP__V1__CASE_STATE__CASE_STATE_RESOLVED;
    Caseloop__V1__CaseCommand ack = s_keyed(id[0], CASELOOP__V1__CASE_ACTION__CASE_ACTION_ACKNOWLEDGE, "", "crm", "c-1");
    uint64_t first = s_command_ok(s_call_command(dealer, &ack), ACKED, false);
    assert_int_equal(s_command_ok(s_call_command(dealer, &ack), ACKED, true), first);
    /* The same key with another command: refused, the first stands. */
    Caseloop__V1__CaseCommand other =
        s_keyed(id[0], CASELOOP__V1__CASE_ACTION__CASE_ACTION_FIRST_CONTACT, "we call at ten", "crm", "c-1");
    s_command_refused(s_call_command(dealer, &other), CASELOOP__V1__ERROR_CODE__CONFLICT, "command_id");
    /* The same id from another source is another key. */
    other.source = "web";
    s_command_ok(s_call_command(dealer, &other), IN_PROGRESS, false);
    /* Half a key. */
    Caseloop__V1__CaseCommand half = s_keyed(id[0], CASELOOP__V1__CASE_ACTION__CASE_ACTION_PROGRESS, "note", "crm", NULL);
    s_command_refused(s_call_command(dealer, &half), CASELOOP__V1__ERROR_CODE__INVALID_ARGUMENT, "command_id");
    /* A refused command keeps no key: sent again once it fits, it is applied. */
    Caseloop__V1__CaseCommand resolve = s_keyed(id[1], CASELOOP__V1__CASE_ACTION__CASE_ACTION_RESOLVE, "fixed", "crm", "c-2");
    s_command_refused(s_call_command(dealer, &resolve), CASELOOP__V1__ERROR_CODE__CONFLICT, "action");
    cl_codec_free(cl_test_command(dealer, id[1], CASELOOP__V1__CASE_ACTION__CASE_ACTION_FIRST_CONTACT, "cs1", "plan", -1));
    uint64_t resolved = s_command_ok(s_call_command(dealer, &resolve), RESOLVED, false);
    assert_int_equal(s_command_ok(s_call_command(dealer, &resolve), RESOLVED, true), resolved);
    /* Copies sent together, on several sockets: one outcome, one event. */
    enum { COPIES = 6 };
    void *dealers[COPIES];
    char mid[COPIES][CL_ID_MAX + 1];
    Caseloop__V1__CaseCommand close = s_keyed(id[1], CASELOOP__V1__CASE_ACTION__CASE_ACTION_REPORT_RESULT, "", "crm", "c-3");
    close.has_satisfied = 1, close.satisfied = 1;
    for (int k = 0; k < COPIES; k++)
        dealers[k] = cl_test_dealer(svc.router);
    for (int k = 0; k < COPIES; k++)
        s_send_command(k % 2 ? dealers[k] : dealer, &close, mid[k]);
    int applied = 0;
    uint64_t pos = 0;
    for (int k = 0; k < COPIES; k++) {
        cl_env_t *r = s_reply(k % 2 ? dealers[k] : dealer, TIMEOUT_MS);
        if (!r)
            fail_msg("copy %d of the keyed command was not answered", k);
        assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND_REPLY);
        assert_int_equal(r->case_command_reply->state, CASELOOP__V1__CASE_STATE__CASE_STATE_CLOSED);
        applied += !r->case_command_reply->repeated;
        if (pos)
            assert_int_equal(r->case_command_reply->position, pos);
        pos = r->case_command_reply->position;
        cl_codec_free(r);
    }
    assert_int_equal(applied, 1);
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM events WHERE case_id = %llu AND type = 'CaseUpdated'",
             (unsigned long long)id[1]);
    assert_int_equal(cl_test_scalar(sql), 3); /* first contact, resolve, report */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM events WHERE case_id = %llu AND type = 'CaseUpdated'",
             (unsigned long long)id[0]);
    assert_int_equal(cl_test_scalar(sql), 2); /* acknowledge, first contact */
    assert_int_equal(cl_test_counter(dealer, "command_repeats"), 2 + COPIES - 1);
    for (int k = 0; k < COPIES; k++)
        cl_test_close(&dealers[k]);
    cl_test_close(&dealer);
    assert_int_equal(cl_svc_stop(&svc, SIGTERM, 0), 0);
}

/* Every submission answered is one batch item and one outcome, and no
   transaction is counted without one: ten new cases, their ten repeats and a
   further report of one of them, on an instance of its own. */
static void test_the_counters_add_up(void **state)
{
    (void)state;
    cl_svc_t svc;
    assert_int_equal(cl_svc_start(&svc, "caseloop-intake", NULL), 0);
    void *dealer = cl_test_dealer(svc.router);
    assert_int_equal(cl_test_counter(dealer, "batches"), 0); /* a GetStats stores nothing */
    for (int round = 0; round < 2; round++) {
        Caseloop__V1__SubmitOutcome want = round ? OUTCOME(REPEATED) : OUTCOME(CREATED);
        for (long k = 0; k < 9; k++) { /* no contact, no place: never the same problem */
            Caseloop__V1__Case c;
            char id[32];
            cl_test_case(&c, "count", "counted", id, sizeof id, k);
            s_expect_outcome(s_submit_ok(dealer, &c), want, 0);
        }
        s_expect_outcome(s_lift_report(dealer, "count", 100, 0), want, 0);
    }
    s_expect_outcome(s_lift_report(dealer, "count", 101, 0), OUTCOME(ATTACHED), 0);
    assert_int_equal(cl_test_counter(dealer, "cases_created"), 10);
    assert_int_equal(cl_test_counter(dealer, "repeats"), 10);
    assert_int_equal(cl_test_counter(dealer, "reports_attached"), 1);
    assert_int_equal(cl_test_counter(dealer, "batch_items"), 21);
    long long batches = cl_test_counter(dealer, "batches");
    assert_true(batches >= 1 && batches <= 21);
    cl_test_close(&dealer);
    assert_int_equal(cl_svc_stop(&svc, SIGTERM, 0), 0);
}


static void test_the_customers_callback_preferences_are_kept_with_the_case(void **state)
{
    (void)state;
    void *dealer = cl_test_dealer(s_svc.router);
    Caseloop__V1__Case c;
    char id[32];
    cl_test_case(&c, "A", "prefs", id, sizeof id, 1);
    Caseloop__V1__CustomerPreferences prefs = CASELOOP__V1__CUSTOMER_PREFERENCES__INIT;
    char *windows[] = {"08:00-09:00", "19:00-21:00"};
    prefs.windows = windows, prefs.n_windows = 2;
    prefs.has_mode = 1, prefs.mode = CASELOOP__V1__CALLBACK_MODE__CALLBACK_MODE_SMS;
    prefs.time_zone = "Europe/London";
    c.preferences = &prefs;
    cl_env_t *r = s_submit_ok(dealer, &c);
    uint64_t with = r->submit_case_reply->case_id;
    cl_codec_free(r);
    cl_env_t *shown = s_get_case(dealer, with);
    const Caseloop__V1__CustomerPreferences *kept = shown->get_case_reply->details->preferences;
    assert_non_null(kept);
    assert_int_equal(kept->n_windows, 2);
    assert_string_equal(kept->windows[0], "08:00-09:00");
    assert_string_equal(kept->windows[1], "19:00-21:00");
    assert_true(kept->has_mode);
    assert_int_equal(kept->mode, CASELOOP__V1__CALLBACK_MODE__CALLBACK_MODE_SMS);
    assert_false(kept->has_do_not_call);
    assert_string_equal(kept->time_zone, "Europe/London");
    cl_codec_free(shown);
    /* Do-not-call alone; and none at all stays none. */
    Caseloop__V1__CustomerPreferences quiet = CASELOOP__V1__CUSTOMER_PREFERENCES__INIT;
    quiet.has_do_not_call = 1, quiet.do_not_call = 1;
    cl_test_case(&c, "A", "prefs", id, sizeof id, 2);
    c.preferences = &quiet;
    r = s_submit_ok(dealer, &c);
    shown = s_get_case(dealer, r->submit_case_reply->case_id);
    assert_non_null(shown->get_case_reply->details->preferences);
    assert_true(shown->get_case_reply->details->preferences->do_not_call);
    cl_codec_free(shown);
    cl_codec_free(r);
    cl_test_case(&c, "A", "prefs", id, sizeof id, 3);
    r = s_submit_ok(dealer, &c);
    shown = s_get_case(dealer, r->submit_case_reply->case_id);
    assert_null(shown->get_case_reply->details->preferences);
    cl_codec_free(shown);
    cl_codec_free(r);
    /* Malformed: refused on the field, nothing stored. */
    int64_t before = cl_test_scalar("SELECT count(*) FROM cases WHERE external_source = 'prefs'");
    char *overlap[] = {"08:00-09:00", "08:30-10:00"};
    prefs.windows = overlap;
    cl_test_case(&c, "A", "prefs", id, sizeof id, 4);
    c.preferences = &prefs;
    r = cl_test_submit(dealer, &c, TIMEOUT_MS);
    assert_non_null(r);
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_ERROR);
    assert_string_equal(r->error->field, "details.preferences.windows[1]");
    cl_codec_free(r);
    prefs.windows = windows;
    prefs.time_zone = "Atlantis/Capital";
    r = cl_test_submit(dealer, &c, TIMEOUT_MS);
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_ERROR);
    assert_string_equal(r->error->field, "details.preferences.time_zone");
    cl_codec_free(r);
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM cases WHERE external_source = 'prefs'"), before);
    cl_test_close(&dealer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_clients_all_acknowledged_and_stored_once),
        cmocka_unit_test(test_resubmission_returns_the_same_case),
        cmocka_unit_test(test_same_problem_attaches_to_the_open_case),
        cmocka_unit_test(test_anonymous_case_is_accepted),
        cmocka_unit_test(test_the_customers_callback_preferences_are_kept_with_the_case),
        cmocka_unit_test(test_fields_of_a_newer_contract_are_not_stored),
        cmocka_unit_test(test_pipelined_reports_are_each_numbered_once),
        cmocka_unit_test(test_bad_input_gets_clear_errors_and_loses_nothing),
        cmocka_unit_test(test_a_closed_case_takes_no_further_report_of_its_problem),
        cmocka_unit_test(test_same_external_id_from_two_sources_in_one_batch_is_two_cases),
        cmocka_unit_test(test_explicit_unspecified_channel_is_stored_as_system),
        cmocka_unit_test(test_one_key_from_three_sockets_at_once_is_one_case_answered_once),
        cmocka_unit_test(test_one_key_sent_to_two_intake_instances_at_once_is_one_case),
        cmocka_unit_test(test_the_promise_and_the_dedupe_window_are_the_site_policy),
        cmocka_unit_test(test_the_pub_carries_events_in_log_order_under_concurrent_submissions),
        cmocka_unit_test(test_the_counters_add_up),
        cmocka_unit_test(test_past_its_queue_intake_answers_at_once),
        cmocka_unit_test(test_commands_sent_together_are_applied_in_order_in_one_commit),
        cmocka_unit_test(test_a_command_sent_again_with_its_key_is_applied_once),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
