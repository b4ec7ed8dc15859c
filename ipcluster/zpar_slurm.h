/*  zpar_slurm.h - the engines of a cluster as one Slurm job.          */

#ifndef ZPAR_SLURM_H_INCLUDED
#define ZPAR_SLURM_H_INCLUDED

#include <stddef.h>

typedef struct {
    const char *name;           //  --job-name
    long engines;               //  --ntasks: one engine a task
    const char *output;         //  --output, the job's log (may hold %j)
    const char *partition;      //  NULL: the default one
    const char *time;           //  NULL: the partition's limit
    const char *const *extra;   //  more #SBATCH lines, as given
    size_t nextra;
    const char *const *engine_argv;     //  zpar-engine and its options, NULL-terminated
} zpar_slurm_job_t;

//  Writes the batch script to path. 0, or -1 with errno set.
int zpar_slurm_script (const char *path, const zpar_slurm_job_t *job);

//  Submits the script with sbatch: the job id, or -1 with *error.
long zpar_slurm_submit (const char *script, char **error);

//  scancel. 0 or -1.
int zpar_slurm_cancel (long job);

#endif
