/* events.c - caseloop's command on the event log: events tail, live events with what the feed missed read from the log. */
#include "ctl.h"
#include "cl_consumer.h"
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

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
    printf("%" PRIu64 "\t%s\t%s\t%s\t", ev->position, ctl_time(ev->sent_at_us, t, sizeof t), cl_codec_body_name(ev),
           ev->site ? ev->site : "");
    if (case_id)
        printf("case %" PRId64 "\t", case_id);
    printf("%s%s%s\n", *actor ? actor : "", *actor ? ": " : "", line);
    fflush(stdout);
    return 0;
}

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static int s_events(ctl_t *ctl, int argc, char **argv)
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
    cl_client_t *intake = ctl_client(ctl, CTL_INTAKE);
    if (!intake)
        return 1;
    /* Ctrl-C stops the command wherever it waits, a request to intake included */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    cl_client_stop_on(intake, &s_stop);
    const ctl_config_t *cfg = ctl_config(ctl);
    cl_err_t err;
    cl_err_clear(&err);
    cl_consumer_t *c = cl_consumer_new(intake, cfg->intake_pub, from < 0 ? CL_CONSUMER_FROM_HEAD : (uint64_t)from,
                                       (int)cfg->timeout_ms, s_print_event, NULL, &err);
    int rc = c && cl_consumer_catch_up(c, &err) == 0 ? 0 : 1;
    while (rc == 0 && follow && !s_stop) {
        if (cl_consumer_poll(c, 500, &err) < 0)
            rc = 1;
    }
    if (rc && err.code == CL_CANCELLED)
        rc = 0; /* stopped as asked: a clean end */
    else if (rc)
        ctl_fail(&err);
    cl_consumer_destroy(&c);
    return rc;
}

const ctl_command_t ctl_events_commands[] = {
    {"events", "  events tail [--from P]  print events after position P (default: the newest) and follow\n", s_events},
    {0},
};
