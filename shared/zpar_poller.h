/*  zpar_poller.h - the next message from the first of several sockets
    that has one, like CZMQ's zpoller followed by zmsg_recv, with a small
    fraction of the system calls.

    zmq_poll asks every socket for its events before and after it blocks,
    and each ask costs a poll() and a getpid(), even of a socket with
    messages waiting: a dozen system calls per message, which on a small
    machine is a good part of a round trip. This poller instead receives
    without blocking from the sockets that may have changed since it last
    looked: the one that gave the last message, those the caller says it
    sent on (zpar_poller_touch), and those whose ZMQ_FD fired in epoll.
    A receive that finds a message makes no system call at all; only a
    socket found empty costs the two, once, until its descriptor fires.

    The caller's part of the bargain: after sending on a polled socket
    other than the one just returned, call zpar_poller_touch on it.
    Sending may process the socket's pending commands, among them the news
    that a message arrived, and then its descriptor stays quiet.

    Sockets are zsock_t or zactor_t (anything zsock_resolve takes).      */

#ifndef ZPAR_POLLER_H_INCLUDED
#define ZPAR_POLLER_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

#include "zpar_parts.h"

typedef struct _zpar_poller_t zpar_poller_t;

//  A poller over a NULL-terminated list of sockets (may be empty).
zpar_poller_t *zpar_poller_new (void *reader, ...);

void zpar_poller_destroy (zpar_poller_t **self_p);

//  Adds a socket after the others. Returns 0 or -1.
int zpar_poller_add (zpar_poller_t *self, void *reader);

//  Fair: each wait starts asking after the socket returned last, so a
//  busy socket cannot starve the others. Otherwise (the default) the
//  order they were added is a priority.
void zpar_poller_set_fair (zpar_poller_t *self, bool fair);

//  Says that the caller sent on reader (see above).
void zpar_poller_touch (zpar_poller_t *self, void *reader);

//  The next message, from the first socket in the order added that has
//  one (fair: starting after the last one); *which is that socket. NULL
//  after timeout_ms (-1: no limit), or when a signal interrupted the wait
//  (CZMQ's zsys_interrupted is set). Caller owns the message. While
//  messages keep coming, the others' descriptors are still read every
//  millisecond, so that the order holds under load.
zmsg_t *zpar_poller_recv (zpar_poller_t *self, int timeout_ms, void **which);

//  The same into parts (cleared first, then holding the message), with
//  no allocation per frame: returns the socket it came from, or NULL as
//  above. For the hot paths.
void *zpar_poller_wait (zpar_poller_t *self, int timeout_ms, zpar_parts_t *parts);

//  After NULL: the wait was interrupted (otherwise it timed out).
bool zpar_poller_terminated (zpar_poller_t *self);

#endif
