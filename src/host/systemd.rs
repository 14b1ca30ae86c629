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
}

const PROPERTIES: &str = "Id,LoadState,ActiveState,SubState,UnitFileState,MainPID,ExecStart,FragmentPath,DropInPaths,Requires,After";

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
    Ok(parse_show(name, &out.stdout))
}

/// Parses `systemctl show` output (`Key=Value` lines; ExecStart may repeat).
pub fn parse_show(name: &str, text: &str) -> Unit {
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
            "MainPID" => unit.main_pid = value.parse().unwrap_or(0),
            "ExecStart" => unit.exec_start.extend(parse_exec(value)),
            "FragmentPath" => unit.fragment_path = value.to_string(),
            "DropInPaths" => unit.drop_in_paths = list(),
            "Requires" => unit.requires = list(),
            "After" => unit.after = list(),
            _ => {}
        }
    }
    unit
}

/// `{ path=/bin/x ; argv[]=/bin/x --flag value ; ignore_errors=no ; ... }`, possibly several.
pub fn parse_exec(value: &str) -> Vec<ExecCommand> {
    let mut commands = Vec::new();
    for block in value.split('{').skip(1) {
        let body = block.split('}').next().unwrap_or_default();
        let mut path = String::new();
        let mut argv = Vec::new();
        for field in body.split(" ; ") {
            let field = field.trim();
            if let Some(p) = field.strip_prefix("path=") {
                path = p.to_string();
            } else if let Some(a) = field.strip_prefix("argv[]=") {
                // systemd quotes arguments that contain spaces; plain ones are space-joined.
                argv = shlex::split(a)
                    .unwrap_or_else(|| a.split_whitespace().map(str::to_string).collect());
            }
        }
        if !path.is_empty() || !argv.is_empty() {
            commands.push(ExecCommand { path, argv });
        }
    }
    commands
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_start_parses_path_and_argv() {
        let v = "{ path=/usr/local/bin/flintlockd ; argv[]=/usr/local/bin/flintlockd run --containerd-socket /run/containerd-dev/containerd.sock --parent-iface eno4 ; ignore_errors=no ; start_time=[Wed 2026-11-25 09:12:01 UTC] ; stop_time=[n/a] ; pid=4242 ; code=(null) ; status=0/0 }";
        let cmds = parse_exec(v);
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
        assert!(parse_exec("").is_empty());
        let quoted =
            parse_exec("{ path=/bin/sh ; argv[]=/bin/sh -c \"echo hi there\" ; ignore_errors=no }");
        assert_eq!(quoted[0].argv, ["/bin/sh", "-c", "echo hi there"]);
    }

    #[test]
    fn show_output_maps_to_fields() {
        let u = parse_show(
            "x",
            "Id=containerd-dev.service\nLoadState=loaded\nActiveState=failed\nSubState=failed\nMainPID=0\nDropInPaths=\nRequires=system.slice sysinit.target\nUnitFileState=enabled\n",
        );
        assert_eq!(u.name, "containerd-dev.service");
        assert_eq!(
            (u.active_state.as_str(), u.sub_state.as_str()),
            ("failed", "failed")
        );
        assert_eq!(u.requires, ["system.slice", "sysinit.target"]);
        assert!(u.drop_in_paths.is_empty());
    }
}
