/*  bench.h - what the benchmarks share (see bench.c).                   */

#ifndef BENCH_H_INCLUDED
#define BENCH_H_INCLUDED

#include <zpar/zpar.h>
#include <zmq.h>

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_TIMEOUT_MS    5000    //  a reply later than this is a failure
#define BENCH_MAX_PARTS     16
#define BENCH_PROFILE       "bench"
#define BENCH_MAX_ENGINES   16

//  Set by SIGINT or SIGTERM once bench_catch_signals was called.
extern volatile sig_atomic_t bench_interrupted;
void bench_catch_signals (void);

int64_t bench_now_ns (void);

//  CPU time of pid (0: this process), all threads, in µs (schedstat).
double bench_cpu_us (pid_t pid);

//  -- raw ZeroMQ ------------------------------------------------------------

//  In a forked child: default signals, and gone with the parent.
void bench_child_setup (void);

//  A socket as zpar sets its own: no linger; ROUTERs mandatory, no send HWM.
void *bench_socket (void *ctx, int type);

//  Receives one multipart message into parts (at most BENCH_MAX_PARTS kept).
int bench_recv_parts (void *sock, zmq_msg_t *parts, int *count);

//  Reads until want bytes, or a newline in line mode, or the timeout.
int bench_read (int fd, char *buf, size_t want, bool line);

//  SIGTERM and waitpid; sets *pid to 0.
void bench_stop_child (pid_t *pid);

//  A header frame of the size of an apply_request's.
extern const char bench_header [];

//  The raw one-call setup: a broker (ROUTER for clients, ROUTER for the
//  worker, [client] [engine] swapped as zpar's mux does) and an echo
//  worker with identity "engine", children of this process, and this
//  process's DEALER to the broker (receive timeout BENCH_TIMEOUT_MS).
typedef struct {
    pid_t broker, echo;
    int fd;
    void *ctx, *sock;
} bench_raw_t;

//  In a broker child: a ROUTER for clients and one for workers, each on
//  an ephemeral port of 127.0.0.1, their endpoints written to fd as
//  "front back\n". Exits the child when it cannot.
void bench_broker_bind (void *ctx, int fd, void **front, void **back);

//  In a worker child: a DEALER with identity (size bytes) connected to
//  endpoint, that says hello, then echoes every message until stopped.
void bench_echo_worker (const char *endpoint, const void *identity, size_t size);

//  Starts it; must run before any ZeroMQ context exists in this process
//  (the children fork from it). 0 or -1.
int bench_raw_start (bench_raw_t *self);
void bench_raw_stop (bench_raw_t *self);

//  -- a zpar cluster ----------------------------------------------------------

typedef struct {
    char zpar_dir [32];
    char ipcluster [PATH_MAX + 32];
    char pid_dir [96];
    bool made;
    zpar_client_t *client;
    pid_t pids [2 + BENCH_MAX_ENGINES];     //  scheduler, hub, engines
} bench_cluster_t;

//  Starts `ipcluster start -n engines --daemonize` (the one beside this
//  program) with options (NULL-terminated, may be NULL) in a temporary
//  ZPAR_DIR and connects a client. 0, or -1 (stop it all the same).
int bench_cluster_start (bench_cluster_t *self, int engines, const char *const *options);

//  Stops it by pid, removes the folder.
void bench_cluster_stop (bench_cluster_t *self);

//  The pid in dir/name.pid, or -1.
pid_t bench_pid_of (const char *dir, const char *name);

#endif
