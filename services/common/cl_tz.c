/* cl_tz.c - site local time. */
#include "cl_tz.h"
#include "cl_clock.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <stdio.h>

/* The C library converts to a zone's local time only through TZ. Other
   threads read the environment without a lock (libpq, the zone checks of a
   policy), which is safe while TZ is switched in place: replacing the value
   of a variable swaps one pointer, whereas removing it and adding it again
   can move the environment array under them. So TZ is never removed; unset,
   it stands for the system's zone, as this. */
#define SYSTEM_ZONE ":/etc/localtime"

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;

void cl_tz_init(void)
{
    pthread_mutex_lock(&s_lock);
    if (!getenv("TZ")) {
        setenv("TZ", SYSTEM_ZONE, 1);
        tzset();
    }
    pthread_mutex_unlock(&s_lock);
}

int cl_tz_localtime(const char *tz, int64_t utc_us, struct tm *out)
{
    time_t t = (time_t)(utc_us / CL_US_PER_S);
    pthread_mutex_lock(&s_lock);
    const char *was = getenv("TZ");
    char *saved = strdup(was ? was : SYSTEM_ZONE);
    if (!saved) {
        pthread_mutex_unlock(&s_lock);
        return -1;
    }
    setenv("TZ", tz, 1);
    tzset();
    struct tm *ok = localtime_r(&t, out);
    setenv("TZ", saved, 1);
    free(saved);
    tzset();
    pthread_mutex_unlock(&s_lock);
    return ok ? 0 : -1;
}

/* True when dir/name is a zoneinfo file: name an IANA-style name with no "..". */
bool cl_tz_exists(const char *dir, const char *name)
{
    if (name[0] == '/' || strstr(name, ".."))
        return false;
    for (const char *p = name; *p; p++) {
        char ch = *p;
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                  ch == '/' || ch == '_' || ch == '-' || ch == '+' || ch == '.';
        if (!ok)
            return false;
    }
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof path)
        return false;
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}
