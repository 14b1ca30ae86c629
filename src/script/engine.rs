//! Builds the one Rhai engine a command uses: explicit limits (the same in debug and release
//! builds), the wall-clock deadline hook, the module resolver, and the host bindings allowed for
//! the script kind. Checks get read-only primitives only; mutating ones are registered for
//! remediations alone, so a check cannot change the host even by mistake.

use std::path::PathBuf;
use std::sync::Arc;

use rhai::{Dynamic, Engine};

use crate::budget;
use crate::script::resolver::RootResolver;
use crate::vars::Vars;

/// What the scripts of an engine may do.
#[derive(Debug, Clone)]
pub enum Capability {
    /// Observe the host; never change it.
    ReadOnly,
    /// Also change it, through `fix::` (remediations only).
    Remediate(Arc<Remediating>),
}

/// How a remediation run changes the host.
#[derive(Debug)]
pub struct Remediating {
    pub settings: crate::host::change::Settings,
    /// `templates/` folders of the remediation roots, searched in order.
    pub template_dirs: Vec<PathBuf>,
}

/// Limits applied to every script. Rhai's own defaults differ between debug and release
/// builds, so each one is set explicitly.
pub mod limits {
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
    /// Stack size of the threads that run scripts: room for `CALL_LEVELS` of recursion in an
    /// unoptimised build with margin to spare.
    pub const THREAD_STACK_BYTES: usize = 16 * 1024 * 1024;
}

pub struct EngineOptions {
    pub capability: Capability,
    pub roots: Vec<PathBuf>,
    /// Roots whose `lib/` serves imports the scripts' own roots cannot (the checks
    /// directories, for remediations).
    pub lib_fallbacks: Vec<PathBuf>,
    pub vars: Arc<Vars>,
    /// The runtime that async primitives (commands, sockets, gRPC) block on.
    pub runtime: tokio::runtime::Handle,
}

pub fn build(options: EngineOptions) -> Engine {
    let mut engine = Engine::new();
    engine.set_max_call_levels(limits::CALL_LEVELS);
    engine.set_max_expr_depths(limits::EXPR_DEPTH, limits::FN_EXPR_DEPTH);
    engine.set_max_string_size(limits::STRING_BYTES);
    engine.set_max_array_size(limits::ARRAY_ITEMS);
    engine.set_max_map_size(limits::MAP_ITEMS);
    engine.set_max_modules(limits::MODULES);
    // The wall-clock deadline is the budget; an operation count would be a second clock that
    // means nothing to an operator, so it is left unlimited on purpose.
    engine.set_max_operations(0);
    engine.set_strict_variables(true);
    engine.disable_symbol("eval");
    engine.on_progress(|ops| {
        // Reading the clock on every operation would cost more than most scripts do.
        if ops % 256 != 0 {
            None
        } else if crate::interrupt::requested().is_some() {
            Some(Dynamic::from("interrupted"))
        } else if budget::expired() {
            Some(Dynamic::from(budget::timed_out_message()))
        } else {
            None
        }
    });
    engine.on_print(|text| eprintln!("{text}"));
    engine.on_debug(|text, source, pos| {
        let source = source.unwrap_or("script");
        eprintln!("{source}:{}: {text}", pos.line().unwrap_or(0));
    });
    engine.set_module_resolver(RootResolver::new(&options.roots, &options.lib_fallbacks));

    crate::script::define::register(&mut engine);
    crate::bindings::register(
        &mut engine,
        crate::bindings::Context {
            capability: options.capability,
            vars: options.vars,
            runtime: options.runtime,
        },
    );
    engine
}
