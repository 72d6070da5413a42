/* cl_clock.c - real and fake clocks. */
#include "cl_clock.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

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

/* Real time plus the offset a test keeps in a shared file mapping. */
static const int64_t *s_offset;

static int64_t s_shifted_now(cl_clock_t *self)
{
    return s_real_now(self) + __atomic_load_n(s_offset, __ATOMIC_RELAXED);
}

cl_clock_t *cl_clock_process(void)
{
    const char *path = getenv("CL_TEST_CLOCK_FILE");
    if (!path || !*path)
        return cl_clock_real();
    static cl_clock_t shifted = {s_shifted_now, 0};
    if (s_offset)
        return &shifted;
    int fd = open(path, O_RDONLY);
    void *map = fd >= 0 ? mmap(NULL, sizeof(int64_t), PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    if (map == MAP_FAILED) {
        fprintf(stderr, "CL_TEST_CLOCK_FILE=%s cannot be mapped: %s\n", path, strerror(saved));
        return NULL;
    }
    s_offset = map;
    fprintf(stderr, "business time is real time plus the offset in %s (CL_TEST_CLOCK_FILE: tests only)\n", path);
    return &shifted;
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
