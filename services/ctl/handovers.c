/* handovers.c - caseloop's commands on shifts: shift handover, shift list. */
#include "ctl.h"
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

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
    printf("handover %" PRIu64 " at %s: %s -> %s, %zu case(s)%s%s\n", h->handover_id, ctl_time(h->at_us, t, sizeof t),
           h->outgoing, h->incoming, h->n_case_ids, h->note && *h->note ? "; note: " : "", h->note ? h->note : "");
    for (size_t i = 0; i < h->n_case_ids; i++)
        printf("  case %" PRIu64 " (%s)\n", h->case_ids[i],
               cl_codec_enum_name(&caseloop__v1__case_state__descriptor, i < h->n_states ? h->states[i] : 0, st,
                                  sizeof st));
}

/* The handover just made (HandOverReply), or those listed, or a line saying there are none. */
static int s_print_handovers(const cl_env_t *reply, void *arg)
{
    (void)arg;
    if (reply->body_case == CASELOOP__V1__ENVELOPE__BODY_HAND_OVER_REPLY) {
        s_print_handover(reply->hand_over_reply->handover);
        return 0;
    }
    for (size_t i = 0; i < reply->list_handovers_reply->n_handovers; i++)
        s_print_handover(reply->list_handovers_reply->handovers[i]);
    if (reply->list_handovers_reply->n_handovers == 0)
        printf("no handovers\n");
    return 0;
}

static int s_shift(ctl_t *ctl, int argc, char **argv)
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
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
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
    return ctl_request(ctl, CTL_DISPATCHER, &env,
                       handover ? CASELOOP__V1__ENVELOPE__BODY_HAND_OVER_REPLY
                                : CASELOOP__V1__ENVELOPE__BODY_LIST_HANDOVERS_REPLY,
                       s_print_handovers, NULL);
}

const ctl_command_t ctl_handover_commands[] = {
    {"shift", "  shift handover ...      hand a shift's tracked cases over (caseloop shift --help)\n", s_shift},
    {0},
};
