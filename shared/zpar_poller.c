/*  zpar_poller.c - readable-socket wait over epoll and ZMQ_FD.

    ZMQ_FD becomes readable when the socket has commands to process, which
    may (or may not) mean a message arrived; ZMQ_EVENTS processes them and
    says. Level-triggered epoll is safe here: the descriptor stays readable
    until ZMQ_EVENTS drained it. A socket the caller received from or sent
    on may hold messages its descriptor no longer signals, which is why
    every wait begins by asking those (the dirty ones).                  */

#include "zpar_poller.h"
#include "zpar_util.h"

#include <czmq.h>
#include <errno.h>
#include <sys/epoll.h>

//  Sockets one poller holds; the daemons and the client use at most six.
#define S_MAX_ITEMS 16

typedef struct {
    void *reader;               //  what the caller added
    void *socket;               //  the libzmq socket
    bool dirty;                 //  may be readable: ask it
} s_item_t;

struct _zpar_poller_t {
    int epoll_fd;
    s_item_t items [S_MAX_ITEMS];
    int count;
    bool fair;
    int next;                   //  fair: where the next scan starts
    bool terminated;
};

zpar_poller_t *
zpar_poller_new (void *reader, ...)
{
    zpar_poller_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
    if (self->epoll_fd < 0) {
        free (self);
        return NULL;
    }
    va_list args;
    va_start (args, reader);
    for (; reader; reader = va_arg (args, void *))
        zpar_poller_add (self, reader);
    va_end (args);
    return self;
}

void
zpar_poller_destroy (zpar_poller_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    close ((*self_p)->epoll_fd);
    free (*self_p);
    *self_p = NULL;
}

int
zpar_poller_add (zpar_poller_t *self, void *reader)
{
    void *socket = zsock_resolve (reader);
    int fd;
    size_t size = sizeof fd;
    if (self->count == S_MAX_ITEMS || !socket
    ||  zmq_getsockopt (socket, ZMQ_FD, &fd, &size) != 0)
        return -1;
    struct epoll_event event = { .events = EPOLLIN, .data.u32 = (uint32_t) self->count };
    if (epoll_ctl (self->epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0)
        return -1;
    self->items [self->count++] = (s_item_t) { reader, socket, true };
    return 0;
}

void
zpar_poller_set_fair (zpar_poller_t *self, bool fair)
{
    self->fair = fair;
}

void
zpar_poller_touch (zpar_poller_t *self, void *reader)
{
    for (int i = 0; i < self->count; i++)
        if (self->items [i].reader == reader)
            self->items [i].dirty = true;
}

//  Asks the dirty sockets in order; the first readable stays dirty (its
//  caller will receive and may find more) and is returned.
static void *
s_first_readable (zpar_poller_t *self)
{
    int start = self->fair? self->next: 0;
    for (int k = 0; k < self->count; k++) {
        int i = (start + k) % self->count;
        s_item_t *item = &self->items [i];
        if (!item->dirty)
            continue;
        uint32_t events = 0;
        size_t size = sizeof events;
        if (zmq_getsockopt (item->socket, ZMQ_EVENTS, &events, &size) == 0
        &&  (events & ZMQ_POLLIN)) {
            self->next = (i + 1) % self->count;
            return item->reader;
        }
        item->dirty = false;
    }
    return NULL;
}

void *
zpar_poller_wait (zpar_poller_t *self, int timeout_ms)
{
    self->terminated = false;
    int64_t deadline = timeout_ms < 0? INT64_MAX: zpar_mono_ms () + timeout_ms;
    void *ready = s_first_readable (self);
    while (!ready && !zsys_interrupted) {
        int64_t left = deadline == INT64_MAX? -1: deadline - zpar_mono_ms ();
        if (left < 0 && deadline != INT64_MAX)
            left = 0;
        struct epoll_event events [S_MAX_ITEMS];
        int fired = epoll_wait (self->epoll_fd, events, S_MAX_ITEMS, left > INT32_MAX? INT32_MAX: (int) left);
        if (fired < 0 && errno != EINTR)
            break;
        if (fired == 0)
            return NULL;                //  expired
        for (int e = 0; e < fired; e++)
            self->items [events [e].data.u32].dirty = true;
        ready = s_first_readable (self);
    }
    self->terminated = !ready;
    return ready;
}

bool
zpar_poller_terminated (zpar_poller_t *self)
{
    return self->terminated;
}
