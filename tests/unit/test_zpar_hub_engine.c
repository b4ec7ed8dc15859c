/*  The hub's per-engine lifecycle: every transition of the table in
    zpar_hub_engine.h, and the catch-alls.                               */

#include <criterion/criterion.h>
#include <stdio.h>

#include "zpar_hub_engine.h"

static zpar_hub_engine_t *s_engine;

static void s_setup (void)    { s_engine = zpar_hub_engine_new (3, "uuid-3", "host", 99, NULL); }
static void s_teardown (void) { zpar_hub_engine_destroy (&s_engine); }

TestSuite (zpar_hub_engine, .init = s_setup, .fini = s_teardown);

Test (zpar_hub_engine, registers_on_first_pong)
{
    cr_assert_eq (s_engine->state, ZPAR_ENGINE_REGISTERING);
    cr_assert_eq (zpar_hub_engine_event (s_engine, ZPAR_EV_PONG, true), ZPAR_ACT_ANNOUNCE);
    cr_assert_eq (s_engine->state, ZPAR_ENGINE_IDLE);
    cr_assert_eq (zpar_hub_engine_event (s_engine, ZPAR_EV_PONG, true), ZPAR_ACT_NONE);
}

Test (zpar_hub_engine, busy_while_tasks_are_out)
{
    zpar_hub_engine_event (s_engine, ZPAR_EV_PONG, true);
    zpar_hub_engine_event (s_engine, ZPAR_EV_TASK_IN, true);
    zpar_hub_engine_event (s_engine, ZPAR_EV_TASK_IN, true);
    cr_assert_eq (s_engine->state, ZPAR_ENGINE_BUSY);
    cr_assert_eq (s_engine->queued, 2);
    zpar_hub_engine_event (s_engine, ZPAR_EV_TASK_OUT, true);
    cr_assert_eq (s_engine->state, ZPAR_ENGINE_BUSY);
    zpar_hub_engine_event (s_engine, ZPAR_EV_TASK_OUT, false);
    cr_assert_eq (s_engine->state, ZPAR_ENGINE_IDLE);
    cr_assert_eq (s_engine->completed, 1);
    cr_assert_eq (s_engine->failed, 1);
}

Test (zpar_hub_engine, unexpected_events_change_nothing)
{
    cr_assert_eq (zpar_hub_engine_event (s_engine, ZPAR_EV_TASK_IN, true), ZPAR_ACT_UNEXPECTED);
    cr_assert_eq (s_engine->state, ZPAR_ENGINE_REGISTERING);
    zpar_hub_engine_event (s_engine, ZPAR_EV_PONG, true);
    cr_assert_eq (zpar_hub_engine_event (s_engine, ZPAR_EV_TASK_OUT, true), ZPAR_ACT_UNEXPECTED);
    cr_assert_eq (s_engine->completed, 0);
}

Test (zpar_hub_engine, expiry_departs_an_announced_engine)
{
    zpar_hub_engine_event (s_engine, ZPAR_EV_PONG, true);
    cr_assert_eq (zpar_hub_engine_event (s_engine, ZPAR_EV_EXPIRED, false), ZPAR_ACT_DEPART);
    cr_assert_eq (s_engine->state, ZPAR_ENGINE_DEAD);
    cr_assert_str_eq (s_engine->reason, "heartbeat");
    //  Dead is final.
    cr_assert_eq (zpar_hub_engine_event (s_engine, ZPAR_EV_PONG, true), ZPAR_ACT_NONE);
    cr_assert_eq (s_engine->state, ZPAR_ENGINE_DEAD);
}

Test (zpar_hub_engine, an_engine_never_announced_is_forgotten)
{
    cr_assert_eq (zpar_hub_engine_event (s_engine, ZPAR_EV_EXPIRED, false), ZPAR_ACT_FORGET);
}

Test (zpar_hub_engine, goodbye_departs)
{
    zpar_hub_engine_event (s_engine, ZPAR_EV_PONG, true);
    cr_assert_eq (zpar_hub_engine_event (s_engine, ZPAR_EV_UNREGISTER, true), ZPAR_ACT_DEPART);
    cr_assert_str_eq (s_engine->reason, "shutdown");
}

Test (zpar_hub_engine, a_process_end_departs_with_how_it_ended)
{
    zpar_hub_engine_event (s_engine, ZPAR_EV_PONG, true);
    zpar_hub_engine_event (s_engine, ZPAR_EV_TASK_IN, true);
    cr_assert_eq (zpar_hub_engine_exited (s_engine, "killed by SIGSEGV, signal 11: Segmentation fault"),
                  ZPAR_ACT_DEPART);
    cr_assert_eq (s_engine->state, ZPAR_ENGINE_DEAD);
    cr_assert_str_eq (s_engine->reason, "killed by SIGSEGV, signal 11: Segmentation fault");
    //  Told twice (or after the heartbeat): nothing more happens.
    cr_assert_eq (zpar_hub_engine_exited (s_engine, "exited with status 0"), ZPAR_ACT_NONE);
    cr_assert_str_eq (s_engine->reason, "killed by SIGSEGV, signal 11: Segmentation fault");
}

Test (zpar_hub_engine, a_process_that_ended_before_its_first_pong_is_forgotten)
{
    cr_assert_eq (zpar_hub_engine_exited (s_engine, "exited with status 1"), ZPAR_ACT_FORGET);
}

Test (zpar_hub_engine, json_has_what_zpar_engines_shows)
{
    json_t *row = zpar_hub_engine_json (s_engine, 0);
    const char *keys [] = { "id", "uuid", "host", "pid", "state", "completed", "failed", "queued" };
    for (int i = 0; i < 8; i++)
        cr_assert_not_null (json_object_get (row, keys [i]), "no %s", keys [i]);
    cr_assert_str_eq (json_string_value (json_object_get (row, "state")), "registering");
    json_decref (row);
}
