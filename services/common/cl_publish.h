/* cl_publish.h - publication after commit in the order of the event log, from any number of threads of one process. */
#ifndef CL_PUBLISH_H
#define CL_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cl_eventlog.h"

/* A process's publisher: the threads that append events take turns through
   it, and its owner thread publishes what they committed in that order.

   A transaction appends its events under the log's head lock, which it holds
   until it commits, so the database commits appenders one at a time in the
   order of their positions. The publisher's lock spans the same stretch in
   the process (taken before the append, left after the commit), and the turn
   it hands out as it is left is the commit order of the process's
   transactions: dense, and only for those that committed. The owner publishes
   each turn's events once every earlier turn is published, holding those that
   come early; so this process's PUB carries its events in log order. Another
   process's events are not on it: a reader of several publishers merges them
   by position. */
typedef struct cl_publisher cl_publisher_t;

/* Publishes on pub (a PUB socket the caller owns, used by the owner thread
   only). Aborts on no memory. */
cl_publisher_t *cl_publisher_new(void *pub);
void cl_publisher_destroy(cl_publisher_t **p_p);

/* Any thread, in its open transaction, before it appends events: waits for
   its turn among the process's appenders. */
void cl_publisher_lock(cl_publisher_t *p);

/* The same thread, once its transaction committed (committed true) or rolled
   back: leaves the lock. Returns the transaction's turn (> 0) when it
   committed, to hand with its events to cl_publisher_put, else 0. */
uint64_t cl_publisher_unlock(cl_publisher_t *p, bool committed);

/* The usual stretch: appends evs (at now_us) in db's open transaction and
   commits it, between cl_publisher_lock and cl_publisher_unlock. Returns the
   turn (> 0) to hand to cl_publisher_put, or 0 with err when the append or
   the commit failed (the transaction is rolled back). */
uint64_t cl_publisher_commit(cl_publisher_t *p, cl_db_t *db, cl_event_t *evs, size_t n, int64_t now_us, cl_err_t *err);

/* Owner thread: the events committed in turn `turn` (n may be 0; their
   packed bytes are copied when they must wait). Publishes them when every
   earlier turn is published, then the held turns that follow. Never blocks: a
   full queue drops (subscribers recover from the log). */
void cl_publisher_put(cl_publisher_t *p, uint64_t turn, const cl_event_t *evs, size_t n);

/* The same for events given as parts, [type][envelope] for each of n (as a
   worker thread hands them over a pipe): data[2i], len[2i] its type,
   data[2i+1], len[2i+1] its envelope. */
void cl_publisher_put_parts(cl_publisher_t *p, uint64_t turn, const void *const *data, const size_t *len, size_t n);

/* Turns handed in but still waiting for an earlier one. */
size_t cl_publisher_held(const cl_publisher_t *p);

#endif
