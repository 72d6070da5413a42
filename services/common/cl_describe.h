/* cl_describe.h - one line for people about an event, for histories and event tails. */
#ifndef CL_DESCRIBE_H
#define CL_DESCRIBE_H

#include <stddef.h>
#include "cl_codec.h"

/* Writes into buf (returned) what event ev says, in one line ("assigned to
   eng1; told cs-sup"), and sets *actor to who did it ("" when unknown); the
   actor points into ev or is static. */
const char *cl_event_describe(const cl_env_t *ev, char *buf, size_t len, const char **actor);

#endif
