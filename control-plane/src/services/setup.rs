//! The one-time setup: the collective, its default plan and the first admin, made in one
//! transaction by whoever holds the setup link.

use sqlx::PgPool;

use crate::db::audit::{self, Actor};
use crate::db::plans::{self, NewPlan};
use crate::db::{members, setup};
use crate::error::{Error, Result};
use crate::model::ids::{MemberId, PlanId};
use crate::model::input::MIB;
use crate::model::plan::Limits;

pub struct Setup {
    pub collective_name: String,
    pub platform_domain: String,
    pub admin_email: String,
    pub admin_password_hash: String,
}

/// The plan the first admin gets, so a one-person box can be used at once. The admin can
/// change it like any other plan.
pub fn default_plan() -> NewPlan {
    NewPlan {
        name: "Standard".to_owned(),
        limits: Limits {
            max_domains: 5,
            max_mailboxes: 25,
            max_aliases: 100,
            max_xmpp_accounts: 25,
            storage_bytes: 10 * 1024 * MIB,
        },
    }
}

/// Consumes the token and creates the collective, the default plan and the first admin, in one
/// transaction: either all of it exists afterwards or none of it.
pub async fn complete(
    pool: &PgPool,
    token: &str,
    setup: &Setup,
    ip: Option<String>,
) -> Result<MemberId> {
    let mut tx = pool.begin().await?;
    if !setup::use_token(&mut tx, token).await? {
        return Err(Error::Gone);
    }
    setup::insert_collective(&mut tx, &setup.collective_name, &setup.platform_domain).await?;
    let plan = PlanId::new();
    plans::insert(&mut *tx, plan, &default_plan()).await?;
    let admin = MemberId::new();
    members::insert(
        &mut tx,
        admin,
        &setup.admin_email,
        "Admin",
        &setup.admin_password_hash,
        true,
        Some(plan),
    )
    .await?;
    audit::record(
        &mut *tx,
        &Actor {
            member_id: Some(admin),
            email: Some(setup.admin_email.clone()),
            ip,
        },
        "collective.setup",
        Some(admin),
        serde_json::json!({ "name": setup.collective_name, "platform_domain": setup.platform_domain }),
    )
    .await?;
    tx.commit().await?;
    Ok(admin)
}
