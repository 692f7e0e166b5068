//! Named limits with their defaults. `docs/limits.md` says what happens at each.

use serde::{Deserialize, Serialize};

/// Every limit of a system. Each field has a `*_DEFAULT` constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Fuel per delivery (per actor overridable). Exhaustion traps with `out-of-fuel`.
    pub fuel_per_delivery: u64,
    /// Linear memory per actor instance, in bytes. Growth beyond fails; a guest that
    /// aborts on it exits with `memory-limit`.
    pub memory_per_actor_bytes: u64,
    /// Maximum wasm stack, in bytes (engine-wide). Overflow traps with `stack-overflow`.
    pub wasm_stack_bytes: u64,
    /// Pending deliveries per actor. Sends beyond fail with `mailbox-full`; external
    /// inputs beyond are refused (and recorded as refused).
    pub mailbox_len: u32,
    /// Largest message payload, in bytes. Larger sends fail with `too-large`.
    pub message_bytes: u64,
    /// Largest actor state, in bytes. A handler returning more fails (exit reason error).
    pub state_bytes: u64,
    /// Children per supervisor. Spawns beyond fail with `too-many-children`.
    pub children_per_supervisor: u32,
    /// Live actors in the system. Spawns beyond fail with `too-many-actors`.
    pub actors_total: u32,
    /// Random bytes per `random-bytes` call (larger requests are cut to this).
    pub random_bytes_per_call: u32,
    /// Log lines per delivery; more are dropped and counted in one final line.
    pub log_lines_per_delivery: u32,
    /// Largest response body an outbound `http-client.send` accepts, in bytes. A larger
    /// response is the error `too-large` (recorded like any response).
    pub http_response_bytes: u64,
    /// How long an outbound `http-client.send` waits for the whole response, in
    /// milliseconds of wall-clock time; then the error `timeout`. The scheduler waits
    /// as long, so keep it short.
    pub http_timeout_ms: u64,
    /// Bytes of keys and values one actor may hold in the `store` interface. A `set`
    /// that would take it past is the error `quota-exceeded` (recorded like any result);
    /// replacing a value counts only the difference. Written to the manifest only when it
    /// is not the default, so the manifest of a run that does not set it is byte for byte
    /// what it was before this limit existed (a rerun of an older trace matches it).
    #[serde(skip_serializing_if = "is_default_store_quota")]
    pub store_bytes_per_actor: u64,
}

impl Limits {
    pub const FUEL_PER_DELIVERY_DEFAULT: u64 = 10_000_000;
    pub const MEMORY_PER_ACTOR_BYTES_DEFAULT: u64 = 16 << 20;
    pub const WASM_STACK_BYTES_DEFAULT: u64 = 512 << 10;
    pub const MAILBOX_LEN_DEFAULT: u32 = 1024;
    pub const MESSAGE_BYTES_DEFAULT: u64 = 1 << 20;
    pub const STATE_BYTES_DEFAULT: u64 = 4 << 20;
    pub const CHILDREN_PER_SUPERVISOR_DEFAULT: u32 = 256;
    pub const ACTORS_TOTAL_DEFAULT: u32 = 10_000;
    pub const RANDOM_BYTES_PER_CALL_DEFAULT: u32 = 4096;
    pub const LOG_LINES_PER_DELIVERY_DEFAULT: u32 = 64;
    pub const HTTP_RESPONSE_BYTES_DEFAULT: u64 = 1 << 20;
    pub const HTTP_TIMEOUT_MS_DEFAULT: u64 = 5_000;
    pub const STORE_BYTES_PER_ACTOR_DEFAULT: u64 = 64 << 20;
}

fn is_default_store_quota(bytes: &u64) -> bool {
    *bytes == Limits::STORE_BYTES_PER_ACTOR_DEFAULT
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            fuel_per_delivery: Limits::FUEL_PER_DELIVERY_DEFAULT,
            memory_per_actor_bytes: Limits::MEMORY_PER_ACTOR_BYTES_DEFAULT,
            wasm_stack_bytes: Limits::WASM_STACK_BYTES_DEFAULT,
            mailbox_len: Limits::MAILBOX_LEN_DEFAULT,
            message_bytes: Limits::MESSAGE_BYTES_DEFAULT,
            state_bytes: Limits::STATE_BYTES_DEFAULT,
            children_per_supervisor: Limits::CHILDREN_PER_SUPERVISOR_DEFAULT,
            actors_total: Limits::ACTORS_TOTAL_DEFAULT,
            random_bytes_per_call: Limits::RANDOM_BYTES_PER_CALL_DEFAULT,
            log_lines_per_delivery: Limits::LOG_LINES_PER_DELIVERY_DEFAULT,
            http_response_bytes: Limits::HTTP_RESPONSE_BYTES_DEFAULT,
            http_timeout_ms: Limits::HTTP_TIMEOUT_MS_DEFAULT,
            store_bytes_per_actor: Limits::STORE_BYTES_PER_ACTOR_DEFAULT,
        }
    }
}
