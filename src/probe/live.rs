//! Answers a question from the live host: the one place the read-only primitives reach
//! `host/`. Each answer is the host's plain value as JSON; each failure keeps its kind.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::{Answer, Failure, Question};
use crate::host::{self, Kinded};

/// How long a question may take when the asker named no limit (outside any check).
const UNBOUNDED: Duration = Duration::from_secs(30);

fn value<T: Serialize, E: Kinded>(result: Result<T, E>) -> Answer {
    let value = result.map_err(|e| Failure::of(&e))?;
    serde_json::to_value(value).map_err(|e| Failure::invalid(format!("answer: {e}")))
}

fn dmsetup(program: &Option<String>, timeout: Duration) -> host::dm::Dmsetup {
    host::dm::Dmsetup {
        program: program
            .clone()
            .or_else(|| std::env::var("HOSTSCRIPT_DMSETUP").ok())
            .unwrap_or_else(|| "dmsetup".to_string()),
        timeout,
    }
}

pub fn answer(
    runtime: &tokio::runtime::Handle,
    question: &Question,
    timeout: Option<Duration>,
) -> Answer {
    use host::dm::Verb;
    let timeout = timeout.unwrap_or(UNBOUNDED);
    let dm = |program: &Option<String>, verb: Verb, name: &str| {
        value(runtime.block_on(dmsetup(program, timeout).output(verb, name)))
    };
    match question {
        Question::CmdRun {
            argv,
            env,
            clear_env,
            cwd,
            stdin,
            max_output,
        } => {
            let mut spec = host::cmd::CommandSpec::new(argv.clone(), timeout);
            spec.env = env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            spec.clear_env = *clear_env;
            spec.cwd = cwd.as_ref().map(PathBuf::from);
            spec.stdin = stdin.as_ref().map(|s| s.clone().into_bytes());
            if let Some(max) = max_output {
                spec.max_output = *max;
            }
            value(runtime.block_on(host::cmd::run(&spec)))
        }
        Question::CmdWhich { name } => value(Ok::<_, String>(
            which::which(name).ok().map(|p| p.display().to_string()),
        )),
        Question::FsStat { path, follow } => value(
            host::fs::stat(Path::new(path), *follow).map_err(|e| match e {
                // A file where a directory was expected on the way: nothing can be there.
                host::fs::FsError::Io { path, source }
                    if source.raw_os_error() == Some(nix::libc::ENOTDIR) =>
                {
                    host::fs::FsError::NotFound { path }
                }
                other => other,
            }),
        ),
        Question::FsRead { path, max_bytes } => value(host::fs::read(
            Path::new(path),
            max_bytes.unwrap_or(host::fs::DEFAULT_READ_CAP),
        )),
        Question::FsGlob { pattern } => {
            let paths = glob::glob(pattern)
                .map_err(|e| Failure::invalid(format!("bad glob `{pattern}`: {}", e.msg)))?;
            value(Ok::<_, String>(
                paths
                    .filter_map(Result::ok)
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>(),
            ))
        }
        Question::FsFree { path } => value(host::fs::free_space(Path::new(path))),
        Question::FsAcl { path } => value(host::fs::read_acl(Path::new(path))),
        Question::FsUser { name } => value(host::fs::Identity::lookup(name)),
        Question::FsGroup { gid } => value(Ok::<_, String>(host::fs::group_name(*gid))),
        Question::DmLs { dmsetup } => dm(dmsetup, Verb::Ls, ""),
        Question::DmTargets { dmsetup } => dm(dmsetup, Verb::Targets, ""),
        Question::DmStatus { name, dmsetup } => dm(dmsetup, Verb::Status, name),
        Question::DmTable { name, dmsetup } => dm(dmsetup, Verb::Table, name),
        Question::DmInfo { name, dmsetup } => dm(dmsetup, Verb::Info, name),
        Question::LinkGet { name, netns } => {
            let netns = host::link::Netns::from_option(netns.clone());
            host::link::link(name, &netns, timeout).map_or_else(
                |e| {
                    let mut failure = Failure::of(&e);
                    // `link::exists` tells "no such link" from "no such namespace".
                    if matches!(e, host::link::LinkError::NoSuchLink { .. }) {
                        failure.code = Some("no_such_link".into());
                    }
                    Err(failure)
                },
                |link| value(Ok::<_, String>(link)),
            )
        }
        Question::LinkList { netns } => value(host::link::links(
            &host::link::Netns::from_option(netns.clone()),
            timeout,
        )),
        Question::NetListeners { owners } => value(host::procfs::listeners(*owners)),
        Question::NetUnixListeners => value(host::procfs::unix_listeners()),
        Question::NetConnect { target } => {
            let endpoint = host::net::Endpoint::parse(target).map_err(Failure::invalid)?;
            value(Ok::<_, String>(
                runtime.block_on(host::net::connect(&endpoint, timeout)),
            ))
        }
        Question::ProcFind { query } => value(host::procfs::find_processes(query)),
        Question::KmodState {
            name,
            root,
            release,
            config,
        } => {
            let release = match release {
                Some(r) => r.clone(),
                None => host::sys::kernel_release().map_err(|e| Failure::of(&e))?,
            };
            let probe = host::kmod::Probe {
                root: root
                    .as_ref()
                    .map_or_else(|| PathBuf::from("/"), PathBuf::from),
                release,
                config_symbol: config.clone(),
            };
            value(Ok::<_, String>(probe.state(name)))
        }
        Question::SystemdUnit {
            name,
            systemctl,
            busctl,
        } => {
            let mut programs = host::systemd::Programs::from_env();
            if let Some(p) = systemctl {
                programs.systemctl = p.clone();
            }
            if let Some(p) = busctl {
                programs.busctl = p.clone();
            }
            value(runtime.block_on(host::systemd::unit(name, &programs, timeout)))
        }
        Question::SysHostname => value(Ok::<_, String>(host::sys::hostname())),
        Question::SysUid => value(Ok::<_, String>(host::sys::uid())),
        Question::SysKernelRelease => value(host::sys::kernel_release()),
        Question::SysCpuFlags => value(host::procfs::cpu_flags()),
        Question::SysPid => value(Ok::<_, String>(std::process::id())),
        Question::SysTime => value(Ok::<_, String>(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
        )),
        Question::GrpcInvoke {
            target,
            method,
            request,
            options,
        } => super::grpc::invoke(runtime, target, method, request, options, timeout),
        Question::GrpcList { target, options } => {
            super::grpc::list(runtime, target, options, timeout)
        }
        Question::GrpcDescribe {
            target,
            service,
            options,
        } => super::grpc::describe(runtime, target, service, options, timeout),
        Question::GrpcHealth {
            target,
            service,
            options,
        } => super::grpc::health(runtime, target, service, options, timeout),
    }
}
