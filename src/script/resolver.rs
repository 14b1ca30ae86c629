//! Resolves `import "lib/x" as x;` against the checks root that holds the importing script, so
//! a check at any depth imports shared modules the same way. Several roots can be loaded in one
//! run (`hostscript run checks/ site/`); each script resolves against its own.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rhai::module_resolvers::FileModuleResolver;
use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Scope, Shared};

pub struct RootResolver {
    /// Deepest roots first, so nested roots win over their parents.
    roots: Vec<(PathBuf, FileModuleResolver)>,
    /// Roots searched when the importing script's own root has no such module: for
    /// remediations, the checks directories, so both share one `lib/`.
    fallbacks: Vec<FileModuleResolver>,
    /// Each module file is compiled and evaluated once per run, whoever imports it.
    cache: Mutex<HashMap<PathBuf, Shared<Module>>>,
}

impl RootResolver {
    pub fn new(roots: &[PathBuf], fallbacks: &[PathBuf]) -> Self {
        let mut roots: Vec<(PathBuf, FileModuleResolver)> = roots
            .iter()
            .map(|root| (root.clone(), FileModuleResolver::new_with_path(root)))
            .collect();
        roots.sort_by_key(|(root, _)| std::cmp::Reverse(root.components().count()));
        roots.dedup_by(|a, b| a.0 == b.0);
        let fallbacks = roots
            .iter()
            .map(|(root, _)| root.clone())
            .chain(fallbacks.iter().cloned())
            .map(FileModuleResolver::new_with_path)
            .collect();
        RootResolver {
            roots,
            // The run's other roots, then the extra fallbacks: `lint checks/ remediations/`
            // resolves a remediation's `lib/` import the way `remediate` does.
            fallbacks,
            cache: Mutex::default(),
        }
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
        let Some(resolver) = self.resolver_for(source) else {
            return Err(EvalAltResult::ErrorModuleNotFound(path.to_string(), pos).into());
        };
        let mut file = resolver.get_file_path(path, source.map(Path::new));
        if !file.is_file()
            && let Some(found) = self
                .fallbacks
                .iter()
                .map(|f| f.get_file_path(path, None))
                .find(|f| f.is_file())
        {
            file = found;
        }
        if let Some(module) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&file)
        {
            return Ok(module.clone());
        }
        if !file.is_file() {
            return Err(EvalAltResult::ErrorModuleNotFound(path.to_string(), pos).into());
        }
        let in_module = |err: Box<EvalAltResult>| {
            Box::new(EvalAltResult::ErrorInModule(
                file.to_string_lossy().into_owned(),
                err,
                pos,
            ))
        };
        // A module is code like any script: refused when others than its owner could change it.
        crate::trust::admit(&file)
            .map_err(|reason| in_module(EvalAltResult::ErrorRuntime(reason.into(), pos).into()))?;
        let mut ast = engine.compile_file(file.clone()).map_err(in_module)?;
        // The full path as the source, so errors inside the module's functions name its file
        // rather than the import string.
        ast.set_source(file.to_string_lossy().into_owned());
        let mut module = Module::eval_ast_as_new(Scope::new(), &ast, engine).map_err(in_module)?;
        module.build_index();
        let module: Shared<Module> = module.into();
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(file, module.clone());
        Ok(module)
    }
}
