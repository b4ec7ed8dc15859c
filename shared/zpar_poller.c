/*  zpar_poller.c - the next message of several sockets, over epoll and ZMQ_FD.

    ZMQ_FD becomes readable when the socket has commands to process, which
    may (or may not) mean a message arrived; a receive processes them.
    Level-triggered epoll is safe here: the descriptor stays readable
    until a receive (or a send) drained the commands. A socket the caller
    received from or sent on may hold messages its descriptor no longer
    signals, which is why every wait begins by trying those (the dirty
    ones).                                                               */

#include "zpar_poller.h"
#include "zpar_util.h"

#include <czmq.h>
#include <errno.h>
#include <sys/epoll.h>

//  Sockets one poller holds; the daemons and the client use at most six.
#define S_MAX_ITEMS 16

//  While messages keep coming, descriptors are still read this often, so
//  that a socket earlier in the order (an engine's control) overtakes.
#define S_EPOLL_EVERY_MS 1

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
    int64_t epolled_at;         //  last epoll_wait, zpar_mono_ms
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

//  Receives a whole message from item if one is there, without blocking
//  and without asking ZMQ_EVENTS first: a receive that finds a message
//  costs no system call, where ZMQ_EVENTS always looks at the socket's
//  mailbox (a poll() and a getpid()).
//  Where a message goes: into parts, or (parts NULL) into a zmsg_t of
//  CZMQ's frames, which receive into themselves, a large buffer uncopied.
typedef struct {
    zpar_parts_t *parts;
    zmsg_t *msg;
} s_into_t;

static bool
s_try_recv (s_item_t *item, s_into_t *into)
{
    if (into->parts)
        return zpar_parts_recv (into->parts, item->socket, ZMQ_DONTWAIT) == 0;
    //  zmsg_recv has no flags: a zero timeout for the while.
    int timeout, zero = 0;
    size_t size = sizeof timeout;
    if (zmq_getsockopt (item->socket, ZMQ_RCVTIMEO, &timeout, &size) != 0)
        return false;
    zmq_setsockopt (item->socket, ZMQ_RCVTIMEO, &zero, sizeof zero);
    into->msg = zmsg_recv (item->reader);
    zmq_setsockopt (item->socket, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    return into->msg != NULL;
}

//  Marks dirty the sockets whose descriptor fired; waits up to timeout_ms.
//  Returns what epoll_wait returned.
static int
s_epoll (zpar_poller_t *self, int timeout_ms)
{
    struct epoll_event events [S_MAX_ITEMS];
    int fired = epoll_wait (self->epoll_fd, events, S_MAX_ITEMS, timeout_ms);
    for (int e = 0; e < fired; e++)
        self->items [events [e].data.u32].dirty = true;
    self->epolled_at = zpar_mono_ms ();
    return fired;
}

//  Tries the dirty sockets in order; the one that gave a message stays
//  dirty (it may hold more), the others are clean until their descriptor
//  fires or the caller touches them.
static bool
s_first_message (zpar_poller_t *self, void **which, s_into_t *into)
{
    int start = self->fair? self->next: 0;
    for (int k = 0; k < self->count; k++) {
        int i = (start + k) % self->count;
        s_item_t *item = &self->items [i];
        if (!item->dirty)
            continue;
        if (s_try_recv (item, into)) {
            self->next = (i + 1) % self->count;
            *which = item->reader;
            return true;
        }
        item->dirty = false;
    }
    return false;
}

static void *
s_wait (zpar_poller_t *self, int timeout_ms, s_into_t *into)
{
    void *which = NULL;
    self->terminated = false;
    int64_t now = zpar_mono_ms ();
    int64_t deadline = timeout_ms < 0? INT64_MAX: now + timeout_ms;
    //  A socket that keeps having messages would hide the others, whose
    //  descriptors are only read in epoll: look at them now and then.
    if (now - self->epolled_at >= S_EPOLL_EVERY_MS)
        s_epoll (self, 0);
    bool got = s_first_message (self, &which, into);
    while (!got && !zsys_interrupted) {
        int64_t left = deadline == INT64_MAX? -1: deadline - zpar_mono_ms ();
        if (left < 0 && deadline != INT64_MAX)
            left = 0;
        int fired = s_epoll (self, left > INT32_MAX? INT32_MAX: (int) left);
        if (fired < 0 && errno != EINTR)
            break;
        if (fired == 0)
            return NULL;                //  expired
        got = s_first_message (self, &which, into);
    }
    self->terminated = !got;
    return got? which: NULL;
}

void *
zpar_poller_wait (zpar_poller_t *self, int timeout_ms, zpar_parts_t *parts)
{
    zpar_parts_clear (parts);
    s_into_t into = { parts, NULL };
    return s_wait (self, timeout_ms, &into);
}

zmsg_t *
zpar_poller_recv (zpar_poller_t *self, int timeout_ms, void **which)
{
    s_into_t into = { NULL, NULL };
    *which = s_wait (self, timeout_ms, &into);
    return into.msg;
}

bool
zpar_poller_terminated (zpar_poller_t *self)
{
    return self->terminated;
}
