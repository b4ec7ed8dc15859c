/*  ipcluster - starts, supervises and stops the processes of a cluster.

        ipcluster start [-n N] [--profile P] [--daemonize] [--ip ADDR] [--load LIB.so]...
        ipcluster stop [--profile P]
        ipcluster status [--profile P] [--json]

    start runs the hub, then the scheduler, then N engines, each with its
    log in the profile's log/ folder and its pid in pid/, and returns (with
    --daemonize) or stays in the foreground once every engine registered.
    The supervisor stops everything in order on SIGTERM or Ctrl-C.        */

#include <zpar/zpar.h>

#include "zpar_hosts.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include "zpar_launch.h"
#include "zpar_slurm.h"

#include "zpar_connfile.h"
#include "zpar_log.h"
#include "zpar_net.h"
#include "zpar_profile.h"
#include "zpar_proto.h"
#include "zpar_msg.h"
#include "zpar_scheme.h"
#include "zpar_util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sys/resource.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

//  How long stopping waits for processes to end after SIGTERM before it
//  sends SIGKILL. Engines finish their goodbye to the hub in half a second;
//  a function still computing is not waited for beyond this.
#define S_GRACE_MS 3000

//  `ipcluster stop` waits this long for the supervisor, which itself may
//  spend two grace periods (engines, then hub and scheduler).
#define S_STOP_WAIT_MS (3 * S_GRACE_MS)

//  While engines register, child exits and signals are checked this often.
#define S_SLICE_MS 100

//  `ipcluster status` asks the hub for engines and waits this long.
#define S_STATUS_TIMEOUT_MS 2000

//  An engine that dies is started again in its slot after a pause that
//  doubles with each restart in a row, up to a limit of restarts in a row
//  (ipcluster start --restart-limit): a crash at start-up does not spin.
//  An engine that ran this long before dying starts a new row.
#define S_RESTART_LIMIT 5
#define S_RESTART_FIRST_MS 500
#define S_RESTART_MAX_MS 30000
#define S_RESTART_STABLE_MS 30000

//  Largest cluster one ipcluster starts.
#define S_MAX_ENGINES 4096

typedef struct {
    char name [32];             //  "hub", "scheduler", "engine-3"
    pid_t pid;
    bool running;
    int status;                 //  from waitpid once it ended
    bool reported;              //  the hub was told it ended (engines)
    int restarts;               //  engines: times this slot was started again
    int streak;                 //  engines: restarts in a row, each soon after the last
    int64_t started_ms;         //  engines: when it was started (monotonic)
    int64_t restart_at;         //  engines: when to start it again (monotonic ms), 0: not due
    char uuid [40];             //  engines: the uuid it was given
    const char *host;           //  engines: the host it runs on through ssh, NULL here
    bool mpi_job;               //  mpiexec running every engine of the cluster
} s_child_t;

typedef struct {
    const char *profile_name;
    long engines;
    bool daemonize;
    const char *ip;
    const char **plugins;
    size_t nplugins;
    long hb_period, hb_liveness, max_size, timeout_s, hwm, poison_limit, restart_limit;
    long broadcast_depth;
    const char *scheme;
    const char *engine_policy;  //  --engine-policy, NULL: the engine's default
    char *db;                   //  --db, with an absolute path (owned)
    int curve;                  //  --curve 1, --no-curve 0, else -1: when not on loopback
    const char *db_max_records, *db_max_bytes;
    const char *launcher;       //  --engines: "local", "ssh", "mpi" or "slurm"
    const char *partition, *time_limit;     //  slurm: --partition, --time
    const char **slurm_options; //  slurm: each --slurm-option
    size_t nslurm_options;
    const char *hosts_path;     //  --hosts FILE (ssh)
    zpar_host_t *hosts;         //  read from it
    size_t nhosts;
    bool engines_given;         //  -n on the command line
    bool as_json;
} s_options_t;

typedef struct {
    s_options_t *options;
    zpar_profile_t *profile;
    s_child_t *children;        //  [0] hub, [1] scheduler, [2..] engines
    char *remote_connfile;      //  where engines on other hosts read theirs
    bool mpi;                   //  children [2] is mpiexec with every engine
    long slurm_job;             //  the Slurm job running the engines, or 0
    bool add_asked;             //  `ipcluster engines` left a request (SIGUSR1)
    char **owned_hosts;         //  hosts of engines added later (owned)
    size_t nowned;
    size_t count;
    int sigfd;
    int report_fd;              //  --daemonize: tells the waiting parent
    char **engine_argv;         //  how an engine starts, without --id and --restarts
    size_t engine_argc;
    char **daemon_argv [2];     //  how the hub and the scheduler start again
    zsock_t *hub;               //  tells the hub of engine ends (s_report_exit)
    zpar_sign_t *hub_signer;
    char *hub_session;
    char failure [1024];        //  why start-up failed, told once all stopped
    int stop_signal;            //  the signal that asked the cluster to stop
} s_cluster_t;

//  The scheduler keeps a connection an engine for each of its roles, about
//  five open files an engine (the hub three). The daemons raise their limit
//  to the hard one; past that, engines would fail to connect one by one,
//  so the start is refused at once, saying why.
static bool
s_too_many_files (long engines)
{
    struct rlimit limit;
    unsigned long long needed = 5ULL * (unsigned long long) engines + 64;
    if (getrlimit (RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY
    ||  needed <= (unsigned long long) limit.rlim_cur)
        return false;
    fprintf (stderr, "ipcluster: %ld engines need about %llu open files in the scheduler, over the "
             "limit of %llu here; raise it (ulimit -Hn) or start fewer engines\n", engines, needed,
             (unsigned long long) limit.rlim_cur);
    return true;
}

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: ipcluster start [-n N] [--profile NAME] [--daemonize] [--ip ADDR|auto]\n"
        "                       [--load LIB.so]... [--hb-period MS] [--hb-liveness N]\n"
        "                       [--hwm N] [--scheme NAME] [--poison-limit N]\n"
        "                       [--restart-limit N] [--max-message-size BYTES] [--timeout S]\n"
        "                       [--db memory|sqlite:PATH] [--db-max-records N]\n"
        "                       [--db-max-bytes BYTES] [--curve | --no-curve]\n"
        "                       [--engines local|ssh|mpi|slurm] [--hosts FILE]\n"
        "                       [--partition P] [--time T] [--slurm-option OPT]...\n"
        "                       [--broadcast-depth N] [--engine-policy batch|normal]\n"
        "       ipcluster engines [-n N | --engines ssh --hosts FILE] [--profile NAME]\n"
        "                         [--timeout S]\n"
        "       ipcluster stop [--profile NAME]\n"
        "       ipcluster status [--profile NAME] [--json]\n"
        "\n"
        "start    runs a hub, a scheduler and N engines (default: one per CPU) and\n"
        "         waits until every engine registered; --daemonize returns then and\n"
        "         leaves a supervisor running, otherwise Ctrl-C stops the cluster\n"
        "         --db says where the hub keeps task records: in memory (the newest\n"
        "         --db-max-records, default 100000) or in an SQLite file, kept across\n"
        "         restarts of the hub and of the cluster\n"
        "         --engines ssh --hosts FILE starts the engines on other hosts through\n"
        "         ssh (FILE: \"host [engines]\" a line); give --ip an address they reach;\n"
        "         --engines mpi starts the N engines as one job of OpenMPI's mpiexec;\n"
        "         --engines slurm submits them as one Slurm job (sbatch; ipcluster stop\n"
        "         cancels it), with --partition, --time and any #SBATCH --slurm-option\n"
        "         --curve encrypts every link with CurveZMQ (the default when --ip is\n"
        "         not a loopback address; --no-curve turns it off)\n"
        "         --broadcast-depth N: levels of broadcast nodes below the root\n"
        "         (0-4, default 1), each halving the engines one thread serves\n"
        "         --engine-policy: engines run under SCHED_BATCH (batch, the default:\n"
        "         they do not preempt the hub, scheduler or clients when they wake) or\n"
        "         the default policy (normal)\n"
        "engines  adds engines to the cluster running in the profile (here, or on\n"
        "         the hosts of FILE), supervised by its ipcluster, and waits until\n"
        "         they registered\n"
        "stop     stops every process of the profile, by pid\n"
        "status   says which processes of the profile run and how many engines\n"
        "\n"
        "Profiles live in $ZPAR_DIR (default ~/.zpar)/profile_NAME; logs in its log/.\n");
}

static char *
s_path (s_cluster_t *self, const char *folder, const char *name, const char *suffix)
{
    char file [96];
    snprintf (file, sizeof file, "%s%s", name, suffix);
    return zpar_profile_path (self->profile, folder, file);
}

//  Tells the parent waiting in `ipcluster start --daemonize` how it went
//  (or the terminal, in the foreground).
static void
s_tell (s_cluster_t *self, const char *line)
{
    if (self->report_fd >= 0) {
        if (write (self->report_fd, line, strlen (line)) < 0)
            zpar_warn ("could not report to the starting command");
        close (self->report_fd);
        self->report_fd = -1;
    }
    else
    if (strncmp (line, "error: ", 7) == 0)
        fprintf (stderr, "ipcluster: %s", line + 7);
    else
        fputs (strncmp (line, "ok: ", 4) == 0? line + 4: line, stdout);
    fflush (stdout);
}

//  Success is told at once; a failure is kept and told after everything
//  stopped, so whoever waits on `ipcluster start` finds no process left.
static void
s_report (s_cluster_t *self, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_report (s_cluster_t *self, const char *format, ...)
{
    char line [1024];
    va_list args;
    va_start (args, format);
    vsnprintf (line, sizeof line, format, args);
    va_end (args);
    if (strncmp (line, "error", 5) != 0)
        s_tell (self, line);
    else
    if (!*self->failure)
        snprintf (self->failure, sizeof self->failure, "%s", line);
}

static s_child_t *
s_find (s_cluster_t *self, pid_t pid)
{
    for (size_t i = 0; i < self->count; i++)
        if (self->children [i].pid == pid)
            return &self->children [i];
    return NULL;
}

static void
s_describe_exit (int status, char *text, size_t size)
{
    if (WIFSIGNALED (status)) {
        const char *name = sigabbrev_np (WTERMSIG (status));
        snprintf (text, size, "killed by SIG%s, signal %d: %s", name? name: "?", WTERMSIG (status),
                  strsignal (WTERMSIG (status)));
    }
    else
    if (WEXITSTATUS (status) == ZPAR_ENGINE_EXIT_FORGOTTEN)
        snprintf (text, size, ZPAR_EXIT_BY_ITSELF ": the hub had declared it dead");
    else
    if (WEXITSTATUS (status) == ZPAR_ENGINE_EXIT_WALLTIME)
        snprintf (text, size, ZPAR_EXIT_BY_ITSELF ": a call ran past its walltime");
    else
        snprintf (text, size, "exited with status %d", WEXITSTATUS (status));
}

//  Collects every child that ended; returns how many.
static int
s_reap (s_cluster_t *self)
{
    int reaped = 0, status;
    pid_t pid;
    while ((pid = waitpid (-1, &status, WNOHANG)) > 0) {
        s_child_t *child = s_find (self, pid);
        if (!child)
            continue;
        child->running = false;
        child->status = status;
        char how [96];
        s_describe_exit (status, how, sizeof how);
        zpar_info ("%s (pid %d) %s", child->name, (int) pid, how);
        char *pidfile = s_path (self, "pid", child->name, ".pid");
        unlink (pidfile);
        free (pidfile);
        reaped++;
    }
    return reaped;
}

//  Reads pending signals. Returns the last terminating signal seen
//  (SIGTERM, SIGINT, SIGHUP), or 0; reaps children on SIGCHLD.
static int
s_signals (s_cluster_t *self)
{
    struct signalfd_siginfo info;
    int stop = 0;
    while (read (self->sigfd, &info, sizeof info) == sizeof info) {
        if (info.ssi_signo == SIGCHLD)
            s_reap (self);
        else
        if (info.ssi_signo == SIGUSR1)
            self->add_asked = true;
        else
            stop = (int) info.ssi_signo;
    }
    s_reap (self);
    //  Kept: a stop that came while a daemon was started again is still
    //  seen by the supervision loop.
    if (stop)
        self->stop_signal = stop;
    return self->stop_signal;
}

static pid_t
s_spawn (s_cluster_t *self, s_child_t *child, char **argv, int ready_fd)
{
    char *log = s_path (self, "log", child->name, ".log");
    pid_t pid = zpar_launch_spawn (argv, log, ready_fd);
    free (log);
    if (pid < 0)
        return -1;
    child->pid = pid;
    child->running = true;
    char *pidfile = s_path (self, "pid", child->name, ".pid");
    //  The child may not have exec'ed yet: its start time is already set.
    zpar_pidfile_write (pidfile, pid);
    free (pidfile);
    return pid;
}

//  Starts a daemon that writes "ready" on fd 3 and waits for it.
static int
s_start_daemon (s_cluster_t *self, s_child_t *child, char **argv)
{
    int fds [2];
    if (pipe2 (fds, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = s_spawn (self, child, argv, fds [1]);
    close (fds [1]);
    if (pid < 0) {
        close (fds [0]);
        return -1;
    }
    int64_t deadline = zpar_mono_ms () + self->options->timeout_s * 1000;
    int rc = -1;
    while (true) {
        struct pollfd items [] = {
            { .fd = fds [0], .events = POLLIN }, { .fd = self->sigfd, .events = POLLIN }
        };
        int64_t left = deadline - zpar_mono_ms ();
        if (left <= 0 || poll (items, 2, (int) left) <= 0)
            break;
        if (items [1].revents && s_signals (self))
            break;
        if (items [0].revents) {
            char text [16] = "";
            ssize_t size = read (fds [0], text, sizeof text - 1);
            rc = size > 0 && strncmp (text, "ready", 5) == 0? 0: -1;
            break;
        }
        if (!child->running)
            break;
    }
    close (fds [0]);
    return rc;
}

static void
s_add_arg (char **argv, size_t *count, const char *value)
{
    argv [(*count)++] = (char *) value;
    argv [*count] = NULL;
}

//  SIGTERM to every running child in [from, to), then wait; SIGKILL what
//  is left after the grace period.
static void
s_stop_range (s_cluster_t *self, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (self->children [i].running)
            kill (self->children [i].pid, SIGTERM);
    int64_t deadline = zpar_mono_ms () + S_GRACE_MS;
    while (true) {
        bool any = false;
        for (size_t i = from; i < to; i++)
            any |= self->children [i].running;
        int64_t left = deadline - zpar_mono_ms ();
        if (!any)
            return;
        if (left <= 0)
            break;
        struct pollfd item = { .fd = self->sigfd, .events = POLLIN };
        if (poll (&item, 1, (int) left) > 0)
            s_signals (self);
    }
    for (size_t i = from; i < to; i++)
        if (self->children [i].running) {
            zpar_warn ("%s (pid %d) did not stop; killing it", self->children [i].name,
                       (int) self->children [i].pid);
            kill (self->children [i].pid, SIGKILL);
        }
    for (size_t i = from; i < to; i++)
        while (self->children [i].running) {
            struct pollfd item = { .fd = self->sigfd, .events = POLLIN };
            if (poll (&item, 1, S_GRACE_MS) <= 0)
                break;
            s_signals (self);
        }
}

//  Engines first, so they say goodbye to a hub that is still there.
//  The job of the engines, and the file that names it (for an ipcluster
//  stop after the supervisor was killed).
static void
s_cancel_slurm (zpar_profile_t *profile, long job)
{
    char *path = zpar_profile_path (profile, "pid", "slurm.job");
    FILE *file = job? NULL: fopen (path, "r");
    if (file) {
        if (fscanf (file, "%ld", &job) != 1)
            job = 0;
        fclose (file);
    }
    if (job > 0 && zpar_slurm_cancel (job) == 0)
        zpar_info ("Slurm job %ld cancelled", job);
    unlink (path);
    free (path);
}

static void
s_stop_all (s_cluster_t *self)
{
    if (self->slurm_job)
        s_cancel_slurm (self->profile, self->slurm_job);
    self->slurm_job = 0;
    s_stop_range (self, 2, self->count);
    s_stop_range (self, 1, 2);
    s_stop_range (self, 0, 1);
    const char *files [] = { "pid/ipcluster.pid", "security/" ZPAR_CONNFILE_CLIENT,
                             "security/" ZPAR_CONNFILE_ENGINE };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path [4096];
        snprintf (path, sizeof path, "%s/%s", zpar_profile_dir (self->profile), files [i]);
        //  A hub that stopped cleanly removed its connection files already.
        unlink (path);
    }
}

static int
s_wait_engines (s_cluster_t *self, int64_t started)
{
    zpar_client_t *client = zpar_client_new (self->options->profile_name);
    if (!client) {
        s_report (self, "error: the hub does not answer: %s\n", zpar_last_error ());
        return -1;
    }
    int64_t deadline = zpar_mono_ms () + self->options->timeout_s * 1000;
    int rc = -1;
    while (true) {
        if (zpar_client_wait_for_engines (client, (size_t) self->options->engines, S_SLICE_MS) == 0) {
            rc = 0;
            break;
        }
        int stop = s_signals (self);
        const char *dead = NULL;
        for (size_t i = 0; i < self->count && !dead; i++)
            if (!self->children [i].running)
                dead = self->children [i].name;
        if (stop || dead) {
            if (dead)
                s_report (self, "error: %s ended during start-up; see %s/log/%s.log\n", dead,
                          zpar_profile_dir (self->profile), dead);
            else
                s_report (self, "error: interrupted during start-up\n");
            break;
        }
        if (zpar_mono_ms () >= deadline) {
            json_t *ids = zpar_client_ids (client);
            s_report (self, "error: only %zu of %ld engines registered within %ld s; see %s/log/\n",
                      json_array_size (ids), self->options->engines, self->options->timeout_s,
                      zpar_profile_dir (self->profile));
            json_decref (ids);
            break;
        }
    }
    zpar_client_destroy (&client);
    if (rc == 0)
        s_report (self, "ok: started %ld engine%s in %.2f s (profile %s); stop with: ipcluster stop%s%s\n",
                  self->options->engines, self->options->engines == 1? "": "s",
                  (zpar_mono_ms () - started) / 1000.0,
                  zpar_profile_name (self->profile),
                  self->options->profile_name? " --profile ": "",
                  self->options->profile_name? self->options->profile_name: "");
    return rc;
}

//  All the engines as one MPI job: `mpiexec -n N zpar-engine ...`, one
//  child of the supervisor (stopped, and started again, as a whole). Each
//  engine takes the next free id; engine_info says its MPI rank.
static pid_t
s_spawn_mpi (s_cluster_t *self, s_child_t *child)
{
    char count [24];
    snprintf (count, sizeof count, "%ld", self->options->engines);
    const char *mpiexec = getenv ("ZPAR_MPIEXEC");
    char *argv [self->engine_argc + 8];
    size_t argc = 0;
    s_add_arg (argv, &argc, mpiexec && *mpiexec? mpiexec: "mpiexec");
    s_add_arg (argv, &argc, "-n");
    s_add_arg (argv, &argc, count);
    //  Engines wait for messages, they do not compute between them: more
    //  of them than cores is fine. OpenMPI refuses root unless told.
    s_add_arg (argv, &argc, "--oversubscribe");
    if (geteuid () == 0)
        s_add_arg (argv, &argc, "--allow-run-as-root");
    for (size_t i = 0; i < self->engine_argc; i++)
        s_add_arg (argv, &argc, self->engine_argv [i]);
    child->reported = true;             //  no one engine to report
    child->restart_at = 0;
    child->started_ms = zpar_mono_ms ();
    return s_spawn (self, child, argv, -1);
}

//  Starts the engine of a slot, asking for the slot's id (engine-3 is
//  engine 3, restarted or not) and saying how often it was restarted.
static pid_t
s_spawn_engine (s_cluster_t *self, s_child_t *child)
{
    char id [24], restarts [24];
    snprintf (id, sizeof id, "%ld", (long) (child - self->children) - 2);
    snprintf (restarts, sizeof restarts, "%d", child->restarts);
    char *uuid = zpar_new_uuid ();
    snprintf (child->uuid, sizeof child->uuid, "%s", uuid);
    free (uuid);
    if (child->mpi_job)
        return s_spawn_mpi (self, child);
    char *argv [self->engine_argc + 7];
    memcpy (argv, self->engine_argv, self->engine_argc * sizeof *argv);
    size_t argc = self->engine_argc;
    s_add_arg (argv, &argc, "--id");
    s_add_arg (argv, &argc, id);
    s_add_arg (argv, &argc, "--restarts");
    s_add_arg (argv, &argc, restarts);
    s_add_arg (argv, &argc, "--uuid");
    s_add_arg (argv, &argc, child->uuid);
    child->reported = false;
    child->restart_at = 0;
    child->started_ms = zpar_mono_ms ();
    if (!child->host)
        return s_spawn (self, child, argv, -1);
    //  On another host: ssh runs it there, in the foreground, on a
    //  terminal of its own (-tt), so that when ssh ends (stopped, or its
    //  connection lost) the engine gets SIGHUP and ends too. Supervised
    //  like a local one through its ssh.
    char *command = NULL;
    size_t size = 0;
    FILE *text = open_memstream (&command, &size);
    const char *engine = getenv ("ZPAR_REMOTE_ENGINE");
    const char *words [argc + 3];
    size_t count = 0;
    words [count++] = engine && *engine? engine: argv [0];
    words [count++] = "--file";
    words [count++] = self->remote_connfile;
    for (size_t i = 3; i < argc; i++)       //  what follows --profile NAME
        words [count++] = argv [i];
    fprintf (text, "exec");
    for (size_t i = 0; i < count; i++) {
        char *quoted = zpar_shell_quote (words [i]);
        fprintf (text, " %s", quoted);
        free (quoted);
    }
    fclose (text);
    const char *extra [] = { "-tt", NULL };
    char **ssh = zpar_ssh_argv (child->host, command, extra);
    int rc = s_spawn (self, child, ssh, -1);
    free (ssh);
    free (command);
    return rc;
}

//  Decides what follows an engine's end: a restart after a pause, or
//  nothing once the slot used its restarts (or for a clean exit).
static void
s_plan_restart (s_cluster_t *self, s_child_t *child, bool clean)
{
    if (clean || child->restart_at)
        return;
    //  An engine that ended itself on purpose is no crash: its row starts
    //  again (and so does its pause).
    bool on_purpose = WIFEXITED (child->status)
                   && (WEXITSTATUS (child->status) == ZPAR_ENGINE_EXIT_FORGOTTEN
                       || WEXITSTATUS (child->status) == ZPAR_ENGINE_EXIT_WALLTIME);
    if (on_purpose || zpar_mono_ms () - child->started_ms >= S_RESTART_STABLE_MS)
        child->streak = 0;
    if (child->streak >= self->options->restart_limit) {
        if (self->options->restart_limit)
            zpar_warn ("%s is not started again: it died %d times in a row soon after starting "
                       "(--restart-limit)", child->name, child->streak + 1);
        child->restart_at = -1;
        return;
    }
    int64_t pause = S_RESTART_FIRST_MS;
    for (int i = 0; i < child->streak && pause < S_RESTART_MAX_MS; i++)
        pause *= 2;
    pause = pause < S_RESTART_MAX_MS? pause: S_RESTART_MAX_MS;
    child->streak++;
    child->restart_at = zpar_mono_ms () + pause;
    zpar_info ("%s starts again in %.1f s (restart %d in a row, at most %ld)", child->name,
               pause / 1000.0, child->streak, self->options->restart_limit);
}

//  Tells the hub that an engine's process ended and how: its tasks then
//  fail (or run again elsewhere) at once, naming the signal, instead of
//  after the missed heartbeats. The same for the scheduler: its clients
//  fail what was inside it. Sent without waiting for the answer, so
//  that the supervisor is never held up; the hub's answers are read and
//  dropped here. The connection is made on first use.
static void
s_report_exit (s_cluster_t *self, s_child_t *child)
{
    child->reported = true;
    //  An engine on another host: its pid and its supervisor's are not
    //  the same; the hub sees it go by its heartbeats.
    if (child->host)
        return;
    if (!self->hub) {
        char *path = zpar_profile_path (self->profile, "security", ZPAR_CONNFILE_CLIENT);
        char *error = NULL;
        zpar_connfile_t *conn = zpar_connfile_load (path, &error);
        free (path);
        self->hub_signer = conn? zpar_sign_new (conn->key, 0): NULL;
        zpar_curve_t keys = { 0 }, *curve = NULL;
        if (conn && conn->curve_serverkey && zpar_curve_for_peer (conn->curve_serverkey, &keys) == 0)
            curve = &keys;
        self->hub = self->hub_signer? zpar_connect_curve (ZMQ_DEALER, conn->registration, NULL, 0, curve): NULL;
        if (!self->hub)
            zpar_warn ("cannot tell the hub of engine ends: %s", error? error: "no connection");
        zpar_connfile_destroy (&conn);
        free (error);
        self->hub_session = zpar_new_uuid ();
    }
    if (!self->hub)
        return;
    zmsg_t *answer;
    zsock_set_rcvtimeo (self->hub, 0);
    while ((answer = zmsg_recv (self->hub)))
        zmsg_destroy (&answer);
    char how [96];
    s_describe_exit (child->status, how, sizeof how);
    bool scheduler = child == &self->children [1];
    zpar_msg_t *msg = zpar_msg_new (scheduler? "scheduler_exit_request": "engine_exit_request",
                                    self->hub_session);
    if (scheduler)
        zpar_msg_set_content (msg, json_pack ("{s:I, s:s}", "pid", (json_int_t) child->pid, "how", how));
    else
        zpar_msg_set_content (msg, json_pack ("{s:s, s:I, s:s, s:s}", "uuid", child->uuid,
                                              "pid", (json_int_t) child->pid, "host", zpar_hostname (),
                                              "how", how));
    if (zpar_msg_send (&msg, self->hub, self->hub_signer) != 0)
        zpar_warn ("could not tell the hub of %s's end", child->name);
}

//  Until a signal, or until the hub or the scheduler ends.
//  Every engine as one Slurm job (sbatch), its script and log in the
//  profile. The job is not a child: the hub sees engines come and go, and
//  stopping the cluster cancels it.
static int
s_submit_slurm (s_cluster_t *self)
{
    s_options_t *options = self->options;
    char *dir = zpar_profile_path (self->profile, "slurm", NULL);
    mkdir (dir, 0700);
    free (dir);
    char *script = zpar_profile_path (self->profile, "slurm", "engines.sbatch");
    char *output = zpar_profile_path (self->profile, "log", "slurm-%j.log");
    char *connfile = zpar_profile_path (self->profile, "security", ZPAR_CONNFILE_ENGINE);
    char name [128];
    snprintf (name, sizeof name, "zpar-%s", zpar_profile_name (self->profile));
    //  The engine's own options after the program: --profile NAME becomes
    //  --file (the job may run where $ZPAR_DIR is not set).
    const char *engine_argv [self->engine_argc + 4];
    size_t argc = 0;
    engine_argv [argc++] = self->engine_argv [0];
    engine_argv [argc++] = "--file";
    engine_argv [argc++] = connfile;
    for (size_t i = 3; i < self->engine_argc; i++)
        engine_argv [argc++] = self->engine_argv [i];
    engine_argv [argc] = NULL;
    zpar_slurm_job_t job = {
        .name = name, .engines = options->engines, .output = output,
        .partition = options->partition, .time = options->time_limit,
        .extra = options->slurm_options, .nextra = options->nslurm_options,
        .engine_argv = engine_argv
    };
    char *error = NULL;
    long id = zpar_slurm_script (script, &job) == 0? zpar_slurm_submit (script, &error): -1;
    if (id > 0) {
        self->slurm_job = id;
        char *path = zpar_profile_path (self->profile, "pid", "slurm.job");
        FILE *file = fopen (path, "w");
        if (file) {
            fprintf (file, "%ld\n", id);
            fclose (file);
        }
        free (path);
        zpar_info ("Slurm job %ld submitted: %ld engines (%s)", id, options->engines, script);
    }
    else
        s_report (self, "error: %s\n", error? error: "cannot write the Slurm batch script");
    free (error);
    free (script);
    free (output);
    free (connfile);
    return id > 0? 0: -1;
}

//  Copies the engine connection file to host, once a host. 0 or -1.
static int
s_copy_to (s_cluster_t *self, const char *host)
{
    if (!self->remote_connfile)
        self->remote_connfile = zpar_remote_path (zpar_profile_name (self->profile));
    char *local = zpar_profile_path (self->profile, "security", ZPAR_CONNFILE_ENGINE);
    char *error = NULL;
    int rc = zpar_ssh_copy (host, local, self->remote_connfile, &error);
    if (rc == 0)
        zpar_info ("connection file copied to %s:%s", host, self->remote_connfile);
    else
        zpar_error ("%s", error);
    free (error);
    free (local);
    return rc;
}

//  Engines `ipcluster engines` asked for, in pid/add-*.json: {"engines": N}
//  here, or {"hosts": [{"host", "engines"}]} through ssh. New slots,
//  numbered on from the last, supervised like the others.
static void
s_take_requests (s_cluster_t *self)
{
    char *dir_path = zpar_profile_path (self->profile, "pid", NULL);
    DIR *dir = opendir (dir_path);
    for (struct dirent *entry = dir? readdir (dir): NULL; entry; entry = readdir (dir)) {
        if (strncmp (entry->d_name, "add-", 4) != 0 || !strstr (entry->d_name, ".json"))
            continue;
        char path [4096];
        snprintf (path, sizeof path, "%s/%s", dir_path, entry->d_name);
        json_t *request = json_load_file (path, 0, NULL);
        unlink (path);
        json_t *hosts = json_object_get (request, "hosts");
        size_t i, added = 0, first = self->count;
        json_t *host;
        json_int_t local = json_integer_value (json_object_get (request, "engines"));
        size_t wanted = hosts? 0: (size_t) (local > 0 && local <= S_MAX_ENGINES? local: 0);
        json_array_foreach (hosts, i, host)
            wanted += (size_t) json_integer_value (json_object_get (host, "engines"));
        if (!wanted || self->count + wanted > 2 + S_MAX_ENGINES) {
            zpar_warn ("%s asks for no engines, or too many: ignored", entry->d_name);
            json_decref (request);
            continue;
        }
        s_child_t *grown = realloc (self->children, (self->count + wanted) * sizeof *grown);
        if (!grown) {
            json_decref (request);
            continue;
        }
        self->children = grown;
        memset (self->children + self->count, 0, wanted * sizeof *grown);
        self->count += wanted;
        size_t slot = first;
        json_array_foreach (hosts, i, host) {
            const char *name = json_string_value (json_object_get (host, "host"));
            json_int_t count = json_integer_value (json_object_get (host, "engines"));
            if (!name || s_copy_to (self, name) != 0)
                continue;
            self->owned_hosts = realloc (self->owned_hosts, (self->nowned + 1) * sizeof (char *));
            char *owned = self->owned_hosts [self->nowned++] = strdup (name);
            for (json_int_t k = 0; k < count; k++)
                self->children [slot++].host = owned;
        }
        if (!hosts)
            slot = self->count;
        for (size_t c = first; c < self->count; c++) {
            s_child_t *child = &self->children [c];
            snprintf (child->name, sizeof child->name, "engine-%zu", c - 2);
            if (c >= slot)
                child->restart_at = -1;         //  its host could not be reached
            else
            if (s_spawn_engine (self, child) > 0)
                added++;
        }
        zpar_info ("%zu engines added (%s)", added, entry->d_name);
        json_decref (request);
    }
    if (dir)
        closedir (dir);
    free (dir_path);
}

static int
s_supervise (s_cluster_t *self)
{
    while (true) {
        //  Wake for a signal, or for the next engine due to start again.
        int64_t due = INT64_MAX;
        for (size_t i = 0; i < self->count; i++)
            if (self->children [i].restart_at > 0 && self->children [i].restart_at < due
            &&  (i == 0 || self->children [0].running))
                due = self->children [i].restart_at;
        int64_t wait = due == INT64_MAX? -1: due - zpar_mono_ms ();
        struct pollfd item = { .fd = self->sigfd, .events = POLLIN };
        if (poll (&item, 1, wait < 0? (due == INT64_MAX? -1: 0): (int) wait) < 0 && errno != EINTR)
            return 1;
        int stop = s_signals (self);
        if (stop) {
            zpar_info ("signal %d: stopping the cluster", stop);
            return 0;
        }
        if (self->add_asked) {
            self->add_asked = false;
            s_take_requests (self);
        }
        //  An engine that exits 0 said goodbye itself; any other end is news,
        //  and the slot starts again after a pause.
        for (size_t i = 2; i < self->count && self->children [0].running; i++) {
            s_child_t *engine = &self->children [i];
            if (engine->running)
                continue;
            bool clean = WIFEXITED (engine->status) && WEXITSTATUS (engine->status) == 0;
            if (!engine->reported && !clean)
                s_report_exit (self, engine);
            s_plan_restart (self, engine, clean);
            if (engine->restart_at > 0 && zpar_mono_ms () >= engine->restart_at) {
                engine->restarts++;
                if (s_spawn_engine (self, engine) < 0) {
                    zpar_warn ("cannot start %s again: %s", engine->name, strerror (errno));
                    engine->restart_at = -1;
                }
                else
                    zpar_info ("%s started again (pid %d, restart %d)", engine->name,
                               (int) engine->pid, engine->restarts);
            }
        }
        //  The hub and the scheduler: a shutdown stops the cluster; a
        //  crash starts them again (a hub takes up its ports and key, a
        //  scheduler its ports), with the engines' pauses and limit.
        for (size_t i = 0; i < 2; i++) {
            s_child_t *daemon = &self->children [i];
            if (daemon->running)
                continue;
            bool clean = WIFEXITED (daemon->status) && WEXITSTATUS (daemon->status) == 0;
            if (!daemon->restart_at)
                zpar_warn ("the %s (pid %d) ended %s", daemon->name, (int) daemon->pid,
                           clean? "(shutdown)": "unexpectedly");
            if (i == 1 && !clean && !daemon->reported && self->children [0].running)
                s_report_exit (self, daemon);
            s_plan_restart (self, daemon, clean);
            if (clean || daemon->restart_at < 0) {
                zpar_info ("stopping the cluster");
                return clean? 0: 1;
            }
            //  A scheduler registers with the hub before it is ready: the
            //  hub goes first when both ended.
            if (zpar_mono_ms () < daemon->restart_at || (i == 1 && !self->children [0].running))
                continue;
            daemon->restarts++;
            daemon->restart_at = 0;
            daemon->reported = false;
            daemon->started_ms = zpar_mono_ms ();
            //  Not waited for: the supervisor must go on watching the
            //  others (a scheduler waits for a hub that the supervisor may
            //  have to start again meanwhile). One that dies is news as
            //  before.
            if (s_spawn (self, daemon, self->daemon_argv [i], -1) > 0)
                zpar_info ("%s started again (pid %d, restart %d)", daemon->name,
                           (int) daemon->pid, daemon->restarts);
            else {
                zpar_warn ("cannot start the %s again: %s", daemon->name, strerror (errno));
                s_plan_restart (self, daemon, false);
            }
        }
    }
}

//  The parent of --daemonize waits for the supervisor's word, then leaves.
static int
s_await_supervisor (int fd)
{
    char line [1024];
    ssize_t size = 0, got;
    while (size < (ssize_t) sizeof line - 1
       &&  (got = read (fd, line + size, sizeof line - 1 - (size_t) size)) > 0)
        size += got;
    line [size > 0? size: 0] = 0;
    if (strncmp (line, "ok: ", 4) == 0) {
        fputs (line + 4, stdout);
        return 0;
    }
    fprintf (stderr, "ipcluster: %s", size > 0? line + (strncmp (line, "error: ", 7) == 0? 7: 0)
             : "the supervisor ended before the cluster was ready\n");
    return 1;
}


//  CurveZMQ unless told otherwise: whenever the cluster binds anything
//  but loopback, what crosses the network is encrypted.
static bool
s_curve_wanted (const s_options_t *options)
{
    if (options->curve >= 0)
        return options->curve == 1;
    return strncmp (options->ip, "127.", 4) != 0 && strcmp (options->ip, "localhost") != 0;
}

//  The message of the last error line in log/NAME.log (caller frees), or
//  NULL: what to tell the user when a daemon did not start.
static char *
s_last_error (zpar_profile_t *profile, const char *name)
{
    char file [64];
    snprintf (file, sizeof file, "%s.log", name);
    char *path = zpar_profile_path (profile, "log", file);
    FILE *log = fopen (path, "r");
    free (path);
    if (!log)
        return NULL;
    char line [1024], *found = NULL;
    while (fgets (line, sizeof line, log)) {
        //  "DATE E name: message"
        char *level = strchr (line, ' ');
        char *message = level? strstr (level, ": "): NULL;
        if (level && strncmp (level, " E ", 3) == 0 && message) {
            free (found);
            found = strdup (message + 2);
            found [strcspn (found, "\n")] = 0;
        }
    }
    fclose (log);
    return found;
}

static int
s_start (s_options_t *options)
{
    char *error = NULL;
    zpar_profile_t *profile = zpar_profile_new (options->profile_name, true, &error);
    if (!profile) {
        fprintf (stderr, "ipcluster: %s\n", error);
        free (error);
        return 1;
    }
    char *supervisor_pid = zpar_profile_path (profile, "pid", "ipcluster.pid");
    //  One supervisor per profile: it holds this lock for its whole life
    //  (the fd is inherited across --daemonize, closed in the daemons), so
    //  two starts at once cannot both get past here.
    char *lock_path = zpar_profile_path (profile, "pid", "ipcluster.lock");
    int lock_fd = open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    free (lock_path);
    pid_t running = 0;
    if (lock_fd < 0 || flock (lock_fd, LOCK_EX | LOCK_NB) != 0) {
        zpar_pidfile_alive (supervisor_pid, &running);
        fprintf (stderr, "ipcluster: a cluster is already running in profile %s (pid %d); "
                 "stop it with: ipcluster stop --profile %s\n",
                 zpar_profile_name (profile), (int) running, zpar_profile_name (profile));
        if (lock_fd >= 0)
            close (lock_fd);
        free (supervisor_pid);
        zpar_profile_destroy (&profile);
        return 1;
    }
    //  A hub started by hand serves this profile: leave it be. (One named
    //  in pid/ is a leftover of a killed supervisor, stopped below.)
    char *connfile = zpar_profile_path (profile, "security", ZPAR_CONNFILE_CLIENT);
    char *hub_pidfile = zpar_profile_path (profile, "pid", "hub.pid");
    zpar_connfile_t *serving = zpar_connfile_load (connfile, NULL);
    pid_t leftover = 0;
    int64_t leftover_start;
    if (zpar_pidfile_read (hub_pidfile, &leftover, &leftover_start) != 0)
        leftover = 0;
    free (connfile);
    free (hub_pidfile);
    if (serving && serving->hub_pid != leftover && zpar_process_named (serving->hub_pid, "zpar-hub")) {
        fprintf (stderr, "ipcluster: a hub (pid %lld) already serves profile %s; stop it with: "
                 "zpar --profile %s shutdown\n", (long long) serving->hub_pid,
                 zpar_profile_name (profile), zpar_profile_name (profile));
        zpar_connfile_destroy (&serving);
        close (lock_fd);
        free (supervisor_pid);
        zpar_profile_destroy (&profile);
        return 1;
    }
    zpar_connfile_destroy (&serving);
    //  Leftovers of a supervisor that was killed: stop them by their pids.
    char *pid_dir = zpar_profile_path (profile, "pid", NULL);
    DIR *dir = opendir (pid_dir);
    for (struct dirent *entry = dir? readdir (dir): NULL; entry; entry = readdir (dir))
        if (strstr (entry->d_name, ".pid")) {
            char path [4096];
            snprintf (path, sizeof path, "%s/%s", pid_dir, entry->d_name);
            if (zpar_pidfile_stop (path, S_GRACE_MS))
                fprintf (stderr, "ipcluster: stopped %s left over from an earlier run\n", entry->d_name);
        }
    if (dir)
        closedir (dir);
    free (pid_dir);
    //  A new cluster, with a new key and new ports: the files of a hub
    //  and scheduler that are gone would make them take those up.
    const char *stale [] = { ZPAR_CONNFILE_CLIENT, ZPAR_CONNFILE_ENGINE, ZPAR_SCHEDULER_PORTS,
                             ZPAR_CURVE_KEYS };
    for (size_t i = 0; i < sizeof stale / sizeof *stale; i++) {
        char *path = zpar_profile_path (profile, "security", stale [i]);
        unlink (path);
        free (path);
    }

    s_cluster_t cluster = { .options = options, .profile = profile, .report_fd = -1 }, *self = &cluster;
    int64_t started = zpar_mono_ms ();
    if (options->daemonize) {
        int fds [2];
        pid_t pid = pipe2 (fds, O_CLOEXEC) == 0? fork (): -1;
        if (pid != 0) {
            int rc = 1;
            if (pid > 0) {
                close (fds [1]);
                rc = s_await_supervisor (fds [0]);
                close (fds [0]);
            }
            close (lock_fd);            //  the supervisor keeps its own
            free (supervisor_pid);
            zpar_profile_destroy (&profile);
            return rc;
        }
        close (fds [0]);
        self->report_fd = fds [1];
        setsid ();
        char *log = zpar_profile_path (profile, "log", "ipcluster.log");
        int log_fd = open (log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        int null_fd = open ("/dev/null", O_RDONLY);
        free (log);
        if (log_fd >= 0 && null_fd >= 0) {
            dup2 (null_fd, 0);
            dup2 (log_fd, 1);
            dup2 (log_fd, 2);
        }
        if (log_fd > 2)
            close (log_fd);
        if (null_fd > 2)
            close (null_fd);
    }
    zpar_log_set_name ("ipcluster");
    zpar_pidfile_write (supervisor_pid, getpid ());

    sigset_t signals;
    sigemptyset (&signals);
    sigaddset (&signals, SIGCHLD);
    sigaddset (&signals, SIGTERM);
    sigaddset (&signals, SIGINT);
    sigaddset (&signals, SIGHUP);
    sigaddset (&signals, SIGUSR1);
    sigprocmask (SIG_BLOCK, &signals, NULL);
    signal (SIGPIPE, SIG_IGN);
    self->sigfd = signalfd (-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);

    self->mpi = options->launcher && !strcmp (options->launcher, "mpi");
    bool slurm = options->launcher && !strcmp (options->launcher, "slurm");
    self->count = 2 + (slurm? 0: self->mpi? 1: (size_t) options->engines);
    self->children = calloc (self->count, sizeof *self->children);
    snprintf (self->children [0].name, sizeof self->children [0].name, "hub");
    snprintf (self->children [1].name, sizeof self->children [1].name, "scheduler");
    for (size_t i = 2; i < self->count; i++)
        snprintf (self->children [i].name, sizeof self->children [i].name, "engine-%zu", i - 2);
    if (self->mpi) {
        snprintf (self->children [2].name, sizeof self->children [2].name, "mpiexec");
        self->children [2].mpi_job = true;
    }
    //  Engines on other hosts, in the order of the hosts file.
    for (size_t h = 0, i = 2; h < options->nhosts; h++)
        for (int k = 0; k < options->hosts [h].engines && i < self->count; k++)
            self->children [i++].host = options->hosts [h].host;

    char hub_path [4096], sched_path [4096], engine_path [4096];
    char period [24], liveness [24], max_size [24], hwm [24], poison [24], depth [24];
    snprintf (period, sizeof period, "%ld", options->hb_period);
    snprintf (liveness, sizeof liveness, "%ld", options->hb_liveness);
    snprintf (max_size, sizeof max_size, "%ld", options->max_size);
    snprintf (hwm, sizeof hwm, "%ld", options->hwm);
    snprintf (poison, sizeof poison, "%ld", options->poison_limit);
    snprintf (depth, sizeof depth, "%ld", options->broadcast_depth);
    const char *name = zpar_profile_name (profile);
    char *argv [64 + 2 * options->nplugins], *hub_argv [32], *sched_argv [32];
    self->daemon_argv [0] = hub_argv;
    self->daemon_argv [1] = sched_argv;
    size_t argc = 0;
    s_add_arg (argv, &argc, zpar_launch_find ("zpar-hub", hub_path, sizeof hub_path));
    s_add_arg (argv, &argc, "--profile");
    s_add_arg (argv, &argc, name);
    s_add_arg (argv, &argc, "--ip");
    s_add_arg (argv, &argc, options->ip);
    s_add_arg (argv, &argc, "--hb-period");
    s_add_arg (argv, &argc, period);
    s_add_arg (argv, &argc, "--hb-liveness");
    s_add_arg (argv, &argc, liveness);
    s_add_arg (argv, &argc, "--max-message-size");
    s_add_arg (argv, &argc, max_size);
    if (s_curve_wanted (options))
        s_add_arg (argv, &argc, "--curve");
    if (options->db) {
        s_add_arg (argv, &argc, "--db");
        s_add_arg (argv, &argc, options->db);
    }
    if (options->db_max_records) {
        s_add_arg (argv, &argc, "--db-max-records");
        s_add_arg (argv, &argc, options->db_max_records);
    }
    if (options->db_max_bytes) {
        s_add_arg (argv, &argc, "--db-max-bytes");
        s_add_arg (argv, &argc, options->db_max_bytes);
    }
    s_add_arg (argv, &argc, "--ready-fd");
    s_add_arg (argv, &argc, "3");
    //  Started again without --ready-fd (nobody waits for it then).
    memcpy (hub_argv, argv, (argc - 1) * sizeof *argv);
    hub_argv [argc - 2] = NULL;
    int rc = 1;
    if (s_start_daemon (self, &self->children [0], argv) != 0) {
        char *why = s_last_error (profile, "hub");
        s_report (self, "error: the hub did not start%s%s; see %s/log/hub.log\n", why? ": ": "",
                  why? why: "", zpar_profile_dir (profile));
        free (why);
        goto stop;
    }
    argc = 0;
    s_add_arg (argv, &argc, zpar_launch_find ("zpar-scheduler", sched_path, sizeof sched_path));
    s_add_arg (argv, &argc, "--profile");
    s_add_arg (argv, &argc, name);
    s_add_arg (argv, &argc, "--hwm");
    s_add_arg (argv, &argc, hwm);
    s_add_arg (argv, &argc, "--scheme");
    s_add_arg (argv, &argc, options->scheme);
    s_add_arg (argv, &argc, "--poison-limit");
    s_add_arg (argv, &argc, poison);
    s_add_arg (argv, &argc, "--broadcast-depth");
    s_add_arg (argv, &argc, depth);
    s_add_arg (argv, &argc, "--ready-fd");
    s_add_arg (argv, &argc, "3");
    memcpy (sched_argv, argv, (argc - 1) * sizeof *argv);
    sched_argv [argc - 2] = NULL;
    if (s_start_daemon (self, &self->children [1], argv) != 0) {
        s_report (self, "error: the scheduler did not start; see %s/log/scheduler.log\n",
                  zpar_profile_dir (profile));
        goto stop;
    }
    argc = 0;
    s_add_arg (argv, &argc, zpar_launch_find ("zpar-engine", engine_path, sizeof engine_path));
    s_add_arg (argv, &argc, "--profile");
    s_add_arg (argv, &argc, name);
    for (size_t i = 0; i < options->nplugins; i++) {
        s_add_arg (argv, &argc, "--load");
        s_add_arg (argv, &argc, options->plugins [i]);
    }
    if (options->engine_policy) {
        s_add_arg (argv, &argc, "--policy");
        s_add_arg (argv, &argc, options->engine_policy);
    }
    self->engine_argv = argv;
    self->engine_argc = argc;
    //  Engines on other hosts get the engine connection file first.
    if (options->nhosts) {
        char *local = zpar_profile_path (profile, "security", ZPAR_CONNFILE_ENGINE);
        self->remote_connfile = zpar_remote_path (name);
        char *error = NULL;
        for (size_t h = 0; h < options->nhosts && !error; h++)
            if (zpar_ssh_copy (options->hosts [h].host, local, self->remote_connfile, &error) == 0)
                zpar_info ("connection file copied to %s:%s", options->hosts [h].host, self->remote_connfile);
        free (local);
        if (error) {
            s_report (self, "error: %s\n", error);
            free (error);
            goto stop;
        }
    }
    for (size_t i = 2; i < self->count; i++)
        if (s_spawn_engine (self, &self->children [i]) < 0) {
            s_report (self, "error: cannot start %s: %s\n", argv [0], strerror (errno));
            goto stop;
        }
    if (slurm && s_submit_slurm (self) != 0)
        goto stop;
    if (s_wait_engines (self, started) != 0)
        goto stop;
    rc = s_supervise (self);
stop:
    s_stop_all (self);
    if (!*self->failure && self->report_fd >= 0)
        snprintf (self->failure, sizeof self->failure, "error: the cluster stopped during start-up\n");
    if (*self->failure)
        s_tell (self, self->failure);
    zpar_info ("cluster stopped");
    zsock_destroy (&self->hub);
    zpar_sign_destroy (&self->hub_signer);
    free (self->hub_session);
    free (self->remote_connfile);
    for (size_t i = 0; i < self->nowned; i++)
        free (self->owned_hosts [i]);
    free (self->owned_hosts);
    close (self->sigfd);
    close (lock_fd);
    free (self->children);
    free (supervisor_pid);
    zpar_profile_destroy (&profile);
    return rc;
}

//  The profile of a running cluster, or NULL after saying why.
static zpar_profile_t *
s_profile (s_options_t *options)
{
    char *error = NULL;
    zpar_profile_t *profile = zpar_profile_new (options->profile_name, false, &error);
    if (!profile)
        fprintf (stderr, "ipcluster: %s\n", error);
    free (error);
    return profile;
}

//  ipcluster engines: asks the supervisor of a running cluster for more
//  engines (a request file and SIGUSR1) and waits until they registered.
static int
s_engines (s_options_t *options)
{
    zpar_profile_t *profile = s_profile (options);
    if (!profile)
        return 1;
    int rc = 1;
    char *supervisor = zpar_profile_path (profile, "pid", "ipcluster.pid");
    char *connfile = zpar_profile_path (profile, "security", ZPAR_CONNFILE_CLIENT);
    zpar_connfile_t *conn = zpar_connfile_load (connfile, NULL);
    zpar_client_t *client = NULL;
    json_t *request = NULL, *ids = NULL;
    pid_t pid = 0;
    if (!zpar_pidfile_alive (supervisor, &pid) || !conn) {
        fprintf (stderr, "ipcluster: no cluster started by ipcluster is running in profile %s\n",
                 zpar_profile_name (profile));
        goto done;
    }
    if (options->nhosts && (!strncmp (conn->location, "127.", 4) || !strcmp (conn->location, "0.0.0.0"))) {
        fprintf (stderr, "ipcluster: the cluster of profile %s binds %s, which other hosts cannot "
                 "reach; start it with --ip ADDRESS\n", zpar_profile_name (profile), conn->location);
        rc = 2;
        goto done;
    }
    client = zpar_client_new (zpar_profile_name (profile));
    if (!client) {
        fprintf (stderr, "ipcluster: %s\n", zpar_last_error ());
        goto done;
    }
    ids = zpar_client_ids (client);
    size_t before = json_array_size (ids);
    request = options->nhosts? json_pack ("{s:[]}", "hosts"): json_pack ("{s:I}", "engines",
                                                                      (json_int_t) options->engines);
    for (size_t h = 0; h < options->nhosts; h++)
        json_array_append_new (json_object_get (request, "hosts"),
                               json_pack ("{s:s, s:i}", "host", options->hosts [h].host,
                                          "engines", options->hosts [h].engines));
    char name [64];
    snprintf (name, sizeof name, "add-%d.json", (int) getpid ());
    char *path = zpar_profile_path (profile, "pid", name);
    int saved = zpar_json_save (request, path);
    free (path);
    if (saved != 0 || kill (pid, SIGUSR1) != 0) {
        fprintf (stderr, "ipcluster: cannot ask the supervisor (pid %d): %s\n", (int) pid, strerror (errno));
        goto done;
    }
    size_t wanted = before + (size_t) options->engines;
    if (zpar_client_wait_for_engines (client, wanted, (int) options->timeout_s * 1000) != 0) {
        json_decref (ids);
        ids = zpar_client_ids (client);
        fprintf (stderr, "ipcluster: %zu of %ld engines registered within %ld s; see %s/log/\n",
                 json_array_size (ids) - before, options->engines, options->timeout_s,
                 zpar_profile_dir (profile));
        goto done;
    }
    printf ("added %ld engine%s (profile %s): %zu in all\n", options->engines,
            options->engines == 1? "": "s", zpar_profile_name (profile), wanted);
    rc = 0;
done:
    json_decref (request);
    json_decref (ids);
    zpar_client_destroy (&client);
    zpar_connfile_destroy (&conn);
    free (connfile);
    free (supervisor);
    zpar_profile_destroy (&profile);
    return rc;
}

static int
s_stop (s_options_t *options)
{
    zpar_profile_t *profile = s_profile (options);
    if (!profile)
        return 1;
    int stopped = 0;
    char *supervisor = zpar_profile_path (profile, "pid", "ipcluster.pid");
    pid_t pid;
    int64_t start;
    if (zpar_pidfile_read (supervisor, &pid, &start) == 0 && zpar_pidfile_alive (supervisor, &pid)) {
        //  The supervisor stops its children in order and removes their
        //  pid files; wait for it, then sweep whatever is left.
        int64_t now = zpar_pid_starttime (pid);
        kill (pid, SIGTERM);
        if (zpar_pid_wait_gone (pid, now, S_STOP_WAIT_MS) != 0) {
            fprintf (stderr, "ipcluster: the supervisor (pid %d) did not stop; killing it\n", (int) pid);
            kill (pid, SIGKILL);
            zpar_pid_wait_gone (pid, now, S_GRACE_MS);
        }
        stopped++;
    }
    unlink (supervisor);
    free (supervisor);
    //  A Slurm job of a supervisor that was killed.
    s_cancel_slurm (profile, 0);
    char *pid_dir = zpar_profile_path (profile, "pid", NULL);
    DIR *dir = opendir (pid_dir);
    for (struct dirent *entry = dir? readdir (dir): NULL; entry; entry = readdir (dir))
        if (strstr (entry->d_name, ".pid")) {
            char path [4096];
            snprintf (path, sizeof path, "%s/%s", pid_dir, entry->d_name);
            stopped += zpar_pidfile_stop (path, S_GRACE_MS);
        }
    if (dir)
        closedir (dir);
    free (pid_dir);
    //  Connection files of a hub that is gone; one started by hand and
    //  still serving keeps them (zpar shutdown stops it).
    const char *files [] = { ZPAR_CONNFILE_CLIENT, ZPAR_CONNFILE_ENGINE };
    for (size_t i = 0; i < 2; i++) {
        char *path = zpar_profile_path (profile, "security", files [i]);
        zpar_connfile_t *file = zpar_connfile_load (path, NULL);
        if (!file || !zpar_process_named (file->hub_pid, "zpar-hub"))
            unlink (path);
        zpar_connfile_destroy (&file);
        free (path);
    }
    int rc = 0;
    if (stopped)
        printf ("stopped the cluster of profile %s\n", zpar_profile_name (profile));
    else {
        fprintf (stderr, "ipcluster: no cluster is running in profile %s\n", zpar_profile_name (profile));
        rc = 1;
    }
    zpar_profile_destroy (&profile);
    return rc;
}

static int
s_compare_names (const void *a, const void *b)
{
    const char *x = json_string_value (json_object_get (*(json_t *const *) a, "name"));
    const char *y = json_string_value (json_object_get (*(json_t *const *) b, "name"));
    return strverscmp (x, y);
}

static int
s_status (s_options_t *options)
{
    char *error = NULL;
    zpar_profile_t *profile = zpar_profile_new (options->profile_name, false, &error);
    if (!profile) {
        if (options->as_json) {
            const char *name = options->profile_name? options->profile_name: getenv ("ZPAR_PROFILE");
            printf ("{\"profile\": \"%s\", \"running\": false, \"processes\": [], \"engines\": 0}\n",
                    name && zpar_profile_name_valid (name)? name: "default");
        }
        else
            fprintf (stderr, "ipcluster: %s\n", error);
        free (error);
        return 1;
    }
    //  Every pid file, sorted by name: engine-2 before engine-10.
    json_t *rows [S_MAX_ENGINES + 8];
    size_t count = 0, alive_count = 0;
    char *pid_dir = zpar_profile_path (profile, "pid", NULL);
    DIR *dir = opendir (pid_dir);
    for (struct dirent *entry = dir? readdir (dir): NULL; entry && count < S_MAX_ENGINES + 8;
         entry = readdir (dir)) {
        size_t length = strlen (entry->d_name);
        if (length < 5 || strcmp (entry->d_name + length - 4, ".pid") != 0)
            continue;
        char path [4096];
        snprintf (path, sizeof path, "%s/%s", pid_dir, entry->d_name);
        pid_t pid = 0;
        bool alive = zpar_pidfile_alive (path, &pid);
        alive_count += alive;
        rows [count++] = json_pack ("{s:s%, s:i, s:b}", "name", entry->d_name, length - 4,
                                    "pid", (int) pid, "alive", alive);
    }
    if (dir)
        closedir (dir);
    free (pid_dir);
    qsort (rows, count, sizeof *rows, s_compare_names);
    json_t *processes = json_array ();
    for (size_t i = 0; i < count; i++)
        json_array_append_new (processes, rows [i]);

    long long engines = -1;
    if (alive_count) {
        zpar_client_t *client = zpar_client_new_timeout (options->profile_name, S_STATUS_TIMEOUT_MS);
        json_t *ids = client? zpar_client_ids (client): NULL;
        if (ids)
            engines = (long long) json_array_size (ids);
        json_decref (ids);
        zpar_client_destroy (&client);
    }
    bool running = alive_count > 0 && engines >= 0;
    if (options->as_json) {
        json_t *status = json_pack ("{s:s, s:b, s:I, s:o}", "profile", zpar_profile_name (profile),
                                    "running", running, "engines", (json_int_t) (engines < 0? 0: engines),
                                    "processes", processes);
        char *text = json_dumps (status, JSON_INDENT (2));
        puts (text);
        free (text);
        json_decref (status);
    }
    else {
        printf ("profile %s (%s): %s\n", zpar_profile_name (profile), zpar_profile_dir (profile),
                running? "running": alive_count? "processes left, but no hub answers": "not running");
        if (engines >= 0)
            printf ("engines registered: %lld\n", engines);
        size_t i;
        json_t *row;
        json_array_foreach (processes, i, row)
            printf ("  %-12s pid %-8lld %s\n", json_string_value (json_object_get (row, "name")),
                    json_integer_value (json_object_get (row, "pid")),
                    json_is_true (json_object_get (row, "alive"))? "running": "gone");
        json_decref (processes);
    }
    zpar_profile_destroy (&profile);
    return running? 0: 1;
}

//  The first IPv4 address of an interface that is up and not loopback.
static int
s_public_address (char *out, size_t size)
{
    struct ifaddrs *list = NULL;
    if (getifaddrs (&list) != 0)
        return -1;
    int rc = -1;
    for (struct ifaddrs *entry = list; entry && rc != 0; entry = entry->ifa_next)
        if (entry->ifa_addr && entry->ifa_addr->sa_family == AF_INET
        &&  (entry->ifa_flags & IFF_UP) && !(entry->ifa_flags & IFF_LOOPBACK)
        &&  inet_ntop (AF_INET, &((struct sockaddr_in *) entry->ifa_addr)->sin_addr, out, (socklen_t) size))
            rc = 0;
    freeifaddrs (list);
    return rc;
}

int
main (int argc, char *argv [])
{
    const char *command = argc > 1? argv [1]: "";
    if (!strcmp (command, "-h") || !strcmp (command, "--help")) {
        s_usage (stdout);
        return 0;
    }
    bool start = !strcmp (command, "start"), add = !strcmp (command, "engines");
    if (!start && !add && strcmp (command, "stop") && strcmp (command, "status")) {
        if (*command)
            fprintf (stderr, "ipcluster: no such command: %s\n", command);
        s_usage (stderr);
        return 2;
    }
    long cpus = sysconf (_SC_NPROCESSORS_ONLN);
    s_options_t options = {
        .engines = cpus > 0? cpus: 1, .ip = "127.0.0.1", .hb_period = ZPAR_HB_PERIOD_MS, .curve = -1,
        .hb_liveness = ZPAR_HB_LIVENESS, .max_size = ZPAR_MAX_MESSAGE_SIZE,
        .timeout_s = ZPAR_START_TIMEOUT_S, .hwm = 1, .scheme = "leastload", .poison_limit = 3,
        .restart_limit = S_RESTART_LIMIT, .broadcast_depth = 1
    };
    options.plugins = calloc ((size_t) argc, sizeof (char *));
    options.slurm_options = calloc ((size_t) argc, sizeof (char *));
    const char *why = NULL;
    static struct option long_options [] = {
        { "profile", required_argument, 0, 'p' },
        { "daemonize", no_argument, 0, 'd' },
        { "ip", required_argument, 0, 'i' },
        { "load", required_argument, 0, 'l' },
        { "hb-period", required_argument, 0, 'P' },
        { "hb-liveness", required_argument, 0, 'L' },
        { "max-message-size", required_argument, 0, 'M' },
        { "timeout", required_argument, 0, 't' },
        { "hwm", required_argument, 0, 'w' },
        { "scheme", required_argument, 0, 's' },
        { "poison-limit", required_argument, 0, 'x' },
        { "restart-limit", required_argument, 0, 'r' },
        { "db", required_argument, 0, 'D' },
        { "curve", no_argument, 0, 'K' },
        { "engines", required_argument, 0, 'E' },
        { "partition", required_argument, 0, 'Q' },
        { "time", required_argument, 0, 'T' },
        { "slurm-option", required_argument, 0, 'O' },
        { "hosts", required_argument, 0, 'H' },
        { "no-curve", no_argument, 0, 'k' },
        { "db-max-records", required_argument, 0, 'N' },
        { "db-max-bytes", required_argument, 0, 'B' },
        { "json", no_argument, 0, 'j' },
        { "broadcast-depth", required_argument, 0, 'b' },
        { "engine-policy", required_argument, 0, 'y' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 }
    };
    optind = 2;
    int opt;
    while ((opt = getopt_long (argc, argv, "n:h", long_options, NULL)) != -1) {
        //  Options of start only (engines takes those that say which).
        if (add && opt != 'p' && opt != 'h' && opt != 'n' && opt != 'E' && opt != 'H' && opt != 't') {
            why = "engines takes -n, --engines, --hosts, --timeout and --profile";
            goto usage;
        }
        if (!start && !add && opt != 'p' && opt != 'j' && opt != 'h') {
            why = "stop and status take only --profile (and status --json)";
            goto usage;
        }
        switch (opt) {
            case 'n':
                if (zpar_parse_option ("-n", optarg, 0, S_MAX_ENGINES, &options.engines) != 0)
                    goto usage;
                options.engines_given = true;
                break;
            case 'E':
                if (strcmp (optarg, "local") != 0 && strcmp (optarg, "ssh") != 0 && strcmp (optarg, "mpi") != 0
                &&  strcmp (optarg, "slurm") != 0) {
                    why = "--engines is local, ssh, mpi or slurm";
                    goto usage;
                }
                options.launcher = optarg;
                break;
            case 'H': options.hosts_path = optarg; break;
            case 'Q': options.partition = optarg; break;
            case 'T': options.time_limit = optarg; break;
            case 'O': options.slurm_options [options.nslurm_options++] = optarg; break;
            case 'p':
                if (!zpar_profile_name_valid (optarg)) {
                    why = "a profile name is letters, digits, '_', '-' and '.'";
                    goto usage;
                }
                options.profile_name = optarg;
                break;
            case 'd': options.daemonize = true; break;
            case 'i':
                options.ip = optarg;
                if (!strcmp (optarg, "auto")) {
                    //  This host's first address other hosts may reach.
                    static char found [INET_ADDRSTRLEN];
                    if (s_public_address (found, sizeof found) != 0) {
                        why = "--ip auto found no address but loopback on this host";
                        goto usage;
                    }
                    options.ip = found;
                }
                break;
            case 'l': {
                //  Engines run in the profile's folder tree, not here: pass
                //  an absolute path.
                char *path = realpath (optarg, NULL);
                if (!path) {
                    fprintf (stderr, "ipcluster: cannot find plugin %s: %s\n", optarg, strerror (errno));
                    free (options.plugins);
                    free (options.slurm_options);
                    free (options.db);
                    return 2;
                }
                options.plugins [options.nplugins++] = path;
                break;
            }
            case 'P':
                if (zpar_parse_option ("--hb-period", optarg, 1, 3600000, &options.hb_period) != 0)
                    goto usage;
                break;
            case 'L':
                if (zpar_parse_option ("--hb-liveness", optarg, 1, 1000, &options.hb_liveness) != 0)
                    goto usage;
                break;
            case 'M':
                if (zpar_parse_option ("--max-message-size", optarg, 1024, INT32_MAX, &options.max_size) != 0)
                    goto usage;
                break;
            case 't':
                if (zpar_parse_option ("--timeout", optarg, 1, 86400, &options.timeout_s) != 0)
                    goto usage;
                break;
            case 's': {
                //  Checked here so a typo fails before anything starts.
                zpar_scheme_t scheme;
                if (zpar_scheme_parse (optarg, &scheme) != 0) {
                    why = "--scheme is one of " ZPAR_SCHEME_NAMES;
                    goto usage;
                }
                options.scheme = optarg;
                break;
            }
            case 'w':
                if (zpar_parse_option ("--hwm", optarg, 0, 1000000, &options.hwm) != 0)
                    goto usage;
                break;
            case 'x':
                if (zpar_parse_option ("--poison-limit", optarg, 0, 1000000, &options.poison_limit) != 0)
                    goto usage;
                break;
            case 'y':
                if (strcmp (optarg, "batch") && strcmp (optarg, "normal")) {
                    why = "--engine-policy is batch or normal";
                    goto usage;
                }
                options.engine_policy = optarg;
                break;
            case 'b':
                if (zpar_parse_option ("--broadcast-depth", optarg, 0, ZPAR_BCAST_DEPTH_MAX,
                                       &options.broadcast_depth) != 0)
                    goto usage;
                break;
            case 'r':
                if (zpar_parse_option ("--restart-limit", optarg, 0, 1000000, &options.restart_limit) != 0)
                    goto usage;
                break;
            case 'K': options.curve = 1; break;
            case 'k': options.curve = 0; break;
            case 'D':
                if (!strcmp (optarg, "memory")) {
                    free (options.db);
                    options.db = strdup (optarg);
                }
                else
                if (!strncmp (optarg, "sqlite:", 7) && optarg [7]) {
                    //  The hub runs elsewhere than here: pass an absolute path.
                    char cwd [PATH_MAX] = "";
                    bool relative = optarg [7] != '/';
                    if (relative && !getcwd (cwd, sizeof cwd)) {
                        why = "cannot tell the current directory for --db sqlite:PATH";
                        goto usage;
                    }
                    free (options.db);
                    options.db = malloc (strlen (optarg) + strlen (cwd) + 2);
                    sprintf (options.db, "sqlite:%s%s%s", cwd, relative? "/": "", optarg + 7);
                }
                else {
                    why = "--db is memory or sqlite:PATH";
                    goto usage;
                }
                break;
            case 'N':
            case 'B': {
                long value;
                const char *name = opt == 'N'? "--db-max-records": "--db-max-bytes";
                if (zpar_parse_option (name, optarg, 0, opt == 'N'? INT32_MAX: LONG_MAX, &value) != 0)
                    goto usage;
                *(opt == 'N'? &options.db_max_records: &options.db_max_bytes) = optarg;
                break;
            }
            case 'j':
                if (start || !strcmp (command, "stop")) {
                    why = "--json goes with status";
                    goto usage;
                }
                options.as_json = true;
                break;
            case 'h':
                s_usage (stdout);
                return 0;
            default:
                goto usage;
        }
    }
    if (optind != argc) {
        why = "unexpected arguments";
        goto usage;
    }
    bool ssh = options.launcher && !strcmp (options.launcher, "ssh");
    if (ssh && !options.hosts_path) {
        why = "--engines ssh needs --hosts FILE";
        goto usage;
    }
    if (!ssh && options.hosts_path) {
        why = "--hosts goes with --engines ssh";
        goto usage;
    }
    bool slurm = options.launcher && !strcmp (options.launcher, "slurm");
    if ((options.partition || options.time_limit || options.nslurm_options) && !slurm) {
        why = "--partition, --time and --slurm-option go with --engines slurm";
        goto usage;
    }
    if (slurm && options.engines < 1) {
        why = "--engines slurm needs -n 1 or more";
        goto usage;
    }
    if (add && (options.launcher && (!strcmp (options.launcher, "mpi") || slurm))) {
        why = "engines adds engines here (local) or through ssh";
        goto usage;
    }
    if (add && !ssh && !options.engines_given) {
        why = "engines needs -n N (or --engines ssh --hosts FILE)";
        goto usage;
    }
    if (add && !ssh && options.engines < 1) {
        why = "engines needs -n 1 or more";
        goto usage;
    }
    if (options.launcher && !strcmp (options.launcher, "mpi") && options.engines < 1) {
        why = "--engines mpi needs -n 1 or more";
        goto usage;
    }
    if (ssh && options.engines_given) {
        why = "with --engines ssh the hosts file says how many engines run where";
        goto usage;
    }
    if (ssh) {
        char *error = NULL;
        options.hosts = zpar_hosts_load (options.hosts_path, &options.nhosts, &error);
        if (!options.hosts) {
            fprintf (stderr, "ipcluster: %s\n", error);
            free (error);
            free (options.plugins);
            free (options.slurm_options);
            free (options.db);
            return 2;
        }
        options.engines = 0;
        for (size_t h = 0; h < options.nhosts; h++)
            options.engines += options.hosts [h].engines;
        if (options.engines > S_MAX_ENGINES)
            why = "the hosts file asks for more than 4096 engines";
        //  (engines: the running cluster's address is checked there.)
        if (!add && (!strncmp (options.ip, "127.", 4) || !strcmp (options.ip, "0.0.0.0")
                     || !strcmp (options.ip, "*") || !strcmp (options.ip, "localhost")))
            why = "--engines ssh needs --ip with an address of this host the other hosts reach";
        if (why) {
            zpar_hosts_free (&options.hosts, options.nhosts);
            goto usage;
        }
    }
    zpar_raise_fd_limit ();
    if (zpar_init () != 0 || (start && s_too_many_files (options.engines))) {
        zpar_hosts_free (&options.hosts, options.nhosts);
        for (size_t i = 0; i < options.nplugins; i++)
            free ((char *) options.plugins [i]);
        free (options.plugins);
        free (options.slurm_options);
        free (options.db);
        return 1;
    }
    int rc = start? s_start (&options): add? s_engines (&options)
           : !strcmp (command, "stop")? s_stop (&options): s_status (&options);
    for (size_t i = 0; i < options.nplugins; i++)
        free ((char *) options.plugins [i]);
    free (options.plugins);
    free (options.slurm_options);
    free (options.db);
    zpar_hosts_free (&options.hosts, options.nhosts);
    return rc;

usage:
    if (why)
        fprintf (stderr, "ipcluster: %s\n", why);
    for (size_t i = 0; i < options.nplugins; i++)
        free ((char *) options.plugins [i]);
    free (options.plugins);
    free (options.slurm_options);
    free (options.db);
    s_usage (stderr);
    return 2;
}
