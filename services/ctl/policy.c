/* policy.c - caseloop's commands on site policies (the dispatcher's): policy load, policy show. */
#include "ctl.h"
#include <errno.h>
#include <inttypes.h>
#include <string.h>

static const char s_policy_usage[] =
    "usage: caseloop policy load FILE\n"
    "       caseloop policy show --site S\n"
    "load a site policy document (JSON, see deploy/policy/README.md) into the dispatcher as\n"
    "the next version, or print the version in force for a site; a refused document\n"
    "changes nothing and the error names the line or field\n";

/* The version just loaded (arg: the name of the file it came from). */
static int s_print_loaded(const cl_env_t *reply, void *arg)
{
    const Caseloop__V1__LoadPolicyReply *r = reply->load_policy_reply;
    printf("policy version %" PRIu32 " loaded from %s; sites:", r->version, (const char *)arg);
    for (size_t i = 0; i < r->n_sites; i++)
        printf(" %s", r->sites[i]);
    printf("\n");
    return 0;
}

static int s_policy_load(ctl_t *ctl, const char *path)
{
    cl_buf_t doc = {0};
    if (cl_buf_read_file(&doc, path) < 0) {
        fprintf(stderr, "caseloop policy load: cannot open \"%s\": %s\n", path, strerror(errno));
        cl_buf_free(&doc);
        return 1;
    }
    const char *base = strrchr(path, '/');
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__LoadPolicy body = CASELOOP__V1__LOAD_POLICY__INIT;
    body.document = doc.data;
    body.source = (char *)(base ? base + 1 : path);
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_LOAD_POLICY;
    env.load_policy = &body;
    int rc = ctl_request(ctl, CTL_DISPATCHER, &env, CASELOOP__V1__ENVELOPE__BODY_LOAD_POLICY_REPLY, s_print_loaded,
                         body.source);
    cl_buf_free(&doc);
    return rc;
}

/* The version in force (arg: the site asked for). */
static int s_print_policy(const cl_env_t *reply, void *arg)
{
    const Caseloop__V1__GetPolicyReply *r = reply->get_policy_reply;
    char t[64];
    printf("site %s: policy version %" PRIu32 ", loaded %s from %s\n%s\n", (const char *)arg, r->version,
           ctl_time(r->loaded_at_us, t, sizeof t), r->source, r->document);
    return 0;
}

static int s_policy_show(ctl_t *ctl, const char *site)
{
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__GetPolicy body = CASELOOP__V1__GET_POLICY__INIT;
    body.site = (char *)site;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_GET_POLICY;
    env.get_policy = &body;
    return ctl_request(ctl, CTL_DISPATCHER, &env, CASELOOP__V1__ENVELOPE__BODY_GET_POLICY_REPLY, s_print_policy,
                       (void *)site);
}

static int s_policy(ctl_t *ctl, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[argc - 1], "--help") == 0) {
        fputs(s_policy_usage, stdout);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "load") == 0)
        return s_policy_load(ctl, argv[2]);
    if (argc == 4 && strcmp(argv[1], "show") == 0 && strcmp(argv[2], "--site") == 0)
        return s_policy_show(ctl, argv[3]);
    fputs(s_policy_usage, stderr);
    return 2;
}

const ctl_command_t ctl_policy_commands[] = {
    {"policy",
     "  policy load FILE        load a site policy into the dispatcher (caseloop policy --help)\n"
     "  policy show --site S    print the policy in force for site S\n",
     s_policy},
    {0},
};
