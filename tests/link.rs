//! `link::` against real links in a network namespace the test creates: a veth pair, a
//! bridge with a port, a macvtap on a veth and a tap, compared field by field with what
//! `ip -j` reports in the same test, before and after flipping a link down.

use serde_json::Value;

use crate::support::Test;
use crate::support::netns::TestNetns;

fn build_topology(ns: &TestNetns) {
    ns.ip(&[
        "link", "add", "hs-v0", "type", "veth", "peer", "name", "hs-v1",
    ]);
    ns.ip(&["link", "add", "hs-br0", "type", "bridge"]);
    ns.ip(&["link", "set", "hs-v1", "master", "hs-br0"]);
    ns.ip(&[
        "link", "add", "link", "hs-v0", "name", "hs-mvt0", "type", "macvtap", "mode", "bridge",
    ]);
    ns.ip(&["tuntap", "add", "dev", "hs-tap0", "mode", "tap"]);
    ns.ip(&["link", "set", "hs-v0", "mtu", "1400"]);
    ns.ip(&["addr", "add", "10.99.0.1/24", "dev", "hs-br0"]);
    ns.ip(&["addr", "add", "fd00:99::1/64", "dev", "hs-br0", "nodad"]);
    for link in ["lo", "hs-v0", "hs-v1", "hs-br0", "hs-mvt0", "hs-tap0"] {
        ns.ip(&["link", "set", link, "up"]);
    }
}

/// hostscript's view of every link in the namespace, through a real check.
fn hostscript_links(ns: &TestNetns) -> Vec<Value> {
    let t = Test::new().file(
        "c/l.rhai",
        r#"check(#{ id: "links", description: "d", run: || pass("", #{ links: link::list(#{ netns: vars::ns }) }) });"#,
    );
    let out = t.run(&[
        "run",
        "c",
        "--format",
        "json",
        "--var",
        &format!("ns={}", ns.name),
    ]);
    assert_eq!(out.status("links"), "pass", "{}", out.stdout);
    out.check("links")["details"]["links"]
        .as_array()
        .cloned()
        .expect("links array")
}

/// Asserts that hostscript and `ip -j` agree on every field both report.
fn compare_with_ip(ns: &TestNetns) -> Vec<Value> {
    let ours = hostscript_links(ns);
    let theirs = ns.ip_json(&["-d", "link", "show"]);
    let addrs = ns.ip_json(&["addr", "show"]);
    assert_eq!(ours.len(), theirs.len(), "same number of links");
    for ip_link in &theirs {
        let name = ip_link["ifname"].as_str().expect("ifname");
        let link = ours
            .iter()
            .find(|l| l["name"] == name)
            .unwrap_or_else(|| panic!("hostscript lacks {name}"));
        let flags: Vec<&str> = ip_link["flags"]
            .as_array()
            .expect("flags")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(link["index"], ip_link["ifindex"], "{name} index");
        assert_eq!(link["mtu"], ip_link["mtu"], "{name} mtu");
        assert_eq!(link["admin_up"], flags.contains(&"UP"), "{name} admin_up");
        assert_eq!(
            link["lower_up"],
            flags.contains(&"LOWER_UP"),
            "{name} lower_up"
        );
        assert_eq!(
            link["operstate"].as_str().map(str::to_uppercase).as_deref(),
            ip_link["operstate"].as_str(),
            "{name} operstate"
        );
        if name != "lo" {
            assert_eq!(link["mac"], ip_link["address"], "{name} mac");
        }
        assert_eq!(
            link["master"],
            ip_link.get("master").cloned().unwrap_or(Value::Null),
            "{name} master"
        );
        let kind = ip_link
            .pointer("/linkinfo/info_kind")
            .cloned()
            .unwrap_or(Value::Null);
        assert_eq!(link["kind"], kind, "{name} kind");
        if name == "hs-mvt0" {
            assert_eq!(link["parent"], ip_link["link"], "{name} parent");
        }
        let ip_addrs: Vec<(String, u64)> = addrs
            .iter()
            .find(|a| a["ifname"] == name)
            .and_then(|a| a["addr_info"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|a| {
                (
                    a["local"].as_str().unwrap_or_default().to_string(),
                    a["prefixlen"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        let our_addrs: Vec<(String, u64)> = link["addresses"]
            .as_array()
            .expect("addresses")
            .iter()
            .map(|a| {
                (
                    a["address"].as_str().unwrap_or_default().to_string(),
                    a["prefix_len"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        for pair in &ip_addrs {
            assert!(
                our_addrs.contains(pair),
                "{name}: ip shows {pair:?}, hostscript {our_addrs:?}"
            );
        }
        assert_eq!(our_addrs.len(), ip_addrs.len(), "{name} address count");
    }
    ours
}

fn find<'a>(links: &'a [Value], name: &str) -> &'a Value {
    links
        .iter()
        .find(|l| l["name"] == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn links_in_a_namespace_match_ip_before_and_after_a_flip() {
    let ns = TestNetns::new("link");
    build_topology(&ns);
    let links = compare_with_ip(&ns);
    assert_eq!(find(&links, "hs-v0")["kind"], "veth");
    assert_eq!(find(&links, "hs-br0")["kind"], "bridge");
    assert_eq!(find(&links, "hs-v1")["master"], "hs-br0");
    assert_eq!(find(&links, "hs-mvt0")["kind"], "macvtap");
    assert_eq!(find(&links, "hs-mvt0")["parent"], "hs-v0");
    assert_eq!(find(&links, "hs-tap0")["kind"], "tun");
    assert_eq!(find(&links, "hs-v0")["mtu"], 1400);
    assert_eq!(find(&links, "hs-v0")["carrier"], true);

    // Peer down: hs-v0 stays administratively up but loses carrier.
    ns.ip(&["link", "set", "hs-v1", "down"]);
    let links = compare_with_ip(&ns);
    let v0 = find(&links, "hs-v0");
    assert_eq!(
        (
            v0["admin_up"].clone(),
            v0["lower_up"].clone(),
            v0["carrier"].clone()
        ),
        (Value::Bool(true), Value::Bool(false), Value::Bool(false))
    );
    assert_eq!(v0["operstate"], "lowerlayerdown");
    assert_eq!(find(&links, "hs-v1")["admin_up"], false);

    ns.ip(&["link", "set", "hs-v1", "up"]);
    let links = compare_with_ip(&ns);
    assert_eq!(find(&links, "hs-v0")["operstate"], "up");
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn get_and_exists_answer_for_one_link() {
    let ns = TestNetns::new("get");
    build_topology(&ns);
    let t = Test::new().file(
        "c/l.rhai",
        r#"let o = #{ netns: vars::ns };
           check(#{ id: "get", description: "d", run: || { let l = link::get("hs-br0", o); pass(`${l.kind} ${l.admin_up} ${l.addresses.filter(|a| !a.address.starts_with("fe80")).len()}`) } });
           check(#{ id: "exists", description: "d", run: || pass(`${link::exists("hs-br0", o)} ${link::exists("eno4", o)}`) });
           check(#{ id: "missing", description: "d", run: || { link::get("eno4", o); pass("") } });
           check(#{ id: "bad.ns", description: "d", run: || { link::exists("lo", #{ netns: "hs-no-such-ns" }); pass("") } });"#,
    );
    let out = t.run(&[
        "run",
        "c",
        "--format",
        "json",
        "--var",
        &format!("ns={}", ns.name),
    ]);
    // The kernel adds an fe80:: address once the bridge has carrier, at a moment of its own
    // choosing; count the two addresses the test configured.
    assert_eq!(out.message("get"), "bridge true 2");
    assert_eq!(out.message("exists"), "true false");
    assert!(
        out.message("missing")
            .ends_with(&format!("no such link `eno4` in netns `{}`", ns.name)),
        "{}",
        out.message("missing")
    );
    assert!(
        out.message("bad.ns")
            .ends_with("no such network namespace `hs-no-such-ns`"),
        "{}",
        out.message("bad.ns")
    );
}
