/* firing.c - what a clock does when its next step comes due. */
#include "firing.h"
#include <string.h>

bool cl_fire_pointless(const cl_clock_step_t *st, int64_t now_us, int64_t due_us)
{
    return st->kind == CL_STEP_WARNING && now_us >= due_us;
}

bool cl_fire_quiet(const cl_site_policy_t *s, const cl_clock_step_t *st, bool major, int64_t now_us, int64_t due_us,
                   int64_t *until_us)
{
    bool to_people = st->kind != CL_STEP_BREACH;
    if (!to_people || !s || !s->calendar || (major && s->quiet_major_exempt) ||
        cl_calendar_is_working(s->calendar, now_us) || cl_calendar_next_working(s->calendar, now_us, until_us) < 0)
        return false;
    if (st->kind == CL_STEP_WARNING && due_us < *until_us)
        *until_us = due_us;
    return true;
}

int64_t cl_fire_respace(const cl_clock_step_t *st, int64_t late_us)
{
    return st->kind == CL_STEP_LEVEL && late_us > 0 ? late_us : 0;
}

const char *cl_fire_person(const cl_site_policy_t *s, cl_role_t role, const char *dept)
{
    const char *first = NULL;
    for (size_t i = 0; s && i < s->nstaff; i++) {
        const cl_staff_t *st = &s->staff[i];
        if (st->role != role)
            continue;
        if (role != CL_ROLE_SUPERVISOR ||
            (st->department >= 0 && dept && strcmp(s->departments[st->department].code, dept) == 0))
            return st->id;
        if (!first)
            first = st->id;
    }
    return first ? first : cl_role_name(role);
}

void cl_fire_decide(const cl_site_policy_t *s, const cl_fire_clock_t *c, int64_t now_us, cl_fire_t *out)
{
    memset(out, 0, sizeof *out);
    out->next_us = c->next_at_us;
    if (cl_fire_pointless(&c->step, now_us, c->due_us)) {
        out->action = CL_FIRE_PASS;
        return;
    }
    int64_t until;
    if (cl_fire_quiet(s, &c->step, c->major, now_us, c->due_us, &until)) {
        out->action = CL_FIRE_HOLD;
        out->next_us = until;
        return;
    }
    out->action = CL_FIRE_TELL;
    out->late_us = now_us > c->step.at_us ? now_us - c->step.at_us : 0;
    out->shift_us = cl_fire_respace(&c->step, out->late_us);
    if (out->next_us >= 0)
        out->next_us += out->shift_us;
    if (c->step.kind == CL_STEP_LEVEL)
        out->responsible = cl_fire_person(s, c->step.role, c->department);
}
