/* clockplan.c - a response clock's steps. */
#include "clockplan.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define US 1000000LL

int64_t cl_clock_paused_span(const cl_clock_def_t *d, const cl_calendar_t *cal, int64_t since_us, int64_t until_us)
{
    if (until_us <= since_us)
        return 0;
    return d->working_time && cal ? cl_calendar_elapsed(cal, since_us, until_us) : until_us - since_us;
}

int cl_clock_schedule(const cl_clock_def_t *d, const cl_calendar_t *cal, bool major, int64_t armed_us,
                      int64_t *due_us, cl_clock_step_t out[CL_CLOCK_MAX_STEPS])
{
    int64_t dur = d->duration_s * US;
    if (cl_clock_after(d, cal, armed_us, dur, due_us) < 0)
        return -1;
    int n = 0;
    for (size_t i = 0; i < d->nwarn; i++) {
        cl_clock_step_t *st = &out[n++];
        memset(st, 0, sizeof *st);
        st->kind = CL_STEP_WARNING;
        st->arg = d->warn_pct[i];
        if (cl_clock_after(d, cal, armed_us, dur * d->warn_pct[i] / 100, &st->at_us) < 0)
            return -1;
    }
    out[n++] = (cl_clock_step_t){*due_us, CL_STEP_BREACH, 0, 0};
    const cl_role_t *roles = major ? d->major_ladder : d->ladder;
    const int64_t *secs = major ? d->major_ladder_s : d->ladder_s;
    size_t levels = major ? d->nmajor_ladder : d->nladder;
    int64_t at = *due_us;
    for (size_t i = 0; i < levels; i++) {
        out[n++] = (cl_clock_step_t){at, CL_STEP_LEVEL, (int)i + 1, roles[i]};
        at += secs[i] * US;
    }
    return n;
}

/* t moved on by a pause from since to until: by the working time paused on cal, else the wall time. */
static int64_t s_moved(const cl_calendar_t *cal, int64_t since, int64_t until, int64_t t)
{
    int64_t moved;
    if (cal && cl_calendar_add(cal, until, cl_calendar_elapsed(cal, since, t), &moved) == 0)
        return moved;
    return t + (until - since);
}

void cl_clock_resume(const cl_calendar_t *cal, int64_t since_us, int64_t until_us, int64_t *due_us, int64_t *at, int n,
                     int stage)
{
    int64_t due = *due_us;
    if (due > since_us)
        *due_us = s_moved(cal, since_us, until_us, due);
    /* The ladder after the due time: by as much as the due time moved, or once breached, by the wall time paused. */
    int64_t after_due = due > since_us ? *due_us - due : until_us - since_us;
    for (int k = stage; k < n; k++)
        if (at[k] > since_us)
            at[k] = at[k] >= due ? at[k] + after_due : s_moved(cal, since_us, until_us, at[k]);
}

int cl_clock_retime(const cl_clock_def_t *d, const cl_calendar_t *cal, bool major, int64_t armed_us, int64_t paused_us,
                    int64_t at_us, int told_pct, int64_t *due_us, cl_clock_step_t out[CL_CLOCK_MAX_STEPS], int *stage)
{
    int64_t start;
    if (cl_clock_after(d, cal, armed_us, paused_us, &start) < 0)
        return -1;
    int n = cl_clock_schedule(d, cal, major, start, due_us, out);
    *stage = 0;
    while (*stage < n && out[*stage].kind == CL_STEP_WARNING && (out[*stage].at_us <= at_us || out[*stage].arg <= told_pct))
        (*stage)++;
    return n;
}

static const char *const S_KIND_NAMES[] = {NULL, "warning", "breach", "level"};

const char *cl_clock_step_kind_name(cl_step_kind_t kind)
{
    return kind >= CL_STEP_WARNING && kind <= CL_STEP_LEVEL ? S_KIND_NAMES[kind] : "unknown";
}

int cl_clock_step_kind_parse(const char *name)
{
    for (int k = CL_STEP_WARNING; name && k <= CL_STEP_LEVEL; k++)
        if (strcmp(name, S_KIND_NAMES[k]) == 0)
            return k;
    return -1;
}

void cl_clock_step_encode(const cl_clock_step_t *st, char *buf, size_t len)
{
    switch (st->kind) {
    case CL_STEP_WARNING: snprintf(buf, len, "W%d", st->arg); break;
    case CL_STEP_BREACH: snprintf(buf, len, "B"); break;
    case CL_STEP_LEVEL: snprintf(buf, len, "L%d:%s", st->arg, cl_role_name(st->role)); break;
    default: snprintf(buf, len, "?"); break;
    }
}

int cl_clock_step_decode(const char *text, cl_clock_step_t *st)
{
    memset(st, 0, sizeof *st);
    char *end;
    if (text[0] == 'B' && !text[1]) {
        st->kind = CL_STEP_BREACH;
        return 0;
    }
    if (text[0] == 'W') {
        st->kind = CL_STEP_WARNING;
        st->arg = (int)strtol(text + 1, &end, 10);
        return end != text + 1 && !*end ? 0 : -1;
    }
    if (text[0] == 'L') {
        st->kind = CL_STEP_LEVEL;
        st->arg = (int)strtol(text + 1, &end, 10);
        if (end == text + 1 || *end != ':' || cl_role_parse(end + 1) < 0)
            return -1;
        st->role = (cl_role_t)cl_role_parse(end + 1);
        return 0;
    }
    return -1;
}
