/* cl_client.h - a service's client: one DEALER to one endpoint, request/reply with a timeout, retries. */
#ifndef CL_CLIENT_H
#define CL_CLIENT_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include "cl_codec.h"
#include "cl_err.h"

typedef struct cl_client cl_client_t;

/* A client of the service at endpoint (a ROUTER: "tcp://127.0.0.1:7101",
   "ipc://..."), whose requests say they come from sender. It opens its DEALER
   in ctx, or, when ctx is NULL, in a context of its own that it ends on
   destroy. Returns NULL with err (UNAVAILABLE when the endpoint cannot be
   connected to, INTERNAL on no memory). */
cl_client_t *cl_client_new(void *ctx, const char *endpoint, const char *sender, cl_err_t *err);

/* Closes the DEALER (and the client's own context); *self_p may be NULL; sets
   it to NULL. Destroy the client's consumers (cl_consumer.h) first: their SUB
   sockets live in its context, and ending a context waits for every socket
   in it to close. */
void cl_client_destroy(cl_client_t **self_p);

/* Lets the caller stop self's calls: once *stop is non-zero (set by a signal
   handler, Ctrl-C), a call waiting for its reply, or pausing between two
   attempts, ends within CL_CLIENT_STOP_MS (at once when the signal interrupts
   its wait), and a call made then is not sent: NULL with err CL_CANCELLED.
   stop NULL (the default): a call waits on through any signal. */
void cl_client_stop_on(cl_client_t *self, volatile sig_atomic_t *stop);

/* The longest a call looks away from its stop flag: a signal that comes just
   before the call's wait begins does not interrupt it. */
#define CL_CLIENT_STOP_MS 100

/* Sends request env and waits up to timeout_ms for the envelope whose
   correlation_id is its message_id, or for an Error without a correlation_id
   (the service could not read the request: a frame over its size limit);
   other replies are dropped. What env leaves unset is filled in on the frame
   sent, never in env: a fresh message_id, the schema version, the client's
   sender, sent_at (now). A call that gets no reply replaces the DEALER, so
   that a late reply never reaches a later call. Returns the reply, an Error
   reply included (free with cl_codec_free), or NULL with err: UNAVAILABLE
   when none came in time or the request could not be sent, CL_CANCELLED when
   the caller stopped it (cl_client_stop_on), or the reason the reply could
   not be read. */
cl_env_t *cl_client_call(cl_client_t *self, const cl_env_t *env, int timeout_ms, cl_err_t *err);

/* The first pause between two attempts of cl_client_call_retry, and the
   longest: each pause doubles up to it, a random part of its second half
   taken off so that clients that failed together do not retry together. */
#define CL_CLIENT_BACKOFF_MS 50
#define CL_CLIENT_BACKOFF_MAX_MS 1000

/* As cl_client_call, but a request that is safe to repeat
   (cl_client_idempotent) is sent again, with the same message_id, after an
   UNAVAILABLE reply or no reply at all (then on a fresh DEALER), pausing a
   bounded backoff between attempts, until it gets another answer or
   deadline_ms have passed since the call began; each attempt waits up to
   timeout_ms, and never past the deadline. Any other request is sent once
   and waits up to the smaller of timeout_ms and deadline_ms.
   Returns the last reply (an UNAVAILABLE Error reply when that is what the
   service still said at the deadline), or NULL with err as cl_client_call (a
   call stopped by the caller is not tried again). */
cl_env_t *cl_client_call_retry(cl_client_t *self, const cl_env_t *env, int timeout_ms, int deadline_ms,
                               cl_err_t *err);

/* True when a request with this body (CASELOOP__V1__ENVELOPE__BODY_...) may be
   sent twice with the effect of once: the reads, and SubmitCase (its
   idempotency key returns the case registered the first time). Commands on a
   case, transfers, handovers and policy loads are not. */
bool cl_client_idempotent(int body_case);

/* Checks that reply holds the body want. Returns 0, or -1 with err: the
   service's own code, field and message for an Error reply; INTERNAL for
   another body or none. */
int cl_client_expect(const cl_env_t *reply, int want, cl_err_t *err);

/* Asks the service for its counters (GetStats) and waits up to timeout_ms.
   Returns the reply, whose body is a StatsReply (free with cl_codec_free), or
   NULL with err (as cl_client_call and cl_client_expect). */
cl_env_t *cl_client_stats(cl_client_t *self, int timeout_ms, cl_err_t *err);

/* The value of the counter name in a StatsReply; 0 when it is not there
   (a counter not yet counted is left out). */
uint64_t cl_client_counter(const Caseloop__V1__StatsReply *stats, const char *name);

/* The endpoint, as given to cl_client_new. */
const char *cl_client_endpoint(const cl_client_t *self);

/* The ZeroMQ context the client's sockets live in. */
void *cl_client_context(const cl_client_t *self);

/* The DEALER itself, for a caller that sends frames of its own on it (a load
   generator pipelining requests) and reads their replies. Valid until a call
   on self gets no reply, or self is destroyed. */
void *cl_client_socket(const cl_client_t *self);

/* One request/reply on a DEALER the caller owns, with one request outstanding
   at a time: sends env as it is (its message_id set) and waits up to
   timeout_ms for the envelope correlated to it, or an uncorrelated Error,
   dropping others. cl_client_call is this on the client's DEALER. Returns
   the reply or NULL with err, as cl_client_call. */
cl_env_t *cl_client_exchange(void *dealer, const cl_env_t *env, int timeout_ms, cl_err_t *err);

#endif
