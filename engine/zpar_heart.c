/*  zpar_heart.c - heartbeat responder thread.                           */

#include "zpar_heart.h"
#include "zpar_log.h"

#include "zpar_msg.h"
#include "zpar_net.h"
#include "zpar_proto.h"
#include "zpar_sign.h"
#include "zpar_util.h"

#include <signal.h>
#include <unistd.h>

//  Pongs are tiny; pings carry a decimal counter.
#define S_PING_MAX 32

//  The largest frame the ping socket takes: room for a ping, and for the
//  CurveZMQ handshake's commands (its WELCOME is 168 bytes), which the
//  limit applies to as well.
#define S_PING_FRAME_MAX 512

//  Replies to a registration sent again that the heart keeps in its
//  replay history: a few per hub start.
#define S_HISTORY 64

typedef struct {
    zpar_sign_t *signer;
    char *uuid;
    zsock_t *ping, *pong;
    char *registration_ep;      //  the hub's
    char *registration;         //  registration_request content, JSON text
    int64_t max_size;
    zsock_t *reg;               //  to the hub, once it asked to register again
    char *session;
} s_heart_t;

//  Pong: [counter] [hmac of "uuid:counter"]; the DEALER's identity is the uuid.
static void
s_pong (s_heart_t *self, const char *counter)
{
    const void *parts [] = { self->uuid, ":", counter };
    size_t sizes [] = { strlen (self->uuid), 1, strlen (counter) };
    char signature [ZPAR_SIGNATURE_LEN + 1];
    zpar_sign_parts (self->signer, parts, sizes, 3, signature);
    zstr_sendm (self->pong, counter);
    zstr_send (self->pong, signature);
}

//  Registers this engine again with a hub that took over from a killed
//  one: same uuid, same id. Its answer is read by s_heart_registered; a
//  refusal (no scheduler back yet) is simply asked again at the next
//  ping, since the hub says "reregister" to every pong until then.
static void
s_heart_register (s_heart_t *self, zpoller_t *poller)
{
    json_t *content = self->registration? json_loads (self->registration, 0, NULL): NULL;
    if (!content || !self->registration_ep) {
        json_decref (content);
        return;
    }
    if (!self->reg) {
        self->reg = zpar_connect (ZMQ_DEALER, self->registration_ep, NULL, self->max_size);
        if (!self->reg) {
            json_decref (content);
            return;
        }
        if (!self->session)
            self->session = zpar_new_uuid ();
        zpoller_add (poller, self->reg);
    }
    zpar_msg_t *msg = zpar_msg_new ("registration_request", self->session);
    zpar_msg_set_content (msg, content);
    zpar_msg_send (&msg, self->reg, self->signer);
}

static void
s_heart_registered (s_heart_t *self)
{
    zmsg_t *raw = zmsg_recv (self->reg);
    zpar_drop_t reason;
    zpar_msg_t *reply = raw? zpar_msg_decode (&raw, self->signer, (size_t) self->max_size, NULL, &reason): NULL;
    json_t *content = reply? zpar_msg_content (reply): NULL;
    const char *status = json_string_value (json_object_get (content, "status"));
    const char *ename = json_string_value (json_object_get (content, "ename"));
    if (status && streq (status, "ok"))
        zpar_info ("registered again with the hub, as engine %lld",
                   (long long) json_integer_value (json_object_get (content, "id")));
    else
    if (status && !(ename && streq (ename, "NotReady"))) {
        //  Refused for good (its id was given to another engine): as one
        //  declared dead, it leaves, and its supervisor starts it afresh.
        const char *evalue = json_string_value (json_object_get (content, "evalue"));
        zpar_warn ("the hub did not take this engine again (%s): it ends itself",
                   evalue? evalue: "no reason given");
        _exit (ZPAR_ENGINE_EXIT_FORGOTTEN);
    }
    zpar_msg_destroy (&reply);
    zmsg_destroy (&raw);
}

//  The hub's answer to a pong: ["unknown" | "reregister"] [counter] [hmac
//  of "word:uuid:counter"], checked by signature and by the counter just
//  answered, so that it is neither forged nor replayed.
static void
s_heart_told (s_heart_t *self, const char *answered, zpoller_t *poller)
{
    zmsg_t *told = zmsg_recv (self->pong);
    char *word = told? zmsg_popstr (told): NULL;
    char *counter = told? zmsg_popstr (told): NULL;
    char *mac = told? zmsg_popstr (told): NULL;
    if (word && counter && mac && (streq (word, "unknown") || streq (word, "reregister"))
    &&  streq (counter, answered)) {
        const void *parts [] = { word, ":", self->uuid, ":", counter };
        size_t sizes [] = { strlen (word), 1, strlen (self->uuid), 1, strlen (counter) };
        if (zpar_sign_verify (self->signer, parts, sizes, 5, mac, strlen (mac)) == 0) {
            if (streq (word, "unknown")) {
                //  Whatever it still has queued or is computing is
                //  nobody's now: it goes at once, and its supervisor
                //  starts it afresh.
                zpar_warn ("the hub declared this engine dead: it ends itself");
                _exit (ZPAR_ENGINE_EXIT_FORGOTTEN);
            }
            s_heart_register (self, poller);
        }
    }
    zstr_free (&word);
    zstr_free (&counter);
    zstr_free (&mac);
    zmsg_destroy (&told);
}

void
zpar_heart_actor (zsock_t *pipe, void *args)
{
    zpar_heart_config_t *config = args;
    s_heart_t heart = {
        .signer = zpar_sign_new (config->key, S_HISTORY),
        .uuid = strdup (config->uuid),
        .ping = zpar_connect (ZMQ_SUB, config->ping_endpoint, NULL, S_PING_FRAME_MAX),
        .pong = zpar_connect (ZMQ_DEALER, config->pong_endpoint, config->uuid, 0),
        .registration_ep = config->registration_endpoint? strdup (config->registration_endpoint): NULL,
        .registration = config->registration? strdup (config->registration): NULL,
        .max_size = config->max_message_size
    };
    int64_t lost_after = (int64_t) config->period_ms * (config->liveness + 1);
    zsock_signal (pipe, 0);
    if (!heart.signer || !heart.ping || !heart.pong)
        goto done;

    //  Counter 0 says "my heart is up": the hub completes the registration
    //  on it instead of waiting up to a period for the next ping.
    s_pong (&heart, "0");
    int64_t last_ping = zpar_mono_ms ();
    bool lost = false;
    char answered [S_PING_MAX] = "0";      //  the last ping counter answered
    int64_t walltime_at = 0;                //  end the engine then (monotonic ms), 0: no
    zpoller_t *poller = zpoller_new (pipe, heart.ping, heart.pong, NULL);
    while (true) {
        int64_t wait = lost? -1: lost_after < INT32_MAX? lost_after: INT32_MAX;
        if (walltime_at) {
            int64_t left = walltime_at - zpar_mono_ms ();
            wait = left < 0? 0: wait < 0 || left < wait? left: wait;
        }
        void *which = zpoller_wait (poller, (int) wait);
        if (which == pipe) {
            //  $TERM, or the engine's "WALLTIME ms" when a call with one
            //  starts and "DONE" when it ends.
            char *command = NULL, *ms = NULL;
            zstr_recvx (pipe, &command, &ms, NULL);
            bool term = !command || streq (command, "$TERM");
            if (command && streq (command, "WALLTIME") && ms)
                walltime_at = zpar_mono_ms () + atoll (ms);
            if (command && streq (command, "DONE"))
                walltime_at = 0;
            zstr_free (&command);
            zstr_free (&ms);
            if (term)
                break;
        }
        else
        if (which == heart.ping) {
            char *counter = zstr_recv (heart.ping);
            if (counter && strlen (counter) < S_PING_MAX) {
                s_pong (&heart, counter);
                snprintf (answered, sizeof answered, "%s", counter);
            }
            zstr_free (&counter);
            last_ping = zpar_mono_ms ();
            if (lost) {
                lost = false;
                zstr_send (pipe, "FOUND");
            }
        }
        else
        if (which == heart.pong)
            s_heart_told (&heart, answered, poller);
        else
        if (heart.reg && which == heart.reg)
            s_heart_registered (&heart);
        else
        if (zpoller_terminated (poller))
            break;
        if (walltime_at && zpar_mono_ms () >= walltime_at) {
            //  The main thread is inside the call and cannot be stopped:
            //  the process ends, and its supervisor starts it afresh.
            zpar_warn ("a call ran past its walltime: this engine ends itself");
            _exit (ZPAR_ENGINE_EXIT_WALLTIME);
        }
        if (!lost && zpar_mono_ms () - last_ping >= lost_after) {
            lost = true;
            zstr_send (pipe, "LOST");
        }
    }
    zpoller_destroy (&poller);
done:
    zsock_destroy (&heart.ping);
    zsock_destroy (&heart.pong);
    zsock_destroy (&heart.reg);
    zpar_sign_destroy (&heart.signer);
    free (heart.uuid);
    free (heart.registration_ep);
    free (heart.registration);
    free (heart.session);
}
