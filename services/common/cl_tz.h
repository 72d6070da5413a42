/* cl_tz.h - local time of a site from its IANA time zone name. */
#ifndef CL_TZ_H
#define CL_TZ_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* Fills *out with the wall-clock time in zone tz ("Asia/Shanghai") at utc_us.
   Safe from several threads (the C library's zone state is switched under a
   lock, TZ replaced in place: see cl_tz_init). An unknown zone name reads as
   UTC, so callers check names when a policy is loaded. Returns 0 or -1. */
int cl_tz_localtime(const char *tz, int64_t utc_us, struct tm *out);

/* True when name is an IANA-style zone name (no "..", no leading "/") of a
   zoneinfo file in folder dir ("/usr/share/zoneinfo"). */
bool cl_tz_exists(const char *dir, const char *name);

/* Puts TZ into the environment (the system's zone when unset), so that
   cl_tz_localtime only ever replaces it: call once at start, before any
   thread that reads the environment is started. */
void cl_tz_init(void);

#endif
