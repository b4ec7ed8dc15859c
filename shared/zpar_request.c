/*  zpar_request.c - request and reply with a deadline.                  */

#include "zpar_request.h"
#include "zpar_util.h"

//  Sends a new request; adds its msg_id to sent. -1 when it did not leave.
static int
s_send (zpar_peer_t *peer, const char *msg_type, json_t *content, zlistx_t *sent)
{
    zpar_msg_t *request = zpar_msg_new (msg_type, peer->session);
    zlistx_add_end (sent, strdup (zpar_msg_id (request)));
    zpar_msg_set_content (request, json_incref (content));
    return zpar_msg_send (&request, peer->sock, peer->signer);
}

static bool
s_answers (zpar_msg_t *reply, zlistx_t *sent)
{
    const char *parent = zpar_msg_parent_id (reply);
    for (const char *id = zlistx_first (sent); parent && id; id = zlistx_next (sent))
        if (streq (id, parent))
            return true;
    return false;
}

zpar_msg_t *
zpar_request (zpar_peer_t *peer, const char *msg_type, json_t *content, int timeout_ms)
{
    zlistx_t *sent = zlistx_new ();
    zlistx_set_destructor (sent, (czmq_destructor *) zstr_free);
    zpar_msg_t *reply = NULL;
    zpoller_t *poller = NULL;
    if (s_send (peer, msg_type, content, sent) != 0)
        goto done;
    int64_t now = zpar_mono_ms (), deadline = now + timeout_ms;
    int64_t resend_after = peer->resend_ms;
    int64_t resend_at = peer->resend_ms > 0? now + peer->resend_ms: INT64_MAX;
    poller = zpoller_new (peer->sock, NULL);
    while (!reply) {
        now = zpar_mono_ms ();
        if (now >= resend_at) {
            //  Not sent is no failure here: the first one may still be
            //  answered. Each wait twice the last: a slow hub is not buried.
            s_send (peer, msg_type, content, sent);
            resend_after *= 2;
            resend_at = now + resend_after;
        }
        int64_t wait = (deadline < resend_at? deadline: resend_at) - now;
        if (deadline <= now)
            break;
        if (!zpoller_wait (poller, (int) (wait > 0? wait: 0))) {
            if (zpoller_terminated (poller))
                break;
            continue;
        }
        zmsg_t *raw = zmsg_recv (peer->sock);
        if (!raw)
            break;
        zpar_drop_t reason;
        reply = zpar_msg_decode (&raw, peer->signer, (size_t) peer->max_size, NULL, &reason);
        if (!reply && peer->drops)
            zpar_drops_add (peer->drops, reason, msg_type);
        //  A late answer to an earlier call is not this one's.
        if (reply && !s_answers (reply, sent))
            zpar_msg_destroy (&reply);
    }
done:
    zpoller_destroy (&poller);
    zlistx_destroy (&sent);
    json_decref (content);
    return reply;
}

bool
zpar_reply_ok (zpar_msg_t *reply)
{
    const char *status = reply? json_string_value (json_object_get (zpar_msg_content (reply), "status")): NULL;
    return status && streq (status, "ok");
}
