//! `cargo bench --bench snapshot`: what one snapshot per run saves. The whole shipped suite on
//! the simulated Flintlock host of the end-to-end test, with `-vv`, alternated round by round
//! with every question sent to the host again (`HOSTSCRIPT_NO_SHARING=1`: the seam passes
//! every question through, as primitives did before it existed). Counts the host calls in
//! each `-vv` log (one `host question=` line per question the host answered) and the
//! questions asked more than once, and times both; medians go to docs/BENCHMARKS.md.

#[path = "../tests/flintlock_host.rs"]
#[allow(dead_code, unused_imports)]
mod flintlock_host;
#[path = "../tests/support/mod.rs"]
#[allow(dead_code)]
mod support;

// The shared helpers; this bench needs only some of them.
#[allow(dead_code)]
mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() {
    let rounds = common::rounds(21);
    let host = flintlock_host::Host::start();
    let run = |share: bool| {
        let env: &[(&str, &str)] = if share {
            &[]
        } else {
            &[("HOSTSCRIPT_NO_SHARING", "1")]
        };
        let started = Instant::now();
        let out = host.run_env(env, &["-vv"]);
        (started.elapsed(), flintlock_host::host_calls(&out.stderr))
    };
    // Warm both; the counts come from these runs (they do not vary between runs).
    let (_, before) = run(false);
    let (_, after) = run(true);
    let repeated = |qs: &[String]| {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for q in qs {
            *counts.entry(q.as_str()).or_default() += 1;
        }
        let mut twice: Vec<(String, usize)> = counts
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(q, n)| (q.to_string(), n))
            .collect();
        twice.sort();
        twice
    };
    let (mut shared, mut unshared) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        unshared.push(run(false).0);
        shared.push(run(true).0);
    }
    let (s, u) = (median(&mut shared), median(&mut unshared));
    println!("shipped suite on the end-to-end host, -vv, {rounds} alternated rounds");
    println!(
        "every question to the host: {} host calls, {} questions asked more than once, median {:.1} ms",
        before.len(),
        repeated(&before).len(),
        u.as_secs_f64() * 1000.0
    );
    for (q, n) in repeated(&before) {
        println!("    {n}x {q}");
    }
    println!(
        "one snapshot per run:       {} host calls, {} questions asked more than once, median {:.1} ms",
        after.len(),
        repeated(&after).len(),
        s.as_secs_f64() * 1000.0
    );
    println!(
        "ratio (snapshot / every question): calls {:.2}x, time {:.2}x",
        after.len() as f64 / before.len().max(1) as f64,
        s.as_secs_f64() / u.as_secs_f64()
    );
}
