//! Every primitive's signature and one line about it, for `hostscript doc`, the `.d.rhai`
//! definitions and the errors that name a call's forms (docs/WRITING-CHECKS.md says
//! more). Each form is registered with its entry (`bindings::Documented`), and a test fails
//! when a registered form has none, so the table cannot fall behind the registrations.

/// The parameter counts of the forms of `module::function`.
pub fn arities(module: &str, function: &str) -> Vec<usize> {
    SIGNATURES
        .iter()
        .filter(|(m, sig, _)| *m == module && name_of(sig) == function)
        .filter_map(|(_, sig, _)| split(sig).map(|(p, _)| p.len()))
        .collect()
}

/// The function names of `module`.
pub fn names(module: &str) -> Vec<&'static str> {
    let mut names: Vec<&str> = SIGNATURES
        .iter()
        .filter(|(m, _, _)| *m == module)
        .map(|(_, sig, _)| name_of(sig))
        .collect();
    names.dedup();
    names
}

/// The forms of `module::function`, as `function(param: type, ..) -> return`.
pub fn forms(module: &str, function: &str) -> Vec<&'static str> {
    SIGNATURES
        .iter()
        .filter(|(m, sig, _)| *m == module && name_of(sig) == function)
        .map(|(_, sig, _)| *sig)
        .collect()
}

fn name_of(signature: &str) -> &str {
    signature.split('(').next().unwrap_or(signature)
}

/// The entry of the form of `module::function` with `arity` parameters: its parameters as
/// `name: type` and its return type last (Rhai's metadata), and its line.
pub fn signature(
    module: &str,
    function: &str,
    arity: usize,
) -> Option<(Vec<String>, &'static str)> {
    SIGNATURES.iter().find_map(|(m, sig, doc)| {
        if *m != module || name_of(sig) != function {
            return None;
        }
        let (params, ret) = split(sig)?;
        (params.len() == arity).then(|| {
            let mut info = params;
            info.push(ret);
            (info, *doc)
        })
    })
}

/// `name(a: t, b: u #{ x, y }) -> r` as (["a: t", "b: u #{ x, y }"], "r"); commas inside
/// `#{ }` do not split parameters.
pub fn split(signature: &str) -> Option<(Vec<String>, String)> {
    let open = signature.find('(')?;
    let (inner, ret) = {
        let rest = &signature[open + 1..];
        let mut depth = 0usize;
        let mut end = None;
        for (i, c) in rest.char_indices() {
            match c {
                '{' | '(' => depth += 1,
                '}' => depth = depth.saturating_sub(1),
                ')' if depth == 0 => {
                    end = Some(i);
                    break;
                }
                ')' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        let end = end?;
        let ret = rest[end + 1..]
            .trim()
            .strip_prefix("->")?
            .trim()
            .to_string();
        (&rest[..end], ret)
    };
    let mut params = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                params.push(inner[start..i].trim().to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    if !inner.trim().is_empty() {
        params.push(inner[start..].trim().to_string());
    }
    Some((params, ret))
}

/// The functions every script has without a namespace, with the keys of the declaration maps:
/// what `hostscript doc globals` shows (a test checks each is registered).
pub(crate) const GLOBALS: &[(&str, &str)] = &[
    (
        "check(spec: map #{ id, description, run, required, tags, needs, remediation, remote, timeout }) -> ()",
        "declares a check (at a file's top level): id and description strings, run a closure returning a verdict; required (bool, default true), tags and needs (arrays of strings), remediation (id), remote (bool), timeout (seconds)",
    ),
    (
        "remediation(spec: map #{ id, description, run, touches, after, timeout }) -> ()",
        "declares a remediation (in remediations/): touches and after are arrays of strings",
    ),
    ("pass(message: string) -> Verdict", "the check passed"),
    (
        "pass(message: string, details: map) -> Verdict",
        "passed, with details for the reports",
    ),
    (
        "pass(error: HostError) -> Verdict",
        "passed, with a caught error's message",
    ),
    (
        "warn(message: string) -> Verdict",
        "passed, with something to look at",
    ),
    (
        "warn(message: string, details: map) -> Verdict",
        "warn, with details",
    ),
    (
        "warn(error: HostError) -> Verdict",
        "warn with a caught error's message",
    ),
    ("fail(message: string) -> Verdict", "the host is not ready"),
    (
        "fail(message: string, details: map) -> Verdict",
        "fail, with details",
    ),
    (
        "fail(error: HostError) -> Verdict",
        "fail with a caught error's message",
    ),
    (
        "skip(message: string) -> Verdict",
        "does not apply here, and why",
    ),
    (
        "skip(message: string, details: map) -> Verdict",
        "skip, with details",
    ),
    (
        "skip(error: HostError) -> Verdict",
        "skip with a caught error's message",
    ),
    (
        "no_fix(verdict: Verdict, reason: string) -> Verdict",
        "`fail(..).no_fix(why)`: the declared remediation cannot fix this; --fix skips it",
    ),
    (
        "secret(value: any) -> any",
        "the value (every string in it) is masked in every output from now on; returns it",
    ),
];

/// Every registered form: (module, `name(param: type, ..) -> return`, one line of doc).
pub(crate) const SIGNATURES: &[(&str, &str, &str)] = &[
    ("vars", "all() -> map", "every var as a map"),
    (
        "vars",
        "get(name: string) -> any",
        "a var by name, or the default given; unknown without one is an error",
    ),
    (
        "vars",
        "get(name: string, default: any) -> any",
        "a var by name, or the default given; unknown without one is an error",
    ),
    ("vars", "has(name: string) -> bool", "whether a var is set"),
    (
        "cmd",
        "run(argv: array) -> map #{ code, signal, ok, stdout, stderr, stdout_truncated, stderr_truncated, truncated, duration_ms }",
        "runs an argv (no shell) within the budget: #{ code, signal, ok, stdout, stderr, duration_ms, .. }",
    ),
    (
        "cmd",
        "run(argv: array, options: map #{ env, clear_env, cwd, stdin, timeout, max_output, fresh }) -> map #{ code, signal, ok, stdout, stderr, stdout_truncated, stderr_truncated, truncated, duration_ms }",
        "runs an argv (no shell) within the budget: #{ code, signal, ok, stdout, stderr, duration_ms, .. }",
    ),
    (
        "cmd",
        "which(name: string) -> any",
        "the full path of a program on PATH, or ()",
    ),
    (
        "fs",
        "access(path: string, user: string, mode: string) -> map #{ acl, allowed, read, write, execute, via, user, mode }",
        "what access(2) would answer for a user: mode bits, groups, POSIX ACLs",
    ),
    (
        "fs",
        "exists(path: string) -> bool",
        "whether the path exists (follows symlinks; permission denied throws)",
    ),
    (
        "fs",
        "free(path: string) -> map #{ bytes_total, bytes_free, bytes_available, inodes_total, inodes_free, percent_used }",
        "space and inodes of the filesystem holding the path",
    ),
    (
        "fs",
        "glob(pattern: string) -> array",
        "paths matching a pattern",
    ),
    (
        "fs",
        "is_block_device(path: string) -> bool",
        "whether the path is a block device",
    ),
    (
        "fs",
        "is_char_device(path: string) -> bool",
        "whether the path is a character device",
    ),
    (
        "fs",
        "is_dir(path: string) -> bool",
        "whether the path is a directory",
    ),
    (
        "fs",
        "is_file(path: string) -> bool",
        "whether the path is a regular file",
    ),
    (
        "fs",
        "is_socket(path: string) -> bool",
        "whether the path is a unix socket",
    ),
    (
        "fs",
        "is_symlink(path: string) -> bool",
        "whether the path is a symlink (not followed)",
    ),
    (
        "fs",
        "lstat(path: string) -> map #{ kind, mode, mode_octal, uid, gid, owner, group, size, allocated, mtime, mtime_us, major, minor }",
        "stat without following a symlink",
    ),
    (
        "fs",
        "read(path: string) -> string",
        "the file as text, refusing files over the cap and FIFOs",
    ),
    (
        "fs",
        "read(path: string, options: map #{ max_bytes, fresh }) -> string",
        "the file as text, refusing files over the cap and FIFOs",
    ),
    (
        "fs",
        "stat(path: string) -> map #{ kind, mode, mode_octal, uid, gid, owner, group, size, allocated, mtime, mtime_us, major, minor }",
        "kind, mode, owner, group, size, allocated, mtime, device numbers",
    ),
    (
        "dm",
        "exists(device: string) -> bool",
        "whether a device-mapper device of that name exists",
    ),
    (
        "dm",
        "exists(device: string, options: map #{ dmsetup, timeout, fresh }) -> bool",
        "whether a device-mapper device of that name exists",
    ),
    (
        "dm",
        "info(device: string) -> map #{ name, live_table, inactive_table, suspended, read_only, open, segments, events }",
        "live/inactive table, suspended, read-only, open count (dmsetup info)",
    ),
    (
        "dm",
        "info(device: string, options: map #{ dmsetup, timeout, fresh }) -> map #{ name, live_table, inactive_table, suspended, read_only, open, segments, events }",
        "live/inactive table, suspended, read-only, open count (dmsetup info)",
    ),
    (
        "dm",
        "list() -> array of #{ name, major, minor }",
        "devices with major:minor (dmsetup ls)",
    ),
    (
        "dm",
        "list(options: map #{ dmsetup, timeout, fresh }) -> array of #{ name, major, minor }",
        "devices with major:minor (dmsetup ls)",
    ),
    (
        "dm",
        "status(device: string) -> map #{ name, start, length, target, params, segments, .. }",
        "the device's status, thin-pool fields parsed",
    ),
    (
        "dm",
        "status(device: string, options: map #{ dmsetup, timeout, fresh }) -> map #{ name, start, length, target, params, segments, .. }",
        "the device's status, thin-pool fields parsed",
    ),
    (
        "dm",
        "table(device: string) -> map #{ name, start, length, target, params, segments, .. }",
        "the device's table, thin-pool fields parsed",
    ),
    (
        "dm",
        "table(device: string, options: map #{ dmsetup, timeout, fresh }) -> map #{ name, start, length, target, params, segments, .. }",
        "the device's table, thin-pool fields parsed",
    ),
    (
        "dm",
        "targets() -> array of #{ name, version }",
        "the targets device-mapper can build (dmsetup targets)",
    ),
    (
        "dm",
        "targets(options: map #{ dmsetup, timeout, fresh }) -> array of #{ name, version }",
        "the targets device-mapper can build (dmsetup targets)",
    ),
    (
        "grpc",
        "defer(target: string, method: string, request: any, options: map #{ timeout, metadata, tls, reflection, descriptor_set }, label: string) -> int",
        "a call made when the check ends, however it ends, unless undeferred; a failure makes the check an error",
    ),
    (
        "grpc",
        "describe(target: string, service: string) -> map #{ name, methods }",
        "a service's methods, by reflection or compiled-in descriptors",
    ),
    (
        "grpc",
        "describe(target: string, service: string, options: map #{ timeout, metadata, tls, reflection, descriptor_set }) -> map #{ name, methods }",
        "a service's methods, by reflection or compiled-in descriptors",
    ),
    (
        "grpc",
        "health(target: string) -> string",
        "grpc.health.v1 status: SERVING, NOT_SERVING, ...",
    ),
    (
        "grpc",
        "health(target: string, service: string) -> string",
        "grpc.health.v1 status: SERVING, NOT_SERVING, ...",
    ),
    (
        "grpc",
        "health(target: string, service: string, options: map #{ timeout, metadata, tls, reflection, descriptor_set }) -> string",
        "grpc.health.v1 status: SERVING, NOT_SERVING, ...",
    ),
    (
        "grpc",
        "invoke(target: string, method: string, request: any) -> any",
        "a unary or server-streaming call; throws on failure",
    ),
    (
        "grpc",
        "invoke(target: string, method: string, request: any, options: map #{ timeout, metadata, tls, reflection, descriptor_set }) -> any",
        "a unary or server-streaming call; throws on failure",
    ),
    (
        "grpc",
        "list(target: string) -> array",
        "the services a server offers (reflection)",
    ),
    (
        "grpc",
        "list(target: string, options: map #{ timeout, metadata, tls, reflection, descriptor_set }) -> array",
        "the services a server offers (reflection)",
    ),
    (
        "grpc",
        "try_invoke(target: string, method: string, request: any) -> map #{ ok, response, code, kind, error }",
        "a call that never throws: #{ ok, response, code, kind, error }",
    ),
    (
        "grpc",
        "try_invoke(target: string, method: string, request: any, options: map #{ timeout, metadata, tls, reflection, descriptor_set }) -> map #{ ok, response, code, kind, error }",
        "a call that never throws: #{ ok, response, code, kind, error }",
    ),
    (
        "grpc",
        "undefer(handle: int) -> bool",
        "withdraws a deferred call; true if it was pending",
    ),
    (
        "link",
        "exists(name: string) -> bool",
        "whether a network link exists (optionally in a netns)",
    ),
    (
        "link",
        "exists(name: string, options: map #{ netns, timeout, fresh }) -> bool",
        "whether a network link exists (optionally in a netns)",
    ),
    (
        "link",
        "get(name: string) -> map #{ index, name, kind, admin_up, lower_up, carrier, operstate, mtu, mac, master, link_index, parent, addresses }",
        "one link: kind, admin_up, carrier, operstate, mtu, master, addresses, ..",
    ),
    (
        "link",
        "get(name: string, options: map #{ netns, timeout, fresh }) -> map #{ index, name, kind, admin_up, lower_up, carrier, operstate, mtu, mac, master, link_index, parent, addresses }",
        "one link: kind, admin_up, carrier, operstate, mtu, master, addresses, ..",
    ),
    (
        "link",
        "list() -> array of #{ index, name, kind, admin_up, lower_up, carrier, operstate, mtu, mac, master, link_index, parent, addresses }",
        "every link",
    ),
    (
        "link",
        "list(options: map #{ netns, timeout, fresh }) -> array of #{ index, name, kind, admin_up, lower_up, carrier, operstate, mtu, mac, master, link_index, parent, addresses }",
        "every link",
    ),
    (
        "net",
        "connect(target: string) -> map #{ ok, error, kind, duration_ms }",
        "tries a TCP or unix connection: #{ ok, error, kind, duration_ms }",
    ),
    (
        "net",
        "connect(target: string, options: map #{ timeout, fresh }) -> map #{ ok, error, kind, duration_ms }",
        "tries a TCP or unix connection: #{ ok, error, kind, duration_ms }",
    ),
    (
        "net",
        "listeners() -> array of #{ proto, address, ipv4, port, loopback, wildcard, uid, pid, process }",
        "TCP and UDP listening sockets with owners",
    ),
    (
        "net",
        "listening(port: int) -> bool",
        "whether something listens on a port (and address)",
    ),
    (
        "net",
        "listening(address: string, port: int) -> bool",
        "whether something listens on a port (and address)",
    ),
    (
        "net",
        "unix_listening(path: string) -> bool",
        "whether a unix socket at the path is listening",
    ),
    (
        "proc",
        "find(query: string) -> array of #{ pid, name, exe, cmdline, uid, user }",
        "processes by name or executable path",
    ),
    (
        "proc",
        "running(query: string) -> bool",
        "whether such a process runs",
    ),
    (
        "kmod",
        "state(name: string) -> map #{ name, state, reason }",
        "loaded, builtin, absent or unknown, with the reason",
    ),
    (
        "kmod",
        "state(name: string, options: map #{ root, release, config, fresh }) -> map #{ name, state, reason }",
        "loaded, builtin, absent or unknown, with the reason",
    ),
    (
        "systemd",
        "env_file(path: string) -> map #{ vars, dropped }",
        "an EnvironmentFile= as systemd reads it: #{ vars, dropped }",
    ),
    (
        "systemd",
        "expand(argv: array, env: map) -> array",
        "ExecStart argv with $VAR/${VAR} expanded as systemd does at exec (argv, env map)",
    ),
    (
        "systemd",
        "quote(word: string) -> string",
        "one argument as an ExecStart= line must spell it to reach the process as it is",
    ),
    (
        "systemd",
        "unit(name: string) -> map #{ name, exists, load_state, active_state, sub_state, unit_file_state, main_pid, exec_start, fragment_path, drop_in_paths, requires, after, before, wanted_by, required_by, type, user, environment, environment_files, need_daemon_reload, main_started, main_started_us }",
        "a unit's state, ExecStart, environment, dependencies (systemctl show)",
    ),
    (
        "systemd",
        "unit(name: string, options: map #{ systemctl, busctl, timeout, fresh }) -> map #{ name, exists, load_state, active_state, sub_state, unit_file_state, main_pid, exec_start, fragment_path, drop_in_paths, requires, after, before, wanted_by, required_by, type, user, environment, environment_files, need_daemon_reload, main_started, main_started_us }",
        "a unit's state, ExecStart, environment, dependencies (systemctl show)",
    ),
    ("sys", "cpu_flags() -> array", "the CPU's flags"),
    ("sys", "cpu_virt() -> any", "vmx, svm or ()"),
    ("sys", "hostname() -> string", "this host's name"),
    (
        "sys",
        "is_root() -> bool",
        "whether hostscript runs as root",
    ),
    ("sys", "kernel_release() -> string", "uname -r"),
    ("sys", "pid() -> int", "this hostscript's process id"),
    (
        "sys",
        "sleep(seconds: number) -> ()",
        "sleeps the seconds given, at most what is left of the budget; wakes on a signal",
    ),
    ("sys", "time() -> int", "Unix time in seconds"),
    ("sys", "uid() -> int", "the effective uid"),
    (
        "toml",
        "parse(text: string) -> map",
        "TOML text to maps and arrays; errors name line and column",
    ),
    (
        "json",
        "parse(text: string) -> any",
        "JSON text to maps and arrays",
    ),
    (
        "yaml",
        "parse(text: string) -> any",
        "YAML text to maps and arrays",
    ),
    (
        "base64",
        "encode(text: string) -> string",
        "standard base64 with padding, as basic-auth headers carry it",
    ),
    (
        "fix",
        "add_to_group(user: string, group: string) -> bool",
        "adds a user to a group (usermod) unless a member",
    ),
    (
        "fix",
        "apt_install(packages: array) -> bool",
        "installs the missing packages of a list",
    ),
    ("fix", "bytes(size: string) -> int", "\"100G\" in bytes"),
    (
        "fix",
        "cannot_tell(action: string, reason: string) -> ()",
        "in a dry run, records a step that could not be evaluated and stops",
    ),
    (
        "fix",
        "chgrp(path: string, group: string) -> bool",
        "sets a file's group",
    ),
    (
        "fix",
        "chmod(path: string, mode: string) -> bool",
        "sets a file's permission bits",
    ),
    (
        "fix",
        "command(argv: array) -> bool",
        "runs a command as a changing step (shown, not run, in a dry run)",
    ),
    ("fix", "daemon_reload() -> bool", "systemctl daemon-reload"),
    (
        "fix",
        "dm_table(name: string, table: string) -> bool",
        "loads a device-mapper table by reload+resume or create, unless loaded",
    ),
    ("fix", "dry_run() -> bool", "whether this is a dry run"),
    (
        "fix",
        "enable(unit: string) -> bool",
        "systemctl enable, unless enabled",
    ),
    (
        "fix",
        "ensure_dir(path: string) -> bool",
        "a directory, created if missing",
    ),
    (
        "fix",
        "ensure_dir(path: string, options: map #{ mode, owner, group }) -> bool",
        "a directory, created if missing",
    ),
    (
        "fix",
        "ensure_group(group: string) -> bool",
        "a system group, created if missing",
    ),
    (
        "fix",
        "ensure_key(path: string, section: string, key: string, value: any) -> bool",
        "one key in a TOML, INI or unit file, the rest kept",
    ),
    (
        "fix",
        "ensure_key(path: string, section: string, key: string, value: any, options: map #{ format, repeat, match }) -> bool",
        "one key in a TOML, INI or unit file, the rest kept",
    ),
    (
        "fix",
        "image(socket: string, namespace: string, reference: string) -> bool",
        "an image in a containerd namespace, imported or pulled unless present",
    ),
    (
        "fix",
        "image(socket: string, namespace: string, reference: string, options: map #{ tar }) -> bool",
        "an image in a containerd namespace, imported or pulled unless present",
    ),
    (
        "fix",
        "loop_device(path: string) -> string",
        "the loop device of a file, attached if none",
    ),
    (
        "fix",
        "modprobe(module: string) -> bool",
        "loads a module unless loaded or built in",
    ),
    (
        "fix",
        "path(path: string) -> string",
        "where a host path really is under --root",
    ),
    (
        "fix",
        "persist_modules(modules: array) -> bool",
        "lists modules for systemd-modules-load",
    ),
    (
        "fix",
        "persist_modules(modules: array, file: string) -> bool",
        "lists modules for systemd-modules-load",
    ),
    (
        "fix",
        "remove_file(path: string) -> bool",
        "moves a file aside as its backup",
    ),
    (
        "fix",
        "render(name: string) -> string",
        "renders a template to text",
    ),
    (
        "fix",
        "render(name: string, vars: map) -> string",
        "renders a template to text",
    ),
    (
        "fix",
        "require(holds: bool, message: string) -> ()",
        "a precondition: refuses the remediation, changing nothing, when false",
    ),
    ("fix", "restart(unit: string) -> bool", "systemctl restart"),
    ("fix", "root() -> string", "the --root of this run"),
    (
        "fix",
        "sparse_file(path: string, size: any) -> bool",
        "a sparse file of a size, created or grown",
    ),
    (
        "fix",
        "start(unit: string) -> bool",
        "systemctl start, unless active",
    ),
    (
        "fix",
        "template(name: string, path: string) -> bool",
        "writes a rendered template atomically, with backup and diff",
    ),
    (
        "fix",
        "template(name: string, path: string, options: map #{ mode, owner, group, vars }) -> bool",
        "writes a rendered template atomically, with backup and diff",
    ),
    (
        "fix",
        "wait_socket(path: string, seconds: number) -> bool",
        "waits (bounded) until a unix socket accepts",
    ),
    (
        "fix",
        "write_file(path: string, content: string) -> bool",
        "writes a file atomically, with backup and diff",
    ),
    (
        "fix",
        "write_file(path: string, content: string, options: map #{ mode, owner, group }) -> bool",
        "writes a file atomically, with backup and diff",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_split_at_top_level_commas_only() {
        let (params, ret) =
            split("read(path: string, options: map #{ max_bytes, fresh }) -> string")
                .expect("parses");
        assert_eq!(
            params,
            ["path: string", "options: map #{ max_bytes, fresh }"]
        );
        assert_eq!(ret, "string");
        assert_eq!(
            split("all() -> map").expect("parses"),
            (Vec::new(), "map".to_string())
        );
        for (module, sig, doc) in SIGNATURES {
            assert!(split(sig).is_some(), "{module}::{sig}");
            assert!(!doc.is_empty(), "{module}::{sig}");
        }
    }
}
