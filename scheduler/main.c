/*  zpar-scheduler - moves requests and replies between clients and
    engines. Hosts the roles mux, task, control and iopub, each a thread,
    registers their endpoints with the hub and follows its notifications.  */

#include "zpar_sched.h"
#include "zpar_scheme.h"

#include "zpar_connfile.h"
#include "zpar_log.h"
#include "zpar_msg.h"
#include "zpar_net.h"
#include "zpar_profile.h"
#include "zpar_request.h"
#include "zpar_util.h"

#include <getopt.h>

#define S_ROLES 5
static const char *s_roles [S_ROLES] = {
    ZPAR_ROLE_MUX, ZPAR_ROLE_TASK, ZPAR_ROLE_CONTROL, ZPAR_ROLE_IOPUB, ZPAR_ROLE_BROADCAST
};

//  Registration with the hub: each attempt waits this long, and the
//  scheduler gives up after S_REGISTER_TIMEOUT_S without an answer.
#define S_ATTEMPT_MS 1000
#define S_REGISTER_TIMEOUT_S 30

//  Once registered, the roles register again every ZPAR_SCHEDULER_CHECK_MS:
//  the hub takes it as a no-op, and a hub started again after a crash
//  learns of them from it. While the hub does not answer, a new round goes
//  out only this often, so that little queues up for it.
#define S_RESEND_MS 4000

//  Tasks in flight per engine on the task role. One keeps load balancing
//  exact, as IPython Parallel's default does.
#define S_DEFAULT_HWM 1
#define S_DEFAULT_POISON_LIMIT 3

//  Levels of broadcast nodes below the root: 2^depth leaves share the
//  engines.
#define S_DEFAULT_BCAST_DEPTH 1

//  A file beside the connection file the scheduler reads (caller frees):
//  where it writes its ports (one started again after a crash takes them
//  up), and where the hub put the cluster's CurveZMQ keys.
static char *
s_security_path (const char *profile_name, const char *file, const char *name)
{
    char *path = NULL;
    if (file) {
        const char *slash = strrchr (file, '/');
        if (asprintf (&path, "%.*s%s", slash? (int) (slash - file + 1): 0, file, name) < 0)
            path = NULL;
        return path;
    }
    zpar_profile_t *profile = zpar_profile_new (profile_name, true, NULL);
    if (profile)
        path = zpar_profile_path (profile, "security", name);
    zpar_profile_destroy (&profile);
    return path;
}

//  The ports of a scheduler that ended without removing its file, as
//  {"mux": [client, engine], ...}, and its pid; NULL when there is none,
//  or it runs.
static json_t *
s_ports_left (const char *path, int64_t *pid_left)
{
    json_t *root = path? json_load_file (path, 0, NULL): NULL;
    json_t *pid = json_object_get (root, "pid"), *ports = json_object_get (root, "ports");
    if (!json_is_integer (pid) || !json_is_object (ports)
    ||  zpar_process_named (json_integer_value (pid), "zpar-scheduler")) {
        json_decref (root);
        return NULL;
    }
    *pid_left = json_integer_value (pid);
    json_incref (ports);
    json_decref (root);
    return ports;
}

static int
s_port (json_t *ports, const char *role, size_t side)
{
    json_t *port = json_array_get (json_object_get (ports, role), side);
    return json_is_integer (port) && json_integer_value (port) > 0
        && json_integer_value (port) < 65536? (int) json_integer_value (port): 0;
}

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: zpar-scheduler [--profile NAME | --file CONNFILE] [--ip ADDR] [--hwm N]\n"
        "                      [--scheme NAME] [--poison-limit N] [--max-message-size BYTES]\n"
        "                      [--broadcast-depth N] [--ready-fd FD]\n"
        "\n"
        "Runs the mux, task, control, iopub and broadcast roles of a zpar cluster.\n"
        "  --ip ADDR     address to bind (default: the connection file's location)\n"
        "  --hwm N       tasks in flight per engine on the task role (default %d, 0 = no limit)\n"
        "  --scheme NAME how the task role picks an engine: " ZPAR_SCHEME_NAMES "\n"
        "                (default leastload)\n"
        "  --poison-limit N  engines that may die running one task before it is\n"
        "                sent to no other, even with retries left (default %d, 0 = no limit)\n"
        "  --broadcast-depth N  levels of broadcast nodes below the root, each\n"
        "                halving the engines a thread serves (0-%d, default %d)\n",
        S_DEFAULT_HWM, S_DEFAULT_POISON_LIMIT, ZPAR_BCAST_DEPTH_MAX, S_DEFAULT_BCAST_DEPTH);
}

int
main (int argc, char *argv [])
{
    const char *profile_name = NULL, *file = NULL, *ip = NULL;
    long ready_fd = -1, hwm = S_DEFAULT_HWM, max_size = 0, poison_limit = S_DEFAULT_POISON_LIMIT;
    long depth = S_DEFAULT_BCAST_DEPTH;
    zpar_scheme_t scheme = ZPAR_SCHEME_LEASTLOAD;
    static struct option options [] = {
        { "profile", required_argument, 0, 'p' },
        { "file", required_argument, 0, 'f' },
        { "ip", required_argument, 0, 'i' },
        { "hwm", required_argument, 0, 'w' },
        { "scheme", required_argument, 0, 's' },
        { "poison-limit", required_argument, 0, 'P' },
        { "max-message-size", required_argument, 0, 'M' },
        { "ready-fd", required_argument, 0, 'R' },
        { "broadcast-depth", required_argument, 0, 'D' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 }
    };
    int opt;
    while ((opt = getopt_long (argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
            case 'p': profile_name = optarg; break;
            case 'f': file = optarg; break;
            case 'i': ip = optarg; break;
            case 's':
                if (zpar_scheme_parse (optarg, &scheme) != 0) {
                    fprintf (stderr, "zpar-scheduler: no scheme %s (" ZPAR_SCHEME_NAMES ")\n", optarg);
                    goto usage;
                }
                break;
            case 'w':
                if (zpar_parse_option ("--hwm", optarg, 0, 1000000, &hwm) != 0)
                    goto usage;
                break;
            case 'P':
                if (zpar_parse_option ("--poison-limit", optarg, 0, 1000000, &poison_limit) != 0)
                    goto usage;
                break;
            case 'M':
                if (zpar_parse_option ("--max-message-size", optarg, 1024, INT32_MAX, &max_size) != 0)
                    goto usage;
                break;
            case 'D':
                if (zpar_parse_option ("--broadcast-depth", optarg, 0, ZPAR_BCAST_DEPTH_MAX, &depth) != 0)
                    goto usage;
                break;
            case 'R':
                if (zpar_parse_option ("--ready-fd", optarg, 0, 65535, &ready_fd) != 0)
                    goto usage;
                break;
            case 'h':
                s_usage (stdout);
                return 0;
            default:
                goto usage;
        }
    }
    if (optind != argc || (file && profile_name))
        goto usage;

    zpar_log_set_name ("scheduler");
    zpar_raise_fd_limit ();
    if (zpar_init () != 0)
        return 1;
    char *error = NULL;
    zpar_connfile_t *conn = zpar_connfile_await (profile_name, file, S_REGISTER_TIMEOUT_S * 1000, &error);
    if (!conn) {
        zpar_error ("%s", error);
        free (error);
        return 1;
    }
    if (!max_size)
        max_size = conn->max_message_size? conn->max_message_size: ZPAR_MAX_MESSAGE_SIZE;
    //  A cluster with CurveZMQ: the scheduler binds with the cluster's
    //  keypair, which the hub left beside the connection files.
    if (conn->curve_serverkey) {
        zpar_curve_t keys;
        char *keys_path = s_security_path (profile_name, file, ZPAR_CURVE_KEYS);
        int loaded = keys_path? zpar_curve_load (keys_path, &keys, &error): -1;
        free (keys_path);
        if (loaded != 0 || strcmp (keys.server_public, conn->curve_serverkey) != 0) {
            zpar_error ("%s", error? error: "the cluster's CurveZMQ keys do not match its connection file");
            free (error);
            zpar_connfile_destroy (&conn);
            return 1;
        }
        zpar_net_set_curve (&keys);
    }
    int rc = 1;
    zactor_t *actors [S_ROLES] = { NULL };
    zpar_sign_t *signer = zpar_sign_new (conn->key, ZPAR_REPLAY_HISTORY);
    char *session = zpar_new_uuid ();
    zpar_drops_t drops;
    memset (&drops, 0, sizeof drops);
    zsock_t *hub = zpar_connect (ZMQ_DEALER, conn->registration, NULL, max_size);
    zsock_t *notification = NULL;
    zpar_peer_t peer = { hub, signer, session, max_size, &drops, 0 };
    json_t *registrations [S_ROLES] = { NULL };
    char *ports_path = s_security_path (profile_name, file, ZPAR_SCHEDULER_PORTS);
    int64_t pid_left = 0;
    json_t *ports_left = s_ports_left (ports_path, &pid_left), *ports = json_object ();
    if (ports_left)
        zpar_info ("taking up the ports of the scheduler before");
    for (int i = 0; i < S_ROLES; i++) {
        zpar_sched_config_t config = {
            .role = s_roles [i], .ip = ip? ip: conn->location, .key = conn->key,
            .max_message_size = max_size, .hwm = (int) hwm, .scheme = (int) scheme,
            .poison_limit = (int) poison_limit,
            .client_port = s_port (ports_left, s_roles [i], 0),
            .engine_port = s_port (ports_left, s_roles [i], 1),
            .depth = (int) depth
        };
        for (int leaf = 0; leaf < (1 << depth); leaf++)
            config.leaf_ports [leaf] = s_port (ports_left, s_roles [i], 1 + (size_t) leaf);
        bool broadcast = streq (s_roles [i], ZPAR_ROLE_BROADCAST);
        actors [i] = zactor_new (broadcast? zpar_bcast_actor: zpar_sched_actor, &config);
        zstr_send (actors [i], "ENDPOINTS");
        char *client_ep = NULL, *engine_ep = NULL;
        zstr_recvx (actors [i], &client_ep, &engine_ep, NULL);
        if (!client_ep || !*client_ep || !engine_ep) {
            zstr_free (&client_ep);
            zstr_free (&engine_ep);
            goto done;
        }
        //  [client, engine], or for broadcast [client, leaf, leaf...]
        json_t *role_ports = json_pack ("[i]", zpar_endpoint_port (client_ep));
        for (char *ep = engine_ep, *end; *ep; ep = *end? end + 1: end) {
            end = strchrnul (ep, ' ');
            char one [300];
            snprintf (one, sizeof one, "%.*s", (int) (end - ep), ep);
            json_array_append_new (role_ports, json_integer (zpar_endpoint_port (one)));
        }
        json_object_set_new (ports, s_roles [i], role_ports);
        registrations [i] = json_pack ("{s:s, s:s, s:s, s:i}", "role", s_roles [i],
            "client_endpoint", client_ep, "engine_endpoint", engine_ep, "pid", (int) getpid ());
        //  The first time only: the scheduler it replaces is lost, and so
        //  is whatever was inside it, even if this hub never knew it.
        json_t *first = json_copy (registrations [i]);
        if (pid_left)
            json_object_set_new (first, "replaces", json_integer (pid_left));
        zpar_msg_t *reply = NULL;
        int64_t deadline = zpar_mono_ms () + S_REGISTER_TIMEOUT_S * 1000;
        while (!reply && !zsys_interrupted && zpar_mono_ms () < deadline)
            reply = zpar_request (&peer, "scheduler_registration", json_copy (first), S_ATTEMPT_MS);
        json_decref (first);
        zstr_free (&client_ep);
        zstr_free (&engine_ep);
        if (!zpar_reply_ok (reply)) {
            zpar_error ("the hub at %s did not accept the %s role", conn->registration, s_roles [i]);
            zpar_msg_destroy (&reply);
            goto done;
        }
        json_t *content = zpar_msg_content (reply);
        const char *notify_ep = json_string_value (json_object_get (content, "notification"));
        const char *monitor_ep = json_string_value (json_object_get (content, "monitor"));
        char *engines = json_dumps (json_object_get (content, "engines"), JSON_COMPACT);
        if (notify_ep && monitor_ep && engines) {
            zstr_sendx (actors [i], "CONNECT", notify_ep, monitor_ep, engines, NULL);
            if (!notification)
                notification = zpar_connect (ZMQ_SUB, notify_ep, NULL, max_size);
        }
        free (engines);
        zpar_msg_destroy (&reply);
    }
    if (!notification)
        goto done;
    json_t *record = json_pack ("{s:i, s:O}", "pid", (int) getpid (), "ports", ports);
    if (ports_path && zpar_json_save (record, ports_path) != 0)
        zpar_warn ("cannot write %s: %s", ports_path, strerror (errno));
    json_decref (record);
    zpar_info ("serving roles mux, task, control, iopub, broadcast (pid %d)", (int) getpid ());
    if (ready_fd >= 0) {
        if (write ((int) ready_fd, "ready\n", 6) != 6)
            zpar_warn ("could not report readiness");
        close ((int) ready_fd);
    }
    //  Serve until a signal or the hub's shutdown notification.
    zpoller_t *poller = zpoller_new (notification, hub, NULL);
    int64_t check_at = zpar_mono_ms () + ZPAR_SCHEDULER_CHECK_MS, sent_at = 0;
    int unanswered = 0;
    while (true) {
        int64_t wait = check_at - zpar_mono_ms ();
        void *which = wait > 0? zpoller_wait (poller, (int) wait): NULL;
        if (!which && wait > 0 && !zpoller_expired (poller))
            break;
        //  Due whatever woke the loop: notifications must not hold it off.
        if (zpar_mono_ms () >= check_at) {
            if (unanswered == 0 || zpar_mono_ms () - sent_at >= S_RESEND_MS) {
                for (int i = 0; i < S_ROLES; i++) {
                    zpar_msg_t *again = zpar_msg_new ("scheduler_registration", session);
                    zpar_msg_set_content (again, json_copy (registrations [i]));
                    zpar_msg_send (&again, hub, signer);
                }
                unanswered = S_ROLES;
                sent_at = zpar_mono_ms ();
            }
            check_at = zpar_mono_ms () + ZPAR_SCHEDULER_CHECK_MS;
        }
        if (!which)
            continue;
        if (which == hub) {
            zmsg_t *raw = zmsg_recv (hub);
            zpar_drop_t reason;
            zpar_msg_t *reply = raw? zpar_msg_decode (&raw, signer, (size_t) max_size, NULL, &reason): NULL;
            if (!reply)
                zpar_drops_add (&drops, reason, "hub");
            else
            if (!zpar_reply_ok (reply))
                zpar_warn ("the hub refused a role: %s",
                           json_string_value (json_object_get (zpar_msg_content (reply), "evalue")));
            if (reply && unanswered > 0)
                unanswered--;
            zpar_msg_destroy (&reply);
            zmsg_destroy (&raw);
            continue;
        }
        zmsg_t *raw = zmsg_recv (notification);
        if (!raw)
            break;
        zpar_drop_t reason;
        zpar_msg_t *msg = zpar_msg_decode (&raw, signer, (size_t) max_size, NULL, &reason);
        if (!msg) {
            zpar_drops_add (&drops, reason, "notification");
            continue;
        }
        bool shutdown = msg && streq (zpar_msg_type (msg), "shutdown_notification");
        zpar_msg_destroy (&msg);
        if (shutdown) {
            zpar_info ("the hub announced shutdown");
            break;
        }
    }
    zpoller_destroy (&poller);
    rc = 0;
    //  Stopped on purpose: the next scheduler starts afresh (unless the
    //  file is another scheduler's by now).
    json_t *record_now = ports_path? json_load_file (ports_path, 0, NULL): NULL;
    if (json_integer_value (json_object_get (record_now, "pid")) == getpid ())
        unlink (ports_path);
    json_decref (record_now);
done:
    free (ports_path);
    json_decref (ports_left);
    json_decref (ports);
    for (int i = 0; i < S_ROLES; i++) {
        zactor_destroy (&actors [i]);
        json_decref (registrations [i]);
    }
    zsock_destroy (&notification);
    zsock_destroy (&hub);
    zpar_sign_destroy (&signer);
    free (session);
    zpar_connfile_destroy (&conn);
    return rc;

usage:
    s_usage (stderr);
    return 2;
}
