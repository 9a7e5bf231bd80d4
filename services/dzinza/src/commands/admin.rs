//! `dzinza admin ...`: account administration from the command line, e.g. the first admin.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use dzinza_auth::error::AuthError;
use dzinza_auth::model::Role;
use dzinza_auth::settings::{self, AuthArgs};
use dzinza_kit::config::CommonArgs;
use secrecy::SecretString;

/// Administration commands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a user with a role (e.g. the first ADMIN); the email counts as verified.
    CreateUser(Box<CreateUserArgs>),
}

/// Settings of `dzinza admin create-user`.
#[derive(Debug, Args)]
pub struct CreateUserArgs {
    /// Email address of the new user.
    #[arg(long)]
    pub email: String,
    /// Username (default: the part of the email before `@`).
    #[arg(long)]
    pub username: Option<String>,
    /// Role: USER, MODERATOR or ADMIN.
    #[arg(long, default_value = "USER", value_parser = parse_role)]
    pub role: Role,
    /// Read the password from this file instead of prompting on the terminal.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten, next_help_heading = "Auth")]
    pub auth: AuthArgs,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(&s.to_ascii_uppercase()).ok_or_else(|| "use USER, MODERATOR or ADMIN".to_owned())
}

fn read_password(file: Option<&PathBuf>) -> anyhow::Result<SecretString> {
    if let Some(path) = file {
        let raw = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the password file {}", path.display()))?;
        return Ok(SecretString::from(
            raw.trim_end_matches(['\n', '\r']).to_owned(),
        ));
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("no terminal to ask for the password on; pass --password-file");
    }
    let first = rpassword::prompt_password("Password (12+ characters): ")?;
    let again = rpassword::prompt_password("Repeat the password: ")?;
    if first != again {
        anyhow::bail!("the passwords differ");
    }
    Ok(SecretString::from(first))
}

/// Runs an admin command.
pub fn run(cmd: AdminCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AdminCommand::CreateUser(args) => {
            let password = read_password(args.password_file.as_ref())?;
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(create_user(*args, password))
        }
    }
}

async fn create_user(args: CreateUserArgs, password: SecretString) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.common.data_dir)
        .with_context(|| format!("cannot create {}", args.common.data_dir.display()))?;
    let public_url = format!("http://{}", args.common.listen);
    let built = settings::build(
        &args.auth,
        &args.common.identity,
        &args.common.data_dir,
        true,
        &public_url,
    )
    .await
    .context("opening the auth store")?;
    let username = args.username.clone().unwrap_or_else(|| {
        args.email
            .split('@')
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            .collect()
    });
    match built
        .state
        .service
        .create_user(&args.email, &username, password, args.role)
        .await
    {
        Ok(user) => {
            println!(
                "created {} {} ({}) with id {}",
                user.role.as_str(),
                user.email,
                user.username,
                user.id
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(AuthError::Validation(errors)) => {
            for e in errors {
                eprintln!("{}: {}", e.field, e.message);
            }
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e.into()),
    }
}
