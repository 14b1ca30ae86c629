//! systemd unit state through `systemctl show`: load, active and sub state, unit-file state,
//! main PID, the effective ExecStart (drop-ins already applied by systemd), fragment and
//! drop-in paths, Requires and After.
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
    #[error("`systemctl show {unit}` failed: {message}")]
    Failed { unit: String, message: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecCommand {
    pub path: String,
    pub argv: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
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
    /// `Type=` (simple, exec, forking, oneshot, notify, ...).
    pub service_type: String,
    /// `User=`; empty means root.
    pub user: String,
    /// `Environment=` assignments, in order (drop-ins applied).
    pub environment: Vec<(String, String)>,
    /// `EnvironmentFile=` paths and whether a missing file is ignored (`-` prefix).
    pub environment_files: Vec<EnvironmentFile>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentFile {
    pub path: String,
    pub ignore_errors: bool,
}

const PROPERTIES: &str = "Id,LoadState,ActiveState,SubState,UnitFileState,MainPID,ExecStart,FragmentPath,DropInPaths,Requires,After,Type,User,Environment,EnvironmentFiles";

pub async fn unit(name: &str, systemctl: &str, timeout: Duration) -> Result<Unit, SystemdError> {
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
        if stderr.contains("has not been booted with systemd")
            || stderr.contains("Failed to connect to bus")
        {
            let detail = stderr.lines().next().unwrap_or_default().to_string();
            return Err(SystemdError::NotRunning { detail });
        }
        let message = stderr.lines().next().unwrap_or("no output").to_string();
        return Err(SystemdError::Failed {
            unit: name.to_string(),
            message,
        });
    }
    parse_show(name, &out.stdout).map_err(|message| SystemdError::Failed {
        unit: name.to_string(),
        message,
    })
}

/// Parses `systemctl show` output (`Key=Value` lines; ExecStart and EnvironmentFiles may
/// repeat). A value it does not understand is an error, never a default.
pub fn parse_show(name: &str, text: &str) -> Result<Unit, String> {
    let mut unit = Unit {
        name: name.to_string(),
        ..Unit::default()
    };
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
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
            "Type" => unit.service_type = value.to_string(),
            "User" => unit.user = value.to_string(),
            "Environment" => unit.environment = parse_environment(value)?,
            "EnvironmentFiles" if !value.is_empty() => {
                unit.environment_files.push(parse_environment_file(value)?);
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

/// One `ExecStart=` line of `systemctl show`: `{ path=/bin/x ; argv[]=/bin/x --flag value ;
/// ignore_errors=no ; start_time=[...] ; stop_time=[...] ; pid=N ; code=... ; status=N/N }`.
/// systemctl prints one line per command, and quotes arguments that need it
/// (`quote_command_line`). An argument may itself hold ` ; `, braces or `${VAR}`, so the
/// fields are found from the ends of the line: `path=` up to the first ` ; argv[]=`, and argv
/// up to the last ` ; ignore_errors=`. Anything else is an error, never a shorter argv.
pub fn parse_exec(value: &str) -> Result<Vec<ExecCommand>, String> {
    let value = value.trim();
    if value.is_empty() {
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
    let argv = shlex::split(words).ok_or_else(|| bad("argv has unbalanced quotes"))?;
    if argv.is_empty() {
        return Err(bad("empty argv"));
    }
    Ok(vec![ExecCommand {
        path: path.to_string(),
        argv,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_start_parses_path_and_argv() {
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
        let quoted = parse_exec(
            "{ path=/bin/sh ; argv[]=/bin/sh -c \"echo hi there\" ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }",
        )
        .expect("parses");
        assert_eq!(quoted[0].argv, ["/bin/sh", "-c", "echo hi there"]);
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
    fn exec_arguments_with_braces_semicolons_and_variables_are_kept_whole() {
        // Found by fuzzing: these used to cut argv short.
        let v = "{ path=/usr/local/bin/flintlockd ; argv[]=/usr/local/bin/flintlockd run --parent-iface ${PARENT_IFACE} --label \"a ; b\" --json {\"k\":1} --containerd-socket /run/containerd-dev/containerd.sock ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }";
        let cmds = parse_exec(v).expect("parses");
        assert_eq!(
            cmds[0].argv,
            [
                "/usr/local/bin/flintlockd",
                "run",
                "--parent-iface",
                "${PARENT_IFACE}",
                "--label",
                "a ; b",
                "--json",
                "{k:1}",
                "--containerd-socket",
                "/run/containerd-dev/containerd.sock"
            ]
        );
        for broken in [
            "{ path=/bin/x ; argv[]=/bin/x \"open ; ignore_errors=no ; pid=0 }",
            "path=/bin/x ; argv[]=/bin/x",
            "{ path=/bin/x ; ignore_errors=no }",
            "{ path=/bin/x ; argv[]=/bin/x }",
        ] {
            assert!(parse_exec(broken).is_err(), "{broken}");
        }
        assert!(parse_show("x", "ExecStart={ path=/bin/x ; argv[]=/bin/x \"a\n").is_err());
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
