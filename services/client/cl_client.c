/* cl_client.c - a service's client: one DEALER to one endpoint, request/reply with a timeout, retries. */
#include "cl_client.h"
#include "cl_bus.h"
#include "cl_clock.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cl_client {
    void *ctx;
    bool own_ctx;   /* ctx was made by cl_client_new and ends with the client */
    void *dealer;   /* NULL after a failed reopen; the next call opens it again */
    char *endpoint;
    char *sender;
    uint64_t rand;  /* state of the backoff's random part */
    volatile sig_atomic_t *stop;  /* calls end once it is set; NULL: never */
};

/* (Re)opens the DEALER when there is none. Returns 0, or -1 with err. */
static int s_open(cl_client_t *self, cl_err_t *err)
{
    if (!self->dealer)
        self->dealer = cl_bus_open(self->ctx, ZMQ_DEALER, self->endpoint, false, err);
    return self->dealer ? 0 : -1;
}

cl_client_t *cl_client_new(void *ctx, const char *endpoint, const char *sender, cl_err_t *err)
{
    cl_client_t *self = calloc(1, sizeof *self);
    if (!self) {
        cl_err_set(err, CL_INTERNAL, "", "no memory for a client");
        return NULL;
    }
    self->endpoint = strdup(endpoint);
    self->sender = strdup(sender);
    self->own_ctx = ctx == NULL;
    self->ctx = ctx ? ctx : zmq_ctx_new();
    self->rand = (uint64_t)cl_mono_us() ^ (uint64_t)(uintptr_t)self;
    if (!self->endpoint || !self->sender || !self->ctx) {
        cl_err_set(err, CL_INTERNAL, "", "could not make a client of \"%s\"", endpoint);
        goto err;
    }
    if (s_open(self, err) < 0)
        goto err;
    return self;
err:
    cl_client_destroy(&self);
    return NULL;
}

void cl_client_destroy(cl_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cl_client_t *self = *self_p;
    cl_bus_close(&self->dealer);
    if (self->own_ctx && self->ctx)
        zmq_ctx_term(self->ctx);
    free(self->endpoint);
    free(self->sender);
    free(self);
    *self_p = NULL;
}

void cl_client_stop_on(cl_client_t *self, volatile sig_atomic_t *stop)
{
    self->stop = stop;
}

static bool s_stopped(volatile sig_atomic_t *stop)
{
    return stop && *stop;
}

/* cl_client_exchange whose wait ends, CL_CANCELLED, once *stop (when not
   NULL) is set, looking at it at least every CL_CLIENT_STOP_MS. */
static cl_env_t *s_exchange(void *dealer, const cl_env_t *env, int timeout_ms, volatile sig_atomic_t *stop,
                            cl_err_t *err)
{
    cl_buf_t out = {0};
    cl_codec_encode(env, &out);
    int rc = zmq_send(dealer, out.data, out.len, 0);
    cl_buf_free(&out);
    if (rc < 0) {
        cl_err_set(err, CL_UNAVAILABLE, "", "could not send request: %s", zmq_strerror(errno));
        return NULL;
    }
    int64_t deadline = cl_mono_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        if (s_stopped(stop)) {
            cl_err_set(err, CL_CANCELLED, "", "stopped while waiting for a reply");
            return NULL;
        }
        int64_t left_us = deadline - cl_mono_us();
        if (left_us <= 0) {
            cl_err_set(err, CL_UNAVAILABLE, "", "no reply within %d ms", timeout_ms);
            return NULL;
        }
        /* rounded up: the poll's own clock may end it a little early */
        long wait_ms = (long)((left_us + 999) / 1000);
        if (stop && wait_ms > CL_CLIENT_STOP_MS)
            wait_ms = CL_CLIENT_STOP_MS;
        zmq_pollitem_t item = {dealer, 0, ZMQ_POLLIN, 0};
        int ready = zmq_poll(&item, 1, wait_ms);
        if (ready < 0 && errno != EINTR) {
            cl_err_set(err, CL_UNAVAILABLE, "", "could not wait for a reply: %s", zmq_strerror(errno));
            return NULL;
        }
        if (ready <= 0)
            continue;
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, dealer, 0) < 0) {
            zmq_msg_close(&msg);
            continue;
        }
        /* A REQ-style empty delimiter may precede the body: skip to the last frame. */
        while (zmq_msg_more(&msg)) {
            zmq_msg_close(&msg);
            zmq_msg_init(&msg);
            zmq_msg_recv(&msg, dealer, 0);
        }
        cl_env_t *reply = cl_codec_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), SIZE_MAX, err);
        zmq_msg_close(&msg);
        if (!reply)
            return NULL;
        if (reply->correlation_id && strcmp(reply->correlation_id, env->message_id) == 0)
            return reply;
        /* An Error without a correlation_id answers a request the service could
           not read (a frame over its size limit); the DEALER has one request
           outstanding, and a call without a reply leaves it, so it is this one's. */
        if ((!reply->correlation_id || !*reply->correlation_id) &&
            reply->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR)
            return reply;
        cl_codec_free(reply); /* a late reply to an earlier call */
    }
}

cl_env_t *cl_client_exchange(void *dealer, const cl_env_t *env, int timeout_ms, cl_err_t *err)
{
    return s_exchange(dealer, env, timeout_ms, NULL, err);
}

/* env with what it leaves unset filled in, into *out (a shallow copy: the
   body stays env's); id holds a fresh message_id when it needs one. */
static void s_stamp(const cl_client_t *self, const cl_env_t *env, cl_env_t *out, char id[CL_ID_MAX + 1])
{
    *out = *env;
    if (!out->message_id || !*out->message_id) {
        cl_codec_new_id(id);
        out->message_id = id;
    }
    if (!out->has_schema_version)
        out->has_schema_version = 1, out->schema_version = CL_SCHEMA_VERSION;
    if (!out->sender)
        out->sender = self->sender;
    if (!out->has_sent_at_us)
        out->has_sent_at_us = 1, out->sent_at_us = cl_clock_now(cl_clock_real());
}

/* One attempt of a stamped request: waits up to timeout_ms; without a reply
   (none in time, or the caller stopped the wait) the DEALER is replaced (its
   queue and any late reply go with the old one). */
static cl_env_t *s_attempt(cl_client_t *self, const cl_env_t *stamped, int timeout_ms, cl_err_t *err)
{
    if (s_stopped(self->stop)) {
        cl_err_set(err, CL_CANCELLED, "", "stopped before the request was sent");
        return NULL;
    }
    if (s_open(self, err) < 0)
        return NULL;
    cl_err_t e;
    cl_err_clear(&e);
    cl_env_t *reply = s_exchange(self->dealer, stamped, timeout_ms, self->stop, &e);
    if (!reply && (e.code == CL_UNAVAILABLE || e.code == CL_CANCELLED)) {
        cl_err_t reopen;
        cl_bus_close(&self->dealer);
        (void)s_open(self, &reopen); /* a failure shows at the next call */
    }
    if (!reply && err)
        *err = e;
    return reply;
}

cl_env_t *cl_client_call(cl_client_t *self, const cl_env_t *env, int timeout_ms, cl_err_t *err)
{
    cl_env_t stamped;
    char id[CL_ID_MAX + 1];
    s_stamp(self, env, &stamped, id);
    return s_attempt(self, &stamped, timeout_ms, err);
}

static bool s_unavailable(const cl_env_t *reply)
{
    return reply->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR && reply->error &&
           reply->error->code == CL_UNAVAILABLE;
}

/* Pauses pause_us, or until the caller's stop is set (looked at every CL_CLIENT_STOP_MS). */
static void s_pause_for(const cl_client_t *self, int64_t pause_us)
{
    int64_t end = cl_mono_us() + pause_us, left;
    while (!s_stopped(self->stop) && (left = end - cl_mono_us()) > 0) {
        if (self->stop && left > CL_CLIENT_STOP_MS * 1000)
            left = CL_CLIENT_STOP_MS * 1000;
        struct timespec ts = {left / CL_US_PER_S, (left % CL_US_PER_S) * 1000};
        nanosleep(&ts, NULL); /* interrupted: the loop looks at stop and the time left */
    }
}

/* The pause before the next attempt: backoff_ms less a random part of its second half. */
static int64_t s_pause_us(cl_client_t *self, int backoff_ms)
{
    self->rand ^= self->rand << 13, self->rand ^= self->rand >> 7, self->rand ^= self->rand << 17;
    int64_t full = (int64_t)backoff_ms * 1000;
    return full - (int64_t)(self->rand % (uint64_t)(full / 2 + 1));
}

cl_env_t *cl_client_call_retry(cl_client_t *self, const cl_env_t *env, int timeout_ms, int deadline_ms,
                               cl_err_t *err)
{
    cl_env_t stamped;
    char id[CL_ID_MAX + 1];
    s_stamp(self, env, &stamped, id);
    if (!cl_client_idempotent((int)env->body_case))
        return s_attempt(self, &stamped, deadline_ms < timeout_ms ? deadline_ms : timeout_ms, err);
    int64_t deadline = cl_mono_us() + (int64_t)deadline_ms * 1000;
    int backoff_ms = CL_CLIENT_BACKOFF_MS;
    for (;;) {
        int64_t left_ms = (deadline - cl_mono_us()) / 1000;
        int wait_ms = left_ms < timeout_ms ? (int)(left_ms > 0 ? left_ms : 1) : timeout_ms;
        cl_err_t e;
        cl_err_clear(&e);
        cl_env_t *reply = s_attempt(self, &stamped, wait_ms, &e);
        if (!reply && err)
            *err = e;
        if (reply && !s_unavailable(reply))
            return reply;
        if (!reply && e.code != CL_UNAVAILABLE)
            return NULL; /* stopped, or a reply that cannot be read: sending it again would not mend it */
        int64_t pause_us = s_pause_us(self, backoff_ms);
        if (cl_mono_us() + pause_us >= deadline)
            return reply;
        cl_codec_free(reply);
        s_pause_for(self, pause_us); /* stopped: the next attempt is not sent */
        backoff_ms = backoff_ms * 2 < CL_CLIENT_BACKOFF_MAX_MS ? backoff_ms * 2 : CL_CLIENT_BACKOFF_MAX_MS;
    }
}

bool cl_client_idempotent(int body_case)
{
    switch (body_case) {
    case CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE:
    case CASELOOP__V1__ENVELOPE__BODY_GET_CASE:
    case CASELOOP__V1__ENVELOPE__BODY_READ_EVENTS:
    case CASELOOP__V1__ENVELOPE__BODY_GET_STATS:
    case CASELOOP__V1__ENVELOPE__BODY_GET_POLICY:
    case CASELOOP__V1__ENVELOPE__BODY_LIST_CASES:
    case CASELOOP__V1__ENVELOPE__BODY_LIST_HANDOVERS:
    case CASELOOP__V1__ENVELOPE__BODY_GET_CLOCKS:
    case CASELOOP__V1__ENVELOPE__BODY_LIST_BREACHES:
        return true;
    default:
        return false;
    }
}

int cl_client_expect(const cl_env_t *reply, int want, cl_err_t *err)
{
    if (reply && (int)reply->body_case == want)
        return 0;
    if (reply && reply->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR && reply->error) {
        const Caseloop__V1__Error *e = reply->error;
        return cl_err_set(err, e->code, e->field ? e->field : "", "%s", e->message ? e->message : "");
    }
    return cl_err_set(err, CL_INTERNAL, "", "unexpected reply: %s", reply ? cl_codec_body_name(reply) : "none");
}

cl_env_t *cl_client_stats(cl_client_t *self, int timeout_ms, cl_err_t *err)
{
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__GetStats body = CASELOOP__V1__GET_STATS__INIT;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_GET_STATS;
    env.get_stats = &body;
    cl_env_t *reply = cl_client_call(self, &env, timeout_ms, err);
    if (reply && cl_client_expect(reply, CASELOOP__V1__ENVELOPE__BODY_STATS_REPLY, err) < 0) {
        cl_codec_free(reply);
        return NULL;
    }
    return reply;
}

uint64_t cl_client_counter(const Caseloop__V1__StatsReply *stats, const char *name)
{
    for (size_t i = 0; stats && i < stats->n_counters; i++)
        if (stats->counters[i]->name && strcmp(stats->counters[i]->name, name) == 0)
            return stats->counters[i]->value;
    return 0;
}

const char *cl_client_endpoint(const cl_client_t *self)
{
    return self->endpoint;
}

void *cl_client_context(const cl_client_t *self)
{
    return self->ctx;
}

void *cl_client_socket(const cl_client_t *self)
{
    return self->dealer;
}
