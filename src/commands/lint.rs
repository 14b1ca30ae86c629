//! `hostscript lint`: compile every script and evaluate its declarations without running any
//! check, then report every problem as `file:line:col: message`: parse errors, bad `check`
//! keys, duplicate ids, needs that name no check, and dependency cycles. Exit 1 if any.

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use crate::cli::LintArgs;
use crate::commands::{Session, SessionOptions};
use crate::error::{Result, exit_code};

pub fn execute(mut args: LintArgs) -> Result<u8> {
    // No path: what `run` and `remediate` would use (crate::commands::installed).
    if args.paths.is_empty() {
        args.paths = crate::commands::installed::checks("PATH")?;
        args.paths
            .extend(crate::commands::installed::remediations("PATH")?);
        if let Some(vars) = crate::commands::installed::site_vars() {
            args.vars.files.insert(0, vars);
        }
    }
    let session = Session::start(SessionOptions {
        replay_vars: None,
        paths: &args.paths,
        vars_files: &args.vars.files,
        var_flags: &args.vars.flags,
        jobs: None,
        load_budget: Duration::from_secs(10),
        target: None,
        base_vars_dirs: &[],
        remediating: None,
    })?;
    let mut problems: Vec<String> = session
        .loaded
        .failures
        .iter()
        .map(|f| f.diagnostic.to_string())
        .collect();
    // Checks whose declaration is wrong in itself: each its own problem, the file's other
    // checks still linted.
    problems.extend(session.loaded.checks.iter().filter_map(|c| {
        c.broken
            .as_ref()
            .map(|p| format!("{}:{}: {p}", c.file().display(), c.line))
    }));
    problems.extend(unknown_primitives(&session)?);
    // A var written after a `[table]` header lands inside that table, silently.
    let mut vars_files: Vec<std::path::PathBuf> = session
        .discovered
        .dirs
        .iter()
        .map(|d| d.join("vars.toml"))
        .filter(|f| f.is_file())
        .collect();
    vars_files.extend(args.vars.files.iter().cloned());
    for file in &vars_files {
        problems.extend(keys_in_tables(file, &session.vars));
    }
    // A waiver that matches no check waives nothing: a typo, or a check that went away.
    let waivers = crate::waivers::Waivers::load(&session.discovered.dirs, &args.waivers)?;
    for w in &waivers.all {
        if !session
            .loaded
            .checks
            .iter()
            .any(|c| w.pattern.matches(&c.id))
        {
            problems.push(format!(
                "{}: waiver `{}` matches no check",
                w.file.display(),
                w.pattern.as_str()
            ));
        }
    }
    // Unknown `needs` and dependency cycles, as the runner would find them.
    problems.extend(crate::runner::dependency_problems(&session.loaded.checks));
    // Linted together, checks must name remediations that exist, and `after` lists too.
    let remediation_ids: HashSet<&str> = session
        .loaded
        .remediations
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    if !remediation_ids.is_empty() {
        for check in &session.loaded.checks {
            if let Some(fix) = &check.remediation
                && !remediation_ids.contains(fix.as_str())
            {
                problems.push(format!(
                    "{}:{}: check `{}` names unknown remediation `{fix}`",
                    check.file().display(),
                    check.line,
                    check.id
                ));
            }
        }
    }
    for remediation in &session.loaded.remediations {
        for after in &remediation.after {
            if !remediation_ids.contains(after.as_str()) {
                problems.push(format!(
                    "{}:{}: remediation `{}` runs after unknown remediation `{after}`",
                    remediation.file().display(),
                    remediation.line,
                    remediation.id
                ));
            }
        }
    }
    let mut out = crate::report::stdout();
    for problem in &problems {
        // A reader that went away (`lint | head`) is not an error: the count still goes to
        // stderr and the exit status still says whether problems were found.
        let _ = writeln!(out, "{problem}");
    }
    let files = session.discovered.files.len();
    let checks = session.loaded.checks.len();
    let remediations = match session.loaded.remediations.len() {
        0 => String::new(),
        n => format!(", {n} remediation{}", plural(n)),
    };
    crate::say!(
        "hostscript lint: {files} script{}, {checks} check{}{remediations}, {} problem{}",
        plural(files),
        plural(checks),
        problems.len(),
        plural(problems.len())
    );
    session.runtime.shutdown_background();
    Ok(if problems.is_empty() {
        exit_code::SUCCESS
    } else {
        exit_code::CHECK_FAILED
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Calls of namespaced functions that no module registers, or with an arity none of its
/// overloads takes, and `vars::NAME` for vars nobody defines: what would otherwise fail only
/// at run time. Found by walking each script's AST (its `fn`s included).
fn unknown_primitives(session: &Session) -> Result<Vec<String>> {
    let modules = crate::commands::help::primitive_signatures()?;
    // The forms of a primitive from its documented signatures (`bindings::docs`, which a test
    // keeps equal to what is registered).
    let arities = |module: &str, name: &str| -> Option<Vec<usize>> {
        let found = crate::bindings::docs::arities(module, name);
        (!found.is_empty()).then_some(found)
    };
    let mut scripts: Vec<&crate::script::LoadedScript> = Vec::new();
    for s in session
        .loaded
        .checks
        .iter()
        .map(|c| c.script.as_ref())
        .chain(
            session
                .loaded
                .remediations
                .iter()
                .map(|r| r.script.as_ref()),
        )
    {
        if !scripts.iter().any(|known| known.path == s.path) {
            scripts.push(s);
        }
    }
    let defined: Vec<String> = session.engine_vars();
    let vars = session.vars.clone();
    let mut problems = Vec::new();
    for script in scripts {
        script.ast.walk(&mut |path: &[rhai::ASTNode]| {
            // A call can be a statement of its own or part of an expression.
            let call = match path.last() {
                Some(rhai::ASTNode::Stmt(rhai::Stmt::FnCall(call, pos)))
                | Some(rhai::ASTNode::Expr(rhai::Expr::FnCall(call, pos))) => Some((call, *pos)),
                _ => None,
            };
            if let Some((call, pos)) = call
                && !call.namespace.is_empty()
            {
                let module = call.namespace.root();
                let name = call.name.as_str();
                let at = format!(
                    "{}:{}:{}",
                    script.path.display(),
                    pos.line().unwrap_or(0),
                    pos.position().unwrap_or(0)
                );
                // Only primitives: an imported script module (`lib/`) is another matter.
                if modules.iter().any(|(m, _)| *m == module) {
                    match arities(module, name) {
                        None => {
                            let names: Vec<String> = modules
                                .iter()
                                .filter(|(m, _)| *m == module)
                                .flat_map(|(_, sigs)| {
                                    sigs.iter()
                                        .filter_map(|s| s.split('(').next().map(str::to_string))
                                })
                                .collect();
                            let hint = closest(name, &names)
                                .map(|n| format!("; did you mean `{module}::{n}`?"))
                                .unwrap_or_default();
                            problems.push(format!("{at}: no primitive `{module}::{name}`{hint}"));
                        }
                        Some(counts) if !counts.contains(&call.args.len()) => {
                            problems.push(format!(
                                "{at}: `{module}::{name}` takes {} argument(s), not {}",
                                counts
                                    .iter()
                                    .map(|c| c.to_string())
                                    .collect::<Vec<_>>()
                                    .join(" or "),
                                call.args.len()
                            ));
                        }
                        Some(_) => {
                            let given: Vec<Option<&'static str>> =
                                call.args.iter().map(|a| literal_type(a, &vars)).collect();
                            if let Some(problem) = type_problem(module, name, &given) {
                                problems.push(format!("{at}: {problem}"));
                            }
                        }
                    }
                }
            }
            // An in-place method (`trim`, `replace`, ...) changes its receiver and returns
            // (): its value used in an expression is always () (`"/proc/sys/" +
            // key.replace(".", "/")` is "/proc/sys/").
            if let Some(rhai::ASTNode::Expr(rhai::Expr::MethodCall(call, pos))) = path.last()
                && IN_PLACE.contains(&call.name.as_str())
                && value_is_used(path)
            {
                problems.push(format!(
                    "{}:{}:{}: `.{}(..)` changes its receiver in place and returns (), so its value here is (); call it as a statement, then use the variable",
                    script.path.display(),
                    pos.line().unwrap_or(0),
                    pos.position().unwrap_or(0),
                    call.name
                ));
            }
            if let Some(rhai::ASTNode::Expr(rhai::Expr::Variable(x, _, pos))) = path.last()
                && !x.2.is_empty()
                && x.2.root() == "vars"
            {
                let name = x.1.as_str();
                if !defined.iter().any(|d| d == name) {
                    let hint = closest(name, &defined)
                        .map(|n| format!("; did you mean `vars::{n}`?"))
                        .unwrap_or_default();
                    problems.push(format!(
                        "{}:{}:{}: no var `{name}` in any vars file or --var{hint}",
                        script.path.display(),
                        pos.line().unwrap_or(0),
                        pos.position().unwrap_or(0)
                    ));
                }
            }
            true
        });
    }
    Ok(problems)
}

/// The type of an argument where the script spells it: a literal, or a var (its value's type).
fn literal_type(arg: &rhai::Expr, vars: &crate::vars::Vars) -> Option<&'static str> {
    use rhai::Expr;
    Some(match arg {
        Expr::StringConstant(..) | Expr::InterpolatedString(..) => "string",
        Expr::IntegerConstant(..) => "int",
        Expr::FloatConstant(..) => "float",
        Expr::BoolConstant(..) => "bool",
        Expr::Array(..) => "array",
        Expr::Map(..) => "map",
        Expr::Variable(x, _, _) if !x.2.is_empty() && x.2.root() == "vars" => {
            match vars.get(x.1.as_str())? {
                toml::Value::String(_) => "string",
                toml::Value::Integer(_) => "int",
                toml::Value::Float(_) => "float",
                toml::Value::Boolean(_) => "bool",
                toml::Value::Array(_) => "array",
                toml::Value::Table(_) => "map",
                toml::Value::Datetime(_) => return None,
            }
        }
        _ => return None,
    })
}

/// Whether a documented parameter type takes a value of `given` type.
fn accepts(param: &str, given: &str) -> bool {
    let ty = param.split_once(':').map_or(param, |(_, t)| t).trim();
    let base = ty.split([' ', '#']).next().unwrap_or(ty);
    match base {
        "any" | "" => true,
        "number" => matches!(given, "int" | "float"),
        "float" => matches!(given, "int" | "float"),
        other => other == given,
    }
}

/// A call whose known argument types no form of the primitive takes.
fn type_problem(module: &str, name: &str, given: &[Option<&'static str>]) -> Option<String> {
    if given.iter().all(Option::is_none) {
        return None;
    }
    let forms = crate::bindings::docs::forms(module, name);
    let fits = forms.iter().any(|form| {
        crate::bindings::docs::split(form).is_some_and(|(params, _)| {
            params.len() == given.len()
                && params
                    .iter()
                    .zip(given)
                    .all(|(p, g)| g.is_none_or(|g| accepts(p, g)))
        })
    });
    if fits {
        return None;
    }
    let shown: Vec<&str> = given.iter().map(|g| g.unwrap_or("?")).collect();
    let forms: Vec<String> = forms.iter().map(|f| format!("`{module}::{f}`")).collect();
    Some(format!(
        "{}: called with ({})",
        forms.join(" or "),
        shown.join(", ")
    ))
}

/// Keys of a vars file that sit inside a `[table]` while a var of that name is top-level
/// elsewhere (the defaults, another file): most likely written after the header by accident.
fn keys_in_tables(file: &std::path::Path, vars: &crate::vars::Vars) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Vec::new();
    };
    let mut table: Option<String> = None;
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(name) = line
            .strip_prefix('[')
            .filter(|l| !l.starts_with('['))
            .and_then(|l| l.split(']').next())
        {
            table = Some(name.trim().to_string());
            continue;
        }
        if line.starts_with("[[") {
            table = Some(String::new());
            continue;
        }
        let (Some(table), Some((key, _))) = (&table, line.split_once('=')) else {
            continue;
        };
        let key = key.trim().trim_matches('"');
        if key.is_empty() || key.starts_with('#') {
            continue;
        }
        let top_level = vars
            .get(key)
            .is_some_and(|v| !matches!(v, toml::Value::Table(_)));
        if top_level {
            found.push(format!(
                "{}:{}: `{key}` is inside [{table}] (it follows that header), but `{key}` is a top-level var: move it above the first [table]",
                file.display(),
                n + 1
            ));
        }
    }
    found
}

/// String and array methods that change their receiver and return `()` (`remove` is left
/// out: on arrays and maps it returns what it removed).
const IN_PLACE: &[&str] = &[
    "replace",
    "trim",
    "make_upper",
    "make_lower",
    "pad",
    "truncate",
    "crop",
    "clear",
];

/// Whether the method call at the end of `path` is used as a value: the chain it ends is not
/// a statement of its own.
fn value_is_used(path: &[rhai::ASTNode]) -> bool {
    // Up from the call through the `.` chain it belongs to, to what holds the chain.
    let mut i = path.len().saturating_sub(1);
    while i > 0 && matches!(path[i - 1], rhai::ASTNode::Expr(rhai::Expr::Dot(..))) {
        i -= 1;
    }
    match i.checked_sub(1).map(|p| &path[p]) {
        // `x.trim();` alone: the receiver changes, nothing reads the ().
        Some(rhai::ASTNode::Stmt(rhai::Stmt::Expr(_))) | None => false,
        Some(rhai::ASTNode::Stmt(rhai::Stmt::Block(..))) => false,
        Some(_) => true,
    }
}

/// The name within edit distance 2 of `name`, if one is.
fn closest<'a>(name: &str, candidates: &'a [String]) -> Option<&'a str> {
    crate::text::closest(name, candidates.iter().map(String::as_str))
}
