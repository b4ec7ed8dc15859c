/*  zpar_table.h - a map from strings to values for the hot paths: open
    addressing with each slot's hash kept beside its key, so that a lookup
    compares strings only when the hashes match, and no allocation per
    entry. The key is the caller's: it must stay valid, unchanged, as long
    as its entry is in the table (typically it lives inside the value).
    CZMQ's zhashx hashes slowly, allocates an item per entry and walks
    chains comparing strings; the task scheduler looks up every task
    several times, in tables of 100,000 entries.                         */

#ifndef ZPAR_TABLE_H_INCLUDED
#define ZPAR_TABLE_H_INCLUDED

#include <stddef.h>

typedef struct _zpar_table_t zpar_table_t;

//  Frees a value deleted from the table or left in it at destroy (as
//  CZMQ's destructors do: *item set to NULL). NULL: values are not owned.
typedef void (zpar_table_destructor_fn) (void **item);

zpar_table_t *zpar_table_new (zpar_table_destructor_fn *destructor);
void zpar_table_destroy (zpar_table_t **self_p);

//  Adds key -> value (value not NULL). -1 when key is there already.
int zpar_table_insert (zpar_table_t *self, const char *key, void *value);

//  Makes room for more entries at once, so that adding them rehashes
//  nothing. 0 or -1.
int zpar_table_reserve (zpar_table_t *self, size_t more);

//  The value of key, or NULL.
void *zpar_table_lookup (zpar_table_t *self, const char *key);

//  Removes key, freeing its value with the destructor. Nothing when absent.
void zpar_table_delete (zpar_table_t *self, const char *key);

size_t zpar_table_size (zpar_table_t *self);

//  Every value, in no particular order; the table must not change between
//  first and the last next (NULL at the end).
void *zpar_table_first (zpar_table_t *self);
void *zpar_table_next (zpar_table_t *self);

#endif
