//! `orderflow-api [serve | migrate [up|down|status] | create-admin | db drop]`

use anyhow::{Context, bail};
use orderflow_api::{Application, auth::password::Passwords, bootstrap};
use orderflow_shared::{
    db,
    settings::{ApiSettings, Settings},
    telemetry,
};

// glibc's malloc took ~10% of the API's CPU under load (arena locks, consolidation):
// mimalloc, measured in docs/benchmarks.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str =
    "usage: orderflow-api [serve | migrate [up|down|status] | create-admin | db drop]";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // `serve` and `create-admin` read the API's own settings (and their production checks);
    // the migration and database commands need only the core (the database).
    let api = match args.as_slice() {
        [] | ["serve"] | ["create-admin"] => Some(ApiSettings::from_env()?),
        _ => None,
    };
    let settings = match &api {
        Some(api) => api.core.clone(),
        None => Settings::from_env()?,
    };
    let telemetry = telemetry::init(
        settings.log_format,
        "info,orderflow_api=debug,sqlx=warn",
        "orderflow-api",
    )?;
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    let ran = run(&args, settings, api).await;
    telemetry.shutdown();
    ran
}

async fn run(args: &[&str], settings: Settings, api: Option<ApiSettings>) -> anyhow::Result<()> {
    const API: &str = "the API's settings are read for this command";
    match args {
        [] | ["serve"] => {
            Application::build(api.context(API)?)
                .await?
                .run_until_stopped()
                .await?;
        }
        ["migrate"] | ["migrate", "up"] => {
            db::ensure_database(&settings)
                .await
                .context("creating the database")?;
            db::migrate(&settings)
                .await
                .context("applying migrations")?;
            println!("migrations applied");
        }
        ["migrate", "down"] => {
            db::undo_migrations(&settings)
                .await
                .context("reverting migrations")?;
            println!("all migrations reverted");
        }
        ["migrate", "status"] => {
            let pool = db::connect(&settings)
                .await
                .context("connecting to PostgreSQL")?;
            let applied: Vec<i64> =
                sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
                    .fetch_all(&pool)
                    .await
                    .unwrap_or_default();
            for m in db::MIGRATOR
                .iter()
                .filter(|m| m.migration_type.is_up_migration())
            {
                let state = if applied.contains(&m.version) {
                    "applied"
                } else {
                    "pending"
                };
                println!("{:>4} {:<30} {state}", m.version, m.description);
            }
        }
        ["create-admin"] => {
            let pool = db::connect(&settings)
                .await
                .context("connecting to PostgreSQL")?;
            let passwords = Passwords::new(1, 1, std::time::Duration::from_secs(60))?;
            let outcome =
                bootstrap::ensure_first_admin(&pool, &passwords, &api.context(API)?).await?;
            println!("{outcome:?}");
            if outcome == bootstrap::Outcome::NotConfigured {
                bail!("set FIRST_ADMIN_EMAIL and FIRST_ADMIN_PASSWORD");
            }
        }
        ["db", "drop"] => {
            if settings.app_env == orderflow_shared::settings::AppEnv::Production {
                bail!("refusing to drop the database with APP_ENV=production");
            }
            db::drop_database(&settings).await?;
            println!("database dropped");
        }
        _ => bail!("{USAGE}"),
    }
    Ok(())
}
