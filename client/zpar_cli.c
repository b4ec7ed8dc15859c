/*  zpar - the command line for people: look at a cluster, call functions
    on it, stop it. Every command takes --json for machine output.       */

#include <zpar/zpar.h>

#include "zpar_cli.h"

#include "zpar_util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

#define streq(a, b) (strcmp ((a), (b)) == 0)

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: zpar [--profile NAME] [--json] [--hub-timeout MS] COMMAND [ARGS]\n"
        "\n"
        "commands:\n"
        "  status                          the hub, the schedulers, engine count, dropped messages\n"
        "  engines                         one line per engine: id, host, pid, state, counts\n"
        "  apply FN [ARGS_JSON] [--targets LIST | --balanced] [--broadcast]\n"
        "                                  call FN on engines; ARGS_JSON is the JSON list of\n"
        "                                  arguments (a single value is the one argument);\n"
        "                                  LIST is \"all\" (default) or ids such as 0,2 or 1-3;\n"
        "                                  --broadcast sends one message for all of them\n"
        "  map FN FILE.jsonl [--chunksize N] [--retries N] [--timeout S] [--targets LIST]\n"
        "                                  call FN once per line of FILE (- for stdin), each\n"
        "                                  line a JSON list of arguments, load-balanced over\n"
        "                                  the engines; one JSON result per line on stdout, in\n"
        "                                  input order ({\"error\": {ename, evalue}} for a\n"
        "                                  failure); a progress bar on a terminal's stderr\n"
        "  abort MSG_ID...                 tasks that have not started fail with TaskAborted\n"
        "                                  when they reach an engine (zpar_result_msg_ids)\n"
        "  push JSON_OBJECT [--targets LIST]\n"
        "                                  store each name of the object on the engines\n"
        "  pull NAME... [--targets LIST]   each engine's value of the names ({id: value}\n"
        "                                  with --json)\n"
        "  shutdown                        stop every engine, the schedulers and the hub\n"
        "\n"
        "task records (the hub keeps one per task handed to an engine):\n"
        "  db [--status S] [--engine N] [--fn NAME] [--client SESSION] [--since T]\n"
        "     [--until T] [--keys a,b,...] [--limit N | --last N]\n"
        "                                  records matching every filter, oldest first; S is\n"
        "                                  pending, ok, error, aborted, unknown or completed;\n"
        "                                  T a date (2026-11-26, 2026-11-26T10:00:00Z) or a\n"
        "                                  time ago (30s, 5m, 2h, 1d); --limit N the oldest\n"
        "                                  N, --last N the newest; keys: msg_id, client,\n"
        "                                  engine_id, engine_uuid, fn, submitted, started,\n"
        "                                  completed, status, result, result_cut, metadata,\n"
        "                                  stdout, stderr, stdout_cut, stderr_cut,\n"
        "                                  resubmitted, request\n"
        "  result MSG_ID...                each task's answer, or pending\n"
        "  purge MSG_ID... | --engine N | --all\n"
        "                                  forget finished records (pending ones stay)\n"
        "  resubmit MSG_ID...              run finished tasks again as new tasks\n"
        "  queue                           per engine: queued, running, completed, failed;\n"
        "                                  tasks not handed to an engine yet\n"
        "  top [--sort KEY] [--interval MS (50 to 1000)]\n"
        "                                  live view of engines, queues and rates (q quits);\n"
        "                                  one snapshot when stdout is not a terminal; KEY is\n"
        "                                  " ZPAR_TOP_SORT_KEYS "\n"
        "\n"
        "options:\n"
        "  --profile NAME   cluster profile (default: $ZPAR_PROFILE or \"default\")\n"
        "  --json           print JSON instead of text\n"
        "  --hub-timeout MS how long to wait for the hub (default 5000)\n"
        "Put -- before an ARGS_JSON that starts with '-'.\n");
}

static void
s_print_json (json_t *value)
{
    char *text = json_dumps (value, JSON_INDENT (2) | JSON_ENCODE_ANY | JSON_REAL_PRECISION (15));
    puts (text? text: "null");
    free (text);
}

//  Strings print bare, everything else as compact JSON.
static void
s_print_value (json_t *value)
{
    if (json_is_string (value))
        fputs (json_string_value (value), stdout);
    else {
        char *text = json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION (15));
        fputs (text? text: "null", stdout);
        free (text);
    }
}

static int
s_status (zpar_client_t *client, const char *profile, bool as_json)
{
    json_t *status = zpar_client_status (client);
    if (!status) {
        fprintf (stderr, "zpar: %s\n", zpar_last_error ());
        return 1;
    }
    if (!profile || !*profile)
        profile = getenv ("ZPAR_PROFILE");
    json_object_set_new (status, "profile", json_string (profile && *profile? profile: "default"));
    if (as_json)
        s_print_json (status);
    else {
        json_t *hub = json_object_get (status, "hub");
        json_t *states = json_object_get (status, "engine_states");
        json_t *dropped = json_object_get (status, "dropped");
        printf ("hub         pid %lld, up %.1f s, at %s, heartbeat %lld ms x %lld\n",
                json_integer_value (json_object_get (hub, "pid")),
                json_integer_value (json_object_get (hub, "uptime_ms")) / 1000.0,
                json_string_value (json_object_get (hub, "registration")),
                json_integer_value (json_object_get (hub, "hb_period_ms")),
                json_integer_value (json_object_get (hub, "hb_liveness")));
        printf ("engines     %lld (%lld idle, %lld busy, %lld registering)\n",
                json_integer_value (json_object_get (status, "engines")),
                json_integer_value (json_object_get (states, "idle")),
                json_integer_value (json_object_get (states, "busy")),
                json_integer_value (json_object_get (states, "registering")));
        printf ("schedulers ");
        const char *role;
        json_t *info;
        json_object_foreach (json_object_get (status, "schedulers"), role, info)
            printf (" %s", role);
        printf ("\nrouted      %lld requests; %lld connection requests from clients\n",
                json_integer_value (json_object_get (status, "routed")),
                json_integer_value (json_object_get (status, "clients")));
        long long total = 0;
        json_t *count;
        const char *reason;
        json_object_foreach (dropped, reason, count)
            total += json_integer_value (count);
        printf ("dropped     %lld", total);
        if (total) {
            printf (" (");
            const char *sep = "";
            json_object_foreach (dropped, reason, count)
                if (json_integer_value (count)) {
                    printf ("%s%s %lld", sep, reason, json_integer_value (count));
                    sep = ", ";
                }
            printf (")");
        }
        printf ("\n");
        json_t *db = json_object_get (status, "db");
        printf ("records     %lld (%lld pending) in %s; %lld tasks not handed to an engine yet\n",
                json_integer_value (json_object_get (db, "records")),
                json_integer_value (json_object_get (db, "pending")),
                json_string_value (json_object_get (db, "spec"))?: "?",
                json_integer_value (json_object_get (status, "unassigned")));
    }
    json_decref (status);
    return 0;
}

static int
s_engines (zpar_client_t *client, bool as_json)
{
    json_t *engines = zpar_client_engines (client);
    if (!engines) {
        fprintf (stderr, "zpar: %s\n", zpar_last_error ());
        return 1;
    }
    if (as_json)
        s_print_json (engines);
    else {
        printf ("%-4s %-12s %-20s %-8s %-11s %9s %6s %6s %8s %9s\n", "ID", "UUID", "HOST", "PID",
                "STATE", "COMPLETED", "FAILED", "QUEUED", "RESTARTS", "HEARTBEAT");
        size_t i;
        json_t *engine;
        json_array_foreach (engines, i, engine)
            printf ("%-4lld %-12.8s %-20.20s %-8lld %-11s %9lld %6lld %6lld %8lld %7lldms\n",
                    json_integer_value (json_object_get (engine, "id")),
                    json_string_value (json_object_get (engine, "uuid")),
                    json_string_value (json_object_get (engine, "host")),
                    json_integer_value (json_object_get (engine, "pid")),
                    json_string_value (json_object_get (engine, "state")),
                    json_integer_value (json_object_get (engine, "completed")),
                    json_integer_value (json_object_get (engine, "failed")),
                    json_integer_value (json_object_get (engine, "queued")),
                    json_integer_value (json_object_get (engine, "restarts")),
                    json_integer_value (json_object_get (engine, "last_heartbeat_ms")));
        if (!json_array_size (engines))
            printf ("(no engines registered)\n");
    }
    json_decref (engines);
    return 0;
}

static int
s_apply (zpar_client_t *client, const char *fn, json_t *args, const char *targets,
         bool balanced, bool broadcast, bool as_json)
{
    zpar_view_t *view = balanced? zpar_client_balanced (client)
                      : broadcast? zpar_client_broadcast (client, targets): zpar_client_direct (client, targets);
    json_t *ids = zpar_client_ids (client);
    if (balanced && !json_array_size (ids))
        fprintf (stderr, "zpar: no engines are registered yet; the call waits for one (Ctrl-C gives up)\n");
    json_decref (ids);
    zpar_result_t *result = view? zpar_view_apply_async (view, fn, args): NULL;
    if (!result) {
        fprintf (stderr, "zpar: %s\n", zpar_last_error ());
        int rc = view? 1: 2;        //  no view: the target list was wrong
        zpar_view_destroy (&view);
        return rc;
    }
    zpar_result_wait (result, -1);
    int rc = 0;
    json_t *by_engine = json_object ();
    for (size_t i = 0; i < zpar_result_size (result); i++) {
        char id [16];
        snprintf (id, sizeof id, "%d", zpar_result_engine_id (result, i));
        json_t *error = zpar_result_item_error (result, i);
        json_t *value = zpar_result_item (result, i);
        if (error)
            rc = 1;
        if (as_json)
            json_object_set_new (by_engine, id, error
                ? json_pack ("{s:O, s:O}", "ename", json_object_get (error, "ename"),
                                           "evalue", json_object_get (error, "evalue"))
                : json_incref (value));
        else {
            fputs (zpar_result_stdout (result, i), stdout);
            printf ("[%s] ", id);
            if (error)
                printf ("%s: %s", json_string_value (json_object_get (error, "ename")),
                        json_string_value (json_object_get (error, "evalue")));
            else
                s_print_value (value);
            printf ("\n");
        }
    }
    if (as_json)
        s_print_json (by_engine);
    json_decref (by_engine);
    zpar_result_destroy (&result);
    zpar_view_destroy (&view);
    return rc;
}

//  The argument lists of FILE (- for stdin): one JSON list a line, blank
//  lines skipped. NULL after saying what is wrong.
static json_t *
s_read_inputs (const char *path)
{
    FILE *file = streq (path, "-")? stdin: fopen (path, "r");
    if (!file) {
        fprintf (stderr, "zpar: cannot read %s: %s\n", path, strerror (errno));
        return NULL;
    }
    json_t *inputs = json_array ();
    char *line = NULL;
    size_t capacity = 0, number = 0;
    ssize_t length;
    while (inputs && (length = getline (&line, &capacity, file)) >= 0) {
        number++;
        if (strspn (line, " \t\r\n") == (size_t) length)
            continue;
        json_error_t error;
        json_t *args = json_loads (line, 0, &error);
        if (!json_is_array (args)) {
            fprintf (stderr, "zpar: %s line %zu is not a JSON list of arguments%s%s\n", path, number,
                     args? "": ": ", args? "": error.text);
            json_decref (args);
            json_decref (inputs);
            inputs = NULL;
        }
        else
            json_array_append_new (inputs, args);
    }
    free (line);
    if (file != stdin)
        fclose (file);
    return inputs;
}

//  One line on a terminal's stderr: done/total, rate, ETA.
static void
s_progress (size_t done, size_t total, int64_t started_ms)
{
    double seconds = (zpar_mono_ms () - started_ms) / 1000.0;
    double rate = seconds > 0? done / seconds: 0;
    int width = 30, filled = total? (int) (width * done / total): width;
    char bar [64];
    for (int i = 0; i < width; i++)
        bar [i] = i < filled? '=': i == filled? '>': ' ';
    bar [width] = 0;
    fprintf (stderr, "\r[%s] %zu/%zu %3.0f%% %.1f/s", bar, done, total,
             total? 100.0 * done / total: 100.0, rate);
    if (rate > 0 && done < total)
        fprintf (stderr, " ETA %.0fs ", (total - done) / rate);
    else
        fprintf (stderr, "          ");
    fflush (stderr);
}

static int
s_map (zpar_client_t *client, const char *fn, json_t *inputs, const char *targets,
       size_t chunksize, int retries, double timeout)
{
    zpar_view_t *view = zpar_client_balanced (client);
    if ((retries >= 0 && zpar_view_set_retries (view, retries) != 0)
    ||  (timeout > 0 && zpar_view_set_timeout (view, timeout) != 0)
    ||  (targets && zpar_view_set_targets (view, targets) != 0)) {
        fprintf (stderr, "zpar: %s\n", zpar_last_error ());
        zpar_view_destroy (&view);
        return 2;
    }
    json_t *ids = zpar_client_ids (client);
    if (!json_array_size (ids))
        fprintf (stderr, "zpar: no engines are registered yet; the calls wait for one (Ctrl-C gives up)\n");
    json_decref (ids);
    zpar_result_t *result = zpar_view_map_async (view, fn, inputs, chunksize);
    if (!result) {
        fprintf (stderr, "zpar: %s\n", zpar_last_error ());
        zpar_view_destroy (&view);
        return 1;
    }
    //  Results go out as soon as every one before them is in.
    bool bar = isatty (STDERR_FILENO);
    size_t total = zpar_result_size (result), printed = 0;
    int64_t started = zpar_mono_ms (), drawn = 0;
    int rc = 0;
    while (printed < total) {
        //  A short wait so results stream out whatever stderr is.
        zpar_result_wait (result, 100);
        size_t done;
        zpar_result_progress (result, &done, NULL);
        while (printed < total && (zpar_result_item (result, printed) || zpar_result_item_error (result, printed))) {
            json_t *error = zpar_result_item_error (result, printed);
            json_t *line = error? json_pack ("{s:{s:O, s:O}}", "error", "ename", json_object_get (error, "ename"),
                                             "evalue", json_object_get (error, "evalue"))
                                : json_incref (zpar_result_item (result, printed));
            char *text = json_dumps (line, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION (15));
            puts (text? text: "null");
            free (text);
            json_decref (line);
            rc |= error != NULL;
            printed++;
        }
        fflush (stdout);
        if (bar && (zpar_mono_ms () - drawn >= 100 || printed == total)) {
            s_progress (done, total, started);
            drawn = zpar_mono_ms ();
        }
    }
    if (bar)
        fprintf (stderr, "\n");
    zpar_result_destroy (&result);
    zpar_view_destroy (&view);
    return rc;
}

int
main (int argc, char *argv [])
{
    const char *profile = NULL, *targets = NULL, *why = NULL;
    bool as_json = false, balanced = false, broadcast = false;
    long timeout = 0, chunksize = 0, retries = -1;
    zpar_cli_records_t records = { .engine = -1 };
    double task_timeout = 0;
    static struct option options [] = {
        { "profile", required_argument, 0, 'p' },
        { "json", no_argument, 0, 'j' },
        { "hub-timeout", required_argument, 0, 't' },
        { "timeout", required_argument, 0, 'S' },
        { "chunksize", required_argument, 0, 'c' },
        { "retries", required_argument, 0, 'r' },
        { "targets", required_argument, 0, 'T' },
        { "balanced", no_argument, 0, 'b' },
        { "broadcast", no_argument, 0, 'B' },
        { "status", required_argument, 0, 1 },
        { "engine", required_argument, 0, 2 },
        { "fn", required_argument, 0, 3 },
        { "client", required_argument, 0, 4 },
        { "since", required_argument, 0, 5 },
        { "until", required_argument, 0, 6 },
        { "keys", required_argument, 0, 7 },
        { "limit", required_argument, 0, 8 },
        { "all", no_argument, 0, 9 },
        { "sort", required_argument, 0, 10 },
        { "interval", required_argument, 0, 11 },
        { "last", required_argument, 0, 12 },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 }
    };
    int opt;
    while ((opt = getopt_long (argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
            case 'p': profile = optarg; break;
            case 'j': as_json = true; break;
            case 'T': targets = optarg; break;
            case 'b': balanced = true; break;
            case 'B': broadcast = true; break;
            case 't':
                if (zpar_parse_option ("--hub-timeout", optarg, 1, 3600000, &timeout) != 0)
                    goto usage;
                break;
            case 'c':
                if (zpar_parse_option ("--chunksize", optarg, 1, 1000000, &chunksize) != 0)
                    goto usage;
                break;
            case 'r':
                if (zpar_parse_option ("--retries", optarg, 0, 1000, &retries) != 0)
                    goto usage;
                break;
            case 'S': {
                char *end = NULL;
                task_timeout = strtod (optarg, &end);
                if (!*optarg || *end || !(task_timeout > 0)) {
                    why = "--timeout takes seconds, above 0";
                    goto usage;
                }
                break;
            }
            case 1: records.status = optarg; break;
            case 2:
                if (zpar_parse_option ("--engine", optarg, 0, INT32_MAX, &records.engine) != 0)
                    goto usage;
                break;
            case 3: records.fn = optarg; break;
            case 4: records.client = optarg; break;
            case 5: records.since = optarg; break;
            case 6: records.until = optarg; break;
            case 7: records.keys = optarg; break;
            case 8:
                if (zpar_parse_option ("--limit", optarg, 1, INT32_MAX, &records.limit) != 0)
                    goto usage;
                break;
            case 9: records.all = true; break;
            case 10:
                if (!zpar_cli_top_sort_valid (optarg)) {
                    why = "--sort is one of " ZPAR_TOP_SORT_KEYS;
                    goto usage;
                }
                records.sort = optarg;
                break;
            case 11:
                if (zpar_parse_option ("--interval", optarg, 50, 1000, &records.interval_ms) != 0)
                    goto usage;
                break;
            case 12:
                if (zpar_parse_option ("--last", optarg, 1, INT32_MAX, &records.last) != 0)
                    goto usage;
                break;
            case 'h':
                s_usage (stdout);
                return 0;
            default:
                goto usage;             //  getopt said what was wrong
        }
    }
    if (optind >= argc) {
        why = "which command?";
        goto usage;
    }
    const char *command = argv [optind++];
    int left = argc - optind;
    bool is_apply = streq (command, "apply");
    bool is_map = streq (command, "map");
    bool is_abort = streq (command, "abort");
    bool is_db = streq (command, "db"), is_top = streq (command, "top");
    bool is_purge = streq (command, "purge");
    bool is_push = streq (command, "push"), is_pull = streq (command, "pull");
    //  Commands that name tasks by msg_id.
    bool by_ids = is_abort || is_purge || streq (command, "result") || streq (command, "resubmit");
    bool filters = records.status || records.fn || records.client || records.since || records.until
                || records.keys || records.limit || records.last;
    char date [48];
    static char unknown [128];
    if (!streq (command, "status") && !streq (command, "engines") && !is_apply && !is_map
    &&  !by_ids && !streq (command, "shutdown") && !is_db && !is_top && !streq (command, "queue")
    &&  !is_push && !is_pull) {
        snprintf (unknown, sizeof unknown, "no such command: %s", command);
        why = zpar_utf8_clean (unknown);
    }
    else
    if (filters && !is_db)
        why = "--status, --fn, --client, --since, --until, --keys, --limit and --last go with db";
    else
    if (records.limit && records.last)
        why = "--limit (the oldest) or --last (the newest), not both";
    else
    if ((records.since && zpar_cli_date (records.since, false, date, sizeof date) != 0)
    ||  (records.until && zpar_cli_date (records.until, true, date, sizeof date) != 0))
        why = "--since and --until take a date (2026-11-26, 2026-11-26T10:00:00Z, "
              "2026-11-26T10:00:00.25Z) or a time ago (30s, 5m, 2h, 1d)";
    else
    if (records.engine >= 0 && !is_db && !is_purge)
        why = "--engine goes with db and purge";
    else
    if (records.all && !is_purge)
        why = "--all goes with purge";
    else
    if ((records.sort || records.interval_ms) && !is_top)
        why = "--sort and --interval go with top";
    else
    if (is_purge && (left > 0) + (records.engine >= 0) + records.all != 1)
        why = "purge takes msg_ids, or --engine N, or --all";
    else
    if (by_ids && !is_purge && left < 1)
        why = is_abort? "abort needs the msg_ids of the tasks to abort": "this command needs msg_ids";
    else
    if (is_map && left != 2)
        why = "map needs a function name and a file of argument lists (- for stdin)";
    else
    if (!is_map && (chunksize || retries >= 0 || task_timeout > 0))
        why = "--chunksize, --retries and --timeout go with map";
    else
    if (is_apply && left < 1)
        why = "apply needs the name of a function";
    else
    if (is_apply && left > 2)
        why = "apply takes one ARGS_JSON: give several arguments as one JSON list, e.g. '[1, 2]'";
    else
    if (is_push && left != 1)
        why = "push takes one JSON object of names and values";
    else
    if (is_pull && left < 1)
        why = "pull needs the names to pull";
    else
    if (!is_apply && !is_map && !by_ids && !is_push && !is_pull && left)
        why = "this command takes no arguments";
    else
    if (targets && !is_apply && !is_map && !is_push && !is_pull)
        why = "--targets goes with apply, map, push and pull";
    else
    if ((balanced || broadcast) && !is_apply)
        why = "--balanced and --broadcast go with apply";
    else
    if (targets && balanced)
        why = "--targets or --balanced, not both";
    else
    if (broadcast && balanced)
        why = "--broadcast or --balanced, not both";
    if (why)
        goto usage;

    //  ARGS_JSON: the list of arguments, or one argument. Checked before
    //  connecting, so a typo is a usage error whether a cluster runs or not.
    json_t *args = NULL;
    if (is_apply && left == 2) {
        json_error_t error;
        json_t *parsed = json_loads (argv [optind + 1], JSON_DECODE_ANY, &error);
        if (!parsed) {
            fprintf (stderr, "zpar: ARGS_JSON is not JSON: %s\n", error.text);
            return 2;
        }
        args = json_is_array (parsed)? parsed: json_pack ("[o]", parsed);
    }
    //  What push stores, checked the same way.
    json_t *pushed = NULL;
    if (is_push) {
        json_error_t error;
        pushed = json_loads (argv [optind], 0, &error);
        if (!json_is_object (pushed)) {
            fprintf (stderr, "zpar: push takes a JSON object of names and values%s%s\n",
                     pushed? "": ": ", pushed? "": error.text);
            json_decref (pushed);
            return 2;
        }
    }
    //  The inputs of map, read before connecting for the same reason.
    json_t *inputs = NULL;
    if (is_map) {
        inputs = s_read_inputs (argv [optind + 1]);
        if (!inputs)
            return 2;
    }
    zpar_client_t *client = zpar_client_new_timeout (profile, (int) timeout);
    if (!client) {
        fprintf (stderr, "zpar: %s\n", zpar_last_error ());
        json_decref (args);
        json_decref (inputs);
        json_decref (pushed);
        return 1;
    }
    int rc;
    if (streq (command, "status"))
        rc = s_status (client, profile, as_json);
    else
    if (streq (command, "engines"))
        rc = s_engines (client, as_json);
    else
    if (is_apply)
        rc = s_apply (client, argv [optind], args, targets? targets: ZPAR_ALL, balanced, broadcast, as_json);
    else
    if (is_map)
        rc = s_map (client, argv [optind], inputs, targets, (size_t) chunksize, (int) retries,
                    task_timeout);
    else
    if (is_abort) {
        json_t *ids = json_array ();
        for (int i = optind; i < argc; i++)
            json_array_append_new (ids, json_string (zpar_utf8_clean (argv [i])));
        rc = zpar_client_abort (client, ids) == 0? 0: 1;
        if (rc)
            fprintf (stderr, "zpar: %s\n", zpar_last_error ());
        else
        if (as_json)
            printf ("{\"status\": \"ok\", \"aborted\": %zu}\n", json_array_size (ids));
        else
            printf ("%zu task%s aborted (those already running go on)\n", json_array_size (ids),
                    json_array_size (ids) == 1? "": "s");
        json_decref (ids);
    }
    else
    if (is_db)
        rc = zpar_cli_db (client, &records, as_json);
    else
    if (is_purge)
        rc = zpar_cli_purge (client, argv + optind, left, &records, as_json);
    else
    if (streq (command, "result"))
        rc = zpar_cli_result (client, argv + optind, left, as_json);
    else
    if (streq (command, "resubmit"))
        rc = zpar_cli_resubmit (client, argv + optind, left, as_json);
    else
    if (streq (command, "queue"))
        rc = zpar_cli_queue (client, as_json);
    else
    if (is_top)
        rc = zpar_cli_top (client, profile, &records, as_json);
    else
    if (is_push)
        rc = zpar_cli_push (client, targets? targets: ZPAR_ALL, pushed, as_json);
    else
    if (is_pull)
        rc = zpar_cli_pull (client, targets? targets: ZPAR_ALL, argv + optind, left, as_json);
    else {
        rc = zpar_client_shutdown (client) == 0? 0: 1;
        if (rc)
            fprintf (stderr, "zpar: %s\n", zpar_last_error ());
        else
        if (as_json)
            printf ("{\"status\": \"ok\"}\n");
        else
            printf ("cluster shut down\n");
    }
    json_decref (args);
    json_decref (inputs);
    json_decref (pushed);
    zpar_client_destroy (&client);
    return rc;

usage:
    if (why)
        fprintf (stderr, "zpar: %s\n", why);
    s_usage (stderr);
    return 2;
}
