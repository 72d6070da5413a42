/* test_case_flow.c - a case's life over the wire: commands and their state machine, transfer, shift handover, lists. */
#include "harness.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUT_MS 10000

static cl_svc_t s_intake, s_disp;
static void *s_in;    /* DEALER to intake */
static void *s_dp;    /* DEALER to the dispatcher */

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
    s_in = cl_test_dealer(s_intake.router);
    s_dp = cl_test_dealer(s_disp.router);
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    cl_test_close(&s_in);
    cl_test_close(&s_dp);
    int a = cl_svc_stop(&s_disp, SIGTERM, 0), b = cl_svc_stop(&s_intake, SIGTERM, 0);
    return a == 0 && b == 0 ? 0 : -1;
}

/* Submits a case (kind repair unless kind given) received by receiver; returns its number. */
static uint64_t s_new_case(const char *site, const char *receiver, long n, int kind)
{
    Caseloop__V1__Case c;
    char id[32], contact[32], descr[64];
    cl_test_case(&c, site, "flow", id, sizeof id, n);
    snprintf(contact, sizeof contact, "1390000%05ld", n);
    snprintf(descr, sizeof descr, "case %ld of the flow test", n);
    c.customer_contact = contact;
    c.description = descr;
    c.first_receiver = (char *)receiver;
    if (kind)
        c.kind = (Caseloop__V1__Kind)kind;
    cl_env_t *reply = cl_test_submit(s_in, &c, TIMEOUT_MS);
    assert_non_null(reply);
    assert_int_equal(reply->body_case, CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY);
    uint64_t case_id = reply->submit_case_reply->case_id;
    cl_codec_free(reply);
    return case_id;
}

/* Waits (checking the database, up to 10 s) until case_id is dispatched. */
static void s_wait_dispatched(uint64_t case_id)
{
    cl_test_wait_scalar(1, 10000, "SELECT count(*) FROM dispatches WHERE case_id = %llu", (unsigned long long)case_id);
}

/* Sends a command; returns the reply (CaseCommandReply or Error). */
static cl_env_t *s_command(uint64_t case_id, Caseloop__V1__CaseAction action, const char *actor, const char *text,
                           int satisfied)
{
    return cl_test_command(s_in, case_id, action, actor, text, satisfied);
}

static void s_expect_state(uint64_t case_id, Caseloop__V1__CaseAction action, const char *actor, const char *text,
                           int satisfied, Caseloop__V1__CaseState state)
{
    cl_env_t *r = s_command(case_id, action, actor, text, satisfied);
    if (r->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR)
        fail_msg("refused: %s", r->error->message);
    assert_int_equal(r->case_command_reply->state, state);
    cl_codec_free(r);
}

static void s_expect_error(cl_env_t *r, cl_code_t code, const char *field, const char *words)
{
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_ERROR);
    assert_int_equal(r->error->code, code);
    assert_string_equal(r->error->field, field);
    if (words)
        assert_non_null(strstr(r->error->message, words));
    cl_codec_free(r);
}

#define A(x) CASELOOP__V1__CASE_ACTION__CASE_ACTION_##x
#define S(x) CASELOOP__V1__CASE_STATE__CASE_STATE_##x

static void test_a_case_goes_from_receipt_to_a_satisfied_customer(void **state)
{
    (void)state;
    uint64_t id = s_new_case("site-a", "cs1", 1, CASELOOP__V1__KIND__KIND_REPAIR);
    s_wait_dispatched(id);
    s_expect_state(id, A(ACKNOWLEDGE), "eng1", NULL, -1, S(ACKNOWLEDGED));
    s_expect_state(id, A(FIRST_CONTACT), "eng1", "will replace the pump seal tomorrow 10:00", -1, S(IN_PROGRESS));
    s_expect_state(id, A(PROGRESS), "eng1", "seal ordered", -1, S(IN_PROGRESS));
    s_expect_state(id, A(RESOLVE), "eng1", "seal replaced, no more noise", -1, S(RESOLVED));
    s_expect_state(id, A(REPORT_RESULT), "cs1", "still hears it at night", 0, S(RETURNED));
    s_expect_state(id, A(RESOLVE), "eng-sup", "pump mounts replaced too", -1, S(RESOLVED));
    s_expect_state(id, A(REPORT_RESULT), "cs1", "quiet now, thanks", 1, S(CLOSED));
    /* A command that does not fit says the state the case is in. */
    s_expect_error(s_command(id, A(RESOLVE), "eng1", "again", -1), CL_CONFLICT, "action", "closed");
    s_expect_state(id, A(REOPEN), "cs1", "noise is back", -1, S(REOPENED));

    char sql[400];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM cases WHERE id = %llu AND satisfied AND acknowledged_at IS NOT NULL"
                              " AND first_contact_at IS NOT NULL AND resolved_at IS NOT NULL AND closed_at IS NOT NULL",
             (unsigned long long)id);
    assert_int_equal(cl_test_scalar(sql), 1);

    /* The history tells it all, in order: who, what. */
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__GetCase q = CASELOOP__V1__GET_CASE__INIT;
    q.has_case_id = 1, q.case_id = id;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_GET_CASE;
    env.get_case = &q;
    cl_env_t *r = cl_test_call(s_in, &env, TIMEOUT_MS);
    assert_non_null(r);
    const Caseloop__V1__GetCaseReply *g = r->get_case_reply;
    assert_int_equal(g->details->first_receiver[0], 'c'); /* the first receiver stays: cs1 */
    assert_string_equal(g->details->first_receiver, "cs1");
    const char *types[] = {"CaseReceived", "CaseDispatched", "CaseAssigned", "CaseUpdated", "CaseUpdated",
                           "CaseUpdated",  "CaseUpdated",    "CaseUpdated",  "CaseUpdated", "CaseUpdated",
                           "CaseUpdated"};
    assert_int_equal(g->n_history, sizeof types / sizeof *types);
    for (size_t i = 0; i < g->n_history; i++) {
        assert_string_equal(g->history[i]->type, types[i]);
        if (i)
            assert_true(g->history[i]->position > g->history[i - 1]->position);
    }
    assert_string_equal(g->history[0]->actor, "cs1");
    assert_non_null(strstr(g->history[1]->text, "engineering"));
    assert_string_equal(g->history[4]->actor, "eng1");
    assert_non_null(strstr(g->history[4]->text, "pump seal"));
    assert_non_null(strstr(g->history[7]->text, "not satisfied"));
    cl_codec_free(r);
}

static void test_commands_that_do_not_fit_are_refused(void **state)
{
    (void)state;
    uint64_t id = s_new_case("site-a", "cs1", 2, CASELOOP__V1__KIND__KIND_COMPLAINT);
    s_wait_dispatched(id);
    s_expect_error(s_command(id, A(RESOLVE), "cs2", "done", -1), CL_CONFLICT, "action", "received");
    s_expect_error(s_command(id, A(CLOSE), "cs2", NULL, -1), CL_CONFLICT, "action", "received");
    s_expect_error(s_command(id, A(FIRST_CONTACT), "cs2", NULL, -1), CL_INVALID_ARGUMENT, "text", "plan");
    s_expect_error(s_command(id, A(ACKNOWLEDGE), NULL, NULL, -1), CL_INVALID_ARGUMENT, "actor", NULL);
    s_expect_error(s_command(987654, A(ACKNOWLEDGE), "cs2", NULL, -1), CL_NOT_FOUND, "case_id", NULL);
    s_expect_error(s_command(id, (Caseloop__V1__CaseAction)42, "cs2", NULL, -1), CL_INVALID_ARGUMENT, "action", NULL);
    /* A case of a site without a policy never reached a department: it cannot be acknowledged. */
    uint64_t lost = s_new_case("site-z", "cs1", 3, CASELOOP__V1__KIND__KIND_COMPLAINT);
    s_wait_dispatched(lost);
    s_expect_error(s_command(lost, A(ACKNOWLEDGE), "cs2", NULL, -1), CL_CONFLICT, "action", "department");
}

static cl_env_t *s_transfer(uint64_t id, const char *dept, const char *who)
{
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__TransferCase t = CASELOOP__V1__TRANSFER_CASE__INIT;
    t.has_case_id = 1, t.case_id = id;
    t.department = (char *)dept;
    t.assignee = (char *)who;
    t.actor = "cs-sup";
    t.reason = "belongs to security";
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_TRANSFER_CASE;
    env.transfer_case = &t;
    cl_env_t *r = cl_test_call(s_dp, &env, TIMEOUT_MS);
    assert_non_null(r);
    return r;
}

static void test_a_department_passes_a_case_on_instead_of_pushing_it_away(void **state)
{
    (void)state;
    uint64_t id = s_new_case("site-b", "cs1", 4, CASELOOP__V1__KIND__KIND_COMPLAINT);
    s_wait_dispatched(id);
    cl_env_t *r = s_transfer(id, "security", NULL);
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_TRANSFER_CASE_REPLY);
    assert_string_equal(r->transfer_case_reply->department, "security");
    assert_string_equal(r->transfer_case_reply->assignee, "sec1");
    cl_codec_free(r);
    r = s_transfer(id, NULL, "cs2"); /* to a person: their department comes along */
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_TRANSFER_CASE_REPLY);
    assert_string_equal(r->transfer_case_reply->department, "customer-service");
    cl_codec_free(r);
    char sql[400];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM dispatches WHERE case_id = %llu AND department = 'customer-service'"
                              " AND assignee = 'cs2'", (unsigned long long)id);
    assert_int_equal(cl_test_scalar(sql), 1);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM events WHERE case_id = %llu AND type = 'CaseTransferred'",
             (unsigned long long)id);
    assert_int_equal(cl_test_scalar(sql), 2);
    s_expect_error(s_transfer(id, "plumbing", NULL), CL_NOT_FOUND, "department", "plumbing");
    s_expect_error(s_transfer(id, "security", "cs2"), CL_INVALID_ARGUMENT, "assignee", NULL);
    s_expect_error(s_transfer(id, NULL, NULL), CL_INVALID_ARGUMENT, "department", NULL);
    s_expect_state(id, A(FIRST_CONTACT), "cs2", "call back at 3 pm", -1, S(IN_PROGRESS));
    s_expect_state(id, A(RESOLVE), "cs2", "explained", -1, S(RESOLVED));
    s_expect_error(s_transfer(id, "security", NULL), CL_CONFLICT, "case_id", "resolved");
}

static cl_env_t *s_handover(const char *from, const char *to)
{
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__HandOver h = CASELOOP__V1__HAND_OVER__INIT;
    h.site = "site-c";
    h.outgoing = (char *)from;
    h.incoming = (char *)to;
    h.note = "night shift";
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_HAND_OVER;
    env.hand_over = &h;
    cl_env_t *r = cl_test_call(s_dp, &env, TIMEOUT_MS);
    assert_non_null(r);
    return r;
}

static cl_env_t *s_list(Caseloop__V1__ListCases *q)
{
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_LIST_CASES;
    env.list_cases = q;
    cl_env_t *r = cl_test_call(s_in, &env, TIMEOUT_MS);
    assert_non_null(r);
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_LIST_CASES_REPLY);
    return r;
}

static void test_the_next_shift_takes_over_every_open_case(void **state)
{
    (void)state;
    /* The day desk (cs1) took five cases at site-c; one is closed already. */
    uint64_t ids[5];
    for (int i = 0; i < 5; i++) {
        ids[i] = s_new_case("site-c", "cs1", 10 + i, CASELOOP__V1__KIND__KIND_COMPLAINT);
        s_wait_dispatched(ids[i]);
    }
    s_expect_state(ids[0], A(FIRST_CONTACT), "cs2", "plan", -1, S(IN_PROGRESS));
    s_expect_state(ids[0], A(RESOLVE), "cs2", "done", -1, S(RESOLVED));
    s_expect_state(ids[0], A(REPORT_RESULT), "cs1", "fine", 1, S(CLOSED));

    cl_env_t *r = s_handover("cs1", "cs2");
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_HAND_OVER_REPLY);
    const Caseloop__V1__Handover *h = r->hand_over_reply->handover;
    assert_int_equal(h->n_case_ids, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(h->case_ids[i], ids[i + 1]);
    cl_codec_free(r);

    /* The incoming side lists what it took over, and now tracks it. */
    Caseloop__V1__ListCases q = CASELOOP__V1__LIST_CASES__INIT;
    q.site = "site-c";
    q.tracker = "cs2";
    r = s_list(&q);
    assert_int_equal(r->list_cases_reply->n_cases, 4);
    cl_codec_free(r);
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__ListHandovers lq = CASELOOP__V1__LIST_HANDOVERS__INIT;
    lq.site = "site-c";
    lq.incoming = "cs2";
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_LIST_HANDOVERS;
    env.list_handovers = &lq;
    r = cl_test_call(s_dp, &env, TIMEOUT_MS);
    assert_non_null(r);
    assert_int_equal(r->list_handovers_reply->n_handovers, 1);
    assert_int_equal(r->list_handovers_reply->handovers[0]->n_case_ids, 4);
    cl_codec_free(r);

    /* The outgoing desk has nothing left; the next shift hands over all four again. */
    r = s_handover("cs1", "cs-sup");
    assert_int_equal(r->hand_over_reply->handover->n_case_ids, 0);
    cl_codec_free(r);
    r = s_handover("cs2", "cs1");
    assert_int_equal(r->hand_over_reply->handover->n_case_ids, 4);
    cl_codec_free(r);
    s_expect_error(s_handover("cs1", "nobody"), CL_NOT_FOUND, "incoming", "nobody");

    /* The first receiver stays on the case whoever tracks it. */
    char sql[400];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM cases WHERE site = 'site-c' AND first_receiver = 'cs1'");
    assert_int_equal(cl_test_scalar(sql), 5);
}

static void test_lists_page_stably_while_cases_arrive(void **state)
{
    (void)state;
    for (int i = 0; i < 25; i++)
        s_new_case("site-a", "cs2", 100 + i, CASELOOP__V1__KIND__KIND_INQUIRY);
    long long total = cl_test_scalar("SELECT count(*) FROM cases WHERE site = 'site-a'");
    Caseloop__V1__ListCases q = CASELOOP__V1__LIST_CASES__INIT;
    q.site = "site-a";
    q.has_page_size = 1, q.page_size = 10;
    uint64_t seen = 0, last = UINT64_MAX;
    int pages = 0;
    for (;;) {
        cl_env_t *r = s_list(&q);
        const Caseloop__V1__ListCasesReply *lr = r->list_cases_reply;
        for (size_t i = 0; i < lr->n_cases; i++) {
            assert_true(lr->cases[i]->case_id < last); /* newest first, never twice */
            last = lr->cases[i]->case_id;
            seen++;
        }
        uint64_t next = lr->next_page;
        cl_codec_free(r);
        pages++;
        /* Cases arriving between pages do not disturb the pages to come. */
        s_new_case("site-a", "cs2", 200 + pages, CASELOOP__V1__KIND__KIND_INQUIRY);
        if (!next)
            break;
        q.has_page_after = 1, q.page_after = next;
    }
    assert_int_equal(seen, total);
    assert_true(pages >= 3);
    /* Filters: by kind and by the department queue. */
    Caseloop__V1__ListCases k = CASELOOP__V1__LIST_CASES__INIT;
    k.site = "site-a";
    k.has_kind = 1, k.kind = CASELOOP__V1__KIND__KIND_INQUIRY;
    k.has_page_size = 1, k.page_size = 500;
    cl_env_t *r = s_list(&k);
    assert_int_equal(r->list_cases_reply->n_cases,
                     cl_test_scalar("SELECT count(*) FROM cases WHERE site = 'site-a' AND kind = 3"));
    cl_codec_free(r);
    uint64_t queued = s_new_case("site-c", "cs1", 300, CASELOOP__V1__KIND__KIND_REPAIR);
    s_wait_dispatched(queued);
    Caseloop__V1__ListCases qq = CASELOOP__V1__LIST_CASES__INIT;
    qq.site = "site-c";
    qq.has_queued_only = 1, qq.queued_only = 1;
    r = s_list(&qq);
    assert_true(r->list_cases_reply->n_cases >= 1);
    assert_int_equal(r->list_cases_reply->cases[0]->case_id, queued);
    assert_string_equal(r->list_cases_reply->cases[0]->department, "engineering");
    assert_string_equal(r->list_cases_reply->cases[0]->assignee, "");
    cl_codec_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_case_goes_from_receipt_to_a_satisfied_customer),
        cmocka_unit_test(test_commands_that_do_not_fit_are_refused),
        cmocka_unit_test(test_a_department_passes_a_case_on_instead_of_pushing_it_away),
        cmocka_unit_test(test_the_next_shift_takes_over_every_open_case),
        cmocka_unit_test(test_lists_page_stably_while_cases_arrive),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
