/* cl_clock.c - real and fake clocks. */
#include "cl_clock.h"
#include <time.h>

static int64_t s_real_now(cl_clock_t *self)
{
    (void)self;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * CL_US_PER_S + ts.tv_nsec / 1000;
}

static int64_t s_fake_now(cl_clock_t *self)
{
    return self->fake_us;
}

cl_clock_t *cl_clock_real(void)
{
    static cl_clock_t real = {s_real_now, 0};
    return &real;
}

void cl_clock_fake_init(cl_clock_t *clock, int64_t start_us)
{
    clock->now = s_fake_now;
    clock->fake_us = start_us;
}

void cl_clock_advance(cl_clock_t *clock, int64_t delta_us)
{
    clock->fake_us += delta_us;
}

void cl_clock_set(cl_clock_t *clock, int64_t now_us)
{
    clock->fake_us = now_us;
}

int64_t cl_clock_now(cl_clock_t *clock)
{
    return clock->now(clock);
}

int64_t cl_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * CL_US_PER_S + ts.tv_nsec / 1000;
}
