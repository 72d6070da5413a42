/* lifecycle.h - the case state machine: which command fits which state, and where it leads. Pure. */
#ifndef CL_INTAKE_LIFECYCLE_H
#define CL_INTAKE_LIFECYCLE_H

#include <stdbool.h>
#include "cl_err.h"
#include "caseloop/v1/common.pb-c.h"

/* The commands front ends send about a case (caseloop.v1.CaseAction). */
typedef enum {
    CL_ACT_ACKNOWLEDGE = 1,   /* the department acknowledges the feedback form */
    CL_ACT_FIRST_CONTACT,     /* the department first contacts the customer, with a plan */
    CL_ACT_PROGRESS,          /* a progress note */
    CL_ACT_RESOLVE,           /* the department reports the result */
    CL_ACT_REPORT_RESULT,     /* the first receiver told the customer and records their opinion */
    CL_ACT_REOPEN,
    CL_ACT_CLOSE,             /* close without a customer report (anonymous, reply letter only) */
    CL_ACT_WAIT_FOR_CUSTOMER, /* the case waits on the customer; the state stays */
    CL_ACT_RESUME,            /* the customer answered; the state stays */
    CL_ACT_ANSWER,            /* reception gave the customer a first answer; the state stays */
} cl_action_t;

/* The state after action in state `from`, or -1 with err CONFLICT (field
   "action", a sentence naming the action and the state it is in) when the
   action does not fit. dispatched: the case has reached a department
   (acknowledging needs it). satisfied: for CL_ACT_REPORT_RESULT, the
   customer's opinion (satisfied closes, not satisfied returns the case to
   the department head, until the customer is: R-CL-5). States and actions
   outside the enums are refused the same way. */
int cl_lifecycle_next(Caseloop__V1__CaseState from, cl_action_t action, bool dispatched, bool satisfied,
                      Caseloop__V1__CaseState *to, cl_err_t *err);

/* Lowercase names for messages: "acknowledge", "received", ... */
const char *cl_action_name(cl_action_t action);
const char *cl_state_name(Caseloop__V1__CaseState state);

/* True while a case is open (not closed). */
bool cl_state_open(Caseloop__V1__CaseState state);

#endif
