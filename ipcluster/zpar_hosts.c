/*  zpar_hosts.c - hosts files, ssh command lines, copies over ssh.      */

#include "zpar_hosts.h"

#include "zpar_util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_DEFAULT_SSH "ssh"

//  Options added to every ssh: never a prompt (the supervisor has no one
//  to ask), a bounded connect, and a connection found dead within 15 s
//  (then ssh ends, and so does the remote engine, which gets SIGHUP).
static const char *s_ssh_options [] = {
    "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
    "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3", NULL
};

//  How long the copy of a connection file may take.
#define S_COPY_TIMEOUT_MS 30000
#define S_DEFAULT_REMOTE_DIR ".zpar/remote"

//  Host names go into command lines: letters, digits and . _ - @ only.
static bool
s_host_valid (const char *host)
{
    return *host && *host != '-' && strspn (host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                  "0123456789._-@") == strlen (host);
}

zpar_host_t *
zpar_hosts_load (const char *path, size_t *count, char **error)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        zpar_set_error (error, "cannot read the hosts file %s: %s", path, strerror (errno));
        return NULL;
    }
    zpar_host_t *hosts = NULL;
    size_t used = 0, number = 0;
    char line [1024];
    bool ok = true;
    while (ok && fgets (line, sizeof line, file)) {
        number++;
        line [strcspn (line, "#\n")] = 0;
        char host [512], count [64], extra [64];
        long engines = 1;
        int fields = sscanf (line, "%511s %63s %63s", host, count, extra);
        if (fields <= 0)
            continue;                   //  blank or comment
        if (fields == 3 || !s_host_valid (host)
        ||  (fields == 2 && zpar_parse_long (count, 1, 4096, &engines) != 0)) {
            zpar_set_error (error, "%s line %zu: want \"host [engines]\" (engines 1 to 4096; a host "
                            "name of letters, digits, '.', '_', '-', '@')", path, number);
            ok = false;
            break;
        }
        hosts = realloc (hosts, (used + 1) * sizeof *hosts);
        hosts [used++] = (zpar_host_t) { .host = strdup (host), .engines = (int) engines };
    }
    fclose (file);
    if (ok && !used) {
        zpar_set_error (error, "the hosts file %s names no host", path);
        ok = false;
    }
    if (!ok) {
        zpar_hosts_free (&hosts, used);
        return NULL;
    }
    *count = used;
    return hosts;
}

void
zpar_hosts_free (zpar_host_t **hosts_p, size_t count)
{
    if (!*hosts_p)
        return;
    for (size_t i = 0; i < count; i++)
        free ((*hosts_p) [i].host);
    free (*hosts_p);
    *hosts_p = NULL;
}

char **
zpar_ssh_argv (const char *host, const char *command, const char *const *extra)
{
    const char *ssh = getenv ("ZPAR_SSH");
    if (!ssh || !*ssh)
        ssh = S_DEFAULT_SSH;
    //  The words stay alive with the process: argv is used once, by exec
    //  or before the caller frees it.
    static char *words_text;
    free (words_text);
    words_text = strdup (ssh);
    size_t extras = 0;
    while (extra && extra [extras])
        extras++;
    char **argv = calloc (strlen (ssh) + extras + 16, sizeof *argv);
    size_t argc = 0;
    char *save = NULL;
    for (char *word = strtok_r (words_text, " \t", &save); word; word = strtok_r (NULL, " \t", &save)) {
        bool program = argc == 0;
        argv [argc++] = word;
        //  The options right after the program's name.
        for (int k = 0; program && s_ssh_options [k]; k++)
            argv [argc++] = (char *) s_ssh_options [k];
    }
    for (size_t i = 0; i < extras; i++)
        argv [argc++] = (char *) extra [i];
    argv [argc++] = (char *) host;
    argv [argc++] = (char *) command;
    argv [argc] = NULL;
    return argv;
}

char *
zpar_shell_quote (const char *word)
{
    //  'word', with each ' written '\'' : the shell reads it back as it was.
    size_t quotes = 0;
    for (const char *c = word; *c; c++)
        quotes += *c == '\'';
    char *quoted = malloc (strlen (word) + 3 * quotes + 3), *out = quoted;
    *out++ = '\'';
    for (const char *c = word; *c; c++) {
        if (*c == '\'') {
            memcpy (out, "'\\''", 4);
            out += 4;
        }
        else
            *out++ = *c;
    }
    *out++ = '\'';
    *out = 0;
    return quoted;
}

char *
zpar_remote_path (const char *profile)
{
    const char *dir = getenv ("ZPAR_REMOTE_DIR");
    char *path = NULL;
    if (asprintf (&path, "%s/%s-engine.json", dir && *dir? dir: S_DEFAULT_REMOTE_DIR, profile) < 0)
        return NULL;
    return path;
}

int
zpar_ssh_copy (const char *host, const char *local_path, const char *remote_path, char **error)
{
    //  The folder made for its owner only, the file written through ssh's
    //  stdin: no scp needed on either side.
    char *folder = strdup (remote_path), *slash = strrchr (folder, '/');
    if (slash)
        *slash = 0;
    char *dir = zpar_shell_quote (slash? folder: "."), *file = zpar_shell_quote (remote_path);
    char *part = NULL, *command = NULL;
    if (asprintf (&part, "%s.part", remote_path) < 0)
        part = NULL;
    char *quoted_part = part? zpar_shell_quote (part): NULL;
    if (!quoted_part || asprintf (&command, "umask 077 && mkdir -p -- %s && cat > %s && mv -- %s %s",
                                  dir, quoted_part, quoted_part, file) < 0)
        command = NULL;
    free (folder);
    free (dir);
    free (file);
    free (part);
    free (quoted_part);
    if (!command) {
        zpar_set_error (error, "out of memory");
        return -1;
    }
    char **argv = zpar_ssh_argv (host, command, NULL);
    pid_t pid = fork ();
    if (pid == 0) {
        //  Not the supervisor's blocked signals: a stop must end this ssh.
        sigset_t none;
        sigemptyset (&none);
        sigprocmask (SIG_SETMASK, &none, NULL);
        FILE *input = freopen (local_path, "r", stdin);
        if (!input)
            _exit (126);
        execvp (argv [0], argv);
        _exit (127);
    }
    int status = -1;
    int64_t deadline = zpar_mono_ms () + S_COPY_TIMEOUT_MS;
    bool timed_out = false;
    while (pid > 0) {
        pid_t done = waitpid (pid, &status, WNOHANG);
        if (done == pid || (done < 0 && errno != EINTR))
            break;
        if (zpar_mono_ms () >= deadline && !timed_out) {
            kill (pid, SIGKILL);
            timed_out = true;
        }
        usleep (10000);
    }
    free (argv);
    free (command);
    if (timed_out) {
        zpar_set_error (error, "copying the engine connection file to %s took over %d s",
                        host, S_COPY_TIMEOUT_MS / 1000);
        return -1;
    }
    if (pid < 0 || !WIFEXITED (status) || WEXITSTATUS (status) != 0) {
        zpar_set_error (error, "could not copy the engine connection file to %s (ssh exit %d; "
                        "set ZPAR_SSH for ssh options)", host, WIFEXITED (status)? WEXITSTATUS (status): -1);
        return -1;
    }
    return 0;
}
