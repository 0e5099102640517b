//! Schema migrations, embedded in the binary.

use sqlx::PgPool;

/// Applies pending migrations. sqlx takes a PostgreSQL advisory lock around
/// them, so many replicas starting at once apply each migration exactly once.
pub async fn migrate(pool: &PgPool) -> crate::Result<()> {
    sqlx::migrate!("./migrations").run(pool).await?;
    Ok(())
}
