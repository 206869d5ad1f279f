//! The `control-plane` command line: the server, and the operator actions a script wants.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::db;
use crate::model::EmailAddress;
use crate::startup::{self, Application};

#[derive(Parser)]
#[command(name = "control-plane", version, about = "Ruche control plane")]
pub struct Cli {
    /// TOML configuration file (see deploy/control-plane.example.toml). Environment variables
    /// RUCHE_<SECTION>__<KEY> and DATABASE_URL override it.
    #[arg(long, global = true, env = "RUCHE_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the HTTP server (portal, admin, API). Applies pending migrations first.
    Serve {
        /// Address to listen on (overrides http.listen).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Check the configuration and exit (0 when valid); prints it without secrets.
    CheckConfig,
    /// Print a fresh one-time setup link, if the collective is not set up yet.
    SetupLink,
    /// Invite a member: creates the invitation, mails it, and prints the link.
    Invite {
        #[arg(long)]
        email: String,
        /// Plan name (default: the first plan by name).
        #[arg(long)]
        plan: Option<String>,
    },
    /// List members, 50 per page, optionally filtered.
    Members {
        #[arg(long, default_value = "")]
        query: String,
        #[arg(long, default_value_t = 1)]
        page: i64,
    },
    /// Add a node: prints the one-time join token (valid 24 hours) for `node-agent join`.
    AddNode {
        /// The name admins will see.
        #[arg(long)]
        name: String,
    },
    /// Print the OpenAPI document of the JSON API.
    Openapi,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve { listen } => {
            if let Some(l) = listen {
                config.http.listen = l;
            }
            let app = Application::build(config).await?;
            app.announce().await?;
            app.run().await
        }
        Command::Migrate => {
            let pool = db::pool(&config.database)?;
            startup::migrate_with_retry(&pool).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::CheckConfig => {
            let mut shown = config.clone();
            if shown.database.url.is_some() {
                shown.database.url = Some("(set)".to_owned());
            }
            if shown.mail.smtp_url.is_some() {
                shown.mail.smtp_url = Some("(set)".to_owned());
            }
            crate::mailer::Mailer::from_config(&config.mail)?;
            print!("{}", toml::to_string(&shown)?);
            Ok(())
        }
        Command::SetupLink => {
            let listen = config.http.listen;
            let state = startup::state(config, listen)?;
            startup::migrate_with_retry(&state.pool).await?;
            match db::setup::issue_token(&state.pool).await? {
                Some(t) => println!("{}", state.link(&format!("/setup?token={}", t.expose()))),
                None => anyhow::bail!("the collective is already set up; sign in as an admin"),
            }
            Ok(())
        }
        Command::Invite { email, plan } => {
            let listen = config.http.listen;
            let state = startup::state(config, listen)?;
            let email =
                EmailAddress::parse(email.trim()).map_err(|e| anyhow::anyhow!("email: {e}"))?;
            let plans = db::plans::list(&state.pool).await?;
            let plan = match plan {
                Some(name) => plans
                    .iter()
                    .find(|p| p.name == name)
                    .ok_or_else(|| anyhow::anyhow!("no plan named {name:?}"))?,
                None => plans
                    .first()
                    .ok_or_else(|| anyhow::anyhow!("no plan exists; complete the setup first"))?,
            };
            let (_, link, sent) = state.invite(&db::Actor::cli(), &email, plan.id).await?;
            if sent {
                println!("invitation mailed to {email}");
            }
            println!("{link}");
            Ok(())
        }
        Command::Members { query, page } => {
            let listen = config.http.listen;
            let state = startup::state(config, listen)?;
            let size = db::members::PAGE_SIZE;
            let list =
                db::members::list(&state.pool, &query, (page.max(1) - 1) * size, size).await?;
            for m in &list.members {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    m.id,
                    m.email,
                    m.status.as_str(),
                    m.plan_name.as_deref().unwrap_or("-"),
                    if m.is_admin { "admin" } else { "" }
                );
            }
            eprintln!("{} members in all", list.total);
            Ok(())
        }
        Command::AddNode { name } => {
            let name =
                crate::model::requests::label("name", &name).map_err(|e| anyhow::anyhow!("{e}"))?;
            let listen = config.http.listen;
            let state = startup::state(config, listen)?;
            startup::migrate_with_retry(&state.pool).await?;
            let (id, token) =
                crate::services::nodes::create(&state.pool, &db::Actor::cli(), name.as_str())
                    .await?;
            eprintln!(
                "node {id} added; on the node run: node-agent join {} <token> --address <ip>",
                state.link("")
            );
            println!("{}", token.expose());
            Ok(())
        }
        Command::Openapi => {
            println!(
                "{}",
                serde_json::to_string_pretty(&crate::routes::api::openapi())?
            );
            Ok(())
        }
    }
}
