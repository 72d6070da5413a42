/* cl_clock.h - the one source of business time: the real clock, or a fake one for tests. */
#ifndef CL_CLOCK_H
#define CL_CLOCK_H

#include <stdint.h>

typedef struct cl_clock cl_clock_t;
struct cl_clock {
    int64_t (*now)(cl_clock_t *self);  /* microseconds since the Unix epoch, UTC */
    int64_t fake_us;                   /* the fake clock's time */
};

/* The process's real clock (CLOCK_REALTIME); never NULL, never freed. */
cl_clock_t *cl_clock_real(void);

/* The business clock of a service process: the real clock, unless the
   test-only setting CL_TEST_CLOCK_FILE names a file of 8 bytes, an offset in
   microseconds (native byte order, aligned) that the clock adds to real time
   and that a test moves forward while the services run, so that they cross
   days and month ends without waiting. Never set it in production. Returns
   NULL (with a message on stderr) when that file cannot be mapped. */
cl_clock_t *cl_clock_process(void);

/* Sets up a fake clock standing at start_us; it moves only by cl_clock_advance/set. */
void cl_clock_fake_init(cl_clock_t *clock, int64_t start_us);
void cl_clock_advance(cl_clock_t *clock, int64_t delta_us);
void cl_clock_set(cl_clock_t *clock, int64_t now_us);

/* Business time now, from whichever clock. */
int64_t cl_clock_now(cl_clock_t *clock);

/* Monotonic microseconds, for timeouts and latency, never for business time. */
int64_t cl_mono_us(void);

#define CL_US_PER_S INT64_C(1000000)

#endif
