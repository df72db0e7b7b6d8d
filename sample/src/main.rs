//! `gridwhistle-sample district --out DIR`: writes the sample district's files (grids, jurisdictions, departments, users, catalogue).
#![allow(clippy::print_stdout, reason = "the command reports what it wrote")]

use std::path::PathBuf;

use anyhow::{Context, bail};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some("district"), Some("--out"), Some(out)) = (
        args.first().map(String::as_str),
        args.get(1).map(String::as_str),
        args.get(2),
    ) else {
        bail!("usage: gridwhistle-sample district --out DIR");
    };
    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let district = gridwhistle_sample::district::generate(2026);
    let files = [
        ("grids.geojson", &district.grids),
        ("jurisdictions.geojson", &district.jurisdictions),
        ("departments.json", &district.departments),
        ("users.json", &district.users),
        ("catalogue.json", &district.catalogue),
    ];
    for (name, value) in files {
        let path = out.join(name);
        std::fs::write(&path, serde_json::to_string(value)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!(
        "wrote {}: {} grids, {} departments, {} jurisdictions, {} users",
        out.display(),
        district.grid_count,
        district.departments.as_array().map_or(0, Vec::len),
        district.jurisdictions["features"]
            .as_array()
            .map_or(0, Vec::len),
        district.users.as_array().map_or(0, Vec::len),
    );
    Ok(())
}
