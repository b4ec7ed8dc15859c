/*  zpar_launch.c - spawning, pid files, stopping by pid.                */

#include "zpar_launch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <unistd.h>

//  Longest $ZPAR_WRAPPER command we split (words).
#define S_WRAPPER_WORDS 32

const char *
zpar_launch_find (const char *program, char *buffer, size_t size)
{
    char self [PATH_MAX];
    ssize_t length = readlink ("/proc/self/exe", self, sizeof self - 1);
    if (length > 0) {
        self [length] = 0;
        char *slash = strrchr (self, '/');
        if (slash) {
            *slash = 0;
            snprintf (buffer, size, "%s/%s", self, program);
            if (access (buffer, X_OK) == 0)
                return buffer;
        }
    }
    snprintf (buffer, size, "%s", program);
    return buffer;
}

pid_t
zpar_launch_spawn (char *const argv [], const char *log_path, int ready_fd)
{
    //  Build the wrapped argv before fork: the child only calls
    //  async-signal-safe functions.
    char *wrapper = getenv ("ZPAR_WRAPPER")? strdup (getenv ("ZPAR_WRAPPER")): NULL;
    char *words [S_WRAPPER_WORDS + 64];
    size_t count = 0;
    for (char *word = wrapper? strtok (wrapper, " "): NULL; word && count < S_WRAPPER_WORDS;
         word = strtok (NULL, " "))
        words [count++] = word;
    for (size_t i = 0; argv [i] && count < sizeof words / sizeof *words - 1; i++)
        words [count++] = argv [i];
    words [count] = NULL;

    int log_fd = open (log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int null_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log_fd < 0 || null_fd < 0) {
        int saved = errno;
        if (log_fd >= 0)
            close (log_fd);
        if (null_fd >= 0)
            close (null_fd);
        free (wrapper);
        errno = saved;
        return -1;
    }
    pid_t pid = fork ();
    if (pid == 0) {
        //  Own process group: a Ctrl-C at the terminal reaches only the
        //  supervisor, which stops everyone in order.
        setpgid (0, 0);
        sigset_t none;
        sigemptyset (&none);
        sigprocmask (SIG_SETMASK, &none, NULL);
        signal (SIGPIPE, SIG_DFL);
        dup2 (null_fd, 0);
        dup2 (log_fd, 1);
        dup2 (log_fd, 2);
        if (ready_fd >= 0) {
            if (ready_fd == 3)
                fcntl (3, F_SETFD, 0);      //  keep it across exec
            else
                dup2 (ready_fd, 3);         //  dup2 clears FD_CLOEXEC
        }
        execvp (words [0], words);
        dprintf (2, "cannot start %s: %s\n", words [0], strerror (errno));
        _exit (127);
    }
    int saved = errno;
    close (log_fd);
    close (null_fd);
    free (wrapper);
    errno = saved;
    return pid;
}

//  Start time of pid from /proc, zombie or not; -1 when there is none.
//  Sets *zombie when it has ended and waits for its parent.
static int64_t
s_starttime (pid_t pid, bool *zombie)
{
    char path [64], text [1024];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t size = read (fd, text, sizeof text - 1);
    close (fd);
    if (size <= 0)
        return -1;
    text [size] = 0;
    //  The command name may hold spaces and parentheses: fields count
    //  from the last ')'. Field 3 is the state, field 22 the start time.
    char *cursor = strrchr (text, ')');
    if (!cursor)
        return -1;
    char state = 0;
    long long start = -1;
    int field = 2;
    for (char *token = strtok (cursor + 1, " "); token; token = strtok (NULL, " ")) {
        field++;
        if (field == 3)
            state = *token;
        if (field == 22) {
            start = atoll (token);
            break;
        }
    }
    *zombie = state == 'Z' || state == 'X';
    return start;
}

int64_t
zpar_pid_starttime (pid_t pid)
{
    bool zombie = false;
    int64_t start = s_starttime (pid, &zombie);
    return zombie? -1: start;
}

int
zpar_pidfile_write (const char *path, pid_t pid)
{
    char temp [4096];
    snprintf (temp, sizeof temp, "%s.tmp", path);
    FILE *file = fopen (temp, "w");
    if (!file)
        return -1;
    //  A child that already ended still has its start time until reaped.
    bool zombie;
    fprintf (file, "%d %lld\n", (int) pid, (long long) s_starttime (pid, &zombie));
    if (fclose (file) != 0)
        return -1;
    return rename (temp, path);
}

int
zpar_pidfile_read (const char *path, pid_t *pid, int64_t *starttime)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    int value = 0;
    long long start = -1;
    int fields = fscanf (file, "%d %lld", &value, &start);
    fclose (file);
    if (fields < 1 || value <= 1)
        return -1;
    *pid = value;
    *starttime = fields == 2? start: -1;
    return 0;
}

bool
zpar_pidfile_alive (const char *path, pid_t *pid)
{
    int64_t start;
    if (zpar_pidfile_read (path, pid, &start) != 0)
        return false;
    //  Without a start time the file cannot tell its process from another.
    int64_t now = zpar_pid_starttime (*pid);
    return now >= 0 && start >= 0 && now == start;
}

int
zpar_pid_wait_gone (pid_t pid, int64_t starttime, int timeout_ms)
{
    int fd = pidfd_open (pid, 0);
    if (fd >= 0) {
        struct pollfd item = { .fd = fd, .events = POLLIN };
        int rc = poll (&item, 1, timeout_ms);
        close (fd);
        //  A zombie also counts as gone: its parent will reap it.
        if (rc == 1 || zpar_pid_starttime (pid) != starttime)
            return 0;
        return -1;
    }
    return errno == ESRCH || zpar_pid_starttime (pid) != starttime? 0: -1;
}

int
zpar_pidfile_stop (const char *path, int grace_ms)
{
    pid_t pid;
    int64_t start;
    if (zpar_pidfile_read (path, &pid, &start) != 0) {
        unlink (path);
        return 0;
    }
    int64_t now = zpar_pid_starttime (pid);
    int stopped = 0;
    if (now >= 0 && start >= 0 && now == start) {
        kill (pid, SIGTERM);
        if (zpar_pid_wait_gone (pid, now, grace_ms) != 0) {
            kill (pid, SIGKILL);
            zpar_pid_wait_gone (pid, now, grace_ms);
        }
        stopped = 1;
    }
    unlink (path);
    return stopped;
}
