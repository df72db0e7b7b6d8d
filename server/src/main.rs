//! The `gridwhistle` binary: parse configuration, start logging, hand over to the library.

use clap::Parser;
use gridwhistle_server::config::Cli;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    gridwhistle_server::telemetry::init(cli.global.log_format);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(gridwhistle_server::cli::execute(cli))
}
