//! Compiles `gridwhistle/v1/*.proto` with protox (no system `protoc`) into tonic stubs and a descriptor set for reflection.

use std::path::PathBuf;

use prost::Message;

const PROTOS: &[&str] = &[
    "gridwhistle/v1/common.proto",
    "gridwhistle/v1/auth.proto",
    "gridwhistle/v1/device.proto",
    "gridwhistle/v1/report.proto",
    "gridwhistle/v1/case.proto",
    "gridwhistle/v1/stats.proto",
    "gridwhistle/v1/supervision.proto",
    "gridwhistle/v1/ledger.proto",
    "gridwhistle/v1/admin.proto",
    "gridwhistle/v1/directory.proto",
    "gridwhistle/v1/attachment.proto",
    "gridwhistle/v1/audit.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(PROTOS, ["."])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("gridwhistle_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    // Every message names itself (`prost::Name`), so the codec can find its descriptor and check its enums.
    let mut config = tonic_prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .codec_path("crate::codec::CheckedCodec")
        .compile_fds_with_config(descriptors, config)?;
    Ok(())
}
