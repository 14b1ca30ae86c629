//! `net::` — sockets: who listens (`listeners`, `listening`, `unix_listening`) and whether a
//! connection succeeds (`connect`). Listener queries read this process's network namespace.

use crate::bindings::Documented;

/// The namespace these primitives are registered in.
const MODULE: &str = "net";

use std::net::IpAddr;

use rhai::{Array, Dynamic, EvalAltResult, Map, Module, NativeCallContext};

use crate::bindings::{Options, ask, error_at, map, opt};
use crate::budget;
use crate::host::net::Connected;
use crate::host::procfs::{self, Listener};
use crate::probe::{How, Question};

type Runtime = tokio::runtime::Handle;

fn listeners(
    ctx: &NativeCallContext,
    rt: &Runtime,
    owners: bool,
) -> Result<Vec<Listener>, Box<EvalAltResult>> {
    ask(ctx, rt, Question::NetListeners { owners }, How::default())
}

pub fn module(runtime: Runtime) -> Module {
    let mut m = Module::new();
    let rt = runtime.clone();
    m.set_documented_fn(
        MODULE,
        "listeners",
        move |ctx: NativeCallContext| -> Result<Array, Box<EvalAltResult>> {
            Ok(listeners(&ctx, &rt, true)?
                .into_iter()
                .map(|l| Dynamic::from_map(listener_map(l)))
                .collect())
        },
    );
    let rt = runtime.clone();
    m.set_documented_fn(
        MODULE,
        "listening",
        move |ctx: NativeCallContext, port: i64| -> Result<bool, Box<EvalAltResult>> {
            let port = port_from(port).map_err(|e| error_at(&ctx, e))?;
            let all = listeners(&ctx, &rt, false)?;
            Ok(all.iter().any(|l| l.is_tcp() && l.port == port))
        },
    );
    let rt = runtime.clone();
    m.set_documented_fn(
        MODULE,
        "listening",
        move |ctx: NativeCallContext,
              address: &str,
              port: i64|
              -> Result<bool, Box<EvalAltResult>> {
            let port = port_from(port).map_err(|e| error_at(&ctx, e))?;
            let address: IpAddr = address
                .trim_matches(['[', ']'])
                .parse()
                .map_err(|_| error_at(&ctx, format!("`{address}` is not an IP address")))?;
            let all = listeners(&ctx, &rt, false)?;
            Ok(all.iter().any(|l| l.is_tcp() && l.serves(address, port)))
        },
    );
    let rt = runtime.clone();
    m.set_documented_fn(
        MODULE,
        "unix_listening",
        move |ctx: NativeCallContext, path: &str| -> Result<bool, Box<EvalAltResult>> {
            let paths: Vec<String> = ask(&ctx, &rt, Question::NetUnixListeners, How::default())?;
            Ok(paths.iter().any(|p| p == path))
        },
    );
    let rt = runtime.clone();
    m.set_documented_fn(
        MODULE,
        "connect",
        move |ctx: NativeCallContext, target: &str| connect(&ctx, &rt, target, Map::new()),
    );
    m.set_documented_fn(
        MODULE,
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
    runtime: &Runtime,
    target: &str,
    options: Map,
) -> Result<Map, Box<EvalAltResult>> {
    let parse = || -> Result<_, String> {
        crate::host::net::Endpoint::parse(target)?;
        let mut opts = Options::new(options, "net::connect");
        let timeout = budget::cap(Some(
            opts.seconds("timeout")?
                .unwrap_or(std::time::Duration::from_secs(5)),
        ))?;
        let fresh = opts.fresh()?;
        opts.finish("timeout, fresh")?;
        Ok(How {
            timeout: Some(timeout),
            fresh,
        })
    };
    let how = parse().map_err(|e| error_at(ctx, e))?;
    let question = Question::NetConnect {
        target: target.to_string(),
    };
    let result: Connected = ask(ctx, runtime, question, how)?;
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
