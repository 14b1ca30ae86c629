//! Replays every input of `fuzz/corpus/` through the fuzz harnesses on the stable toolchain,
//! so a crash the fuzzer once found (its input goes into the corpus) fails the normal suite.

use std::path::Path;

#[test]
fn the_fuzz_corpus_replays_without_a_broken_promise() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut replayed = 0;
    for target in hostscript::fuzz::TARGETS {
        let dir = root.join(target);
        let entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .collect();
        assert!(!entries.is_empty(), "{target} has no seed inputs");
        for entry in entries {
            let data = std::fs::read(entry.path()).expect("read input");
            let outcome = std::panic::catch_unwind(|| hostscript::fuzz::run(target, &data));
            assert!(
                outcome.is_ok(),
                "{target}: {} broke a parser's promise",
                entry.path().display()
            );
            replayed += 1;
        }
    }
    assert!(replayed >= hostscript::fuzz::TARGETS.len());
}
