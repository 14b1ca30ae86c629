//! Limits applied to every script. Rhai's own defaults differ between debug and release
//! builds, so each one is set explicitly; the engine sets them, primitives cap what they build
//! by them, and the threads that run scripts get the stack they need.

/// Nested function calls; deeper recursion ends the check with "stack overflow".
pub const CALL_LEVELS: usize = 64;
/// Expression nesting at the top level and inside functions (checked at compile time).
pub const EXPR_DEPTH: usize = 64;
pub const FN_EXPR_DEPTH: usize = 32;
/// Largest string a script may build, in bytes.
pub const STRING_BYTES: usize = 16 * 1024 * 1024;
/// Largest array or map a script may build, in items.
pub const ARRAY_ITEMS: usize = 1_000_000;
pub const MAP_ITEMS: usize = 1_000_000;
/// Modules a script may import.
pub const MODULES: usize = 256;
/// Most checks (and script files while loading) run at once, whatever `--jobs` asks: checks
/// spend their time waiting on the host, so more threads only crowd it, and each one maps a
/// `THREAD_STACK_BYTES` stack. Without a bound, `--jobs 16365` ran the process out of memory
/// mappings and the runtime aborted it before any report (issue 23).
pub const MAX_JOBS: usize = 64;
/// Stack size of the threads that run scripts: room for `CALL_LEVELS` of recursion in an
/// unoptimised build with margin to spare.
pub const THREAD_STACK_BYTES: usize = 16 * 1024 * 1024;
