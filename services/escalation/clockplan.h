/* clockplan.h - a response clock's steps: when it warns, breaches and tells each ladder level. Pure. */
#ifndef CL_ESCALATION_CLOCKPLAN_H
#define CL_ESCALATION_CLOCKPLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cl_policy.h"

typedef enum { CL_STEP_WARNING = 1, CL_STEP_BREACH, CL_STEP_LEVEL } cl_step_kind_t;

typedef struct {
    int64_t at_us;
    cl_step_kind_t kind;
    int arg;                 /* WARNING: percent; LEVEL: the level, 1 first */
    cl_role_t role;          /* LEVEL: who is told */
} cl_clock_step_t;

#define CL_CLOCK_MAX_STEPS (CL_CLOCK_MAX_WARNINGS + 1 + CL_CLOCK_MAX_LADDER)

/* The due time and steps of clock d armed at armed_us: its duration in wall
   time, or in working time on cal; warnings at their percent of it (working
   time too); the breach at the due time; ladder level 1 told at the due time,
   each next level when the one before has had its time (wall time). Major
   cases climb the major ladder. Returns the number of steps, -1 when the
   calendar cannot place the time. The warnings are when customer service
   urges the department (R-CL-1), the ladder is the escalation of a missed
   clock (R-CL-2), working time follows the site's calendar (R-CL-3). */
int cl_clock_schedule(const cl_clock_def_t *d, const cl_calendar_t *cal, bool major, int64_t armed_us,
                      int64_t *due_us, cl_clock_step_t out[CL_CLOCK_MAX_STEPS]);

/* How long a pause from since_us to until_us holds clock d back: wall time, or
   working time on cal for a working-time clock. */
int64_t cl_clock_paused_span(const cl_clock_def_t *d, const cl_calendar_t *cal, int64_t since_us, int64_t until_us);

/* A clock paused at since_us counts again at until_us: each step from `stage`
   on that was still ahead moves on by the pause. Warnings and the due time
   move by the working time paused when cal is given (a working-time clock),
   else by the wall time; the breach and the ladder keep their wall-time
   spacing after the due time, so that no two levels are told at once. at[]
   (n steps) is moved in place; *due_us too. */
void cl_clock_resume(const cl_calendar_t *cal, int64_t since_us, int64_t until_us, int64_t *due_us, int64_t *at, int n,
                     int stage);

/* A clock armed under an older policy version, re-timed by d: its steps as
   cl_clock_schedule gives them, counted from armed_us plus paused_us (the time
   it was held back by pauses, cl_clock_paused_span), and in *stage the step to
   go on from. Warnings due by at_us (now; for a paused clock, when it
   stopped) and those of a percent up to told_pct (already told) are passed
   over. Returns the number of steps, -1 when the calendar cannot place the time. */
int cl_clock_retime(const cl_clock_def_t *d, const cl_calendar_t *cal, bool major, int64_t armed_us, int64_t paused_us,
                    int64_t at_us, int told_pct, int64_t *due_us, cl_clock_step_t out[CL_CLOCK_MAX_STEPS], int *stage);

/* A step's kind as the database names it (type clock_step_kind: "warning", "breach",
   "level"; "unknown" out of range), and back (-1 if unknown). */
const char *cl_clock_step_kind_name(cl_step_kind_t kind);
int cl_clock_step_kind_parse(const char *name);

/* A step's short name ("W50", "B", "L1:supervisor") and back; decode returns -1 when
   malformed. A way to write steps for people; clocks store theirs typed
   (clock_step, deploy/sql/012). */
void cl_clock_step_encode(const cl_clock_step_t *st, char *buf, size_t len);
int cl_clock_step_decode(const char *text, cl_clock_step_t *st);

#endif
