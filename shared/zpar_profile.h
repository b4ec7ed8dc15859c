/*  zpar_profile.h - profile folders: $ZPAR_DIR/profile_NAME/ (default
    ~/.zpar/profile_default/) with security/ (connection files, 0700),
    log/ (one log per process) and pid/ (one pid file per process).      */

#ifndef ZPAR_PROFILE_H_INCLUDED
#define ZPAR_PROFILE_H_INCLUDED

#include <stdbool.h>

typedef struct _zpar_profile_t zpar_profile_t;

//  Finds profile name (NULL = $ZPAR_PROFILE, else "default"). With create,
//  makes the folders; otherwise the profile folder must exist. NULL on
//  error, with a sentence in *error when error is not NULL (caller frees).
zpar_profile_t *zpar_profile_new (const char *name, bool create, char **error);

void zpar_profile_destroy (zpar_profile_t **self_p);

const char *zpar_profile_name (zpar_profile_t *self);
const char *zpar_profile_dir (zpar_profile_t *self);

//  Path of a file in a sub-folder ("security", "log", "pid"); caller frees.
char *zpar_profile_path (zpar_profile_t *self, const char *folder, const char *file);

//  A profile name is letters, digits, '_', '-' and '.', not starting with '.'.
bool zpar_profile_name_valid (const char *name);

#endif
