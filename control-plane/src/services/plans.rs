//! Plans as the admin defines them: each created or changed in one transaction with its audit
//! entry (the limits included, so the log says what a member was given).

use sqlx::PgPool;

use crate::db::audit::{self, Actor};
use crate::db::plans::{self, NewPlan};
use crate::error::{Error, Result};
use crate::model::ids::PlanId;

/// Creates a plan: its id.
pub async fn create(pool: &PgPool, actor: &Actor, plan: &NewPlan) -> Result<PlanId> {
    let id = PlanId::new();
    let mut tx = pool.begin().await?;
    plans::insert(&mut *tx, id, plan).await?;
    audit::record(
        &mut *tx,
        actor,
        "plan.create",
        None,
        serde_json::json!({ "plan": id, "name": plan.name, "limits": plan.limits }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Renames a plan and changes its limits, for every member on it.
pub async fn update(pool: &PgPool, actor: &Actor, id: PlanId, plan: &NewPlan) -> Result<()> {
    let mut tx = pool.begin().await?;
    if !plans::update(&mut *tx, id, plan).await? {
        return Err(Error::NotFound);
    }
    audit::record(
        &mut *tx,
        actor,
        "plan.update",
        None,
        serde_json::json!({ "plan": id, "name": plan.name, "limits": plan.limits }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
