/* cases.c - caseloop's commands on cases: submit, case (show, the lifecycle actions, transfer), cases. */
#include "ctl.h"
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* --- submit -------------------------------------------------------------------- */

static void s_submit_usage(FILE *out)
{
    fprintf(out,
            "usage: caseloop submit --site S --description TEXT [--kind K] [options]\n"
            "register a case with intake and print its number and the promised answer time\n\n"
            "  --site S               site code (required)\n"
            "  --kind K               ");
    ctl_enum_list(out, &caseloop__v1__kind__descriptor);
    fprintf(out, " (default: the dispatcher classifies it)\n  --description TEXT     the problem (required)\n  --severity S           ");
    ctl_enum_list(out, &caseloop__v1__severity__descriptor);
    fprintf(out, " (default general)\n  --channel C            ");
    ctl_enum_list(out, &caseloop__v1__channel__descriptor);
    fprintf(out, "\n"
                 "  --customer-name N, --customer-contact C, --location L\n"
                 "  --occurred-at T        when it happened: YYYY-MM-DD[ HH:MM[:SS]] local time, or seconds since 1970\n"
                 "  --anonymous            the customer gave no identity\n"
                 "  --reply-letter-only    answer by letter, no callback\n"
                 "  --first-receiver R     who took the case\n"
                 "  --callback-of N        a new problem the customer raised in the callback of case N\n"
                 "  --source SYS --id ID   idempotency key (default: caseloop-cli and a fresh id)\n");
}

static int s_print_submitted(const cl_env_t *reply, void *arg)
{
    (void)arg;
    const Caseloop__V1__SubmitCaseReply *r = reply->submit_case_reply;
    char t[64], o[32];
    printf("case %" PRIu64 " %s; reports %" PRIu32 "; customer hears back by %s\n", r->case_id,
           cl_codec_enum_name(&caseloop__v1__submit_outcome__descriptor, r->outcome, o, sizeof o), r->report_count,
           r->has_respond_by_us ? ctl_time(r->respond_by_us, t, sizeof t) : CTL_NO_PROMISE);
    return 0;
}

static int s_submit(ctl_t *ctl, int argc, char **argv)
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
            if (ctl_case_number(optarg, &c.raised_in_callback_of) < 0)
                return 2;
            c.has_raised_in_callback_of = 1;
            break;
        case 'o':
            if (ctl_parse_time(optarg, &c.occurred_at_us) < 0) {
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
            if ((v = ctl_enum_option("submit", d, optarg, optarg)) < 0)
                return 2;
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
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    env.site = c.site;
    Caseloop__V1__SubmitCase body = CASELOOP__V1__SUBMIT_CASE__INIT;
    body.details = &c;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE;
    env.submit_case = &body;
    int rc = ctl_request(ctl, CTL_INTAKE, &env, CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY, s_print_submitted, NULL);
    if (rc)
        fprintf(stderr, "caseloop submit: to try again without risk of a second case, use the same key:"
                        " --source %s --id %s\n", c.external_source, c.external_id);
    return rc;
}

/* --- case show ------------------------------------------------------------------ */

static int s_print_case(const cl_env_t *reply, void *arg)
{
    (void)arg;
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
        printf("  occurred at:     %s\n", ctl_time(c->occurred_at_us, t, sizeof t));
    printf("  received at:     %s\n", ctl_time(c->received_at_us, t, sizeof t));
    printf("  respond by:      %s\n", c->has_respond_by_us ? ctl_time(c->respond_by_us, t, sizeof t) : CTL_NO_PROMISE);
    printf("  first receiver:  %s\n", c->first_receiver);
    printf("  reply letter:    %s\n", c->reply_letter_only ? "only" : "no");
    if (c->has_raised_in_callback_of)
        printf("  raised in the callback of case %" PRIu64 "\n", c->raised_in_callback_of);
    printf("  submitted as:    %s / %s\n", c->external_source, c->external_id);
    printf("  reports:         %" PRIu32 "\n", c->report_count);
    for (size_t i = 0; i < reply->get_case_reply->n_reports; i++) {
        const Caseloop__V1__Report *r = reply->get_case_reply->reports[i];
        printf("  report %" PRIu64 " at %s via %s: %s%s%s: %s\n", r->report_id,
               ctl_time(r->received_at_us, t, sizeof t),
               cl_codec_enum_name(&caseloop__v1__channel__descriptor, r->channel, e, sizeof e), r->customer_name,
               *r->customer_contact ? ", " : "", r->customer_contact, r->description);
    }
    printf("history:\n");
    for (size_t i = 0; i < reply->get_case_reply->n_history; i++) {
        const Caseloop__V1__HistoryEntry *h = reply->get_case_reply->history[i];
        printf("  %s  %-14s %s\n", ctl_time(h->at_us, t, sizeof t), h->actor, h->text);
    }
    return 0;
}

static int s_case_show(ctl_t *ctl, int argc, char **argv)
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
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__GetCase body = CASELOOP__V1__GET_CASE__INIT;
    body.has_case_id = 1, body.case_id = id;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_GET_CASE;
    env.get_case = &body;
    return ctl_request(ctl, CTL_INTAKE, &env, CASELOOP__V1__ENVELOPE__BODY_GET_CASE_REPLY, s_print_case, NULL);
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
                 "                             [--key SOURCE/ID]   (sent again with the same key: applied once)\n"
                 "       caseloop case transfer N --actor WHO [--department D] [--assignee X] [--reason R]\n"
                 "actions:\n");
    for (size_t i = 0; i < sizeof s_actions / sizeof *s_actions; i++)
        fprintf(out, "  %-18s %s\n", s_actions[i].name, s_actions[i].help);
    fprintf(out, "  %-18s move it to another department or person (the dispatcher picks the person\n"
                 "                     when only --department is given)\n", "transfer");
}

/* The state a case command left case *arg in. */
static int s_print_state(const cl_env_t *reply, void *arg)
{
    char e[32];
    printf("case %" PRIu64 " is %s%s\n", *(const uint64_t *)arg,
           cl_codec_enum_name(&caseloop__v1__case_state__descriptor, reply->case_command_reply->state, e, sizeof e),
           reply->case_command_reply->repeated ? " (this key was applied before: nothing changed)" : "");
    return 0;
}

/* Where a transfer sent case *arg. */
static int s_print_transferred(const cl_env_t *reply, void *arg)
{
    const Caseloop__V1__TransferCaseReply *r = reply->transfer_case_reply;
    uint64_t id = *(const uint64_t *)arg;
    if (r->queued)
        printf("case %" PRIu64 " moved to %s; it waits on the queue: nobody is on shift\n", id, r->department);
    else
        printf("case %" PRIu64 " moved to %s, assigned to %s\n", id, r->department, r->assignee);
    return 0;
}

static int s_case_action(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {{"actor", 1, 0, 'a'},         {"text", 1, 0, 't'},
                                         {"satisfied", 0, 0, 's'},     {"not-satisfied", 0, 0, 'n'},
                                         {"signed", 0, 0, 'g'},        {"department", 1, 0, 'd'},
                                         {"assignee", 1, 0, 'x'},      {"reason", 1, 0, 'r'},
                                         {"key", 1, 0, 'k'},           {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
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
        case 'k': /* SOURCE/ID: the source up to the first slash */
            cmd.source = optarg;
            cmd.command_id = strchr(optarg, '/');
            if (!cmd.command_id) {
                fprintf(stderr, "caseloop: --key is SOURCE/ID (e.g. crm/4711)\n");
                return 2;
            }
            *cmd.command_id++ = '\0';
            break;
        case 'h': s_case_usage(stdout); return 0;
        default: s_case_usage(stderr); return 2;
        }
    }
    uint64_t id;
    if (optind != argc - 1 || ctl_case_number(argv[optind], &id) < 0) {
        s_case_usage(stderr);
        return 2;
    }
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    if (transfer) {
        tr.has_case_id = 1, tr.case_id = id;
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_TRANSFER_CASE;
        env.transfer_case = &tr;
    } else {
        cmd.has_case_id = 1, cmd.case_id = id;
        cmd.has_action = 1, cmd.action = (Caseloop__V1__CaseAction)action;
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND;
        env.case_command = &cmd;
    }
    if (transfer)
        return ctl_request(ctl, CTL_DISPATCHER, &env, CASELOOP__V1__ENVELOPE__BODY_TRANSFER_CASE_REPLY,
                           s_print_transferred, &id);
    return ctl_request(ctl, CTL_INTAKE, &env, CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND_REPLY, s_print_state, &id);
}

static int s_case(ctl_t *ctl, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "show") == 0)
        return s_case_show(ctl, argc, argv);
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        s_case_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    return s_case_action(ctl, argc, argv);
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

static int s_print_cases(const cl_env_t *reply, void *arg)
{
    (void)arg;
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
    return 0;
}

static int s_cases(ctl_t *ctl, int argc, char **argv)
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
            if (ctl_parse_time(optarg, &us) < 0) {
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
            if ((v = ctl_enum_option("cases", d, name, optarg)) < 0)
                return 2;
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
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_LIST_CASES;
    env.list_cases = &q;
    return ctl_request(ctl, CTL_INTAKE, &env, CASELOOP__V1__ENVELOPE__BODY_LIST_CASES_REPLY, s_print_cases, NULL);
}

const ctl_command_t ctl_cases_commands[] = {
    {"submit", "  submit ...              register a case (caseloop submit --help)\n", s_submit},
    {"case",
     "  case show N             print case N with its reports and its history\n"
     "  case ACTION N ...       acknowledge, first-contact, progress, resolve, report-result, reopen,\n"
     "                          close or transfer case N (caseloop case --help)\n",
     s_case},
    {"cases", "  cases --site S ...      list a site's cases, filtered and paged (caseloop cases --help)\n", s_cases},
    {0},
};
