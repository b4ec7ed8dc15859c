/*  zpar-hub - the cluster's directory and memory.

    Usually started by ipcluster. Binds its sockets, writes the profile's
    connection files (mode 0600) and serves until SIGTERM, SIGINT or a
    client's shutdown_request.                                           */

#include "zpar_hub.h"
#include "zpar_hub_db.h"

#include "zpar_connfile.h"
#include "zpar_log.h"
#include "zpar_net.h"
#include "zpar_profile.h"
#include "zpar_proto.h"
#include "zpar_util.h"

#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

//  The hub is never on the data path: when clients, schedulers and
//  engines want every core, they go first. Its own work (heartbeats,
//  counting, answering) is small and still gets done promptly.
#define S_HUB_NICENESS 5

//  Task records kept in memory by default.
#define S_DB_MAX_RECORDS 100000
#define S_DB_MAX_BYTES   (128 * 1024 * 1024)

//  Removes a connection file if it is this hub's.
static void
s_remove_own (const char *path)
{
    zpar_connfile_t *file = zpar_connfile_load (path, NULL);
    if (file && file->hub_pid == getpid ())
        unlink (path);
    zpar_connfile_destroy (&file);
}

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: zpar-hub [--profile NAME] [--ip ADDR] [--hb-period MS] [--hb-liveness N]\n"
        "                [--max-message-size BYTES] [--db memory|sqlite:PATH]\n"
        "                [--db-max-records N] [--db-max-bytes BYTES] [--curve] [--ready-fd FD]\n"
        "\n"
        "Runs the hub of a zpar cluster and writes the connection files into\n"
        "$ZPAR_DIR/profile_NAME/security/ (default ~/.zpar/profile_default).\n"
        "  --ip ADDR               address to bind (default 127.0.0.1)\n"
        "  --hb-period MS          heartbeat period (default %d)\n"
        "  --hb-liveness N         heartbeats an engine may miss (default %d)\n"
        "  --max-message-size B    largest message accepted (default %d)\n"
        "  --db memory|sqlite:PATH where task records are kept (default memory); an\n"
        "                          SQLite file keeps them across hub restarts\n"
        "  --db-max-records N      records kept in memory; the oldest finished go\n"
        "                          first, pending ones never (default %d, 0: no limit)\n"
        "  --db-max-bytes B        bytes of records kept in memory (default %d)\n"
        "  --curve                 CurveZMQ on every socket: a new keypair for the\n"
        "                          cluster, its public key in the connection files\n"
        "  --ready-fd FD           write \"ready\" to FD once serving\n",
        ZPAR_HB_PERIOD_MS, ZPAR_HB_LIVENESS, ZPAR_MAX_MESSAGE_SIZE, S_DB_MAX_RECORDS, S_DB_MAX_BYTES);
}

int
main (int argc, char *argv [])
{
    //  The hub's records only grow, a task at a time, in its actor thread.
    //  A thread's own malloc arena grows a page per system call (mprotect),
    //  a seventh of the hub's time under load; the main arena grows by
    //  M_TOP_PAD at once. Its other threads allocate little: no contention.
    mallopt (M_ARENA_MAX, 1);
    mallopt (M_TOP_PAD, 4 << 20);
    const char *profile_name = NULL;
    zpar_hub_config_t config = {
        .ip = "127.0.0.1", .hb_period_ms = ZPAR_HB_PERIOD_MS,
        .hb_liveness = ZPAR_HB_LIVENESS, .max_message_size = ZPAR_MAX_MESSAGE_SIZE
    };
    long ready_fd = -1, value, db_max_records = S_DB_MAX_RECORDS, db_max_bytes = S_DB_MAX_BYTES;
    const char *db_spec = "memory";
    bool curve = false;
    static struct option options [] = {
        { "db", required_argument, 0, 'D' },
        { "curve", no_argument, 0, 'C' },
        { "db-max-records", required_argument, 0, 'N' },
        { "db-max-bytes", required_argument, 0, 'B' },
        { "profile", required_argument, 0, 'p' },
        { "ip", required_argument, 0, 'i' },
        { "hb-period", required_argument, 0, 'P' },
        { "hb-liveness", required_argument, 0, 'L' },
        { "max-message-size", required_argument, 0, 'M' },
        { "ready-fd", required_argument, 0, 'R' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 }
    };
    int opt;
    while ((opt = getopt_long (argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
            case 'p': profile_name = optarg; break;
            case 'i': config.ip = optarg; break;
            case 'P':
                if (zpar_parse_option ("--hb-period", optarg, 1, 3600000, &value) != 0)
                    goto usage;
                config.hb_period_ms = (int) value;
                break;
            case 'L':
                if (zpar_parse_option ("--hb-liveness", optarg, 1, 1000, &value) != 0)
                    goto usage;
                config.hb_liveness = (int) value;
                break;
            case 'M':
                if (zpar_parse_option ("--max-message-size", optarg, 1024, INT32_MAX, &value) != 0)
                    goto usage;
                config.max_message_size = value;
                break;
            case 'R':
                if (zpar_parse_option ("--ready-fd", optarg, 0, 65535, &ready_fd) != 0)
                    goto usage;
                break;
            case 'D': db_spec = optarg; break;
            case 'C': curve = true; break;
            case 'N':
                if (zpar_parse_option ("--db-max-records", optarg, 0, INT32_MAX, &db_max_records) != 0)
                    goto usage;
                break;
            case 'B':
                if (zpar_parse_option ("--db-max-bytes", optarg, 0, LONG_MAX, &db_max_bytes) != 0)
                    goto usage;
                break;
            case 'h':
                s_usage (stdout);
                return 0;
            default:
                goto usage;
        }
    }
    if (optind != argc)
        goto usage;

    zpar_log_set_name ("hub");
    if (setpriority (PRIO_PROCESS, 0, S_HUB_NICENESS) != 0)
        zpar_warn ("could not lower the hub's priority: %s", strerror (errno));
    zpar_raise_fd_limit ();
    if (zpar_init () != 0) {
        zpar_error ("cannot initialise libsodium");
        return 1;
    }
    char *error = NULL;
    zpar_profile_t *profile = zpar_profile_new (profile_name, true, &error);
    if (!profile) {
        zpar_error ("%s", error);
        free (error);
        return 1;
    }
    //  A hub already serving this profile keeps it: overwriting its
    //  connection files would lock its own clients out.
    char *client_path = zpar_profile_path (profile, "security", ZPAR_CONNFILE_CLIENT);
    char *engine_path = zpar_profile_path (profile, "security", ZPAR_CONNFILE_ENGINE);
    zpar_connfile_t *existing = zpar_connfile_load (client_path, NULL);
    if (existing && zpar_process_named (existing->hub_pid, "zpar-hub")) {
        zpar_error ("a hub (pid %lld) already serves profile %s", (long long) existing->hub_pid,
                    zpar_profile_name (profile));
        zpar_connfile_destroy (&existing);
        free (client_path);
        free (engine_path);
        zpar_profile_destroy (&profile);
        return 1;
    }
    //  Before anything is bound or written: a task database that cannot
    //  be used stops the hub here, with the file left as it was.
    config.db = zpar_hub_db_open (db_spec, (size_t) db_max_records, (size_t) db_max_bytes, &error);
    if (!config.db) {
        zpar_error ("%s", error);
        free (error);
        zpar_connfile_destroy (&existing);
        free (client_path);
        free (engine_path);
        zpar_profile_destroy (&profile);
        return 1;
    }
    //  The files of a hub that is gone (killed, crashed): this one takes
    //  up its key and ports, so that the engines, schedulers and clients
    //  still dialling them reconnect by themselves and carry on.
    char *key = NULL;
    bool takeover = existing && existing->ping_port && streq (existing->location, config.ip);
    if (takeover) {
        config.key = key = strdup (existing->key);
        config.ports [0] = zpar_endpoint_port (existing->registration);
        config.ports [1] = existing->ping_port;
        config.ports [2] = existing->pong_port;
        config.ports [3] = existing->notification_port;
        config.ports [4] = existing->monitor_port;
        //  Whatever the hub before accepted was sent before now.
        config.not_before_us = zpar_wall_us ();
    }
    else
        config.key = key = zpar_new_key ();
    //  CurveZMQ: the keypair of the hub before (taking over), or a new one
    //  when asked; every socket made from here on uses it.
    zpar_curve_t keys;
    char *keys_path = zpar_profile_path (profile, "security", ZPAR_CURVE_KEYS);
    bool keys_ok = true;
    if (takeover && existing->curve_serverkey) {
        keys_ok = zpar_curve_load (keys_path, &keys, &error) == 0
               && streq (keys.server_public, existing->curve_serverkey);
        if (!keys_ok)
            zpar_error ("cannot take over the CurveZMQ keys of hub pid %lld: %s",
                        (long long) existing->hub_pid, error? error: "they do not match its connection files");
        free (error);
        error = NULL;
        curve = true;
    }
    else
    if (curve && (zpar_curve_new_cluster (&keys) != 0 || zpar_curve_save (&keys, keys_path) != 0)) {
        zpar_error ("cannot make the cluster's CurveZMQ keys in %s: %s", keys_path, strerror (errno));
        keys_ok = false;
    }
    free (keys_path);
    if (!keys_ok) {
        zpar_connfile_destroy (&existing);
        free (client_path);
        free (engine_path);
        free (key);
        zpar_hub_db_destroy (&config.db);
        zpar_profile_destroy (&profile);
        return 1;
    }
    if (curve)
        zpar_net_set_curve (&keys);
    zactor_t *hub = zactor_new (zpar_hub_actor, &config);
    zstr_send (hub, "ENDPOINT");
    char *endpoint = zstr_recv (hub);
    if (takeover && endpoint && *endpoint)
        zpar_info ("taking over from hub pid %lld: its key and ports", (long long) existing->hub_pid);
    if (takeover && (!endpoint || !*endpoint))
        //  A new key and ports would leave whatever still dials the old
        //  ones behind; better say so and let the user decide.
        zpar_error ("cannot take up the ports of hub pid %lld, which is gone; to start a new "
                    "cluster on this profile instead, remove %s and %s",
                    (long long) existing->hub_pid, client_path, engine_path);
    zpar_connfile_destroy (&existing);
    int rc = 1;
    if (!endpoint || !*endpoint) {
        zpar_error ("could not start; see the messages above");
        goto done;
    }
    zpar_connfile_t connfile = {
        .registration = endpoint, .key = key, .signature_scheme = ZPAR_SIGNATURE_SCHEME,
        .location = (char *) config.ip, .max_message_size = config.max_message_size,
        .hub_pid = getpid (), .curve_serverkey = curve? keys.server_public: NULL
    };
    zstr_send (hub, "PORTS");
    char *ports = zstr_recv (hub);
    if (!ports || sscanf (ports, "%d %d %d %d", &connfile.ping_port, &connfile.pong_port,
                          &connfile.notification_port, &connfile.monitor_port) != 4)
        connfile.ping_port = 0;     //  not written: no hub can take over
    zstr_free (&ports);
    if (zpar_connfile_save (&connfile, client_path) != 0
    ||  zpar_connfile_save (&connfile, engine_path) != 0) {
        zpar_error ("cannot write connection files into %s/security: %s",
                    zpar_profile_dir (profile), strerror (errno));
        goto done;
    }
    zpar_info ("serving profile %s at %s (pid %d)", zpar_profile_name (profile), endpoint, (int) getpid ());
    if (ready_fd >= 0) {
        if (write ((int) ready_fd, "ready\n", 6) != 6)
            zpar_warn ("could not report readiness on fd %ld", ready_fd);
        close ((int) ready_fd);
    }
    //  Serve until a signal (CZMQ turns SIGINT/SIGTERM into an interrupted
    //  wait) or the hub says a client asked for shutdown.
    zpoller_t *poller = zpoller_new (hub, NULL);
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which == hub) {
            char *event = zstr_recv (hub);
            bool shutdown = event && streq (event, "SHUTDOWN");
            zstr_free (&event);
            if (shutdown)
                break;
        }
        else
        if (zpoller_terminated (poller))
            break;
    }
    zpoller_destroy (&poller);
    zpar_info ("stopping");
    rc = 0;
    //  A stopped cluster leaves no connection files: clients learn at
    //  once that nothing is there. Only our own, though.
    s_remove_own (client_path);
    s_remove_own (engine_path);
    //  And the cluster's secret key: a cluster started again makes a new one.
    if (curve) {
        char *keys_file = zpar_profile_path (profile, "security", ZPAR_CURVE_KEYS);
        unlink (keys_file);
        free (keys_file);
    }
done:
    free (client_path);
    free (engine_path);
    zstr_free (&endpoint);
    zactor_destroy (&hub);
    zpar_hub_db_destroy (&config.db);
    free (key);
    zpar_profile_destroy (&profile);
    return rc;

usage:
    s_usage (stderr);
    return 2;
}
