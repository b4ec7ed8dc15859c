/*  bench.c - what the benchmarks share: clocks, CPU time per process,
    raw ZeroMQ helpers for the reference setups, and a zpar cluster of
    their own in a temporary ZPAR_DIR, stopped by pid however they end.  */

#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

volatile sig_atomic_t bench_interrupted;

static void
s_on_signal (int sig)
{
    (void) sig;
    bench_interrupted = 1;
}

void
bench_catch_signals (void)
{
    struct sigaction action = { .sa_handler = s_on_signal };
    sigemptyset (&action.sa_mask);
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);
}

int64_t
bench_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}


//  User + system CPU of pid (0: this process) in microseconds.
double
bench_cpu_us (pid_t pid)
{
    //  Each thread's time on a CPU in ns (schedstat): finer than the
    //  clock ticks of /proc/PID/stat, which a short row would round away.
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/task", pid? (int) pid: (int) getpid ());
    DIR *tasks = opendir (path);
    double total_ns = 0;
    struct dirent *task;
    while (tasks && (task = readdir (tasks))) {
        if (task->d_name [0] == '.')
            continue;
        char stat_path [600];
        snprintf (stat_path, sizeof stat_path, "%s/%s/schedstat", path, task->d_name);
        FILE *file = fopen (stat_path, "r");
        unsigned long long ns = 0;
        if (file && fscanf (file, "%llu", &ns) == 1)
            total_ns += (double) ns;
        if (file)
            fclose (file);
    }
    if (tasks)
        closedir (tasks);
    return total_ns / 1e3;
}


//  Children: default signals, and gone with the parent if it dies first.
void
bench_child_setup (void)
{
    signal (SIGINT, SIG_DFL);
    signal (SIGTERM, SIG_DFL);
    prctl (PR_SET_PDEATHSIG, SIGTERM);
    if (getppid () == 1)
        _exit (1);
}

void *
bench_socket (void *ctx, int type)
{
    void *sock = zmq_socket (ctx, type);
    int zero = 0, one = 1;
    zmq_setsockopt (sock, ZMQ_LINGER, &zero, sizeof zero);
    if (type == ZMQ_ROUTER) {
        //  As zpar binds its ROUTERs: unroutable is an error, no send HWM.
        zmq_setsockopt (sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
        zmq_setsockopt (sock, ZMQ_SNDHWM, &zero, sizeof zero);
    }
    return sock;
}


//  Receives one multipart message into parts (at most BENCH_MAX_PARTS kept).
int
bench_recv_parts (void *sock, zmq_msg_t *parts, int *count)
{
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init (&part);
        if (zmq_msg_recv (&part, sock, 0) < 0) {
            zmq_msg_close (&part);
            while (n > 0)
                zmq_msg_close (&parts [--n]);
            return -1;
        }
        more = zmq_msg_more (&part);
        if (n < BENCH_MAX_PARTS)
            parts [n++] = part;
        else
            zmq_msg_close (&part);
    }
    *count = n;
    return 0;
}


//  Reads until want bytes or a newline (line mode) arrived, or timeout.
int
bench_read (int fd, char *buf, size_t want, bool line)
{
    size_t got = 0;
    int64_t deadline = bench_now_ns () + (int64_t) BENCH_TIMEOUT_MS * 1000000;
    while (got < want && !(line && got && buf [got - 1] == '\n')) {
        struct pollfd item = { .fd = fd, .events = POLLIN };
        int left = (int) ((deadline - bench_now_ns ()) / 1000000);
        if (left <= 0 || bench_interrupted || poll (&item, 1, left) <= 0)
            return -1;
        ssize_t rc = read (fd, buf + got, line? 1: want - got);
        if (rc <= 0)
            return -1;
        got += (size_t) rc;
    }
    if (line)
        buf [got - 1] = 0;
    return 0;
}


void
bench_stop_child (pid_t *pid)
{
    if (*pid > 0) {
        kill (*pid, SIGTERM);
        while (waitpid (*pid, NULL, 0) < 0 && errno == EINTR)
            ;
        *pid = 0;
    }
}


//  A header frame of the size zpar's apply_request header has.
const char bench_header [] =
    "{\"msg_id\":\"5f0e6c1a-8a7e-4d0c-9a55-2b8f6f3f9b21_1234\",\"msg_type\":\"apply_request\","
    "\"session\":\"5f0e6c1a-8a7e-4d0c-9a55-2b8f6f3f9b21\",\"username\":\"bench\","
    "\"date\":\"2024-01-01T00:00:00.000000Z\",\"version\":\"5.3\"}";


//  Runs argv to completion, its stdout to /dev/null. Returns its exit code.
static int
s_run (char *const argv [])
{
    pid_t pid = fork ();
    if (pid == 0) {
        int null = open ("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2 (null, STDOUT_FILENO);
        execv (argv [0], argv);
        _exit (127);
    }
    int status;
    if (pid < 0)
        return -1;
    while (waitpid (pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED (status)? WEXITSTATUS (status): -1;
}

//  Whatever pid file `ipcluster stop` left in dir: that process, by pid,
//  if it is still the one the file names (same start time).
static void
s_sweep_pidfiles (const char *dir)
{
    DIR *pids = opendir (dir);
    for (struct dirent *entry = pids? readdir (pids): NULL; entry; entry = readdir (pids)) {
        char path [PATH_MAX + 300], line [1024];
        int pid = 0;
        long long start = -1, now = -2;
        if (!strstr (entry->d_name, ".pid"))
            continue;
        snprintf (path, sizeof path, "%s/%s", dir, entry->d_name);
        FILE *file = fopen (path, "r");
        if (!file)
            continue;
        int fields = fscanf (file, "%d %lld", &pid, &start);
        fclose (file);
        snprintf (path, sizeof path, "/proc/%d/stat", pid);
        file = pid > 1 && fields == 2? fopen (path, "r"): NULL;
        if (file && fgets (line, sizeof line, file)) {
            char *fields_at = strrchr (line, ')');      //  field 22: start time
            for (int field = 2; fields_at && field < 22; field++)
                fields_at = strchr (fields_at + 1, ' ');
            if (fields_at)
                now = atoll (fields_at + 1);
        }
        if (file)
            fclose (file);
        if (now == start) {
            fprintf (stderr, "bench: %s (pid %d) outlived ipcluster stop; killing it\n",
                     entry->d_name, pid);
            kill (pid, SIGKILL);
        }
    }
    if (pids)
        closedir (pids);
}

static int
s_remove (const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void) sb, (void) flag, (void) ftw;
    remove (path);
    return 0;
}

//  The pid in dir/name.pid, or -1.
pid_t
bench_pid_of (const char *dir, const char *name)
{
    char path [PATH_MAX + 64];
    snprintf (path, sizeof path, "%s/%s.pid", dir, name);
    FILE *file = fopen (path, "r");
    int pid = -1;
    if (file && fscanf (file, "%d", &pid) != 1)
        pid = -1;
    if (file)
        fclose (file);
    return pid;
}

//  -- a zpar cluster of the benchmark's own --------------------------------

void
bench_cluster_stop (bench_cluster_t *self)
{
    zpar_client_destroy (&self->client);
    if (!self->made)
        return;
    //  Stop even after a failed start: it may have left processes behind.
    char *stop [] = { self->ipcluster, "stop", "--profile", BENCH_PROFILE, NULL };
    if (s_run (stop) != 0)
        fprintf (stderr, "bench: ipcluster stop reported a problem\n");
    s_sweep_pidfiles (self->pid_dir);
    nftw (self->zpar_dir, s_remove, 16, FTW_DEPTH | FTW_PHYS);
    unsetenv ("ZPAR_DIR");
    self->made = false;
}

int
bench_cluster_start (bench_cluster_t *self, int engines, const char *const *options)
{
    char exe [PATH_MAX];
    ssize_t len = readlink ("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return -1;
    exe [len] = 0;
    snprintf (self->ipcluster, sizeof self->ipcluster, "%s/../bin/ipcluster", dirname (exe));
    if (access (self->ipcluster, X_OK) != 0) {
        fprintf (stderr, "bench: no %s: build it with make\n", self->ipcluster);
        return -1;
    }
    snprintf (self->zpar_dir, sizeof self->zpar_dir, "/tmp/zpar-bench-XXXXXX");
    if (!mkdtemp (self->zpar_dir)) {
        perror ("bench: mkdtemp");
        return -1;
    }
    self->made = true;
    setenv ("ZPAR_DIR", self->zpar_dir, 1);
    snprintf (self->pid_dir, sizeof self->pid_dir, "%s/profile_" BENCH_PROFILE "/pid", self->zpar_dir);
    char count [16];
    snprintf (count, sizeof count, "%d", engines);
    char *start [32] = { self->ipcluster, "start", "-n", count, "--daemonize", "--profile", BENCH_PROFILE };
    int argc = 7;
    for (int i = 0; options && options [i] && argc < 31; i++)
        start [argc++] = (char *) options [i];
    start [argc] = NULL;
    if (s_run (start) != 0) {
        fprintf (stderr, "bench: %s start failed\n", self->ipcluster);
        return -1;
    }
    self->client = zpar_client_new (BENCH_PROFILE);
    if (!self->client || zpar_client_wait_for_engines (self->client, (size_t) engines, BENCH_TIMEOUT_MS) != 0) {
        fprintf (stderr, "bench: %s\n", zpar_last_error ());
        return -1;
    }
    self->pids [0] = bench_pid_of (self->pid_dir, "scheduler");
    self->pids [1] = bench_pid_of (self->pid_dir, "hub");
    for (int i = 0; i < engines && i < BENCH_MAX_ENGINES; i++) {
        char name [32];
        snprintf (name, sizeof name, "engine-%d", i);
        self->pids [2 + i] = bench_pid_of (self->pid_dir, name);
    }
    return 0;
}

//  -- raw ZeroMQ: a broker and an echo worker ------------------------------

void
bench_broker_bind (void *ctx, int fd, void **front_p, void **back_p)
{
    void *front = bench_socket (ctx, ZMQ_ROUTER), *back = bench_socket (ctx, ZMQ_ROUTER);
    char front_ep [256], back_ep [256], line [600];
    size_t size = sizeof front_ep;
    if (zmq_bind (front, "tcp://127.0.0.1:*") != 0
    ||  zmq_getsockopt (front, ZMQ_LAST_ENDPOINT, front_ep, &size) != 0)
        _exit (1);
    size = sizeof back_ep;
    if (zmq_bind (back, "tcp://127.0.0.1:*") != 0
    ||  zmq_getsockopt (back, ZMQ_LAST_ENDPOINT, back_ep, &size) != 0)
        _exit (1);
    int len = snprintf (line, sizeof line, "%s %s\n", front_ep, back_ep);
    if (write (fd, line, (size_t) len) != len)
        _exit (1);
    *front_p = front;
    *back_p = back;
}

//  Sends parts [0], [1] swapped, then the rest; closes every part.
static void
s_send_swapped (void *sock, zmq_msg_t *parts, int count)
{
    int order [BENCH_MAX_PARTS];
    for (int i = 0; i < count; i++)
        order [i] = i < 2? 1 - i: i;
    int i = 0;
    for (; i < count; i++)
        if (zmq_msg_send (&parts [order [i]], sock, i < count - 1? ZMQ_SNDMORE: 0) < 0)
            break;                  //  unroutable (ROUTER_MANDATORY): drop
    for (; i < count; i++)
        zmq_msg_close (&parts [order [i]]);
}

//  Broker: front ROUTER for the client, back ROUTER for the echo worker.
//  Writes "front back\n" to fd, then "R" once the worker said hello.
static void
s_broker (int fd)
{
    bench_child_setup ();
    void *ctx = zmq_ctx_new ();
    void *front, *back;
    bench_broker_bind (ctx, fd, &front, &back);
    zmq_pollitem_t items [] = { { front, 0, ZMQ_POLLIN, 0 }, { back, 0, ZMQ_POLLIN, 0 } };
    zmq_msg_t parts [BENCH_MAX_PARTS];
    int count;
    while (zmq_poll (items, 2, -1) >= 0) {
        //  client: [client] [engine] ... -> engine: [engine] [client] ...
        if (items [0].revents & ZMQ_POLLIN && bench_recv_parts (front, parts, &count) == 0) {
            if (count > 2)
                s_send_swapped (back, parts, count);
            else
                while (count > 0)
                    zmq_msg_close (&parts [--count]);
        }
        //  engine: [engine] [client] ... -> client: [client] [engine] ...;
        //  [engine] [hello] is swallowed and reported to the parent.
        if (items [1].revents & ZMQ_POLLIN && bench_recv_parts (back, parts, &count) == 0) {
            if (count > 2)
                s_send_swapped (front, parts, count);
            else {
                if (count == 2 && write (fd, "R", 1) != 1)
                    _exit (1);
                while (count > 0)
                    zmq_msg_close (&parts [--count]);
            }
        }
    }
    _exit (0);
}

//  An echo worker: a DEALER with identity (size bytes) that says hello,
//  then sends back every message as it came, until it is stopped.
void
bench_echo_worker (const char *endpoint, const void *identity, size_t size)
{
    bench_child_setup ();
    void *ctx = zmq_ctx_new ();
    void *sock = bench_socket (ctx, ZMQ_DEALER);
    zmq_setsockopt (sock, ZMQ_ROUTING_ID, identity, size);
    if (zmq_connect (sock, endpoint) != 0 || zmq_send (sock, "hello", 5, 0) != 5)
        _exit (1);
    zmq_msg_t parts [BENCH_MAX_PARTS];
    int count;
    while (bench_recv_parts (sock, parts, &count) == 0)
        for (int i = 0; i < count; i++)
            zmq_msg_send (&parts [i], sock, i < count - 1? ZMQ_SNDMORE: 0);
    _exit (0);
}



void
bench_raw_stop (bench_raw_t *self)
{
    if (self->sock)
        zmq_close (self->sock);
    if (self->ctx)
        zmq_ctx_term (self->ctx);
    self->sock = self->ctx = NULL;
    bench_stop_child (&self->echo);
    bench_stop_child (&self->broker);
    if (self->fd >= 0)
        close (self->fd);
    self->fd = -1;
}

//  Must run before any ZeroMQ context exists in this process: the
//  children fork from it.
int
bench_raw_start (bench_raw_t *self)
{
    int fds [2];
    char line [600], ready;
    *self = (bench_raw_t) { .fd = -1 };
    if (pipe2 (fds, O_CLOEXEC) != 0)
        return -1;
    self->fd = fds [0];
    self->broker = fork ();
    if (self->broker == 0) {
        close (fds [0]);
        s_broker (fds [1]);
    }
    close (fds [1]);
    char *back = NULL;
    if (self->broker < 0 || bench_read (self->fd, line, sizeof line - 1, true) != 0
    ||  !(back = strchr (line, ' '))) {
        fprintf (stderr, "bench: the raw broker did not start\n");
        return -1;
    }
    *back++ = 0;
    self->echo = fork ();
    if (self->echo == 0) {
        close (self->fd);
        bench_echo_worker (back, "engine", 6);
    }
    if (self->echo < 0 || bench_read (self->fd, &ready, 1, false) != 0) {
        fprintf (stderr, "bench: the raw echo worker did not connect\n");
        return -1;
    }
    self->ctx = zmq_ctx_new ();
    self->sock = bench_socket (self->ctx, ZMQ_DEALER);
    int timeout = BENCH_TIMEOUT_MS;
    zmq_setsockopt (self->sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    return zmq_connect (self->sock, line);
}
