/*  zpar_hub_results.h - the answers the hub keeps, so that a client can
    fetch them later by msg_id (another client, after the first one went
    away). Bounded by a count and by bytes; the oldest go first.         */

#ifndef ZPAR_HUB_RESULTS_H_INCLUDED
#define ZPAR_HUB_RESULTS_H_INCLUDED

#include <jansson.h>
#include <stddef.h>

typedef struct _zpar_hub_results_t zpar_hub_results_t;

zpar_hub_results_t *zpar_hub_results_new (size_t max_count, size_t max_bytes);
void zpar_hub_results_destroy (zpar_hub_results_t **self_p);

//  A task handed to an engine: known, not answered yet (kept as it is
//  when already known).
void zpar_hub_results_pending (zpar_hub_results_t *self, const char *msg_id);

//  Its answer: the reply's metadata and content as text (copied; content
//  may be empty when the scheduler left it out for its size).
void zpar_hub_results_answer (zpar_hub_results_t *self, const char *msg_id,
                              const void *metadata, size_t metadata_size,
                              const void *content, size_t content_size);

//  {"status": "unknown"} (never seen, or forgotten), {"status": "pending"},
//  or the answer: {"status": "ok" or "error", "metadata": {...}, "content":
//  {...} or null when it was too big to keep}. Caller owns.
json_t *zpar_hub_results_get (zpar_hub_results_t *self, const char *msg_id);

//  Answers every pending task with content (JSON text, an error): they
//  were inside a scheduler that is lost. Returns how many.
size_t zpar_hub_results_fail_pending (zpar_hub_results_t *self, const char *content);

size_t zpar_hub_results_count (zpar_hub_results_t *self);

#endif
