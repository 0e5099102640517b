//! A fresh, migrated database per test, on the throwaway cluster that the
//! test command (`make test`) starts and names in `DATABASE_URL`.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

pub struct TestDatabase {
    pub pool: PgPool,
    /// A URL for this database, for child processes.
    pub url: String,
    pub name: String,
}

/// The cluster's URL. Panics with instructions when the test command did not set it.
pub fn admin_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!("DATABASE_URL is not set: run the tests with `make test`, which starts a throwaway PostgreSQL")
    })
}

impl TestDatabase {
    /// Creates an empty database with a unique name and applies the migrations.
    pub async fn fresh() -> TestDatabase {
        let db = Self::empty().await;
        store::migrate(&db.pool).await.expect("migrations apply to a fresh database");
        db
    }

    /// A fresh, migrated database on another cluster (a [`crate::cluster::PrivateCluster`]).
    pub async fn on(cluster_url: &str) -> TestDatabase {
        let db = Self::create(cluster_url).await;
        store::migrate(&db.pool).await.expect("migrations apply to a fresh database");
        db
    }

    /// A new pool on the same database (after its server restarted).
    pub async fn reconnect(db: &TestDatabase) -> TestDatabase {
        let options: PgConnectOptions = db.url.parse().expect("test database URL");
        let pool = PgPoolOptions::new().max_connections(8).connect_with(options).await.expect("reconnect");
        TestDatabase { pool, url: db.url.clone(), name: db.name.clone() }
    }

    /// Creates an empty database with no tables (for migration tests).
    pub async fn empty() -> TestDatabase {
        Self::create(&admin_url()).await
    }

    async fn create(cluster_url: &str) -> TestDatabase {
        let admin: PgConnectOptions = cluster_url.parse().expect("a PostgreSQL URL");
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect_with(&admin).await.expect("connect to the test cluster");
        sqlx::query(&format!(r#"CREATE DATABASE "{name}""#)).execute(&mut conn).await.expect("create database");
        conn.close().await.ok();
        let options = admin.clone().database(&name);
        let url = options.to_url_lossy().to_string();
        let pool =
            PgPoolOptions::new().max_connections(8).connect_with(options).await.expect("connect to test database");
        TestDatabase { pool, url, name }
    }
}
