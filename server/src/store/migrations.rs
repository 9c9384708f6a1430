//! Landed migrations never change: a database migrated by an earlier release
//! records each migration's checksum, and sqlx refuses to start when a file it
//! already applied differs. `server/migrations/landed.sha256` lists every
//! migration file with its checksum; the test below fails when a listed file
//! changed or vanished, or when a migration file is not listed (add its line in
//! the change that adds the migration, and never edit the line afterwards).
//!
//! A migration that rebuilds a table is also tested on a database written by
//! the release before it: what was stored comes through.

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use sha2::{Digest, Sha256};

    fn manifest(root: &Path) -> BTreeMap<String, String> {
        let text = std::fs::read_to_string(root.join("landed.sha256")).expect("landed.sha256 exists");
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                let (hash, path) = line.split_once("  ").expect("`<sha256>  <path>` lines");
                (path.to_owned(), hash.to_owned())
            })
            .collect()
    }

    fn migration_files(root: &Path) -> Vec<String> {
        let mut files = Vec::new();
        for backend in ["sqlite", "postgres"] {
            for entry in std::fs::read_dir(root.join(backend)).unwrap() {
                let name = entry.unwrap().file_name().to_string_lossy().into_owned();
                if name.ends_with(".sql") {
                    files.push(format!("{backend}/{name}"));
                }
            }
        }
        files.sort();
        files
    }

    /// What the check found wrong, one line per problem.
    fn problems(root: &Path) -> Vec<String> {
        let listed = manifest(root);
        let mut problems = Vec::new();
        for (path, hash) in &listed {
            match std::fs::read(root.join(path)) {
                Err(_) => problems.push(format!("{path}: landed but removed")),
                Ok(bytes) if hex::encode(Sha256::digest(&bytes)) != *hash => {
                    problems.push(format!("{path}: landed but edited; add a new migration instead"))
                }
                Ok(_) => {}
            }
        }
        for path in migration_files(root) {
            if !listed.contains_key(&path) {
                problems.push(format!("{path}: not in landed.sha256 (run sha256sum on it and add the line)"));
            }
        }
        problems
    }

    #[test]
    fn landed_migrations_are_unchanged_and_every_migration_is_listed() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let problems = problems(&root);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn the_check_catches_an_edit_a_removal_and_an_unlisted_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for backend in ["sqlite", "postgres"] {
            std::fs::create_dir_all(root.join(backend)).unwrap();
        }
        std::fs::write(root.join("sqlite/0001_a.sql"), "CREATE TABLE a (x INTEGER);").unwrap();
        std::fs::write(root.join("postgres/0001_a.sql"), "CREATE TABLE a (x BIGINT);").unwrap();
        let line = |path: &str| {
            format!("{}  {path}\n", hex::encode(Sha256::digest(std::fs::read(root.join(path)).unwrap())))
        };
        let listing = line("sqlite/0001_a.sql") + &line("postgres/0001_a.sql");
        std::fs::write(root.join("landed.sha256"), &listing).unwrap();
        assert!(problems(root).is_empty());

        std::fs::write(root.join("sqlite/0001_a.sql"), "CREATE TABLE a (x INTEGER, y TEXT);").unwrap();
        std::fs::remove_file(root.join("postgres/0001_a.sql")).unwrap();
        std::fs::write(root.join("sqlite/0002_b.sql"), "CREATE TABLE b (x INTEGER);").unwrap();
        let found = problems(root);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found.iter().any(|p| p.starts_with("sqlite/0001_a.sql: landed but edited")));
        assert!(found.iter().any(|p| p.starts_with("postgres/0001_a.sql: landed but removed")));
        assert!(found.iter().any(|p| p.starts_with("sqlite/0002_b.sql: not in landed.sha256")));
    }

    /// Copies the SQLite migrations up to `last` into a folder of their own, so
    /// a database can be taken to the schema of an earlier release.
    fn sqlite_migrations_up_to(last: i64, into: &Path) {
        let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        for entry in std::fs::read_dir(&from).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            let version: i64 = name.split('_').next().and_then(|v| v.parse().ok()).expect("NNNN_name.sql");
            if version <= last {
                std::fs::copy(from.join(&name), into.join(&name)).unwrap();
            }
        }
    }

    #[tokio::test]
    async fn a_log_written_before_0008_keeps_its_events_and_loses_only_the_id_index() {
        use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

        let dir = tempfile::tempdir().unwrap();
        let earlier = dir.path().join("earlier");
        std::fs::create_dir(&earlier).unwrap();
        sqlite_migrations_up_to(7, &earlier);
        let options = SqliteConnectOptions::new().filename(dir.path().join("log.db")).create_if_missing(true);
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.unwrap();
        sqlx::migrate::Migrator::new(earlier.as_path()).await.unwrap().run(&pool).await.unwrap();

        sqlx::query("INSERT INTO channel_heads (channel, last_seq, epoch) VALUES ('feed:a', 0, 'e1'), ('feed:b', 0, 'e2')")
            .execute(&pool)
            .await
            .unwrap();
        let stored = [
            ("feed:a", 1, "id-a1", 10, "{\"n\":1}"),
            ("feed:a", 2, "id-a2", 11, "{\"n\":2}"),
            ("feed:b", 1, "id-b1", 12, "[]"),
        ];
        for (channel, seq, id, ts, payload) in stored {
            sqlx::query("INSERT INTO events (channel, seq, id, ts, payload) VALUES (?, ?, ?, ?, ?)")
                .bind(channel)
                .bind(seq)
                .bind(id)
                .bind(ts)
                .bind(payload)
                .execute(&pool)
                .await
                .unwrap();
        }

        let rowids =
            || sqlx::query_as::<_, (i64,)>("SELECT rowid FROM events ORDER BY channel, seq").fetch_all(&pool);
        let rowids_before = rowids().await.unwrap();

        crate::store::SQLITE_MIGRATIONS.run(&pool).await.unwrap();

        let rows: Vec<(String, i64, String, i64, String)> =
            sqlx::query_as("SELECT channel, seq, id, ts, payload FROM events ORDER BY channel, seq")
                .fetch_all(&pool)
                .await
                .unwrap();
        let expected: Vec<_> = stored
            .iter()
            .map(|(c, s, i, t, p)| ((*c).to_owned(), *s, (*i).to_owned(), *t, (*p).to_owned()))
            .collect();
        assert_eq!(rows, expected, "every stored event comes through");
        assert_eq!(rowids().await.unwrap(), rowids_before, "in its place");

        let indexes: Vec<(String,)> =
            sqlx::query_as("SELECT name FROM pragma_index_list('events') ORDER BY name")
                .fetch_all(&pool)
                .await
                .unwrap();
        let indexes: Vec<&str> = indexes.iter().map(|(name,)| name.as_str()).collect();
        assert_eq!(
            indexes,
            ["sqlite_autoindex_events_1"],
            "the key alone: no id index (0008), no age index (0010)"
        );

        // The trigger made again still moves a head, and the key still holds.
        sqlx::query(
            "INSERT INTO events (channel, seq, id, ts, payload) VALUES ('feed:a', 3, 'id-a3', 13, '{}')",
        )
        .execute(&pool)
        .await
        .unwrap();
        let (head,): (i64,) = sqlx::query_as("SELECT last_seq FROM channel_heads WHERE channel = 'feed:a'")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(head, 3);
        let again = sqlx::query(
            "INSERT INTO events (channel, seq, id, ts, payload) VALUES ('feed:a', 3, 'other', 14, '{}')",
        )
        .execute(&pool)
        .await;
        assert!(again.is_err(), "a seq is stored once per channel");
    }
}
