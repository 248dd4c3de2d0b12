//! Build script: puts the Rust code for `schema/*.capnp` into `OUT_DIR`.
//!
//! With a working `capnp` tool (`$AGENTLANE_CAPNP`, or `capnp` on the `PATH`) the schemas are
//! compiled with `capnpc`; without one, the generated code committed under
//! `src/frame/generated/` is copied instead, so a machine with only Rust builds. The library
//! always includes from `OUT_DIR`. `OUT_DIR/schema_source` records which path was taken, for
//! `tests/frame_schema.rs`.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The schema files, relative to the package root, each compiled to `<stem>_capnp.rs`.
const SCHEMAS: [&str; 2] = ["schema/envelope.capnp", "schema/sentiment.capnp"];

/// Where the committed generated code lives.
const COMMITTED: &str = "src/frame/generated";

fn main() {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let tool = env::var_os("AGENTLANE_CAPNP").unwrap_or_else(|| "capnp".into());
    announce_inputs();

    let source = if tool_works(&tool) {
        generate(&tool, &out_dir);
        "generated"
    } else {
        copy_committed(&out_dir);
        "committed"
    };

    fs::write(out_dir.join("schema_source"), source).expect("write OUT_DIR/schema_source");
}

/// Tells cargo which inputs rerun this script.
fn announce_inputs() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=schema");
    println!("cargo:rerun-if-changed={COMMITTED}");
    println!("cargo:rerun-if-env-changed=AGENTLANE_CAPNP");
    for schema in SCHEMAS {
        println!("cargo:rerun-if-changed={schema}");
    }
}

/// Whether `tool --version` runs and succeeds.
fn tool_works(tool: &std::ffi::OsStr) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Compiles every schema into `out_dir` with capnpc.
fn generate(tool: &std::ffi::OsStr, out_dir: &Path) {
    let mut command = capnpc::CompilerCommand::new();
    command
        .capnp_executable(tool)
        .src_prefix("schema")
        .output_path(out_dir)
        .default_parent_module(vec!["frame".into()]);
    for schema in SCHEMAS {
        command.file(schema);
    }

    command.run().expect("compile schema/*.capnp with capnp");
}

/// Copies the committed generated code into `out_dir`.
fn copy_committed(out_dir: &Path) {
    for schema in SCHEMAS {
        let name = generated_name(schema);
        let from = Path::new(COMMITTED).join(&name);
        fs::copy(&from, out_dir.join(&name))
            .unwrap_or_else(|err| panic!("copy {}: {err}", from.display()));
    }
}

/// `schema/envelope.capnp` -> `envelope_capnp.rs`.
fn generated_name(schema: &str) -> String {
    let stem = Path::new(schema)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(schema);
    format!("{stem}_capnp.rs")
}
