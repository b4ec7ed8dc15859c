/*  zpar_hub_engine.h - what the hub knows about one engine, and the one
    place where an engine's state changes (see docs/architecture.md):

        state        event             next state    action
        registering  pong              idle          announce registration
        idle         task in           busy
        busy         task out (last)   idle
        busy         task in / out     busy
        busy         tasks lost        idle          (its scheduler is lost)
        any live     unregister        dead          announce departure
        any live     missed beats      dead          announce departure (if announced before)
        any live     process ended     dead          announce departure (if announced before)
        dead         anything          dead          (ignored)
        any          not listed        unchanged     logged (debug) as unexpected   */

#ifndef ZPAR_HUB_ENGINE_H_INCLUDED
#define ZPAR_HUB_ENGINE_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    ZPAR_ENGINE_REGISTERING,
    ZPAR_ENGINE_IDLE,
    ZPAR_ENGINE_BUSY,
    ZPAR_ENGINE_DEAD
} zpar_engine_state_t;

typedef enum {
    ZPAR_EV_PONG,           //  a valid pong answered the current ping
    ZPAR_EV_TASK_IN,        //  a request was routed to the engine
    ZPAR_EV_TASK_OUT,       //  a reply came back from it
    ZPAR_EV_UNREGISTER,     //  it said goodbye
    ZPAR_EV_EXPIRED,        //  it missed too many heartbeats
    ZPAR_EV_EXITED,         //  its supervisor saw its process end (see zpar_hub_engine_exited)
    ZPAR_EV_TASKS_LOST      //  the scheduler that routed its tasks is lost
} zpar_engine_event_t;

typedef enum {
    ZPAR_ACT_NONE,
    ZPAR_ACT_ANNOUNCE,      //  publish registration_notification
    ZPAR_ACT_DEPART,        //  publish unregistration_notification
    ZPAR_ACT_FORGET,        //  drop silently (never announced)
    ZPAR_ACT_UNEXPECTED     //  event makes no sense in this state
} zpar_engine_action_t;

typedef struct {
    int id;
    char *uuid;
    char *host;
    int64_t pid;
    json_t *functions;
    zpar_engine_state_t state;
    int64_t registered_us;      //  wall clock
    int64_t last_beat_ms;       //  monotonic, last pong
    uint64_t last_ping;         //  highest ping counter answered
    int missed;                 //  pings missed in a row
    int64_t queued;             //  requests routed and not answered
    int64_t completed;
    int64_t failed;
    int64_t restarts;           //  times its supervisor restarted its slot
    char current [128];         //  function of its oldest call in flight, or ""
    const char *reason;         //  why it died: static, or exit_text
    char exit_text [128];       //  how its process ended, as its supervisor said
} zpar_hub_engine_t;

zpar_hub_engine_t *zpar_hub_engine_new (int id, const char *uuid, const char *host,
                                        int64_t pid, json_t *functions);
void zpar_hub_engine_destroy (zpar_hub_engine_t **self_p);

//  Applies an event; ok tells a reply's status for ZPAR_EV_TASK_OUT.
//  Returns what the hub must do.
zpar_engine_action_t zpar_hub_engine_event (zpar_hub_engine_t *self,
                                            zpar_engine_event_t event, bool ok);

//  ZPAR_EV_EXITED with how the process ended ("killed by signal 11
//  (Segmentation fault)"), which becomes the reason of its departure.
zpar_engine_action_t zpar_hub_engine_exited (zpar_hub_engine_t *self, const char *how);

const char *zpar_hub_engine_state_name (zpar_engine_state_t state);

//  The engine as `zpar engines --json` shows it (caller owns).
json_t *zpar_hub_engine_json (zpar_hub_engine_t *self, int64_t now_ms);

#endif
