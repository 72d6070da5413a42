/* escalation.h - the escalation service: response clocks armed, met and fired from the event log. */
#ifndef CL_ESCALATION_H
#define CL_ESCALATION_H

#include <signal.h>
#include <stdint.h>
#include "cl.h"

typedef struct {
    cl_service_config_t base;
    const char *listen;       /* PUB endpoints whose events wake it, comma-separated */
    int64_t fire_workers;
} cl_escalation_config_t;

extern const cl_cfg_option_t cl_escalation_options[];

typedef struct cl_escalation cl_escalation_t;

cl_escalation_t *cl_escalation_new(const cl_escalation_config_t *cfg, cl_clock_t *clock, cl_err_t *err);
void cl_escalation_destroy(cl_escalation_t **self_p);
int cl_escalation_run(cl_escalation_t *self, volatile sig_atomic_t *stop);

#endif
