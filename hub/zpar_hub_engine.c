/*  zpar_hub_engine.c - one engine's record and its lifecycle.           */

#include "zpar_hub_engine.h"
#include "zpar_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

zpar_hub_engine_t *
zpar_hub_engine_new (int id, const char *uuid, const char *host, int64_t pid, json_t *functions)
{
    zpar_hub_engine_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->id = id;
    self->uuid = strdup (uuid);
    self->host = strdup (host);
    self->pid = pid;
    self->functions = functions? json_incref (functions): json_array ();
    self->state = ZPAR_ENGINE_REGISTERING;
    self->registered_us = zpar_wall_us ();
    self->last_beat_ms = zpar_mono_ms ();
    return self;
}

void
zpar_hub_engine_destroy (zpar_hub_engine_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zpar_hub_engine_t *self = *self_p;
    free (self->uuid);
    free (self->host);
    json_decref (self->functions);
    free (self);
    *self_p = NULL;
}

zpar_engine_action_t
zpar_hub_engine_event (zpar_hub_engine_t *self, zpar_engine_event_t event, bool ok)
{
    if (self->state == ZPAR_ENGINE_DEAD)
        return ZPAR_ACT_NONE;

    switch (event) {
        case ZPAR_EV_PONG:
            self->missed = 0;
            self->last_beat_ms = zpar_mono_ms ();
            if (self->state == ZPAR_ENGINE_REGISTERING) {
                self->state = ZPAR_ENGINE_IDLE;
                return ZPAR_ACT_ANNOUNCE;
            }
            return ZPAR_ACT_NONE;

        case ZPAR_EV_TASK_IN:
            if (self->state == ZPAR_ENGINE_REGISTERING)
                return ZPAR_ACT_UNEXPECTED;
            self->queued++;
            self->state = ZPAR_ENGINE_BUSY;
            return ZPAR_ACT_NONE;

        case ZPAR_EV_TASKS_LOST:
            if (self->state == ZPAR_ENGINE_BUSY)
                self->state = ZPAR_ENGINE_IDLE;
            self->queued = 0;
            return ZPAR_ACT_NONE;

        case ZPAR_EV_TASK_OUT:
            if (self->state != ZPAR_ENGINE_BUSY)
                return ZPAR_ACT_UNEXPECTED;
            if (ok)
                self->completed++;
            else
                self->failed++;
            if (--self->queued <= 0) {
                self->queued = 0;
                self->state = ZPAR_ENGINE_IDLE;
            }
            return ZPAR_ACT_NONE;

        case ZPAR_EV_UNREGISTER:
        case ZPAR_EV_EXPIRED:
        case ZPAR_EV_EXITED: {
            bool announced = self->state != ZPAR_ENGINE_REGISTERING;
            self->state = ZPAR_ENGINE_DEAD;
            self->reason = event == ZPAR_EV_EXPIRED? "heartbeat"
                         : event == ZPAR_EV_UNREGISTER? "shutdown"
                         : *self->exit_text? self->exit_text: "process ended";
            return announced? ZPAR_ACT_DEPART: ZPAR_ACT_FORGET;
        }
    }
    return ZPAR_ACT_UNEXPECTED;
}

zpar_engine_action_t
zpar_hub_engine_exited (zpar_hub_engine_t *self, const char *how)
{
    if (self->state != ZPAR_ENGINE_DEAD)
        snprintf (self->exit_text, sizeof self->exit_text, "%s", how? how: "");
    return zpar_hub_engine_event (self, ZPAR_EV_EXITED, false);
}

const char *
zpar_hub_engine_state_name (zpar_engine_state_t state)
{
    switch (state) {
        case ZPAR_ENGINE_REGISTERING: return "registering";
        case ZPAR_ENGINE_IDLE:        return "idle";
        case ZPAR_ENGINE_BUSY:        return "busy";
        case ZPAR_ENGINE_DEAD:        return "dead";
    }
    return "unknown";
}

json_t *
zpar_hub_engine_json (zpar_hub_engine_t *self, int64_t now_ms)
{
    char date [40];
    zpar_iso_date (self->registered_us, date, sizeof date);
    return json_pack ("{s:i, s:s, s:s, s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:O, s:s}",
        "id", self->id, "uuid", self->uuid, "host", self->host,
        "pid", (json_int_t) self->pid,
        "state", zpar_hub_engine_state_name (self->state),
        "registered", date,
        "last_heartbeat_ms", (json_int_t) (now_ms - self->last_beat_ms),
        "queued", (json_int_t) self->queued,
        "completed", (json_int_t) self->completed,
        "failed", (json_int_t) self->failed,
        "restarts", (json_int_t) self->restarts,
        "functions", self->functions,
        "current", self->current);
}
