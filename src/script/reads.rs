//! Which vars a check or remediation reads, found in its code rather than by running it: the
//! suite's reference (`hostscript list --format markdown`, docs/suite.md) lists them beside
//! each check, so an operator sees which vars.toml keys change a verdict.
//!
//! The walk starts at the declaration's `run` closure and follows, through the AST, every call
//! to a function of the same file and every `alias::name(..)` into a module the file imports
//! (`import "lib/flintlock" as flintlock;`), reading `vars::NAME` and `vars::get("NAME", ..)`.
//! A name passed through a parameter (`fn bin(var) { vars::get(var, "") }` called as
//! `bin("firecracker_bin")`) is followed one call deep with the caller's string literals. What
//! cannot be known without running (`vars::all()`, a name built at run time) is said as such
//! (`dynamic`), never left out silently.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use rhai::{ASTNode, Engine, Expr, Shared, Stmt};

use crate::script::LoadedScript;

/// The vars one declaration reads.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct VarsRead {
    /// Each var by name, with the literal default of a `vars::get(name, default)` when the
    /// code gives one (shown when no vars file defines the var).
    pub names: BTreeMap<String, Option<String>>,
    /// Some var is read under a name only the run knows (`vars::all()`, a computed name).
    pub dynamic: bool,
}

type FnDef = Shared<rhai::ScriptFuncDef>;

/// One script file's functions and imports, as the walk needs them.
struct Unit {
    file: PathBuf,
    functions: Vec<FnDef>,
    /// `alias -> import path` of the file's top-level `import` statements.
    imports: Vec<(String, String)>,
}

/// Walks declarations of the scripts loaded by `engine` (whose module resolver finds `lib/`).
pub struct Reader<'e> {
    engine: &'e Engine,
    units: Vec<Unit>,
}

impl<'e> Reader<'e> {
    pub fn new(engine: &'e Engine) -> Self {
        Reader {
            engine,
            units: Vec::new(),
        }
    }

    /// The vars read by `body` (a check's or remediation's `run`) of `script`.
    pub fn vars_read(&mut self, script: &LoadedScript, body: &rhai::FnPtr) -> VarsRead {
        let unit = self.unit_for_script(script);
        let mut out = VarsRead::default();
        let mut seen = HashSet::new();
        self.walk_fn(unit, body.fn_name(), &[], &mut out, &mut seen, 0);
        out
    }

    fn unit_for_script(&mut self, script: &LoadedScript) -> usize {
        if let Some(i) = self.units.iter().position(|u| u.file == script.path) {
            return i;
        }
        let functions = script.ast.iter_fn_def().cloned().collect();
        let imports = imports_of(self.engine, &script.path);
        self.units.push(Unit {
            file: script.path.clone(),
            functions,
            imports,
        });
        self.units.len() - 1
    }

    /// The unit of the module `path` imported by the file of unit `from`, resolved the way
    /// the run resolves it (the engine's resolver, which caches each module).
    fn unit_for_import(&mut self, from: usize, path: &str) -> Option<usize> {
        let source = self.units[from].file.to_string_lossy().into_owned();
        let module = self
            .engine
            .module_resolver()
            .resolve(self.engine, Some(&source), path, rhai::Position::NONE)
            .ok()?;
        let file = PathBuf::from(module.id()?);
        if let Some(i) = self.units.iter().position(|u| u.file == file) {
            return Some(i);
        }
        let functions = module
            .iter_script_fn_info()
            .map(|(.., def)| def.clone())
            .collect();
        let imports = imports_of(self.engine, &file);
        self.units.push(Unit {
            file,
            functions,
            imports,
        });
        Some(self.units.len() - 1)
    }

    /// Reads the vars of function `name` in `unit`, called with `literals` (each argument's
    /// string literal, where the call site gives one).
    fn walk_fn(
        &mut self,
        unit: usize,
        name: &str,
        literals: &[Option<String>],
        out: &mut VarsRead,
        seen: &mut HashSet<(usize, String, Vec<Option<String>>)>,
        depth: usize,
    ) {
        // Deep enough for any real call chain; a recursion the `seen` set misses stops here.
        if depth > 64 || !seen.insert((unit, name.to_string(), literals.to_vec())) {
            return;
        }
        let defs: Vec<FnDef> = self.units[unit]
            .functions
            .iter()
            .filter(|f| f.name == name)
            .cloned()
            .collect();
        for def in defs {
            let params: Vec<String> = def.params.iter().map(|p| p.to_string()).collect();
            let mut calls: Vec<Call> = Vec::new();
            // The body's type is not exported by rhai; an AST holding only this function
            // walks exactly its body.
            let mut alone = rhai::Module::new();
            alone.set_script_fn(def.clone());
            rhai::AST::new_from_module(alone).walk(&mut |nodes: &[ASTNode]| {
                visit(nodes, &params, literals, out, &mut calls);
                true
            });
            for call in calls {
                match call {
                    Call::Local(callee, args) => {
                        self.walk_fn(unit, &callee, &args, out, seen, depth + 1);
                    }
                    Call::Imported(alias, callee, args) => {
                        let path = self.units[unit]
                            .imports
                            .iter()
                            .find(|(a, _)| *a == alias)
                            .map(|(_, p)| p.clone());
                        if let Some(path) = path
                            && let Some(module) = self.unit_for_import(unit, &path)
                        {
                            self.walk_fn(module, &callee, &args, out, seen, depth + 1);
                        }
                    }
                }
            }
        }
    }
}

enum Call {
    /// A function of the same file (or a closure, by its `anon$` name).
    Local(String, Vec<Option<String>>),
    /// `alias::name(..)` into an imported module.
    Imported(String, String, Vec<Option<String>>),
}

/// One node of a function body: a var read, or a call to follow.
fn visit(
    nodes: &[ASTNode],
    params: &[String],
    literals: &[Option<String>],
    out: &mut VarsRead,
    calls: &mut Vec<Call>,
) {
    let call = match nodes.last() {
        Some(ASTNode::Stmt(Stmt::FnCall(call, _))) | Some(ASTNode::Expr(Expr::FnCall(call, _))) => {
            Some(call)
        }
        _ => None,
    };
    // A string argument as the walk can know it: a literal, or a parameter the caller gave a
    // literal for.
    let known = |arg: &Expr| -> Option<String> {
        match arg {
            Expr::StringConstant(s, _) => Some(s.to_string()),
            Expr::Variable(x, ..) if x.2.is_empty() => params
                .iter()
                .position(|p| *p == x.1.as_str())
                .and_then(|i| literals.get(i).cloned().flatten()),
            _ => None,
        }
    };
    if let Some(call) = call {
        let args: Vec<Option<String>> = call.args.iter().map(known).collect();
        if call.namespace.is_empty() {
            if call.name == "Fn" {
                if let Some(Some(name)) = args.first() {
                    calls.push(Call::Local(name.clone(), Vec::new()));
                }
            } else {
                calls.push(Call::Local(call.name.to_string(), args));
            }
        } else if call.namespace.root() == "vars" {
            match call.name.as_str() {
                "get" | "has" => match args.first() {
                    Some(Some(name)) => {
                        let default = call.args.get(1).and_then(literal_text);
                        let entry = out.names.entry(name.clone()).or_default();
                        if entry.is_none() {
                            *entry = default;
                        }
                    }
                    _ => out.dynamic = true,
                },
                // `vars::all()` hands the script every var.
                _ => out.dynamic = true,
            }
        } else {
            calls.push(Call::Imported(
                call.namespace.root().to_string(),
                call.name.to_string(),
                args,
            ));
        }
    }
    match nodes.last() {
        Some(ASTNode::Expr(Expr::Variable(x, ..))) if !x.2.is_empty() && x.2.root() == "vars" => {
            out.names.entry(x.1.to_string()).or_default();
        }
        // A closure made inside a function: its body is a function of the file.
        Some(ASTNode::Expr(Expr::DynamicConstant(value, _))) => {
            if let Some(ptr) = value.clone().try_cast::<rhai::FnPtr>() {
                calls.push(Call::Local(ptr.fn_name().to_string(), Vec::new()));
            }
        }
        Some(ASTNode::Expr(Expr::MethodCall(call, _))) => {
            calls.push(Call::Local(call.name.to_string(), Vec::new()));
        }
        _ => {}
    }
}

/// A literal default as the docs show it (`""`, `120`, `()`), or none for an expression.
fn literal_text(expr: &Expr) -> Option<String> {
    let value = expr.get_literal_value(None)?;
    Some(if value.is_unit() {
        "()".to_string()
    } else if value.is_string() {
        format!("{:?}", value.to_string())
    } else {
        value.to_string()
    })
}

/// The `import "path" as alias;` statements at the top of a file (compiled again: the loaded
/// AST keeps only functions).
fn imports_of(engine: &Engine, file: &Path) -> Vec<(String, String)> {
    let Ok(source) = std::fs::read_to_string(file) else {
        return Vec::new();
    };
    let Ok(ast) = engine.compile(&source) else {
        return Vec::new();
    };
    ast.statements()
        .iter()
        .filter_map(|stmt| match stmt {
            Stmt::Import(x, _) => match &x.0 {
                Expr::StringConstant(path, _) if !x.1.name.is_empty() => {
                    Some((x.1.name.to_string(), path.to_string()))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}
