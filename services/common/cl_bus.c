/* cl_bus.c - ZeroMQ helpers. */
#include "cl_bus.h"
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

void *cl_bus_open(void *ctx, int type, const char *endpoint, bool bind, cl_err_t *err)
{
    void *s = zmq_socket(ctx, type);
    if (!s) {
        cl_err_set(err, CL_INTERNAL, "", "could not create socket: %s", zmq_strerror(errno));
        return NULL;
    }
    int linger = bind ? 1000 : 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    /* A PUB holds at most CL_BUS_PUB_HWM unsent events per subscriber: one that
       falls further behind (a wake-up subscription, whose own queue is small,
       read between passes) loses the newest and reads the log, and costs no memory. */
    int hwm = 100000, snd = type == ZMQ_PUB ? CL_BUS_PUB_HWM : hwm;
    zmq_setsockopt(s, ZMQ_SNDHWM, &snd, sizeof snd);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (type == ZMQ_SUB)
        zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    int rc = bind ? zmq_bind(s, endpoint) : zmq_connect(s, endpoint);
    if (rc != 0) {
        cl_err_set(err, CL_UNAVAILABLE, "", "could not %s \"%s\": %s", bind ? "bind" : "connect", endpoint,
                   zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    return s;
}

void *cl_bus_wakeup(void *ctx, const char *endpoints, const char *option, cl_err_t *err)
{
    void *s = zmq_socket(ctx, ZMQ_SUB);
    if (!s) {
        cl_err_set(err, CL_INTERNAL, "", "could not create socket: %s", zmq_strerror(errno));
        return NULL;
    }
    int linger = 0, hwm = 64;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    for (const char *ep = endpoints; *ep;) {
        const char *end = strchr(ep, ',');
        size_t len = end ? (size_t)(end - ep) : strlen(ep);
        char one[512];
        if (len == 0) { /* nothing between two commas: none */
            ep = end ? end + 1 : ep;
            continue;
        }
        if (len >= sizeof one) {
            cl_err_set(err, CL_INVALID_ARGUMENT, option, "an endpoint of %s is longer than %zu bytes", option,
                       sizeof one - 1);
            zmq_close(s);
            return NULL;
        }
        memcpy(one, ep, len);
        one[len] = '\0';
        if (zmq_connect(s, one) != 0) {
            cl_err_set(err, CL_INVALID_ARGUMENT, option, "could not connect to \"%s\": %s", one, zmq_strerror(errno));
            zmq_close(s);
            return NULL;
        }
        ep = end ? end + 1 : ep + len;
    }
    return s;
}

int cl_bus_pipe(void *ctx, const char *name, size_t i, void **main_end, void **worker_end, cl_err_t *err)
{
    char endpoint[96];
    snprintf(endpoint, sizeof endpoint, "inproc://%s-%zu", name, i);
    *main_end = cl_bus_open(ctx, ZMQ_PAIR, endpoint, true, err);
    *worker_end = *main_end ? cl_bus_open(ctx, ZMQ_PAIR, endpoint, false, err) : NULL;
    return *worker_end ? 0 : -1;
}

void cl_bus_close(void **sock_p)
{
    if (sock_p && *sock_p) {
        zmq_close(*sock_p);
        *sock_p = NULL;
    }
}

void cl_bus_request_close(cl_request_t *req)
{
    for (int i = 0; i < req->nroute; i++)
        zmq_msg_close(&req->route[i]);
    zmq_msg_close(&req->body);
    req->nroute = 0;
}

void cl_bus_request_move(cl_request_t *dst, cl_request_t *src)
{
    dst->nroute = src->nroute;
    dst->malformed = src->malformed;
    for (int i = 0; i < src->nroute; i++) {
        zmq_msg_init(&dst->route[i]);
        zmq_msg_move(&dst->route[i], &src->route[i]);
        zmq_msg_close(&src->route[i]);
    }
    zmq_msg_init(&dst->body);
    zmq_msg_move(&dst->body, &src->body);
    zmq_msg_close(&src->body);
    src->nroute = 0;
}

int cl_bus_recv_request(void *router, cl_request_t *req, int flags)
{
    req->nroute = 0;
    req->malformed = false;
    zmq_msg_init(&req->body);
    for (;;) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, router, req->nroute == 0 ? flags : 0) < 0) {
            zmq_msg_close(&part);
            for (int i = 0; i < req->nroute; i++)
                zmq_msg_close(&req->route[i]);
            zmq_msg_close(&req->body);
            return -1;
        }
        bool more = zmq_msg_more(&part);
        if (!more) {
            zmq_msg_move(&req->body, &part);
            zmq_msg_close(&part);
            return 0;
        }
        if (req->nroute < CL_BUS_MAX_ROUTE) {
            zmq_msg_init(&req->route[req->nroute]);
            zmq_msg_move(&req->route[req->nroute++], &part);
        } else {
            req->malformed = true;
        }
        zmq_msg_close(&part);
    }
}

int cl_bus_reply(void *router, cl_request_t *req, const void *data, size_t len)
{
    int rc = 0;
    for (int i = 0; i < req->nroute; i++) {
        if (rc == 0 && zmq_msg_send(&req->route[i], router, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
            rc = -1;
        zmq_msg_close(&req->route[i]);
    }
    if (rc == 0 && zmq_send(router, data, len, ZMQ_DONTWAIT) < 0)
        rc = -1;
    req->nroute = 0;
    zmq_msg_close(&req->body);
    return rc;
}

int cl_bus_publish(void *pub, const char *topic, const void *data, size_t len)
{
    if (zmq_send(pub, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    return zmq_send(pub, data, len, ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

bool cl_bus_drain(void *sock)
{
    bool any = false;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    while (sock && zmq_msg_recv(&msg, sock, ZMQ_DONTWAIT) >= 0)
        any = true;
    zmq_msg_close(&msg);
    return any;
}

void *cl_bus_context(void)
{
    return zmq_ctx_new();
}

void cl_bus_context_end(void **ctx_p)
{
    if (ctx_p && *ctx_p) {
        zmq_ctx_term(*ctx_p);
        *ctx_p = NULL;
    }
}

int cl_bus_poll(void *const *socks, size_t n, int64_t timeout_ms, bool *ready)
{
    /* Only the sockets given: a NULL one is not polled (as an item it would be fd 0). */
    zmq_pollitem_t local[8], *items = n <= 8 ? local : calloc(n, sizeof *items);
    size_t local_at[8], *at = n <= 8 ? local_at : calloc(n, sizeof *at), k = 0;
    if (!items || !at)
        abort();
    for (size_t i = 0; i < n; i++) {
        ready[i] = false;
        if (socks[i])
            at[k] = i, items[k++] = (zmq_pollitem_t){socks[i], 0, ZMQ_POLLIN, 0};
    }
    int rc = zmq_poll(items, (int)k, (long)timeout_ms);
    int err = errno;
    for (size_t j = 0; rc > 0 && j < k; j++)
        ready[at[j]] = items[j].revents & ZMQ_POLLIN;
    if (items != local)
        free(items);
    if (at != local_at)
        free(at);
    errno = err;
    return rc < 0 ? (err == ETERM ? -1 : 0) : rc;
}

void cl_bus_max_message(void *sock, int64_t bytes)
{
    zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &bytes, sizeof bytes);
}
