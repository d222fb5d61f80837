//! Records the git commit the binary is built from (`OKAPI_GIT_COMMIT`), for
//! `okapi --version`, INFO and the start line; "unknown" outside a git checkout.

use std::process::Command;

fn main() {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=OKAPI_GIT_COMMIT={commit}");
    // Rebuild when HEAD moves (a commit, a checkout), not on every build.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        // A packed ref has no file of its own; naming a missing file would rerun this
        // script on every build.
        if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"])
            && std::path::Path::new(&dir).join(&head).exists()
        {
            println!("cargo:rerun-if-changed={dir}/{head}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
