/*  zpar_launch.h - starting daemons and stopping them by pid.

    A pid file holds "PID STARTTIME": the start time (from /proc/PID/stat)
    tells a live process from another that got the same pid later, so a
    stale pid file never makes us signal a stranger.                      */

#ifndef ZPAR_LAUNCH_H_INCLUDED
#define ZPAR_LAUNCH_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

//  Where zpar's executables are: beside this program when it is there
//  (a build tree or an install), else found on PATH. Returns a path or
//  bare name (static buffer per call site: copy it).
const char *zpar_launch_find (const char *program, char *buffer, size_t size);

//  Starts argv [0] with argv (NULL-terminated) in its own process group,
//  stdin from /dev/null, stdout and stderr appended to log_path. When
//  ready_fd >= 0 it is handed to the child as fd 3 (and nothing else
//  leaks). Prefixes $ZPAR_WRAPPER (words split on spaces) when set.
//  Returns the pid, or -1 with errno set.
pid_t zpar_launch_spawn (char *const argv [], const char *log_path, int ready_fd);

//  Start time of pid in clock ticks since boot, or -1 when there is no
//  such process (or it is a zombie). A pid file without a start time names
//  no process: it is stale.
int64_t zpar_pid_starttime (pid_t pid);

//  Writes "pid starttime" atomically. Returns 0 or -1.
int zpar_pidfile_write (const char *path, pid_t pid);

//  Reads a pid file. Returns 0 or -1.
int zpar_pidfile_read (const char *path, pid_t *pid, int64_t *starttime);

//  True when the pid file names a process that still runs.
bool zpar_pidfile_alive (const char *path, pid_t *pid);

//  Waits for a process that is not our child to end. Returns 0 when it
//  ended, -1 on timeout.
int zpar_pid_wait_gone (pid_t pid, int64_t starttime, int timeout_ms);

//  Stops the process a pid file names: SIGTERM, then SIGKILL after
//  grace_ms. Removes the pid file. Returns 1 when a process was stopped,
//  0 when none ran.
int zpar_pidfile_stop (const char *path, int grace_ms);

#endif
