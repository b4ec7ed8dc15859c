/*  zpar_hosts.h - engines on other hosts through ssh: the hosts file, the
    ssh command, and the engine connection file copied to each host.

    A hosts file has one host a line, with how many engines it runs
    (default 1); '#' starts a comment:

        node1          # one engine
        node2 4
        alice@node3 2

    The ssh command is $ZPAR_SSH (split on blanks), else "ssh": set it to
    pass options, e.g. "ssh -F my_config". Every ssh also gets BatchMode
    (no prompts), a connect timeout and keepalives. On a host, files go
    into $ZPAR_REMOTE_DIR, else .zpar/remote (in the remote user's home).                                                 */

#ifndef ZPAR_HOSTS_H_INCLUDED
#define ZPAR_HOSTS_H_INCLUDED

#include <stddef.h>

typedef struct {
    char *host;                 //  as ssh takes it: [user@]name
    int engines;
} zpar_host_t;

//  Reads a hosts file. NULL with a sentence in *error (caller frees).
zpar_host_t *zpar_hosts_load (const char *path, size_t *count, char **error);
void zpar_hosts_free (zpar_host_t **hosts_p, size_t count);

//  The ssh command's words followed by extra (NULL-terminated), then
//  host and command: an argv to run command on host (caller frees the
//  array, not the words).
char **zpar_ssh_argv (const char *host, const char *command, const char *const *extra);

//  word quoted for a POSIX shell (caller frees).
char *zpar_shell_quote (const char *word);

//  Where on a host its copy of the engine connection file goes (caller
//  frees).
char *zpar_remote_path (const char *profile);

//  Copies the file at local_path to remote_path on host, mode 0600 in a
//  folder only its owner reads. 0, or -1 with a sentence in *error.
int zpar_ssh_copy (const char *host, const char *local_path, const char *remote_path, char **error);

#endif
