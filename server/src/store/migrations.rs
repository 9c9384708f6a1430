//! Landed migrations never change: a database migrated by an earlier release
//! records each migration's checksum, and sqlx refuses to start when a file it
//! already applied differs. `server/migrations/landed.sha256` lists every
//! migration file with its checksum; the test below fails when a listed file
//! changed or vanished, or when a migration file is not listed (add its line in
//! the change that adds the migration, and never edit the line afterwards).

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
}
