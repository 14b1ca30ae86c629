//! Compiles `proto/` without a system protoc (protox, pure Rust): the encoded descriptor set
//! is embedded into the binary for `grpc::` calls to servers without reflection, and Rust code
//! for the Flintlock service is generated for the test suite's Flintlock server. Generated
//! code lives in OUT_DIR and is never committed.

use std::path::{Path, PathBuf};

use prost::Message;

fn protos(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            protos(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let mut files = Vec::new();
    protos(Path::new("proto"), &mut files)?;
    files.sort();
    let descriptors = protox::compile(&files, ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("hostscript_descriptors.bin"),
        descriptors.encode_to_vec(),
    )?;

    let flintlock = protox::compile(
        ["proto/flintlock/services/microvm/v1alpha1/microvms.proto"],
        ["proto"],
    )?;
    // The test suite's Flintlock server registers exactly these for its reflection service.
    std::fs::write(
        out.join("flintlock_descriptors.bin"),
        flintlock.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(flintlock)?;
    Ok(())
}
