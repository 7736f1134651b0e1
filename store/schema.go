package store

// applicationID marks a SQLite file as a nas database (PRAGMA application_id, "nas1"), so that
// nas never migrates a database that belongs to another program.
const applicationID = 0x6e617331

// migrations take a database from schema version i (PRAGMA user_version in SQLite, nas_meta in
// PostgreSQL) to i+1. They only ever grow: a released migration is never edited, a change is a
// new entry.
//
// They are written once for both databases, in SQLite's SQL within what toPostgres translates:
// column types INTEGER (64 bits), REAL (float64) and TEXT, in capitals; INTEGER PRIMARY KEY for
// IDs; WITHOUT ROWID if wanted; foreign keys as column REFERENCES; views in the SQL both share
// (no PRAGMA, AUTOINCREMENT, STRICT, BLOB, booleans or casts with ::). TestMigrationsStayPortable
// checks the words, and every store test runs them on both databases. Copy must know every
// table (TestCopyCoversEveryTable).
//
// Times are TEXT in UTC, "2006-01-02T15:04:05.000000Z": readable at the sqlite3 prompt, understood
// by its date functions and PostgreSQL's casts, and of fixed width so that comparing them as
// strings compares the times. Floats that were NaN are NULL, since SQLite has no NaN. Tables are
// not STRICT, so that sqlite3 shells older than 3.37 can read the file.
var migrations = []string{
	// 1: the first schema.
	`
CREATE TABLE experiments (
	id          INTEGER PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	config      TEXT NOT NULL,
	seed        INTEGER NOT NULL,
	strategy    TEXT NOT NULL,
	status      TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'interrupted')),
	created_at  TEXT NOT NULL,
	updated_at  TEXT NOT NULL,
	finished_at TEXT,
	cpu_model   TEXT NOT NULL,
	cores       INTEGER NOT NULL,
	go_version  TEXT NOT NULL,
	nas_version TEXT NOT NULL
);

CREATE TABLE architectures (
	hash   TEXT PRIMARY KEY,
	name   TEXT NOT NULL,
	family TEXT NOT NULL,
	params INTEGER NOT NULL,
	macs   INTEGER NOT NULL,
	arch   TEXT NOT NULL
);

CREATE TABLE trials (
	id            INTEGER PRIMARY KEY,
	experiment_id INTEGER NOT NULL REFERENCES experiments (id),
	arch_hash     TEXT NOT NULL REFERENCES architectures (hash),
	dataset       TEXT NOT NULL,
	recipe_hash   TEXT NOT NULL,
	fidelity      REAL NOT NULL,
	seed          INTEGER NOT NULL,
	generation    INTEGER NOT NULL,
	parents       TEXT NOT NULL,
	operator      TEXT NOT NULL,
	status        TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done')),
	lease_owner   TEXT,
	lease_until   TEXT,
	attempts      INTEGER NOT NULL DEFAULT 0,
	result_id     INTEGER REFERENCES results (id),
	created_at    TEXT NOT NULL,
	started_at    TEXT,
	finished_at   TEXT
);
CREATE INDEX trials_experiment ON trials (experiment_id, id);
CREATE INDEX trials_open ON trials (experiment_id, generation, id) WHERE status <> 'done';
CREATE INDEX trials_key ON trials (arch_hash, dataset, recipe_hash, fidelity, seed);

CREATE TABLE results (
	id              INTEGER PRIMARY KEY,
	trial_id        INTEGER NOT NULL REFERENCES trials (id),
	status          TEXT NOT NULL,
	message         TEXT NOT NULL,
	val_loss        REAL,
	val_acc         REAL,
	test_loss       REAL,
	test_acc        REAL,
	tested          INTEGER NOT NULL,
	train_seconds   REAL,
	images_per_sec  REAL,
	latency_b1_ms   REAL,
	latency_b128_ms REAL,
	peak_mem_bytes  INTEGER NOT NULL,
	threads         INTEGER NOT NULL,
	created_at      TEXT NOT NULL
);

CREATE TABLE epochs (
	result_id  INTEGER NOT NULL REFERENCES results (id),
	epoch      INTEGER NOT NULL,
	train_loss REAL,
	train_acc  REAL,
	val_loss   REAL,
	val_acc    REAL,
	lr         REAL,
	seconds    REAL,
	PRIMARY KEY (result_id, epoch)
) WITHOUT ROWID;

CREATE TABLE eval_cache (
	arch_hash   TEXT NOT NULL,
	dataset     TEXT NOT NULL,
	recipe_hash TEXT NOT NULL,
	fidelity    REAL NOT NULL,
	seed        INTEGER NOT NULL,
	result_id   INTEGER NOT NULL REFERENCES results (id),
	PRIMARY KEY (arch_hash, dataset, recipe_hash, fidelity, seed)
) WITHOUT ROWID;

CREATE VIEW v_results AS
SELECT e.name AS experiment, t.id AS trial_id, t.arch_hash, a.name, a.family, a.params, a.macs,
       r.val_acc, r.test_acc, r.train_seconds, r.status,
       t.generation, t.operator, t.dataset, t.fidelity, t.seed, r.val_loss, r.test_loss,
       r.images_per_sec, r.latency_b1_ms, r.latency_b128_ms, r.peak_mem_bytes, r.threads,
       r.message, r.trial_id <> t.id AS cached, r.id AS result_id, t.finished_at
FROM trials t
JOIN experiments e ON e.id = t.experiment_id
JOIN architectures a ON a.hash = t.arch_hash
JOIN results r ON r.id = t.result_id;

CREATE VIEW v_curves AS
SELECT e.name AS experiment, t.id AS trial_id, t.arch_hash, a.name, p.epoch,
       p.train_loss, p.train_acc, p.val_loss, p.val_acc, p.lr, p.seconds
FROM trials t
JOIN experiments e ON e.id = t.experiment_id
JOIN architectures a ON a.hash = t.arch_hash
JOIN epochs p ON p.result_id = t.result_id;

CREATE VIEW v_trials AS
SELECT e.name AS experiment, t.id AS trial_id, t.generation, t.arch_hash, a.name, t.operator,
       t.parents, t.fidelity, t.status, t.lease_owner, t.lease_until, t.attempts,
       t.created_at, t.started_at, t.finished_at
FROM trials t
JOIN experiments e ON e.id = t.experiment_id
JOIN architectures a ON a.hash = t.arch_hash;

CREATE VIEW v_experiments AS
SELECT e.name AS experiment, e.strategy, e.status, e.seed,
       (SELECT count(*) FROM trials t WHERE t.experiment_id = e.id) AS trials,
       (SELECT count(*) FROM trials t WHERE t.experiment_id = e.id AND t.status = 'done') AS done,
       (SELECT max(r.val_acc) FROM trials t JOIN results r ON r.id = t.result_id
         WHERE t.experiment_id = e.id AND r.status = 'ok') AS best_val_acc,
       e.created_at, e.finished_at, e.cpu_model, e.cores, e.go_version, e.nas_version
FROM experiments e;
`,
	// 2: many machines. The recipes that trials name, so that a worker elsewhere can train a
	// trial from the database alone; whether a trial measures latency; the coordinator that
	// holds an experiment; the workers and which of them computed each result.
	`
CREATE TABLE recipes (
	hash   TEXT PRIMARY KEY,
	recipe TEXT NOT NULL
);

ALTER TABLE trials ADD COLUMN latency INTEGER NOT NULL DEFAULT 1;

ALTER TABLE experiments ADD COLUMN coordinator TEXT;
ALTER TABLE experiments ADD COLUMN coordinator_since TEXT;
ALTER TABLE experiments ADD COLUMN coordinator_until TEXT;

CREATE TABLE workers (
	name        TEXT PRIMARY KEY,
	host        TEXT NOT NULL,
	pid         INTEGER NOT NULL,
	cpu_model   TEXT NOT NULL,
	cores       INTEGER NOT NULL,
	slots       INTEGER NOT NULL,
	threads     INTEGER NOT NULL,
	go_version  TEXT NOT NULL,
	nas_version TEXT NOT NULL,
	started_at  TEXT NOT NULL,
	seen_at     TEXT NOT NULL,
	stopped_at  TEXT
);

ALTER TABLE results ADD COLUMN worker TEXT REFERENCES workers (name);

DROP VIEW v_results;
CREATE VIEW v_results AS
SELECT e.name AS experiment, t.id AS trial_id, t.arch_hash, a.name, a.family, a.params, a.macs,
       r.val_acc, r.test_acc, r.train_seconds, r.status,
       t.generation, t.operator, t.dataset, t.fidelity, t.seed, r.val_loss, r.test_loss,
       r.images_per_sec, r.latency_b1_ms, r.latency_b128_ms, r.peak_mem_bytes, r.threads,
       r.message, r.trial_id <> t.id AS cached, r.id AS result_id, t.finished_at, r.worker
FROM trials t
JOIN experiments e ON e.id = t.experiment_id
JOIN architectures a ON a.hash = t.arch_hash
JOIN results r ON r.id = t.result_id;

CREATE VIEW v_workers AS
SELECT w.name AS worker, w.host, w.pid, w.cpu_model, w.cores, w.slots, w.threads, w.nas_version,
       w.started_at, w.seen_at, w.stopped_at,
       (SELECT count(*) FROM trials t WHERE t.status = 'running' AND t.lease_owner = w.name) AS holding,
       (SELECT count(*) FROM results r WHERE r.worker = w.name) AS results,
       (SELECT sum(r.train_seconds) FROM results r WHERE r.worker = w.name) AS train_seconds
FROM workers w;
`,
	// 3: final trainings and checkpoints. A trial's phase says whether a search scored it or
	// nas finalize trained it with a full recipe; a final trial names the search trial it
	// came from. A long training's last checkpoint is a file beside the database, named here
	// with its checksum. The views show the phase, and v_finals puts each final result beside
	// the search's score of the same network.
	`
ALTER TABLE trials ADD COLUMN phase TEXT NOT NULL DEFAULT 'search' CHECK (phase IN ('search', 'final'));
ALTER TABLE trials ADD COLUMN source_trial INTEGER REFERENCES trials (id);

CREATE TABLE checkpoints (
	arch_hash   TEXT NOT NULL,
	dataset     TEXT NOT NULL,
	recipe_hash TEXT NOT NULL,
	fidelity    REAL NOT NULL,
	seed        INTEGER NOT NULL,
	epoch       INTEGER NOT NULL,
	path        TEXT NOT NULL,
	sha256      TEXT NOT NULL,
	bytes       INTEGER NOT NULL,
	created_at  TEXT NOT NULL,
	PRIMARY KEY (arch_hash, dataset, recipe_hash, fidelity, seed)
) WITHOUT ROWID;

DROP VIEW v_results;
CREATE VIEW v_results AS
SELECT e.name AS experiment, t.id AS trial_id, t.arch_hash, a.name, a.family, a.params, a.macs,
       r.val_acc, r.test_acc, r.train_seconds, r.status,
       t.generation, t.operator, t.dataset, t.fidelity, t.seed, r.val_loss, r.test_loss,
       r.images_per_sec, r.latency_b1_ms, r.latency_b128_ms, r.peak_mem_bytes, r.threads,
       r.message, r.trial_id <> t.id AS cached, r.id AS result_id, t.finished_at, r.worker,
       t.phase, t.source_trial
FROM trials t
JOIN experiments e ON e.id = t.experiment_id
JOIN architectures a ON a.hash = t.arch_hash
JOIN results r ON r.id = t.result_id;

DROP VIEW v_trials;
CREATE VIEW v_trials AS
SELECT e.name AS experiment, t.id AS trial_id, t.generation, t.arch_hash, a.name, t.operator,
       t.parents, t.fidelity, t.status, t.lease_owner, t.lease_until, t.attempts,
       t.created_at, t.started_at, t.finished_at, t.phase, t.source_trial
FROM trials t
JOIN experiments e ON e.id = t.experiment_id
JOIN architectures a ON a.hash = t.arch_hash;

DROP VIEW v_experiments;
CREATE VIEW v_experiments AS
SELECT e.name AS experiment, e.strategy, e.status, e.seed,
       (SELECT count(*) FROM trials t WHERE t.experiment_id = e.id AND t.phase = 'search') AS trials,
       (SELECT count(*) FROM trials t WHERE t.experiment_id = e.id AND t.phase = 'search'
         AND t.status = 'done') AS done,
       (SELECT max(r.val_acc) FROM trials t JOIN results r ON r.id = t.result_id
         WHERE t.experiment_id = e.id AND t.phase = 'search' AND r.status = 'ok') AS best_val_acc,
       e.created_at, e.finished_at, e.cpu_model, e.cores, e.go_version, e.nas_version,
       (SELECT count(*) FROM trials t WHERE t.experiment_id = e.id AND t.phase = 'final'
         AND t.status = 'done') AS finals,
       (SELECT max(r.test_acc) FROM trials t JOIN results r ON r.id = t.result_id
         WHERE t.experiment_id = e.id AND t.phase = 'final' AND r.status = 'ok') AS best_test_acc
FROM experiments e;

CREATE VIEW v_finals AS
SELECT e.name AS experiment, t.id AS trial_id, t.source_trial, t.arch_hash, a.name, a.family,
       a.params, a.macs, t.seed, r.status, r.test_acc, r.test_loss, r.train_seconds,
       sr.val_acc AS search_val_acc, s.fidelity AS search_fidelity, t.fidelity, r.message, r.worker
FROM trials t
JOIN experiments e ON e.id = t.experiment_id
JOIN architectures a ON a.hash = t.arch_hash
JOIN results r ON r.id = t.result_id
LEFT JOIN trials s ON s.id = t.source_trial
LEFT JOIN results sr ON sr.id = s.result_id
WHERE t.phase = 'final';
`,
}

// SchemaVersion is the schema version this binary writes: the number of migrations it knows.
const SchemaVersion = 3
