/* cl_actor.c - worker threads fed by messages over an inproc pipe. */
#include "cl_actor.h"
#include "cl_bus.h"
#include "cl_service.h"
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Frames, main to actor: "w" (a wake-up) or "j" followed by the work's
   bytes. Actor to main: a header frame, "m" then the message's parts, or
   "e" alone (its body returned). */

struct cl_actor {
    size_t index;
    void *main_end;             /* PAIR: the main thread's */
    void *end;                  /* PAIR: the actor's */
    cl_actor_fn fn;
    void *fn_arg;
    cl_actor_take_fn take;
    void *take_arg;
    pthread_t thread;
    bool started;
    bool ended;                 /* main side: its last message was taken */
    atomic_bool stop;
    /* actor side: work taken off the pipe by cl_actor_drain, for the next cl_actor_wait */
    bool held;
    unsigned char work[CL_ACTOR_WORK_MAX];
    size_t work_len;
};

/* Sends one frame, again when a signal cuts it short; an inproc pipe only
   fails otherwise as its context ends, and then nothing matters any more. */
static int s_send(void *sock, const void *data, size_t len, int flags)
{
    int rc;
    while ((rc = zmq_send(sock, data, len, flags)) < 0 && errno == EINTR)
        ;
    return rc < 0 ? -1 : 0;
}

static void *s_main(void *arg)
{
    cl_actor_t *a = arg;
    a->fn(a, a->fn_arg);
    s_send(a->end, "e", 1, 0);
    return NULL;
}

cl_actor_t *cl_actor_start(void *ctx, const char *name, size_t index, cl_actor_fn fn, void *fn_arg,
                           cl_actor_take_fn take, void *take_arg, cl_err_t *err)
{
    cl_actor_t *a = calloc(1, sizeof *a);
    if (!a) {
        cl_err_set(err, CL_INTERNAL, "", "out of memory");
        return NULL;
    }
    a->index = index, a->fn = fn, a->fn_arg = fn_arg, a->take = take, a->take_arg = take_arg;
    atomic_init(&a->stop, false);
    if (cl_bus_pipe(ctx, name, index, &a->main_end, &a->end, err) < 0)
        goto err;
    int linger = 0; /* wake-ups not taken are of no use once it ends */
    zmq_setsockopt(a->main_end, ZMQ_LINGER, &linger, sizeof linger);
    if (cl_service_thread(&a->thread, s_main, a) < 0) {
        cl_err_set(err, CL_INTERNAL, "", "could not start the thread of %s-%zu", name, index);
        goto err;
    }
    a->started = true;
    return a;
err:
    cl_bus_close(&a->end);
    cl_bus_close(&a->main_end);
    free(a);
    return NULL;
}

int cl_actor_send(cl_actor_t *a, const void *data, size_t len)
{
    if (a->ended || len > CL_ACTOR_WORK_MAX)
        return -1;
    unsigned char frame[1 + CL_ACTOR_WORK_MAX];
    frame[0] = 'j';
    memcpy(frame + 1, data, len);
    return s_send(a->main_end, frame, len + 1, 0);
}

void cl_actor_wake(cl_actor_t *a)
{
    zmq_send(a->main_end, "w", 1, ZMQ_DONTWAIT); /* a full pipe has wake-ups enough */
}

void *cl_actor_socket(cl_actor_t *a)
{
    return a->main_end;
}

/* Drops what is left of a message whose first frame was read. */
static void s_discard(void *sock)
{
    int more = 0;
    size_t size = sizeof more;
    while (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &size) == 0 && more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        int rc = zmq_msg_recv(&m, sock, 0);
        zmq_msg_close(&m);
        if (rc < 0)
            break;
    }
}

size_t cl_actor_collect(cl_actor_t *a)
{
    size_t taken = 0;
    char head;
    int len;
    while (!a->ended && (len = zmq_recv(a->main_end, &head, 1, ZMQ_DONTWAIT)) >= 0) {
        if (len != 1 || head != 'm') {
            a->ended = len == 1 && head == 'e';
            s_discard(a->main_end);
            continue;
        }
        /* The parts of a message arrive together: once the first is here, all are. */
        size_t cap = 8, n = 0;
        zmq_msg_t *parts = malloc(cap * sizeof *parts);
        if (!parts)
            abort();
        int more = 1;
        size_t size = sizeof more;
        while (zmq_getsockopt(a->main_end, ZMQ_RCVMORE, &more, &size) == 0 && more) {
            if (n == cap && !(parts = realloc(parts, (cap *= 2) * sizeof *parts)))
                abort();
            zmq_msg_init(&parts[n]);
            if (zmq_msg_recv(&parts[n], a->main_end, 0) < 0) {
                zmq_msg_close(&parts[n]);
                break;
            }
            n++;
        }
        const void **data = malloc((n + 1) * sizeof *data);
        size_t *lens = malloc((n + 1) * sizeof *lens);
        if (!data || !lens)
            abort();
        for (size_t i = 0; i < n; i++)
            data[i] = zmq_msg_data(&parts[i]), lens[i] = zmq_msg_size(&parts[i]);
        a->take(a->take_arg, a, n, data, lens);
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&parts[i]);
        free(parts);
        free(data);
        free(lens);
        taken++;
    }
    return taken;
}

bool cl_actor_ended(const cl_actor_t *a)
{
    return a->ended;
}

void cl_actor_stop_all(cl_actor_t **as, size_t n)
{
    size_t running = 0;
    for (size_t i = 0; i < n; i++) {
        if (!as[i])
            continue;
        atomic_store(&as[i]->stop, true);
        cl_actor_wake(as[i]);
        running++;
    }
    void **socks = calloc(n ? n : 1, sizeof *socks);
    bool *ready = calloc(n ? n : 1, sizeof *ready);
    if (!socks || !ready)
        abort();
    /* What they hand back until they end is taken (a worker's last batch is published). */
    while (running > 0) {
        for (size_t i = 0; i < n; i++)
            socks[i] = as[i] && !as[i]->ended ? as[i]->main_end : NULL;
        if (cl_bus_poll(socks, n, 1000, ready) < 0)
            break;
        running = 0;
        for (size_t i = 0; i < n; i++) {
            if (!as[i] || as[i]->ended)
                continue;
            if (ready[i])
                cl_actor_collect(as[i]);
            running += !as[i]->ended;
        }
    }
    free(socks);
    free(ready);
    for (size_t i = 0; i < n; i++) {
        if (!as[i])
            continue;
        if (as[i]->started)
            pthread_join(as[i]->thread, NULL);
        cl_bus_close(&as[i]->end);
        cl_bus_close(&as[i]->main_end);
        free(as[i]);
        as[i] = NULL;
    }
}

/* Actor side: takes one frame waiting. Returns 1 for work (held), 0 for a wake-up, -1 for none. */
static int s_take(cl_actor_t *a)
{
    unsigned char frame[1 + CL_ACTOR_WORK_MAX];
    int len = zmq_recv(a->end, frame, sizeof frame, ZMQ_DONTWAIT);
    if (len < 1)
        return -1;
    if (frame[0] != 'j')
        return 0;
    a->held = true;
    a->work_len = (size_t)len - 1 < CL_ACTOR_WORK_MAX ? (size_t)len - 1 : CL_ACTOR_WORK_MAX;
    memcpy(a->work, frame + 1, a->work_len);
    return 1;
}

int cl_actor_sleep(cl_actor_t *a, int64_t timeout_ms)
{
    if (atomic_load(&a->stop))
        return -1;
    if (!a->held) {
        void *socks[1] = {a->end};
        bool ready[1];
        if (cl_bus_poll(socks, 1, timeout_ms, ready) < 0 && errno == ETERM)
            return -1;
    }
    return atomic_load(&a->stop) ? -1 : 0;
}

int cl_actor_wait(cl_actor_t *a, int64_t timeout_ms, void *buf, size_t size, size_t *len)
{
    if (cl_actor_sleep(a, timeout_ms) < 0)
        return -1;
    if (!a->held && s_take(a) != 1)
        return 0; /* a wake-up, or the time is up */
    a->held = false;
    size_t n = a->work_len < size ? a->work_len : size;
    memcpy(buf, a->work, n);
    if (len)
        *len = n;
    return 1;
}

bool cl_actor_drain(cl_actor_t *a)
{
    bool any = false;
    int rc;
    while (!a->held && (rc = s_take(a)) >= 0)
        any = true;
    return any || a->held;
}

bool cl_actor_woken(cl_actor_t *a)
{
    int events = 0;
    size_t size = sizeof events;
    return a->held || (zmq_getsockopt(a->end, ZMQ_EVENTS, &events, &size) == 0 && (events & ZMQ_POLLIN));
}

bool cl_actor_stopping(cl_actor_t *a)
{
    return atomic_load(&a->stop);
}

void cl_actor_put(cl_actor_t *a, size_t n, const void *const *data, const size_t *len)
{
    if (s_send(a->end, "m", 1, n ? ZMQ_SNDMORE : 0) < 0)
        return;
    for (size_t i = 0; i < n; i++)
        if (s_send(a->end, data[i], len[i], i + 1 < n ? ZMQ_SNDMORE : 0) < 0)
            return;
}

size_t cl_actor_index(const cl_actor_t *a)
{
    return a->index;
}

void **cl_actor_poll_set(void *first, cl_actor_t *const *as, size_t n, void *last, bool **ready)
{
    void **socks = calloc(n + 2, sizeof *socks);
    *ready = calloc(n + 2, sizeof **ready);
    if (!socks || !*ready)
        abort();
    socks[0] = first;
    for (size_t i = 0; i < n; i++)
        socks[1 + i] = as[i] ? as[i]->main_end : NULL;
    socks[n + 1] = last;
    return socks;
}
