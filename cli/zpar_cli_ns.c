/*  zpar_cli_ns.c - zpar push and pull: the engines' namespaces.        */

#include "zpar_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
s_failed (json_t *error)
{
    fprintf (stderr, "zpar: %s: %s\n",
             json_string_value (json_object_get (error, "ename"))?: "Error",
             json_string_value (json_object_get (error, "evalue"))?: zpar_last_error ());
    json_decref (error);
    return 1;
}

int
zpar_cli_push (zpar_client_t *client, const char *targets, json_t *values, bool as_json)
{
    zpar_view_t *view = zpar_client_direct (client, targets);
    if (!view) {
        fprintf (stderr, "zpar: %s\n", zpar_last_error ());
        return 2;
    }
    json_t *ids = zpar_view_targets (view), *error = NULL;
    int rc = zpar_view_push (view, values, &error);
    if (rc != 0)
        rc = s_failed (error);
    else
    if (as_json)
        printf ("{\"status\": \"ok\", \"engines\": %zu}\n", json_array_size (ids));
    else
        printf ("pushed %zu name%s to %zu engine%s\n", json_object_size (values),
                json_object_size (values) == 1? "": "s", json_array_size (ids),
                json_array_size (ids) == 1? "": "s");
    json_decref (ids);
    zpar_view_destroy (&view);
    return rc;
}

int
zpar_cli_pull (zpar_client_t *client, const char *targets, char **names, int count, bool as_json)
{
    zpar_view_t *view = zpar_client_direct (client, targets);
    if (!view) {
        fprintf (stderr, "zpar: %s\n", zpar_last_error ());
        return 2;
    }
    json_t *asked = count == 1? json_string (names [0]): json_array ();
    for (int i = 0; count > 1 && i < count; i++)
        json_array_append_new (asked, json_string (names [i]));
    //  Each value labelled with the engine that answered it.
    json_t *args = json_pack ("[O]", asked);
    zpar_result_t *result = zpar_view_apply_async (view, "pull", args);
    int rc = 0;
    if (!result || zpar_result_wait (result, -1) != 0 || !zpar_result_successful (result))
        rc = s_failed (result && zpar_result_error (result)? json_incref (zpar_result_error (result))
                                                             : json_pack ("{s:s, s:s}", "ename", "Error",
                                                                          "evalue", zpar_last_error ()));
    else {
        json_t *by_engine = json_object ();
        for (size_t i = 0; i < zpar_result_size (result); i++) {
            char id [24];
            snprintf (id, sizeof id, "%d", zpar_result_engine_id (result, i));
            json_t *value = zpar_result_item (result, i);
            json_object_set (by_engine, id, value);
            if (!as_json) {
                char *text = json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY);
                printf ("[%s] %s\n", id, text? text: "null");
                free (text);
            }
        }
        if (as_json) {
            char *text = json_dumps (by_engine, JSON_INDENT (2));
            puts (text? text: "{}");
            free (text);
        }
        json_decref (by_engine);
    }
    zpar_result_destroy (&result);
    json_decref (args);
    json_decref (asked);
    zpar_view_destroy (&view);
    return rc;
}
