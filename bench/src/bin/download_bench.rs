//! Measures an attachment download through the API against reading the same file from disk with a plain `tokio::fs` loop, in one run (and, given `--shared-store-postgres`, from the attachment store kept in a PostgreSQL database): a 20 MB video is uploaded and filed with a report on the demo district (a server in this process on a temporary SQLite database), then each round reads the stored blob with `tokio::fs` (the floor) and downloads it over gRPC as the report's author, in chunks of the same size.

#![allow(clippy::print_stdout, reason = "the benchmark's report is its output")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use gridwhistle_bench::{authorized, connect, login};
use gridwhistle_dispatcher::{Clock as _, SystemClock};
use gridwhistle_proto::v1;
use gridwhistle_proto::v1::attachment_service_client::AttachmentServiceClient;
use gridwhistle_proto::v1::report_service_client::ReportServiceClient;
use gridwhistle_server::ServerConfig;
use gridwhistle_server::attachments::{crc32c, hex};
use sha2::Digest as _;
use tokio::io::AsyncReadExt as _;
use tonic::transport::{Channel, Endpoint};

const WORKER: &str = "worker.g-jianwai-1-01";
const GRID: &str = "g-jianwai-1-01";
const DEMO_GRIDS: &str = include_str!("../../../server/demo/grids.geojson");
/// The server's download chunk, so both sides read the same sizes.
const CHUNK: usize = 1024 * 1024;

#[derive(Debug, Parser)]
#[command(about = "Attachment download throughput against a plain tokio::fs read of the same file")]
struct Args {
    /// Also measure the attachment store in the database (`--attachment-store database`) on this PostgreSQL server: a second server in this process on a fresh database there, the same video uploaded through it and downloaded (with 1 MiB frames) in each round.
    #[arg(long)]
    shared_store_postgres: Option<String>,
    /// Size of the video, in bytes.
    #[arg(long, default_value_t = 20_000_000)]
    bytes: usize,
    /// Rounds; each reads the file with tokio::fs, then downloads it, `--reads` times each.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Reads of the file per measurement.
    #[arg(long, default_value_t = 10)]
    reads: usize,
}

/// An MP4 file's first box, then filler: the server sniffs a video from these bytes.
fn video(len: usize) -> Vec<u8> {
    let mut bytes = b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41".to_vec();
    bytes.extend((0..len.saturating_sub(bytes.len())).map(|i| (i * 131 % 251) as u8));
    bytes
}

/// Uploads `bytes` in chunks as the holder of `token` and files a report with it; returns the file's name under the report.
async fn file_with_video(channel: Channel, token: &str, bytes: &[u8]) -> anyhow::Result<String> {
    let sha = hex(&sha2::Sha256::digest(bytes));
    let upload_id = uuid::Uuid::new_v4().to_string();
    let chunks: Vec<v1::UploadAttachmentRequest> = bytes
        .chunks(CHUNK)
        .enumerate()
        .map(|(i, data)| v1::UploadAttachmentRequest {
            upload_id: upload_id.clone(),
            total_size_bytes: bytes.len() as i64,
            sha256: sha.clone(),
            offset: (i * CHUNK) as i64,
            data: data.to_vec(),
            crc32c: crc32c(data),
        })
        .collect();
    let mut reports = ReportServiceClient::new(channel);
    let uploaded = reports
        .upload_attachment(authorized(tokio_stream::iter(chunks), token)?)
        .await?
        .into_inner()
        .attachment
        .context("the upload did not complete")?;
    let (lat, lng) = gridwhistle_sample::point_in_grid(DEMO_GRIDS, GRID).context("grid")?;
    let report = reports
        .create_report(authorized(
            v1::CreateReportRequest {
                report_id: uuid::Uuid::now_v7().to_string(),
                report: Some(v1::Report {
                    category: "categories/neighbour-dispute".to_owned(),
                    description: "楼道堆放杂物，视频为证".to_owned(),
                    location: Some(v1::Location {
                        latitude: lat,
                        longitude: lng,
                        coordinate_system: v1::CoordinateSystem::Wgs84.into(),
                        accuracy_meters: 5.0,
                    }),
                    observe_time: Some(prost_types::Timestamp {
                        seconds: SystemClock.now().as_unix_millis() / 1000 - 60,
                        nanos: 0,
                    }),
                    attachments: vec![uploaded.name],
                    ..Default::default()
                }),
            },
            token,
        )?)
        .await?
        .into_inner()
        .report
        .context("no report")?;
    Ok(format!("{}/attachments/{sha}", report.name))
}

/// Reads the file in `CHUNK`-byte reads with tokio::fs, `reads` times; answers the bytes read.
async fn read_from_disk(path: &std::path::Path, reads: usize) -> anyhow::Result<u64> {
    let mut total = 0;
    let mut buf = vec![0u8; CHUNK];
    for _ in 0..reads {
        let mut file = tokio::fs::File::open(path).await?;
        loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            total += n as u64;
        }
    }
    Ok(total)
}

/// Downloads the file `reads` times; answers the bytes received.
async fn download(
    client: &mut AttachmentServiceClient<Channel>,
    token: &str,
    name: &str,
    reads: usize,
) -> anyhow::Result<u64> {
    let mut total = 0;
    for _ in 0..reads {
        let request = v1::DownloadAttachmentRequest {
            name: name.to_owned(),
            offset: 0,
        };
        let mut stream = client
            .download_attachment(authorized(request, token)?)
            .await?
            .into_inner();
        while let Some(chunk) = stream.message().await? {
            total += chunk.data.len() as u64;
        }
    }
    Ok(total)
}

/// Runs a server with `config` in this process on a port of its own; answers its address, a channel to it and the demo grid worker's token.
async fn serve(config: ServerConfig) -> anyhow::Result<(std::net::SocketAddr, Channel, String)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(gridwhistle_server::run(
        config,
        Arc::new(SystemClock),
        listener,
        std::future::pending(),
    ));
    let channel = connect(addr).await?;
    let token = login(channel.clone(), WORKER).await?;
    Ok((addr, channel, token))
}

/// A client tuned for large downloads: 1 MiB HTTP/2 frames (the default is 16 KiB) and windows that hold several chunks.
fn tuned(endpoint: Endpoint) -> Endpoint {
    endpoint
        .max_frame_size(1024 * 1024)
        .initial_stream_window_size(8 * 1024 * 1024)
        .initial_connection_window_size(16 * 1024 * 1024)
}

fn mb_per_s(bytes: u64, took: Duration) -> f64 {
    bytes as f64 / 1e6 / took.as_secs_f64()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.bytes == 0 || args.rounds == 0 || args.reads == 0 {
        bail!("--bytes, --rounds and --reads must be positive");
    }
    let dir = tempfile::tempdir()?;
    let url = gridwhistle_server::config::sqlite_url(&dir.path().join("bench.db"));
    let mut config = ServerConfig::with_defaults(url);
    // The metrics are kept, as in production, on a port of their own.
    config.metrics_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    config.attachment_dir = dir.path().join("attachments");
    config.max_attachment_bytes = config.max_attachment_bytes.max(args.bytes as u64);
    config.demo = true;
    let blobs = config.attachment_dir.join("blobs");
    let (addr, channel, token) = serve(config).await?;
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))?;

    let bytes = video(args.bytes);
    let name = file_with_video(channel.clone(), &token, &bytes).await?;
    let sha = name.rsplit('/').next().context("a digest")?.to_owned();
    let path = blobs.join(&sha[..2]).join(&sha);
    let mut client = AttachmentServiceClient::new(channel);
    let mut tuned = AttachmentServiceClient::new(tuned(endpoint.clone()).connect().await?);
    let shared = match &args.shared_store_postgres {
        Some(base) => Some(shared_store(base, &bytes, &sha).await?),
        None => None,
    };

    // Once, checked: every byte arrives and the digest matches.
    let request = v1::DownloadAttachmentRequest {
        name: name.clone(),
        offset: 0,
    };
    let mut stream = client
        .download_attachment(authorized(request, &token)?)
        .await?
        .into_inner();
    let mut hasher = sha2::Sha256::new();
    while let Some(chunk) = stream.message().await? {
        if crc32c(&chunk.data) != chunk.crc32c {
            bail!("a chunk's CRC-32C does not match");
        }
        hasher.update(&chunk.data);
    }
    if hex(&hasher.finalize()) != sha {
        bail!("the downloaded file's SHA-256 does not match");
    }

    println!(
        "file={} bytes chunk={CHUNK} reads={} rounds={} cores={}",
        args.bytes,
        args.reads,
        args.rounds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut ratios = (
        Vec::with_capacity(args.rounds),
        Vec::with_capacity(args.rounds),
    );
    for round in 1..=args.rounds {
        let started = Instant::now();
        let read = read_from_disk(&path, args.reads).await?;
        let floor = mb_per_s(read, started.elapsed());
        let started = Instant::now();
        let got = download(&mut client, &token, &name, args.reads).await?;
        let plain = mb_per_s(got, started.elapsed());
        let started = Instant::now();
        let got_tuned = download(&mut tuned, &token, &name, args.reads).await?;
        let fast = mb_per_s(got_tuned, started.elapsed());
        if got != read || got_tuned != read {
            bail!("downloaded {got} and {got_tuned} bytes, read {read}");
        }
        ratios.0.push(plain / floor);
        ratios.1.push(fast / floor);
        println!(
            "round {round}: tokio::fs {floor:>6.0} MB/s  download {plain:>6.0} MB/s ({:>4.1}%)  with 1 MiB frames {fast:>6.0} MB/s ({:>4.1}%)",
            100.0 * plain / floor,
            100.0 * fast / floor
        );
        if let Some((shared_client, shared_token, shared_name, _)) = &shared {
            let mut shared_client = shared_client.clone();
            let started = Instant::now();
            let got = download(&mut shared_client, shared_token, shared_name, args.reads).await?;
            let db = mb_per_s(got, started.elapsed());
            if got != read {
                bail!("downloaded {got} bytes from the database store, read {read}");
            }
            println!(
                "         database store on PostgreSQL, 1 MiB frames {db:>6.0} MB/s ({:>4.1}% of tokio::fs, {:>4.1}% of the filesystem store)",
                100.0 * db / floor,
                100.0 * db / fast
            );
        }
    }
    ratios.0.sort_by(f64::total_cmp);
    ratios.1.sort_by(f64::total_cmp);
    println!(
        "median of the tokio::fs floor: download {:.1}%, with 1 MiB frames {:.1}%",
        100.0 * ratios.0[ratios.0.len() / 2],
        100.0 * ratios.1[ratios.1.len() / 2]
    );
    if let Some((_, _, _, scratch)) = shared {
        scratch.drop().await?;
    }
    Ok(())
}

/// A second server on a fresh database on the PostgreSQL server `base`, keeping attachments in the database, with `bytes` filed through it; answers a tuned client, a token, the file's name and the scratch database (dropped with it).
async fn shared_store(
    base: &str,
    bytes: &[u8],
    sha: &str,
) -> anyhow::Result<(
    AttachmentServiceClient<Channel>,
    String,
    String,
    gridwhistle_bench::ScratchDatabase,
)> {
    let scratch = gridwhistle_bench::ScratchDatabase::create(base, "gw_download_bench").await?;
    let mut config = ServerConfig::with_defaults(scratch.url.clone());
    config.metrics_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    config.attachment_store = gridwhistle_server::config::AttachmentStore::Database;
    config.max_attachment_bytes = config.max_attachment_bytes.max(bytes.len() as u64);
    config.demo = true;
    config.push.sender = false;
    config.deadline_engine = false;
    let (addr, channel, token) = serve(config).await?;
    let name = file_with_video(channel, &token, bytes).await?;
    if !name.ends_with(sha) {
        bail!("the database store filed {name}, not {sha}");
    }
    let channel = tuned(Endpoint::from_shared(format!("http://{addr}"))?)
        .connect()
        .await?;
    Ok((AttachmentServiceClient::new(channel), token, name, scratch))
}
