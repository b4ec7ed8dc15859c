/*  zpar_test.c - suite helpers.                                         */

#include "zpar_test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sys/pidfd.h>
#include <time.h>
#include <poll.h>
#include <unistd.h>

static char s_dir [256];
static bool s_started;
static pid_t s_tracked [16];
static size_t s_ntracked;

void
zt_track_pid (pid_t pid)
{
    if (s_ntracked < sizeof s_tracked / sizeof *s_tracked)
        s_tracked [s_ntracked++] = pid;
}

const char *
zt_build_path (const char *relative)
{
    static char path [4096];
    const char *build = getenv ("ZPAR_BUILD");
    snprintf (path, sizeof path, "%s/%s", build? build: "build", relative);
    return path;
}

const char *
zt_fresh_dir (void)
{
    if (!*s_dir) {
        snprintf (s_dir, sizeof s_dir, "/tmp/zpar-test-XXXXXX");
        cr_assert_not_null (mkdtemp (s_dir), "mkdtemp: %s", strerror (errno));
        setenv ("ZPAR_DIR", s_dir, 1);
        setenv ("ZPAR_PROFILE", ZT_PROFILE, 1);
        //  Let the commands the test runs find each other.
        char path [8192];
        snprintf (path, sizeof path, "%s:%s", zt_build_path ("bin"), getenv ("PATH"));
        setenv ("PATH", path, 1);
    }
    return s_dir;
}

static char *
s_slurp (const char *path)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return strdup ("");
    fseek (file, 0, SEEK_END);
    long size = ftell (file);
    fseek (file, 0, SEEK_SET);
    char *text = calloc (1, (size_t) size + 1);
    if (size > 0 && fread (text, 1, (size_t) size, file) != (size_t) size)
        text [0] = 0;
    fclose (file);
    return text;
}

int
zt_run (const char *command, char **out, char **err)
{
    zt_fresh_dir ();
    char out_path [512], err_path [512];
    snprintf (out_path, sizeof out_path, "%s/.out.%d", s_dir, (int) getpid ());
    snprintf (err_path, sizeof err_path, "%s/.err.%d", s_dir, (int) getpid ());
    pid_t pid = fork ();
    if (pid == 0) {
        int out_fd = open (out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err_fd = open (err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2 (out_fd, 1);
        dup2 (err_fd, 2);
        execl ("/bin/sh", "sh", "-c", command, (char *) NULL);
        _exit (127);
    }
    int status = 0;
    while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
    char *text = s_slurp (out_path);
    if (out)
        *out = text;
    else
        free (text);
    text = s_slurp (err_path);
    if (err)
        *err = text;
    else
        free (text);
    unlink (out_path);
    unlink (err_path);
    return WIFEXITED (status)? WEXITSTATUS (status): 128 + WTERMSIG (status);
}

int
zt_runf (char **out, char **err, const char *format, ...)
{
    char *command = NULL;
    va_list args;
    va_start (args, format);
    if (vasprintf (&command, format, args) < 0)
        command = NULL;
    va_end (args);
    cr_assert_not_null (command);
    int rc = zt_run (command, out, err);
    free (command);
    return rc;
}

char *
zt_profile_path (const char *relative)
{
    char *path = NULL;
    if (asprintf (&path, "%s/profile_%s/%s", zt_fresh_dir (), ZT_PROFILE, relative) < 0)
        return NULL;
    return path;
}

zmsg_t *
zt_frames (const char *first, ...)
{
    zmsg_t *raw = zmsg_new ();
    va_list args;
    va_start (args, first);
    for (const char *frame = first; frame; frame = va_arg (args, const char *))
        zmsg_addstr (raw, frame);
    va_end (args);
    return raw;
}

zmsg_t *
zt_signed (zpar_sign_t *signer, const char *header, const char *parent,
           const char *metadata, const char *content)
{
    const void *parts [] = { header, parent, metadata, content };
    size_t sizes [] = { strlen (header), strlen (parent), strlen (metadata), strlen (content) };
    char signature [ZPAR_SIGNATURE_LEN + 1];
    zpar_sign_parts (signer, parts, sizes, 4, signature);
    return zt_frames ("<IDS|MSG>", signature, header, parent, metadata, content, NULL);
}

int64_t
zpar_test_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

json_t *
zt_json (const char *text)
{
    json_error_t error;
    json_t *value = json_loads (text, JSON_DECODE_ANY, &error);
    cr_assert_not_null (value, "not JSON (%s): %s", error.text, text);
    return value;
}

void
zt_cluster_start (int engines, const char *extra)
{
    char *out = NULL, *err = NULL;
    char count [32] = "";
    if (engines >= 0)
        snprintf (count, sizeof count, "-n %d", engines);
    int rc = zt_runf (&out, &err, "%s start %s --daemonize --profile %s --hb-period %d %s",
                      zt_build_path ("bin/ipcluster"), count, ZT_PROFILE, ZT_HB_PERIOD_MS,
                      extra? extra: "");
    s_started = true;
    cr_assert_eq (rc, 0, "ipcluster start failed (%d): %s%s", rc, out, err);
    cr_assert (strstr (out, "started"), "ipcluster said: %s", out);
    free (out);
    free (err);
}

bool
zt_pid_alive (pid_t pid)
{
    char path [64], text [512];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return false;
    size_t size = fread (text, 1, sizeof text - 1, file);
    fclose (file);
    text [size] = 0;
    char *state = strrchr (text, ')');
    return state && state [1] == ' ' && state [2] != 'Z' && state [2] != 'X';
}

size_t
zt_cluster_pids (pid_t *pids, size_t max)
{
    char *dir_path = zt_profile_path ("pid");
    DIR *dir = opendir (dir_path);
    size_t count = 0;
    for (struct dirent *entry = dir? readdir (dir): NULL; entry && count < max; entry = readdir (dir)) {
        if (!strstr (entry->d_name, ".pid"))
            continue;
        char path [4096];
        snprintf (path, sizeof path, "%s/%s", dir_path, entry->d_name);
        FILE *file = fopen (path, "r");
        int pid = 0;
        if (file && fscanf (file, "%d", &pid) == 1 && pid > 1)
            pids [count++] = pid;
        if (file)
            fclose (file);
    }
    if (dir)
        closedir (dir);
    free (dir_path);
    return count;
}

void
zt_cluster_stop (void)
{
    pid_t pids [64];
    size_t count = zt_cluster_pids (pids, 64);
    cr_assert_gt (count, 0, "no pid files: nothing was running");
    char *out = NULL, *err = NULL;
    int rc = zt_runf (&out, &err, "%s stop --profile %s", zt_build_path ("bin/ipcluster"), ZT_PROFILE);
    cr_assert_eq (rc, 0, "ipcluster stop failed (%d): %s%s", rc, out, err);
    free (out);
    free (err);
    s_started = false;
    for (size_t i = 0; i < count; i++)
        cr_assert (!zt_pid_alive (pids [i]), "process %d is still running after ipcluster stop",
                   (int) pids [i]);
    zt_assert_clean_logs ();
}

void
zt_assert_clean_logs (void)
{
    //  Under check-asan the daemons report to their logs; any report fails
    //  the test that ran them.
    char *logs = zt_profile_path ("log");
    char *out = NULL;
    zt_runf (&out, NULL, "grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:|Assertion .* failed' "
             "%s/*.log 2>/dev/null", logs);
    cr_assert_str_empty (out, "sanitizer or assertion reports in: %s", out);
    free (out);
    free (logs);
}

void
zt_cleanup (void)
{
    if (!*s_dir)
        return;
    //  Whatever still runs in this test's profile (a test that stopped
    //  half-way): stop it by pid, hard. The folder is this test's own.
    pid_t pids [64];
    size_t count = zt_cluster_pids (pids, 64);
    for (size_t i = 0; i < count; i++)
        if (zt_pid_alive (pids [i]))
            kill (pids [i], SIGKILL);
    s_started = false;
    //  Our own children: reaped, so their pids cannot be reused meanwhile.
    for (size_t i = 0; i < s_ntracked; i++)
        if (waitpid (s_tracked [i], NULL, WNOHANG) == 0) {
            kill (s_tracked [i], SIGKILL);
            waitpid (s_tracked [i], NULL, 0);
        }
        else
        if (errno == ECHILD && zt_pid_alive (s_tracked [i])) {
            //  Not ours (a daemon such as a tmux server): stopped all the same.
            kill (s_tracked [i], SIGKILL);
            zt_wait_gone (s_tracked [i], 5000);
        }
    s_ntracked = 0;
    char command [512];
    snprintf (command, sizeof command, "rm -rf '%s'", s_dir);
    if (system (command) != 0)
        fprintf (stderr, "could not remove %s\n", s_dir);
    *s_dir = 0;
}

bool
zt_wait_gone (pid_t pid, int timeout_ms)
{
    int fd = pidfd_open (pid, 0);
    if (fd < 0)
        return true;                    //  no such process
    struct pollfd item = { .fd = fd, .events = POLLIN };
    int rc = poll (&item, 1, timeout_ms);
    close (fd);
    return rc == 1 || !zt_pid_alive (pid);
}

pid_t
zt_pid_of (const char *name)
{
    char relative [128];
    snprintf (relative, sizeof relative, "pid/%s.pid", name);
    char *path = zt_profile_path (relative);
    FILE *file = fopen (path, "r");
    free (path);
    int pid = 0;
    if (file) {
        if (fscanf (file, "%d", &pid) != 1)
            pid = 0;
        fclose (file);
    }
    return pid;
}

//  Starts a daemon by hand, as docs/commands.md shows; returns its pid.
//  With ready, the daemon's --ready-fd 3 is a pipe whose read end is
//  stored there.
pid_t
zt_start_by_hand (const char *program, const char *const *args, int *ready)
{
    int fds [2] = { -1, -1 };
    if (ready)
        cr_assert_eq (pipe (fds), 0);
    pid_t pid = fork ();
    if (pid == 0) {
        int quiet = open ("/dev/null", O_WRONLY);
        dup2 (quiet, 1);
        dup2 (quiet, 2);
        if (ready) {
            dup2 (fds [1], 3);
            close (fds [0]);
        }
        const char *argv [16] = { program };
        for (int i = 0; args [i] && i < 14; i++)
            argv [i + 1] = args [i];
        execv (zt_build_path (program), (char **) argv);
        _exit (127);
    }
    cr_assert_gt (pid, 0);
    zt_track_pid (pid);
    if (ready) {
        close (fds [1]);
        *ready = fds [0];
    }
    return pid;
}

//  Waits for a daemon's "ready" on fd.
void
zt_await_ready (int fd)
{
    char text [8] = "";
    cr_assert_eq (read (fd, text, 6), 6, "the daemon never said ready");
    cr_assert (strncmp (text, "ready", 5) == 0);
    close (fd);
}

void
zt_expect_exit (pid_t pid, const char *what)
{
    int status = -1;
    alarm (20);                         //  Criterion's timeout would also catch it
    cr_assert_eq (waitpid (pid, &status, 0), pid, "%s did not end", what);
    alarm (0);
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0, "%s ended with %d", what, status);
}

bool
zt_log_says (const char *text, int timeout_ms)
{
    char *path = zt_profile_path ("log/ipcluster.log");
    bool found = false;
    for (int64_t deadline = zpar_test_now_ms () + timeout_ms; !found && zpar_test_now_ms () < deadline;) {
        FILE *file = fopen (path, "r");
        char line [1024];
        while (file && !found && fgets (line, sizeof line, file))
            found = strstr (line, text) != NULL;
        if (file)
            fclose (file);
        if (!found)
            zclock_sleep (20);      //  a file has no event to wait for
    }
    free (path);
    return found;
}
