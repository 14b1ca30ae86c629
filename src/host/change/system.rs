//! Changes made by running programs: loop devices (losetup), the thin-pool table (dmsetup),
//! systemd units (systemctl), packages (dpkg-query, apt-get), kernel modules (modprobe),
//! group membership (usermod) and containerd images (ctr). Each first asks the program for the
//! current state (that query runs in a dry run too, since it changes nothing) and runs the
//! changing command only when needed. File arguments are placed under the root; the programs
//! themselves act on the live host (tests put recording fakes first on PATH).

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use crate::host::cmd::{self, CommandOutput, CommandSpec};

use super::{Settings, Step, StepState, command_line};

/// The programs the operations run; overridable like the read-only primitives' ones.
#[derive(Debug, Clone)]
pub struct Programs {
    pub dmsetup: String,
    pub systemctl: String,
}

impl Default for Programs {
    fn default() -> Self {
        Programs {
            dmsetup: std::env::var("HOSTSCRIPT_DMSETUP").unwrap_or_else(|_| "dmsetup".into()),
            systemctl: std::env::var("HOSTSCRIPT_SYSTEMCTL").unwrap_or_else(|_| "systemctl".into()),
        }
    }
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// Runs a read-only query.
pub async fn query(words: Vec<String>, timeout: Duration) -> Result<CommandOutput, String> {
    cmd::run(&CommandSpec::new(words, timeout))
        .await
        .map_err(|e| e.to_string())
}

/// Runs (or, in a dry run, shows) a changing command as one step.
pub async fn change(
    settings: &Settings,
    action: String,
    message: String,
    words: Vec<String>,
    env: &[(&str, &str)],
    timeout: Duration,
) -> Step {
    let line = command_line(&words);
    let step = Step::change(settings, action, message).with_detail(line.clone());
    if settings.dry_run {
        return step;
    }
    let mut spec = CommandSpec::new(words, timeout);
    spec.env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match cmd::run(&spec).await {
        Ok(out) if out.code == Some(0) => step,
        Ok(out) => {
            let why = first_lines(if out.stderr.trim().is_empty() {
                &out.stdout
            } else {
                &out.stderr
            });
            let status = match (out.code, out.signal) {
                (Some(code), _) => format!("exit code {code}"),
                (None, Some(signal)) => format!("signal {signal}"),
                _ => "no status".into(),
            };
            Step::new(
                step.action,
                StepState::Failed,
                format!("`{line}` failed ({status}): {why}"),
            )
            .with_detail(line)
        }
        Err(e) => Step::new(step.action, StepState::Failed, e.to_string()).with_detail(line),
    }
}

fn first_lines(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(3)
        .collect();
    lines.join(" / ")
}

/// The loop device backing `file`, attached if there is none (as `provision.sh devpool`:
/// `losetup --output NAME --noheadings --associated FILE`, else `losetup --find --show FILE`).
/// Returns the step and the device (a placeholder in a dry run that would attach).
pub async fn loop_device(settings: &Settings, file: &str, timeout: Duration) -> (Step, String) {
    let action = format!("loop device for {file}");
    let real = settings.path(file).display().to_string();
    let found = query(
        argv(&[
            "losetup",
            "--output",
            "NAME",
            "--noheadings",
            "--associated",
            &real,
        ]),
        timeout,
    )
    .await;
    let found = match found {
        Ok(out) if out.code == Some(0) => out.stdout.lines().next().map(|l| l.trim().to_string()),
        Ok(out) => {
            return (
                Step::new(
                    action,
                    StepState::Failed,
                    format!("losetup --associated: {}", first_lines(&out.stderr)),
                ),
                String::new(),
            );
        }
        Err(e) => return (Step::new(action, StepState::Failed, e), String::new()),
    };
    if let Some(device) = found.filter(|d| !d.is_empty()) {
        return (
            Step::new(action, StepState::Ok, format!("attached as {device}")),
            device,
        );
    }
    let words = argv(&["losetup", "--find", "--show", &real]);
    let line = command_line(&words);
    if settings.dry_run {
        let placeholder = format!("<loop device of {file}>");
        return (
            Step::change(settings, action, "attach a free loop device").with_detail(line),
            placeholder,
        );
    }
    match cmd::run(&CommandSpec::new(words, timeout)).await {
        Ok(out) if out.code == Some(0) && !out.stdout.trim().is_empty() => {
            let device = out.stdout.trim().to_string();
            (
                Step::new(action, StepState::Changed, format!("attached as {device}"))
                    .with_detail(line),
                device,
            )
        }
        Ok(out) => (
            Step::new(
                action,
                StepState::Failed,
                format!("`{line}` failed: {}", first_lines(&out.stderr)),
            )
            .with_detail(line),
            String::new(),
        ),
        Err(e) => (
            Step::new(action, StepState::Failed, e.to_string()).with_detail(line),
            String::new(),
        ),
    }
}

/// A table's device paths as `major:minor`, the way `dmsetup table` prints them, so a wanted
/// table can be compared with the loaded one.
fn normalise_table(table: &str) -> String {
    table
        .split_whitespace()
        .map(|word| {
            if word.starts_with("/dev/")
                && let Ok(meta) = std::fs::metadata(word)
            {
                let rdev = meta.rdev();
                return format!(
                    "{}:{}",
                    nix::sys::stat::major(rdev),
                    nix::sys::stat::minor(rdev)
                );
            }
            word.to_string()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Device-mapper device `name` with `table`: nothing if loaded as is; `reload` + `resume` if
/// the device exists with another table (reload alone only stages the table); else `create`.
pub async fn dm_table(
    settings: &Settings,
    programs: &Programs,
    name: &str,
    table: &str,
    timeout: Duration,
) -> Step {
    let action = format!("device-mapper table of {name}");
    let current = query(argv(&[&programs.dmsetup, "table", name]), timeout).await;
    let exists = match &current {
        Ok(out) if out.code == Some(0) => {
            if normalise_table(out.stdout.trim()) == normalise_table(table) {
                return Step::new(action, StepState::Ok, "loaded with this table");
            }
            true
        }
        Ok(out) => {
            let err = out.stderr.to_lowercase();
            if err.contains("does not exist") || err.contains("no such device") {
                false
            } else {
                let why = first_lines(&out.stderr);
                let message = if out.stderr.contains("Permission denied") {
                    format!("dmsetup needs root: {why}")
                } else {
                    format!("dmsetup table {name}: {why}")
                };
                return Step::new(action, StepState::Failed, message);
            }
        }
        Err(e) => return Step::new(action, StepState::Failed, e.clone()),
    };
    if exists {
        let reload = change(
            settings,
            action.clone(),
            format!("reload with `{table}`"),
            argv(&[&programs.dmsetup, "reload", name, "--table", table]),
            &[],
            timeout,
        )
        .await;
        if reload.state == StepState::Failed {
            return reload;
        }
        let resume = change(
            settings,
            action,
            format!("reload with `{table}`"),
            argv(&[&programs.dmsetup, "resume", name]),
            &[],
            timeout,
        )
        .await;
        let detail = format!(
            "{}\n{}",
            reload.detail.unwrap_or_default(),
            resume.detail.clone().unwrap_or_default()
        );
        Step {
            detail: Some(detail),
            ..resume
        }
    } else {
        change(
            settings,
            action,
            format!("create with `{table}`"),
            argv(&[&programs.dmsetup, "create", name, "--table", table]),
            &[],
            timeout,
        )
        .await
    }
}

/// What `systemctl` should make true of a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitAction {
    Enable,
    Start,
    Restart,
    DaemonReload,
}

pub async fn systemctl(
    settings: &Settings,
    programs: &Programs,
    action: UnitAction,
    unit: &str,
    timeout: Duration,
) -> Step {
    let systemctl = programs.systemctl.as_str();
    let label_of = |action: UnitAction| match action {
        UnitAction::Enable => format!("enable {unit}"),
        UnitAction::Start => format!("start {unit}"),
        UnitAction::Restart => format!("restart {unit}"),
        UnitAction::DaemonReload => "systemd daemon-reload".to_string(),
    };
    // `--root` stages files only: the manager running here loads the live host's units, not
    // the staged ones, so a verb that acts on the manager would act on the wrong host. Enabling
    // is a change of files, which systemctl makes under a root without a manager (`systemctl
    // --root=DIR enable` links the unit into its [Install] targets there: systemd
    // src/shared/install.c), so what the next boot of that root starts is staged too.
    if settings.staged() && action == UnitAction::Enable {
        let root = format!("--root={}", settings.root.display());
        let label = label_of(action);
        match query(argv(&[systemctl, &root, "is-enabled", unit]), timeout).await {
            Ok(out) if out.stdout.trim() == "enabled" => {
                return Step::new(label, StepState::Ok, "already enabled".to_string());
            }
            Ok(_) => {}
            Err(e) => return Step::new(label, StepState::Failed, e),
        }
        return change(
            settings,
            label,
            "enable".to_string(),
            argv(&[systemctl, &root, "enable", unit]),
            &[],
            timeout,
        )
        .await;
    }
    if settings.staged() {
        return Step::new(
            label_of(action),
            StepState::Unknown,
            format!(
                "not run: --root {} stages files only, and systemctl would act on this host's manager",
                settings.root.display()
            ),
        );
    }
    let (label, probe, verb) = match action {
        UnitAction::Enable => (
            format!("enable {unit}"),
            Some(("is-enabled", "enabled")),
            "enable",
        ),
        UnitAction::Start => (
            format!("start {unit}"),
            Some(("is-active", "active")),
            "start",
        ),
        UnitAction::Restart => (format!("restart {unit}"), None, "restart"),
        UnitAction::DaemonReload => ("systemd daemon-reload".to_string(), None, "daemon-reload"),
    };
    // Whether the manager can be asked at all: where systemd is not running, a dry run cannot
    // tell what would change, and a real run fails saying so.
    match query(argv(&[systemctl, "show", "--property=Version"]), timeout).await {
        Ok(out) if out.code == Some(0) => {}
        Ok(out) => {
            let why = first_lines(if out.stderr.trim().is_empty() {
                &out.stdout
            } else {
                &out.stderr
            });
            let state = if settings.dry_run {
                StepState::Unknown
            } else {
                StepState::Failed
            };
            return Step::new(label, state, format!("systemd cannot be asked: {why}"));
        }
        Err(e) => {
            let state = if settings.dry_run {
                StepState::Unknown
            } else {
                StepState::Failed
            };
            return Step::new(label, state, format!("systemd cannot be asked: {e}"));
        }
    }
    if let Some((query_verb, wanted)) = probe {
        match query(argv(&[systemctl, query_verb, unit]), timeout).await {
            Ok(out) if out.stdout.trim() == wanted => {
                return Step::new(label, StepState::Ok, format!("already {wanted}"));
            }
            Ok(_) => {}
            Err(e) => return Step::new(label, StepState::Failed, e),
        }
    }
    let words = if action == UnitAction::DaemonReload {
        argv(&[systemctl, verb])
    } else {
        argv(&[systemctl, verb, unit])
    };
    change(settings, label, verb.to_string(), words, &[], timeout).await
}

/// Installs whichever of `packages` dpkg does not report installed (`apt-get update` first,
/// as the playbook's `update_cache` does).
pub async fn apt_install(settings: &Settings, packages: &[String], timeout: Duration) -> Vec<Step> {
    let mut missing = Vec::new();
    for package in packages {
        let out = query(
            argv(&["dpkg-query", "--show", "--showformat=${Status}", package]),
            timeout,
        )
        .await;
        match out {
            Ok(out) if out.code == Some(0) && out.stdout.trim() == "install ok installed" => {}
            Ok(_) => missing.push(package.clone()),
            Err(e) => {
                return vec![Step::new(
                    format!("packages {}", packages.join(" ")),
                    StepState::Failed,
                    e,
                )];
            }
        }
    }
    let action = format!("packages {}", packages.join(" "));
    if missing.is_empty() {
        return vec![Step::new(action, StepState::Ok, "all installed")];
    }
    let env = [("DEBIAN_FRONTEND", "noninteractive")];
    let update = change(
        settings,
        "apt-get update".into(),
        "refresh the package index".into(),
        argv(&["apt-get", "update", "-q"]),
        &env,
        timeout,
    )
    .await;
    if update.state == StepState::Failed {
        return vec![update];
    }
    let mut words = argv(&["apt-get", "install", "-y", "-q"]);
    words.extend(missing.iter().cloned());
    let install = change(
        settings,
        action,
        format!("install {}", missing.join(" ")),
        words,
        &env,
        timeout,
    )
    .await;
    vec![update, install]
}

/// Loads a kernel module unless the kernel already has it (loaded or built in).
pub async fn modprobe(settings: &Settings, module: &str, timeout: Duration) -> Step {
    let probe = crate::host::kmod::Probe {
        root: settings.root.clone(),
        release: crate::host::sys::kernel_release().unwrap_or_default(),
        config_symbol: None,
    };
    let state = probe.state(module);
    let action = format!("kernel module {module}");
    if matches!(
        state.state,
        crate::host::kmod::State::Loaded | crate::host::kmod::State::Builtin
    ) {
        return Step::new(
            action,
            StepState::Ok,
            format!("{} ({})", state.state.as_str(), state.reason),
        );
    }
    change(
        settings,
        action,
        format!("load ({}: {})", state.state.as_str(), state.reason),
        argv(&["modprobe", module]),
        &[],
        timeout,
    )
    .await
}

/// Adds `user` to `group` unless `<root>/etc/group` already lists them.
pub async fn add_to_group(settings: &Settings, user: &str, group: &str, timeout: Duration) -> Step {
    let action = format!("{user} in group {group}");
    let groups = std::fs::read_to_string(settings.path("/etc/group")).unwrap_or_default();
    let entry = groups.lines().find(|l| l.split(':').next() == Some(group));
    let Some(entry) = entry else {
        if settings.group_planned(group) {
            return Step::change(
                settings,
                action,
                format!("add (group {group} created by an earlier step)"),
            )
            .with_detail(format!("usermod --append --groups {group} {user}"));
        }
        return Step::new(
            action,
            StepState::Failed,
            format!("no group `{group}` in /etc/group"),
        );
    };
    let members = entry.rsplit(':').next().unwrap_or("");
    if members.split(',').any(|m| m == user) {
        return Step::new(action, StepState::Ok, "already a member");
    }
    let mut words = argv(&["usermod"]);
    if settings.root != std::path::Path::new("/") {
        words.extend(argv(&["--root", &settings.root.display().to_string()]));
    }
    words.extend(argv(&["--append", "--groups", group, user]));
    change(
        settings,
        action,
        format!("add (takes effect at {user}'s next login or service restart)"),
        words,
        &[],
        timeout,
    )
    .await
}

/// A system group: nothing if the root's /etc/group has it, else `groupadd --system`.
pub async fn ensure_group(settings: &Settings, group: &str, timeout: Duration) -> Step {
    let action = format!("group {group}");
    let groups = std::fs::read_to_string(settings.path("/etc/group")).unwrap_or_default();
    if groups.lines().any(|l| l.split(':').next() == Some(group)) {
        return Step::new(action, StepState::Ok, "exists");
    }
    let mut words = argv(&["groupadd"]);
    if settings.root != std::path::Path::new("/") {
        words.extend(argv(&["--root", &settings.root.display().to_string()]));
    }
    words.extend(argv(&["--system", group]));
    let step = change(settings, action, "create".into(), words, &[], timeout).await;
    if step.state == StepState::WouldChange {
        settings.plan_group(group);
    }
    step
}

/// Image `reference` in containerd namespace `namespace`: nothing if present under that exact
/// name; else imported from `tar` (air-gapped hosts) or pulled, through `ctr`. An import that
/// does not produce the reference fails rather than passing silently.
pub async fn image(
    settings: &Settings,
    socket: &str,
    namespace: &str,
    reference: &str,
    tar: Option<&str>,
    timeout: Duration,
) -> Step {
    let action = format!("image {reference} in namespace {namespace}");
    let ctr = |rest: &[&str]| {
        let mut words = argv(&["ctr", "--address", socket, "--namespace", namespace]);
        words.extend(argv(rest));
        words
    };
    let listed =
        |out: &CommandOutput| -> bool { out.stdout.lines().any(|l| l.trim() == reference) };
    match query(ctr(&["images", "list", "--quiet"]), timeout).await {
        Ok(out) if out.code == Some(0) && listed(&out) => {
            return Step::new(action, StepState::Ok, "present");
        }
        Ok(out) if out.code == Some(0) => {}
        Ok(out) => {
            return Step::new(
                action,
                StepState::Failed,
                format!(
                    "cannot list images through {socket}: {}",
                    first_lines(&out.stderr)
                ),
            );
        }
        Err(e) => return Step::new(action, StepState::Failed, e),
    }
    let (words, message) = match tar {
        Some(tar) => {
            let real = settings.path(tar).display().to_string();
            (
                ctr(&["images", "import", &real]),
                format!("import from {tar}"),
            )
        }
        None => (ctr(&["images", "pull", reference]), "pull".to_string()),
    };
    let step = change(settings, action, message, words, &[], timeout).await;
    if settings.dry_run || step.state == StepState::Failed {
        return step;
    }
    match query(ctr(&["images", "list", "--quiet"]), timeout).await {
        Ok(out) if listed(&out) => step,
        Ok(out) => {
            let have: Vec<&str> = out.stdout.lines().collect();
            Step {
                state: StepState::Failed,
                message: format!(
                    "{} ran, but {reference} is still not in namespace {namespace} (it holds: {})",
                    step.detail.clone().unwrap_or_default(),
                    have.join(", ")
                ),
                ..step
            }
        }
        Err(e) => Step {
            state: StepState::Failed,
            message: e,
            ..step
        },
    }
}

/// Waits (bounded) until a unix socket accepts connections, as the playbook's `wait_for`.
pub async fn wait_socket(settings: &Settings, path: &str, within: Duration) -> Step {
    let action = format!("wait for {path}");
    let real = settings.path(path);
    if settings.dry_run {
        return Step::new(
            action,
            StepState::Ok,
            format!("would wait up to {}", crate::text::human_duration(within)),
        );
    }
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if tokio::net::UnixStream::connect(&real).await.is_ok() {
            return Step::new(action, StepState::Ok, "accepts connections");
        }
        if tokio::time::Instant::now() >= deadline {
            return Step::new(
                action,
                StepState::Failed,
                format!(
                    "{path} did not accept a connection within {}",
                    crate::text::human_duration(within)
                ),
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
