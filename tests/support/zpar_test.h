/*  zpar_test.h - helpers for the Criterion suite: a cluster per test in
    its own temporary $ZPAR_DIR, commands run as a user runs them, and a
    clean-up that stops every process the test started, by pid.          */

#ifndef ZPAR_TEST_H_INCLUDED
#define ZPAR_TEST_H_INCLUDED

#include <criterion/criterion.h>
#include <czmq.h>
#include <jansson.h>

#include "zpar_sign.h"
#include <stdbool.h>
#include <sys/types.h>

//  The profile every integration test uses, inside its own $ZPAR_DIR.
#define ZT_PROFILE "test"

//  Heartbeat for tests: fast enough that a dead engine is noticed quickly.
#define ZT_HB_PERIOD_MS 100

//  Path of a built program ("bin/zpar", "examples/hello"); static buffer.
const char *zt_build_path (const char *relative);

//  Makes a fresh $ZPAR_DIR for this test process and exports it.
const char *zt_fresh_dir (void);

//  Runs a shell command line; stdout and stderr are captured (caller
//  frees, either may be NULL). Returns the exit status (128 + signal when
//  killed).
int zt_run (const char *command, char **out, char **err);

//  Same, with printf-style formatting.
int zt_runf (char **out, char **err, const char *format, ...) __attribute__ ((format (printf, 3, 4)));

//  Starts `ipcluster start -n engines --daemonize --profile test` with a
//  fast heartbeat and extra options, and asserts it succeeded (engines
//  < 0: no -n, the options say).
void zt_cluster_start (int engines, const char *extra);

//  Stops the cluster with `ipcluster stop` and asserts that every process
//  it had (from the pid files read before stopping) is gone.
void zt_cluster_stop (void);

//  Asserts that no daemon log of the test profile holds a sanitizer report
//  or a failed assertion.
void zt_assert_clean_logs (void);

//  Criterion .fini: stops whatever the test left running, by pid, and
//  removes its $ZPAR_DIR.
void zt_cleanup (void);

//  Remembers a process the test started itself (a child, or a daemon it
//  caused, such as a tmux server), to stop in zt_cleanup if it is still
//  running then.
void zt_track_pid (pid_t pid);

//  Pids named in the profile's pid/ folder (up to max); returns the count.
size_t zt_cluster_pids (pid_t *pids, size_t max);

//  True when pid is a live process (not a zombie).
bool zt_pid_alive (pid_t pid);

//  Path inside the test profile ("security/zpar-client.json"); caller frees.
char *zt_profile_path (const char *relative);

//  A message of string frames from a NULL-terminated list (caller owns).
zmsg_t *zt_frames (const char *first, ...);

//  A message signed with signer: delimiter, signature and these four JSON
//  frames as written, valid or not (caller owns).
zmsg_t *zt_signed (zpar_sign_t *signer, const char *header, const char *parent,
                   const char *metadata, const char *content);

//  Monotonic milliseconds, for deadlines.
int64_t zpar_test_now_ms (void);

//  Parses JSON text (asserts it parses); caller owns.
json_t *zt_json (const char *text);



//  Waits for a process that is not our child to end; false on timeout.
bool zt_wait_gone (pid_t pid, int timeout_ms);

//  Pid in the profile's pid file NAME ("hub", "engine-0"), or 0.
pid_t zt_pid_of (const char *name);

//  Starts a daemon by hand ("bin/zpar-hub" and its arguments), as
//  docs/commands.md shows, quiet, tracked for zt_cleanup; returns its pid.
//  With ready, its --ready-fd 3 is a pipe whose read end is stored there.
pid_t zt_start_by_hand (const char *program, const char *const *args, int *ready);

//  Waits for a daemon's "ready" on fd, and closes it.
void zt_await_ready (int fd);

//  Waits for a child started by hand to end, and asserts it exited 0.
void zt_expect_exit (pid_t pid, const char *what);

//  True once the supervisor's log (log/ipcluster.log) holds text, within
//  timeout_ms.
bool zt_log_says (const char *text, int timeout_ms);
#endif
