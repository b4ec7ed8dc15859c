/*  zpar_parts.h - a multipart ZeroMQ message as an array of zmq_msg_t.

    The daemons' hot paths receive, keep and send frames in these rather
    than in CZMQ's zmsg_t, which allocates a frame and a list node for
    every part and frees them again: a fifth of a router's time per
    message. A part moves in and out of the array without an allocation;
    large ones share their bytes (zmq_msg_copy) rather than copying them. */

#ifndef ZPAR_PARTS_H_INCLUDED
#define ZPAR_PARTS_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

typedef struct {
    zmq_msg_t *part;
    size_t count;
    size_t capacity;
} zpar_parts_t;

//  An empty array; none of these allocate until a part is added.
#define ZPAR_PARTS_EMPTY { NULL, 0, 0 }

//  Closes every part; the array keeps its room for the next message.
void zpar_parts_clear (zpar_parts_t *self);

//  Closes every part and frees the array.
void zpar_parts_free (zpar_parts_t *self);

//  A new empty part at the end (zmq_msg_init), or NULL without memory.
zmq_msg_t *zpar_parts_add (zpar_parts_t *self);

//  A part holding a copy of size bytes at the end. 0 or -1.
int zpar_parts_add_mem (zpar_parts_t *self, const void *data, size_t size);

//  Moves *part to the end (part is left empty). 0 or -1.
int zpar_parts_add_move (zpar_parts_t *self, zmq_msg_t *part);

//  Adds the next whole message of socket (a libzmq socket) after what
//  self holds. flags: 0 or ZMQ_DONTWAIT. 0, or -1 with errno (EAGAIN:
//  none waiting).
int zpar_parts_recv (zpar_parts_t *self, void *socket, int flags);

//  Bytes in all parts.
size_t zpar_parts_bytes (const zpar_parts_t *self);

//  The parts as a zmsg_t (copied), self left empty: for the sockets
//  whose messages are few and read with CZMQ's calls.
zmsg_t *zpar_parts_to_zmsg (zpar_parts_t *self);

//  Appends the frames of *msg_p (destroyed): large ones without a copy,
//  each kept alive by its part. 0 or -1.
int zpar_parts_take_zmsg (zpar_parts_t *self, zmsg_t **msg_p);

//  A part's bytes as a new string (caller frees), like zframe_strdup.
char *zpar_part_strdup (zmq_msg_t *part);

//  True when part holds exactly the string text, like zframe_streq.
bool zpar_part_streq (zmq_msg_t *part, const char *text);

#endif
