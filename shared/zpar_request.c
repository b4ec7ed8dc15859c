/*  zpar_request.c - request and reply with a deadline.                  */

#include "zpar_request.h"
#include "zpar_util.h"

zpar_msg_t *
zpar_request (zpar_peer_t *peer, const char *msg_type, json_t *content, int timeout_ms)
{
    zpar_msg_t *request = zpar_msg_new (msg_type, peer->session);
    char *msg_id = strdup (zpar_msg_id (request));
    zpar_msg_set_content (request, content);
    if (zpar_msg_send (&request, peer->sock, peer->signer) != 0) {
        free (msg_id);
        return NULL;
    }
    int64_t deadline = zpar_mono_ms () + timeout_ms;
    zpar_msg_t *reply = NULL;
    zpoller_t *poller = zpoller_new (peer->sock, NULL);
    while (!reply) {
        int64_t wait = deadline - zpar_mono_ms ();
        if (wait <= 0 || !zpoller_wait (poller, (int) wait))
            break;
        zmsg_t *raw = zmsg_recv (peer->sock);
        if (!raw)
            break;
        zpar_drop_t reason;
        reply = zpar_msg_decode (&raw, peer->signer, (size_t) peer->max_size, NULL, &reason);
        if (!reply && peer->drops)
            zpar_drops_add (peer->drops, reason, msg_type);
        //  A late answer to an earlier attempt is not this one's.
        if (reply && (!zpar_msg_parent_id (reply) || !streq (zpar_msg_parent_id (reply), msg_id)))
            zpar_msg_destroy (&reply);
    }
    zpoller_destroy (&poller);
    free (msg_id);
    return reply;
}

bool
zpar_reply_ok (zpar_msg_t *reply)
{
    const char *status = reply? json_string_value (json_object_get (zpar_msg_content (reply), "status")): NULL;
    return status && streq (status, "ok");
}
