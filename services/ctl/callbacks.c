/* callbacks.c - caseloop's commands on callbacks: callbacks, callback attempt|record (the callback-scheduler's),
   preferences (intake's: how the customer wants to be called back). */
#include "ctl.h"
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void s_print_callback(const Caseloop__V1__Callback *c)
{
    char a[64], b[64], d[64], st[32], k[32];
    printf("callback %-6" PRIu64 " case %-7" PRIu64 " #%" PRIu32 " %-10s %-11s", c->callback_id, c->case_id, c->number,
           cl_codec_enum_name(&caseloop__v1__callback_state__descriptor, c->state, st, sizeof st),
           cl_codec_enum_name(&caseloop__v1__kind__descriptor, c->kind, k, sizeof k));
    if (c->has_slot_start_us)
        printf(" call %s .. %s", ctl_time(c->slot_start_us, a, sizeof a), ctl_time(c->slot_end_us, b, sizeof b));
    else
        printf(" no slot yet");
    printf("%s  by %s  deadline %s%s, %" PRIu32 " attempt(s)\n", c->late ? " (late)" : "",
           c->performer && *c->performer ? c->performer : "(nobody yet)", ctl_time(c->deadline_us, d, sizeof d),
           c->overdue ? " (overdue)" : "", c->attempts);
    printf("    customer %s  %s  modes:", c->customer_name ? c->customer_name : "",
           c->customer_contact ? c->customer_contact : "");
    for (size_t i = 0; i < c->n_modes; i++)
        printf(" %s", cl_codec_enum_name(&caseloop__v1__callback_mode__descriptor, c->modes[i], st, sizeof st));
    const Caseloop__V1__CustomerPreferences *p = c->preferences;
    if (p && (p->n_windows || p->has_mode || (p->time_zone && *p->time_zone))) {
        printf("  prefers");
        for (size_t i = 0; i < p->n_windows; i++)
            printf(" %s", p->windows[i]);
        if (p->time_zone && *p->time_zone)
            printf(" (%s)", p->time_zone);
        if (p->has_mode)
            printf(" by %s", cl_codec_enum_name(&caseloop__v1__callback_mode__descriptor, p->mode, st, sizeof st));
    }
    printf("\n");
    if (c->reviewed_by)
        printf("    reviewed by %s %s: %s\n", c->reviewed_by, ctl_time(c->reviewed_at_us, a, sizeof a),
               c->review_opinion ? c->review_opinion : "");
}

static int s_print_list(const cl_env_t *reply, void *arg)
{
    (void)arg;
    const Caseloop__V1__ListCallbacksReply *r = reply->list_callbacks_reply;
    for (size_t i = 0; i < r->n_callbacks; i++)
        s_print_callback(r->callbacks[i]);
    if (!r->n_callbacks)
        printf("no callbacks\n");
    return 0;
}

static int s_print_one(const cl_env_t *reply, void *arg)
{
    (void)arg;
    const Caseloop__V1__Callback *c = reply->body_case == CASELOOP__V1__ENVELOPE__BODY_ATTEMPT_CALLBACK_REPLY
                                          ? reply->attempt_callback_reply->callback
                                      : reply->body_case == CASELOOP__V1__ENVELOPE__BODY_REVIEW_CALLBACK_REPLY
                                          ? reply->review_callback_reply->callback
                                          : reply->record_callback_reply->callback;
    if (c)
        s_print_callback(c);
    if (reply->body_case == CASELOOP__V1__ENVELOPE__BODY_RECORD_CALLBACK_REPLY &&
        reply->record_callback_reply->has_respond_by_us) {
        char t[40];
        printf("the case is reopened: tell the customer they hear from the department by %s\n",
               ctl_time(reply->record_callback_reply->respond_by_us, t, sizeof t));
    }
    return 0;
}

static int s_callbacks(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {{"case", 1, 0, 'c'}, {"site", 1, 0, 's'}, {"staff", 1, 0, 'p'},
                                         {"open", 0, 0, 'o'}, {"limit", 1, 0, 'l'}, {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    static const char usage[] = "usage: caseloop callbacks today --site S [--staff P] [--open]\n"
                                "       caseloop callbacks open --site S\n"
                                "       caseloop callbacks review --site S\n"
                                "       caseloop callbacks --case N\n"
                                "the callbacks to make today at a site (of one performer), in order, with each\n"
                                "customer's preferences; every callback of the site not ended yet, oldest\n"
                                "first (R-CB-9); the records waiting for a supervisor's review (R-CB-8); or\n"
                                "every callback of case N\n";
    Caseloop__V1__ListCallbacks q = CASELOOP__V1__LIST_CALLBACKS__INIT;
    uint64_t case_id = 0;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            if (ctl_case_number(optarg, &case_id) < 0)
                return 2;
            break;
        case 's': q.site = optarg; break;
        case 'p': q.performer = optarg; break;
        case 'o': q.has_open_only = 1, q.open_only = 1; break;
        case 'l': q.has_limit = 1, q.limit = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    const char *what = optind < argc ? argv[optind] : "";
    bool today = strcmp(what, "today") == 0, open = strcmp(what, "open") == 0, review = strcmp(what, "review") == 0;
    bool by_site = today || open || review;
    if (optind + (by_site ? 1 : 0) < argc || (by_site ? !q.site || case_id : !case_id)) {
        fputs(usage, stderr);
        return 2;
    }
    if (case_id)
        q.has_case_id = 1, q.case_id = case_id;
    q.has_unended = open, q.unended = open;
    q.has_awaiting_review = review, q.awaiting_review = review;
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_LIST_CALLBACKS;
    env.list_callbacks = &q;
    return ctl_request(ctl, CTL_CALLBACK, &env, CASELOOP__V1__ENVELOPE__BODY_LIST_CALLBACKS_REPLY, s_print_list, NULL);
}

/* An aspect score "aspect=N" or "aspect=N:why" into a (strings point into text, which is changed). */
static int s_score(char *text, Caseloop__V1__AspectScore *a)
{
    char *eq = strchr(text, '=');
    if (!eq)
        return -1;
    *eq = '\0';
    caseloop__v1__aspect_score__init(a);
    a->aspect = text;
    char *end;
    a->has_score = 1, a->score = (uint32_t)strtoul(eq + 1, &end, 10);
    if (*end == ':')
        a->reason = end + 1;
    else if (*end)
        return -1;
    return 0;
}

#define S_MAX_SCORES 16

static int s_callback(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        {"id", 1, 0, 'i'},        {"outcome", 1, 0, 'u'},     {"by", 1, 0, 'b'},       {"mode", 1, 0, 'm'},
        {"at", 1, 0, 'a'},        {"call-at", 1, 0, 'c'},     {"signature", 1, 0, 'g'}, {"score", 1, 0, 's'},
        {"satisfied", 1, 0, 'y'}, {"suggestions", 1, 0, 'S'}, {"heard-of-us", 1, 0, 'H'}, {"recommend", 1, 0, 'r'},
        {"notes", 1, 0, 'n'},     {"fixed-during-callback", 0, 0, 'F'}, {"customer-words", 1, 0, 'W'},
        {"raised", 1, 0, 'R'},    {"opinion", 1, 0, 'O'},     {"help", 0, 0, 'h'},     {0, 0, 0, 0}};
    static const char usage[] =
        "usage: caseloop callback attempt --id N --outcome reached|busy|unreachable --by STAFF\n"
        "                [--mode phone|visit|sms|email] [--at TIME] [--call-at TIME]\n"
        "       caseloop callback record --id N --by STAFF --mode M [--signature REF]\n"
        "                --score ASPECT=1..5[:WHY] ... --satisfied yes|no [--suggestions T]\n"
        "                [--heard-of-us T] [--recommend 0..10] [--notes T]\n"
        "                [--customer-words T | --fixed-during-callback] [--raised PROBLEM[@PLACE]] ...\n"
        "       caseloop callback review --id N --by SUPERVISOR --opinion T\n"
        "attempt: how calling the customer went (reached: the callback took place; busy: they named\n"
        "a time, --call-at, or the next slot; unreachable); record: the callback's record. Not\n"
        "satisfied: the case is reopened with --customer-words, unless the problem was fixed during\n"
        "the callback (--notes say how); each --raised problem becomes a case of its own; review:\n"
        "a supervisor's signed opinion of a record\n";
    if (argc < 2 || (strcmp(argv[1], "attempt") != 0 && strcmp(argv[1], "record") != 0 &&
                     strcmp(argv[1], "review") != 0)) {
        fputs(usage, argc > 1 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        return argc > 1 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    bool record = strcmp(argv[1], "record") == 0, review = strcmp(argv[1], "review") == 0;
    Caseloop__V1__ReviewCallback rv = CASELOOP__V1__REVIEW_CALLBACK__INIT;
    Caseloop__V1__AttemptCallback at = CASELOOP__V1__ATTEMPT_CALLBACK__INIT;
    Caseloop__V1__RecordCallback rc = CASELOOP__V1__RECORD_CALLBACK__INIT;
    Caseloop__V1__CallbackRecord r = CASELOOP__V1__CALLBACK_RECORD__INIT;
    Caseloop__V1__AspectScore scores[S_MAX_SCORES], *sp[S_MAX_SCORES];
    Caseloop__V1__RaisedProblem raised[S_MAX_SCORES], *rp[S_MAX_SCORES];
    r.raised = rp;
    uint64_t id = 0;
    const char *by = NULL;
    int o, v;
    optind = 2;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'i': id = strtoull(optarg, NULL, 10); break;
        case 'b': by = optarg; break;
        case 'u':
            if ((v = ctl_enum_option("callback", &caseloop__v1__attempt_outcome__descriptor, optarg, optarg)) < 0)
                return 2;
            at.has_outcome = 1, at.outcome = (Caseloop__V1__AttemptOutcome)v;
            break;
        case 'm':
            if ((v = ctl_enum_option("callback", &caseloop__v1__callback_mode__descriptor, optarg, optarg)) < 0)
                return 2;
            at.has_mode = 1, at.mode = (Caseloop__V1__CallbackMode)v;
            r.has_mode = 1, r.mode = (Caseloop__V1__CallbackMode)v;
            break;
        case 'a':
            if (ctl_parse_time(optarg, &at.at_us) < 0)
                return 2;
            at.has_at_us = 1;
            break;
        case 'c':
            if (ctl_parse_time(optarg, &at.call_at_us) < 0)
                return 2;
            at.has_call_at_us = 1;
            break;
        case 'g': r.signature_ref = optarg; break;
        case 's':
            if (r.n_scores == S_MAX_SCORES || s_score(optarg, &scores[r.n_scores]) < 0) {
                fprintf(stderr, "caseloop callback: --score is ASPECT=1..5 or ASPECT=1..5:WHY\n");
                return 2;
            }
            sp[r.n_scores] = &scores[r.n_scores];
            r.n_scores++;
            break;
        case 'y': r.has_satisfied = 1, r.satisfied = strcmp(optarg, "yes") == 0; break;
        case 'S': r.suggestions = optarg; break;
        case 'H': r.heard_of_us = optarg; break;
        case 'r': r.has_recommend = 1, r.recommend = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'n': r.notes = optarg; break;
        case 'F': r.has_fixed_during_callback = 1, r.fixed_during_callback = 1; break;
        case 'W': r.customer_words = optarg; break;
        case 'R': { /* PROBLEM[@PLACE] */
            if (r.n_raised == S_MAX_SCORES) {
                fprintf(stderr, "caseloop callback: at most %d --raised\n", S_MAX_SCORES);
                return 2;
            }
            Caseloop__V1__RaisedProblem *p = &raised[r.n_raised];
            caseloop__v1__raised_problem__init(p);
            p->description = optarg;
            char *at_place = strrchr(optarg, '@');
            if (at_place)
                *at_place = '\0', p->location = at_place + 1;
            rp[r.n_raised++] = p;
            break;
        }
        case 'O': rv.opinion = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind < argc || !id || !by) {
        fputs(usage, stderr);
        return 2;
    }
    r.scores = sp;
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    if (review) {
        rv.has_callback_id = 1, rv.callback_id = id;
        rv.by = (char *)by;
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_REVIEW_CALLBACK;
        env.review_callback = &rv;
        return ctl_request(ctl, CTL_CALLBACK, &env, CASELOOP__V1__ENVELOPE__BODY_REVIEW_CALLBACK_REPLY, s_print_one,
                           NULL);
    }
    if (record) {
        rc.has_callback_id = 1, rc.callback_id = id;
        rc.by = (char *)by;
        rc.record = &r;
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_RECORD_CALLBACK;
        env.record_callback = &rc;
    } else {
        at.has_callback_id = 1, at.callback_id = id;
        at.by = (char *)by;
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_ATTEMPT_CALLBACK;
        env.attempt_callback = &at;
    }
    return ctl_request(ctl, CTL_CALLBACK, &env,
                       record ? CASELOOP__V1__ENVELOPE__BODY_RECORD_CALLBACK_REPLY
                              : CASELOOP__V1__ENVELOPE__BODY_ATTEMPT_CALLBACK_REPLY,
                       s_print_one, NULL);
}

static int s_print_prefs(const cl_env_t *reply, void *arg)
{
    (void)arg;
    const Caseloop__V1__SetPreferencesReply *r = reply->set_preferences_reply;
    printf("case %" PRIu64 ": callback preferences kept\n", r->case_id);
    return 0;
}

/* The customer's callback preferences changed after submission (intake's SetPreferences). */
static int s_preferences(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {{"actor", 1, 0, 'a'},       {"window", 1, 0, 'w'}, {"mode", 1, 0, 'm'},
                                         {"do-not-call", 0, 0, 'd'}, {"time-zone", 1, 0, 'z'}, {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    static const char usage[] =
        "usage: caseloop preferences N --actor WHO [--window HH:MM-HH:MM]... [--mode phone|visit|sms|email]\n"
        "                            [--do-not-call] [--time-zone ZONE]\n"
        "replace how the customer of case N wants to be called back (what is not given is not wanted);\n"
        "callbacks placed from then on follow it\n";
    Caseloop__V1__SetPreferences q = CASELOOP__V1__SET_PREFERENCES__INIT;
    Caseloop__V1__CustomerPreferences p = CASELOOP__V1__CUSTOMER_PREFERENCES__INIT;
    char *windows[8];
    int o, v;
    optind = 1;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'a': q.actor = optarg; break;
        case 'w':
            if (p.n_windows == 8) {
                fputs("caseloop preferences: at most 8 --window\n", stderr);
                return 2;
            }
            windows[p.n_windows++] = optarg;
            break;
        case 'm':
            if ((v = ctl_enum_option("preferences", &caseloop__v1__callback_mode__descriptor, optarg, optarg)) < 0)
                return 2;
            p.has_mode = 1, p.mode = (Caseloop__V1__CallbackMode)v;
            break;
        case 'd': p.has_do_not_call = 1, p.do_not_call = 1; break;
        case 'z': p.time_zone = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    uint64_t id;
    if (optind != argc - 1 || ctl_case_number(argv[optind], &id) < 0 || !q.actor) {
        fputs(usage, stderr);
        return 2;
    }
    p.windows = windows;
    q.has_case_id = 1, q.case_id = id;
    q.preferences = &p;
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_SET_PREFERENCES;
    env.set_preferences = &q;
    return ctl_request(ctl, CTL_INTAKE, &env, CASELOOP__V1__ENVELOPE__BODY_SET_PREFERENCES_REPLY, s_print_prefs, NULL);
}

/* What a letter request answered. */
static int s_print_letter(const cl_env_t *reply, void *arg)
{
    (void)arg;
    if (reply->body_case == CASELOOP__V1__ENVELOPE__BODY_ATTACH_REPLY_LETTER_REPLY)
        printf("reply letter %" PRIu64 " is kept with the case\n", reply->attach_reply_letter_reply->letter_id);
    else
        printf("open letter %" PRIu64 " is kept with each case; %" PRIu32 " scheduled callback(s) answered by it\n",
               reply->send_open_letter_reply->letter_id, reply->send_open_letter_reply->callbacks_ended);
    return 0;
}

#define S_MAX_LETTER_CASES 500

static int s_letter(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {{"case", 1, 0, 'c'},     {"site", 1, 0, 's'}, {"by", 1, 0, 'b'},
                                         {"text", 1, 0, 't'},     {"document", 1, 0, 'd'}, {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    static const char usage[] =
        "usage: caseloop letter reply --case N --site S --by STAFF (--text T | --document REF)\n"
        "       caseloop letter open --site S --case N [--case N ...] --by STAFF (--text T | --document REF)\n"
        "reply: a reply letter kept with an anonymous or reply-letter-only case (it meets the case's\n"
        "callback obligation); open: one letter answering many cases of one problem at a site, kept\n"
        "with each; their scheduled callbacks end answered by it\n";
    if (argc < 2 || (strcmp(argv[1], "reply") != 0 && strcmp(argv[1], "open") != 0)) {
        fputs(usage, argc > 1 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        return argc > 1 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    bool open = strcmp(argv[1], "open") == 0;
    static uint64_t ids[S_MAX_LETTER_CASES];
    size_t n = 0;
    const char *site = NULL, *by = NULL, *text = NULL, *doc = NULL;
    int o;
    optind = 2;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            if (n == S_MAX_LETTER_CASES || ctl_case_number(optarg, &ids[n]) < 0)
                return 2;
            n++;
            break;
        case 's': site = optarg; break;
        case 'b': by = optarg; break;
        case 't': text = optarg; break;
        case 'd': doc = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind < argc || !site || !by || n == 0 || (!open && n != 1)) {
        fputs(usage, stderr);
        return 2;
    }
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__AttachReplyLetter r = CASELOOP__V1__ATTACH_REPLY_LETTER__INIT;
    Caseloop__V1__SendOpenLetter l = CASELOOP__V1__SEND_OPEN_LETTER__INIT;
    if (open) {
        l.site = (char *)site, l.by = (char *)by, l.text = (char *)text, l.document_ref = (char *)doc;
        l.case_ids = ids, l.n_case_ids = n;
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_SEND_OPEN_LETTER;
        env.send_open_letter = &l;
    } else {
        r.has_case_id = 1, r.case_id = ids[0];
        r.site = (char *)site, r.by = (char *)by, r.text = (char *)text, r.document_ref = (char *)doc;
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_ATTACH_REPLY_LETTER;
        env.attach_reply_letter = &r;
    }
    return ctl_request(ctl, CTL_CALLBACK, &env,
                       open ? CASELOOP__V1__ENVELOPE__BODY_SEND_OPEN_LETTER_REPLY
                            : CASELOOP__V1__ENVELOPE__BODY_ATTACH_REPLY_LETTER_REPLY,
                       s_print_letter, NULL);
}

const ctl_command_t ctl_callbacks_commands[] = {
    {"callbacks", "  callbacks today --site S [--staff P]\n"
                  "                          the callbacks to make today, in order, with the customer's wishes\n"
                  "  callbacks open --site S every callback not ended yet, oldest first\n"
                  "  callbacks review --site S\n"
                  "                          the records waiting for a supervisor's review\n"
                  "  callbacks --case N      every callback of case N\n",
     s_callbacks},
    {"callback", "  callback attempt|record|review --id N ...\n"
                 "                          how a callback attempt went, the callback's record, a review\n",
     s_callback},
    {"letter", "  letter reply|open --site S --case N ... --by STAFF (--text T | --document REF)\n"
               "                          a reply letter for one case, or an open letter for many\n",
     s_letter},
    {"preferences", "  preferences N --actor WHO [--window W]... [--mode M] [--do-not-call] [--time-zone Z]\n"
                    "                          how the customer of case N wants to be called back, changed\n",
     s_preferences},
    {0},
};
