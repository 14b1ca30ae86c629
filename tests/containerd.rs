//! `grpc::` against a real containerd: images in a namespace (the `containerd-namespace`
//! header), version, health, and introspection of the devmapper snapshotter, whose init error
//! this kernel (no device-mapper) makes real.

use crate::support::containerd::{self as containerd_support, Containerd};
use crate::support::{Test, check};

const ROOT_IMAGE: &str = "ghcr.io/liquidmetal-dev/capmvm-kubernetes:1.23.10";

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn containerd_answers_images_version_health_and_introspection() {
    assert!(
        containerd_support::available(),
        "containerd is not installed: run scripts/test.sh, which installs it"
    );
    let containerd = Containerd::start("flintlock-dev-thinpool");
    containerd.import("flintlock", ROOT_IMAGE);
    let t = Test::new().file(
        "c/c.rhai",
        &check(
            "c",
            r#"let ns = #{ metadata: #{ "containerd-namespace": "flintlock" } };
               let images = grpc::invoke(vars::target, "containerd.services.images.v1.Images/List", #{}, ns);
               let got = grpc::invoke(vars::target, "containerd.services.images.v1.Images/Get", #{ name: vars::image }, ns);
               let other_tag = grpc::try_invoke(vars::target, "containerd.services.images.v1.Images/Get", #{ name: "ghcr.io/liquidmetal-dev/capmvm-kubernetes:1.23.11" }, ns);
               let empty_ns = grpc::invoke(vars::target, "containerd.services.images.v1.Images/List", #{}, #{ metadata: #{ "containerd-namespace": "default" } });
               let version = grpc::invoke(vars::target, "containerd.services.version.v1.Version/Version", #{});
               let plugins = grpc::invoke(vars::target, "containerd.services.introspection.v1.Introspection/Plugins",
                                          #{ filters: ["type==io.containerd.snapshotter.v1,id==devmapper"] });
               let dm = plugins.plugins[0];
               pass(`${images.images.map(|i| i.name)} | ${got.image.name} ${got.image.target.media_type} | ${other_tag.code} | ${empty_ns.images.len()} | ${version.version} | ${grpc::health(vars::target)} | ${dm.id} ${dm.init_err.message}`)"#,
        ),
    );
    let out = t.run(&[
        "run",
        "c",
        "--format",
        "json",
        "--var",
        &format!("target={}", containerd.target()),
        "--var",
        &format!("image={ROOT_IMAGE}"),
    ]);
    let message = out.message("c");
    let parts: Vec<&str> = message.split(" | ").collect();
    assert_eq!(parts.len(), 7, "{}", out.stdout);
    assert_eq!(parts[0], format!("[\"{ROOT_IMAGE}\"]"));
    assert_eq!(
        parts[1],
        format!("{ROOT_IMAGE} application/vnd.oci.image.manifest.v1+json")
    );
    assert_eq!(
        parts[2], "NotFound",
        "an exact tag, not the repository, is looked up"
    );
    assert_eq!(parts[3], "0", "the namespace header selects the namespace");
    let ctr_version = containerd.ctr("default", &["version"]);
    assert!(
        ctr_version.contains(parts[4]),
        "gRPC version `{}` vs ctr:\n{ctr_version}",
        parts[4]
    );
    assert_eq!(parts[5], "SERVING");
    let plugin = parts[6];
    assert!(plugin.starts_with("devmapper "), "{plugin}");
    let init_err = plugin.trim_start_matches("devmapper ");
    assert!(
        !init_err.is_empty(),
        "devmapper must fail to initialise on a kernel without device-mapper"
    );
    let ctr_plugins = containerd.ctr("default", &["plugins", "ls", "-d", "id==devmapper"]);
    assert!(
        ctr_plugins.contains(init_err),
        "ctr shows the same init error:\n{ctr_plugins}\nvs `{init_err}`"
    );
}
