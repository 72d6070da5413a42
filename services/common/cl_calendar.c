/* cl_calendar.c - a site's working calendar: working time for response clocks. */
#include "cl_calendar.h"
#include "cl_clock.h"
#include "cl_tz.h"
#include <assert.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The zone's UTC offsets are cached per UTC year, from CL_YEAR0 on. */
#define CL_YEAR0 1900
#define CL_NYEARS 400
#define CL_MAX_TRANSITIONS 64
#define DAY_S INT64_C(86400)
#define WEEK_S (7 * DAY_S)
#define US_PER_MIN (60 * CL_US_PER_S)

/* One UTC year of the zone: the offset at its first second and the
   instants (UTC seconds) at which the offset changes within it. */
typedef struct {
    int64_t at;
    int32_t off;
} s_change_t;

typedef struct {
    int64_t start_s, end_s;
    int32_t off0;
    int n;
    s_change_t change[];
} s_year_t;

typedef struct {
    int32_t day;  /* local days since 1970-01-01 */
    cl_calendar_hours_t hours;
} s_extra_t;

struct cl_calendar {
    char *tz;
    cl_calendar_hours_t week[7];
    int64_t week_us;      /* working time of a plain week */
    int32_t *holidays;    /* sorted, unique */
    size_t n_holidays;
    s_extra_t *extras;    /* sorted by day, unique */
    size_t n_extras;
    _Atomic(s_year_t *) years[CL_NYEARS];
};

static const cl_calendar_hours_t s_no_hours = {0};

/* --- civil dates (proleptic Gregorian), after H. Hinnant's algorithms --- */

static int64_t s_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Days since 1970-01-01 of year-month-day. */
static int64_t s_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = s_floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The year holding day z (days since 1970-01-01). */
static int64_t s_year_of_day(int64_t z)
{
    z += 719468;
    int64_t era = s_floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    return yoe + era * 400 + (m <= 2);
}

static int s_days_in_month(int y, int m)
{
    static const int n[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : n[m - 1];
}

/* 0 Sunday .. 6 Saturday; 1970-01-01 was a Thursday. */
static int s_weekday(int64_t day)
{
    return (int)(((day + 4) % 7 + 7) % 7);
}

/* Supported instants, UTC seconds: [1901-01-01, 2299-01-01). */
#define MIN_S (s_days_from_civil(1901, 1, 1) * DAY_S)
#define MAX_S (s_days_from_civil(2299, 1, 1) * DAY_S)

/* --- the zone's offsets --- */

static int32_t s_tz_offset(const char *tz, int64_t t_s)
{
    struct tm tm;
    if (cl_tz_localtime(tz, t_s * CL_US_PER_S, &tm) != 0)
        return 0;
    return (int32_t)tm.tm_gmtoff;
}

/* Builds the table of UTC year y: samples the offset every day and finds
   each change to the second by bisection. Returns NULL when out of memory. */
static s_year_t *s_year_build(const char *tz, int64_t y)
{
    s_change_t found[CL_MAX_TRANSITIONS];
    int n = 0;
    int64_t start = s_days_from_civil(y, 1, 1) * DAY_S;
    int64_t end = s_days_from_civil(y + 1, 1, 1) * DAY_S;
    int32_t off0 = s_tz_offset(tz, start), prev = off0;
    for (int64_t t = start + DAY_S; t <= end; t += DAY_S) {
        int32_t o = s_tz_offset(tz, t);
        int64_t lo = t - DAY_S;  /* offset prev at lo, o at t */
        while (o != prev) {
            int64_t hi = t;
            while (hi - lo > 1) {
                int64_t mid = lo + (hi - lo) / 2;
                if (s_tz_offset(tz, mid) == prev)
                    lo = mid;
                else
                    hi = mid;
            }
            prev = hi == t ? o : s_tz_offset(tz, hi);
            if (hi < end && n < CL_MAX_TRANSITIONS)
                found[n++] = (s_change_t){hi, prev};
            lo = hi;
        }
    }
    s_year_t *yr = malloc(sizeof *yr + (size_t)n * sizeof(s_change_t));
    if (!yr)
        return NULL;
    yr->start_s = start;
    yr->end_s = end;
    yr->off0 = off0;
    yr->n = n;
    if (n)
        memcpy(yr->change, found, (size_t)n * sizeof(s_change_t));
    return yr;
}

/* The table of cache slot i, built on first use. Two threads may build the
   same slot at once: one keeps its table, the other frees its own. When out
   of memory, a table with the offset at the slot's start stands in. */
static const s_year_t *s_year(const cl_calendar_t *self, int i)
{
    cl_calendar_t *me = (cl_calendar_t *)self;  /* only the cache changes */
    s_year_t *yr = atomic_load_explicit(&me->years[i], memory_order_acquire);
    if (yr)
        return yr;
    s_year_t *built = s_year_build(self->tz, CL_YEAR0 + i);
    if (!built) {
        static s_year_t utc = {0, 0, 0, 0};
        return &utc;
    }
    s_year_t *expected = NULL;
    if (atomic_compare_exchange_strong_explicit(&me->years[i], &expected, built,
                                                memory_order_acq_rel, memory_order_acquire))
        return built;
    free(built);
    return expected;
}

/* The cache slot holding UTC second t, clamped to the cached years. */
static int s_slot(int64_t t_s)
{
    int64_t y = s_year_of_day(s_floor_div(t_s, DAY_S)) - CL_YEAR0;
    return y < 0 ? 0 : y >= CL_NYEARS ? CL_NYEARS - 1 : (int)y;
}

/* The zone's UTC offset, in seconds, at UTC second t. */
static int32_t s_offset(const cl_calendar_t *self, int64_t t_s)
{
    const s_year_t *yr = s_year(self, s_slot(t_s));
    int32_t off = yr->off0;
    for (int i = 0; i < yr->n && t_s >= yr->change[i].at; i++)
        off = yr->change[i].off;
    return off;
}

/* The first instant after t_s at which the offset changes, or an instant
   before which it surely does not (looking into the next year at most). */
static int64_t s_next_change(const cl_calendar_t *self, int64_t t_s)
{
    int i = s_slot(t_s);
    for (int k = i; k <= i + 1 && k < CL_NYEARS; k++) {
        const s_year_t *yr = s_year(self, k);
        for (int j = 0; j < yr->n; j++)
            if (yr->change[j].at > t_s)
                return yr->change[j].at;
        if (k == i + 1 || k == CL_NYEARS - 1)
            return k == CL_NYEARS - 1 ? INT64_MAX : yr->end_s;
    }
    return INT64_MAX;
}

/* The UTC second of local second l (local wall time counted as if it were
   UTC). A wall time in a gap moves forward to the end of the gap; one in an
   overlap takes the earlier instant. */
static int64_t s_to_utc(const cl_calendar_t *self, int64_t l)
{
    int32_t oa = s_offset(self, l - DAY_S), ob = s_offset(self, l + DAY_S);
    int64_t ta = l - oa, tb = l - ob;
    bool va = s_offset(self, ta) == oa, vb = s_offset(self, tb) == ob;
    if (va && vb)
        return ta < tb ? ta : tb;
    if (va)
        return ta;
    if (vb)
        return tb;
    return s_next_change(self, ta < tb ? ta : tb);  /* in a gap */
}

/* Local day (days since 1970-01-01 in the zone) of instant at_us. */
static int64_t s_local_day(const cl_calendar_t *self, int64_t at_us)
{
    int64_t t = s_floor_div(at_us, CL_US_PER_S);
    return s_floor_div(t + s_offset(self, t), DAY_S);
}

/* --- days --- */

/* How local day d maps to UTC. When no offset change touches the day
   (fast), minute m of the day is t0 + 60 m; otherwise each wall time goes
   through s_to_utc. */
typedef struct {
    int64_t day;
    int64_t t0;    /* UTC second of the day's 00:00 */
    int64_t next;  /* no offset change before this UTC second (fast only) */
    bool fast;
} s_frame_t;

static s_frame_t s_frame(const cl_calendar_t *self, int64_t d)
{
    s_frame_t f = {.day = d, .t0 = s_to_utc(self, d * DAY_S)};
    f.fast = d * DAY_S - s_offset(self, f.t0) == f.t0;
    if (f.fast) {
        f.next = s_next_change(self, f.t0);
        f.fast = f.next > f.t0 + DAY_S;
    }
    return f;
}

/* Instant, in microseconds, of minute m of the frame's day. */
static int64_t s_at(const cl_calendar_t *self, const s_frame_t *f, int m)
{
    int64_t t = f->fast ? f->t0 + (int64_t)m * 60 : s_to_utc(self, f->day * DAY_S + (int64_t)m * 60);
    return t * CL_US_PER_S;
}

/* Index of the first element of sorted a[n] (stride bytes apart, int32 day
   first) not below d. */
static size_t s_lower_bound(const void *a, size_t n, size_t stride, int64_t d)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int32_t v;
        memcpy(&v, (const char *)a + mid * stride, sizeof v);
        if (v < d)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static const cl_calendar_hours_t *s_hours(const cl_calendar_t *self, int64_t d)
{
    size_t i = s_lower_bound(self->holidays, self->n_holidays, sizeof(int32_t), d);
    if (i < self->n_holidays && self->holidays[i] == d)
        return &s_no_hours;
    i = s_lower_bound(self->extras, self->n_extras, sizeof(s_extra_t), d);
    if (i < self->n_extras && self->extras[i].day == d)
        return &self->extras[i].hours;
    return &self->week[s_weekday(d)];
}

/* Whether the seven days from the frame's day are a plain week: no holiday,
   no extra day, no offset change, so their working time is week_us. */
static bool s_plain_week(const cl_calendar_t *self, const s_frame_t *f)
{
    if (!f->fast || f->next <= f->t0 + WEEK_S)
        return false;
    size_t i = s_lower_bound(self->holidays, self->n_holidays, sizeof(int32_t), f->day);
    if (i < self->n_holidays && self->holidays[i] < f->day + 7)
        return false;
    i = s_lower_bound(self->extras, self->n_extras, sizeof(s_extra_t), f->day);
    return !(i < self->n_extras && self->extras[i].day < f->day + 7);
}

/* --- construction --- */

static int s_check_hours(const cl_calendar_hours_t *h, const char *field, cl_err_t *err)
{
    if (h->n < 0 || h->n > CL_CALENDAR_MAX_INTERVALS)
        return cl_err_set(err, CL_INVALID_ARGUMENT, field, "cannot have %d intervals in a day (at most %d)",
                          h->n, CL_CALENDAR_MAX_INTERVALS);
    int prev_to = 0;
    for (int i = 0; i < h->n; i++) {
        const cl_calendar_interval_t *iv = &h->iv[i];
        if (iv->from_min < 0 || iv->to_min > CL_CALENDAR_MINUTES_PER_DAY || iv->from_min >= iv->to_min)
            return cl_err_set(err, CL_INVALID_ARGUMENT, field,
                              "interval %d (%d-%d) is not within a day or is empty", i, iv->from_min, iv->to_min);
        if (iv->from_min < prev_to)
            return cl_err_set(err, CL_INVALID_ARGUMENT, field,
                              "interval %d starts before the previous one ends", i);
        prev_to = iv->to_min;
    }
    return 0;
}

static int s_check_date(const cl_calendar_date_t *dt, const char *field, cl_err_t *err, int32_t *day)
{
    if (dt->year < 1901 || dt->year > 2298 || dt->month < 1 || dt->month > 12 || dt->day < 1 ||
        dt->day > s_days_in_month(dt->year, dt->month))
        return cl_err_set(err, CL_INVALID_ARGUMENT, field, "%04d-%02d-%02d is not a supported date", dt->year,
                          dt->month, dt->day);
    *day = (int32_t)s_days_from_civil(dt->year, dt->month, dt->day);
    return 0;
}

/* Whether tz names a zone file of the system's zoneinfo (an unknown name
   would silently read as UTC). */
static bool s_zone_exists(const char *tz)
{
    size_t len = strlen(tz);
    if (len == 0 || len > 200 || tz[0] == '/' || strstr(tz, ".."))
        return false;
    for (const char *p = tz; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              strchr("/_+-", *p)))
            return false;
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", tz);
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    char magic[4];
    bool ok = fread(magic, 1, 4, f) == 4 && memcmp(magic, "TZif", 4) == 0;
    fclose(f);
    return ok;
}

static int s_cmp_day(const void *a, const void *b)
{
    int32_t x, y;
    memcpy(&x, a, sizeof x);
    memcpy(&y, b, sizeof y);
    return (x > y) - (x < y);
}

static int64_t s_hours_us(const cl_calendar_hours_t *h)
{
    int64_t sum = 0;
    for (int i = 0; i < h->n; i++)
        sum += (int64_t)(h->iv[i].to_min - h->iv[i].from_min) * US_PER_MIN;
    return sum;
}

cl_calendar_t *cl_calendar_new(const cl_calendar_spec_t *spec, cl_err_t *err)
{
    assert(spec);
    cl_calendar_t *self = NULL;
    char field[64];
    if (!spec->tz || !s_zone_exists(spec->tz)) {
        cl_err_set(err, CL_INVALID_ARGUMENT, "tz", "unknown time zone \"%.100s\"", spec->tz ? spec->tz : "");
        goto err;
    }
    int64_t week_us = 0;
    for (int w = 0; w < 7; w++) {
        snprintf(field, sizeof field, "week[%d]", w);
        if (s_check_hours(&spec->week[w], field, err) != 0)
            goto err;
        week_us += s_hours_us(&spec->week[w]);
    }
    if (week_us == 0) {
        cl_err_set(err, CL_INVALID_ARGUMENT, "week", "no weekday has working hours");
        goto err;
    }
    if (s_check_hours(&spec->extra_hours, "extra_hours", err) != 0)
        goto err;
    if (spec->n_holidays && !spec->holidays) {
        cl_err_set(err, CL_INVALID_ARGUMENT, "holidays", "list is missing");
        goto err;
    }
    if (spec->n_extra_days && !spec->extra_days) {
        cl_err_set(err, CL_INVALID_ARGUMENT, "extra_days", "list is missing");
        goto err;
    }

    self = calloc(1, sizeof *self);
    if (!self || !(self->tz = strdup(spec->tz))) {
        cl_err_set(err, CL_RESOURCE_EXHAUSTED, "", "out of memory");
        goto err;
    }
    memcpy(self->week, spec->week, sizeof self->week);
    self->week_us = week_us;
    if (spec->n_holidays) {
        self->holidays = calloc(spec->n_holidays, sizeof *self->holidays);
        if (!self->holidays) {
            cl_err_set(err, CL_RESOURCE_EXHAUSTED, "", "out of memory");
            goto err;
        }
    }
    for (size_t i = 0; i < spec->n_holidays; i++) {
        snprintf(field, sizeof field, "holidays[%zu]", i);
        if (s_check_date(&spec->holidays[i], field, err, &self->holidays[i]) != 0)
            goto err;
    }
    if (spec->n_holidays)
        qsort(self->holidays, spec->n_holidays, sizeof *self->holidays, s_cmp_day);
    for (size_t i = 0; i < spec->n_holidays; i++)
        if (self->n_holidays == 0 || self->holidays[self->n_holidays - 1] != self->holidays[i])
            self->holidays[self->n_holidays++] = self->holidays[i];

    if (spec->n_extra_days) {
        self->extras = calloc(spec->n_extra_days, sizeof *self->extras);
        if (!self->extras) {
            cl_err_set(err, CL_RESOURCE_EXHAUSTED, "", "out of memory");
            goto err;
        }
    }
    for (size_t i = 0; i < spec->n_extra_days; i++) {
        const cl_calendar_extra_t *x = &spec->extra_days[i];
        snprintf(field, sizeof field, "extra_days[%zu]", i);
        if (s_check_date(&x->date, field, err, &self->extras[i].day) != 0)
            goto err;
        if (x->hours_of < -1 || x->hours_of > 6) {
            cl_err_set(err, CL_INVALID_ARGUMENT, field, "hours_of %d is not a weekday (0-6) or -1", x->hours_of);
            goto err;
        }
        self->extras[i].hours = x->hours_of < 0 ? spec->extra_hours : spec->week[x->hours_of];
        if (self->extras[i].hours.n == 0) {
            cl_err_set(err, CL_INVALID_ARGUMENT, field, "extra working day has no working hours");
            goto err;
        }
        size_t h = s_lower_bound(self->holidays, self->n_holidays, sizeof(int32_t), self->extras[i].day);
        if (h < self->n_holidays && self->holidays[h] == self->extras[i].day) {
            cl_err_set(err, CL_INVALID_ARGUMENT, field, "%04d-%02d-%02d is also a holiday", x->date.year,
                       x->date.month, x->date.day);
            goto err;
        }
    }
    if (spec->n_extra_days)
        qsort(self->extras, spec->n_extra_days, sizeof *self->extras, s_cmp_day);
    for (size_t i = 0; i < spec->n_extra_days; i++)
        if (self->n_extras == 0 || self->extras[self->n_extras - 1].day != self->extras[i].day)
            self->extras[self->n_extras++] = self->extras[i];
    return self;
err:
    cl_calendar_destroy(&self);
    return NULL;
}

void cl_calendar_destroy(cl_calendar_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cl_calendar_t *self = *self_p;
    for (int i = 0; i < CL_NYEARS; i++)
        free(atomic_load_explicit(&self->years[i], memory_order_relaxed));
    free(self->tz);
    free(self->holidays);
    free(self->extras);
    free(self);
    *self_p = NULL;
}

const char *cl_calendar_tz(const cl_calendar_t *self)
{
    assert(self);
    return self->tz;
}

/* --- working time --- */

int cl_calendar_add(const cl_calendar_t *self, int64_t start_us, int64_t duration_us, int64_t *due_us)
{
    assert(self && due_us);
    int64_t min_us = MIN_S * CL_US_PER_S, max_us = MAX_S * CL_US_PER_S;
    if (duration_us < 0 || start_us < min_us || start_us >= max_us)
        return -1;
    int64_t cur = start_us, rem = duration_us;
    int64_t last_day = s_floor_div(MAX_S, DAY_S);
    /* the day before start's local day may own intervals that reach past it
       around an offset change */
    for (int64_t d = s_local_day(self, start_us) - 1; d < last_day;) {
        s_frame_t f = s_frame(self, d);
        if (f.t0 * CL_US_PER_S >= cur && rem > self->week_us && s_plain_week(self, &f)) {
            rem -= self->week_us;
            cur = (f.t0 + WEEK_S) * CL_US_PER_S;
            d += 7;
            continue;
        }
        const cl_calendar_hours_t *h = s_hours(self, d);
        for (int i = 0; i < h->n; i++) {
            int64_t a = s_at(self, &f, h->iv[i].from_min), b = s_at(self, &f, h->iv[i].to_min);
            if (b <= a || b <= cur)
                continue;
            int64_t s = a > cur ? a : cur;
            if (b - s >= rem) {
                if (s + rem >= max_us)
                    return -1;
                *due_us = s + rem;
                return 0;
            }
            rem -= b - s;
            cur = b;
        }
        d++;
    }
    return -1;
}

int64_t cl_calendar_elapsed(const cl_calendar_t *self, int64_t from_us, int64_t to_us)
{
    assert(self);
    int64_t min_us = MIN_S * CL_US_PER_S, max_us = MAX_S * CL_US_PER_S;
    from_us = from_us < min_us ? min_us : from_us;
    to_us = to_us > max_us ? max_us : to_us;
    if (to_us <= from_us)
        return 0;
    int64_t total = 0;
    for (int64_t d = s_local_day(self, from_us) - 1;; d++) {
        s_frame_t f = s_frame(self, d);
        int64_t t0 = f.t0 * CL_US_PER_S;
        if (t0 >= to_us)
            break;
        while (t0 >= from_us && t0 + WEEK_S * CL_US_PER_S <= to_us && s_plain_week(self, &f)) {
            total += self->week_us;
            d += 7;
            f = s_frame(self, d);
            t0 = f.t0 * CL_US_PER_S;
        }
        if (t0 >= to_us)
            break;
        const cl_calendar_hours_t *h = s_hours(self, d);
        for (int i = 0; i < h->n; i++) {
            int64_t a = s_at(self, &f, h->iv[i].from_min), b = s_at(self, &f, h->iv[i].to_min);
            int64_t lo = a > from_us ? a : from_us, hi = b < to_us ? b : to_us;
            if (hi > lo)
                total += hi - lo;
        }
    }
    return total;
}

int cl_calendar_next_working(const cl_calendar_t *self, int64_t at_us, int64_t *next_us)
{
    return cl_calendar_add(self, at_us, 0, next_us);
}

bool cl_calendar_is_working(const cl_calendar_t *self, int64_t at_us)
{
    int64_t next;
    return cl_calendar_add(self, at_us, 0, &next) == 0 && next == at_us;
}

int64_t cl_calendar_day(const cl_calendar_t *self, int64_t at_us)
{
    assert(self);
    return s_local_day(self, at_us);
}

int cl_calendar_weekday(int64_t day)
{
    return s_weekday(day);
}

int64_t cl_calendar_local(const cl_calendar_t *self, int64_t day, int minute)
{
    assert(self);
    s_frame_t f = s_frame(self, day);
    return s_at(self, &f, minute);
}

bool cl_calendar_works_on(const cl_calendar_t *self, int64_t day)
{
    assert(self);
    return s_hours(self, day)->n > 0;
}

const cl_calendar_hours_t *cl_calendar_week(const cl_calendar_t *self, int weekday)
{
    assert(self && weekday >= 0 && weekday < 7);
    return &self->week[weekday];
}

void cl_calendar_localtime(const cl_calendar_t *self, int64_t at_us, struct tm *out)
{
    assert(self && out);
    int64_t t = s_floor_div(at_us, CL_US_PER_S);
    int64_t l = t + s_offset(self, t), day = s_floor_div(l, DAY_S), sec = l - day * DAY_S;
    memset(out, 0, sizeof *out);
    out->tm_wday = s_weekday(day);
    out->tm_hour = (int)(sec / 3600);
    out->tm_min = (int)(sec % 3600 / 60);
    out->tm_sec = (int)(sec % 60);
}

int cl_calendar_hhmm(const char *s)
{
    if (strlen(s) != 5 || s[2] != ':')
        return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (s[i] < '0' || s[i] > '9'))
            return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && m != 0))
        return -1;
    return h * 60 + m;
}

int cl_calendar_interval_parse(const char *text, cl_calendar_interval_t *iv)
{
    char a[6], b[6];
    if (!text || strlen(text) != 11 || text[5] != '-')
        return -1;
    memcpy(a, text, 5), a[5] = '\0';
    memcpy(b, text + 6, 5), b[5] = '\0';
    iv->from_min = cl_calendar_hhmm(a);
    iv->to_min = cl_calendar_hhmm(b);
    return iv->from_min >= 0 && iv->to_min > iv->from_min ? 0 : -1;
}
