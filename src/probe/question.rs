//! The questions a check can ask the host, one variant per primitive with the arguments that
//! decide its answer (never its timeout, nor the program found through an environment
//! variable: those say how to ask, not what). Serialised as `{ "ask": "fs.read", "args": {..} }`,
//! which is also how a recording and a test file's `[[answer]]` write them; `Display` is the
//! short form `-vv`, evidence and "not recorded: .." print.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::host::grpc::TlsOptions;

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_true(b: &bool) -> bool {
    *b
}

fn yes() -> bool {
    true
}

/// A gRPC call's options as far as they decide its answer (the timeout does not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcOptions {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsOptions>,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub reflection: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub descriptor_set: Vec<String>,
}

impl Default for GrpcOptions {
    fn default() -> Self {
        GrpcOptions {
            metadata: BTreeMap::new(),
            tls: None,
            reflection: true,
            descriptor_set: Vec::new(),
        }
    }
}

fn is_default_grpc(o: &GrpcOptions) -> bool {
    *o == GrpcOptions::default()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "ask", content = "args", deny_unknown_fields)]
pub enum Question {
    #[serde(rename = "cmd.run")]
    CmdRun {
        argv: Vec<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        env: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "is_false")]
        clear_env: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cwd: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stdin: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_output: Option<usize>,
    },
    #[serde(rename = "cmd.which")]
    CmdWhich { name: String },
    /// `follow: false` is `lstat`; the kind tests (`fs::exists`, `fs::is_file`, ..) ask this too.
    #[serde(rename = "fs.stat")]
    FsStat {
        path: String,
        #[serde(default = "yes", skip_serializing_if = "is_true")]
        follow: bool,
    },
    #[serde(rename = "fs.read")]
    FsRead {
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_bytes: Option<usize>,
    },
    #[serde(rename = "fs.glob")]
    FsGlob { pattern: String },
    #[serde(rename = "fs.free")]
    FsFree { path: String },
    /// The POSIX access ACL of a path; `null` when it has none.
    #[serde(rename = "fs.acl")]
    FsAcl { path: String },
    /// A user's uid, gid and groups (for `fs::access`).
    #[serde(rename = "fs.user")]
    FsUser { name: String },
    /// A group's name, `null` when the group database has none (for `fs::access`'s `via`).
    #[serde(rename = "fs.group")]
    FsGroup { gid: u32 },
    /// `dmsetup ls`; the answer is its output.
    #[serde(rename = "dm.ls")]
    DmLs {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dmsetup: Option<String>,
    },
    #[serde(rename = "dm.targets")]
    DmTargets {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dmsetup: Option<String>,
    },
    /// `dmsetup status NAME`; the answer is its output.
    #[serde(rename = "dm.status")]
    DmStatus {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dmsetup: Option<String>,
    },
    #[serde(rename = "dm.table")]
    DmTable {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dmsetup: Option<String>,
    },
    #[serde(rename = "dm.info")]
    DmInfo {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dmsetup: Option<String>,
    },
    #[serde(rename = "link.get")]
    LinkGet {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        netns: Option<String>,
    },
    #[serde(rename = "link.list")]
    LinkList {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        netns: Option<String>,
    },
    #[serde(rename = "net.listeners")]
    NetListeners {
        #[serde(default, skip_serializing_if = "is_false")]
        owners: bool,
    },
    #[serde(rename = "net.unix_listeners")]
    NetUnixListeners,
    #[serde(rename = "net.connect")]
    NetConnect { target: String },
    #[serde(rename = "proc.find")]
    ProcFind { query: String },
    #[serde(rename = "kmod.state")]
    KmodState {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        root: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        release: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        config: Option<String>,
    },
    #[serde(rename = "systemd.unit")]
    SystemdUnit {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        systemctl: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        busctl: Option<String>,
    },
    #[serde(rename = "sys.hostname")]
    SysHostname,
    #[serde(rename = "sys.uid")]
    SysUid,
    #[serde(rename = "sys.kernel_release")]
    SysKernelRelease,
    #[serde(rename = "sys.cpu_flags")]
    SysCpuFlags,
    #[serde(rename = "sys.pid")]
    SysPid,
    /// The clock: never shared, each asking gets its own answer.
    #[serde(rename = "sys.time")]
    SysTime,
    #[serde(rename = "grpc.invoke")]
    GrpcInvoke {
        target: String,
        method: String,
        #[serde(default)]
        request: serde_json::Value,
        #[serde(default, skip_serializing_if = "is_default_grpc")]
        options: GrpcOptions,
    },
    #[serde(rename = "grpc.list")]
    GrpcList {
        target: String,
        #[serde(default, skip_serializing_if = "is_default_grpc")]
        options: GrpcOptions,
    },
    #[serde(rename = "grpc.describe")]
    GrpcDescribe {
        target: String,
        service: String,
        #[serde(default, skip_serializing_if = "is_default_grpc")]
        options: GrpcOptions,
    },
    #[serde(rename = "grpc.health")]
    GrpcHealth {
        target: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        service: String,
        #[serde(default, skip_serializing_if = "is_default_grpc")]
        options: GrpcOptions,
    },
}

impl Question {
    /// Whether a run attempt keeps the first answer for everyone who asks again. Not for
    /// questions that change something or wait (gRPC calls: a canary's Create, a polled Get)
    /// nor for the clock.
    pub fn shared(&self) -> bool {
        !matches!(
            self,
            Question::SysTime
                | Question::GrpcInvoke { .. }
                | Question::GrpcList { .. }
                | Question::GrpcDescribe { .. }
                | Question::GrpcHealth { .. }
        )
    }

    /// The question as one canonical string: equal questions, however written, give equal
    /// keys (defaults are left out, maps are sorted).
    pub fn key(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| format!("{self:?}"))
    }

    /// The key with every secret masked, as a recording holds it.
    pub fn redacted_key(&self) -> String {
        match serde_json::to_value(self) {
            Ok(mut value) => {
                crate::secrets::redact_json(&mut value);
                value.to_string()
            }
            Err(_) => self.key(),
        }
    }

    /// The primitive's name (`fs.read`).
    pub fn name(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.get("ask").and_then(|a| a.as_str()).map(str::to_string))
            .unwrap_or_default()
    }
}

fn opt_suffix(label: &str, value: &Option<String>) -> String {
    value
        .as_ref()
        .map(|v| format!(" ({label} {v})"))
        .unwrap_or_default()
}

impl std::fmt::Display for Question {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.name();
        match self {
            Question::CmdRun { argv, .. } => {
                let words: Vec<String> = argv
                    .iter()
                    .map(|a| shlex::try_quote(a).map_or_else(|_| a.clone(), |q| q.into_owned()))
                    .collect();
                write!(f, "{name} {}", words.join(" "))
            }
            Question::CmdWhich { name: n } => write!(f, "{name} {n}"),
            Question::FsStat { path, follow } => {
                write!(f, "{name} {path}{}", if *follow { "" } else { " (lstat)" })
            }
            Question::FsRead { path, .. }
            | Question::FsFree { path }
            | Question::FsAcl { path } => write!(f, "{name} {path}"),
            Question::FsGlob { pattern } => write!(f, "{name} {pattern}"),
            Question::FsUser { name: user } => write!(f, "{name} {user}"),
            Question::FsGroup { gid } => write!(f, "{name} {gid}"),
            Question::DmLs { .. } => write!(f, "dmsetup ls"),
            Question::DmTargets { .. } => write!(f, "dmsetup targets"),
            Question::DmStatus { name: d, .. } => write!(f, "dmsetup status {d}"),
            Question::DmTable { name: d, .. } => write!(f, "dmsetup table {d}"),
            Question::DmInfo { name: d, .. } => write!(f, "dmsetup info {d}"),
            Question::LinkGet { name: l, netns } => {
                write!(f, "{name} {l}{}", opt_suffix("netns", netns))
            }
            Question::LinkList { netns } => write!(f, "{name}{}", opt_suffix("netns", netns)),
            Question::NetListeners { .. } | Question::NetUnixListeners => f.write_str(&name),
            Question::NetConnect { target } => write!(f, "{name} {target}"),
            Question::ProcFind { query } => write!(f, "{name} {query}"),
            Question::KmodState { name: m, root, .. } => {
                write!(f, "{name} {m}{}", opt_suffix("root", root))
            }
            Question::SystemdUnit { name: u, .. } => write!(f, "{name} {u}"),
            Question::GrpcInvoke {
                target,
                method,
                request,
                ..
            } => {
                write!(f, "{name} {target} {method}")?;
                let empty = request.is_null() || request.as_object().is_some_and(|m| m.is_empty());
                if !empty {
                    write!(f, " {request}")?;
                }
                Ok(())
            }
            Question::GrpcList { target, .. } => write!(f, "{name} {target}"),
            Question::GrpcDescribe {
                target, service, ..
            } => write!(f, "{name} {target} {service}"),
            Question::GrpcHealth {
                target, service, ..
            } => write!(f, "{name} {target} {service}"),
            Question::SysHostname
            | Question::SysUid
            | Question::SysKernelRelease
            | Question::SysCpuFlags
            | Question::SysPid
            | Question::SysTime => f.write_str(&name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_left_out_so_equal_questions_have_equal_keys() {
        let written: Question =
            serde_json::from_str(r#"{"ask":"fs.stat","args":{"path":"/dev/kvm","follow":true}}"#)
                .expect("parse");
        let asked = Question::FsStat {
            path: "/dev/kvm".into(),
            follow: true,
        };
        assert_eq!(written.key(), asked.key());
        assert_eq!(
            asked.key(),
            r#"{"ask":"fs.stat","args":{"path":"/dev/kvm"}}"#
        );
        let unit: Question = serde_json::from_str(r#"{"ask":"sys.hostname"}"#).expect("unit");
        assert_eq!(unit, Question::SysHostname);
        assert_eq!(unit.to_string(), "sys.hostname");
    }

    #[test]
    fn unknown_arguments_and_primitives_are_refused() {
        let typo = serde_json::from_str::<Question>(
            r#"{"ask":"fs.read","args":{"path":"/x","max_byte":3}}"#,
        );
        assert!(typo.is_err(), "{typo:?}");
        let unknown = serde_json::from_str::<Question>(r#"{"ask":"fs.write","args":{}}"#);
        assert!(unknown.is_err(), "{unknown:?}");
    }

    #[test]
    fn the_short_form_names_what_was_asked() {
        let q = Question::CmdRun {
            argv: vec!["dmsetup".into(), "status".into(), "a b".into()],
            env: BTreeMap::new(),
            clear_env: false,
            cwd: None,
            stdin: None,
            max_output: None,
        };
        assert_eq!(q.to_string(), "cmd.run dmsetup status 'a b'");
        assert!(!Question::SysTime.shared());
        assert!(q.shared());
    }
}
