/* cl_calendar.h - a site's working calendar: working time for response clocks (RULES R-CL-3). */
#ifndef CL_CALENDAR_H
#define CL_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "cl_err.h"

/* A calendar says when a site works: its time zone (IANA name), its weekly
   hours (up to CL_CALENDAR_MAX_INTERVALS local intervals per weekday), its
   holidays (local dates without work) and its extra working days (local dates
   that work although their weekday does not, e.g. a Saturday made up for a
   bridge holiday).

   All instants are microseconds since the Unix epoch, UTC, as cl_clock gives
   them. Working intervals are half-open: [from, to). The answers depend only
   on the arguments and the system's zoneinfo.

   Local to UTC: every local wall time of a working interval is turned into
   one instant, deterministically:
   - a wall time that does not exist (spring-forward gap) moves forward to the
     instant the gap ends (the transition itself), so 02:30 on the day New
     York springs forward is 03:00 EDT, and an interval lying wholly inside
     the gap holds no working time;
   - a wall time that exists twice (fall-back overlap) is the earlier of the
     two instants, so 01:30 on the day New York falls back is 01:30 EDT, and
     an interval 00:00-03:00 that day lasts 4 hours.

   Supported instants lie between 1901-01-01 and 2299-01-01 UTC.

   A calendar is immutable once built apart from an internal cache of the
   zone's offsets, one table per UTC year, that fills itself safely on first
   use, so one calendar may be shared by several threads. Filling one year
   samples the zone daily through cl_tz_localtime (about 400 calls, 5-50 ms);
   afterwards a 24-hour working-time cl_calendar_add takes about 1 us. */

#define CL_CALENDAR_MAX_INTERVALS 4
#define CL_CALENDAR_MINUTES_PER_DAY 1440

/* Local working hours from from_min to to_min, in minutes after local
   midnight: 0 <= from_min < to_min <= 1440 (1440 is 24:00). 09:00-18:00 is
   {540, 1080}. */
typedef struct {
    int from_min;
    int to_min;
} cl_calendar_interval_t;

/* Minutes after midnight of "HH:MM" (00:00 .. 24:00), or -1. */
int cl_calendar_hhmm(const char *text);

/* "HH:MM-HH:MM" into *iv, the end after the start. Returns 0, or -1. */
int cl_calendar_interval_parse(const char *text, cl_calendar_interval_t *iv);

/* The hours of one day: n intervals in increasing order, not overlapping
   (one may end where the next starts). n == 0 means no work that day. */
typedef struct {
    int n;
    cl_calendar_interval_t iv[CL_CALENDAR_MAX_INTERVALS];
} cl_calendar_hours_t;

/* A local calendar date, month 1-12, day 1-31. */
typedef struct {
    int year;
    int month;
    int day;
} cl_calendar_date_t;

/* An extra working day. hours_of is the weekday (0 Sunday .. 6 Saturday, as
   struct tm's tm_wday) whose weekly hours apply, or -1 for the spec's
   extra_hours. */
typedef struct {
    cl_calendar_date_t date;
    int hours_of;
} cl_calendar_extra_t;

/* What cl_calendar_new copies. week is indexed by weekday, 0 Sunday ..
   6 Saturday. A date listed twice in one list counts once; a date that is
   both a holiday and an extra working day is refused. An extra working day
   whose weekday also works takes the extra day's hours instead. */
typedef struct {
    const char *tz;                       /* IANA name, "Asia/Shanghai" */
    cl_calendar_hours_t week[7];
    const cl_calendar_date_t *holidays;   /* n_holidays dates, any order */
    size_t n_holidays;
    const cl_calendar_extra_t *extra_days;  /* n_extra_days dates, any order */
    size_t n_extra_days;
    cl_calendar_hours_t extra_hours;      /* hours of extra days with hours_of -1 */
} cl_calendar_spec_t;

typedef struct cl_calendar cl_calendar_t;

/* Builds a calendar from spec (copied: spec's arrays may be freed after).
   Refuses, with err (may be NULL) saying which field and why, when: the zone
   is not a time zone file of the system's zoneinfo; an interval is out of
   range, empty or out of order; no weekday has working hours (working time
   would never pass); a date is not a calendar date; a date is both a holiday
   and an extra day; an extra day's hours_of is out of range or names hours
   that are empty. Returns NULL on error. */
cl_calendar_t *cl_calendar_new(const cl_calendar_spec_t *spec, cl_err_t *err) CL_WARN_UNUSED;

/* Frees *self_p and sets it to NULL; accepts NULL and a NULL *self_p. */
void cl_calendar_destroy(cl_calendar_t **self_p);

/* The zone name the calendar was built with. */
const char *cl_calendar_tz(const cl_calendar_t *self);

/* Sets *due_us to the instant at which duration_us of working time has
   passed since start_us. Time counts only inside working intervals: a start
   outside working hours starts counting at the next working moment (a clock
   armed at night starts in the morning). A due instant that falls on the end
   of an interval stays there (a 9-hour clock started at 09:00 on a 09:00-18:00
   day is due at 18:00 that day, not at 09:00 the next working day). A zero
   duration is due at the next working moment at or after start_us. Returns
   0, or -1 (leaving *due_us alone) when duration_us is negative or start_us
   or the due instant is outside the supported range. Deadlines in working
   days and hours (R-CL-3). */
int cl_calendar_add(const cl_calendar_t *self, int64_t start_us, int64_t duration_us,
                    int64_t *due_us) CL_WARN_UNUSED;

/* The working time, in microseconds, inside [from_us, to_us); 0 when to_us
   <= from_us. Instants outside the supported range are clamped to it. For a
   clock that was started, paused and resumed, the remaining time is the
   duration minus the sum of elapsed() over its running spans (R-CL-3). */
int64_t cl_calendar_elapsed(const cl_calendar_t *self, int64_t from_us, int64_t to_us);

/* Whether at_us lies inside a working interval (intervals are [from, to)).
   False outside the supported range. */
bool cl_calendar_is_working(const cl_calendar_t *self, int64_t at_us);

/* Sets *next_us to at_us when it is working time, else to the start of the
   next working interval (messages to people wait for it). Returns 0, or -1
   outside the supported range. Same as cl_calendar_add with a zero duration. */
int cl_calendar_next_working(const cl_calendar_t *self, int64_t at_us,
                             int64_t *next_us) CL_WARN_UNUSED;

/* Local days: days since 1970-01-01 in the calendar's zone. */

/* The local day of instant at_us. */
int64_t cl_calendar_day(const cl_calendar_t *self, int64_t at_us);

/* The weekday of local day `day`, 0 Sunday .. 6 Saturday. */
int cl_calendar_weekday(int64_t day);

/* The instant (UTC, us) of local minute `minute` (0..1440) of local day
   `day`, a wall time in a gap or an overlap placed as working intervals are. */
int64_t cl_calendar_local(const cl_calendar_t *self, int64_t day, int minute);

/* Whether local day `day` has working hours: not a holiday, and its weekday
   works or it is an extra working day. */
bool cl_calendar_works_on(const cl_calendar_t *self, int64_t day);

/* The wall-clock time of at_us in the calendar's zone: tm_wday, tm_hour,
   tm_min and tm_sec only (the rest 0), from the calendar's cached offsets, so
   without cl_tz_localtime's lock. */
void cl_calendar_localtime(const cl_calendar_t *self, int64_t at_us, struct tm *out);

/* The weekly hours of weekday (0 Sunday .. 6 Saturday). */
const cl_calendar_hours_t *cl_calendar_week(const cl_calendar_t *self, int weekday);

#endif
