/*  zpar_proto.h - constants of the zpar wire protocol and its defaults.

    Every tunable lives here with the reason for its value, so that the
    daemons, the client and the tests agree on one set of numbers.       */

#ifndef ZPAR_PROTO_H_INCLUDED
#define ZPAR_PROTO_H_INCLUDED

//  Jupyter framing: [ids...] DELIM signature header parent metadata content
//  [buffers...]. The four JSON frames follow the signature in this order.
#define ZPAR_DELIM              "<IDS|MSG>"
#define ZPAR_PROTOCOL_VERSION   "5.3"
#define ZPAR_SIGNATURE_SCHEME   "hmac-sha256"
#define ZPAR_JSON_FRAMES        4

//  Key length in bytes before hex encoding: 256 bits, as libsodium's
//  crypto_auth_hmacsha256_KEYBYTES.
#define ZPAR_KEY_BYTES          32

//  Signatures remembered to refuse replays. Jupyter keeps 2^16; a replay
//  older than this many messages is not caught, which is why the window
//  is large. Memory: about 100 bytes an entry.
#define ZPAR_REPLAY_HISTORY     65536

//  Largest message (all frames together) a daemon accepts. ZeroMQ enforces
//  it per frame (ZMQ_MAXMSGSIZE) and cuts the sender off; zpar checks the
//  total and drops and counts what is over. 64 MiB fits every built-in
//  function's arguments with room; bulk users raise it on the command line.
#define ZPAR_MAX_MESSAGE_SIZE   (64 * 1024 * 1024)

//  Heartbeat: the hub pings every period; an engine that misses LIVENESS
//  pings in a row is dead. 1 s x 3 declares a dead engine within 3-4 s,
//  where IPython Parallel's 3 s x 3 takes ten; tests use 100 ms.
#define ZPAR_HB_PERIOD_MS       1000
#define ZPAR_HB_LIVENESS        3

//  Once registered, a scheduler registers its roles again this often: a
//  hub that took over from a killed one learns of them so.
#define ZPAR_SCHEDULER_CHECK_MS 1000

//  How long a client waits for the hub to answer a request before it gives
//  up with a clear error; the hub answers in well under a millisecond, so
//  this only bounds the wait when no hub is there.
#define ZPAR_HUB_TIMEOUT_MS     5000

//  How long a send may wait for room in a connection's queue (ZMQ_SNDTIMEO
//  on DEALERs): a peer that is gone must not hang the sender forever.
#define ZPAR_SEND_TIMEOUT_MS 5000

//  How long ipcluster waits for all engines to register by default.
#define ZPAR_START_TIMEOUT_S    60

//  Drop reasons: every message a daemon refuses is counted under one.
typedef enum {
    ZPAR_DROP_BAD_SIGNATURE = 0,
    ZPAR_DROP_REPLAY,
    ZPAR_DROP_MALFORMED,
    ZPAR_DROP_OVERSIZE,
    ZPAR_DROP_UNKNOWN_TYPE,
    ZPAR_DROP_HANDSHAKE,        //  a connection that failed its ZMTP or CurveZMQ handshake
    ZPAR_DROP_COUNT
} zpar_drop_t;

//  Scheduler roles, in the order they are registered.
#define ZPAR_ROLE_MUX       "mux"
#define ZPAR_ROLE_TASK      "task"
#define ZPAR_ROLE_CONTROL   "control"
#define ZPAR_ROLE_IOPUB     "iopub"
#define ZPAR_ROLE_BROADCAST "broadcast"

//  The broadcast role's engine endpoint is the list of its leaves, one
//  space between two; engine id i connects to leaf i % leaves.
#define ZPAR_BCAST_DEPTH_MAX 4

//  Monitor topics: the schedulers copy what they route to the hub.
#define ZPAR_MON_IN         "in"        //  request handed to an engine
#define ZPAR_MON_OUT        "out"       //  reply coming back from an engine

//  Exit codes of an engine that ends itself, and how its supervisor says
//  so to the hub: such an end is no crash (it counts for neither the
//  restart limit nor a task's poison limit).
#define ZPAR_ENGINE_EXIT_FORGOTTEN 3    //  the hub had declared it dead
#define ZPAR_ENGINE_EXIT_WALLTIME  4    //  a call ran past its walltime
#define ZPAR_EXIT_BY_ITSELF "ended by itself"
#define ZPAR_MON_RETRY      "retry"     //  a failed attempt's reply; the task runs again
#define ZPAR_MON_FAIL       "fail"      //  a scheduler's own error reply to a request
#define ZPAR_MON_STATS      "stats"     //  a scheduler's own counters
#define ZPAR_MON_BATCH      "batch"     //  copies sent together

//  A batch is three frames, [batch] [signature] [entries], to cost the
//  scheduler one send and the hub one signature check. The signature is
//  the HMAC of ZPAR_MON_DOMAIN followed by the entries, so it can never
//  pass for a message's. Each entry is ZPAR_MON_ENTRY_PARTS parts, each a
//  4-byte length (network order) and its bytes: topic, engine, client,
//  header, parent, metadata, content (left empty when over
//  ZPAR_MON_CONTENT_MAX). An answer (out, retry, fail) goes with an empty
//  header and, for parent, {"msg_id": its request's}: the hub keeps its
//  metadata and content, and the rest would double the bytes to copy
//  and sign.
#define ZPAR_MON_DOMAIN       "zpar-monitor-batch"
#define ZPAR_MON_ENTRY_PARTS  7
#define ZPAR_MON_CONTENT_MAX  (64 * 1024)

//  Error names carried in replies (ename).
#define ZPAR_E_NAME         "NameError"
#define ZPAR_E_FUNCTION     "FunctionError"
#define ZPAR_E_ENGINE       "EngineError"
#define ZPAR_E_SCHEDULER    "SchedulerError"
#define ZPAR_E_VALUE        "ValueError"
#define ZPAR_E_ABORTED      "TaskAborted"
#define ZPAR_E_KEY          "KeyError"
#define ZPAR_E_COMPOSITE    "CompositeError"

#endif
