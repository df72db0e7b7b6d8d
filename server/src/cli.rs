//! The `gridwhistle` commands: `serve`, `migrate`, `user add`, `import`, `rebuild-facts` and `healthcheck`.

use std::io::BufRead;
use std::sync::Arc;

use anyhow::{Context, bail};
use gridwhistle_dispatcher::{Clock, SystemClock};
use gridwhistle_domain::{Binding, DepartmentId, DisplayName, GridId, Password, Role, Username};
use tokio::net::TcpListener;
use tracing::info;

use crate::config::{
    Cli, Command, GlobalArgs, HealthcheckArgs, ImportArgs, ImportKind, ServerConfig, UserAddArgs,
    UserCommand,
};
use crate::directory::{self, UserDraft};
use crate::routing::{Routing, RoutingServiceError};
use crate::stats::StatsService;
use crate::storage::Store;
use crate::time_limits::TimeLimits;

/// Runs one command to completion.
pub async fn execute(cli: Cli) -> anyhow::Result<()> {
    if let Command::Healthcheck(args) = &cli.command {
        return healthcheck(args).await;
    }
    if cli.global.database_url.is_none() {
        std::fs::create_dir_all(&cli.global.data_dir).with_context(|| {
            format!(
                "cannot create data directory {}",
                cli.global.data_dir.display()
            )
        })?;
    }
    match cli.command {
        Command::Serve(serve) => {
            let config = ServerConfig::from_args(&cli.global, &serve);
            let listener = TcpListener::bind(serve.listen)
                .await
                .with_context(|| format!("cannot listen on {}", serve.listen))?;
            crate::run(config, Arc::new(SystemClock), listener, shutdown_signal()).await?;
        }
        Command::Migrate => {
            let store = open(&cli.global).await?;
            store.close().await?;
            info!("migrations applied");
        }
        Command::User(UserCommand::Add(args)) => add_user(&cli.global, args).await?,
        Command::Import(args) => import(&cli.global, args).await?,
        Command::RebuildFacts => rebuild_facts(&cli.global).await?,
        Command::Healthcheck(args) => healthcheck(&args).await?,
        Command::Backup(args) => {
            let made = crate::backup::backup(&cli.global, &args.to).await?;
            info!(backend = %made.backend, files = made.files, to = %args.to.display(), "backup written");
        }
        Command::Restore(args) => {
            let restored = crate::backup::restore(&cli.global, &args.from).await?;
            info!(backend = %restored.backend, files = restored.files, "backup restored");
        }
    }
    Ok(())
}

/// Succeeds when the server at `args.address` answers that it serves; any other answer, or none in time, is an error (exit status 1).
async fn healthcheck(args: &HealthcheckArgs) -> anyhow::Result<()> {
    use tonic_health::pb::health_check_response::ServingStatus;
    let timeout = std::time::Duration::from_millis(args.timeout_ms.max(1));
    let ask = async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", args.address))?
            .connect_timeout(timeout)
            .connect()
            .await?;
        let answer = tonic_health::pb::health_client::HealthClient::new(channel)
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await?
            .into_inner();
        anyhow::Ok(answer.status())
    };
    match tokio::time::timeout(timeout, ask).await {
        Ok(Ok(ServingStatus::Serving)) => Ok(()),
        Ok(Ok(status)) => bail!("{} answers {}", args.address, status.as_str_name()),
        Ok(Err(err)) => Err(err.context(format!("{} does not answer", args.address))),
        Err(_) => bail!("{} did not answer within {timeout:?}", args.address),
    }
}

#[allow(clippy::print_stdout, reason = "the command reports what it rebuilt")]
async fn rebuild_facts(global: &GlobalArgs) -> anyhow::Result<()> {
    let store = open(global).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let time_limits = Arc::new(TimeLimits::load(store.clone(), clock.clone(), None).await?);
    let stats = StatsService::new(store.clone(), time_limits, clock);
    let summary = stats.rebuild_all().await?;
    println!(
        "rebuilt the facts of {} cases ({} assignments): {} differed from those kept step by step; \
         recounted the daily rollups: {} counts differed",
        summary.cases, summary.assignments, summary.changed, summary.rollups_changed
    );
    store.close().await?;
    Ok(())
}

async fn open(global: &GlobalArgs) -> anyhow::Result<Store> {
    let store = Store::connect(&global.resolved_database_url(), global.pool_settings())
        .await
        .context("cannot open the database")?;
    store
        .migrate()
        .await
        .context("cannot migrate the database")?;
    Ok(store)
}

#[allow(
    clippy::print_stdout,
    reason = "the command's output is the new user's name"
)]
async fn add_user(global: &GlobalArgs, args: UserAddArgs) -> anyhow::Result<()> {
    let role: Role = args.role.parse()?;
    let grid = args
        .grid
        .as_deref()
        .map(GridId::parse)
        .transpose()
        .context("--grid")?;
    let department = args
        .department
        .as_deref()
        .map(DepartmentId::parse)
        .transpose()
        .context("--department")?;
    let draft = UserDraft {
        username: Username::parse(&args.username).context("--username")?,
        display_name: DisplayName::parse(&args.display_name).context("--display-name")?,
        binding: Binding::new(role, grid, department)?,
        password: read_password(&args)?,
    };
    let store = open(global).await?;
    let user = directory::add_user(&store, draft, SystemClock.now()).await?;
    store.close().await?;
    info!(user = %user.id, role = %user.binding.role(), "user added");
    println!("users/{}", user.id);
    Ok(())
}

#[allow(clippy::print_stdout, reason = "the command reports what it imported")]
async fn import(global: &GlobalArgs, args: ImportArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let store = open(global).await?;
    let routing = Routing::load(
        store.clone(),
        Arc::new(SystemClock),
        args.near_border_meters,
    )
    .await?;
    let outcome = match args.kind {
        ImportKind::Grids => routing.import_grids(text, None, args.validate_only).await,
        ImportKind::Jurisdictions => {
            routing
                .import_jurisdictions(text, None, args.validate_only)
                .await
        }
        ImportKind::Catalogue => {
            let rules = crate::routing::catalogue_file::parse(&text).map_err(anyhow::Error::msg)?;
            let count = rules.len();
            if !args.validate_only {
                let version = routing.import_catalogue(rules).await?;
                println!("catalogue version {version}: {count} categories");
            } else {
                println!("catalogue valid: {count} categories");
            }
            store.close().await?;
            return Ok(());
        }
    };
    store.close().await?;
    match outcome {
        Ok(outcome) => {
            match outcome.generation {
                Some(generation) => println!(
                    "generation {}: {} features",
                    generation.id, outcome.feature_count
                ),
                None => println!("valid: {} features", outcome.feature_count),
            }
            Ok(())
        }
        Err(RoutingServiceError::Invalid(violations)) => {
            for v in &violations {
                eprintln!("{}: {}", v.field, v.reason);
            }
            bail!(
                "{} refused: {} problems; nothing imported",
                args.file.display(),
                violations.len()
            )
        }
        Err(err) => Err(err.into()),
    }
}

fn read_password(args: &UserAddArgs) -> anyhow::Result<Password> {
    let text = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else if let Some(secret) = &args.password_env {
        secret.expose().to_owned()
    } else {
        bail!(
            "give the password on standard input with --password-stdin, or in GRIDWHISTLE_NEW_USER_PASSWORD"
        );
    };
    Password::parse(&text).context("password")
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
