//! Network links through rtnetlink: state, kind, MTU, MAC, master, parent and addresses, in
//! this network namespace or another one (`/run/netns/NAME` or any netns file).
//!
//! A netlink socket belongs to the namespace it was created in, so each query runs on a
//! short-lived thread that first joins the target namespace, opens its own socket and runtime,
//! dumps links and addresses, and exits. No thread of the process ever changes namespace for
//! longer than one query, and nothing is cached across namespaces.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkMessage};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("no such link `{name}`{}", in_ns(.netns))]
    NoSuchLink { name: String, netns: Option<String> },
    #[error("no such network namespace `{netns}`")]
    NoSuchNetns { netns: String },
    #[error("entering network namespace `{netns}`: {message}")]
    EnterNetns { netns: String, message: String },
    #[error("netlink{}: {message}", in_ns(.netns))]
    Netlink {
        message: String,
        netns: Option<String>,
    },
    #[error("netlink query{} timed out after {}", in_ns(.netns), crate::text::human_duration(*after))]
    TimedOut {
        netns: Option<String>,
        after: Duration,
    },
}

fn in_ns(netns: &Option<String>) -> String {
    netns
        .as_ref()
        .map(|n| format!(" in netns `{n}`"))
        .unwrap_or_default()
}

/// Which network namespace to look at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Netns {
    #[default]
    Current,
    /// A name under /run/netns, or a path to a netns file (`/proc/<pid>/ns/net`).
    Named(String),
}

impl Netns {
    pub fn from_option(value: Option<String>) -> Netns {
        match value {
            None => Netns::Current,
            Some(v) if v.is_empty() => Netns::Current,
            Some(v) => Netns::Named(v),
        }
    }

    fn label(&self) -> Option<String> {
        match self {
            Netns::Current => None,
            Netns::Named(n) => Some(n.clone()),
        }
    }

    fn path(&self) -> Option<PathBuf> {
        match self {
            Netns::Current => None,
            Netns::Named(n) if n.contains('/') => Some(PathBuf::from(n)),
            Netns::Named(n) => Some(PathBuf::from(rtnetlink::NETNS_PATH).join(n)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub family: String,
    pub address: IpAddr,
    pub prefix_len: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `veth`, `bridge`, `macvtap`, `tun`, ...; `None` for physical NICs and loopback.
    pub kind: Option<String>,
    /// IFF_UP: the administrator set the link up.
    pub admin_up: bool,
    /// IFF_LOWER_UP: the driver reports a working lower layer.
    pub lower_up: bool,
    pub carrier: Option<bool>,
    /// Lowercase, as in sysfs: `up`, `down`, `lowerlayerdown`, `unknown`, ...
    pub operstate: String,
    pub mtu: Option<u32>,
    pub mac: Option<String>,
    /// The bridge (or bond) this link is enslaved to.
    pub master: Option<String>,
    /// Index of the lower link (macvlan/macvtap parent, or veth peer).
    pub link_index: Option<u32>,
    /// Name of the lower link of a macvlan/macvtap/vlan/ipvlan, when in this namespace.
    pub parent: Option<String>,
    pub addresses: Vec<Address>,
}

/// All links of a namespace, in index order.
pub fn links(netns: &Netns, timeout: Duration) -> Result<Vec<Link>, LinkError> {
    let ns = netns.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("hostscript-netlink".into())
        .spawn(move || {
            let _ = tx.send(query_in_thread(&ns, timeout));
        })
        .map_err(|e| LinkError::Netlink {
            message: format!("cannot start a thread: {e}"),
            netns: netns.label(),
        })?;
    rx.recv_timeout(timeout + Duration::from_millis(200))
        .unwrap_or(Err(LinkError::TimedOut {
            netns: netns.label(),
            after: timeout,
        }))
}

/// One link by name.
pub fn link(name: &str, netns: &Netns, timeout: Duration) -> Result<Link, LinkError> {
    links(netns, timeout)?
        .into_iter()
        .find(|l| l.name == name)
        .ok_or_else(|| LinkError::NoSuchLink {
            name: name.to_string(),
            netns: netns.label(),
        })
}

fn query_in_thread(netns: &Netns, timeout: Duration) -> Result<Vec<Link>, LinkError> {
    if let Some(path) = netns.path() {
        let label = netns.label().unwrap_or_default();
        let file = std::fs::File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => LinkError::NoSuchNetns {
                netns: label.clone(),
            },
            _ => LinkError::EnterNetns {
                netns: label.clone(),
                message: e.to_string(),
            },
        })?;
        // This thread ends after the query, so its namespace never needs restoring.
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
            LinkError::EnterNetns {
                netns: label,
                message: e.desc().to_string(),
            }
        })?;
    }
    let netlink = |message: String| LinkError::Netlink {
        message,
        netns: netns.label(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| netlink(format!("runtime: {e}")))?;
    runtime.block_on(async {
        tokio::time::timeout(timeout, dump())
            .await
            .map_err(|_| LinkError::TimedOut {
                netns: netns.label(),
                after: timeout,
            })?
            .map_err(netlink)
    })
}

async fn dump() -> Result<Vec<Link>, String> {
    let (connection, handle, _) =
        rtnetlink::new_connection().map_err(|e| format!("socket: {e}"))?;
    let connection = tokio::spawn(connection);
    let messages: Vec<LinkMessage> = handle
        .link()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|e| format!("link dump: {e}"))?;
    let addresses: Vec<AddressMessage> = handle
        .address()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|e| format!("address dump: {e}"))?;
    connection.abort();

    let names: HashMap<u32, String> = messages
        .iter()
        .filter_map(|m| name_of(m).map(|n| (m.header.index, n)))
        .collect();
    let mut by_link: HashMap<u32, Vec<Address>> = HashMap::new();
    for msg in &addresses {
        if let Some(address) = address_of(msg) {
            by_link.entry(msg.header.index).or_default().push(address);
        }
    }
    let mut links: Vec<Link> = messages
        .iter()
        .map(|m| {
            link_from(
                m,
                &names,
                by_link.remove(&m.header.index).unwrap_or_default(),
            )
        })
        .collect();
    links.sort_by_key(|l| l.index);
    Ok(links)
}

fn name_of(msg: &LinkMessage) -> Option<String> {
    msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })
}

fn address_of(msg: &AddressMessage) -> Option<Address> {
    // IFA_LOCAL is the interface's own address on point-to-point links; prefer it.
    let local = msg.attributes.iter().find_map(|a| match a {
        AddressAttribute::Local(ip) => Some(*ip),
        _ => None,
    });
    let address = local.or_else(|| {
        msg.attributes.iter().find_map(|a| match a {
            AddressAttribute::Address(ip) => Some(*ip),
            _ => None,
        })
    })?;
    let family = if address.is_ipv4() { "inet" } else { "inet6" }.to_string();
    Some(Address {
        family,
        address,
        prefix_len: msg.header.prefix_len,
    })
}

fn link_from(msg: &LinkMessage, names: &HashMap<u32, String>, addresses: Vec<Address>) -> Link {
    let mut link = Link {
        index: msg.header.index,
        name: name_of(msg).unwrap_or_default(),
        kind: None,
        admin_up: msg.header.flags.contains(LinkFlags::Up),
        lower_up: msg.header.flags.contains(LinkFlags::LowerUp),
        carrier: None,
        operstate: "unknown".to_string(),
        mtu: None,
        mac: None,
        master: None,
        link_index: None,
        parent: None,
        addresses,
    };
    let mut lower_in_other_ns = false;
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::Mtu(mtu) => link.mtu = Some(*mtu),
            LinkAttribute::Carrier(c) => link.carrier = Some(*c != 0),
            LinkAttribute::OperState(s) => link.operstate = s.to_string().to_lowercase(),
            LinkAttribute::Address(mac) => link.mac = Some(format_mac(mac)),
            LinkAttribute::Controller(i) => {
                link.master = names.get(i).cloned().or(Some(i.to_string()));
            }
            LinkAttribute::Link(i) => link.link_index = Some(*i),
            LinkAttribute::LinkNetNsId(_) => lower_in_other_ns = true,
            LinkAttribute::LinkInfo(infos) => {
                link.kind = infos.iter().find_map(|i| match i {
                    LinkInfo::Kind(k) => Some(k.to_string()),
                    _ => None,
                });
            }
            _ => {}
        }
    }
    let has_parent = matches!(
        link.kind.as_deref(),
        Some("macvlan" | "macvtap" | "vlan" | "ipvlan" | "ipvtap")
    );
    if has_parent && !lower_in_other_ns {
        link.parent = link.link_index.and_then(|i| names.get(&i).cloned());
    }
    link
}

fn format_mac(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_up_with_a_v4_address() {
        let links = links(&Netns::Current, Duration::from_secs(5)).expect("dump");
        let lo = links.iter().find(|l| l.name == "lo").expect("lo");
        assert!(lo.admin_up);
        assert_eq!(lo.kind, None);
        assert!(
            lo.addresses
                .iter()
                .any(|a| a.address == IpAddr::from([127, 0, 0, 1]) && a.prefix_len == 8)
        );
    }

    #[test]
    fn missing_links_and_namespaces_are_named() {
        let err =
            link("hs-no-such-link", &Netns::Current, Duration::from_secs(5)).expect_err("missing");
        assert_eq!(err.to_string(), "no such link `hs-no-such-link`");
        let err = links(
            &Netns::Named("hs-no-such-ns".into()),
            Duration::from_secs(5),
        )
        .expect_err("ns");
        assert_eq!(err.to_string(), "no such network namespace `hs-no-such-ns`");
    }

    #[test]
    fn macs_are_lowercase_colon_separated() {
        assert_eq!(
            format_mac(&[0xde, 0xad, 0xbe, 0xef, 0x00, 0x01]),
            "de:ad:be:ef:00:01"
        );
    }
}
