//! Resolves `import "lib/x" as x;` against the checks root that holds the importing script, so
//! a check at any depth imports shared modules the same way. Several roots can be loaded in one
//! run (`hostscript run checks/ site/`); each script resolves against its own.

use std::path::{Path, PathBuf};

use rhai::module_resolvers::FileModuleResolver;
use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Shared};

pub struct RootResolver {
    /// Deepest roots first, so nested roots win over their parents.
    roots: Vec<(PathBuf, FileModuleResolver)>,
}

impl RootResolver {
    pub fn new(roots: &[PathBuf]) -> Self {
        let mut roots: Vec<(PathBuf, FileModuleResolver)> = roots
            .iter()
            .map(|root| (root.clone(), FileModuleResolver::new_with_path(root)))
            .collect();
        roots.sort_by_key(|(root, _)| std::cmp::Reverse(root.components().count()));
        roots.dedup_by(|a, b| a.0 == b.0);
        RootResolver { roots }
    }

    fn resolver_for(&self, source: Option<&str>) -> Option<&FileModuleResolver> {
        let source = source.map(Path::new);
        self.roots
            .iter()
            .find(|(root, _)| source.is_some_and(|s| s.starts_with(root)))
            .or_else(|| self.roots.last())
            .map(|(_, resolver)| resolver)
    }
}

impl ModuleResolver for RootResolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        match self.resolver_for(source) {
            Some(resolver) => resolver.resolve(engine, source, path, pos),
            None => Err(EvalAltResult::ErrorModuleNotFound(path.to_string(), pos).into()),
        }
    }
}
