/* main.c - caseloop: the command-line tool for operators and scripts. */
#include "cl.h"
#include "cl_client.h"
#include "cl_consumer.h"
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *router;
    const char *pub;
    const char *dispatcher;
    const char *escalation;
    int64_t timeout_ms;
} s_config_t;

static const cl_cfg_option_t s_options[] = {
    CL_CFG_STR("CL_INTAKE_ROUTER", s_config_t, router, "tcp://127.0.0.1:7101", "intake's request endpoint"),
    CL_CFG_STR("CL_INTAKE_PUB", s_config_t, pub, "tcp://127.0.0.1:7102", "intake's event endpoint"),
    CL_CFG_STR("CL_DISPATCHER_ROUTER", s_config_t, dispatcher, "tcp://127.0.0.1:7111", "the dispatcher's request endpoint"),
    CL_CFG_STR("CL_ESCALATION_ROUTER", s_config_t, escalation, "tcp://127.0.0.1:7121", "the escalation service's request endpoint"),
    CL_CFG_INT("CL_TIMEOUT_MS", s_config_t, timeout_ms, "5000", 1, 600000, "how long to wait for a reply"),
    {0},
};

static s_config_t s_cfg;
static void *s_zctx;
static void *s_dealer;
static volatile sig_atomic_t s_stop;

static const char s_usage[] =
    "usage: caseloop COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  submit ...              register a case (caseloop submit --help)\n"
    "  case show N             print case N with its reports and its history\n"
    "  case ACTION N ...       acknowledge, first-contact, progress, resolve, report-result, reopen,\n"
    "                          close or transfer case N (caseloop case --help)\n"
    "  cases --site S ...      list a site's cases, filtered and paged (caseloop cases --help)\n"
    "  shift handover ...      hand a shift's tracked cases over (caseloop shift --help)\n"
    "  events tail [--from P]  print events after position P (default: the newest) and follow\n"
    "  policy load FILE        load a site policy into the dispatcher (caseloop policy --help)\n"
    "  policy show --site S    print the policy in force for site S\n"
    "  clocks --case N         the response clocks of case N\n"
    "  breaches --site S       a site's breached clocks (--open: still breached)\n"
    "  stats [SERVICE]         intake's (or the dispatcher's, escalation's) counters; exits 1 when its database is down\n"
    "\n"
    "configuration, from the environment:\n";

static void s_help_env(FILE *out)
{
    for (const cl_cfg_option_t *o = s_options; o->name; o++)
        fprintf(out, "  %-22s %s (default: %s)\n", o->name, o->help, o->def);
}

static const char *s_endpoint; /* where requests go: intake unless a command says otherwise */

static int s_connect(void)
{
    cl_err_t err;
    s_zctx = zmq_ctx_new();
    s_dealer = cl_bus_open(s_zctx, ZMQ_DEALER, s_endpoint ? s_endpoint : s_cfg.router, false, &err);
    if (!s_dealer) {
        fprintf(stderr, "caseloop: %s\n", err.message);
        return -1;
    }
    return 0;
}

static void s_disconnect(void)
{
    cl_bus_close(&s_dealer);
    if (s_zctx)
        zmq_ctx_term(s_zctx);
    s_zctx = NULL;
}

/* Sends env, returns the reply, or prints the failure and returns NULL.
   An Error reply prints as "CODE field: message". */
static cl_env_t *s_call(cl_env_t *env)
{
    cl_err_t err;
    cl_err_clear(&err);
    cl_env_t *reply = cl_client_exchange(s_dealer, env, (int)s_cfg.timeout_ms, &err);
    if (!reply) {
        fprintf(stderr, "caseloop: %s %s (is the service running at %s?)\n", cl_err_code_name(err.code), err.message,
                s_endpoint ? s_endpoint : s_cfg.router);
        return NULL;
    }
    if (reply->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR) {
        const Caseloop__V1__Error *e = reply->error;
        fprintf(stderr, "caseloop: %s%s%s: %s\n", cl_err_code_name(e->code), *e->field ? " " : "", e->field,
                e->message);
        cl_codec_free(reply);
        return NULL;
    }
    return reply;
}

/* What a case was promised when its site's policy promised nothing. */
#define S_NO_PROMISE "(nothing promised: the site had no policy or no active promise clock)"

static const char *s_time(int64_t us, char *buf, size_t len)
{
    time_t t = (time_t)(us / CL_US_PER_S);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S %z", &tm);
    return buf;
}

/* The inverse of s_enum_name; returns -1 when no value has that name. */
static int s_enum_parse(const ProtobufCEnumDescriptor *d, const char *name)
{
    char buf[64];
    for (unsigned i = 0; i < d->n_values; i++)
        if (strcmp(cl_codec_enum_name(d, d->values[i].value, buf, sizeof buf), name) == 0 && d->values[i].value != 0)
            return d->values[i].value;
    return -1;
}

static void s_enum_list(FILE *out, const ProtobufCEnumDescriptor *d)
{
    char buf[64];
    for (unsigned i = 1; i < d->n_values; i++)
        fprintf(out, "%s%s", i > 1 ? "|" : "", cl_codec_enum_name(d, d->values[i].value, buf, sizeof buf));
}

/* Reads a local date and time ("2026-11-22 14:30", "2026-11-22T14:30:05",
   "2026-11-22") or whole seconds since 1970 into microseconds. Returns 0 or -1. */
static int s_parse_time(const char *text, int64_t *us)
{
    static const char *formats[] = {"%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M",
                                    "%Y-%m-%d"};
    for (size_t i = 0; i < sizeof formats / sizeof *formats; i++) {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *end = strptime(text, formats[i], &tm);
        if (end && *end == '\0') {
            tm.tm_isdst = -1;
            time_t t = mktime(&tm);
            if (t == (time_t)-1)
                return -1;
            *us = (int64_t)t * CL_US_PER_S;
            return 0;
        }
    }
    char *end;
    long long secs = strtoll(text, &end, 10);
    if (!*text || *end || secs < 0)
        return -1;
    *us = secs * CL_US_PER_S;
    return 0;
}

/* --- submit -------------------------------------------------------------------- */

static int s_case_number(const char *text, uint64_t *id)
{
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (!*text || *end || v == 0) {
        fprintf(stderr, "caseloop: \"%s\" is not a case number\n", text);
        return -1;
    }
    *id = v;
    return 0;
}

static void s_submit_usage(FILE *out)
{
    fprintf(out,
            "usage: caseloop submit --site S --description TEXT [--kind K] [options]\n"
            "register a case with intake and print its number and the promised answer time\n\n"
            "  --site S               site code (required)\n"
            "  --kind K               ");
    s_enum_list(out, &caseloop__v1__kind__descriptor);
    fprintf(out, " (default: the dispatcher classifies it)\n  --description TEXT     the problem (required)\n  --severity S           ");
    s_enum_list(out, &caseloop__v1__severity__descriptor);
    fprintf(out, " (default general)\n  --channel C            ");
    s_enum_list(out, &caseloop__v1__channel__descriptor);
    fprintf(out, "\n"
                 "  --customer-name N, --customer-contact C, --location L\n"
                 "  --occurred-at T        when it happened: YYYY-MM-DD[ HH:MM[:SS]] local time, or seconds since 1970\n"
                 "  --anonymous            the customer gave no identity\n"
                 "  --reply-letter-only    answer by letter, no callback\n"
                 "  --first-receiver R     who took the case\n"
                 "  --callback-of N        a new problem the customer raised in the callback of case N\n"
                 "  --source SYS --id ID   idempotency key (default: caseloop-cli and a fresh id)\n");
}

static int s_submit(int argc, char **argv)
{
    static const struct option opts[] = {
        {"site", 1, 0, 's'},          {"kind", 1, 0, 'k'},           {"description", 1, 0, 'd'},
        {"severity", 1, 0, 'v'},      {"channel", 1, 0, 'c'},        {"customer-name", 1, 0, 'n'},
        {"customer-contact", 1, 0, 'p'}, {"location", 1, 0, 'l'},    {"occurred-at", 1, 0, 'o'},
        {"anonymous", 0, 0, 'a'},     {"reply-letter-only", 0, 0, 'r'}, {"first-receiver", 1, 0, 'f'},
        {"source", 1, 0, 'S'},        {"id", 1, 0, 'I'},             {"callback-of", 1, 0, 'b'},
        {"help", 0, 0, 'h'},          {0, 0, 0, 0},
    };
    Caseloop__V1__Case c = CASELOOP__V1__CASE__INIT;
    char idbuf[CL_ID_MAX + 1];
    cl_codec_new_id(idbuf);
    c.external_source = "caseloop-cli";
    c.external_id = idbuf;
    int o, v;
    optind = 1;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 's': c.site = optarg; break;
        case 'd': c.description = optarg; break;
        case 'n': c.customer_name = optarg; break;
        case 'p': c.customer_contact = optarg; break;
        case 'l': c.location = optarg; break;
        case 'f': c.first_receiver = optarg; break;
        case 'S': c.external_source = optarg; break;
        case 'I': c.external_id = optarg; break;
        case 'a': c.has_anonymous = 1, c.anonymous = 1; break;
        case 'r': c.has_reply_letter_only = 1, c.reply_letter_only = 1; break;
        case 'b':
            if (s_case_number(optarg, &c.raised_in_callback_of) < 0)
                return 2;
            c.has_raised_in_callback_of = 1;
            break;
        case 'o':
            if (s_parse_time(optarg, &c.occurred_at_us) < 0) {
                fprintf(stderr, "caseloop submit: --occurred-at \"%s\" is not YYYY-MM-DD[ HH:MM[:SS]] (local time)"
                                " or seconds since 1970\n", optarg);
                return 2;
            }
            c.has_occurred_at_us = 1;
            break;
        case 'k':
        case 'v':
        case 'c': {
            const ProtobufCEnumDescriptor *d = o == 'k'   ? &caseloop__v1__kind__descriptor
                                               : o == 'v' ? &caseloop__v1__severity__descriptor
                                                          : &caseloop__v1__channel__descriptor;
            if ((v = s_enum_parse(d, optarg)) < 0) {
                fprintf(stderr, "caseloop submit: \"%s\" is not one of ", optarg);
                s_enum_list(stderr, d);
                fprintf(stderr, "\n");
                return 2;
            }
            if (o == 'k')
                c.has_kind = 1, c.kind = (Caseloop__V1__Kind)v;
            else if (o == 'v')
                c.has_severity = 1, c.severity = (Caseloop__V1__Severity)v;
            else
                c.has_channel = 1, c.channel = (Caseloop__V1__Channel)v;
            break;
        }
        case 'h': s_submit_usage(stdout); return 0;
        default: s_submit_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "caseloop submit: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    if (s_connect() < 0)
        return 1;
    cl_env_t env;
    char mid[CL_ID_MAX + 1];
    cl_codec_init(&env, mid, "caseloop-cli", cl_clock_now(cl_clock_real()));
    env.site = c.site;
    Caseloop__V1__SubmitCase body = CASELOOP__V1__SUBMIT_CASE__INIT;
    body.details = &c;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE;
    env.submit_case = &body;
    cl_env_t *reply = s_call(&env);
    int rc = 1;
    if (reply && reply->body_case == CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY) {
        const Caseloop__V1__SubmitCaseReply *r = reply->submit_case_reply;
        char t[64], o2[32];
        printf("case %" PRIu64 " %s; reports %" PRIu32 "; customer hears back by %s\n", r->case_id,
               cl_codec_enum_name(&caseloop__v1__submit_outcome__descriptor, r->outcome, o2, sizeof o2), r->report_count,
               r->has_respond_by_us ? s_time(r->respond_by_us, t, sizeof t) : S_NO_PROMISE);
        rc = 0;
    } else {
        fprintf(stderr, "caseloop submit: to try again without risk of a second case, use the same key:"
                        " --source %s --id %s\n", c.external_source, c.external_id);
    }
    cl_codec_free(reply);
    s_disconnect();
    return rc;
}

/* --- case show ------------------------------------------------------------------ */

static int s_case_show(int argc, char **argv)
{
    bool help = (argc >= 2 && strcmp(argv[argc - 1], "--help") == 0);
    if (help || argc != 3 || strcmp(argv[1], "show") != 0) {
        fprintf(help ? stdout : stderr,
                "usage: caseloop case show N\nprint case N: its fields, each further report of the same problem, and\n"
                "its whole history in order: when, who, what\n");
        return help ? 0 : 2;
    }
    char *end;
    unsigned long long id = strtoull(argv[2], &end, 10);
    if (*end || id == 0) {
        fprintf(stderr, "caseloop case show: \"%s\" is not a case number\n", argv[2]);
        return 2;
    }
    if (s_connect() < 0)
        return 1;
    cl_env_t env;
    char mid[CL_ID_MAX + 1];
    cl_codec_init(&env, mid, "caseloop-cli", cl_clock_now(cl_clock_real()));
    Caseloop__V1__GetCase body = CASELOOP__V1__GET_CASE__INIT;
    body.has_case_id = 1, body.case_id = id;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_GET_CASE;
    env.get_case = &body;
    cl_env_t *reply = s_call(&env);
    int rc = 1;
    if (reply && reply->body_case == CASELOOP__V1__ENVELOPE__BODY_GET_CASE_REPLY) {
        const Caseloop__V1__Case *c = reply->get_case_reply->details;
        char t[64], e[64];
        printf("case %" PRIu64 "\n", c->case_id);
        printf("  site:            %s\n", c->site);
        printf("  state:           %s\n", cl_codec_enum_name(&caseloop__v1__case_state__descriptor, c->state, e, sizeof e));
        printf("  kind:            %s\n", cl_codec_enum_name(&caseloop__v1__kind__descriptor, c->kind, e, sizeof e));
        printf("  severity:        %s\n", cl_codec_enum_name(&caseloop__v1__severity__descriptor, c->severity, e, sizeof e));
        printf("  channel:         %s\n", cl_codec_enum_name(&caseloop__v1__channel__descriptor, c->channel, e, sizeof e));
        printf("  customer:        %s%s%s%s\n", c->anonymous ? "(anonymous) " : "", c->customer_name,
               *c->customer_contact ? ", " : "", c->customer_contact);
        printf("  location:        %s\n", c->location);
        printf("  description:     %s\n", c->description);
        if (c->has_occurred_at_us)
            printf("  occurred at:     %s\n", s_time(c->occurred_at_us, t, sizeof t));
        printf("  received at:     %s\n", s_time(c->received_at_us, t, sizeof t));
        printf("  respond by:      %s\n", c->has_respond_by_us ? s_time(c->respond_by_us, t, sizeof t) : S_NO_PROMISE);
        printf("  first receiver:  %s\n", c->first_receiver);
        printf("  reply letter:    %s\n", c->reply_letter_only ? "only" : "no");
        if (c->has_raised_in_callback_of)
            printf("  raised in the callback of case %" PRIu64 "\n", c->raised_in_callback_of);
        printf("  submitted as:    %s / %s\n", c->external_source, c->external_id);
        printf("  reports:         %" PRIu32 "\n", c->report_count);
        for (size_t i = 0; i < reply->get_case_reply->n_reports; i++) {
            const Caseloop__V1__Report *r = reply->get_case_reply->reports[i];
            printf("  report %" PRIu64 " at %s via %s: %s%s%s: %s\n", r->report_id,
                   s_time(r->received_at_us, t, sizeof t),
                   cl_codec_enum_name(&caseloop__v1__channel__descriptor, r->channel, e, sizeof e), r->customer_name,
                   *r->customer_contact ? ", " : "", r->customer_contact, r->description);
        }
        printf("history:\n");
        for (size_t i = 0; i < reply->get_case_reply->n_history; i++) {
            const Caseloop__V1__HistoryEntry *h = reply->get_case_reply->history[i];
            printf("  %s  %-14s %s\n", s_time(h->at_us, t, sizeof t), h->actor, h->text);
        }
        rc = 0;
    }
    cl_codec_free(reply);
    s_disconnect();
    return rc;
}

/* --- case actions, transfer -------------------------------------------------------- */

static const struct {
    const char *name;
    Caseloop__V1__CaseAction action;
    const char *help;
} s_actions[] = {
    {"acknowledge", CASELOOP__V1__CASE_ACTION__CASE_ACTION_ACKNOWLEDGE, "the department has the feedback form"},
    {"first-contact", CASELOOP__V1__CASE_ACTION__CASE_ACTION_FIRST_CONTACT, "the customer was contacted; --text is the plan"},
    {"progress", CASELOOP__V1__CASE_ACTION__CASE_ACTION_PROGRESS, "a progress note in --text"},
    {"resolve", CASELOOP__V1__CASE_ACTION__CASE_ACTION_RESOLVE, "the result, in --text"},
    {"report-result", CASELOOP__V1__CASE_ACTION__CASE_ACTION_REPORT_RESULT,
     "the customer was told: --satisfied or --not-satisfied, their words in --text"},
    {"reopen", CASELOOP__V1__CASE_ACTION__CASE_ACTION_REOPEN, "open a resolved or closed case again"},
    {"close", CASELOOP__V1__CASE_ACTION__CASE_ACTION_CLOSE, "close a resolved case the customer cannot be told of"},
    {"wait-for-customer", CASELOOP__V1__CASE_ACTION__CASE_ACTION_WAIT_FOR_CUSTOMER,
     "the case waits on the customer (--text: what for); clocks that pause on it stop"},
    {"resume", CASELOOP__V1__CASE_ACTION__CASE_ACTION_RESUME, "the customer answered; paused clocks count again"},
    {"answer", CASELOOP__V1__CASE_ACTION__CASE_ACTION_ANSWER,
     "reception gave the customer a first answer (--text); meets C1"},
};

static void s_case_usage(FILE *out)
{
    fprintf(out, "usage: caseloop case show N\n"
                 "       caseloop case ACTION N --actor WHO [--text T] [--satisfied|--not-satisfied] [--signed]\n"
                 "       caseloop case transfer N --actor WHO [--department D] [--assignee X] [--reason R]\n"
                 "actions:\n");
    for (size_t i = 0; i < sizeof s_actions / sizeof *s_actions; i++)
        fprintf(out, "  %-18s %s\n", s_actions[i].name, s_actions[i].help);
    fprintf(out, "  %-18s move it to another department or person (the dispatcher picks the person\n"
                 "                     when only --department is given)\n", "transfer");
}

static int s_case_action(int argc, char **argv)
{
    static const struct option opts[] = {{"actor", 1, 0, 'a'},         {"text", 1, 0, 't'},
                                         {"satisfied", 0, 0, 's'},     {"not-satisfied", 0, 0, 'n'},
                                         {"signed", 0, 0, 'g'},        {"department", 1, 0, 'd'},
                                         {"assignee", 1, 0, 'x'},      {"reason", 1, 0, 'r'},
                                         {"help", 0, 0, 'h'},          {0, 0, 0, 0}};
    const char *verb = argv[1];
    bool transfer = strcmp(verb, "transfer") == 0;
    int action = -1;
    for (size_t i = 0; i < sizeof s_actions / sizeof *s_actions; i++)
        if (strcmp(verb, s_actions[i].name) == 0)
            action = (int)s_actions[i].action;
    if (action < 0 && !transfer) {
        s_case_usage(stderr);
        return 2;
    }
    Caseloop__V1__CaseCommand cmd = CASELOOP__V1__CASE_COMMAND__INIT;
    Caseloop__V1__TransferCase tr = CASELOOP__V1__TRANSFER_CASE__INIT;
    int o;
    optind = 1;
    argc--, argv++;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'a': cmd.actor = tr.actor = optarg; break;
        case 't': cmd.text = optarg; break;
        case 'r': tr.reason = cmd.text = optarg; break;
        case 's': cmd.has_satisfied = 1, cmd.satisfied = 1; break;
        case 'n': cmd.has_satisfied = 1, cmd.satisfied = 0; break;
        case 'g': cmd.has_signed_ = 1, cmd.signed_ = 1; break;
        case 'd': tr.department = optarg; break;
        case 'x': tr.assignee = optarg; break;
        case 'h': s_case_usage(stdout); return 0;
        default: s_case_usage(stderr); return 2;
        }
    }
    uint64_t id;
    if (optind != argc - 1 || s_case_number(argv[optind], &id) < 0) {
        s_case_usage(stderr);
        return 2;
    }
    cl_env_t env;
    char mid[CL_ID_MAX + 1];
    cl_codec_init(&env, mid, "caseloop-cli", cl_clock_now(cl_clock_real()));
    if (transfer) {
        s_endpoint = s_cfg.dispatcher;
        tr.has_case_id = 1, tr.case_id = id;
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_TRANSFER_CASE;
        env.transfer_case = &tr;
    } else {
        cmd.has_case_id = 1, cmd.case_id = id;
        cmd.has_action = 1, cmd.action = (Caseloop__V1__CaseAction)action;
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND;
        env.case_command = &cmd;
    }
    int rc = 1;
    cl_env_t *reply = s_connect() == 0 ? s_call(&env) : NULL;
    char e[32];
    if (reply && reply->body_case == CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND_REPLY) {
        printf("case %" PRIu64 " is %s\n", id,
               cl_codec_enum_name(&caseloop__v1__case_state__descriptor, reply->case_command_reply->state, e, sizeof e));
        rc = 0;
    } else if (reply && reply->body_case == CASELOOP__V1__ENVELOPE__BODY_TRANSFER_CASE_REPLY) {
        const Caseloop__V1__TransferCaseReply *r = reply->transfer_case_reply;
        if (r->queued)
            printf("case %" PRIu64 " moved to %s; it waits on the queue: nobody is on shift\n", id, r->department);
        else
            printf("case %" PRIu64 " moved to %s, assigned to %s\n", id, r->department, r->assignee);
        rc = 0;
    }
    cl_codec_free(reply);
    s_disconnect();
    return rc;
}

static int s_case(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "show") == 0)
        return s_case_show(argc, argv);
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        s_case_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    return s_case_action(argc, argv);
}

/* --- cases ------------------------------------------------------------------------- */

static void s_cases_usage(FILE *out)
{
    fprintf(out, "usage: caseloop cases --site S [--state STATE|--open] [--department D] [--assignee X]\n"
                 "                      [--tracker T] [--queue] [--kind K] [--severity S] [--since TIME]\n"
                 "                      [--before TIME] [--page-size N] [--page-after N]\n"
                 "list a site's cases, newest first, a page at a time; --queue lists the department\n"
                 "queue (dispatched, nobody on shift to take it); a last line \"next page: --page-after N\"\n"
                 "says how to go on; TIME is YYYY-MM-DD[ HH:MM[:SS]] (local time) or seconds since 1970\n");
}

static int s_cases(int argc, char **argv)
{
    static const struct option opts[] = {
        {"site", 1, 0, 's'},     {"state", 1, 0, 'S'},      {"open", 0, 0, 'o'},      {"department", 1, 0, 'd'},
        {"assignee", 1, 0, 'a'}, {"tracker", 1, 0, 't'},    {"queue", 0, 0, 'q'},     {"kind", 1, 0, 'k'},
        {"severity", 1, 0, 'v'}, {"since", 1, 0, 'f'},      {"before", 1, 0, 'b'},    {"page-size", 1, 0, 'n'},
        {"page-after", 1, 0, 'p'}, {"help", 0, 0, 'h'},     {0, 0, 0, 0}};
    Caseloop__V1__ListCases q = CASELOOP__V1__LIST_CASES__INIT;
    int o, v;
    optind = 1;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 's': q.site = optarg; break;
        case 'o': q.has_open_only = 1, q.open_only = 1; break;
        case 'd': q.department = optarg; break;
        case 'a': q.assignee = optarg; break;
        case 't': q.tracker = optarg; break;
        case 'q': q.has_queued_only = 1, q.queued_only = 1; break;
        case 'f':
        case 'b': {
            int64_t us;
            if (s_parse_time(optarg, &us) < 0) {
                fprintf(stderr, "caseloop cases: --%s \"%s\" is not YYYY-MM-DD[ HH:MM[:SS]] (local time) or seconds"
                                " since 1970\n", o == 'f' ? "since" : "before", optarg);
                return 2;
            }
            if (o == 'f')
                q.has_received_from_us = 1, q.received_from_us = us;
            else
                q.has_received_to_us = 1, q.received_to_us = us;
            break;
        }
        case 'n':
        case 'p': {
            char *end;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (!*optarg || *end || v == 0 || (o == 'n' && v > 500)) {
                fprintf(stderr, "caseloop cases: --%s \"%s\" is not %s\n", o == 'n' ? "page-size" : "page-after",
                        optarg, o == 'n' ? "a number 1..500" : "a case number");
                return 2;
            }
            if (o == 'n')
                q.has_page_size = 1, q.page_size = (uint32_t)v;
            else
                q.has_page_after = 1, q.page_after = v;
            break;
        }
        case 'S':
        case 'k':
        case 'v': {
            const ProtobufCEnumDescriptor *d = o == 'S'   ? &caseloop__v1__case_state__descriptor
                                               : o == 'k' ? &caseloop__v1__kind__descriptor
                                                          : &caseloop__v1__severity__descriptor;
            /* "in progress" and "in_progress" both read */
            char name[64];
            snprintf(name, sizeof name, "%s", optarg);
            for (char *c = name; *c; c++)
                if (*c == ' ' || *c == '-')
                    *c = '_';
            if (strcmp(name, "open") == 0 && o == 'S') {
                q.has_open_only = 1, q.open_only = 1;
                break;
            }
            if ((v = s_enum_parse(d, name)) < 0) {
                fprintf(stderr, "caseloop cases: \"%s\" is not one of ", optarg);
                s_enum_list(stderr, d);
                fprintf(stderr, "\n");
                return 2;
            }
            if (o == 'S')
                q.has_state = 1, q.state = (Caseloop__V1__CaseState)v;
            else if (o == 'k')
                q.has_kind = 1, q.kind = (Caseloop__V1__Kind)v;
            else
                q.has_severity = 1, q.severity = (Caseloop__V1__Severity)v;
            break;
        }
        case 'h': s_cases_usage(stdout); return 0;
        default: s_cases_usage(stderr); return 2;
        }
    }
    if (!q.site || optind < argc) {
        s_cases_usage(stderr);
        return 2;
    }
    cl_env_t env;
    char mid[CL_ID_MAX + 1];
    cl_codec_init(&env, mid, "caseloop-cli", cl_clock_now(cl_clock_real()));
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_LIST_CASES;
    env.list_cases = &q;
    int rc = 1;
    cl_env_t *reply = s_connect() == 0 ? s_call(&env) : NULL;
    if (reply && reply->body_case == CASELOOP__V1__ENVELOPE__BODY_LIST_CASES_REPLY) {
        const Caseloop__V1__ListCasesReply *r = reply->list_cases_reply;
        printf("%-8s %-12s %-10s %-9s %-16s %-14s %-12s %s\n", "case", "state", "kind", "severity", "department",
               "assignee", "tracker", "description");
        for (size_t i = 0; i < r->n_cases; i++) {
            const Caseloop__V1__CaseSummary *c = r->cases[i];
            char st[32], k[32], sv[32];
            printf("%-8" PRIu64 " %-12s %-10s %-9s %-16s %-14s %-12s %s\n", c->case_id,
                   cl_codec_enum_name(&caseloop__v1__case_state__descriptor, c->state, st, sizeof st),
                   cl_codec_enum_name(&caseloop__v1__kind__descriptor, c->kind, k, sizeof k),
                   cl_codec_enum_name(&caseloop__v1__severity__descriptor, c->severity, sv, sizeof sv),
                   *c->department ? c->department : "-", *c->assignee ? c->assignee : "-",
                   *c->tracker ? c->tracker : "-", c->description);
        }
        if (r->next_page)
            printf("next page: --page-after %" PRIu64 "\n", r->next_page);
        rc = 0;
    }
    cl_codec_free(reply);
    s_disconnect();
    return rc;
}

/* --- shift ---------------------------------------------------------------------------- */

static void s_shift_usage(FILE *out)
{
    fprintf(out, "usage: caseloop shift handover --site S --from OUTGOING --to INCOMING [--note N]\n"
                 "       caseloop shift list --site S [--to INCOMING] [--limit N]\n"
                 "handover records every open case OUTGOING tracks and passes them to INCOMING (R-CL-4);\n"
                 "list shows the handovers, newest first, with the cases each took over\n");
}

static void s_print_handover(const Caseloop__V1__Handover *h)
{
    char t[64], st[32];
    printf("handover %" PRIu64 " at %s: %s -> %s, %zu case(s)%s%s\n", h->handover_id, s_time(h->at_us, t, sizeof t),
           h->outgoing, h->incoming, h->n_case_ids, h->note && *h->note ? "; note: " : "", h->note ? h->note : "");
    for (size_t i = 0; i < h->n_case_ids; i++)
        printf("  case %" PRIu64 " (%s)\n", h->case_ids[i],
               cl_codec_enum_name(&caseloop__v1__case_state__descriptor, i < h->n_states ? h->states[i] : 0, st,
                                  sizeof st));
}

static int s_shift(int argc, char **argv)
{
    static const struct option opts[] = {{"site", 1, 0, 's'}, {"from", 1, 0, 'f'}, {"to", 1, 0, 't'},
                                         {"note", 1, 0, 'n'}, {"limit", 1, 0, 'l'}, {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    if (argc < 2 || (strcmp(argv[1], "handover") != 0 && strcmp(argv[1], "list") != 0)) {
        bool help = argc >= 2 && strcmp(argv[1], "--help") == 0;
        s_shift_usage(help ? stdout : stderr);
        return help ? 0 : 2;
    }
    bool handover = strcmp(argv[1], "handover") == 0;
    const char *site = NULL, *from = NULL, *to = NULL, *note = NULL;
    uint32_t limit = 10;
    int o;
    optind = 1;
    argc--, argv++;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 's': site = optarg; break;
        case 'f': from = optarg; break;
        case 't': to = optarg; break;
        case 'n': note = optarg; break;
        case 'l': limit = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'h': s_shift_usage(stdout); return 0;
        default: s_shift_usage(stderr); return 2;
        }
    }
    if (!site || optind < argc || (handover && (!from || !to))) {
        s_shift_usage(stderr);
        return 2;
    }
    s_endpoint = s_cfg.dispatcher;
    cl_env_t env;
    char mid[CL_ID_MAX + 1];
    cl_codec_init(&env, mid, "caseloop-cli", cl_clock_now(cl_clock_real()));
    Caseloop__V1__HandOver h = CASELOOP__V1__HAND_OVER__INIT;
    Caseloop__V1__ListHandovers l = CASELOOP__V1__LIST_HANDOVERS__INIT;
    if (handover) {
        h.site = (char *)site, h.outgoing = (char *)from, h.incoming = (char *)to, h.note = (char *)note;
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_HAND_OVER;
        env.hand_over = &h;
    } else {
        l.site = (char *)site, l.incoming = (char *)to;
        l.has_limit = 1, l.limit = limit;
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_LIST_HANDOVERS;
        env.list_handovers = &l;
    }
    int rc = 1;
    cl_env_t *reply = s_connect() == 0 ? s_call(&env) : NULL;
    if (reply && reply->body_case == CASELOOP__V1__ENVELOPE__BODY_HAND_OVER_REPLY) {
        s_print_handover(reply->hand_over_reply->handover);
        rc = 0;
    } else if (reply && reply->body_case == CASELOOP__V1__ENVELOPE__BODY_LIST_HANDOVERS_REPLY) {
        for (size_t i = 0; i < reply->list_handovers_reply->n_handovers; i++)
            s_print_handover(reply->list_handovers_reply->handovers[i]);
        if (reply->list_handovers_reply->n_handovers == 0)
            printf("no handovers\n");
        rc = 0;
    }
    cl_codec_free(reply);
    s_disconnect();
    return rc;
}

/* --- events tail ------------------------------------------------------------------ */

static int s_print_event(void *arg, const cl_env_t *ev)
{
    (void)arg;
    char t[64], line[1024];
    const char *actor;
    cl_event_describe(ev, line, sizeof line, &actor);
    int64_t case_id = 0;
    switch (ev->body_case) {
    case CASELOOP__V1__ENVELOPE__BODY_CASE_RECEIVED: case_id = (int64_t)ev->case_received->details->case_id; break;
    case CASELOOP__V1__ENVELOPE__BODY_CASE_REPORT_ATTACHED: case_id = (int64_t)ev->case_report_attached->report->case_id; break;
    case CASELOOP__V1__ENVELOPE__BODY_CASE_DISPATCHED: case_id = (int64_t)ev->case_dispatched->case_id; break;
    case CASELOOP__V1__ENVELOPE__BODY_CASE_ASSIGNED: case_id = (int64_t)ev->case_assigned->case_id; break;
    case CASELOOP__V1__ENVELOPE__BODY_CASE_UPDATED: case_id = (int64_t)ev->case_updated->case_id; break;
    case CASELOOP__V1__ENVELOPE__BODY_CASE_TRANSFERRED: case_id = (int64_t)ev->case_transferred->case_id; break;
    case CASELOOP__V1__ENVELOPE__BODY_CLOCK_ARMED: case_id = (int64_t)ev->clock_armed->clock->case_id; break;
    case CASELOOP__V1__ENVELOPE__BODY_CLOCK_WARNING: case_id = (int64_t)ev->clock_warning->clock->case_id; break;
    case CASELOOP__V1__ENVELOPE__BODY_CLOCK_MET: case_id = (int64_t)ev->clock_met->clock->case_id; break;
    case CASELOOP__V1__ENVELOPE__BODY_CLOCK_BREACHED: case_id = (int64_t)ev->clock_breached->clock->case_id; break;
    case CASELOOP__V1__ENVELOPE__BODY_ESCALATION_RAISED: case_id = (int64_t)ev->escalation_raised->clock->case_id; break;
    case CASELOOP__V1__ENVELOPE__BODY_CALLBACK_MADE: case_id = (int64_t)ev->callback_made->case_id; break;
    case CASELOOP__V1__ENVELOPE__BODY_CALLBACK_RECORDED: case_id = (int64_t)ev->callback_recorded->case_id; break;
    default: break;
    }
    printf("%" PRIu64 "\t%s\t%s\t%s\t", ev->position, s_time(ev->sent_at_us, t, sizeof t), cl_codec_body_name(ev),
           ev->site ? ev->site : "");
    if (case_id)
        printf("case %" PRId64 "\t", case_id);
    printf("%s%s%s\n", *actor ? actor : "", *actor ? ": " : "", line);
    fflush(stdout);
    return 0;
}

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static int s_events_tail(int argc, char **argv)
{
    static const struct option opts[] = {{"from", 1, 0, 'f'}, {"no-follow", 0, 0, 'n'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int64_t from = -1;
    bool follow = true;
    int o;
    optind = 1;
    if (argc < 2 || strcmp(argv[1], "tail") != 0) {
        fprintf(stderr, "usage: caseloop events tail [--from POS] [--no-follow]\n");
        return 2;
    }
    argc--, argv++;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'f': {
            char *end;
            from = strtoll(optarg, &end, 10);
            if (!*optarg || *end || from < 0) {
                fprintf(stderr, "caseloop events tail: --from \"%s\" is not a position (0, 1, 2, ...)\n", optarg);
                return 2;
            }
            break;
        }
        case 'n': follow = false; break;
        case 'h':
            printf("usage: caseloop events tail [--from POS] [--no-follow]\n"
                   "print events after position POS (default: only new ones), one a line:\n"
                   "position, time, type, site, details; then follow live events until Ctrl-C,\n"
                   "reading any that the live feed missed from the log\n");
            return 0;
        default: return 2;
        }
    }
    cl_err_t err;
    cl_err_clear(&err);
    cl_client_t *intake = cl_client_new(NULL, s_cfg.router, "caseloop-cli", &err);
    cl_consumer_t *c = NULL;
    if (intake)
        c = cl_consumer_new(intake, s_cfg.pub, from < 0 ? CL_CONSUMER_FROM_HEAD : (uint64_t)from,
                            (int)s_cfg.timeout_ms, s_print_event, NULL, &err);
    int rc = c && cl_consumer_catch_up(c, &err) == 0 ? 0 : 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    while (rc == 0 && follow && !s_stop) {
        if (cl_consumer_poll(c, 500, &err) < 0)
            rc = 1;
    }
    if (rc)
        fprintf(stderr, "caseloop: %s%s%s: %s\n", cl_err_code_name(err.code), *err.field ? " " : "", err.field,
                err.message);
    cl_consumer_destroy(&c);
    cl_client_destroy(&intake);
    return rc;
}

/* --- policy ---------------------------------------------------------------------- */

static const char s_policy_usage[] =
    "usage: caseloop policy load FILE\n"
    "       caseloop policy show --site S\n"
    "load a site policy document (JSON, see deploy/policy/README.md) into the dispatcher as\n"
    "the next version, or print the version in force for a site; a refused document\n"
    "changes nothing and the error names the line or field\n";

static int s_policy_load(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "caseloop policy load: cannot open \"%s\": %s\n", path, strerror(errno));
        return 1;
    }
    cl_buf_t doc = {0};
    char chunk[8192];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
        cl_buf_append(&doc, chunk, got);
    fclose(f);
    cl_buf_append(&doc, "", 0);
    const char *base = strrchr(path, '/');
    cl_env_t env;
    char mid[CL_ID_MAX + 1];
    cl_codec_init(&env, mid, "caseloop-cli", cl_clock_now(cl_clock_real()));
    Caseloop__V1__LoadPolicy body = CASELOOP__V1__LOAD_POLICY__INIT;
    body.document = doc.data;
    body.source = (char *)(base ? base + 1 : path);
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_LOAD_POLICY;
    env.load_policy = &body;
    int rc = 1;
    cl_env_t *reply = s_connect() == 0 ? s_call(&env) : NULL;
    if (reply && reply->body_case == CASELOOP__V1__ENVELOPE__BODY_LOAD_POLICY_REPLY) {
        const Caseloop__V1__LoadPolicyReply *r = reply->load_policy_reply;
        printf("policy version %" PRIu32 " loaded from %s; sites:", r->version, body.source);
        for (size_t i = 0; i < r->n_sites; i++)
            printf(" %s", r->sites[i]);
        printf("\n");
        rc = 0;
    }
    cl_codec_free(reply);
    cl_buf_free(&doc);
    s_disconnect();
    return rc;
}

static int s_policy_show(const char *site)
{
    cl_env_t env;
    char mid[CL_ID_MAX + 1];
    cl_codec_init(&env, mid, "caseloop-cli", cl_clock_now(cl_clock_real()));
    Caseloop__V1__GetPolicy body = CASELOOP__V1__GET_POLICY__INIT;
    body.site = (char *)site;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_GET_POLICY;
    env.get_policy = &body;
    int rc = 1;
    cl_env_t *reply = s_connect() == 0 ? s_call(&env) : NULL;
    if (reply && reply->body_case == CASELOOP__V1__ENVELOPE__BODY_GET_POLICY_REPLY) {
        const Caseloop__V1__GetPolicyReply *r = reply->get_policy_reply;
        char t[64];
        printf("site %s: policy version %" PRIu32 ", loaded %s from %s\n%s\n", site, r->version,
               s_time(r->loaded_at_us, t, sizeof t), r->source, r->document);
        rc = 0;
    }
    cl_codec_free(reply);
    s_disconnect();
    return rc;
}

static int s_policy(int argc, char **argv)
{
    s_endpoint = s_cfg.dispatcher;
    if (argc >= 2 && strcmp(argv[argc - 1], "--help") == 0) {
        fputs(s_policy_usage, stdout);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "load") == 0)
        return s_policy_load(argv[2]);
    if (argc == 4 && strcmp(argv[1], "show") == 0 && strcmp(argv[2], "--site") == 0)
        return s_policy_show(argv[3]);
    fputs(s_policy_usage, stderr);
    return 2;
}

/* --- clocks ----------------------------------------------------------------------------- */

static void s_print_clock(const Caseloop__V1__Clock *c)
{
    char a[64], d[64], p[64], st[32];
    printf("case %-7" PRIu64 " %-3s %-10s armed %s  due %s  level %" PRIu32 "%s%s%s%s  %s\n", c->case_id, c->code,
           cl_codec_enum_name(&caseloop__v1__clock_state__descriptor, c->state, st, sizeof st),
           s_time(c->armed_at_us, a, sizeof a), s_time(c->due_at_us, d, sizeof d), c->level,
           c->responsible && *c->responsible ? ", now " : "", c->responsible ? c->responsible : "",
           c->has_paused_at_us ? ", waiting on the customer since " : "",
           c->has_paused_at_us ? s_time(c->paused_at_us, p, sizeof p) : "", c->name);
}

static int s_clocks(int argc, char **argv, bool breaches)
{
    static const struct option opts[] = {{"case", 1, 0, 'c'}, {"site", 1, 0, 's'}, {"open", 0, 0, 'o'},
                                         {"limit", 1, 0, 'l'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *usage = breaches ? "usage: caseloop breaches --site S [--open] [--limit N]\n"
                                   "list a site's breached clocks, newest first; --open: only those still breached\n"
                                 : "usage: caseloop clocks --case N\nlist the response clocks of case N\n";
    uint64_t case_id = 0;
    const char *site = NULL;
    bool open_only = false;
    uint32_t limit = 50;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            if (s_case_number(optarg, &case_id) < 0)
                return 2;
            break;
        case 's': site = optarg; break;
        case 'o': open_only = true; break;
        case 'l': limit = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind < argc || (breaches ? !site : !case_id)) {
        fputs(usage, stderr);
        return 2;
    }
    s_endpoint = s_cfg.escalation;
    cl_env_t env;
    char mid[CL_ID_MAX + 1];
    cl_codec_init(&env, mid, "caseloop-cli", cl_clock_now(cl_clock_real()));
    Caseloop__V1__GetClocks g = CASELOOP__V1__GET_CLOCKS__INIT;
    Caseloop__V1__ListBreaches b = CASELOOP__V1__LIST_BREACHES__INIT;
    if (breaches) {
        b.site = (char *)site;
        b.has_open_only = 1, b.open_only = open_only;
        b.has_limit = 1, b.limit = limit;
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_LIST_BREACHES;
        env.list_breaches = &b;
    } else {
        g.has_case_id = 1, g.case_id = case_id;
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_GET_CLOCKS;
        env.get_clocks = &g;
    }
    int rc = 1;
    cl_env_t *reply = s_connect() == 0 ? s_call(&env) : NULL;
    if (reply && reply->body_case == CASELOOP__V1__ENVELOPE__BODY_GET_CLOCKS_REPLY) {
        for (size_t i = 0; i < reply->get_clocks_reply->n_clocks; i++)
            s_print_clock(reply->get_clocks_reply->clocks[i]);
        if (!reply->get_clocks_reply->n_clocks)
            printf("no clocks\n");
        rc = 0;
    } else if (reply && reply->body_case == CASELOOP__V1__ENVELOPE__BODY_LIST_BREACHES_REPLY) {
        for (size_t i = 0; i < reply->list_breaches_reply->n_clocks; i++)
            s_print_clock(reply->list_breaches_reply->clocks[i]);
        if (!reply->list_breaches_reply->n_clocks)
            printf("no breaches\n");
        rc = 0;
    }
    cl_codec_free(reply);
    s_disconnect();
    return rc;
}

/* --- stats ------------------------------------------------------------------------ */

static int s_stats(void)
{
    if (s_connect() < 0)
        return 1;
    cl_env_t env;
    char mid[CL_ID_MAX + 1];
    cl_codec_init(&env, mid, "caseloop-cli", cl_clock_now(cl_clock_real()));
    Caseloop__V1__GetStats body = CASELOOP__V1__GET_STATS__INIT;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_GET_STATS;
    env.get_stats = &body;
    cl_env_t *reply = s_call(&env);
    int rc = 1;
    if (reply && reply->body_case == CASELOOP__V1__ENVELOPE__BODY_STATS_REPLY) {
        const Caseloop__V1__StatsReply *r = reply->stats_reply;
        char t[64];
        printf("service\t%s\nstarted\t%s\ndatabase\t%s\nhead_position\t%" PRIu64 "\n", r->service,
               s_time(r->started_at_us, t, sizeof t), r->database_up ? "up" : "DOWN", r->head_position);
        for (size_t i = 0; i < r->n_counters; i++)
            printf("%s\t%" PRIu64 "\n", r->counters[i]->name, r->counters[i]->value);
        rc = r->database_up ? 0 : 1;
    }
    cl_codec_free(reply);
    s_disconnect();
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        FILE *out = argc < 2 ? stderr : stdout;
        fputs(s_usage, out);
        s_help_env(out);
        return argc < 2 ? 2 : 0;
    }
    cl_err_t err;
    cl_err_clear(&err);
    if (cl_config_load(s_options, &s_cfg, &err) < 0) {
        fprintf(stderr, "caseloop: %s\n", err.message);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "submit") == 0)
        return s_submit(argc - 1, argv + 1);
    if (strcmp(cmd, "case") == 0)
        return s_case(argc - 1, argv + 1);
    if (strcmp(cmd, "cases") == 0)
        return s_cases(argc - 1, argv + 1);
    if (strcmp(cmd, "shift") == 0)
        return s_shift(argc - 1, argv + 1);
    if (strcmp(cmd, "events") == 0)
        return s_events_tail(argc - 1, argv + 1);
    if (strcmp(cmd, "policy") == 0)
        return s_policy(argc - 1, argv + 1);
    if (strcmp(cmd, "clocks") == 0 || strcmp(cmd, "breaches") == 0)
        return s_clocks(argc - 1, argv + 1, strcmp(cmd, "breaches") == 0);
    if (strcmp(cmd, "stats") == 0) {
        bool help = argc > 2 && strcmp(argv[2], "--help") == 0;
        if (argc == 3 && strcmp(argv[2], "dispatcher") == 0)
            s_endpoint = s_cfg.dispatcher;
        else if (argc == 3 && strcmp(argv[2], "escalation") == 0)
            s_endpoint = s_cfg.escalation;
        else if (argc > 3 || (argc == 3 && strcmp(argv[2], "intake") != 0)) {
            fprintf(help ? stdout : stderr, "usage: caseloop stats [intake|dispatcher|escalation]\n"
                                            "print a service's counters (intake by default); exits 1 when it\n"
                                            "cannot reach its database\n");
            return help ? 0 : 2;
        }
        return s_stats();
    }
    fprintf(stderr, "caseloop: unknown command \"%s\"; see caseloop --help\n", cmd);
    return 2;
}
