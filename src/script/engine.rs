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

pub use crate::bindings::{Capability, Remediating};
pub use crate::limits;

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
    engine.on_print(|text| crate::say!("{text}"));
    engine.on_debug(|text, source, pos| {
        let source = source.unwrap_or("script");
        crate::say!("{source}:{}: {text}", pos.line().unwrap_or(0));
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
