//! Views from /proc: listening sockets (TCP and UDP over IPv4 and IPv6, with the owning process
//! where visible), listening unix sockets, processes by name or executable, and CPU flags.
//!
//! A server bound to 127.0.0.1 through an IPv6 socket appears only in /proc/net/tcp6, as
//! `::ffff:127.0.0.1`; matching treats such v4-mapped addresses as the IPv4 address they carry,
//! which tools that read only /proc/net/tcp get wrong.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::path::Path;

use procfs::net::{TcpState, UdpState};
use procfs::process::{FDTarget, Process};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// `tcp`, `tcp6`, `udp` or `udp6`: the table the socket was found in.
    pub proto: String,
    pub address: IpAddr,
    pub port: u16,
    pub uid: u32,
    pub pid: Option<i32>,
    pub process: Option<String>,
}

impl Listener {
    pub fn is_tcp(&self) -> bool {
        self.proto.starts_with("tcp")
    }

    /// Whether a connection to `address:port` would reach this listener: same port, and the
    /// same address, or a wildcard (`0.0.0.0` serves every IPv4 address, `::` every address).
    pub fn serves(&self, address: IpAddr, port: u16) -> bool {
        if self.port != port {
            return false;
        }
        let ours = canonical(self.address);
        let theirs = canonical(address);
        match ours {
            IpAddr::V4(v4) if v4.is_unspecified() => theirs.is_ipv4(),
            IpAddr::V6(v6) if v6.is_unspecified() => true,
            _ => ours == theirs,
        }
    }
}

/// `::ffff:a.b.c.d` as `a.b.c.d`; everything else unchanged.
pub fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Every TCP socket in LISTEN and every unconnected UDP socket, in this process's netns.
/// Finding each socket's process means reading every process's fd table, which costs far
/// more than the socket tables themselves, so callers that only ask "is anyone listening"
/// pass `with_owners = false`.
pub fn listeners(with_owners: bool) -> Result<Vec<Listener>, String> {
    let owners = if with_owners {
        socket_owners()
    } else {
        HashMap::new()
    };
    let mut out = Vec::new();
    // The kernel prints these tables a page per read(); a socket opened or closed between two
    // reads can shift the hash walk so one entry comes out twice. A socket's inode is unique,
    // so a repeat is dropped (CI saw a listener twice while other tests bound sockets).
    let mut seen = std::collections::HashSet::new();
    let owner = |inode: u64| {
        owners
            .get(&inode)
            .cloned()
            .map_or((None, None), |(p, n)| (Some(p), Some(n)))
    };
    for (proto, table) in [("tcp", procfs::net::tcp()), ("tcp6", procfs::net::tcp6())] {
        for entry in table.map_err(|e| format!("reading /proc/net/{proto}: {e}"))? {
            if entry.state == TcpState::Listen && (entry.inode == 0 || seen.insert(entry.inode)) {
                let (pid, process) = owner(entry.inode);
                out.push(Listener {
                    proto: proto.to_string(),
                    address: entry.local_address.ip(),
                    port: entry.local_address.port(),
                    uid: entry.uid,
                    pid,
                    process,
                });
            }
        }
    }
    for (proto, table) in [("udp", procfs::net::udp()), ("udp6", procfs::net::udp6())] {
        for entry in table.map_err(|e| format!("reading /proc/net/{proto}: {e}"))? {
            if entry.state == UdpState::Close
                && entry.remote_address.port() == 0
                && (entry.inode == 0 || seen.insert(entry.inode))
            {
                let (pid, process) = owner(entry.inode);
                out.push(Listener {
                    proto: proto.to_string(),
                    address: entry.local_address.ip(),
                    port: entry.local_address.port(),
                    uid: entry.uid,
                    pid,
                    process,
                });
            }
        }
    }
    Ok(out)
}

/// Socket inode → (pid, command name), for the processes whose fds we may read.
fn socket_owners() -> HashMap<u64, (i32, String)> {
    let mut owners = HashMap::new();
    let Ok(processes) = procfs::process::all_processes() else {
        return owners;
    };
    // Processes come and go during the scan and other users' fds need root: skip what fails.
    for process in processes.flatten() {
        let (Ok(stat), Ok(fds)) = (process.stat(), process.fd()) else {
            continue;
        };
        for fd in fds.flatten() {
            if let FDTarget::Socket(inode) = fd.target {
                owners.entry(inode).or_insert((stat.pid, stat.comm.clone()));
            }
        }
    }
    owners
}

/// Listening unix sockets' paths, from /proc/net/unix. The procfs crate drops the Flags
/// column, and only its `__SO_ACCEPTCON` bit tells a listener from a merely bound socket.
pub fn unix_listeners() -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string("/proc/net/unix")
        .map_err(|e| format!("reading /proc/net/unix: {e}"))?;
    Ok(parse_unix_listeners(&text))
}

const SO_ACCEPTCON: u32 = 0x10000;

pub fn parse_unix_listeners(text: &str) -> Vec<String> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            // Num RefCount Protocol Flags Type St Inode [Path]; the path is the rest of the
            // line, spaces included (the kernel prints it raw).
            let mut rest = line.trim_start();
            let mut fields = Vec::with_capacity(7);
            for _ in 0..7 {
                let end = rest.find(' ').unwrap_or(rest.len());
                fields.push(&rest[..end]);
                rest = rest[end..].trim_start_matches(' ');
            }
            let flags = u32::from_str_radix(fields.get(3)?, 16).ok()?;
            let path = rest.trim_end_matches(['\n', '\r']);
            (flags & SO_ACCEPTCON != 0 && !path.is_empty()).then(|| path.to_string())
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessInfo {
    pub pid: i32,
    /// The kernel's command name (at most 15 characters).
    pub name: String,
    pub exe: Option<String>,
    pub cmdline: Vec<String>,
    pub uid: Option<u32>,
    pub user: Option<String>,
}

/// Processes whose name, executable or argv[0] matches `query`. A query with a `/` matches
/// the executable path or argv[0] exactly; otherwise it matches the command name or the base
/// name of either.
pub fn find_processes(query: &str) -> Result<Vec<ProcessInfo>, String> {
    let processes = procfs::process::all_processes().map_err(|e| format!("listing /proc: {e}"))?;
    let mut found = Vec::new();
    for process in processes.flatten() {
        if let Some(info) = describe(&process)
            && matches_query(&info, query)
        {
            crate::secrets::discover(&info.cmdline.join(" "));
            found.push(info);
        }
    }
    Ok(found)
}

fn describe(process: &Process) -> Option<ProcessInfo> {
    let stat = process.stat().ok()?;
    let uid = process.uid().ok();
    Some(ProcessInfo {
        pid: stat.pid,
        name: stat.comm,
        exe: process.exe().ok().map(|p| p.display().to_string()),
        cmdline: process.cmdline().unwrap_or_default(),
        uid,
        user: uid
            .and_then(|u| {
                nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(u))
                    .ok()
                    .flatten()
            })
            .map(|u| u.name),
    })
}

fn base(path: &str) -> &str {
    Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(path)
}

fn matches_query(info: &ProcessInfo, query: &str) -> bool {
    let argv0 = info.cmdline.first().map(String::as_str);
    if query.contains('/') {
        info.exe.as_deref() == Some(query) || argv0 == Some(query)
    } else {
        info.name == query
            || info.exe.as_deref().map(base) == Some(query)
            || argv0.map(base) == Some(query)
    }
}

/// The CPU's feature flags from /proc/cpuinfo (first CPU).
pub fn cpu_flags() -> Result<Vec<String>, String> {
    use procfs::Current;
    let info = procfs::CpuInfo::current().map_err(|e| format!("reading /proc/cpuinfo: {e}"))?;
    Ok(info
        .flags(0)
        .unwrap_or_default()
        .into_iter()
        .map(str::to_string)
        .collect())
}

/// An IPv6 address as /proc shows it, for messages.
pub fn display_address(address: IpAddr) -> String {
    match address {
        IpAddr::V6(v6) if v6 == Ipv6Addr::UNSPECIFIED => "::".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(address: &str, port: u16) -> Listener {
        Listener {
            proto: "tcp6".into(),
            address: address.parse().expect("ip"),
            port,
            uid: 0,
            pid: None,
            process: None,
        }
    }

    #[test]
    fn wildcards_and_v4_mapped_addresses_serve_as_the_kernel_would() {
        let v4_any = listener("0.0.0.0", 9090);
        assert!(v4_any.serves("10.0.0.5".parse().expect("ip"), 9090));
        assert!(!v4_any.serves("::1".parse().expect("ip"), 9090));
        assert!(!v4_any.serves("10.0.0.5".parse().expect("ip"), 9091));
        let v6_any = listener("::", 9090);
        assert!(v6_any.serves("10.0.0.5".parse().expect("ip"), 9090));
        assert!(v6_any.serves("fd00::1".parse().expect("ip"), 9090));
        let mapped = listener("::ffff:127.0.0.1", 9090);
        assert!(mapped.serves("127.0.0.1".parse().expect("ip"), 9090));
        assert!(!mapped.serves("10.0.0.5".parse().expect("ip"), 9090));
        assert_eq!(
            canonical("::ffff:127.0.0.1".parse().expect("ip")),
            "127.0.0.1".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn unix_socket_paths_with_spaces_are_kept_whole() {
        let text = "Num       RefCount Protocol Flags    Type St Inode Path\n0000000000000000: 00000002 00000000 00010000 0001 01 12345 /run/my app/containerd.sock\n";
        assert_eq!(parse_unix_listeners(text), ["/run/my app/containerd.sock"]);
    }

    #[test]
    fn unix_listeners_are_told_apart_by_the_acceptcon_flag() {
        let text = "Num       RefCount Protocol Flags    Type St Inode Path\n\
                    0000000000000000: 00000002 00000000 00010000 0001 01 23456 /run/containerd/containerd.sock\n\
                    0000000000000000: 00000002 00000000 00000000 0001 01 23457 /tmp/bound-only.sock\n\
                    0000000000000000: 00000003 00000000 00000000 0001 03 23458\n";
        assert_eq!(
            parse_unix_listeners(text),
            vec!["/run/containerd/containerd.sock".to_string()]
        );
    }

    #[test]
    fn processes_match_by_name_exe_or_argv0() {
        let info = ProcessInfo {
            pid: 1,
            name: "flintlockd".into(),
            exe: Some("/usr/local/bin/flintlockd".into()),
            cmdline: vec!["/usr/local/bin/flintlockd".into(), "run".into()],
            uid: Some(0),
            user: Some("root".into()),
        };
        assert!(matches_query(&info, "flintlockd"));
        assert!(matches_query(&info, "/usr/local/bin/flintlockd"));
        assert!(!matches_query(&info, "/usr/bin/flintlockd"));
        assert!(!matches_query(&info, "containerd"));
    }
}
