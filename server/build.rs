//! Embeds the console's built bundle (`console/dist`, committed) so that `gridwhistle serve` serves the console with no Node on the machine; each file is gzipped here, once, and served gzipped to browsers that accept it.

#![allow(
    clippy::print_stdout,
    reason = "cargo reads its instructions from the build script's output"
)]

use std::io::Write;
use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../console/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    let mut files = Vec::new();
    if dist.is_dir() {
        collect(&dist, &dist, &mut files)?;
    }
    files.sort();
    let mut table = String::from("&[\n");
    for (i, relative) in files.iter().enumerate() {
        let source = dist.join(relative);
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gzip.write_all(&std::fs::read(&source)?)?;
        let gzipped = out.join(format!("console-{i}.gz"));
        std::fs::write(&gzipped, gzip.finish()?)?;
        table.push_str(&format!(
            "    ({relative:?}, include_bytes!({:?}), include_bytes!({:?})),\n",
            source.display().to_string(),
            gzipped.display().to_string()
        ));
    }
    table.push(']');
    std::fs::write(out.join("console_assets.rs"), table)?;
    Ok(())
}

/// Every file under `dir`, by its path relative to `root` with `/` between folders.
fn collect(root: &Path, dir: &Path, files: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(root, &path, files)?;
        } else if let Ok(relative) = path.strip_prefix(root) {
            let parts: Vec<_> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            files.push(parts.join("/"));
        }
    }
    Ok(())
}
