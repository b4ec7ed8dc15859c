/*  CurveZMQ on every link: a cluster started with --curve works end to
    end (and after its hub is killed and started again), a client with a
    wrong server key or none is refused with a clear error and counted,
    and the cluster keeps serving the right ones. Curve is the default
    when the cluster binds more than loopback.                           */

#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zpar/zpar.h>

#include "zpar_connfile.h"
#include "zpar_net.h"
#include "zpar_test.h"
#include "zpar_util.h"

TestSuite (curve, .init = (void (*) (void)) zt_fresh_dir, .fini = zt_cleanup, .timeout = 60);

//  hostname() on every engine through a new client; asserts it worked.
static void
s_hostnames (size_t engines)
{
    zpar_client_t *client = zpar_client_new (ZT_PROFILE);
    cr_assert_not_null (client, "%s", zpar_last_error ());
    cr_assert_eq (zpar_client_wait_for_engines (client, engines, 10000), 0, "%s", zpar_last_error ());
    zpar_view_t *all = zpar_client_direct (client, ZPAR_ALL);
    json_t *error = NULL;
    json_t *hosts = zpar_view_apply_sync (all, "hostname", NULL, &error);
    cr_assert_not_null (hosts, "%s", error? json_string_value (json_object_get (error, "evalue")): "?");
    cr_assert_eq (json_array_size (hosts), engines);
    json_decref (hosts);
    zpar_view_destroy (&all);
    zpar_client_destroy (&client);
}

static long long
s_handshakes (void)
{
    char *out = NULL;
    cr_assert_eq (zt_runf (&out, NULL, "%s --profile %s --json status", zt_build_path ("bin/zpar"), ZT_PROFILE), 0);
    json_t *status = zt_json (out);
    long long count = json_integer_value (json_object_get (json_object_get (json_object_get (status, "hub"),
                                                                            "dropped"), "handshake"));
    json_decref (status);
    free (out);
    return count;
}

static zpar_connfile_t *
s_client_file (void)
{
    char *path = zt_profile_path ("security/zpar-client.json");
    char *error = NULL;
    zpar_connfile_t *file = zpar_connfile_load (path, &error);
    cr_assert_not_null (file, "%s", error);
    free (path);
    return file;
}

Test (curve, a_cluster_with_curve_works_and_survives_a_hub_restart)
{
    zt_cluster_start (2, "--curve");
    zpar_connfile_t *file = s_client_file ();
    cr_assert_not_null (file->curve_serverkey, "no curve_serverkey in the connection file");
    cr_assert_eq (strlen (file->curve_serverkey), 40);
    //  The keypair the daemons bind with is for this host only.
    char *keys = zt_profile_path ("security/zpar-curve.json");
    struct stat info;
    cr_assert_eq (stat (keys, &info), 0);
    cr_assert_eq (info.st_mode & 0777, 0600);
    free (keys);
    s_hostnames (2);

    //  A map goes through the task scheduler's links too.
    zpar_client_t *client = zpar_client_new (ZT_PROFILE);
    cr_assert_not_null (client, "%s", zpar_last_error ());
    zpar_view_t *balanced = zpar_client_balanced (client);
    json_t *inputs = zt_json ("[[1], [2], [3], [4], [5], [6]]"), *error = NULL;
    json_t *values = zpar_view_map_sync (balanced, "echo", inputs, 1, &error);
    cr_assert_not_null (values);
    cr_assert_eq (json_integer_value (json_array_get (values, 5)), 6);
    json_decref (values);
    json_decref (inputs);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
    cr_assert_eq (s_handshakes (), 0);

    //  A hub started again takes the keypair up: same key, same cluster.
    pid_t hub = zt_pid_of ("hub");
    kill (hub, SIGKILL);
    cr_assert (zt_wait_gone (hub, 5000));
    cr_assert (zt_log_says ("hub started again", 10000));
    for (int64_t deadline = zpar_mono_ms () + 10000; zt_pid_of ("hub") == hub; zclock_sleep (50))
        cr_assert (zpar_mono_ms () < deadline, "no new hub");
    zpar_connfile_t *after = NULL;
    for (int64_t deadline = zpar_mono_ms () + 10000; !after || after->hub_pid == hub; zclock_sleep (50)) {
        zpar_connfile_destroy (&after);
        char *path = zt_profile_path ("security/zpar-client.json");
        after = zpar_connfile_load (path, NULL);
        free (path);
        cr_assert (zpar_mono_ms () < deadline, "the new hub wrote no connection file");
    }
    cr_assert_str_eq (after->curve_serverkey, file->curve_serverkey);
    zpar_connfile_destroy (&after);
    zpar_connfile_destroy (&file);
    s_hostnames (2);
    zt_cluster_stop ();
}

//  A copy of the client connection file with curve_serverkey changed
//  (NULL: removed); returns its path (caller frees).
static char *
s_file_with_key (const char *key)
{
    zpar_connfile_t *file = s_client_file ();
    free (file->curve_serverkey);
    file->curve_serverkey = key? strdup (key): NULL;
    char *path = malloc (1024);
    snprintf (path, 1024, "%s/other-%s.json", getenv ("ZPAR_DIR"), key? "key": "none");
    cr_assert_eq (zpar_connfile_save (file, path), 0);
    zpar_connfile_destroy (&file);
    return path;
}

Test (curve, a_wrong_or_missing_server_key_is_refused_and_counted)
{
    zt_cluster_start (1, "--curve");
    long long before = s_handshakes ();
    //  A real key, but not this cluster's.
    char public [41], secret [41];
    cr_assert_eq (zmq_curve_keypair (public, secret), 0);
    char *wrong = s_file_with_key (public);
    zpar_client_t *client = zpar_client_new_from_file (wrong);
    cr_assert_null (client);
    cr_assert (strstr (zpar_last_error (), "at its handshake")
               && strstr (zpar_last_error (), "not the cluster's key"), "%s", zpar_last_error ());
    char *none = s_file_with_key (NULL);
    client = zpar_client_new_from_file (none);
    cr_assert_null (client);
    cr_assert (strstr (zpar_last_error (), "has no curve_serverkey"), "%s", zpar_last_error ());
    cr_assert_gt (s_handshakes (), before, "the hub did not count the refused handshakes");
    //  Not ZMTP at all: bytes on the registration port.
    long long counted = s_handshakes ();
    zpar_connfile_t *file = s_client_file ();
    char host [64];
    int port = zpar_endpoint_port (file->registration);
    snprintf (host, sizeof host, "%s", file->registration + 6);
    *strrchr (host, ':') = 0;
    zpar_connfile_destroy (&file);
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    inet_pton (AF_INET, host, &address.sin_addr);
    cr_assert_eq (connect (fd, (struct sockaddr *) &address, sizeof address), 0);
    const char garbage [] = "GET / HTTP/1.0\r\n\r\n and more bytes that are no greeting at all...";
    cr_assert_gt (write (fd, garbage, sizeof garbage), 0);
    for (int64_t deadline = zpar_mono_ms () + 5000; s_handshakes () <= counted; zclock_sleep (50))
        cr_assert (zpar_mono_ms () < deadline, "a connection that is no ZMTP was not counted");
    close (fd);
    //  And the cluster goes on for those with the right key.
    s_hostnames (1);
    free (wrong);
    free (none);
    zt_cluster_stop ();
}

Test (curve, curve_is_the_default_when_binding_beyond_loopback)
{
    zt_cluster_start (1, "--ip 0.0.0.0");
    zpar_connfile_t *file = s_client_file ();
    cr_assert_not_null (file->curve_serverkey, "a cluster on 0.0.0.0 without CurveZMQ");
    zpar_connfile_destroy (&file);
    s_hostnames (1);
    zt_cluster_stop ();
    zt_cluster_start (1, NULL);
    file = s_client_file ();
    cr_assert_null (file->curve_serverkey, "CurveZMQ on loopback without --curve");
    zpar_connfile_destroy (&file);
    zt_cluster_stop ();
    char *err = NULL;
    cr_assert_eq (zt_runf (NULL, &err, "%s start --profile %s --curve --no-curve --bogus",
                           zt_build_path ("bin/ipcluster"), ZT_PROFILE), 2);
    free (err);
}
