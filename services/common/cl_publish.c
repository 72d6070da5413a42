/* cl_publish.c - publication in the order of the event log. */
#include "cl_publish.h"
#include "cl_bus.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A turn that came before its time: its events as [type][envelope] pairs. */
typedef struct {
    uint64_t turn;
    cl_buf_t *parts;            /* 2 per event */
    size_t n;                   /* events */
} s_held_t;

struct cl_publisher {
    void *pub;
    pthread_mutex_t lock;
    uint64_t turns;             /* the last turn handed out (under lock) */
    uint64_t next;              /* owner: the next turn to publish */
    s_held_t *held;
    size_t nheld, capheld;
};

cl_publisher_t *cl_publisher_new(void *pub)
{
    cl_publisher_t *p = calloc(1, sizeof *p);
    if (!p)
        abort();
    p->pub = pub;
    p->next = 1;
    pthread_mutex_init(&p->lock, NULL);
    return p;
}

static void s_held_free(s_held_t *h)
{
    for (size_t i = 0; i < 2 * h->n; i++)
        cl_buf_free(&h->parts[i]);
    free(h->parts);
}

void cl_publisher_destroy(cl_publisher_t **p_p)
{
    if (!p_p || !*p_p)
        return;
    cl_publisher_t *p = *p_p;
    for (size_t i = 0; i < p->nheld; i++)
        s_held_free(&p->held[i]);
    free(p->held);
    pthread_mutex_destroy(&p->lock);
    free(p);
    *p_p = NULL;
}

void cl_publisher_lock(cl_publisher_t *p)
{
    pthread_mutex_lock(&p->lock);
}

uint64_t cl_publisher_unlock(cl_publisher_t *p, bool committed)
{
    uint64_t turn = committed ? ++p->turns : 0;
    pthread_mutex_unlock(&p->lock);
    return turn;
}

uint64_t cl_publisher_commit(cl_publisher_t *p, cl_db_t *db, cl_event_t *evs, size_t n, int64_t now_us, cl_err_t *err)
{
    cl_publisher_lock(p);
    bool ok = cl_eventlog_append(db, evs, n, now_us, err) == 0 && cl_db_commit(db, err) == 0;
    if (!ok)
        cl_db_rollback(db); /* before the next appender of the process goes on */
    return cl_publisher_unlock(p, ok);
}

/* Publishes n events given as [type][envelope] parts. Never blocks. */
static void s_publish(cl_publisher_t *p, const void *const *data, const size_t *len, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (zmq_send(p->pub, data[2 * i], len[2 * i], ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
            zmq_send(p->pub, data[2 * i + 1], len[2 * i + 1], ZMQ_DONTWAIT);
}

static void s_publish_held(cl_publisher_t *p, s_held_t *h)
{
    const void **data = calloc(2 * h->n + 1, sizeof *data);
    size_t *len = calloc(2 * h->n + 1, sizeof *len);
    if (!data || !len)
        abort();
    for (size_t i = 0; i < 2 * h->n; i++)
        data[i] = h->parts[i].data, len[i] = h->parts[i].len;
    s_publish(p, data, len, h->n);
    free(data);
    free(len);
    s_held_free(h);
}

void cl_publisher_put_parts(cl_publisher_t *p, uint64_t turn, const void *const *data, const size_t *len, size_t n)
{
    if (turn != p->next) {
        if (p->nheld == p->capheld) {
            p->capheld = p->capheld ? 2 * p->capheld : 8;
            p->held = realloc(p->held, p->capheld * sizeof *p->held);
            if (!p->held)
                abort();
        }
        s_held_t *h = &p->held[p->nheld++];
        h->turn = turn;
        h->n = n;
        h->parts = calloc(2 * n + 1, sizeof *h->parts);
        if (!h->parts)
            abort();
        for (size_t i = 0; i < 2 * n; i++)
            cl_buf_append(&h->parts[i], data[i], len[i]);
        return;
    }
    s_publish(p, data, len, n);
    p->next++;
    /* The held turns that now follow, in order. */
    for (size_t i = 0; i < p->nheld;) {
        if (p->held[i].turn != p->next) {
            i++;
            continue;
        }
        s_publish_held(p, &p->held[i]);
        p->held[i] = p->held[--p->nheld];
        p->next++;
        i = 0;
    }
}

void cl_publisher_put(cl_publisher_t *p, uint64_t turn, const cl_event_t *evs, size_t n)
{
    const void **data = calloc(2 * n + 1, sizeof *data);
    size_t *len = calloc(2 * n + 1, sizeof *len);
    if (!data || !len)
        abort();
    for (size_t i = 0; i < n; i++) {
        const char *type = cl_codec_body_name(evs[i].env);
        data[2 * i] = type, len[2 * i] = strlen(type);
        data[2 * i + 1] = evs[i].packed.data, len[2 * i + 1] = evs[i].packed.len;
    }
    cl_publisher_put_parts(p, turn, data, len, n);
    free(data);
    free(len);
}

size_t cl_publisher_held(const cl_publisher_t *p)
{
    return p->nheld;
}
