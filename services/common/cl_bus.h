/* cl_bus.h - ZeroMQ helpers: the one way to open a socket, the ROUTER request
   loop, the PUB publisher and the SUB consumer that finds gaps by position. */
#ifndef CL_BUS_H
#define CL_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>
#include "cl_codec.h"
#include "cl_err.h"

/* Opens a socket of type (ZMQ_ROUTER, ZMQ_PUB, ZMQ_DEALER, ZMQ_SUB, ...) and binds
   it (bind true) or connects it to endpoint. Linger is 0 for clients and 1 s for
   servers; SUB sockets subscribe to every topic. Returns NULL with err set. */
void *cl_bus_open(void *ctx, int type, const char *endpoint, bool bind, cl_err_t *err);

/* A wake-up subscription: a SUB connected to each of endpoints
   (comma-separated), holding only a few messages (the event log, not this
   socket, is the queue: cl_bus_drain it every turn). Returns NULL with err
   (field `option`, the setting that named the endpoints) when one cannot be
   connected to. */
void *cl_bus_wakeup(void *ctx, const char *endpoints, const char *option, cl_err_t *err);

/* A pipe between two threads of one context: a PAIR bound at inproc://<name>-<i>
   (*main_end) and one connected to it (*worker_end). Returns 0, or -1 with err
   (whatever was opened is left for cl_bus_close). */
int cl_bus_pipe(void *ctx, const char *name, size_t i, void **main_end, void **worker_end, cl_err_t *err);

/* Closes a socket opened by cl_bus_open; *sock_p may be NULL; sets it to NULL. */
void cl_bus_close(void **sock_p);

#define CL_BUS_MAX_ROUTE 4

/* One request taken off a ROUTER: the routing frames and the one body frame. */
typedef struct {
    zmq_msg_t route[CL_BUS_MAX_ROUTE];
    int nroute;
    zmq_msg_t body;
    bool malformed;  /* more frames than a DEALER or REQ peer sends: answer with an error */
} cl_request_t;

/* Receives one request from router; flags 0 blocks, ZMQ_DONTWAIT does not.
   Returns 0, or -1 when nothing was there (or the context is ending). */
int cl_bus_recv_request(void *router, cl_request_t *req, int flags);

/* Releases req's frames without an answer. */
void cl_bus_request_close(cl_request_t *req);

/* Moves src's frames into dst (which must hold none); src is left empty. */
void cl_bus_request_move(cl_request_t *dst, cl_request_t *src);

/* Sends data as the reply to req and releases req's frames. Returns 0 or -1
   (peer gone: the reply is dropped, as it must be). */
int cl_bus_reply(void *router, cl_request_t *req, const void *data, size_t len);

/* Publishes [topic][data]. Never blocks: a full queue drops (subscribers recover from the log). */
int cl_bus_publish(void *pub, const char *topic, const void *data, size_t len);

/* Takes and drops every message waiting on sock (a wake-up subscription).
   Returns true when there was any. */
bool cl_bus_drain(void *sock);

/* --- consumer: applies events in position order, once, filling gaps ------- */

typedef struct cl_consumer cl_consumer_t;

/* Applies one event; returns 0, or -1 to stop (the position does not advance). */
typedef int (*cl_apply_fn)(void *arg, const cl_env_t *event);

/* Reads from the event log the events after position `after` and offers each
   to c with cl_consumer_offer; returns how many it read, or -1 on failure. */
typedef int (*cl_backfill_fn)(void *arg, cl_consumer_t *c, uint64_t after);

/* A consumer reading live events from sub (which it does not own), starting
   after position applied. */
cl_consumer_t *cl_consumer_new(void *sub, uint64_t applied, cl_apply_fn apply, cl_backfill_fn backfill, void *arg);
void cl_consumer_destroy(cl_consumer_t **c_p);

/* Offers one event: applied if it is the next position, ignored if already
   applied. Returns 0, 1 when it is past a gap (not applied), -1 when apply failed. */
int cl_consumer_offer(cl_consumer_t *c, const cl_env_t *event);

/* Reads the log after the applied position until it is exhausted (at start,
   and after a gap). Returns 0 or -1. */
int cl_consumer_catch_up(cl_consumer_t *c);

/* Waits up to timeout_ms for one live event and applies it, catching up from
   the log first when its position shows a gap; when none comes, catches up
   from the log (a dropped last event shows no gap). Returns 1 when anything
   was applied, 0 when nothing was, -1 on failure. */
int cl_consumer_poll(cl_consumer_t *c, int timeout_ms);

/* The last position applied. */
uint64_t cl_consumer_position(const cl_consumer_t *c);

/* How many times a gap sent the consumer to the log. */
uint64_t cl_consumer_gaps(const cl_consumer_t *c);

#endif
