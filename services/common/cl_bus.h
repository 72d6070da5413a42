/* cl_bus.h - ZeroMQ helpers: the one way to open a socket, the ROUTER request
   loop, the PUB publisher. (What calls a service is services/client.) */
#ifndef CL_BUS_H
#define CL_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>
#include "cl_codec.h"
#include "cl_err.h"

/* Unsent events a PUB holds per subscriber before it drops the newest. */
#define CL_BUS_PUB_HWM 1000

/* Opens a socket of type (ZMQ_ROUTER, ZMQ_PUB, ZMQ_DEALER, ZMQ_SUB, ...) and binds
   it (bind true) or connects it to endpoint. Linger is 0 for clients and 1 s for
   servers; SUB sockets subscribe to every topic. Queues hold 100,000 messages
   each way, a PUB's CL_BUS_PUB_HWM per subscriber. Returns NULL with err set. */
void *cl_bus_open(void *ctx, int type, const char *endpoint, bool bind, cl_err_t *err);

/* A wake-up subscription: a SUB connected to each of endpoints
   (comma-separated; nothing between two commas is none), holding only a few messages (the event log, not this
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

/* A ZeroMQ context for a process's sockets (NULL on no memory), and its end:
   waits for every socket in it to close; *ctx_p may be NULL; sets it to NULL. */
void *cl_bus_context(void);
void cl_bus_context_end(void **ctx_p);

/* Waits up to timeout_ms (-1: for ever) until one of the n sockets (NULL
   entries are skipped) has a message to read; ready[i] says which. Returns how
   many are ready; 0 when the time is up or a signal cut the wait short; -1
   (errno ETERM) when the context is ending. */
int cl_bus_poll(void *const *socks, size_t n, int64_t timeout_ms, bool *ready);

/* The largest message sock takes: a peer sending more is disconnected before
   it fills memory (ZMQ_MAXMSGSIZE). */
void cl_bus_max_message(void *sock, int64_t bytes);

/* Takes and drops every message waiting on sock (a wake-up subscription).
   Returns true when there was any. */
bool cl_bus_drain(void *sock);

#endif
