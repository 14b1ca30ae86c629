//! systemd unit state through `systemctl show`: load, active and sub state, unit-file state,
//! main PID, the effective ExecStart (drop-ins already applied by systemd), fragment and
//! drop-in paths, Requires and After, whether the manager needs a daemon-reload.
//!
//! ExecStart's argv and the main process's start time come from the manager over D-Bus
//! (`busctl --json=short get-property`), not from `systemctl show`: systemd 252 prints argv
//! joined by spaces with nothing quoted or escaped (`src/systemctl/systemctl-show.c`,
//! `strv_join(info.argv, " ")`; systemd issue #40079), so an argument holding a space, a quote
//! or a newline cannot be told from two arguments there. D-Bus gives the array the process
//! will receive.
//!
//! On a host where systemd is not PID 1, systemctl cannot answer; that is reported as
//! "systemd is not running on this host", never as an inactive unit.

use std::time::Duration;

use crate::host::cmd::{self, CmdError, CommandSpec};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SystemdError {
    #[error("systemd is not running on this host (systemctl: {detail})")]
    NotRunning { detail: String },
    #[error("`{program}` not found: systemd is not installed on this host")]
    NotInstalled { program: String },
    /// The manager runs but refuses this user (a private bus of another user).
    #[error("cannot reach the systemd manager: permission denied (systemctl: {detail})")]
    PermissionDenied { detail: String },
    #[error("`systemctl show {unit}` failed: {message}")]
    Failed { unit: String, message: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecCommand {
    pub path: String,
    pub argv: Vec<String>,
    /// ExecStartEx's flags (`no-env-expand` for a `:` prefix, `ignore-failure` for `-`, ...).
    pub flags: Vec<String>,
    /// Whether argv is the manager's own array (D-Bus), or only the words `systemctl show`
    /// prints (where D-Bus cannot be reached), which an argument holding a space splits.
    pub exact: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Unit {
    pub name: String,
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
    pub unit_file_state: String,
    pub main_pid: u32,
    pub exec_start: Vec<ExecCommand>,
    pub fragment_path: String,
    pub drop_in_paths: Vec<String>,
    pub requires: Vec<String>,
    pub after: Vec<String>,
    /// `Before=`: units this one starts before (ordering for the boot checks).
    pub before: Vec<String>,
    /// Reverse dependencies: the units whose `Wants=`/`Requires=` pull this one in (an
    /// enabled unit's `[Install] WantedBy=` shows here as the target's `Wants=`).
    pub wanted_by: Vec<String>,
    pub required_by: Vec<String>,
    /// `Type=` (simple, exec, forking, oneshot, notify, ...).
    pub service_type: String,
    /// `User=`; empty means root.
    pub user: String,
    /// `Environment=` assignments, in order (drop-ins applied).
    pub environment: Vec<(String, String)>,
    /// `EnvironmentFile=` paths and whether a missing file is ignored (`-` prefix).
    pub environment_files: Vec<EnvironmentFile>,
    /// `NeedDaemonReload=yes`: a unit file or drop-in changed on disk since the manager last
    /// loaded it, so what it runs is not what the files say until `daemon-reload`.
    pub need_daemon_reload: bool,
    /// When the current main process started, in microseconds since the epoch
    /// (`ExecMainStartTimestamp`); 0 when it never started.
    pub main_start_us: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnvironmentFile {
    pub path: String,
    pub ignore_errors: bool,
}

const PROPERTIES: &str = "Id,LoadState,ActiveState,SubState,UnitFileState,MainPID,ExecStart,FragmentPath,DropInPaths,Requires,After,Before,WantedBy,RequiredBy,Type,User,Environment,EnvironmentFiles,NeedDaemonReload";

/// The programs that ask the manager: `systemctl`, and `busctl` for what only D-Bus tells
/// exactly. Tests point both at a user manager (wrappers that add `--user`).
#[derive(Debug, Clone)]
pub struct Programs {
    pub systemctl: String,
    pub busctl: String,
}

impl Programs {
    /// `$HOSTSCRIPT_SYSTEMCTL` and `$HOSTSCRIPT_BUSCTL`, else the programs on PATH.
    pub fn from_env() -> Programs {
        Programs {
            systemctl: std::env::var("HOSTSCRIPT_SYSTEMCTL").unwrap_or_else(|_| "systemctl".into()),
            busctl: std::env::var("HOSTSCRIPT_BUSCTL").unwrap_or_else(|_| "busctl".into()),
        }
    }
}

pub async fn unit(
    name: &str,
    programs: &Programs,
    timeout: Duration,
) -> Result<Unit, SystemdError> {
    let systemctl = programs.systemctl.as_str();
    let argv = ["show", &format!("--property={PROPERTIES}"), "--", name];
    let mut spec = CommandSpec::new(
        std::iter::once(systemctl.to_string())
            .chain(argv.iter().map(|s| s.to_string()))
            .collect(),
        timeout,
    );
    // Keep systemctl from paging or asking for passwords.
    spec.env.push(("SYSTEMD_PAGER".into(), String::new()));
    let out = cmd::run(&spec).await.map_err(|e| match e {
        CmdError::NotFound { program } | CmdError::NoSuchFile { program } => {
            SystemdError::NotInstalled { program }
        }
        other => SystemdError::Failed {
            unit: name.to_string(),
            message: other.to_string(),
        },
    })?;
    if out.code != Some(0) {
        let stderr = out.stderr.trim();
        let detail = stderr.lines().next().unwrap_or_default().to_string();
        if stderr.contains("Failed to connect to bus: Permission denied") {
            return Err(SystemdError::PermissionDenied { detail });
        }
        if stderr.contains("has not been booted with systemd")
            || stderr.contains("Failed to connect to bus")
        {
            return Err(SystemdError::NotRunning { detail });
        }
        let message = stderr.lines().next().unwrap_or("no output").to_string();
        return Err(SystemdError::Failed {
            unit: name.to_string(),
            message,
        });
    }
    let mut unit = parse_show(name, &out.stdout).map_err(|message| SystemdError::Failed {
        unit: name.to_string(),
        message,
    })?;
    if !unit.exec_start.is_empty() {
        let bus = match exec_from_bus(&unit.name, &programs.busctl, timeout).await {
            Ok(bus) => Some(bus),
            // No D-Bus to ask (a host without dbus, or no busctl): the words systemctl printed
            // stay, marked inexact, rather than no answer at all.
            Err(BusError::Unavailable(why)) => {
                tracing::debug!(unit = %unit.name, %why, "ExecStart from systemctl show");
                None
            }
            Err(BusError::Failed(message)) => {
                return Err(SystemdError::Failed {
                    unit: name.to_string(),
                    message,
                });
            }
        };
        if let Some((commands, started, environment)) = bus {
            if commands.len() != unit.exec_start.len() {
                return Err(SystemdError::Failed {
                    unit: name.to_string(),
                    message: format!(
                        "systemctl shows {} ExecStart= commands and D-Bus {}",
                        unit.exec_start.len(),
                        commands.len()
                    ),
                });
            }
            unit.exec_start = commands;
            unit.main_start_us = started;
            unit.environment = environment;
        }
    }
    Ok(unit)
}

/// Why D-Bus gave no ExecStart: nobody to ask, or an answer that is wrong.
enum BusError {
    Unavailable(String),
    Failed(String),
}

/// The D-Bus object path of a unit (systemd `src/basic/bus-label.c` `bus_label_escape`): every
/// byte but an ASCII letter, or a digit not first, becomes `_` and two hex digits.
pub fn unit_object_path(id: &str) -> String {
    let mut path = String::from("/org/freedesktop/systemd1/unit/");
    if id.is_empty() {
        path.push('_');
    }
    for (i, b) in id.bytes().enumerate() {
        if b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()) {
            path.push(char::from(b));
        } else {
            path.push_str(&format!("_{b:02x}"));
        }
    }
    path
}

/// What D-Bus gives exactly: ExecStart's commands, the main process's start time (µs since
/// the epoch) and `Environment=` in order.
pub type BusExec = (Vec<ExecCommand>, u64, Vec<(String, String)>);

/// ExecStartEx (`a(sasasttttuii)`: path, argv, flags, times, pid, code, status; systemd 243
/// and later) or else ExecStart (`a(sasbttttuii)`), ExecMainStartTimestamp (`t`) and
/// Environment (`as`) of a service, as `busctl --json=short` prints them: one JSON document
/// per property. Environment comes from here too because `systemctl show` quotes it for a
/// shell, which loses backslashes and quotes in values.
async fn exec_from_bus(id: &str, busctl: &str, timeout: Duration) -> Result<BusExec, BusError> {
    let object = unit_object_path(id);
    let mut last = String::new();
    for exec in ["ExecStartEx", "ExecStart"] {
        let argv = [
            busctl,
            "--json=short",
            "get-property",
            "org.freedesktop.systemd1",
            &object,
            "org.freedesktop.systemd1.Service",
            exec,
            "ExecMainStartTimestamp",
            "Environment",
        ];
        let spec = CommandSpec::new(argv.iter().map(|s| s.to_string()).collect(), timeout);
        let out = match cmd::run(&spec).await {
            Ok(out) => out,
            Err(CmdError::NotFound { .. } | CmdError::NoSuchFile { .. }) => {
                return Err(BusError::Unavailable(format!("`{busctl}` not found")));
            }
            Err(e) => {
                return Err(BusError::Failed(format!(
                    "reading ExecStart's argv over D-Bus: {e}"
                )));
            }
        };
        if out.code == Some(0) {
            return parse_bus_exec(&out.stdout).map_err(BusError::Failed);
        }
        let why = out
            .stderr
            .trim()
            .lines()
            .next()
            .unwrap_or("no output")
            .to_string();
        if why.starts_with("Failed to connect to bus") {
            return Err(BusError::Unavailable(why));
        }
        // An older systemd has no ExecStartEx: ask for ExecStart.
        last = why;
    }
    Err(BusError::Failed(format!(
        "reading ExecStart's argv over D-Bus: `{busctl} get-property` failed: {last}"
    )))
}

/// The three documents `exec_from_bus` asks for. Anything but the exact D-Bus types is an
/// error.
pub fn parse_bus_exec(text: &str) -> Result<BusExec, String> {
    let mut docs = text.lines().filter(|l| !l.trim().is_empty());
    let bad = |why: &str| format!("busctl's answer for ExecStart: {why}");
    let exec: serde_json::Value = docs
        .next()
        .ok_or_else(|| bad("no output"))
        .and_then(|l| serde_json::from_str(l).map_err(|e| bad(&format!("not JSON ({e})"))))?;
    let started: serde_json::Value = docs
        .next()
        .ok_or_else(|| bad("no ExecMainStartTimestamp"))
        .and_then(|l| serde_json::from_str(l).map_err(|e| bad(&format!("not JSON ({e})"))))?;
    let environment: serde_json::Value = docs
        .next()
        .ok_or_else(|| bad("no Environment"))
        .and_then(|l| serde_json::from_str(l).map_err(|e| bad(&format!("not JSON ({e})"))))?;
    if docs.next().is_some() {
        return Err(bad("more documents than asked for"));
    }
    let extended = match exec["type"].as_str() {
        Some("a(sasasttttuii)") => true,
        Some("a(sasbttttuii)") => false,
        _ => {
            return Err(bad(&format!(
                "type {} is neither a(sasasttttuii) nor a(sasbttttuii)",
                exec["type"]
            )));
        }
    };
    let mut commands = Vec::new();
    for entry in exec["data"]
        .as_array()
        .ok_or_else(|| bad("data is not an array"))?
    {
        let path = entry[0]
            .as_str()
            .ok_or_else(|| bad("a command has no path"))?;
        let argv = entry[1]
            .as_array()
            .ok_or_else(|| bad("a command has no argv array"))?
            .iter()
            .map(|w| {
                w.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad("argv holds a non-string"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if argv.is_empty() {
            return Err(bad(&format!("{path} has an empty argv")));
        }
        let flags = if extended {
            entry[2]
                .as_array()
                .ok_or_else(|| bad("a command has no flags array"))?
                .iter()
                .map(|f| {
                    f.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| bad("flags hold a non-string"))
                })
                .collect::<Result<Vec<_>, _>>()?
        } else {
            Vec::new()
        };
        commands.push(ExecCommand {
            path: path.to_string(),
            argv,
            flags,
            exact: true,
        });
    }
    if started["type"] != "t" {
        return Err(bad("ExecMainStartTimestamp is not of type t"));
    }
    let started = started["data"]
        .as_u64()
        .ok_or_else(|| bad("ExecMainStartTimestamp is not a number"))?;
    if environment["type"] != "as" {
        return Err(bad("Environment is not of type as"));
    }
    let environment = environment["data"]
        .as_array()
        .ok_or_else(|| bad("Environment is not an array"))?
        .iter()
        .map(|a| {
            a.as_str()
                .and_then(|a| a.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| bad(&format!("Environment entry {a} is not NAME=VALUE")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((commands, started, environment))
}

/// Parses `systemctl show` output (`Key=Value` lines; ExecStart and EnvironmentFiles may
/// repeat). A value it does not understand is an error, never a default.
pub fn parse_show(name: &str, text: &str) -> Result<Unit, String> {
    let mut unit = Unit {
        name: name.to_string(),
        ..Unit::default()
    };
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        // systemd 252 prints argv raw, so an argument's newline continues the value on the
        // next lines, up to the one that ends the `{ ... }` record.
        let joined;
        let value = if key == "ExecStart" && !value.is_empty() && !exec_record_ends(value) {
            let mut whole = value.to_string();
            loop {
                let next = lines
                    .next()
                    .ok_or_else(|| format!("ExecStart `{value}` never ends"))?;
                whole.push('\n');
                whole.push_str(next);
                if exec_record_ends(next) {
                    break;
                }
            }
            joined = whole;
            joined.as_str()
        } else {
            value
        };
        let list = || {
            value
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        match key {
            "Id" if !value.is_empty() => unit.name = value.to_string(),
            "LoadState" => unit.load_state = value.to_string(),
            "ActiveState" => unit.active_state = value.to_string(),
            "SubState" => unit.sub_state = value.to_string(),
            "UnitFileState" => unit.unit_file_state = value.to_string(),
            "MainPID" => {
                unit.main_pid = value
                    .parse()
                    .map_err(|_| format!("MainPID `{value}` is not a process id"))?;
            }
            "ExecStart" => unit.exec_start.extend(parse_exec(value)?),
            "FragmentPath" => unit.fragment_path = value.to_string(),
            "DropInPaths" => unit.drop_in_paths = list(),
            "Requires" => unit.requires = list(),
            "After" => unit.after = list(),
            "Before" => unit.before = list(),
            "WantedBy" => unit.wanted_by = list(),
            "RequiredBy" => unit.required_by = list(),
            "Type" => unit.service_type = value.to_string(),
            "User" => unit.user = value.to_string(),
            "Environment" => unit.environment = parse_environment(value)?,
            "EnvironmentFiles" if !value.is_empty() => {
                unit.environment_files.push(parse_environment_file(value)?);
            }
            "NeedDaemonReload" => {
                unit.need_daemon_reload = match value {
                    "yes" => true,
                    "no" => false,
                    _ => return Err(format!("NeedDaemonReload `{value}` is not yes or no")),
                };
            }
            _ => {}
        }
    }
    Ok(unit)
}

/// `Environment=A=1 "B=two words"`: systemctl prints each assignment shell-quoted when it
/// needs quoting (`shell_maybe_quote`), separated by spaces.
fn parse_environment(value: &str) -> Result<Vec<(String, String)>, String> {
    let words = shlex::split(value)
        .ok_or_else(|| format!("Environment `{value}` has unbalanced quotes"))?;
    words
        .into_iter()
        .map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| format!("Environment entry `{w}` is not NAME=VALUE"))
        })
        .collect()
}

/// `EnvironmentFiles=/etc/default/x (ignore_errors=no)`, one line per file.
fn parse_environment_file(value: &str) -> Result<EnvironmentFile, String> {
    let bad = || format!("EnvironmentFiles `{value}` is not `PATH (ignore_errors=yes|no)`");
    let (path, flag) = value.rsplit_once(" (ignore_errors=").ok_or_else(bad)?;
    let ignore_errors = match flag {
        "yes)" => true,
        "no)" => false,
        _ => return Err(bad()),
    };
    Ok(EnvironmentFile {
        path: path.to_string(),
        ignore_errors,
    })
}

/// Whether systemd accepts `name` as an environment variable name: letters, digits and `_`,
/// not starting with a digit (systemd `src/basic/env-util.c` `env_name_is_valid`). Other
/// assignments are dropped, from `Environment=` and from environment files alike.
pub fn env_name_is_valid(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The assignments of an environment file systemd keeps, in order, and the names it drops.
pub type EnvFile = (Vec<(String, String)>, Vec<String>);

/// An environment file as systemd reads it (`src/basic/env-file.c`): `NAME=VALUE` lines;
/// blank lines and lines starting with `#` or `;` are comments; values may be single-quoted
/// (literal) or double-quoted (backslash escapes); outside quotes a backslash escapes the next
/// character and one at the end of a line continues it; unquoted trailing whitespace is
/// dropped. Returns the valid assignments in order and the names systemd would drop. A line
/// without `=`, or an unterminated quote, is an error.
pub fn parse_env_file(text: &str) -> Result<EnvFile, String> {
    let mut assignments = Vec::new();
    let mut dropped = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1usize;
    loop {
        // Skip blank space and comment lines.
        while let Some(&c) = chars.peek() {
            if c == '\n' {
                line += 1;
                chars.next();
            } else if c.is_whitespace() {
                chars.next();
            } else if c == '#' || c == ';' {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            } else {
                break;
            }
        }
        if chars.peek().is_none() {
            break;
        }
        let start = line;
        let mut key = String::new();
        loop {
            match chars.next() {
                Some('=') => break,
                Some('\n') | None => {
                    return Err(format!("line {start}: `{}` is not NAME=VALUE", key.trim()));
                }
                Some(c) => key.push(c),
            }
        }
        let key = key.trim().to_string();
        let mut value = String::new();
        // Length of `value` that is protected from trailing-whitespace trimming.
        let mut kept = 0;
        // Leading whitespace of the value is dropped.
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        loop {
            match chars.next() {
                None => break,
                Some('\n') => {
                    line += 1;
                    break;
                }
                Some('\'') => {
                    loop {
                        match chars.next() {
                            Some('\'') => break,
                            Some(c) => {
                                if c == '\n' {
                                    line += 1;
                                }
                                value.push(c);
                            }
                            None => return Err(format!("line {start}: unterminated ' quote")),
                        }
                    }
                    kept = value.len();
                }
                Some('"') => {
                    loop {
                        match chars.next() {
                            Some('"') => break,
                            Some('\\') => match chars.next() {
                                Some('\n') => line += 1,
                                Some(c @ ('"' | '\\' | '`' | '$')) => value.push(c),
                                Some(c) => {
                                    value.push('\\');
                                    value.push(c);
                                }
                                None => return Err(format!("line {start}: unterminated \" quote")),
                            },
                            Some(c) => {
                                if c == '\n' {
                                    line += 1;
                                }
                                value.push(c);
                            }
                            None => return Err(format!("line {start}: unterminated \" quote")),
                        }
                    }
                    kept = value.len();
                }
                Some('\\') => match chars.next() {
                    Some('\n') => line += 1,
                    Some(c) => {
                        value.push(c);
                        kept = value.len();
                    }
                    None => {}
                },
                Some(c) => value.push(c),
            }
        }
        let trimmed = value[kept..].trim_end().len() + kept;
        value.truncate(trimmed);
        if env_name_is_valid(&key) {
            assignments.push((key, value));
        } else {
            dropped.push(key);
        }
    }
    Ok((assignments, dropped))
}

/// ExecStart's argv after variable substitution, as systemd 252 does it when it starts the
/// command (`src/basic/env-util.c` `replace_env_argv` and `replace_env`, called from
/// `src/core/execute.c` with no flags; systemd.service(5) "Command lines"):
/// - a whole word `$NAME` (not `${` or `$$`) becomes the value split at whitespace, with
///   quotes and backslashes removed as the shell would (`strv_split_full`, `EXTRACT_RELAX |
///   EXTRACT_UNQUOTE`); an unset or empty NAME gives no argument at all. NAME is the rest of
///   the word, so `$A/b` looks up `A/b`;
/// - inside any other word `${NAME}` is replaced by the value as is (unset gives ""), `$$` by
///   `$`; `$NAME` without braces stays literal;
/// - `${NAME:-x}` and `${NAME:+x}` are not supported by 252's argv expansion and stay literal
///   (`REPLACE_ENV_ALLOW_EXTENDED` is not passed); an unterminated `${` stays literal.
///
/// `env` is in the order systemd applies it: a later assignment of a name wins.
pub fn expand_argv(argv: &[String], env: &[(String, String)]) -> Vec<String> {
    let get = |name: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let mut out = Vec::with_capacity(argv.len());
    for word in argv {
        if let Some(name) = word.strip_prefix('$')
            && !name.starts_with(['{', '$'])
        {
            if let Some(value) = get(name) {
                out.extend(split_unquote(value));
            }
            continue;
        }
        out.push(replace_env(word, &get));
    }
    out
}

/// `replace_env` with no flags: `${NAME}` and `$$` inside a word.
fn replace_env<'a>(word: &str, get: &dyn Fn(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            // The name runs to the first `}`; a `:` before it is extended syntax, which 252
            // leaves as written, and so is a `${` that never closes.
            match inner.find(['}', ':']) {
                Some(end) if inner.as_bytes()[end] == b'}' => {
                    out.push_str(get(&inner[..end]).unwrap_or(""));
                    rest = &inner[end + 1..];
                }
                _ => {
                    out.push_str("${");
                    rest = inner;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A value split into words as `strv_split_full(.., WHITESPACE, EXTRACT_RELAX |
/// EXTRACT_UNQUOTE)` does (`src/basic/extract-word.c`): whitespace separates words outside
/// quotes; `'` and `"` group and are removed, parts next to each other join; a backslash
/// takes the next character literally, in quotes too; an unterminated quote runs to the end.
fn split_unquote(value: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                in_word = true;
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                in_word = true;
                quote = Some(c);
            }
            (None, ' ' | '\t' | '\n' | '\r') => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// One argument as an ExecStart= line must spell it for systemd to hand the process exactly
/// `word`, with no expansion (systemd.service(5) "Command lines", systemd.unit(5)
/// "Specifiers"): as it is when it holds only letters, digits and `/._-=:,+@`; else
/// double-quoted with C escapes for `"`, `\` and control characters, `%` doubled against
/// specifiers and `$` doubled against variable expansion.
pub fn quote_exec_arg(word: &str) -> String {
    // Words of plain characters stay as they are, so the line reads as a person wrote it.
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-=:,+@".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_string();
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c if c.is_control() && u32::from(c) < 0x80 => {
                out.push_str(&format!("\\x{:02x}", u32::from(c)));
            }
            // \x would be a byte; \u is the character, UTF-8 encoded (cunescape).
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether a line ends an ExecStart record: `... ; ignore_errors=no ; ... ; status=N/M }`.
fn exec_record_ends(line: &str) -> bool {
    line.ends_with(" }") && line.contains(" ; ignore_errors=") && line.contains(" ; status=")
}

/// One `ExecStart=` record of `systemctl show`: `{ path=/bin/x ; argv[]=/bin/x --flag value ;
/// ignore_errors=no ; start_time=[...] ; stop_time=[...] ; pid=N ; code=... ; status=N/N }`.
/// systemd 252 joins argv with single spaces and no quoting, so the words here are what the
/// text shows, not necessarily the arguments: `unit` replaces them with the manager's own
/// array from D-Bus. An argument may itself hold ` ; `, braces, `#` or a newline, so the fields
/// are found from the ends of the record: `path=` up to the first ` ; argv[]=`, argv up to the
/// last ` ; ignore_errors=`. Anything else is an error, never a shorter argv.
pub fn parse_exec(value: &str) -> Result<Vec<ExecCommand>, String> {
    if value.trim().is_empty() {
        return Ok(Vec::new());
    }
    let bad = |why: &str| format!("ExecStart `{value}`: {why}");
    let body = value
        .strip_prefix("{ ")
        .and_then(|v| v.strip_suffix(" }"))
        .ok_or_else(|| bad("not `{ path=... ; argv[]=... ; ... }`"))?;
    let rest = body
        .strip_prefix("path=")
        .ok_or_else(|| bad("no `path=` first"))?;
    let (path, rest) = rest
        .split_once(" ; argv[]=")
        .ok_or_else(|| bad("no `argv[]=` after the path"))?;
    let end = rest
        .rfind(" ; ignore_errors=")
        .ok_or_else(|| bad("no `ignore_errors=` after argv"))?;
    let words = &rest[..end];
    if words.is_empty() {
        return Err(bad("empty argv"));
    }
    Ok(vec![ExecCommand {
        path: path.to_string(),
        argv: words.split(' ').map(str::to_string).collect(),
        flags: Vec::new(),
        exact: false,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_start_parses_path_and_the_words_systemd_252_prints() {
        let v = "{ path=/usr/local/bin/flintlockd ; argv[]=/usr/local/bin/flintlockd run --containerd-socket /run/containerd-dev/containerd.sock --parent-iface eno4 ; ignore_errors=no ; start_time=[Wed 2026-11-25 09:12:01 UTC] ; stop_time=[n/a] ; pid=4242 ; code=(null) ; status=0/0 }";
        let cmds = parse_exec(v).expect("parses");
        assert_eq!(cmds.len(), 1);
        assert_eq!(cmds[0].path, "/usr/local/bin/flintlockd");
        assert_eq!(
            cmds[0].argv[1..4],
            [
                "run",
                "--containerd-socket",
                "/run/containerd-dev/containerd.sock"
            ]
        );
        assert!(parse_exec("").expect("empty").is_empty());
    }

    #[test]
    fn a_raw_newline_in_argv_continues_the_record_and_hides_no_property() {
        // What systemd 252 printed for `ExecStart=/bin/x --tag #blue "a\nb"` (a real manager).
        let text = "ExecStart={ path=/bin/x ; argv[]=/bin/x --tag #blue a\nMainPID=7 ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }\nMainPID=0\nNeedDaemonReload=yes\n";
        let u = parse_show("x", text).expect("parses");
        assert_eq!(u.main_pid, 0);
        assert!(u.need_daemon_reload);
        assert_eq!(u.exec_start.len(), 1);
        assert_eq!(u.exec_start[0].argv[..3], ["/bin/x", "--tag", "#blue"]);
        assert!(parse_show("x", "ExecStart={ path=/bin/x ; argv[]=/bin/x a\nb\n").is_err());
        assert!(parse_show("x", "NeedDaemonReload=maybe\n").is_err());
    }

    #[test]
    fn the_bus_answer_gives_argv_exactly_and_nothing_else_is_accepted() {
        let text = r##"{"type":"a(sasbttttuii)","data":[["/bin/x",["/bin/x","sp ace","#blue","a\nb","x\"y"],false,0,0,0,0,0,0,0]]}
{"type":"t","data":1765000000123456}
{"type":"as","data":["A=x \\\" y","B="]}
"##;
        let (cmds, started, env) = parse_bus_exec(text).expect("parses");
        assert_eq!(
            env,
            [("A".into(), "x \\\" y".into()), ("B".into(), String::new())]
        );
        assert_eq!(cmds[0].argv, ["/bin/x", "sp ace", "#blue", "a\nb", "x\"y"]);
        assert_eq!(started, 1_765_000_000_123_456);
        for bad in [
            "",
            "not json\n{}",
            r#"{"type":"s","data":"x"}
{"type":"t","data":0}"#,
            r#"{"type":"a(sasbttttuii)","data":[["/bin/x",[],false,0,0,0,0,0,0,0]]}
{"type":"t","data":0}"#,
            r#"{"type":"a(sasbttttuii)","data":[]}"#,
            r#"{"type":"a(sasbttttuii)","data":[]}
{"type":"t","data":-1}
{"type":"as","data":[]}"#,
            r#"{"type":"a(sasbttttuii)","data":[]}
{"type":"t","data":1}
{"type":"as","data":["NOEQUALS"]}"#,
        ] {
            assert!(parse_bus_exec(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unit_object_paths_escape_as_systemd_does() {
        assert_eq!(
            unit_object_path("flintlockd.service"),
            "/org/freedesktop/systemd1/unit/flintlockd_2eservice"
        );
        assert_eq!(
            unit_object_path("containerd-dev.service"),
            "/org/freedesktop/systemd1/unit/containerd_2ddev_2eservice"
        );
        assert_eq!(
            unit_object_path("1x@a.service"),
            "/org/freedesktop/systemd1/unit/_31x_40a_2eservice"
        );
    }

    #[test]
    fn environment_and_files_parse_as_systemctl_prints_them() {
        let u = parse_show(
            "x",
            "Type=simple\nUser=\nEnvironment=FLINTLOCKD_INSECURE=true \"GREETING=hello world\"\nEnvironmentFiles=/etc/default/flintlockd (ignore_errors=yes)\nEnvironmentFiles=/etc/flintlockd.env (ignore_errors=no)\n",
        )
        .expect("parses");
        assert_eq!(u.service_type, "simple");
        assert_eq!(
            u.environment,
            [
                ("FLINTLOCKD_INSECURE".to_string(), "true".to_string()),
                ("GREETING".to_string(), "hello world".to_string())
            ]
        );
        assert_eq!(u.environment_files.len(), 2);
        assert!(u.environment_files[0].ignore_errors);
        assert_eq!(u.environment_files[1].path, "/etc/flintlockd.env");
        assert!(parse_show("x", "MainPID=12x\n").is_err());
        assert!(parse_show("x", "EnvironmentFiles=/etc/x\n").is_err());
        assert!(parse_show("x", "Environment=\"A=1\n").is_err());
    }

    #[test]
    fn env_files_follow_systemd_and_refuse_what_they_cannot_read() {
        let (vars, dropped) = parse_env_file(
            "# comment\n; other comment\n\nFLINTLOCKD_INSECURE=true\n  SPACED = padded value   \nQ='single # kept'\nD=\"a \\\"b\\\" c\"\nCONT=one\\\ntwo\nFLINTLOCKD_CONTAINERD-SOCKET=/run/x.sock\n",
        )
        .expect("parses");
        assert_eq!(
            vars,
            [
                ("FLINTLOCKD_INSECURE".into(), "true".into()),
                ("SPACED".into(), "padded value".into()),
                ("Q".into(), "single # kept".into()),
                ("D".into(), "a \"b\" c".into()),
                ("CONT".into(), "onetwo".into()),
            ]
        );
        assert_eq!(dropped, ["FLINTLOCKD_CONTAINERD-SOCKET"]);
        assert!(
            parse_env_file("JUSTAWORD\n")
                .expect_err("must fail")
                .contains("line 1")
        );
        assert!(parse_env_file("A='open\n").is_err());
    }

    #[test]
    fn exec_records_with_braces_semicolons_and_variables_are_found_from_their_ends() {
        // Found by fuzzing: these used to cut argv short.
        let v = "{ path=/usr/local/bin/flintlockd ; argv[]=/usr/local/bin/flintlockd run --parent-iface ${PARENT_IFACE} --label a ; b --json {\"k\":1} ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }";
        let cmds = parse_exec(v).expect("parses");
        assert_eq!(cmds[0].path, "/usr/local/bin/flintlockd");
        assert_eq!(cmds[0].argv.last().map(String::as_str), Some("{\"k\":1}"));
        for broken in [
            "path=/bin/x ; argv[]=/bin/x",
            "{ path=/bin/x ; ignore_errors=no }",
            "{ path=/bin/x ; argv[]=/bin/x }",
            "{ path=/bin/x ; argv[]= ; ignore_errors=no ; status=0/0 }",
        ] {
            assert!(parse_exec(broken).is_err(), "{broken}");
        }
    }

    #[test]
    fn show_output_maps_to_fields() {
        let u = parse_show(
            "x",
            "Id=containerd-dev.service\nLoadState=loaded\nActiveState=failed\nSubState=failed\nMainPID=0\nDropInPaths=\nRequires=system.slice sysinit.target\nUnitFileState=enabled\n",
        )
        .expect("parses");
        assert_eq!(u.name, "containerd-dev.service");
        assert_eq!(
            (u.active_state.as_str(), u.sub_state.as_str()),
            ("failed", "failed")
        );
        assert_eq!(u.requires, ["system.slice", "sysinit.target"]);
        assert!(u.drop_in_paths.is_empty());
    }
}
