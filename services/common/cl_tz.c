/* cl_tz.c - site local time. */
#include "cl_tz.h"
#include "cl_clock.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;

int cl_tz_localtime(const char *tz, int64_t utc_us, struct tm *out)
{
    time_t t = (time_t)(utc_us / CL_US_PER_S);
    pthread_mutex_lock(&s_lock);
    char *saved = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
    setenv("TZ", tz, 1);
    tzset();
    struct tm *ok = localtime_r(&t, out);
    if (saved) {
        setenv("TZ", saved, 1);
        free(saved);
    } else {
        unsetenv("TZ");
    }
    tzset();
    pthread_mutex_unlock(&s_lock);
    return ok ? 0 : -1;
}
