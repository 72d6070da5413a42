/* dispatcher.h - the dispatcher service: site policy, and every received case to its department and person. */
#ifndef CL_DISPATCHER_H
#define CL_DISPATCHER_H

#include <signal.h>
#include <stdint.h>
#include "cl.h"

typedef struct {
    cl_service_config_t base;
    const char *intake_pub;
} cl_dispatcher_config_t;

extern const cl_cfg_option_t cl_dispatcher_options[];

typedef struct cl_dispatcher cl_dispatcher_t;

/* Opens the database (migrating it), loads the policies in force, binds the
   ROUTER and PUB endpoints and subscribes to intake's events. NULL with err
   when it cannot start. */
cl_dispatcher_t *cl_dispatcher_new(const cl_dispatcher_config_t *cfg, cl_clock_t *clock, cl_err_t *err);
void cl_dispatcher_destroy(cl_dispatcher_t **self_p);

/* Serves requests and dispatches cases until *stop. Returns 0. */
int cl_dispatcher_run(cl_dispatcher_t *self, volatile sig_atomic_t *stop);

#endif
