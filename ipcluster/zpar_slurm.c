/*  zpar_slurm.c - engines as a Slurm job: a batch script whose one step
    (srun) runs every engine, submitted with sbatch, cancelled with
    scancel.                                                             */

#include "zpar_slurm.h"

#include "zpar_hosts.h"
#include "zpar_util.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int
zpar_slurm_script (const char *path, const zpar_slurm_job_t *job)
{
    FILE *file = fopen (path, "w");
    if (!file)
        return -1;
    fprintf (file, "#!/bin/sh\n");
    fprintf (file, "#SBATCH --job-name=%s\n", job->name);
    fprintf (file, "#SBATCH --ntasks=%ld\n", job->engines);
    fprintf (file, "#SBATCH --output=%s\n", job->output);
    if (job->partition)
        fprintf (file, "#SBATCH --partition=%s\n", job->partition);
    if (job->time)
        fprintf (file, "#SBATCH --time=%s\n", job->time);
    for (size_t i = 0; i < job->nextra; i++)
        fprintf (file, "#SBATCH %s\n", job->extra [i]);
    //  One step, one engine a task; each engine takes the next free id
    //  and reports its rank (SLURM_PROCID) in engine_info.
    fprintf (file, "exec srun");
    for (size_t i = 0; job->engine_argv [i]; i++) {
        char *quoted = zpar_shell_quote (job->engine_argv [i]);
        fprintf (file, " %s", quoted);
        free (quoted);
    }
    fprintf (file, "\n");
    return fclose (file) == 0? 0: -1;
}

//  Runs argv, its stdout into out (NUL-terminated); the exit status.
static int
s_run (char *const argv [], char *out, size_t size)
{
    int fds [2];
    if (pipe (fds) != 0)
        return -1;
    pid_t pid = fork ();
    if (pid == 0) {
        sigset_t none;
        sigemptyset (&none);
        sigprocmask (SIG_SETMASK, &none, NULL);
        dup2 (fds [1], STDOUT_FILENO);
        close (fds [0]);
        close (fds [1]);
        execvp (argv [0], argv);
        _exit (127);
    }
    close (fds [1]);
    size_t used = 0;
    ssize_t got;
    while (pid > 0 && used + 1 < size && (got = read (fds [0], out + used, size - used - 1)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            break;
        used += (size_t) got;
    }
    out [used] = 0;
    close (fds [0]);
    int status = -1;
    while (pid > 0 && waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
    return pid > 0 && WIFEXITED (status)? WEXITSTATUS (status): -1;
}

long
zpar_slurm_submit (const char *script, char **error)
{
    char out [256];
    char *argv [] = { "sbatch", "--parsable", (char *) script, NULL };
    int rc = s_run (argv, out, sizeof out);
    long job = 0;
    //  --parsable: "JOBID" or "JOBID;CLUSTER".
    if (rc != 0 || zpar_parse_long (strtok (out, ";\n"), 1, LONG_MAX, &job) != 0) {
        zpar_set_error (error, "sbatch could not submit %s (exit %d)", script, rc);
        return -1;
    }
    return job;
}

int
zpar_slurm_cancel (long job)
{
    char id [24], out [64];
    snprintf (id, sizeof id, "%ld", job);
    char *argv [] = { "scancel", id, NULL };
    return s_run (argv, out, sizeof out) == 0? 0: -1;
}
