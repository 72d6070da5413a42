/* callback.h - the callback-scheduler: every closed case gets the callback its kind calls for (RULES.md section 5). */
#ifndef CL_CALLBACK_H
#define CL_CALLBACK_H

#include <signal.h>
#include <stdint.h>
#include "cl.h"

typedef struct {
    cl_service_config_t base;
    const char *listen;
    const char *intake;     /* intake's ROUTER: where the outbox sends */
} cl_callback_config_t;

extern const cl_cfg_option_t cl_callback_options[];

typedef struct cl_callback cl_callback_t;

/* Opens the database (migrating it), reads or makes the sampling key and the
   policies in force, binds the ROUTER and PUB endpoints and subscribes to the
   endpoints of cfg->listen. NULL with err when it cannot start. */
cl_callback_t *cl_callback_new(const cl_callback_config_t *cfg, cl_clock_t *clock, cl_err_t *err);
void cl_callback_destroy(cl_callback_t **self_p);

/* Decides every closing of the event log once, times the callbacks and serves
   requests until *stop. Returns 0. */
int cl_callback_run(cl_callback_t *self, volatile sig_atomic_t *stop);

#endif
