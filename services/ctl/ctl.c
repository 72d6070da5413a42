/* ctl.c - the services as the caseloop CLI's commands reach them: one client each, calls, failures said, times. */
#include "ctl.h"
#include <stdlib.h>
#include <time.h>

struct ctl {
    const ctl_config_t *cfg;
    cl_client_t *clients[CTL_N_SERVICES];  /* each in a context of its own; few commands need two */
};

ctl_t *ctl_new(const ctl_config_t *cfg)
{
    ctl_t *ctl = calloc(1, sizeof *ctl);
    if (ctl)
        ctl->cfg = cfg;
    return ctl;
}

void ctl_destroy(ctl_t **ctl_p)
{
    if (!ctl_p || !*ctl_p)
        return;
    ctl_t *ctl = *ctl_p;
    for (int i = 0; i < CTL_N_SERVICES; i++)
        cl_client_destroy(&ctl->clients[i]);
    free(ctl);
    *ctl_p = NULL;
}

const ctl_config_t *ctl_config(const ctl_t *ctl)
{
    return ctl->cfg;
}

cl_client_t *ctl_client(ctl_t *ctl, ctl_service_t service)
{
    if (ctl->clients[service])
        return ctl->clients[service];
    cl_err_t err;
    cl_err_clear(&err);
    ctl->clients[service] = cl_client_new(NULL, ctl->cfg->router[service], "caseloop-cli", &err);
    if (!ctl->clients[service])
        fprintf(stderr, "caseloop: %s\n", err.message);
    return ctl->clients[service];
}

cl_env_t *ctl_call(ctl_t *ctl, ctl_service_t service, const cl_env_t *env, int want)
{
    cl_client_t *client = ctl_client(ctl, service);
    if (!client)
        return NULL;
    cl_err_t err;
    cl_err_clear(&err);
    cl_env_t *reply = cl_client_call(client, env, (int)ctl->cfg->timeout_ms, &err);
    if (!reply) {
        fprintf(stderr, "caseloop: %s %s (is the service running at %s?)\n", cl_err_code_name(err.code), err.message,
                cl_client_endpoint(client));
        return NULL;
    }
    if (cl_client_expect(reply, want, &err) < 0) {
        ctl_fail(&err);
        cl_codec_free(reply);
        return NULL;
    }
    return reply;
}

int ctl_request(ctl_t *ctl, ctl_service_t service, const cl_env_t *env, int want, ctl_print_fn print, void *arg)
{
    cl_env_t *reply = ctl_call(ctl, service, env, want);
    int rc = reply ? print(reply, arg) : 1;
    cl_codec_free(reply);
    return rc;
}

void ctl_fail(const cl_err_t *err)
{
    fprintf(stderr, "caseloop: %s%s%s: %s\n", cl_err_code_name(err->code), *err->field ? " " : "", err->field,
            err->message);
}

const char *ctl_time(int64_t us, char *buf, size_t len)
{
    time_t t = (time_t)(us / CL_US_PER_S);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S %z", &tm);
    return buf;
}
