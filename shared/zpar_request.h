/*  zpar_request.h - one request and its reply over a DEALER, with a
    deadline: how engines, schedulers and clients talk to the hub.       */

#ifndef ZPAR_REQUEST_H_INCLUDED
#define ZPAR_REQUEST_H_INCLUDED

#include "zpar_drops.h"
#include "zpar_msg.h"

typedef struct {
    zsock_t *sock;              //  a DEALER connected to the peer
    zpar_sign_t *signer;
    const char *session;
    int64_t max_size;
    zpar_drops_t *drops;        //  where refused replies are counted (may be NULL)
    int resend_ms;              //  > 0: unanswered, sent again as a new request after
                                //  this long, then twice as long each time
} zpar_peer_t;

//  Sends msg_type with content (taken) and waits up to timeout_ms for the
//  message whose parent is the request. Messages that answer something else
//  are dropped. With resend_ms, a request not answered by then goes again
//  (and again, each wait twice the last) as a new message (a new msg_id and date; an answer to any of them will
//  do): a hub that took over from a killed one drops requests dated
//  before it started. Only for requests that may be answered twice. Returns the reply (caller owns), or NULL on timeout or
//  interruption.
zpar_msg_t *zpar_request (zpar_peer_t *peer, const char *msg_type, json_t *content,
                          int timeout_ms);

//  The reply's content status is "ok".
bool zpar_reply_ok (zpar_msg_t *reply);

#endif
