/*  zpar_cli_db.c - zpar db, result, purge, resubmit and queue: the hub's
    task records for people (tables) and programs (--json).              */

#include "zpar_cli.h"

#include "zpar_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define streq(a, b) (strcmp ((a), (b)) == 0)

static void
s_print_json (json_t *value)
{
    char *text = json_dumps (value, JSON_INDENT (2) | JSON_ENCODE_ANY | JSON_REAL_PRECISION (15));
    puts (text? text: "null");
    free (text);
}

static int
s_failed (void)
{
    fprintf (stderr, "zpar: %s\n", zpar_last_error ());
    return 1;
}

//  A value as a table cell: strings bare, null as -, the rest compact JSON
//  (caller frees).
static char *
s_cell (json_t *value)
{
    if (!value || json_is_null (value))
        return strdup ("-");
    if (json_is_string (value))
        return strdup (json_string_value (value));
    char *text = json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY);
    return text? text: strdup ("?");
}

//  Newlines would break the table: shown as spaces.
static void
s_one_line (char *text)
{
    for (; *text; text++)
        if (*text == '\n' || *text == '\r' || *text == '\t')
            *text = ' ';
}

int
zpar_cli_date (const char *text, bool until, char *buf, size_t size)
{
    size_t digits = strspn (text, "0123456789");
    const char *units = "smhd";
    const char *unit = digits && digits <= 9 && text [digits] && !text [digits + 1]
                     ? strchr (units, text [digits]): NULL;
    if (unit) {
        static const int64_t seconds [] = { 1, 60, 3600, 86400 };
        int64_t ago = atoll (text) * seconds [unit - units];
        zpar_iso_date (zpar_wall_us () - ago * 1000000, buf, size);
        return 0;
    }
    return zpar_iso_normalise (text, until, buf, size);
}

//  The query of the command line's filters (caller owns).
static json_t *
s_query (const zpar_cli_records_t *o)
{
    json_t *query = json_object ();
    char date [48];
    if (o->status)
        json_object_set_new (query, "status", json_string (o->status));
    if (o->engine >= 0)
        json_object_set_new (query, "engine", json_integer (o->engine));
    if (o->fn)
        json_object_set_new (query, "fn", json_string (o->fn));
    if (o->client)
        json_object_set_new (query, "client", json_string (o->client));
    //  Checked by the command line before it connects.
    if (o->since && zpar_cli_date (o->since, false, date, sizeof date) == 0)
        json_object_set_new (query, "since", json_string (date));
    if (o->until && zpar_cli_date (o->until, true, date, sizeof date) == 0)
        json_object_set_new (query, "until", json_string (date));
    return query;
}

//  "a,b" as ["a", "b"] (caller owns), or NULL.
static json_t *
s_keys (const char *list)
{
    if (!list)
        return NULL;
    json_t *keys = json_array ();
    char *copy = strdup (list), *save = NULL;
    for (char *key = strtok_r (copy, ",", &save); key; key = strtok_r (NULL, ",", &save))
        json_array_append_new (keys, json_string (zpar_utf8_clean (key)));
    free (copy);
    return keys;
}

int
zpar_cli_db (zpar_client_t *client, const zpar_cli_records_t *o, bool as_json)
{
    json_t *query = s_query (o);
    json_t *keys = s_keys (o->keys);
    //  A table shows a few columns unless told which.
    json_t *shown = keys? json_incref (keys)
                  : as_json? NULL
                  : json_pack ("[s, s, s, s, s, s]", "msg_id", "status", "engine_id", "fn",
                               "submitted", "completed");
    json_t *records = zpar_client_db (client, query, shown, (size_t) (o->last? o->last: o->limit),
                                      o->last > 0);
    json_decref (query);
    json_decref (keys);
    if (!records) {
        json_decref (shown);
        return s_failed ();
    }
    if (as_json)
        s_print_json (records);
    else {
        //  Cells first, to size the columns by what they hold.
        size_t columns = json_array_size (shown), count = json_array_size (records), i, k;
        char **cells = calloc ((count + 1) * columns + 1, sizeof *cells);
        int *widths = calloc (columns + 1, sizeof *widths);
        for (k = 0; k < columns; k++) {
            char *upper = strdup (json_string_value (json_array_get (shown, k)));
            for (char *c = upper; *c; c++)
                *c = (char) (*c >= 'a' && *c <= 'z'? *c - 32: *c);
            cells [k] = upper;
        }
        for (i = 0; i < count; i++)
            for (k = 0; k < columns; k++) {
                const char *key = json_string_value (json_array_get (shown, k));
                char *cell = s_cell (json_object_get (json_array_get (records, i), key));
                s_one_line (cell);
                cells [(i + 1) * columns + k] = cell;
            }
        for (i = 0; i <= count; i++)
            for (k = 0; k < columns; k++) {
                int length = (int) strlen (cells [i * columns + k]);
                if (length > widths [k])
                    widths [k] = length > 60? 60: length;
            }
        for (i = 0; i <= count; i++) {
            for (k = 0; k < columns; k++) {
                //  The last column in full, the others cut to their width
                //  with a mark.
                char *cell = cells [i * columns + k];
                bool last = k + 1 == columns, cut = !last && (int) strlen (cell) > widths [k];
                if (cut)
                    strcpy (cell + widths [k] - 3, "...");
                printf ("%s%-*s", k? "  ": "", last? 0: widths [k], cell);
                free (cell);
            }
            printf ("\n");
        }
        free (cells);
        free (widths);
        printf ("(%zu record%s)\n", count, count == 1? "": "s");
    }
    json_decref (shown);
    json_decref (records);
    return 0;
}

static json_t *
s_id_list (char **ids, int count)
{
    json_t *list = json_array ();
    for (int i = 0; i < count; i++) {
        char *copy = strdup (ids [i]);
        json_array_append_new (list, json_string (zpar_utf8_clean (copy)));
        free (copy);
    }
    return list;
}

//  The records of ids that the hub has, by msg_id (caller owns).
static json_t *
s_recorded (zpar_client_t *client, json_t *ids)
{
    json_t *query = json_pack ("{s:O}", "msg_ids", ids), *keys = json_pack ("[s, s]", "msg_id", "status");
    json_t *records = zpar_client_db (client, query, keys, 0, false), *by_id = json_object ();
    size_t i;
    json_t *record;
    json_array_foreach (records, i, record)
        json_object_set (by_id, json_string_value (json_object_get (record, "msg_id")), record);
    json_decref (records);
    json_decref (query);
    json_decref (keys);
    return by_id;
}

int
zpar_cli_result (zpar_client_t *client, char **ids, int count, bool as_json)
{
    json_t *list = s_id_list (ids, count);
    //  All at once: the library asks the hub in rounds of a bounded size.
    json_t *answers = zpar_client_fetch (client, list, 0);
    json_t *recorded = answers? s_recorded (client, list): NULL;
    if (!answers || !recorded) {
        json_decref (answers);
        json_decref (list);
        return s_failed ();
    }
    int rc = 0;
    json_t *by_id = json_object ();
    size_t i;
    json_t *answer;
    json_array_foreach (answers, i, answer) {
        const char *id = json_string_value (json_array_get (list, i));
        const char *status = json_string_value (json_object_get (answer, "status"));
        json_t *error = json_object_get (answer, "error");
        bool known = json_object_get (recorded, id) != NULL;
        if (status && streq (status, "unknown")) {
            rc = 1;
            if (!known) {
                json_object_set_new (answer, "ename", json_string ("KeyError"));
                json_object_set_new (answer, "evalue", json_sprintf ("no record of task %s", id));
            }
            if (!as_json && known)
                printf ("%s  unknown (answered while no hub was there to record it)\n", id);
            else
            if (!as_json)
                fprintf (stderr, "zpar: KeyError: no record of task %s\n", id);
        }
        else
        if (!as_json && error) {
            rc = 1;
            printf ("%s  error  %s: %s\n", id, json_string_value (json_object_get (error, "ename")),
                    json_string_value (json_object_get (error, "evalue")));
        }
        else
        if (!as_json && status && streq (status, "pending"))
            printf ("%s  pending\n", id);
        else
        if (!as_json) {
            char *value = s_cell (json_object_get (answer, "value"));
            printf ("%s  %s  %s%s\n", id, status? status: "?", value,
                    json_is_true (json_object_get (answer, "result_cut"))? " (over 64 KiB: not kept)": "");
            free (value);
        }
        if (error)
            rc = 1;
        json_object_set (by_id, id, answer);
    }
    if (as_json)
        s_print_json (by_id);
    json_decref (by_id);
    json_decref (recorded);
    json_decref (answers);
    json_decref (list);
    return rc;
}

int
zpar_cli_purge (zpar_client_t *client, char **ids, int count, const zpar_cli_records_t *o, bool as_json)
{
    json_t *list = count? s_id_list (ids, count): NULL;
    int64_t purged = zpar_client_purge (client, list, list? -1: (int) o->engine);
    json_decref (list);
    if (purged < 0)
        return s_failed ();
    if (as_json)
        printf ("{\"status\": \"ok\", \"purged\": %lld}\n", (long long) purged);
    else
        printf ("%lld record%s purged\n", (long long) purged, purged == 1? "": "s");
    return 0;
}

int
zpar_cli_resubmit (zpar_client_t *client, char **ids, int count, bool as_json)
{
    json_t *list = s_id_list (ids, count);
    json_t *resubmitted = zpar_client_resubmit (client, list);
    if (!resubmitted) {
        json_decref (list);
        return s_failed ();
    }
    if (as_json)
        s_print_json (resubmitted);
    else {
        size_t i;
        json_t *id;
        json_array_foreach (list, i, id) {
            const char *new_id = json_string_value (json_object_get (resubmitted, json_string_value (id)));
            printf ("%s -> %s\n", json_string_value (id), new_id? new_id: "(not sent: the task scheduler "
                                                                          "took nothing)");
        }
    }
    json_decref (resubmitted);
    json_decref (list);
    return 0;
}

int
zpar_cli_queue (zpar_client_t *client, bool as_json)
{
    json_t *queue = zpar_client_queue (client);
    if (!queue)
        return s_failed ();
    if (as_json)
        s_print_json (queue);
    else {
        printf ("%-6s %8s %8s %10s %8s  %s\n", "ENGINE", "QUEUE", "RUNNING", "COMPLETED", "FAILED", "CURRENT");
        //  By id, though the object's keys come in any order.
        json_t *engines = json_object_get (queue, "engines");
        long top = -1;
        const char *id;
        json_t *row;
        json_object_foreach (engines, id, row)
            if (atol (id) > top)
                top = atol (id);
        for (long n = 0; n <= top; n++) {
            char key [24];
            snprintf (key, sizeof key, "%ld", n);
            row = json_object_get (engines, key);
            if (!row)
                continue;
            const char *current = json_string_value (json_object_get (row, "current"));
            printf ("%-6ld %8lld %8lld %10lld %8lld  %s\n", n,
                    json_integer_value (json_object_get (row, "queue")),
                    json_integer_value (json_object_get (row, "running")),
                    json_integer_value (json_object_get (row, "completed")),
                    json_integer_value (json_object_get (row, "failed")),
                    current && *current? current: "-");
        }
        printf ("unassigned %lld (tasks the task scheduler has not handed to an engine)\n",
                json_integer_value (json_object_get (queue, "unassigned")));
        printf ("records    %lld (%lld pending)\n", json_integer_value (json_object_get (queue, "records")),
                json_integer_value (json_object_get (queue, "pending")));
    }
    json_decref (queue);
    return 0;
}
