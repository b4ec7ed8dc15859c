/*  zpar/zpar.h - the zpar client library (libzpar).

    A client talks to one cluster, found through a profile's connection
    file. It runs functions on engines through views: a direct view names
    its engines, a balanced view lets the task scheduler choose.

        zpar_client_t *client = zpar_client_new (NULL);        //  default profile
        zpar_view_t *all = zpar_client_direct (client, ZPAR_ALL);
        json_t *error = NULL;
        json_t *hosts = zpar_view_apply_sync (all, "hostname", NULL, &error);
        ...
        json_decref (hosts);
        zpar_view_destroy (&all);
        zpar_client_destroy (&client);

    Values travel as JSON (jansson). Ownership follows CZMQ: what _new and
    _sync return belongs to the caller; _destroy (&p) frees and sets p to
    NULL. "Borrowed" results stay valid until their owner is destroyed.

    A client has no threads of its own: it does its work inside the calls
    made on it. Use one client per thread. A call that fails returns NULL
    or -1 and leaves a sentence in zpar_last_error ().                   */

#ifndef ZPAR_H_INCLUDED
#define ZPAR_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _zpar_client_t zpar_client_t;
typedef struct _zpar_view_t zpar_view_t;
typedef struct _zpar_result_t zpar_result_t;

//  Targets every engine registered when a request is sent.
#define ZPAR_ALL "all"

//  Why the last failed call of this thread failed.
const char *zpar_last_error (void);

//  -- client ------------------------------------------------------------------

//  Connects to the cluster of a profile (NULL: $ZPAR_PROFILE, else
//  "default"), under $ZPAR_DIR (default ~/.zpar). Returns NULL when no
//  cluster answers within the hub timeout (5 s), or at once when the
//  profile has no running cluster. The library leaves the process's
//  signal handling alone: it turns off CZMQ's own SIGINT/SIGTERM handler,
//  which an application that relies on zsys_interrupted must set again.
zpar_client_t *zpar_client_new (const char *profile);

//  Same, waiting at most timeout_ms for the hub (here and in later
//  requests to it).
zpar_client_t *zpar_client_new_timeout (const char *profile, int timeout_ms);

//  Same, from a connection file's path.
zpar_client_t *zpar_client_new_from_file (const char *connfile);

void zpar_client_destroy (zpar_client_t **self_p);

//  How long requests to the hub wait for an answer, in ms (default 5000).
void zpar_client_set_timeout (zpar_client_t *self, int timeout_ms);

//  Ids of the engines registered now, ascending: a JSON array of integers
//  (caller owns).
json_t *zpar_client_ids (zpar_client_t *self);

//  Waits until at least count engines are registered. Returns 0, or -1
//  after timeout_ms (-1: no limit).
int zpar_client_wait_for_engines (zpar_client_t *self, size_t count, int timeout_ms);

//  The hub's engine table: an array of objects with id, uuid, host, pid,
//  state, registered, last_heartbeat_ms, queued, completed, failed,
//  functions (caller owns). NULL on error.
json_t *zpar_client_engines (zpar_client_t *self);

//  The hub's status: engines (count), engine_states, dropped (counters by
//  reason, hub and schedulers together), hub, schedulers, clients
//  (caller owns). NULL on error.
json_t *zpar_client_status (zpar_client_t *self);

//  Stops the cluster: every engine, then the hub, which tells the
//  schedulers. Returns 0, or -1 when the hub did not confirm.
int zpar_client_shutdown (zpar_client_t *self);

//  Aborts the tasks msg_ids (a JSON array of strings, borrowed) that have
//  not started: every registered engine is told, and their word awaited
//  for at most 2 s together (one inside a call answers after it, but
//  reads the abort before its next task).
//  Such a task fails with TaskAborted when it reaches an engine, whether
//  it still waits in the task scheduler or already in the engine's queue;
//  one already running goes on. Returns 0, or -1 (see zpar_last_error).
int zpar_client_abort (zpar_client_t *self, json_t *msg_ids);

//  The answers to tasks msg_ids (a JSON array of strings, borrowed; see
//  zpar_result_msg_ids), as the hub kept them: for a client other than the
//  one that sent the tasks, for instance after that one went away. Waits
//  up to timeout_ms for tasks not answered yet; with -1, until none is
//  pending (an unknown msg_id then counts as final). Returns an
//  array in the order of msg_ids (caller owns), each
//      {"status": "ok", "value": ..., "metadata": {...}}
//      {"status": "error", "error": {ename, evalue, engine_id}, "metadata": {...}}
//      {"status": "pending"}  not answered within timeout_ms
//      {"status": "unknown"}  never handed to an engine (or still waiting in
//                             the task scheduler at the deadline), forgotten
//                             (the hub's memory store keeps the newest 100,000
//                             records by default), purged, or pending when a
//                             hub restarted on its SQLite file
//  An answer over 64 KiB was not kept: it comes with "result_cut": true
//  and a null value (ok) or a ValueError saying so (a failure).
//  A chunk of a map answers with the list of its values. NULL when the
//  hub does not answer (see zpar_last_error).
json_t *zpar_client_fetch (zpar_client_t *self, json_t *msg_ids, int timeout_ms);

//  -- the hub's task records ----------------------------------------------------
//  The hub keeps a record of every task handed to an engine (see
//  docs/commands.md, "Task records"): who sent it, where it ran, when,
//  how it ended, its result and what it printed.

//  Queue depths: {"engines": {"0": {"queue", "running", "completed",
//  "failed", "current"}, ...}, "unassigned": tasks the task scheduler has
//  not handed to an engine yet, "records", "pending"} (caller owns), or
//  NULL (see zpar_last_error).
json_t *zpar_client_queue (zpar_client_t *self);

//  Records matching query (borrowed; NULL for all), an object with any of
//      "status"   pending, ok, error, aborted, unknown, or completed (not pending)
//      "engine"   engine id          "fn"      function name
//      "client"   session of the client that sent it
//      "since", "until"   ISO dates the submission falls between
//      "msg_ids"  a list of msg_ids
//  oldest first, each with only keys (a borrowed array of key names, NULL
//  for all; see the docs for the keys), at most limit (0: all): the
//  oldest ones, or with newest the newest ones. Caller owns; NULL on
//  error, with zpar_last_error naming a wrong key.
json_t *zpar_client_db (zpar_client_t *self, json_t *query, json_t *keys, size_t limit,
                        bool newest);

//  Forgets finished records: those of msg_ids (borrowed array; a KeyError
//  when one is unknown, a ValueError when one is still pending), else
//  those of engine_id (>= 0), else all finished ones. Returns how many
//  went, or -1.
int64_t zpar_client_purge (zpar_client_t *self, json_t *msg_ids, int engine_id);

//  Runs finished tasks again: the hub sends each, with its function,
//  arguments and options, to the task scheduler as a new task. Returns
//  {old msg_id: new msg_id} (caller owns; fetch the new ones with
//  zpar_client_fetch), or NULL.
json_t *zpar_client_resubmit (zpar_client_t *self, json_t *msg_ids);

//  -- views -------------------------------------------------------------------

//  A direct view of targets: ZPAR_ALL, or ids such as "0,2" or "1-3,5"
//  (an id named twice is addressed once). NULL on a malformed list.
zpar_view_t *zpar_client_direct (zpar_client_t *self, const char *targets);

//  A direct view of count engine ids.
zpar_view_t *zpar_client_direct_ids (zpar_client_t *self, const int *ids, size_t count);

//  A broadcast view of targets (as zpar_client_direct): an apply (and
//  push, pull, gather) goes as one message to the broadcast scheduler,
//  which fans it out to the engines through a tree of nodes and answers
//  with one reply for all of them, so that calling hundreds of engines
//  costs the client one message each way. Results are the same as a
//  direct view's, in target order, but arrive together, once the slowest
//  engine answered (or failed: an engine that dies fails its own part). map and scatter, which give each
//  engine other arguments, go engine by engine as on a direct view.
//  Broadcast calls leave no task records in the hub.
zpar_view_t *zpar_client_broadcast (zpar_client_t *self, const char *targets);

//  A load-balanced view: each call goes to an engine chosen by the scheduler's scheme.
zpar_view_t *zpar_client_balanced (zpar_client_t *self);

void zpar_view_destroy (zpar_view_t **self_p);

//  The engine ids a direct view addresses now (caller owns); for a
//  balanced view, every registered engine.
json_t *zpar_view_targets (zpar_view_t *self);

//  Calls fn (args: a JSON array or NULL, borrowed) on the view's engines
//  without waiting. NULL when nothing could be sent (a direct view naming
//  an engine that is not registered, or no engines at all): see
//  zpar_last_error. A balanced call waits in the scheduler until an engine
//  is there.
zpar_result_t *zpar_view_apply_async (zpar_view_t *self, const char *fn, json_t *args);

//  Same with keyword arguments (a JSON object or NULL, borrowed).
zpar_result_t *zpar_view_apply_kw_async (zpar_view_t *self, const char *fn,
                                         json_t *args, json_t *kwargs);

//  A binary buffer sent with a call (its bytes are copied into the
//  message when the call is made).
typedef struct {
    const void *data;
    size_t size;
} zpar_buffer_t;

//  Same with binary buffers, sent as frames of their own (not in JSON):
//  the function reads them with zpar_call_buffer, without copies, and
//  returns its own with zpar_call_return_buffer (zpar_result_buffer
//  below). Buffers over the cluster's message limit are refused with an
//  error saying so. kwargs may be NULL. A direct view sends (and copies)
//  them once per engine. Such a call is never sent again: not by
//  retries after a lost scheduler (it fails with SchedulerError), nor by
//  zpar_view_resubmit or the hub's resubmit (the buffers are not kept).
zpar_result_t *zpar_view_apply_buffers_async (zpar_view_t *self, const char *fn, json_t *args,
                                              json_t *kwargs, const zpar_buffer_t *buffers,
                                              size_t nbuffers);

//  Calls and waits. A balanced view returns the value; a direct view
//  returns an array of values in target order. On failure returns NULL
//  and, when error is not NULL, stores the error object ({ename, evalue,
//  engine_id}, or a CompositeError with "errors" listing each engine's)
//  in *error (caller owns).
json_t *zpar_view_apply_sync (zpar_view_t *self, const char *fn, json_t *args, json_t **error);

//  -- the engines' namespaces (direct views only) ------------------------------
//  Each engine keeps a namespace, a JSON object that lives as long as the
//  engine; functions read and write it (zpar_call_namespace in plugin.h).
//  On failure these return NULL or -1 and, when error is not NULL, store
//  the error object in *error (caller owns).

//  Stores every name of values (a JSON object, borrowed) on each engine.
int zpar_view_push (zpar_view_t *self, json_t *values, json_t **error);

//  The value of names (a string) or the values (a list of names) on each
//  engine, as an array in target order (caller owns). A name an engine
//  does not have is a KeyError.
json_t *zpar_view_pull (zpar_view_t *self, json_t *names, json_t **error);

//  Splits values (a JSON array, borrowed) into one contiguous share per
//  engine, in order (the first ones get one more when it does not divide
//  evenly), and stores each share under name on its engine.
int zpar_view_scatter (zpar_view_t *self, const char *name, json_t *values, json_t **error);

//  Stores size bytes under name on each engine, as a binary value (a
//  frame of its own, not JSON; functions read it with zpar_call_get_bytes).
int zpar_view_push_bytes (zpar_view_t *self, const char *name, const void *data, size_t size,
                          json_t **error);

//  Each engine's bytes under name, without waiting: the result has one
//  item per engine, each answer's buffer 0 holding the bytes
//  (zpar_result_buffer) and its value their size. NULL on a balanced view.
zpar_result_t *zpar_view_pull_bytes (zpar_view_t *self, const char *name);

//  The shares of name joined back in engine order (caller owns): the
//  inverse of scatter. A share that is a list is joined item by item; any
//  other value counts as one item.
json_t *zpar_view_gather (zpar_view_t *self, const char *name, json_t **error);

//  Calls fn once per input without waiting: inputs is a JSON array of
//  argument lists ([[1], [2], [3]], borrowed). The result has one item per
//  input, in input order. A balanced view sends chunksize inputs per task
//  (0: one), each task to the engine its scheme picks; a direct view gives
//  each of its engines a contiguous share (with chunksize, the chunks in
//  order, each engine a contiguous run of them). Many tiny calls go faster
//  in chunks. NULL when nothing could be sent: see zpar_last_error.
zpar_result_t *zpar_view_map_async (zpar_view_t *self, const char *fn, json_t *inputs,
                                    size_t chunksize);

//  Same, with one binary buffer an input: input i's call gets buffers [i]
//  (zpar_call_buffer (call, 0)), sent as a frame of its own, and what each
//  call returns (zpar_call_return_buffer) comes back as that item's
//  (zpar_result_buffer (result, i, ...)). buffers has as many entries as
//  inputs; the bytes are copied into the requests before this returns.
zpar_result_t *zpar_view_map_buffers_async (zpar_view_t *self, const char *fn, json_t *inputs,
                                            const zpar_buffer_t *buffers, size_t chunksize);

//  Same, and waits: an array of values in input order (caller owns), or
//  NULL and the error in *error as zpar_view_apply_sync.
json_t *zpar_view_map_sync (zpar_view_t *self, const char *fn, json_t *inputs, size_t chunksize,
                            json_t **error);

//  Aborts the calls of result that have no answer yet and have not
//  started (see zpar_client_abort), through the view's client. Returns
//  0 (also when every call was answered already), or -1.
int zpar_view_abort (zpar_view_t *self, zpar_result_t *result);

//  Sends every call of result again, as new tasks with new msg_ids,
//  through self, which must be a balanced view (its flags apply): for
//  instance the calls an abort stopped. Returns the new result, shaped as
//  the old one (same items, same chunks), or NULL (see zpar_last_error).
zpar_result_t *zpar_view_resubmit (zpar_view_t *self, zpar_result_t *result);

//  -- flags of a balanced view (they apply to the calls made after) --------
//  Each returns 0, or -1 on a bad value (see zpar_last_error).

//  Run a failed task again, on another engine when there is one, up to
//  retries times (also when its engine dies, and when the scheduler it
//  was in is lost: the client sends it again, under a new msg_id). A chunk
//  of a map is one task: when one of its calls fails, all of them run again.
int zpar_view_set_retries (zpar_view_t *self, int retries);

//  Fail a task with TaskTimeout when it has not started within seconds
//  (its dependencies unmet, or no engine free); 0: no limit. At most
//  ZPAR_TIMEOUT_MAX; -1 for a negative, larger or non-finite value.
#define ZPAR_TIMEOUT_MAX 1e9
int zpar_view_set_timeout (zpar_view_t *self, double seconds);

//  Fail a task with TaskTimeout when it runs longer than seconds once
//  started; 0: no limit. Its engine cannot be interrupted inside a call,
//  so it ends itself a second later and its supervisor (ipcluster) starts
//  it afresh. The task is not retried. Same range as set_timeout.
int zpar_view_set_walltime (zpar_view_t *self, double seconds);

//  Start tasks only once the tasks msg_ids (a JSON array of strings,
//  borrowed; see zpar_result_msg_ids) ended: all of them (or any, when all
//  is false), successfully when success, failed when failure. NULL clears.
//  A dependency that can no longer be met fails the task with
//  ImpossibleDependency; an unknown msg_id with InvalidDependency.
//  success and failure both false is refused (-1): it could never be met.
int zpar_view_set_after (zpar_view_t *self, json_t *msg_ids, bool all, bool success, bool failure);

//  Same as after, and run the tasks on the engine those tasks ran on.
int zpar_view_set_follow (zpar_view_t *self, json_t *msg_ids, bool all, bool success, bool failure);

//  Only these engines ("0,2", "1-3"; ZPAR_ALL or NULL: any). A call fails
//  at once when none of them is registered; a task whose every target
//  has gone fails with ImpossibleDependency.
int zpar_view_set_targets (zpar_view_t *self, const char *targets);

//  -- results -----------------------------------------------------------------

//  Waits until every call of the result has its answer. Returns 0, or -1
//  when timeout_ms (-1: no limit) passed first.
int zpar_result_wait (zpar_result_t *self, int timeout_ms);

//  Every call has its answer (checks for new answers without blocking).
bool zpar_result_ready (zpar_result_t *self);

//  Ready, and no call failed.
bool zpar_result_successful (zpar_result_t *self);

//  The value, as zpar_view_apply_sync returns it (borrowed); NULL when not
//  ready or when a call failed.
json_t *zpar_result_get (zpar_result_t *self);

//  The error, as zpar_view_apply_sync reports it (borrowed); NULL when not
//  ready or when every call succeeded.
json_t *zpar_result_error (zpar_result_t *self);

//  Number of calls in the result: one per target engine for apply, one
//  per input for map.
size_t zpar_result_size (zpar_result_t *self);

//  Calls answered so far.
size_t zpar_result_done (zpar_result_t *self);

//  Answers so far and in all (either pointer may be NULL).
void zpar_result_progress (zpar_result_t *self, size_t *done, size_t *total);

//  The msg_ids of the result's tasks, to depend on (caller owns).
json_t *zpar_result_msg_ids (zpar_result_t *self);

//  Call (or map input) index: its value or error (borrowed, NULL until
//  answered), the id of the engine that ran it (-1 until known), the
//  msg_id of its task, its task's metadata (engine_id, submitted, started,
//  completed, ...) and what its task printed.
json_t *zpar_result_item (zpar_result_t *self, size_t index);
json_t *zpar_result_item_error (zpar_result_t *self, size_t index);
int zpar_result_engine_id (zpar_result_t *self, size_t index);
const char *zpar_result_msg_id (zpar_result_t *self, size_t index);
json_t *zpar_result_metadata (zpar_result_t *self, size_t index);
const char *zpar_result_stdout (zpar_result_t *self, size_t index);

//  The binary buffers the answer of item index came with: how many, and
//  each one's bytes (valid as long as the result; NULL past the last).
//  Answers fetched from the hub (zpar_client_fetch) carry none.
size_t zpar_result_buffers (zpar_result_t *self, size_t index);
const void *zpar_result_buffer (zpar_result_t *self, size_t index, size_t buffer, size_t *size);

//  Destroys the result; answers that arrive later are dropped.
void zpar_result_destroy (zpar_result_t **self_p);

#ifdef __cplusplus
}
#endif

#endif
