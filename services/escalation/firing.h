/* firing.h - what a clock does when its next step comes due: told, passed over or held for
   working hours, and who is told. Pure: the row's facts and the site policy in, the decision out. */
#ifndef CL_ESCALATION_FIRING_H
#define CL_ESCALATION_FIRING_H

#include <stdbool.h>
#include <stdint.h>
#include "cl_policy.h"
#include "clockplan.h"

/* One clock whose step comes due, as its row has it. */
typedef struct {
    cl_clock_step_t step;    /* the step due (step.at_us its moment) */
    int64_t next_at_us;      /* the moment of the step after it; -1 when it is the last */
    int64_t due_us;          /* the clock's due time: its breach */
    bool major;              /* a major case */
    const char *department;  /* the case's department; NULL before it is dispatched */
} cl_fire_clock_t;

typedef enum {
    CL_FIRE_TELL = 1,        /* the step is told now */
    CL_FIRE_PASS,            /* the step is passed over, untold */
    CL_FIRE_HOLD,            /* the step waits, its stage unchanged */
} cl_fire_action_t;

typedef struct {
    cl_fire_action_t action;
    int64_t late_us;         /* TELL: how long after its moment it is told; 0 when on time */
    int64_t shift_us;        /* TELL: how far the steps after it move on (cl_fire_respace) */
    int64_t next_us;         /* when the clock fires next: HOLD, when it may be told; TELL and PASS,
                                the next step's moment (moved on by shift_us); -1 for nothing more */
    const char *responsible; /* TELL of a ladder level: the person told (cl_fire_person) */
} cl_fire_t;

/* What firing does at now_us to clock c of the site whose policy in force is s (NULL
   when none): a warning the breach made pointless is passed over
   (cl_fire_pointless); a warning or ladder level outside the site's working hours is
   held for them (cl_fire_quiet); else the step is told: a warning urges the
   department (R-CL-1), the breach and each ladder level escalate the missed clock to
   the person of the level's role (R-CL-2, cl_fire_person), and a level told late
   moves the rest of the ladder on by as much (cl_fire_respace). */
void cl_fire_decide(const cl_site_policy_t *s, const cl_fire_clock_t *c, int64_t now_us, cl_fire_t *out);

/* Whether step st, come due at now_us, is a warning the breach made pointless: one
   told at or after the clock's due time due_us (a service that was down, a warning
   held for working hours until the due time) chases nothing any more (R-CL-1). */
bool cl_fire_pointless(const cl_clock_step_t *st, int64_t now_us, int64_t due_us);

/* Quiet hours: whether step st, come due at now_us, waits for the working hours of
   site s (NULL: no policy, nothing waits), and until when (*until_us). Warnings and
   ladder levels go to people and wait, unless the case is major and the site exempts
   major cases (quiet_major_exempt); the breach keeps its true time. A warning waits
   no later than the due time due_us. False too when the calendar cannot place the
   next working moment. Working hours are the site calendar's (R-CL-3). */
bool cl_fire_quiet(const cl_site_policy_t *s, const cl_clock_step_t *st, bool major, int64_t now_us, int64_t due_us,
                   int64_t *until_us);

/* How far the steps after step st move on when it is told late_us after its moment:
   a ladder level told late (working hours, a service that was down) gives the next
   levels their full time after it, rather than telling them all at once; warnings
   and the breach move nothing. The ladder's spacing (R-CL-2). */
int64_t cl_fire_respace(const cl_clock_step_t *st, int64_t late_us);

/* The person a ladder role names at site s for a case of department dept (NULL:
   none yet): for supervisors that department's supervisor; else, or when the
   department has none, the first of that role in the site's staff; when the policy
   names nobody of that role (or there is no policy), the role's own name. Who a
   missed clock climbs to (R-CL-2). The string is s's or static. */
const char *cl_fire_person(const cl_site_policy_t *s, cl_role_t role, const char *dept);

#endif
