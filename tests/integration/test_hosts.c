/*  Engines placed by other tools. ssh: the hosts are Linux network
    namespaces this test makes itself (a veth pair each into a bridge that
    carries the cluster's own address, 10.213.N.1; the hosts' addresses
    only inside them; a hostname each in a UTS namespace), each
    running Debian's sshd with keys made in the test's folder; all of it
    is taken down at the end (needs root and sshd: skipped without them).
    MPI: OpenMPI's mpiexec on this host. Slurm: a one-node cluster of
    Debian's slurm-wlm and munge, started by tests/slurm/up.sh in the
    test's folder and stopped by tests/slurm/down.sh.                    */

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zpar/zpar.h>

#include "zpar_connfile.h"
#include "zpar_test.h"
#include "zpar_util.h"

#define S_HOSTS 2
#define S_SSH_PORT 2222

typedef struct {
    char ns [32], veth [32], ip [32], name [32];
    pid_t sshd;
} s_host_t;

static s_host_t s_hosts [S_HOSTS];
static char s_bridge [32], s_hub_ip [32], s_dir [1024];
static int s_made;              //  hosts made, to take down

static int
s_sh (const char *format, ...) __attribute__ ((format (printf, 1, 2)));
static int
s_sh (const char *format, ...)
{
    char command [4096];
    va_list args;
    va_start (args, format);
    vsnprintf (command, sizeof command, format, args);
    va_end (args);
    char *err = NULL;
    int rc = zt_run (command, NULL, &err);
    if (rc != 0)
        fprintf (stderr, "%s: %s\n", command, err? err: "");
    free (err);
    return rc;
}

static void
s_down (void)
{
    for (int i = 0; i < s_made; i++) {
        if (s_hosts [i].sshd > 0) {
            kill (s_hosts [i].sshd, SIGTERM);
            waitpid (s_hosts [i].sshd, NULL, 0);
            s_hosts [i].sshd = 0;
        }
        s_sh ("ip netns del %s", s_hosts [i].ns);
        //  Gone with its namespace, unless it never got there.
        zt_runf (NULL, NULL, "ip link del %s", s_hosts [i].veth);
    }
    if (*s_bridge)
        s_sh ("ip link del %s", s_bridge);
    *s_bridge = 0;
    s_made = 0;
}

static char s_slurm_dir [1100];     //  a one-node Slurm cluster to stop, or ""

static void
s_fini (void)
{
    //  Slurm first (its pid files are in the test's folder, which the
    //  clean-up removes; the job's engines end with it), then the cluster
    //  (its engines may live in the namespaces), then the namespaces.
    if (*s_slurm_dir) {
        zt_runf (NULL, NULL, "%s/tests/slurm/down.sh %s", getenv ("ZPAR_SOURCE"), s_slurm_dir);
        *s_slurm_dir = 0;
    }
    zt_cleanup ();
    s_down ();
    //  Taking the namespaces down ran commands, which made a folder again.
    zt_cleanup ();
}

TestSuite (hosts, .init = (void (*) (void)) zt_fresh_dir, .fini = s_fini, .timeout = 90);

//  True once something listens on ip:port.
//  A path in the hosts' folder (a static buffer per call site's use).
static const char *
s_in_dir (char *buffer, size_t size, const char *name)
{
    snprintf (buffer, size, "%s/%s", s_dir, name);
    return buffer;
}

static bool
s_listening (const char *ip, int port, int timeout_ms)
{
    for (int64_t deadline = zpar_mono_ms () + timeout_ms; zpar_mono_ms () < deadline; zclock_sleep (50)) {
        int fd = socket (AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
        inet_pton (AF_INET, ip, &address.sin_addr);
        bool up = connect (fd, (struct sockaddr *) &address, sizeof address) == 0;
        close (fd);
        if (up)
            return true;
    }
    return false;
}

//  Two hosts with sshd, ZPAR_SSH and ZPAR_REMOTE_DIR set to reach them.
static void
s_up (void)
{
    if (geteuid () != 0 || access ("/usr/sbin/sshd", X_OK) != 0
    ||  zt_run ("command -v ip ssh ssh-keygen unshare", NULL, NULL) != 0)
        cr_skip_test ("needs root, ip, unshare, ssh and Debian's openssh-server");
    //  Root in a container may still not be allowed network namespaces.
    char probe [64];
    snprintf (probe, sizeof probe, "ztprobe%d", (int) getpid ());
    if (zt_runf (NULL, NULL, "ip netns add %s && ip netns del %s", probe, probe) != 0)
        cr_skip_test ("this machine does not let root make network namespaces");
    //  A network number no other run uses now (its bridge would exist).
    int net = 20 + getpid () % 200;
    char bridge [32];
    for (int tries = 0; tries < 200; tries++, net = 20 + (net - 19) % 200) {
        snprintf (bridge, sizeof bridge, "ztbr%d", net);
        if (zt_runf (NULL, NULL, "ip link show %s", bridge) != 0
        &&  zt_runf (NULL, NULL, "ip netns list | grep -q '^zt%da'", net) != 0)
            break;
    }
    snprintf (s_dir, sizeof s_dir, "%s/hosts", getenv ("ZPAR_DIR"));
    snprintf (s_hub_ip, sizeof s_hub_ip, "10.213.%d.1", net);
    cr_assert_eq (s_sh ("ip link add %s type bridge", bridge), 0);
    snprintf (s_bridge, sizeof s_bridge, "%s", bridge);     //  ours to take down from here
    cr_assert_eq (s_sh ("ip addr add %s/24 dev %s && ip link set %s up", s_hub_ip, s_bridge, s_bridge), 0);
    cr_assert_eq (s_sh ("mkdir -p %s /run/sshd && ssh-keygen -q -t ed25519 -N '' -f %s/host_key"
                        " && ssh-keygen -q -t ed25519 -N '' -f %s/client_key"
                        " && cp %s/client_key.pub %s/authorized_keys", s_dir, s_dir, s_dir, s_dir, s_dir), 0);
    char path [1200];
    FILE *ssh_config = fopen (s_in_dir (path, sizeof path, "ssh_config"), "w");
    for (int i = 0; i < S_HOSTS; i++) {
        s_host_t *host = &s_hosts [i];
        snprintf (host->ns, sizeof host->ns, "zt%d%c", net, 'a' + i);
        snprintf (host->veth, sizeof host->veth, "zt%d%cv", net, 'a' + i);
        snprintf (host->ip, sizeof host->ip, "10.213.%d.%d", net, 2 + i);
        snprintf (host->name, sizeof host->name, "zt-host-%c", 'a' + i);
        cr_assert_eq (s_sh ("ip netns add %s", host->ns), 0);
        s_made = i + 1;                 //  ours to take down from here
        cr_assert_eq (s_sh ("ip link add %s type veth peer name %sp"
                            " && ip link set %sp netns %s && ip link set %s master %s up"
                            " && ip netns exec %s ip addr add %s/24 dev %sp"
                            " && ip netns exec %s ip link set %sp up && ip netns exec %s ip link set lo up",
                            host->veth, host->veth, host->veth, host->ns, host->veth, s_bridge,
                            host->ns, host->ip, host->veth, host->ns, host->veth, host->ns), 0);
        char name [16];
        snprintf (name, sizeof name, "sshd_%c", 'a' + i);
        FILE *config = fopen (s_in_dir (path, sizeof path, name), "w");
        fprintf (config, "Port %d\nListenAddress %s\nHostKey %s/host_key\nPidFile none\n"
                 "AuthorizedKeysFile %s/authorized_keys\nPermitRootLogin yes\nStrictModes no\n"
                 "UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                 "LogLevel ERROR\n", S_SSH_PORT, host->ip, s_dir, s_dir);
        fclose (config);
        fprintf (ssh_config, "Host %s\n  HostName %s\n  Port %d\n  User root\n  IdentityFile %s/client_key\n"
                 "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n"
                 "  BatchMode yes\n", host->name, host->ip, S_SSH_PORT, s_dir);
        //  sshd in the host's network, under the host's own name.
        pid_t pid = fork ();
        if (pid == 0) {
            char script [4200];
            snprintf (script, sizeof script, "hostname %s && exec /usr/sbin/sshd -D -f %s/sshd_%c -E %s/sshd_%c.log",
                      host->name, s_dir, 'a' + i, s_dir, 'a' + i);
            execlp ("ip", "ip", "netns", "exec", host->ns, "unshare", "--uts", "sh", "-c", script, (char *) NULL);
            _exit (127);
        }
        host->sshd = pid;
        cr_assert (s_listening (host->ip, S_SSH_PORT, 10000), "sshd in %s did not start", host->ns);
    }
    fclose (ssh_config);
    char value [1300];
    snprintf (value, sizeof value, "ssh -F %s/ssh_config", s_dir);
    setenv ("ZPAR_SSH", value, 1);
    setenv ("ZPAR_REMOTE_DIR", s_in_dir (path, sizeof path, "remote"), 1);
}

//  The hostname each engine reports, by engine id.
static json_t *
s_hostnames (zpar_client_t *client)
{
    zpar_view_t *all = zpar_client_direct (client, ZPAR_ALL);
    json_t *error = NULL;
    json_t *names = zpar_view_apply_sync (all, "hostname", NULL, &error);
    cr_assert_not_null (names, "%s", error? json_string_value (json_object_get (error, "evalue")): "?");
    zpar_view_destroy (&all);
    return names;
}

//  Waits until every engine of a list the hub gave (taken) has ended.
static void
s_engines_gone (json_t *engines)
{
    size_t i;
    json_t *engine;
    json_array_foreach (engines, i, engine) {
        pid_t pid = (pid_t) json_integer_value (json_object_get (engine, "pid"));
        cr_assert (zt_wait_gone (pid, 15000), "engine pid %d on %s still runs", (int) pid,
                   json_string_value (json_object_get (engine, "host")));
    }
    json_decref (engines);
}

//  A load-balanced map over the engines: every answer right, and more
//  than one engine did the work.
static void
s_balanced_map (zpar_client_t *client)
{
    zpar_view_t *balanced = zpar_client_balanced (client);
    json_t *inputs = json_array ();
    for (int i = 0; i < 24; i++)
        json_array_append_new (inputs, json_pack ("[f]", 0.02));
    zpar_result_t *result = zpar_view_map_async (balanced, "sleep", inputs, 1);
    cr_assert_not_null (result, "%s", zpar_last_error ());
    cr_assert_eq (zpar_result_wait (result, 20000), 0);
    cr_assert (zpar_result_successful (result));
    int engines = 0;
    for (size_t i = 0; i < zpar_result_size (result); i++)
        engines |= 1 << (zpar_result_engine_id (result, i) & 15);
    cr_assert (engines & (engines - 1), "one engine did all the work");
    zpar_result_destroy (&result);
    json_decref (inputs);
    zpar_view_destroy (&balanced);
}

static size_t
s_count (json_t *names, const char *name)
{
    size_t count = 0, i;
    json_t *value;
    json_array_foreach (names, i, value)
        count += streq (json_string_value (value), name);
    return count;
}

Test (hosts, ssh_starts_engines_on_other_hosts_and_stops_them_there)
{
    s_up ();
    char hosts_file [1100], options [2400];
    snprintf (hosts_file, sizeof hosts_file, "%s/hosts.txt", s_dir);
    FILE *file = fopen (hosts_file, "w");
    fprintf (file, "# two hosts\n%s\n%s 2   # and two there\n", s_hosts [0].name, s_hosts [1].name);
    fclose (file);
    snprintf (options, sizeof options, "--ip %s --engines ssh --hosts %s", s_hub_ip, hosts_file);
    zt_cluster_start (-1, options);

    //  Off loopback, CurveZMQ is on.
    char *path = zt_profile_path ("security/zpar-client.json");
    zpar_connfile_t *conn = zpar_connfile_load (path, NULL);
    cr_assert (conn && conn->curve_serverkey, "no CurveZMQ off loopback");
    zpar_connfile_destroy (&conn);
    free (path);

    zpar_client_t *client = zpar_client_new (ZT_PROFILE);
    cr_assert_not_null (client, "%s", zpar_last_error ());
    cr_assert_eq (zpar_client_wait_for_engines (client, 3, 20000), 0, "%s", zpar_last_error ());
    json_t *names = s_hostnames (client);
    cr_assert_eq (s_count (names, s_hosts [0].name), 1);
    cr_assert_eq (s_count (names, s_hosts [1].name), 2);
    json_decref (names);

    //  Load-balanced work lands on both hosts.
    zpar_view_t *balanced = zpar_client_balanced (client);
    json_t *inputs = json_array (), *error = NULL;
    for (int i = 0; i < 12; i++)
        json_array_append_new (inputs, json_pack ("[f]", 0.05));
    json_t *slept = zpar_view_map_sync (balanced, "sleep", inputs, 1, &error);
    cr_assert_not_null (slept);
    json_decref (slept);
    json_decref (inputs);
    inputs = json_array ();
    for (int i = 0; i < 12; i++)
        json_array_append_new (inputs, json_array ());
    names = zpar_view_map_sync (balanced, "hostname", inputs, 1, &error);
    cr_assert_not_null (names);
    cr_assert_gt (s_count (names, s_hosts [0].name), 0);
    cr_assert_gt (s_count (names, s_hosts [1].name), 0);
    json_decref (names);
    json_decref (inputs);
    zpar_view_destroy (&balanced);

    //  One more on the first host, to the running cluster.
    char more_file [1200];
    snprintf (more_file, sizeof more_file, "%s/more.txt", s_dir);
    file = fopen (more_file, "w");
    fprintf (file, "%s\n", s_hosts [0].name);
    fclose (file);
    char *out = NULL;
    cr_assert_eq (zt_runf (&out, NULL, "%s engines --profile %s --engines ssh --hosts %s",
                           zt_build_path ("bin/ipcluster"), ZT_PROFILE, more_file), 0, "%s", out);
    cr_assert (strstr (out, "4 in all"), "%s", out);
    free (out);
    cr_assert_eq (zpar_client_wait_for_engines (client, 4, 10000), 0, "%s", zpar_last_error ());
    names = s_hostnames (client);
    cr_assert_eq (s_count (names, s_hosts [0].name), 2);
    json_decref (names);

    //  ipcluster stop ends them there too.
    json_t *engines = zpar_client_engines (client);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
    s_engines_gone (engines);
}

Test (hosts, a_bad_hosts_file_is_a_usage_error)
{
    char path [1100];
    snprintf (path, sizeof path, "%s/bad-hosts.txt", getenv ("ZPAR_DIR"));
    FILE *file = fopen (path, "w");
    fprintf (file, "node1 3\nnode2 many\n");
    fclose (file);
    char *err = NULL;
    cr_assert_eq (zt_runf (NULL, &err, "%s start --profile %s --engines ssh --hosts %s",
                           zt_build_path ("bin/ipcluster"), ZT_PROFILE, path), 2);
    cr_assert (strstr (err, "line 2"), "%s", err);
    free (err);
    cr_assert_eq (zt_runf (NULL, &err, "%s start --profile %s --engines ssh", zt_build_path ("bin/ipcluster"),
                           ZT_PROFILE), 2);
    cr_assert (strstr (err, "needs --hosts"), "%s", err);
    free (err);
    cr_assert_eq (zt_runf (NULL, &err, "%s start --profile %s -n 2 --engines ssh --hosts %s",
                           zt_build_path ("bin/ipcluster"), ZT_PROFILE, path), 2);
    free (err);
}

Test (hosts, mpi_starts_the_engines_as_one_job_and_they_know_their_ranks)
{
    if (zt_run ("command -v mpiexec", NULL, NULL) != 0)
        cr_skip_test ("needs OpenMPI's mpiexec (Debian's openmpi-bin)");
    zt_cluster_start (3, "--engines mpi");
    zpar_client_t *client = zpar_client_new (ZT_PROFILE);
    cr_assert_not_null (client, "%s", zpar_last_error ());
    zpar_view_t *all = zpar_client_direct (client, ZPAR_ALL);
    json_t *error = NULL;
    json_t *infos = zpar_view_apply_sync (all, "engine_info", NULL, &error);
    cr_assert_not_null (infos);
    cr_assert_eq (json_array_size (infos), 3);
    int ranks = 0;
    size_t i;
    json_t *info;
    json_array_foreach (infos, i, info) {
        json_t *rank = json_object_get (info, "mpi_rank");
        cr_assert (json_is_integer (rank), "engine %zu has no MPI rank", i);
        ranks |= 1 << json_integer_value (rank);
    }
    cr_assert_eq (ranks, 7, "ranks 0, 1 and 2, once each");
    json_decref (infos);
    zpar_view_destroy (&all);
    s_balanced_map (client);
    //  One mpiexec supervised; stopping it stops every engine.
    cr_assert_gt (zt_pid_of ("mpiexec"), 0);
    json_t *engines = zpar_client_engines (client);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
    s_engines_gone (engines);
}

Test (hosts, ipcluster_engines_adds_engines_to_a_running_cluster)
{
    zt_cluster_start (2, NULL);
    char *out = NULL, *err = NULL;
    cr_assert_eq (zt_runf (&out, &err, "%s engines -n 2 --profile %s", zt_build_path ("bin/ipcluster"),
                           ZT_PROFILE), 0, "%s%s", out, err);
    cr_assert (strstr (out, "added 2 engines") && strstr (out, "4 in all"), "%s", out);
    free (out);
    free (err);
    zpar_client_t *client = zpar_client_new (ZT_PROFILE);
    cr_assert_not_null (client, "%s", zpar_last_error ());
    json_t *ids = zpar_client_ids (client);
    cr_assert_eq (json_array_size (ids), 4);
    json_decref (ids);
    //  Supervised like the first ones: in pid/, stopped with the cluster.
    cr_assert_gt (zt_pid_of ("engine-3"), 0);
    json_t *engines = zpar_client_engines (client);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
    s_engines_gone (engines);
    //  Without a cluster, or without saying how many: refused.
    cr_assert_eq (zt_runf (NULL, &err, "%s engines -n 1 --profile %s", zt_build_path ("bin/ipcluster"),
                           ZT_PROFILE), 1);
    cr_assert (strstr (err, "no cluster"), "%s", err);
    free (err);
    cr_assert_eq (zt_runf (NULL, &err, "%s engines --profile %s", zt_build_path ("bin/ipcluster"),
                           ZT_PROFILE), 2);
    free (err);
}

Test (hosts, slurm_runs_the_engines_as_one_job_that_stop_cancels)
{
    if (geteuid () != 0 || access ("/usr/sbin/slurmctld", X_OK) != 0 || access ("/usr/sbin/munged", X_OK) != 0)
        cr_skip_test ("needs root and Debian's slurm-wlm and munge");
    snprintf (s_slurm_dir, sizeof s_slurm_dir, "%s/slurm", getenv ("ZPAR_DIR"));
    //  Below the kernel's ephemeral range (32768 up), where the thousands
    //  of connections of a test running beside this one take their ports.
    int port = 20000 + (getpid () % 6000) * 2;
    char *err = NULL;
    cr_assert_eq (zt_runf (NULL, &err, "%s/tests/slurm/up.sh %s %d %d", getenv ("ZPAR_SOURCE"),
                           s_slurm_dir, port, port + 1), 0, "%s", err);
    free (err);
    char conf [1200];
    snprintf (conf, sizeof conf, "%s/slurm.conf", s_slurm_dir);
    setenv ("SLURM_CONF", conf, 1);

    zt_cluster_start (3, "--engines slurm --time 10");
    zpar_client_t *client = zpar_client_new (ZT_PROFILE);
    cr_assert_not_null (client, "%s", zpar_last_error ());
    zpar_view_t *all = zpar_client_direct (client, ZPAR_ALL);
    json_t *error = NULL;
    json_t *infos = zpar_view_apply_sync (all, "engine_info", NULL, &error);
    cr_assert_eq (json_array_size (infos), 3);
    int ranks = 0;
    size_t i;
    json_t *info;
    json_array_foreach (infos, i, info)
        ranks |= 1 << json_integer_value (json_object_get (info, "mpi_rank"));
    cr_assert_eq (ranks, 7, "Slurm ranks 0, 1 and 2, once each");
    json_decref (infos);
    zpar_view_destroy (&all);
    s_balanced_map (client);
    char *out = NULL;
    cr_assert_eq (zt_runf (&out, NULL, "squeue -h -o %%j"), 0);
    cr_assert (strstr (out, "zpar-test"), "no job in squeue: %s", out);
    free (out);

    json_t *engines = zpar_client_engines (client);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
    s_engines_gone (engines);
    //  Cancelled: gone from the queue once its steps ended.
    for (int64_t deadline = zpar_mono_ms () + 15000; ; zclock_sleep (100)) {
        cr_assert_eq (zt_runf (&out, NULL, "squeue -h -o %%j"), 0);
        bool gone = !strstr (out, "zpar-test");
        if (!gone && zpar_mono_ms () >= deadline)
            cr_assert_fail ("the job was not cancelled: %s", out);
        free (out);
        if (gone)
            break;
    }
    unsetenv ("SLURM_CONF");
}

Test (hosts, ip_auto_binds_the_address_of_the_host)
{
    s_up ();
    //  On host a, whose one address besides loopback is its veth's.
    char *out = NULL, *err = NULL;
    int rc = zt_runf (&out, &err, "ip netns exec %s %s start -n 1 --daemonize --profile %s --hb-period %d "
                      "--ip auto", s_hosts [0].ns, zt_build_path ("bin/ipcluster"), ZT_PROFILE, ZT_HB_PERIOD_MS);
    cr_assert_eq (rc, 0, "%s%s", out, err);
    free (out);
    free (err);
    char *path = zt_profile_path ("security/zpar-client.json");
    zpar_connfile_t *conn = zpar_connfile_load (path, NULL);
    free (path);
    cr_assert_not_null (conn);
    cr_assert_str_eq (conn->location, s_hosts [0].ip);
    cr_assert_not_null (conn->curve_serverkey, "no CurveZMQ off loopback");
    zpar_connfile_destroy (&conn);
    //  Reached from here, through the bridge.
    zpar_client_t *client = zpar_client_new (ZT_PROFILE);
    cr_assert_not_null (client, "%s", zpar_last_error ());
    cr_assert_eq (zpar_client_wait_for_engines (client, 1, 10000), 0, "%s", zpar_last_error ());
    json_t *names = s_hostnames (client);
    cr_assert_eq (json_array_size (names), 1);
    json_decref (names);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}
