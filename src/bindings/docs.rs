//! One line about each primitive, for `hostscript doc` (the README's primitives reference
//! says more). A test fails when a registered function has no line here, so the list cannot
//! fall behind the registrations.

/// The line for `module::function`, if there is one.
pub fn line(module: &str, function: &str) -> Option<&'static str> {
    LINES
        .iter()
        .find(|(m, f, _)| *m == module && *f == function)
        .map(|(_, _, d)| *d)
}

const LINES: &[(&str, &str, &str)] = &[
    ("vars", "all", "every var as a map"),
    (
        "vars",
        "get",
        "a var by name, or the default given; unknown without one is an error",
    ),
    ("vars", "has", "whether a var is set"),
    (
        "cmd",
        "run",
        "runs an argv (no shell) within the budget: #{ code, signal, ok, stdout, stderr, duration_ms, .. }",
    ),
    ("cmd", "which", "the full path of a program on PATH, or ()"),
    (
        "fs",
        "access",
        "what access(2) would answer for a user: mode bits, groups, POSIX ACLs",
    ),
    (
        "fs",
        "exists",
        "whether the path exists (follows symlinks; permission denied throws)",
    ),
    (
        "fs",
        "free",
        "space and inodes of the filesystem holding the path",
    ),
    ("fs", "glob", "paths matching a pattern"),
    (
        "fs",
        "is_block_device",
        "whether the path is a block device",
    ),
    (
        "fs",
        "is_char_device",
        "whether the path is a character device",
    ),
    ("fs", "is_dir", "whether the path is a directory"),
    ("fs", "is_file", "whether the path is a regular file"),
    ("fs", "is_socket", "whether the path is a unix socket"),
    (
        "fs",
        "is_symlink",
        "whether the path is a symlink (not followed)",
    ),
    ("fs", "lstat", "stat without following a symlink"),
    (
        "fs",
        "read",
        "the file as text, refusing files over the cap and FIFOs",
    ),
    (
        "fs",
        "stat",
        "kind, mode, owner, group, size, allocated, mtime, device numbers",
    ),
    (
        "dm",
        "exists",
        "whether a device-mapper device of that name exists",
    ),
    (
        "dm",
        "info",
        "live/inactive table, suspended, read-only, open count (dmsetup info)",
    ),
    ("dm", "list", "devices with major:minor (dmsetup ls)"),
    (
        "dm",
        "status",
        "the device's status, thin-pool fields parsed",
    ),
    ("dm", "table", "the device's table, thin-pool fields parsed"),
    (
        "dm",
        "targets",
        "the targets device-mapper can build (dmsetup targets)",
    ),
    (
        "grpc",
        "describe",
        "a service's methods, by reflection or compiled-in descriptors",
    ),
    (
        "grpc",
        "health",
        "grpc.health.v1 status: SERVING, NOT_SERVING, ...",
    ),
    (
        "grpc",
        "defer",
        "a call made when the check ends, however it ends, unless undeferred; a failure makes the check an error",
    ),
    (
        "grpc",
        "undefer",
        "withdraws a deferred call; true if it was pending",
    ),
    (
        "grpc",
        "invoke",
        "a unary or server-streaming call; throws on failure",
    ),
    ("grpc", "list", "the services a server offers (reflection)"),
    (
        "grpc",
        "try_invoke",
        "a call that never throws: #{ ok, response, code, kind, error }",
    ),
    (
        "link",
        "exists",
        "whether a network link exists (optionally in a netns)",
    ),
    (
        "link",
        "get",
        "one link: kind, admin_up, carrier, operstate, mtu, master, addresses, ..",
    ),
    ("link", "list", "every link"),
    (
        "net",
        "connect",
        "tries a TCP or unix connection: #{ ok, error, kind, duration_ms }",
    ),
    (
        "net",
        "listeners",
        "TCP and UDP listening sockets with owners",
    ),
    (
        "net",
        "listening",
        "whether something listens on a port (and address)",
    ),
    (
        "net",
        "unix_listening",
        "whether a unix socket at the path is listening",
    ),
    ("proc", "find", "processes by name or executable path"),
    ("proc", "running", "whether such a process runs"),
    (
        "kmod",
        "state",
        "loaded, builtin, absent or unknown, with the reason",
    ),
    (
        "systemd",
        "env_file",
        "an EnvironmentFile= as systemd reads it: #{ vars, dropped }",
    ),
    (
        "systemd",
        "expand",
        "ExecStart argv with $VAR/${VAR} expanded as systemd does at exec (argv, env map)",
    ),
    (
        "systemd",
        "quote",
        "one argument as an ExecStart= line must spell it to reach the process as it is",
    ),
    (
        "systemd",
        "unit",
        "a unit's state, ExecStart, environment, dependencies (systemctl show)",
    ),
    ("sys", "cpu_flags", "the CPU's flags"),
    ("sys", "cpu_virt", "vmx, svm or ()"),
    ("sys", "hostname", "this host's name"),
    ("sys", "time", "Unix time in seconds"),
    ("sys", "pid", "this hostscript's process id"),
    (
        "sys",
        "sleep",
        "sleeps the seconds given, at most what is left of the budget; wakes on a signal",
    ),
    ("sys", "is_root", "whether hostscript runs as root"),
    ("sys", "kernel_release", "uname -r"),
    ("sys", "uid", "the effective uid"),
    (
        "toml",
        "parse",
        "TOML text to maps and arrays; errors name line and column",
    ),
    ("json", "parse", "JSON text to maps and arrays"),
    ("yaml", "parse", "YAML text to maps and arrays"),
    (
        "base64",
        "encode",
        "standard base64 with padding, as basic-auth headers carry it",
    ),
    (
        "fix",
        "add_to_group",
        "adds a user to a group (usermod) unless a member",
    ),
    (
        "fix",
        "apt_install",
        "installs the missing packages of a list",
    ),
    ("fix", "bytes", "\"100G\" in bytes"),
    (
        "fix",
        "cannot_tell",
        "in a dry run, records a step that could not be evaluated and stops",
    ),
    ("fix", "chgrp", "sets a file's group"),
    ("fix", "chmod", "sets a file's permission bits"),
    (
        "fix",
        "command",
        "runs a command as a changing step (shown, not run, in a dry run)",
    ),
    ("fix", "daemon_reload", "systemctl daemon-reload"),
    (
        "fix",
        "dm_table",
        "loads a device-mapper table by reload+resume or create, unless loaded",
    ),
    ("fix", "dry_run", "whether this is a dry run"),
    ("fix", "enable", "systemctl enable, unless enabled"),
    ("fix", "ensure_dir", "a directory, created if missing"),
    ("fix", "ensure_group", "a system group, created if missing"),
    (
        "fix",
        "ensure_key",
        "one key in a TOML, INI or unit file, the rest kept",
    ),
    (
        "fix",
        "image",
        "an image in a containerd namespace, imported or pulled unless present",
    ),
    (
        "fix",
        "loop_device",
        "the loop device of a file, attached if none",
    ),
    (
        "fix",
        "modprobe",
        "loads a module unless loaded or built in",
    ),
    ("fix", "path", "where a host path really is under --root"),
    (
        "fix",
        "persist_modules",
        "lists modules for systemd-modules-load",
    ),
    ("fix", "remove_file", "moves a file aside as its backup"),
    ("fix", "render", "renders a template to text"),
    (
        "fix",
        "require",
        "a precondition: refuses the remediation, changing nothing, when false",
    ),
    ("fix", "restart", "systemctl restart"),
    ("fix", "root", "the --root of this run"),
    (
        "fix",
        "sparse_file",
        "a sparse file of a size, created or grown",
    ),
    ("fix", "start", "systemctl start, unless active"),
    (
        "fix",
        "template",
        "writes a rendered template atomically, with backup and diff",
    ),
    (
        "fix",
        "wait_socket",
        "waits (bounded) until a unix socket accepts",
    ),
    (
        "fix",
        "write_file",
        "writes a file atomically, with backup and diff",
    ),
];
