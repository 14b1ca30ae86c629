//! Host probes: plain Rust views of the machine (commands, files, identity), with typed results
//! and no Rhai types. The Rhai bindings in the Rhai bindings wrap these; tests and other
//! front ends can call them directly. Every probe that can block takes a timeout, which the
//! bindings cap by the remaining budget of the running check.

pub mod change;
pub mod cmd;
pub mod dm;
pub mod fs;
pub mod grpc;
pub mod kmod;
pub mod link;
pub mod net;
pub mod procfs;
pub mod sys;
pub mod systemd;

/// What kind of failure a host error is, for scripts to branch on (`e.kind`) instead of
/// matching message text. The message stays for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The caller lacks the right (not root, a mode or ACL refuses).
    PermissionDenied,
    /// The thing asked for does not exist (file, program, device, unit, link, user).
    NotFound,
    /// It did not answer in time.
    Timeout,
    /// The service or facility is not there to ask (nothing listening, systemd not running,
    /// no device-mapper in the kernel, a program not installed).
    Unavailable,
    /// The request or an answer was malformed: a bad argument, output that does not parse.
    Invalid,
    /// It answered with a failure of its own.
    Failed,
    /// Replaying a recording (`--replay`, `hostscript test`) that holds no answer to the
    /// question: a gap in the recording, never a fact about the host.
    NotRecorded,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Failed => "failed",
            ErrorKind::NotRecorded => "not_recorded",
        }
    }

    /// The kind of an I/O error.
    pub fn of_io(e: &std::io::Error) -> ErrorKind {
        use std::io::ErrorKind as Io;
        match e.kind() {
            Io::PermissionDenied => ErrorKind::PermissionDenied,
            Io::NotFound => ErrorKind::NotFound,
            Io::TimedOut | Io::WouldBlock => ErrorKind::Timeout,
            Io::ConnectionRefused | Io::ConnectionReset | Io::NotConnected => {
                ErrorKind::Unavailable
            }
            Io::InvalidInput | Io::InvalidData => ErrorKind::Invalid,
            _ => ErrorKind::Failed,
        }
    }
}

/// Host errors say what kind they are.
pub trait Kinded: std::fmt::Display {
    fn kind(&self) -> ErrorKind;
}

impl Kinded for fs::FsError {
    fn kind(&self) -> ErrorKind {
        use fs::FsError::*;
        match self {
            NotFound { .. } | NoSuchUser { .. } => ErrorKind::NotFound,
            PermissionDenied { .. } => ErrorKind::PermissionDenied,
            TooLarge { .. } | BadMode { .. } | BadAcl { .. } => ErrorKind::Invalid,
            Io { source, .. } => ErrorKind::of_io(source),
            UserLookup { .. } => ErrorKind::Failed,
        }
    }
}

impl Kinded for cmd::CmdError {
    fn kind(&self) -> ErrorKind {
        use cmd::CmdError::*;
        match self {
            EmptyArgv => ErrorKind::Invalid,
            NotFound { .. } | NoSuchFile { .. } | NoSuchCwd { .. } => ErrorKind::NotFound,
            PermissionDenied { .. } => ErrorKind::PermissionDenied,
            TimedOut { .. } => ErrorKind::Timeout,
            Interrupted => ErrorKind::Failed,
            Spawn { source, .. } | Io { source, .. } => ErrorKind::of_io(source),
        }
    }
}

impl Kinded for dm::DmError {
    fn kind(&self) -> ErrorKind {
        use dm::DmError::*;
        match self {
            NotInstalled { .. } | NotAvailable => ErrorKind::Unavailable,
            PermissionDenied => ErrorKind::PermissionDenied,
            NoSuchDevice { .. } => ErrorKind::NotFound,
            Failed { .. } => ErrorKind::Failed,
            Parse { .. } => ErrorKind::Invalid,
        }
    }
}

impl Kinded for systemd::SystemdError {
    fn kind(&self) -> ErrorKind {
        use systemd::SystemdError::*;
        match self {
            NotRunning { .. } | NotInstalled { .. } => ErrorKind::Unavailable,
            PermissionDenied { .. } => ErrorKind::PermissionDenied,
            Failed { .. } => ErrorKind::Failed,
        }
    }
}

impl Kinded for grpc::GrpcError {
    fn kind(&self) -> ErrorKind {
        use grpc::GrpcError::*;
        match self {
            BadInput(_) => ErrorKind::Invalid,
            Refused { .. } | Connect { .. } | Closed { .. } | NoPreface { .. } | Tls { .. } => {
                ErrorKind::Unavailable
            }
            NoSocket { .. } => ErrorKind::NotFound,
            Deadline { .. } => ErrorKind::Timeout,
            Unimplemented { .. } | UnknownService { .. } | UnknownMethod { .. } => {
                ErrorKind::NotFound
            }
            NoReflection { .. } => ErrorKind::Unavailable,
            Status { code, .. } => match code.as_str() {
                "PermissionDenied" | "Unauthenticated" => ErrorKind::PermissionDenied,
                "NotFound" => ErrorKind::NotFound,
                "DeadlineExceeded" => ErrorKind::Timeout,
                "Unavailable" => ErrorKind::Unavailable,
                "InvalidArgument" => ErrorKind::Invalid,
                _ => ErrorKind::Failed,
            },
        }
    }
}

/// Messages without a type of their own are about the request: a bad argument or option.
impl Kinded for String {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Invalid
    }
}

impl Kinded for &str {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Invalid
    }
}

impl Kinded for link::LinkError {
    fn kind(&self) -> ErrorKind {
        use link::LinkError::*;
        match self {
            NoSuchLink { .. } | NoSuchNetns { .. } => ErrorKind::NotFound,
            TimedOut { .. } => ErrorKind::Timeout,
            _ => ErrorKind::Failed,
        }
    }
}

/// A `Duration` as whole milliseconds in serialised answers (`duration_ms`).
pub(crate) mod millis {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        <u64 as serde::Deserialize>::deserialize(d).map(Duration::from_millis)
    }
}
