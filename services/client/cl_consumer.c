/* cl_consumer.c - an event subscription: applies the live events in position order, once each, filling gaps from ReadEvents. */
#include "cl_consumer.h"
#include "cl_bus.h"
#include <errno.h>
#include <stdlib.h>

struct cl_consumer {
    cl_client_t *client;  /* where ReadEvents goes; not ours */
    void *sub;
    int timeout_ms;
    uint64_t applied;
    uint64_t gaps;
    uint64_t heard;
    cl_apply_fn apply;
    void *arg;
};

/* One ReadEvents after position `after`: each event offered, *head set to
   the log's head and *has_head to whether the reply said it (else *head is
   0). Returns how many events came, or -1 with err. */
static int s_read(cl_consumer_t *self, uint64_t after, uint64_t *head, bool *has_head, cl_err_t *err)
{
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__ReadEvents body = CASELOOP__V1__READ_EVENTS__INIT;
    body.has_after_position = 1, body.after_position = after;
    body.has_max_count = 1, body.max_count = CL_CONSUMER_PAGE;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_READ_EVENTS;
    env.read_events = &body;
    cl_env_t *reply = cl_client_call(self->client, &env, self->timeout_ms, err);
    if (!reply)
        return -1;
    if (cl_client_expect(reply, CASELOOP__V1__ENVELOPE__BODY_READ_EVENTS_REPLY, err) < 0) {
        cl_codec_free(reply);
        return -1;
    }
    const Caseloop__V1__ReadEventsReply *r = reply->read_events_reply;
    *has_head = r->has_head_position;
    *head = r->has_head_position ? r->head_position : 0;
    int n = (int)r->n_events;
    for (size_t i = 0; i < r->n_events; i++)
        if (cl_consumer_offer(self, r->events[i]) < 0) {
            n = cl_err_set(err, CL_INTERNAL, "", "could not apply the event at position %llu",
                           (unsigned long long)r->events[i]->position);
            break;
        }
    cl_codec_free(reply);
    return n;
}

cl_consumer_t *cl_consumer_new(cl_client_t *client, const char *pub, uint64_t after, int timeout_ms,
                               cl_apply_fn apply, void *arg, cl_err_t *err)
{
    cl_consumer_t *self = calloc(1, sizeof *self);
    if (!self) {
        cl_err_set(err, CL_INTERNAL, "", "no memory for a consumer");
        return NULL;
    }
    self->client = client;
    self->timeout_ms = timeout_ms;
    self->applied = after;
    self->apply = apply;
    self->arg = arg;
    self->sub = cl_bus_open(cl_client_context(client), ZMQ_SUB, pub, false, err);
    if (!self->sub)
        goto err;
    if (after == CL_CONSUMER_FROM_HEAD) {
        /* A read past the end offers nothing and tells where the end is. */
        bool has_head;
        if (s_read(self, INT64_MAX, &self->applied, &has_head, err) < 0)
            goto err;
        if (!has_head) {
            /* starting from 0 would replay the whole log to a reader that asked for none of it */
            cl_err_set(err, CL_INTERNAL, "", "the reply to ReadEvents did not say where the log ends");
            goto err;
        }
    }
    return self;
err:
    cl_consumer_destroy(&self);
    return NULL;
}

void cl_consumer_destroy(cl_consumer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cl_bus_close(&(*self_p)->sub);
    free(*self_p);
    *self_p = NULL;
}

int cl_consumer_offer(cl_consumer_t *self, const cl_env_t *event)
{
    if (event->position <= self->applied)
        return 0;
    if (event->position != self->applied + 1)
        return 1;
    if (self->apply(self->arg, event) < 0)
        return -1;
    self->applied = event->position;
    return 0;
}

int cl_consumer_catch_up(cl_consumer_t *self, cl_err_t *err)
{
    for (;;) {
        uint64_t before = self->applied, head;
        bool has_head;
        int n = s_read(self, self->applied, &head, &has_head, err);
        if (n < 0)
            return -1;
        if (n == 0 || self->applied == before || (has_head && self->applied >= head))
            return 0;
    }
}

int cl_consumer_poll(cl_consumer_t *self, int timeout_ms, cl_err_t *err)
{
    uint64_t before = self->applied;
    zmq_pollitem_t item = {self->sub, 0, ZMQ_POLLIN, 0};
    int rc = zmq_poll(&item, 1, timeout_ms);
    if (rc < 0) {
        if (errno == EINTR)
            return 0;
        return cl_err_set(err, CL_INTERNAL, "", "could not wait for events: %s", zmq_strerror(errno));
    }
    if (rc == 0) {
        /* Quiet: an event dropped at the end of a burst shows no gap until
           the next one arrives, so look at the log now. */
        if (cl_consumer_catch_up(self, err) < 0)
            return -1;
        return self->applied != before;
    }
    zmq_msg_t topic, body;
    zmq_msg_init(&topic);
    zmq_msg_init(&body);
    if (zmq_msg_recv(&topic, self->sub, 0) < 0 || !zmq_msg_more(&topic) || zmq_msg_recv(&body, self->sub, 0) < 0) {
        zmq_msg_close(&topic);
        zmq_msg_close(&body);
        return 0;
    }
    cl_err_t bad;
    cl_env_t *ev = cl_codec_decode(zmq_msg_data(&body), zmq_msg_size(&body), SIZE_MAX, &bad);
    zmq_msg_close(&topic);
    zmq_msg_close(&body);
    if (!ev)
        return 0; /* not ours to answer; the log has the truth */
    self->heard++;
    int r = cl_consumer_offer(self, ev);
    if (r == 1) {
        self->gaps++;
        r = cl_consumer_catch_up(self, err) < 0 ? -2 : cl_consumer_offer(self, ev);
    }
    if (r == -1)
        cl_err_set(err, CL_INTERNAL, "", "could not apply the event at position %llu",
                   (unsigned long long)ev->position);
    cl_codec_free(ev);
    return r < 0 ? -1 : self->applied != before;
}

uint64_t cl_consumer_position(const cl_consumer_t *self)
{
    return self->applied;
}

uint64_t cl_consumer_gaps(const cl_consumer_t *self)
{
    return self->gaps;
}

uint64_t cl_consumer_heard(const cl_consumer_t *self)
{
    return self->heard;
}
