/*  zpar_cli.h - the commands of `zpar` that read the hub's task records
    (zpar_cli_db.c) and its live view (zpar_top.c).                      */

#ifndef ZPAR_CLI_H_INCLUDED
#define ZPAR_CLI_H_INCLUDED

#include <zpar/zpar.h>

#include <stdbool.h>

typedef struct {
    const char *status, *fn, *client, *since, *until;
    const char *keys;           //  "a,b,c" or NULL
    const char *sort;           //  top's sort key, or NULL
    long engine;                //  -1: any
    long limit;                 //  0: all
    long last;                  //  0: from the oldest; else the newest this many
    long interval_ms;           //  top's refresh
    bool all;
} zpar_cli_records_t;

//  zpar db: matching records as a table, or --json.
int zpar_cli_db (zpar_client_t *client, const zpar_cli_records_t *options, bool as_json);

//  zpar result ID...: each task's answer, pending, or a KeyError.
int zpar_cli_result (zpar_client_t *client, char **ids, int count, bool as_json);

//  zpar purge [ID...] [--engine N] [--all]
int zpar_cli_purge (zpar_client_t *client, char **ids, int count,
                    const zpar_cli_records_t *options, bool as_json);

//  zpar resubmit ID...: prints the new msg_ids.
int zpar_cli_resubmit (zpar_client_t *client, char **ids, int count, bool as_json);

//  zpar push JSON_OBJECT: the names on every engine of targets.
int zpar_cli_push (zpar_client_t *client, const char *targets, json_t *values, bool as_json);

//  zpar pull NAME...: each engine's values ({engine id: value} with --json).
int zpar_cli_pull (zpar_client_t *client, const char *targets, char **names, int count, bool as_json);

//  zpar queue: per engine queue, running, completed, failed; unassigned.
int zpar_cli_queue (zpar_client_t *client, bool as_json);

//  zpar top: the live view (one snapshot when stdout is no terminal, or
//  in JSON with as_json).
int zpar_cli_top (zpar_client_t *client, const char *profile, const zpar_cli_records_t *options,
                  bool as_json);

//  A --since/--until value as an ISO date in buf: a time ago ("30s",
//  "5m", "2h", "1d": digits and a unit) or a date (2026-11-26,
//  2026-11-26T10:00:00Z, with up to six decimals). -1 for anything else.
int zpar_cli_date (const char *text, bool until, char *buf, size_t size);

//  Known top sort keys, for usage messages and checks.
#define ZPAR_TOP_SORT_KEYS "id, host, state, fn, completed, failed, heartbeat, restarts"
bool zpar_cli_top_sort_valid (const char *key);

#endif
