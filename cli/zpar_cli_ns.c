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
    json_t *ids = zpar_view_targets (view), *error = NULL;
    json_t *values = zpar_view_pull (view, asked, &error);
    int rc = 0;
    if (!values)
        rc = s_failed (error);
    else {
        //  {engine id: value} (a list of values for several names).
        json_t *by_engine = json_object ();
        size_t i;
        json_t *value;
        json_array_foreach (values, i, value) {
            char id [24];
            snprintf (id, sizeof id, "%lld", json_integer_value (json_array_get (ids, i)));
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
    json_decref (values);
    json_decref (ids);
    json_decref (asked);
    zpar_view_destroy (&view);
    return rc;
}
