//! `net::` — sockets: who listens (`listeners`, `listening`, `unix_listening`) and whether a
//! connection succeeds (`connect`). Listener queries read this process's network namespace.

use std::net::IpAddr;

use rhai::{Array, Dynamic, EvalAltResult, Map, Module, NativeCallContext};

use crate::bindings::{Options, error_at, map, opt};
use crate::budget;
use crate::host::net::{self, Endpoint};
use crate::host::procfs::{self, Listener};

pub fn module(runtime: tokio::runtime::Handle) -> Module {
    let mut m = Module::new();
    m.set_native_fn(
        "listeners",
        |ctx: NativeCallContext| -> Result<Array, Box<EvalAltResult>> {
            let all = procfs::listeners(true).map_err(|e| error_at(&ctx, e))?;
            Ok(all
                .into_iter()
                .map(|l| Dynamic::from_map(listener_map(l)))
                .collect())
        },
    );
    m.set_native_fn(
        "listening",
        |ctx: NativeCallContext, port: i64| -> Result<bool, Box<EvalAltResult>> {
            let port = port_from(port).map_err(|e| error_at(&ctx, e))?;
            let all = procfs::listeners(false).map_err(|e| error_at(&ctx, e))?;
            Ok(all.iter().any(|l| l.is_tcp() && l.port == port))
        },
    );
    m.set_native_fn(
        "listening",
        |ctx: NativeCallContext, address: &str, port: i64| -> Result<bool, Box<EvalAltResult>> {
            let port = port_from(port).map_err(|e| error_at(&ctx, e))?;
            let address: IpAddr = address
                .trim_matches(['[', ']'])
                .parse()
                .map_err(|_| error_at(&ctx, format!("`{address}` is not an IP address")))?;
            let all = procfs::listeners(false).map_err(|e| error_at(&ctx, e))?;
            Ok(all.iter().any(|l| l.is_tcp() && l.serves(address, port)))
        },
    );
    m.set_native_fn(
        "unix_listening",
        |ctx: NativeCallContext, path: &str| -> Result<bool, Box<EvalAltResult>> {
            let paths = procfs::unix_listeners().map_err(|e| error_at(&ctx, e))?;
            Ok(paths.iter().any(|p| p == path))
        },
    );
    let rt = runtime.clone();
    m.set_native_fn("connect", move |ctx: NativeCallContext, target: &str| {
        connect(&ctx, &rt, target, Map::new())
    });
    m.set_native_fn(
        "connect",
        move |ctx: NativeCallContext, target: &str, options: Map| {
            connect(&ctx, &runtime, target, options)
        },
    );
    m
}

fn port_from(port: i64) -> Result<u16, String> {
    u16::try_from(port)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("port {port} is not between 1 and 65535"))
}

fn connect(
    ctx: &NativeCallContext,
    runtime: &tokio::runtime::Handle,
    target: &str,
    options: Map,
) -> Result<Map, Box<EvalAltResult>> {
    let parse = || -> Result<_, String> {
        let endpoint = Endpoint::parse(target)?;
        let mut opts = Options::new(options, "net::connect");
        let timeout = budget::cap(Some(
            opts.seconds("timeout")?
                .unwrap_or(std::time::Duration::from_secs(5)),
        ))?;
        opts.finish("timeout")?;
        Ok((endpoint, timeout))
    };
    let (endpoint, timeout) = parse().map_err(|e| error_at(ctx, e))?;
    let result = runtime.block_on(net::connect(&endpoint, timeout));
    Ok(map([
        ("ok", result.ok.into()),
        ("error", opt(result.error)),
        ("kind", opt(result.kind.map(|k| k.as_str().to_string()))),
        ("duration_ms", (result.duration.as_millis() as i64).into()),
    ]))
}

fn listener_map(l: Listener) -> Map {
    let canonical = procfs::canonical(l.address);
    map([
        ("proto", l.proto.into()),
        ("address", procfs::display_address(l.address).into()),
        (
            "ipv4",
            opt(match canonical {
                IpAddr::V4(v4) => Some(v4.to_string()),
                IpAddr::V6(_) => None,
            }),
        ),
        ("port", i64::from(l.port).into()),
        ("loopback", canonical.is_loopback().into()),
        ("wildcard", canonical.is_unspecified().into()),
        ("uid", i64::from(l.uid).into()),
        ("pid", opt(l.pid.map(i64::from))),
        ("process", opt(l.process)),
    ])
}
