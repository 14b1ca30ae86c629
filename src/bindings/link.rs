//! `link::` — network links: `get(name)`, `exists(name)` and `list()`, each also taking
//! `#{ netns: "name-or-path", timeout: seconds }`. A missing link is an error from `get` and a
//! plain `false` from `exists`.

use rhai::{Array, Dynamic, EvalAltResult, Map, Module, NativeCallContext};

use crate::bindings::{Options, error_at, map, opt};
use crate::budget;
use crate::host::link::{self, Link, LinkError, Netns};

pub fn module() -> Module {
    let mut m = Module::new();
    m.set_native_fn("get", |ctx: NativeCallContext, name: &str| {
        get(&ctx, name, Map::new())
    });
    m.set_native_fn("get", |ctx: NativeCallContext, name: &str, o: Map| {
        get(&ctx, name, o)
    });
    m.set_native_fn("exists", |ctx: NativeCallContext, name: &str| {
        exists(&ctx, name, Map::new())
    });
    m.set_native_fn("exists", |ctx: NativeCallContext, name: &str, o: Map| {
        exists(&ctx, name, o)
    });
    m.set_native_fn("list", |ctx: NativeCallContext| list(&ctx, Map::new()));
    m.set_native_fn("list", |ctx: NativeCallContext, o: Map| list(&ctx, o));
    m
}

fn target(
    ctx: &NativeCallContext,
    options: Map,
) -> Result<(Netns, std::time::Duration), Box<EvalAltResult>> {
    let parse = || -> Result<_, String> {
        let mut opts = Options::new(options, "link");
        let netns = Netns::from_option(opts.string("netns")?);
        let timeout = budget::cap(opts.seconds("timeout")?)?;
        opts.finish("netns, timeout")?;
        Ok((netns, timeout))
    };
    parse().map_err(|e| error_at(ctx, e))
}

fn get(ctx: &NativeCallContext, name: &str, options: Map) -> Result<Map, Box<EvalAltResult>> {
    let (netns, timeout) = target(ctx, options)?;
    link::link(name, &netns, timeout)
        .map(link_map)
        .map_err(|e| error_at(ctx, e))
}

fn exists(ctx: &NativeCallContext, name: &str, options: Map) -> Result<bool, Box<EvalAltResult>> {
    let (netns, timeout) = target(ctx, options)?;
    match link::link(name, &netns, timeout) {
        Ok(_) => Ok(true),
        Err(LinkError::NoSuchLink { .. }) => Ok(false),
        Err(e) => Err(error_at(ctx, e)),
    }
}

fn list(ctx: &NativeCallContext, options: Map) -> Result<Array, Box<EvalAltResult>> {
    let (netns, timeout) = target(ctx, options)?;
    let links = link::links(&netns, timeout).map_err(|e| error_at(ctx, e))?;
    Ok(links
        .into_iter()
        .map(|l| Dynamic::from_map(link_map(l)))
        .collect())
}

fn link_map(l: Link) -> Map {
    let addresses: Array = l
        .addresses
        .into_iter()
        .map(|a| {
            Dynamic::from_map(map([
                ("family", a.family.into()),
                ("address", a.address.to_string().into()),
                ("prefix_len", i64::from(a.prefix_len).into()),
            ]))
        })
        .collect();
    map([
        ("index", i64::from(l.index).into()),
        ("name", l.name.into()),
        ("kind", opt(l.kind)),
        ("admin_up", l.admin_up.into()),
        ("lower_up", l.lower_up.into()),
        ("carrier", opt(l.carrier)),
        ("operstate", l.operstate.into()),
        ("mtu", opt(l.mtu.map(i64::from))),
        ("mac", opt(l.mac)),
        ("master", opt(l.master)),
        ("link_index", opt(l.link_index.map(i64::from))),
        ("parent", opt(l.parent)),
        ("addresses", addresses.into()),
    ])
}
