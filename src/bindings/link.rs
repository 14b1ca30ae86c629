//! `link::` — network links: `get(name)`, `exists(name)` and `list()`, each also taking
//! `#{ netns: "name-or-path", timeout: seconds }`. A missing link is an error from `get` and a
//! plain `false` from `exists`.

use crate::bindings::Documented;

/// The namespace these primitives are registered in.
const MODULE: &str = "link";

use rhai::{Array, Dynamic, EvalAltResult, Map, Module, NativeCallContext};

use crate::bindings::{Options, ask, error_at, map, opt};
use crate::budget;
use crate::host::link::Link;
use crate::probe::{self, How, Question};

type Runtime = tokio::runtime::Handle;

pub fn module(runtime: Runtime) -> Module {
    let mut m = Module::new();
    let rt = runtime.clone();
    m.set_documented_fn(MODULE, "get", move |ctx: NativeCallContext, name: &str| {
        get(&ctx, &rt, name, Map::new())
    });
    let rt = runtime.clone();
    m.set_documented_fn(
        MODULE,
        "get",
        move |ctx: NativeCallContext, name: &str, o: Map| get(&ctx, &rt, name, o),
    );
    let rt = runtime.clone();
    m.set_documented_fn(
        MODULE,
        "exists",
        move |ctx: NativeCallContext, name: &str| exists(&ctx, &rt, name, Map::new()),
    );
    let rt = runtime.clone();
    m.set_documented_fn(
        MODULE,
        "exists",
        move |ctx: NativeCallContext, name: &str, o: Map| exists(&ctx, &rt, name, o),
    );
    let rt = runtime.clone();
    m.set_documented_fn(MODULE, "list", move |ctx: NativeCallContext| {
        list(&ctx, &rt, Map::new())
    });
    m.set_documented_fn(MODULE, "list", move |ctx: NativeCallContext, o: Map| {
        list(&ctx, &runtime, o)
    });
    m
}

/// The namespace asked about (`None`: this one) and how to ask.
fn target(
    ctx: &NativeCallContext,
    options: Map,
) -> Result<(Option<String>, How), Box<EvalAltResult>> {
    let parse = || -> Result<_, String> {
        let mut opts = Options::new(options, "link");
        let netns = opts.string("netns")?.filter(|n| !n.is_empty());
        let timeout = budget::cap(opts.seconds("timeout")?)?;
        let fresh = opts.fresh()?;
        opts.finish("netns, timeout, fresh")?;
        Ok((
            netns,
            How {
                timeout: Some(timeout),
                fresh,
            },
        ))
    };
    parse().map_err(|e| error_at(ctx, e))
}

fn get(
    ctx: &NativeCallContext,
    rt: &Runtime,
    name: &str,
    options: Map,
) -> Result<Map, Box<EvalAltResult>> {
    let (netns, how) = target(ctx, options)?;
    let question = Question::LinkGet {
        name: name.to_string(),
        netns,
    };
    ask::<Link>(ctx, rt, question, how).map(link_map)
}

fn exists(
    ctx: &NativeCallContext,
    rt: &Runtime,
    name: &str,
    options: Map,
) -> Result<bool, Box<EvalAltResult>> {
    let (netns, how) = target(ctx, options)?;
    let question = Question::LinkGet {
        name: name.to_string(),
        netns,
    };
    match probe::ask::<Link>(rt, question, how) {
        Ok(_) => Ok(true),
        // Only a missing link is `false`: a missing namespace is an error.
        Err(f) if f.code.as_deref() == Some("no_such_link") => Ok(false),
        Err(f) => Err(error_at(ctx, f)),
    }
}

fn list(ctx: &NativeCallContext, rt: &Runtime, options: Map) -> Result<Array, Box<EvalAltResult>> {
    let (netns, how) = target(ctx, options)?;
    let links: Vec<Link> = ask(ctx, rt, Question::LinkList { netns }, how)?;
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
