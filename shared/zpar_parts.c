/*  zpar_parts.c - a multipart ZeroMQ message as an array of zmq_msg_t.  */

#include "zpar_parts.h"

#include <errno.h>

//  Frames up to this size are copied when taken from a zmsg; larger ones
//  are lent, which costs libzmq an allocation of its own.
#define S_LEND_FROM 256

//  A zmq_msg_t holds no pointer into itself, so an array of them may be
//  moved by realloc (the parts are not touched between).
static int
s_room (zpar_parts_t *self)
{
    if (self->count < self->capacity)
        return 0;
    size_t capacity = self->capacity? 2 * self->capacity: 8;
    zmq_msg_t *grown = realloc (self->part, capacity * sizeof *grown);
    if (!grown)
        return -1;
    self->part = grown;
    self->capacity = capacity;
    return 0;
}

void
zpar_parts_clear (zpar_parts_t *self)
{
    for (size_t i = 0; i < self->count; i++)
        zmq_msg_close (&self->part [i]);
    self->count = 0;
}

void
zpar_parts_free (zpar_parts_t *self)
{
    zpar_parts_clear (self);
    free (self->part);
    self->part = NULL;
    self->capacity = 0;
}

zmq_msg_t *
zpar_parts_add (zpar_parts_t *self)
{
    if (s_room (self) != 0)
        return NULL;
    zmq_msg_t *part = &self->part [self->count++];
    zmq_msg_init (part);
    return part;
}

int
zpar_parts_add_mem (zpar_parts_t *self, const void *data, size_t size)
{
    if (s_room (self) != 0)
        return -1;
    zmq_msg_t *part = &self->part [self->count];
    if (zmq_msg_init_size (part, size) != 0)
        return -1;
    if (size)
        memcpy (zmq_msg_data (part), data, size);
    self->count++;
    return 0;
}

int
zpar_parts_add_move (zpar_parts_t *self, zmq_msg_t *part)
{
    zmq_msg_t *slot = zpar_parts_add (self);
    return slot? zmq_msg_move (slot, part): -1;
}

int
zpar_parts_recv (zpar_parts_t *self, void *socket, int flags)
{
    size_t was = self->count;
    int more = 1;
    while (more) {
        zmq_msg_t *part = zpar_parts_add (self);
        if (!part)
            break;
        //  The rest of a message is there once its first part is.
        if (zmq_msg_recv (part, socket, self->count - 1 == was? flags: 0) < 0) {
            int error = errno;
            zmq_msg_close (part);
            self->count--;
            //  Interrupted halfway: what came is no message.
            while (self->count > was)
                zmq_msg_close (&self->part [--self->count]);
            errno = error;
            return -1;
        }
        more = zmq_msg_more (part);
    }
    if (more) {
        //  No room: the rest is read and dropped, so that it cannot pass
        //  for a message of its own.
        zmq_msg_t rest;
        zmq_msg_init (&rest);
        while (more && zmq_msg_recv (&rest, socket, 0) >= 0)
            more = zmq_msg_more (&rest);
        zmq_msg_close (&rest);
        while (self->count > was)
            zmq_msg_close (&self->part [--self->count]);
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

size_t
zpar_parts_bytes (const zpar_parts_t *self)
{
    size_t bytes = 0;
    for (size_t i = 0; i < self->count; i++)
        bytes += zmq_msg_size (&self->part [i]);
    return bytes;
}

zmsg_t *
zpar_parts_to_zmsg (zpar_parts_t *self)
{
    zmsg_t *msg = zmsg_new ();
    for (size_t i = 0; i < self->count; i++)
        zmsg_addmem (msg, zmq_msg_data (&self->part [i]), zmq_msg_size (&self->part [i]));
    zpar_parts_clear (self);
    return msg;
}

static void
s_frame_free (void *data, void *hint)
{
    (void) data;
    zframe_t *frame = hint;
    zframe_destroy (&frame);
}

int
zpar_parts_take_zmsg (zpar_parts_t *self, zmsg_t **msg_p)
{
    int rc = 0;
    zframe_t *frame;
    while (*msg_p && (frame = zmsg_pop (*msg_p))) {
        size_t size = zframe_size (frame);
        if (rc == 0 && size < S_LEND_FROM)
            rc = zpar_parts_add_mem (self, zframe_data (frame), size);
        else
        if (rc == 0 && s_room (self) == 0
        &&  zmq_msg_init_data (&self->part [self->count], zframe_data (frame), size,
                               s_frame_free, frame) == 0) {
            self->count++;
            continue;                   //  the part owns the frame now
        }
        else
            rc = -1;
        zframe_destroy (&frame);
    }
    zmsg_destroy (msg_p);
    return rc;
}

char *
zpar_part_strdup (zmq_msg_t *part)
{
    size_t size = zmq_msg_size (part);
    char *text = malloc (size + 1);
    if (text) {
        memcpy (text, zmq_msg_data (part), size);
        text [size] = 0;
    }
    return text;
}

bool
zpar_part_streq (zmq_msg_t *part, const char *text)
{
    size_t length = strlen (text);
    return zmq_msg_size (part) == length && memcmp (zmq_msg_data (part), text, length) == 0;
}
