/*  zpar_msg.h - one message of the zpar protocol, Jupyter framing:

        [routing ids...] "<IDS|MSG>" signature header parent metadata content [buffers...]

    A message is either built here (zpar_msg_new, then set parent, metadata
    and content) and signed when sent, or decoded from frames that arrived,
    in which case its JSON frames are parsed only when asked for and are
    sent on again byte for byte, so a forwarder never re-encodes them.   */

#ifndef ZPAR_MSG_H_INCLUDED
#define ZPAR_MSG_H_INCLUDED

#include <czmq.h>
#include <jansson.h>

#include "zpar_parts.h"
#include "zpar_proto.h"
#include "zpar_sign.h"

typedef struct _zpar_msg_t zpar_msg_t;

//  Builds a message of msg_type with a fresh header (msg_id, session,
//  username, date, version). Parent, metadata and content start empty.
zpar_msg_t *zpar_msg_new (const char *msg_type, const char *session);

//  Builds the reply to request: msg_type, same session, parent set to the
//  request's header, routing ids copied from the request.
zpar_msg_t *zpar_msg_new_reply (zpar_msg_t *request, const char *msg_type,
                                const char *session);

void zpar_msg_destroy (zpar_msg_t **self_p);

//  A deep copy (frames and parsed JSON), to keep a request for sending
//  again. Caller owns it.
zpar_msg_t *zpar_msg_dup (zpar_msg_t *self);

//  Decodes a raw multipart message and takes ownership of it (*raw_p is
//  set to NULL; its frames move into the message, large ones uncopied). Checks, in this order: total size <= max_size, framing,
//  signature, replay (under scope, see zpar_sign_seen), and that the header
//  is a JSON object with msg_id and msg_type. Returns NULL and sets *reason
//  when the message must be dropped.
zpar_msg_t *zpar_msg_decode (zmsg_t **raw_p, zpar_sign_t *signer,
                             size_t max_size, const char *scope,
                             zpar_drop_t *reason);

//  The same checks but the last: the header is left unparsed. For those
//  that route by frames (schedulers) or read other frames first (replies);
//  zpar_msg_type and zpar_msg_id may then return NULL on a bad header.
zpar_msg_t *zpar_msg_decode_frames (zmsg_t **raw_p, zpar_sign_t *signer,
                                    size_t max_size, const char *scope,
                                    zpar_drop_t *reason);

//  The same two over parts received with zpar_parts_recv: they move into
//  the message, and raw is left empty (its room kept for the next one),
//  with no allocation per frame. The daemons' hot paths use these.
zpar_msg_t *zpar_msg_decode_parts (zpar_parts_t *raw, zpar_sign_t *signer,
                                   size_t max_size, const char *scope,
                                   zpar_drop_t *reason);
zpar_msg_t *zpar_msg_decode_parts_frames (zpar_parts_t *raw, zpar_sign_t *signer,
                                          size_t max_size, const char *scope,
                                          zpar_drop_t *reason);

//  Sends the message and destroys it. A built message, or one whose JSON was
//  changed, is serialised and signed; a decoded one goes out as it came.
//  Returns 0, or -1 when ZeroMQ refused it (the message is destroyed all
//  the same).
int zpar_msg_send (zpar_msg_t **self_p, void *sock, zpar_sign_t *signer);

//  Same, except that when its first frame cannot leave (on a ROUTER with
//  ROUTER_MANDATORY: the peer is gone) nothing was sent, the message is
//  still the caller's, as it was, and -1 is returned. 1: the first frame
//  left and the rest failed (the context ended); the message is gone.
int zpar_msg_send_or_keep (zpar_msg_t **self_p, void *sock, zpar_sign_t *signer);

//  Bytes the message takes on the wire (all frames), signing it first
//  when it was built or changed: to check it against a size limit before
//  sending.
size_t zpar_msg_size (zpar_msg_t *self, zpar_sign_t *signer);

//  Builds a copy of the raw frames (signing when needed) without sending;
//  the message keeps its content. With routes, the routing ids come first;
//  with buffers, the buffers come last. Caller owns the result. For tests
//  and tools that look at the wire.
zmsg_t *zpar_msg_encode (zpar_msg_t *self, zpar_sign_t *signer, bool routes, bool buffers);

//  JSON frames, parsed on first use. Borrowed; NULL when a received frame
//  is not a JSON object (the caller counts that as malformed).
json_t *zpar_msg_header (zpar_msg_t *self);
json_t *zpar_msg_parent (zpar_msg_t *self);
json_t *zpar_msg_metadata (zpar_msg_t *self);
json_t *zpar_msg_content (zpar_msg_t *self);

//  Replace a JSON frame; takes ownership of value, which must be an object.
void zpar_msg_set_parent (zpar_msg_t *self, json_t *value);
void zpar_msg_set_metadata (zpar_msg_t *self, json_t *value);
void zpar_msg_set_content (zpar_msg_t *self, json_t *value);

//  Replace a JSON frame (parent, metadata or content) with text the caller
//  wrote, which must be a JSON object: cheaper than building one.
void zpar_msg_set_text (zpar_msg_t *self, int index, const char *text, size_t size);
//  The JSON frames by position, as received or last encoded (borrowed;
//  NULL on a built message not sent yet).
enum { ZPAR_FRAME_HEADER, ZPAR_FRAME_PARENT, ZPAR_FRAME_METADATA, ZPAR_FRAME_CONTENT };
zmq_msg_t *zpar_msg_frame (zpar_msg_t *self, int index);

//  The JSON text of up to four top-level members of JSON frame index, read
//  without parsing the frame: texts [k] points into the frame (sizes [k]
//  bytes), NULL when keys [k] is absent. -1 when the frame was parsed or
//  changed already, or the scan is unsure (escapes, deep nesting): then
//  parse it.
int zpar_msg_scan_members (zpar_msg_t *self, int index, const char *const keys [], size_t nkeys,
                           const char *texts [], size_t sizes []);

//  A reply's result when its content says status "ok": the result value
//  alone parsed from the frame (new reference; JSON null when absent),
//  which costs a fraction of parsing the content. NULL when the status is
//  another, the content was parsed or changed already, or the scan is
//  unsure: then read zpar_msg_content.
json_t *zpar_msg_ok_result (zpar_msg_t *self);

//  Shortcuts into the header, the parent header and the metadata
//  (borrowed, may be NULL). Read from the frame's bytes when possible,
//  without parsing the JSON: routers need little else.
const char *zpar_msg_type (zpar_msg_t *self);
const char *zpar_msg_id (zpar_msg_t *self);
const char *zpar_msg_date (zpar_msg_t *self);
const char *zpar_msg_parent_id (zpar_msg_t *self);
const char *zpar_msg_status (zpar_msg_t *self);

//  An integer member of the metadata, read like the strings above (a
//  client needs engine_id of every reply and rarely the rest). False when
//  absent or not an integer.
bool zpar_msg_metadata_integer (zpar_msg_t *self, const char *key, long long *value);
//  The signature as received or as last signed (64 hex digits), or "".
const char *zpar_msg_signature (zpar_msg_t *self);

//  Routing identities in front of the delimiter.
size_t zpar_msg_routes (zpar_msg_t *self);
zmq_msg_t *zpar_msg_route (zpar_msg_t *self, size_t index);                  //  borrowed
void zpar_msg_push_route (zpar_msg_t *self, const void *data, size_t size);   //  in front
void zpar_msg_add_route (zpar_msg_t *self, const void *data, size_t size);    //  at the end
zframe_t *zpar_msg_pop_route (zpar_msg_t *self);                               //  caller owns
void zpar_msg_swap_routes (zpar_msg_t *self);                                  //  the first two
void zpar_msg_clear_routes (zpar_msg_t *self);

//  Binary buffers after the JSON frames, passed along without copies.
size_t zpar_msg_buffers (zpar_msg_t *self);
zmq_msg_t *zpar_msg_buffer (zpar_msg_t *self, size_t index);                 //  borrowed
void zpar_msg_add_buffer (zpar_msg_t *self, const void *data, size_t size);
//  Adds a buffer without copying it: it goes after the others as a ZeroMQ
//  message over data, and free_fn (data, hint) runs once ZeroMQ is done
//  with it, in whatever thread that is (or when the message is destroyed
//  unsent).
void zpar_msg_give_buffer (zpar_msg_t *self, void *data, size_t size, zmq_free_fn *free_fn, void *hint);
//  Adds buffer (of another message) after the others, sharing its bytes.
void zpar_msg_share_buffer (zpar_msg_t *self, zmq_msg_t *buffer);
//  Moves the parts of buffers after the buffers, uncopied; buffers is
//  left empty.
void zpar_msg_append_buffers (zpar_msg_t *self, zpar_parts_t *buffers);

//  Moves the buffers out of the message, after what into holds.
void zpar_msg_take_buffers (zpar_msg_t *self, zpar_parts_t *into);

//  A top-level string member of the JSON object text (size bytes), read as
//  the shortcuts above read a frame: 0 with it in out, or -1 when absent,
//  not plain text, or the text is not an object the parser would take.
int zpar_json_scan_string (const void *text, size_t size, const char *key, char *out, size_t out_size);

//  The same for up to four keys in one pass: -1 when unsure, else how
//  many were found; each found one is in its out, the others are "".
int zpar_json_scan_strings (const void *text, size_t size, const char *const keys [], size_t nkeys,
                            char *const outs [], const size_t out_sizes []);

//  Name of a drop reason as it appears in counters ("bad_signature", ...).
const char *zpar_drop_name (zpar_drop_t reason);

#endif
