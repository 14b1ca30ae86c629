//! `hostscript serve`: readiness over HTTP for Prometheus and load balancers, read-only (it
//! never remediates). `GET /healthz` is 200 when every required check passes and 503
//! otherwise, with the human report as the body; `/healthz/ID` and `/healthz?tag=T` answer for
//! one check or tag; `/metrics` is the Prometheus text format; `/report` the JSON report.
//! Results are reused for `--interval`; concurrent requests wait for one shared run
//! (single-flight) and runs never overlap. Scripts load once, at start. It binds loopback
//! unless `--listen` names another address; SIGTERM and SIGINT stop it cleanly; a malformed
//! request gets 400 and the server stays up.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::cli::ServeArgs;
use crate::commands::running::{Prepared, prepare, run_and_report};
use crate::error::{Error, Result, exit_code};
use crate::outcome::{CheckResult, Status};
use crate::report::{self, Item, Reporter, Summary};

/// One finished run, shared by every request until it is older than the interval.
struct Snapshot {
    at: Instant,
    summary: Summary,
    results: Vec<(Item, CheckResult)>,
    /// The whole-run answers, rendered by the first request that asks and then reused: under
    /// load a scrape costs a copy, not a report.
    metrics: OnceLock<String>,
    report: OnceLock<String>,
    healthz: OnceLock<String>,
}

struct Server {
    prepared: Prepared,
    interval: Duration,
    /// `--state`: what each round remembers.
    state: crate::cli::StateArgs,
    /// Held while a run is in progress: concurrent requests wait here and then share it.
    cache: Mutex<Option<Arc<Snapshot>>>,
}

impl Server {
    fn snapshot(&self) -> Result<Arc<Snapshot>> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = cache.as_ref()
            && s.at.elapsed() < self.interval
        {
            return Ok(s.clone());
        }
        let started = Instant::now();
        let p = &self.prepared;
        // Each round reads the state afresh and writes it back: rounds and restarts share it.
        let memory = crate::commands::running::open_memory(&self.state, false)?;
        let (summary, results) = run_and_report(
            &p.session,
            &p.checks,
            &p.options,
            started,
            memory.as_ref(),
            |_| Box::new(report::Silent) as Box<dyn Reporter>,
        )?;
        crate::commands::running::remember(memory.as_ref(), &results, &[]);
        let snapshot = Arc::new(Snapshot {
            at: Instant::now(),
            summary,
            results,
            metrics: OnceLock::new(),
            report: OnceLock::new(),
            healthz: OnceLock::new(),
        });
        *cache = Some(snapshot.clone());
        Ok(snapshot)
    }
}

pub fn execute(args: ServeArgs) -> Result<u8> {
    if args.run.fix {
        return Err(Error::Flag {
            flag: "--fix",
            message: "serve is read-only: it never remediates".into(),
        });
    }
    for (given, flag) in [
        (args.run.host.replay.is_some(), "--replay"),
        (args.run.host.record.is_some(), "--record"),
    ] {
        if given {
            return Err(Error::Flag {
                flag,
                message: "serve asks this host afresh each round; record or replay with `run`"
                    .into(),
            });
        }
    }
    let prepared = prepare(&args.run)?;
    let listener = TcpListener::bind(&args.listen).map_err(|e| Error::Flag {
        flag: "--listen",
        message: format!("`{}`: {e}", args.listen),
    })?;
    let local = listener.local_addr().map_err(Error::Output)?;
    listener.set_nonblocking(true).map_err(Error::Output)?;
    // say! never panics: a stderr whose reader went away must not stop a server.
    crate::say!("hostscript: serving on http://{local} (/healthz, /metrics, /report)");
    let server = Arc::new(Server {
        prepared,
        interval: args.interval,
        state: args.run.state.clone(),
        cache: Mutex::new(None),
    });
    while crate::interrupt::requested().is_none() {
        // Wake the moment a connection arrives, and at least every 100 ms to notice a signal
        // (which the runtime's listener records): a sleep between accepts would add its length
        // to every request that arrives during it.
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(100u16)) {
            Ok(0) | Err(_) => continue,
            Ok(_) => {}
        }
        // Until drained; or out of descriptors, which poll's next wait paces.
        while let Ok((stream, _)) = listener.accept() {
            let server = server.clone();
            std::thread::spawn(move || {
                let _ = handle(&server, stream);
            });
        }
    }
    // A round stopped by the signal never reached its checks' clean-up (a canary's delete).
    super::finish_deferred();
    crate::say!("hostscript: stopped");
    Ok(exit_code::SUCCESS)
}

fn respond(
    stream: &mut TcpStream,
    code: u16,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    // Every body, whatever rendered it, leaves redacted (crate::secrets).
    let body = crate::secrets::redact(body);
    write!(
        stream,
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

fn handle(server: &Server, mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() || request_line.len() > 8192 {
        return respond(&mut stream, 400, "text/plain", "bad request\n");
    }
    // Drain the headers (a bounded number), so the client sees a response, not a reset.
    for _ in 0..100 {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
            Err(_) => return respond(&mut stream, 400, "text/plain", "bad request\n"),
        }
    }
    let parts: Vec<&str> = request_line.split_whitespace().collect();
    let [method, target, version] = parts.as_slice() else {
        return respond(&mut stream, 400, "text/plain", "bad request\n");
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return respond(&mut stream, 400, "text/plain", "bad request\n");
    }
    if *method != "GET" {
        return respond(&mut stream, 405, "text/plain", "only GET\n");
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let known = ["/healthz", "/metrics", "/report"];
    if !known.contains(&path) && !path.starts_with("/healthz/") {
        return respond(
            &mut stream,
            404,
            "text/plain",
            "not found: /healthz, /healthz/ID, /metrics, /report\n",
        );
    }
    let snapshot = match server.snapshot() {
        Ok(s) => s,
        Err(e) => return respond(&mut stream, 500, "text/plain", &format!("{e}\n")),
    };
    let render = |format: report::Format, results: &[(Item, CheckResult)], summary: &Summary| {
        let mut buffer: Vec<u8> = Vec::new();
        let items: Vec<Item> = results.iter().map(|(i, _)| i.clone()).collect();
        {
            let mut r = report::for_format(
                format,
                Box::new(&mut buffer),
                report::Look::default(),
                &items,
            );
            let _ = report::replay(r.as_mut(), results, summary);
        }
        String::from_utf8_lossy(&buffer).into_owned()
    };
    let whole = |cache: &OnceLock<String>, format: report::Format| -> String {
        cache
            .get_or_init(|| render(format, &snapshot.results, &snapshot.summary))
            .clone()
    };
    let id = path.strip_prefix("/healthz/").filter(|id| !id.is_empty());
    let tag = query.strip_prefix("tag=");
    match path {
        "/metrics" => respond(
            &mut stream,
            200,
            "text/plain; version=0.0.4",
            &whole(&snapshot.metrics, report::Format::Prometheus),
        ),
        "/report" => respond(
            &mut stream,
            200,
            "application/json",
            &whole(&snapshot.report, report::Format::Json),
        ),
        "/healthz" if tag.is_none() => respond(
            &mut stream,
            if ready(&snapshot.results) { 200 } else { 503 },
            "text/plain; charset=utf-8",
            &whole(&snapshot.healthz, report::Format::Human),
        ),
        _ => {
            let chosen: Vec<(Item, CheckResult)> = snapshot
                .results
                .iter()
                .filter(|(i, _)| id.is_none_or(|id| i.id == id))
                .filter(|(i, _)| tag.is_none_or(|t| i.tags.iter().any(|x| x == t)))
                .cloned()
                .collect();
            if chosen.is_empty() {
                return respond(&mut stream, 404, "text/plain", "no such check or tag\n");
            }
            let summary = Summary::new(
                &chosen,
                snapshot.summary.duration,
                snapshot.summary.host.clone(),
            );
            let body = render(report::Format::Human, &chosen, &summary);
            respond(
                &mut stream,
                if ready(&chosen) { 200 } else { 503 },
                "text/plain; charset=utf-8",
                &body,
            )
        }
    }
}

/// Ready: no required check failed or errored.
fn ready(results: &[(Item, CheckResult)]) -> bool {
    !results
        .iter()
        .any(|(i, r)| i.required && matches!(r.status, Status::Fail | Status::Error))
}
