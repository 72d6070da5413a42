/* cases.h - intake's SQL for the case lifecycle: commands, lists, histories. */
#ifndef CL_INTAKE_CASES_H
#define CL_INTAKE_CASES_H

#include <stdint.h>
#include "cl.h"
#include "cl_publish.h"
#include "caseloop/v1/envelope.pb-c.h"

/* Checks a command's fields (not the state it needs). Returns 0 or -1 with err INVALID_ARGUMENT. */
int cl_command_validate(const Caseloop__V1__CaseCommand *cmd, cl_err_t *err) CL_WARN_UNUSED;

/* The event one applied command makes, and the memory it points into. */
typedef struct {
    cl_env_t env;
    char id[CL_ID_MAX + 1];
    Caseloop__V1__CaseUpdated updated;
    char *site;
    cl_event_t ev;
    uint64_t turn;               /* the commit's turn to be published (cl_publisher_put); 0: no event */
    bool repeated;               /* its key was used before: updated.state_after and env.position are the
                                    first outcome, and there is no event */
    size_t same_as;              /* (internal) 1 + the command of the batch it repeats, 0 for none */
} cl_command_event_t;

/* Applies n validated commands at now_us in one transaction, in the order
   given, each on the state the ones before left: locks their cases (in the
   order of their ids), checks each transition (refused[k] NOT_FOUND, or
   CONFLICT naming the state), moves the states, stamps the milestones and
   appends a CaseUpdated per command applied, committed as one of pub's
   appenders (out[k] with the commit's turn, to publish; release each with
   cl_command_event_release). A command with a key used before (table
   command_keys, or an earlier command of the same batch) is answered with the
   first outcome (out[k].repeated), or refused CONFLICT on command_id when the
   key stood for another command; the key of a keyed command applied is
   stored in the same transaction. Returns 0 when it committed (or nothing
   was applied), or -1 with err when the batch failed as a whole
   (UNAVAILABLE, INTERNAL, or a retryable conflict, such as a key another
   transaction stored first: cl_db_retryable): nothing changed. */
int cl_store_commands(cl_db_t *db, const Caseloop__V1__CaseCommand *const *cmds, size_t n, int64_t now_us,
                      const char *sender, cl_publisher_t *pub, cl_command_event_t *out, cl_err_t *refused,
                      cl_err_t *err) CL_WARN_UNUSED;
void cl_command_event_release(cl_command_event_t *out);

/* Checks a ListCases request. Returns 0 or -1 with err INVALID_ARGUMENT. */
int cl_list_validate(const Caseloop__V1__ListCases *q, cl_err_t *err) CL_WARN_UNUSED;

/* Runs a validated ListCases into a new *reply_p (free with
   caseloop__v1__list_cases_reply__free_unpacked(*reply_p, NULL)). Returns 0 or -1 with err. */
int cl_store_list_cases(cl_db_t *db, const Caseloop__V1__ListCases *q, Caseloop__V1__ListCasesReply **reply_p,
                        cl_err_t *err) CL_WARN_UNUSED;

/* Adds case_id's history, in log order, to reply. Returns 0 or -1 with err. */
int cl_store_history(cl_db_t *db, uint64_t case_id, Caseloop__V1__GetCaseReply *reply, cl_err_t *err) CL_WARN_UNUSED;

#endif
