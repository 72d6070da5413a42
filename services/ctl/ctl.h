/* ctl.h - what the areas of the caseloop CLI share: a command's entry, the services it calls, options, times. */
#ifndef CL_CTL_H
#define CL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "cl.h"
#include "cl_client.h"

/* The services a command sends its requests to. */
typedef enum { CTL_INTAKE, CTL_DISPATCHER, CTL_ESCALATION, CTL_CALLBACK, CTL_N_SERVICES } ctl_service_t;

/* The configuration every command shares, from the environment (main.c's table). */
typedef struct {
    const char *router[CTL_N_SERVICES];  /* each service's request endpoint */
    const char *intake_pub;              /* intake's event endpoint */
    int64_t timeout_ms;                  /* how long to wait for a reply */
} ctl_config_t;

/* A run of the CLI: its configuration and the clients it has opened. */
typedef struct ctl ctl_t;

/* A command: its name (the first word after caseloop), the lines it adds to
   caseloop --help, and run(ctl, argc, argv), argv[0] being the name, which
   returns the exit status: 0 done, 1 failed (said on stderr), 2 misused. */
typedef struct {
    const char *name;
    const char *help;
    int (*run)(ctl_t *ctl, int argc, char **argv);
} ctl_command_t;

/* The commands of each area, each list ending with {0}; main.c lists the areas. */
extern const ctl_command_t ctl_cases_commands[];     /* cases.c: submit, case, cases */
extern const ctl_command_t ctl_handover_commands[];  /* handovers.c: shift */
extern const ctl_command_t ctl_events_commands[];    /* events.c: events */
extern const ctl_command_t ctl_policy_commands[];    /* policy.c: policy */
extern const ctl_command_t ctl_clocks_commands[];    /* clocks.c: clocks, breaches */
extern const ctl_command_t ctl_stats_commands[];     /* stats.c: stats */
extern const ctl_command_t ctl_callbacks_commands[]; /* callbacks.c: callbacks, callback, preferences */

/* --- the services (ctl.c) ------------------------------------------------------------- */

/* A run with configuration cfg (which must outlive it); NULL on no memory. */
ctl_t *ctl_new(const ctl_config_t *cfg);

/* Closes the clients the run opened; *ctl_p may be NULL; sets it to NULL. */
void ctl_destroy(ctl_t **ctl_p);

/* The run's configuration. */
const ctl_config_t *ctl_config(const ctl_t *ctl);

/* The client of service, opened at the first use. NULL when it could not be
   opened (said on stderr). */
cl_client_t *ctl_client(ctl_t *ctl, ctl_service_t service);

/* Sends request env (its header filled in by the client) to service and
   returns the reply when its body is want (free with cl_codec_free); else
   says on stderr why not (no reply, or the service's refusal as "CODE field:
   message") and returns NULL. */
cl_env_t *ctl_call(ctl_t *ctl, ctl_service_t service, const cl_env_t *env, int want);

/* What a command shows of the reply it wanted (arg is the command's);
   returns the exit status: 0, or 1 when the reply says the thing asked for
   is not well. */
typedef int (*ctl_print_fn)(const cl_env_t *reply, void *arg);

/* A command's request: sends env to service as ctl_call does and shows its
   reply with print(reply, arg). Returns print's status, or 1 when no reply it
   wants came (said on stderr). */
int ctl_request(ctl_t *ctl, ctl_service_t service, const cl_env_t *env, int want, ctl_print_fn print, void *arg);

/* Says err on stderr as "caseloop: CODE field: message". */
void ctl_fail(const cl_err_t *err);

/* Local time us (microseconds since 1970) as "2026-11-22 14:30:05 +0800", written into buf. */
const char *ctl_time(int64_t us, char *buf, size_t len);

/* What a case was promised when its site's policy promised nothing. */
#define CTL_NO_PROMISE "(nothing promised: the site had no policy or no active promise clock)"

/* --- reading options (main.c) ------------------------------------------------------- */

/* A case number (1, 2, ...) into *id. Returns 0, or -1 having said why. */
int ctl_case_number(const char *text, uint64_t *id);

/* A local date and time ("2026-11-22 14:30", "2026-11-22T14:30:05",
   "2026-11-22") or whole seconds since 1970, into microseconds. Returns 0 or -1. */
int ctl_parse_time(const char *text, int64_t *us);

/* The value of d that an option of command cmd names: name as people read
   it ("complaint", "in_progress"), text as it was given. When no value has
   that name, says on stderr "caseloop CMD: "TEXT" is not one of a|b|c" and
   returns -1. */
int ctl_enum_option(const char *cmd, const ProtobufCEnumDescriptor *d, const char *name, const char *text);

/* The names of d's values, "a|b|c", to out. */
void ctl_enum_list(FILE *out, const ProtobufCEnumDescriptor *d);

#endif
