/* cl_consumer.h - an event subscription: applies the live events in position order, once each, filling gaps from ReadEvents. */
#ifndef CL_CONSUMER_H
#define CL_CONSUMER_H

#include <stdint.h>
#include "cl_client.h"
#include "cl_codec.h"
#include "cl_err.h"

typedef struct cl_consumer cl_consumer_t;

/* Applies one event; returns 0, or -1 to stop (the position does not advance). */
typedef int (*cl_apply_fn)(void *arg, const cl_env_t *event);

/* The start of a consumer that wants only what is committed from now on:
   the log's head as of cl_consumer_new. */
#define CL_CONSUMER_FROM_HEAD UINT64_MAX

/* Events asked for in one ReadEvents (the most a service hands out). */
#define CL_CONSUMER_PAGE 1000

/* A consumer of the events published at pub (a PUB endpoint), applying with
   apply(arg, event) each event after position `after` once, in position order.
   What the live feed lacks (a gap in positions, the start, a quiet moment) it
   reads with ReadEvents through client, the service holding the log (which it
   does not own), waiting up to timeout_ms for each reply. Its SUB lives in the
   client's context. After CL_CONSUMER_FROM_HEAD it first asks the log for its
   head. Returns NULL with err (the subscription could not be opened, the head
   could not be read or the reply did not say it, no memory). */
cl_consumer_t *cl_consumer_new(cl_client_t *client, const char *pub, uint64_t after, int timeout_ms,
                               cl_apply_fn apply, void *arg, cl_err_t *err);

/* Closes the subscription; *self_p may be NULL; sets it to NULL. Call it
   before cl_client_destroy of its client: the SUB lives in the client's
   context, and a context ended with a socket still open waits forever. */
void cl_consumer_destroy(cl_consumer_t **self_p);

/* Offers one event however it came: applied if it is the next position,
   skipped if that position was already applied. Returns 0, 1 when it is past
   a gap (not applied), -1 when apply failed. */
int cl_consumer_offer(cl_consumer_t *self, const cl_env_t *event);

/* Reads the log after the applied position until it is exhausted (at start,
   and after a gap). Returns 0, or -1 with err: the read failed (the
   service's refusal, no reply, or CL_CANCELLED when the client's caller
   stopped it: cl_client_stop_on), or apply stopped (INTERNAL, naming the
   position). */
int cl_consumer_catch_up(cl_consumer_t *self, cl_err_t *err);

/* Waits up to timeout_ms for one live event and applies it, catching up from
   the log first when its position shows a gap; when none comes, catches up
   from the log (a dropped last event shows no gap). Returns 1 when anything
   was applied, 0 when nothing was, -1 with err as cl_consumer_catch_up. */
int cl_consumer_poll(cl_consumer_t *self, int timeout_ms, cl_err_t *err);

/* The last position applied. */
uint64_t cl_consumer_position(const cl_consumer_t *self);

/* How many times a live event past a gap sent the consumer to the log. */
uint64_t cl_consumer_gaps(const cl_consumer_t *self);

/* How many events came through the subscription, applied or skipped. */
uint64_t cl_consumer_heard(const cl_consumer_t *self);

#endif
