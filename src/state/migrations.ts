/**
 * Schema migrations, applied in order; the database's `user_version` is the number applied.
 * Only ever append: a released migration never changes.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE stacks (
    name TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    suspended INTEGER NOT NULL DEFAULT 0,
    running_version TEXT,
    running_commit TEXT,
    good_version TEXT,
    good_commit TEXT,
    last_applied_version TEXT,
    last_attempted_version TEXT,
    health TEXT,
    conditions TEXT NOT NULL DEFAULT '[]',
    updated_at TEXT NOT NULL
  );

  CREATE TABLE deployments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    stack TEXT NOT NULL,
    version TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    previous_version TEXT,
    method TEXT NOT NULL,
    state TEXT NOT NULL,
    trigger_name TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    result TEXT,
    message TEXT
  );
  CREATE INDEX deployments_stack ON deployments (stack, id);
  CREATE INDEX deployments_state ON deployments (state);

  CREATE TABLE deployment_journal (
    deployment_id INTEGER NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    step TEXT NOT NULL,
    detail TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (deployment_id, seq)
  );

  CREATE TABLE deployment_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment_id INTEGER NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    text TEXT NOT NULL
  );
  CREATE INDEX deployment_logs_deployment ON deployment_logs (deployment_id, id);

  CREATE TABLE health_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    stack TEXT NOT NULL,
    version TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    health TEXT NOT NULL,
    detail TEXT NOT NULL,
    at TEXT NOT NULL
  );
  CREATE INDEX health_history_stack ON health_history (stack, id);

  CREATE TABLE bad_versions (
    stack TEXT NOT NULL,
    version TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL,
    UNIQUE (stack, version)
  );
  `,
  // Blue-green and canary leave unchanged services' containers with the version that created them.
  `ALTER TABLE stacks ADD COLUMN carried_versions TEXT NOT NULL DEFAULT '[]';`,
  // Image updates: the registry digests a version pins (JSON, image reference → digest). A
  // version is a hash over its files and these digests, so they belong to the version, shared
  // by its deployments, the running and good versions and its bad mark.
  `
  CREATE TABLE version_images (
    stack TEXT NOT NULL,
    version TEXT NOT NULL,
    images TEXT NOT NULL,
    PRIMARY KEY (stack, version)
  );
  `,
  // Several sources: the one a stack comes from (NULL for stacks recorded before: `default`'s).
  `ALTER TABLE stacks ADD COLUMN source TEXT;`,
  // Migration jobs that succeeded, per version: a retried deployment does not run them again.
  `
  CREATE TABLE migration_runs (
    stack TEXT NOT NULL,
    version TEXT NOT NULL,
    name TEXT NOT NULL,
    exit_code INTEGER NOT NULL,
    output TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    finished_at TEXT NOT NULL,
    PRIMARY KEY (stack, version, name)
  );
  `,
];
