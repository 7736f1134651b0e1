package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/gonas/nas/evaluator"
)

var experimentColumns = []string{"id", "name", "config", "seed", "strategy", "status", "created_at",
	"updated_at", "finished_at", "cpu_model", "cores", "go_version", "nas_version", "coordinator",
	"coordinator_since", "coordinator_until"}

func scanExperiment(sc scanner) (Experiment, error) {
	var e Experiment
	err := sc.Scan(&e.ID, &e.Name, &e.Config, uintValue{&e.Seed}, &e.Strategy, &e.Status,
		timeValue{&e.Created}, timeValue{&e.Updated}, timeValue{&e.Finished},
		&e.Machine.CPUModel, &e.Machine.Cores, &e.Machine.GoVersion, &e.Machine.NASVersion,
		orZero[string]{&e.Coordinator.Owner}, timeValue{&e.Coordinator.Since}, timeValue{&e.Coordinator.Until})
	return e, err
}

// CreateExperiment stores e as a running experiment and returns its ID; see Store.
func (s *DB) CreateExperiment(ctx context.Context, e Experiment) (int64, error) {
	var id int64
	err := s.write(ctx, func(tx txn) error {
		t, err := s.d.now(ctx, tx)
		if err != nil {
			return err
		}
		now := timeArg(t)
		var holder, since, until any
		if e.Coordinator.Owner != "" {
			holder, since, until = e.Coordinator.Owner, now, timeArg(e.Coordinator.Until)
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO experiments (name, config, seed, strategy, status,
			created_at, updated_at, cpu_model, cores, go_version, nas_version, coordinator,
			coordinator_since, coordinator_until)
			VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING id`,
			e.Name, string(e.Config), int64(e.Seed), e.Strategy, now, now,
			e.Machine.CPUModel, e.Machine.Cores, e.Machine.GoVersion, e.Machine.NASVersion,
			holder, since, until).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("experiment %q: %w", e.Name, ErrExists)
		}
		return err
	})
	return id, err
}

// Experiment returns the experiment called name; see Store.
func (s *DB) Experiment(ctx context.Context, name string) (Experiment, error) {
	var e Experiment
	err := s.read(ctx, func(tx txn) error {
		var err error
		e, err = scanExperiment(tx.QueryRowContext(ctx,
			"SELECT "+columns("e", experimentColumns...)+" FROM experiments e WHERE name = ?", name))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("experiment %q: %w", name, ErrNotFound)
		}
		return err
	})
	return e, err
}

// Experiments returns every experiment, oldest first; see Store.
func (s *DB) Experiments(ctx context.Context) ([]Experiment, error) {
	var es []Experiment
	err := s.read(ctx, func(tx txn) error {
		var err error
		es, err = queryAll(ctx, tx, scanExperiment,
			"SELECT "+columns("e", experimentColumns...)+" FROM experiments e ORDER BY id")
		return err
	})
	return es, err
}

// SetExperimentStatus sets the status of experiment id; see Store.
func (s *DB) SetExperimentStatus(ctx context.Context, id int64, status ExperimentStatus) error {
	switch status {
	case ExperimentRunning, ExperimentDone, ExperimentFailed, ExperimentInterrupted:
	default:
		return fmt.Errorf("experiment %d: unknown status %q", id, status)
	}
	return s.write(ctx, func(tx txn) error {
		now, err := s.d.now(ctx, tx)
		if err != nil {
			return err
		}
		finished := timeArg(now)
		if status == ExperimentRunning {
			finished = nil
		}
		res, err := tx.ExecContext(ctx, "UPDATE experiments SET status = ?, updated_at = ?, finished_at = ? WHERE id = ?",
			status, timeArg(now), finished, id)
		if err != nil {
			return err
		}
		return oneRow(res, fmt.Errorf("experiment %d: %w", id, ErrNotFound))
	})
}

// HoldExperiment makes owner the coordinator of an experiment; see Store. It panics if owner is
// empty or lease is not positive.
func (s *DB) HoldExperiment(ctx context.Context, id int64, owner string, lease time.Duration) error {
	checkLease(owner, lease)
	return s.write(ctx, func(tx txn) error {
		now, err := s.d.now(ctx, tx)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE experiments SET coordinator = ?1,
			coordinator_since = CASE WHEN coordinator = ?1 THEN coordinator_since ELSE ?2 END,
			coordinator_until = ?3
			WHERE id = ?4 AND (coordinator IS NULL OR coordinator = ?1 OR coordinator_until < ?2)`,
			owner, timeArg(now), timeArg(now.Add(lease)), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		e, err := scanExperiment(tx.QueryRowContext(ctx,
			"SELECT "+columns("e", experimentColumns...)+" FROM experiments e WHERE id = ?", id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("experiment %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		return &HeldError{Experiment: e.Name, Hold: e.Coordinator}
	})
}

// ReleaseExperiment ends owner's hold on an experiment; see Store.
func (s *DB) ReleaseExperiment(ctx context.Context, id int64, owner string) error {
	return s.write(ctx, func(tx txn) error {
		_, err := tx.ExecContext(ctx, `UPDATE experiments SET coordinator = NULL, coordinator_since = NULL,
			coordinator_until = NULL WHERE id = ? AND coordinator = ?`, id, owner)
		return err
	})
}

// oneRow returns notFound if res changed no row.
func oneRow(res sql.Result, notFound error) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound
	}
	return nil
}

var archColumns = []string{"hash", "name", "family", "params", "macs", "arch"}

// archDest returns the scan destinations for archColumns into a.
func archDest(a *Arch) []any {
	return []any{&a.Hash, &a.Name, &a.Family, &a.Params, &a.MACs, &a.JSON}
}

func scanArch(sc scanner) (Arch, error) {
	var a Arch
	err := sc.Scan(archDest(&a)...)
	return a, err
}

// PutArch stores a unless its hash is stored already; see Store. It panics if a.Hash is empty.
func (s *DB) PutArch(ctx context.Context, a Arch) error {
	if a.Hash == "" {
		panic("store: PutArch of an architecture without a hash")
	}
	return s.write(ctx, func(tx txn) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO architectures (hash, name, family, params, macs, arch)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING`,
			a.Hash, a.Name, a.Family, a.Params, a.MACs, string(a.JSON))
		return err
	})
}

// Arch returns the architecture stored under hash; see Store.
func (s *DB) Arch(ctx context.Context, hash string) (Arch, error) {
	var a Arch
	err := s.read(ctx, func(tx txn) error {
		var err error
		a, err = scanArch(tx.QueryRowContext(ctx,
			"SELECT "+columns("a", archColumns...)+" FROM architectures a WHERE hash = ?", hash))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("architecture %s: %w", hash, ErrNotFound)
		}
		return err
	})
	return a, err
}

var trialColumns = []string{"id", "experiment_id", "arch_hash", "dataset", "recipe_hash", "fidelity",
	"seed", "generation", "parents", "operator", "latency", "status", "lease_owner", "lease_until",
	"attempts", "result_id", "created_at", "started_at", "finished_at", "phase", "source_trial"}

// trialDest returns the scan destinations for trialColumns into t.
func trialDest(t *Trial) []any {
	return []any{&t.ID, &t.ExperimentID, &t.Key.ArchHash, &t.Key.Dataset, &t.Key.RecipeHash,
		&t.Key.Fidelity, uintValue{&t.Key.Seed}, &t.Generation, jsonValue{&t.Parents}, &t.Operator,
		&t.Latency, &t.Status, orZero[string]{&t.LeaseOwner}, timeValue{&t.LeaseUntil}, &t.Attempts,
		orZero[int64]{&t.ResultID}, timeValue{&t.Created}, timeValue{&t.Started}, timeValue{&t.Finished},
		&t.Phase, orZero[int64]{&t.Source}}
}

func scanTrial(sc scanner) (Trial, error) {
	var t Trial
	err := sc.Scan(trialDest(&t)...)
	return t, err
}

// AddTrials queues trials as pending; see Store. It panics if a trial's fidelity is NaN.
func (s *DB) AddTrials(ctx context.Context, experimentID int64, trials []TrialSpec) ([]int64, error) {
	ids := make([]int64, len(trials))
	err := s.write(ctx, func(tx txn) error {
		now, err := s.d.now(ctx, tx)
		if err != nil {
			return err
		}
		for i, t := range trials {
			var err error
			if ids[i], err = addTrial(ctx, tx, experimentID, t, now); err != nil {
				return fmt.Errorf("trial %d: %w", i, err)
			}
			if _, err := tx.ExecContext(ctx, reuseCached, ids[i], timeArg(now)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// addTrial inserts t as a pending trial of experiment experimentID and returns its ID.
func addTrial(ctx context.Context, tx txn, experimentID int64, t TrialSpec, now time.Time) (int64, error) {
	if math.IsNaN(t.Key.Fidelity) {
		panic("store: a trial with a NaN fidelity")
	}
	var experiments, archs int
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM experiments WHERE id = ?),
		(SELECT count(*) FROM architectures WHERE hash = ?)`, experimentID, t.Key.ArchHash).Scan(&experiments, &archs); err != nil {
		return 0, err
	}
	if experiments == 0 {
		return 0, fmt.Errorf("experiment %d: %w", experimentID, ErrNotFound)
	}
	if archs == 0 {
		return 0, fmt.Errorf("architecture %q is not stored; PutArch it first: %w", t.Key.ArchHash, ErrNotFound)
	}
	parents := []byte("[]")
	if t.Parents != nil {
		parents, _ = json.Marshal(t.Parents) // a []string always marshals
	}
	phase, source := t.Phase, any(nil)
	switch {
	case phase == "":
		phase = PhaseSearch
	case phase != PhaseSearch && phase != PhaseFinal:
		return 0, fmt.Errorf("unknown phase %q", phase)
	}
	if t.Source != 0 {
		source = t.Source
	}
	latency := 0
	if t.Latency {
		latency = 1
	}
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO trials (experiment_id, arch_hash, dataset, recipe_hash,
		fidelity, seed, generation, parents, operator, latency, status, created_at, phase, source_trial)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?) RETURNING id`,
		experimentID, t.Key.ArchHash, t.Key.Dataset, t.Key.RecipeHash, t.Key.Fidelity, int64(t.Key.Seed),
		t.Generation, string(parents), t.Operator, latency, timeArg(now), phase, source).Scan(&id)
	return id, err
}

// Trials returns every trial of an experiment; see Store.
func (s *DB) Trials(ctx context.Context, experimentID int64) ([]Trial, error) {
	var ts []Trial
	err := s.read(ctx, func(tx txn) error {
		var err error
		ts, err = queryAll(ctx, tx, scanTrial, "SELECT "+columns("t", trialColumns...)+
			" FROM trials t WHERE experiment_id = ? ORDER BY id", experimentID)
		return err
	})
	return ts, err
}

// claimable is the SQL condition for a row of trials that a worker may take: a trial of
// experiment ?1 that is pending, or running under a lease that expired before ?2. Its first
// terms match the partial index trials_open, so that finished trials are never scanned.
const claimable = `trials.experiment_id = ?1 AND trials.status <> 'done'
	AND (trials.status = 'pending' OR trials.lease_until < ?2)`

// sameKey is the SQL condition that row x has the evaluation key of the row of trials.
func sameKey(x string) string {
	return fmt.Sprintf(`%[1]s.arch_hash = trials.arch_hash AND %[1]s.dataset = trials.dataset
		AND %[1]s.recipe_hash = trials.recipe_hash AND %[1]s.fidelity = trials.fidelity
		AND %[1]s.seed = trials.seed`, x)
}

// keyRuns is the SQL condition that another trial runs the key of the row of trials under a lease
// that is live at ?2.
var keyRuns = `EXISTS (SELECT 1 FROM trials u WHERE ` + sameKey("u") + ` AND u.id <> trials.id
	AND u.status = 'running' AND u.lease_until >= ?2)`

var (
	// nextClaimable selects the first claimable trial after generation ?3 and trial ?4 whose key
	// no other trial runs, with its generation.
	nextClaimable = `SELECT trials.id, trials.generation FROM trials WHERE ` + claimable + ` AND NOT ` + keyRuns + `
		AND (trials.generation > ?3 OR trials.generation = ?3 AND trials.id > ?4)
		ORDER BY trials.generation, trials.id LIMIT 1`
	// claimTrial leases trial ?1 to ?3 until ?4 at time ?2, unless another trial runs its key or
	// its key is cached.
	claimTrial = `UPDATE trials SET status = 'running', lease_owner = ?3, lease_until = ?4, started_at = ?2,
		attempts = attempts + 1
		WHERE trials.id = ?1 AND NOT ` + keyRuns + ` AND NOT EXISTS (SELECT 1 FROM eval_cache c WHERE ` + sameKey("c") + `)`
	// reuseCached finishes trial ?1 with the cached result of its key, if there is one, at time ?2.
	reuseCached = `UPDATE trials SET status = 'done', result_id = c.result_id, finished_at = ?2,
		lease_owner = NULL, lease_until = NULL
		FROM eval_cache c WHERE trials.id = ?1 AND ` + sameKey("c")
)

// ClaimTrial leases the next trial that needs work; see Store. It panics if owner is empty or
// lease is not positive.
//
// The claim itself checks again, in one statement, that nobody runs the key and that it is not
// cached: where transactions run side by side (PostgreSQL), another worker may have claimed or
// finished a trial of the same key since the candidate was chosen. A worker that finishes the
// key commits its result and its cache entry together, so whichever the claim sees, it does not
// train the key again; two claims of one key are kept apart by the key's lock.
func (s *DB) ClaimTrial(ctx context.Context, experimentID int64, owner string, lease time.Duration) (Trial, error) {
	checkLease(owner, lease)
	var t Trial
	err := s.write(ctx, func(tx txn) error {
		t = Trial{}
		now, err := s.d.now(ctx, tx)
		if err != nil {
			return err
		}
		generation, after := int64(math.MinInt64), int64(0)
		for {
			var id int64
			err := tx.QueryRowContext(ctx, nextClaimable+s.d.skipLocked(), experimentID, timeArg(now),
				generation, after).Scan(&id, &generation)
			if errors.Is(err, sql.ErrNoRows) {
				return nil // commit the trials finished from the cache all the same
			}
			if err != nil {
				return err
			}
			after = id
			if free, err := s.d.lockKey(ctx, tx, id); err != nil || !free {
				if err != nil {
					return err
				}
				continue // another worker is claiming a trial of the key right now
			}
			res, err := tx.ExecContext(ctx, claimTrial, id, timeArg(now), owner, timeArg(now.Add(lease)))
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				if err != nil {
					return err
				}
				// Cached, or run by another worker since: finish it now if it is cached.
				if _, err := tx.ExecContext(ctx, reuseCached, id, timeArg(now)); err != nil {
					return err
				}
				continue
			}
			t, err = scanTrial(tx.QueryRowContext(ctx, "SELECT "+columns("t", trialColumns...)+" FROM trials t WHERE id = ?", id))
			return err
		}
	})
	if err == nil && t.ID == 0 {
		err = ErrNoTrial
	}
	return t, err
}

func checkLease(owner string, lease time.Duration) {
	if owner == "" {
		panic("store: a lease needs an owner")
	}
	if lease <= 0 {
		panic(fmt.Sprintf("store: lease of %v, want a positive duration", lease))
	}
}

// Heartbeat extends owner's lease on a trial; see Store. It panics if owner is empty or lease is
// not positive.
func (s *DB) Heartbeat(ctx context.Context, trialID int64, owner string, lease time.Duration) error {
	checkLease(owner, lease)
	return s.write(ctx, func(tx txn) error {
		now, err := s.d.now(ctx, tx)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE trials SET lease_until = ?
			WHERE id = ? AND status = 'running' AND lease_owner = ?`,
			timeArg(now.Add(lease)), trialID, owner)
		if err != nil {
			return err
		}
		return oneRow(res, fmt.Errorf("trial %d: %w", trialID, ErrLeaseLost))
	})
}

// FinishTrial records the result of a trial; see Store.
func (s *DB) FinishTrial(ctx context.Context, trialID int64, owner string, r evaluator.Result) error {
	if err := checkStatus(r.Status); err != nil {
		return fmt.Errorf("trial %d: %w", trialID, err)
	}
	return s.write(ctx, func(tx txn) error {
		var status TrialStatus
		var holder string
		err := tx.QueryRowContext(ctx, "SELECT status, lease_owner FROM trials WHERE id = ?"+s.d.lockRow(), trialID).
			Scan(&status, orZero[string]{&holder})
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("trial %d: %w", trialID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if status != TrialRunning || holder != owner {
			return fmt.Errorf("trial %d: %w", trialID, ErrLeaseLost)
		}
		if r.Status == evaluator.StatusCancelled {
			_, err := tx.ExecContext(ctx, `UPDATE trials SET status = 'pending', lease_owner = NULL,
				lease_until = NULL WHERE id = ?`, trialID)
			return err
		}
		now, err := s.d.now(ctx, tx)
		if err != nil {
			return err
		}
		return finish(ctx, tx, trialID, owner, r, now)
	})
}

// RecordTrial adds a finished trial with its result; see Store. It panics if the trial's
// fidelity is NaN.
func (s *DB) RecordTrial(ctx context.Context, experimentID int64, t TrialSpec, r evaluator.Result) (int64, error) {
	if err := checkStatus(r.Status); err != nil {
		return 0, err
	}
	if r.Status == evaluator.StatusCancelled {
		return 0, errors.New("a cancelled evaluation is not a result")
	}
	var id int64
	err := s.write(ctx, func(tx txn) error {
		now, err := s.d.now(ctx, tx)
		if err != nil {
			return err
		}
		if id, err = addTrial(ctx, tx, experimentID, t, now); err != nil {
			return err
		}
		return finish(ctx, tx, id, "", r, now)
	})
	return id, err
}

func checkStatus(s evaluator.Status) error {
	switch s {
	case evaluator.StatusOK, evaluator.StatusDiverged, evaluator.StatusOverBudget,
		evaluator.StatusCancelled, evaluator.StatusError:
		return nil
	}
	return fmt.Errorf("unknown result status %q", s)
}

// finish stores r as the result of trial trialID, computed by worker (recorded if it is a
// registered worker), caches it under the trial's key unless it is a transient failure, and
// marks the trial done.
func finish(ctx context.Context, tx txn, trialID int64, worker string, r evaluator.Result, now time.Time) error {
	var key EvalKey
	var params, macs int64
	err := tx.QueryRowContext(ctx, `SELECT t.arch_hash, t.dataset, t.recipe_hash, t.fidelity, t.seed,
		a.params, a.macs FROM trials t JOIN architectures a ON a.hash = t.arch_hash WHERE t.id = ?`, trialID).
		Scan(&key.ArchHash, &key.Dataset, &key.RecipeHash, &key.Fidelity, uintValue{&key.Seed}, &params, &macs)
	if err != nil {
		return err
	}
	if err := consistent(r, params, macs, key.Seed); err != nil {
		return fmt.Errorf("trial %d: %w", trialID, err)
	}
	testLoss, testAcc, tested := any(nil), any(nil), 0
	if r.Tested {
		testLoss, testAcc, tested = floatArg(r.TestLoss), floatArg(r.TestAcc), 1
	}
	var resultID int64
	err = tx.QueryRowContext(ctx, `INSERT INTO results (trial_id, status, message, val_loss,
		val_acc, test_loss, test_acc, tested, train_seconds, images_per_sec, latency_b1_ms,
		latency_b128_ms, peak_mem_bytes, threads, created_at, worker)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT name FROM workers WHERE name = ?)) RETURNING id`,
		trialID, r.Status, r.Message, floatArg(r.ValLoss), floatArg(r.ValAcc), testLoss, testAcc,
		tested, floatArg(r.TrainSeconds), floatArg(r.ImagesPerSec), floatArg(r.LatencyB1Ms),
		floatArg(r.LatencyB128Ms), r.PeakMemBytes, r.Threads, timeArg(now), worker).Scan(&resultID)
	if err != nil {
		return err
	}
	if err := insertEpochs(ctx, tx, resultID, r.Epochs); err != nil {
		return err
	}
	// A transient failure (data missing, disk full) may succeed next time, so it is not cached.
	if r.Status != evaluator.StatusError {
		if _, err := tx.ExecContext(ctx, `INSERT INTO eval_cache (arch_hash, dataset, recipe_hash,
			fidelity, seed, result_id) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			key.ArchHash, key.Dataset, key.RecipeHash, key.Fidelity, int64(key.Seed), resultID); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx, `UPDATE trials SET status = 'done', result_id = ?, finished_at = ?,
		lease_owner = NULL, lease_until = NULL WHERE id = ?`, resultID, timeArg(now), trialID)
	return err
}

// consistent checks that r does not contradict the architecture and key it is stored under:
// the store keeps params, MACs and seed once, with the architecture and the trial. Zero means
// the evaluator did not get as far as counting.
func consistent(r evaluator.Result, params, macs int64, seed uint64) error {
	switch {
	case r.Params != 0 && r.Params != params:
		return fmt.Errorf("result counts %d params, its architecture %d", r.Params, params)
	case r.MACs != 0 && r.MACs != macs:
		return fmt.Errorf("result counts %d MACs, its architecture %d", r.MACs, macs)
	case r.Seed != 0 && r.Seed != seed:
		return fmt.Errorf("result has seed %d, its trial %d", r.Seed, seed)
	}
	return nil
}

func insertEpochs(ctx context.Context, tx txn, resultID int64, epochs []evaluator.Epoch) error {
	if len(epochs) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO epochs (result_id, epoch, train_loss, train_acc,
		val_loss, val_acc, lr, seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, e := range epochs {
		if _, err := stmt.ExecContext(ctx, resultID, e.Epoch, floatArg(e.TrainLoss), floatArg(e.TrainAcc),
			floatArg(e.ValLoss), floatArg(e.ValAcc), floatArg(e.LR), floatArg(e.Seconds)); err != nil {
			return fmt.Errorf("epoch %d: %w", e.Epoch, err)
		}
	}
	return nil
}

var resultColumns = []string{"status", "message", "val_loss", "val_acc", "test_loss", "test_acc",
	"tested", "train_seconds", "images_per_sec", "latency_b1_ms", "latency_b128_ms",
	"peak_mem_bytes", "threads"}

// resultDest returns the scan destinations for resultColumns into r.
func resultDest(r *evaluator.Result) []any {
	return []any{&r.Status, &r.Message, floatValue{&r.ValLoss}, floatValue{&r.ValAcc},
		floatValue{&r.TestLoss}, floatValue{&r.TestAcc}, &r.Tested, floatValue{&r.TrainSeconds},
		floatValue{&r.ImagesPerSec}, floatValue{&r.LatencyB1Ms}, floatValue{&r.LatencyB128Ms},
		&r.PeakMemBytes, &r.Threads}
}

// untested zeroes the test figures of a result that has none, as the evaluator leaves them.
func untested(r *evaluator.Result) {
	if !r.Tested {
		r.TestLoss, r.TestAcc = 0, 0
	}
}

var epochColumns = []string{"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"}

// epochDest returns the scan destinations for epochColumns into e.
func epochDest(e *evaluator.Epoch) []any {
	return []any{&e.Epoch, floatValue{&e.TrainLoss}, floatValue{&e.TrainAcc}, floatValue{&e.ValLoss},
		floatValue{&e.ValAcc}, floatValue{&e.LR}, floatValue{&e.Seconds}}
}

func scanEpoch(sc scanner) (evaluator.Epoch, error) {
	var e evaluator.Epoch
	err := sc.Scan(epochDest(&e)...)
	return e, err
}

// Lookup returns the cached result of an evaluation; see Store.
func (s *DB) Lookup(ctx context.Context, key EvalKey) (evaluator.Result, bool, error) {
	var r evaluator.Result
	found := false
	err := s.read(ctx, func(tx txn) error {
		r = evaluator.Result{}
		var resultID int64
		dest := append(resultDest(&r), &r.Params, &r.MACs, &resultID)
		err := tx.QueryRowContext(ctx, "SELECT "+columns("r", resultColumns...)+`, a.params, a.macs, r.id
			FROM eval_cache c JOIN results r ON r.id = c.result_id JOIN architectures a ON a.hash = c.arch_hash
			WHERE c.arch_hash = ? AND c.dataset = ? AND c.recipe_hash = ? AND c.fidelity = ? AND c.seed = ?`,
			key.ArchHash, key.Dataset, key.RecipeHash, key.Fidelity, int64(key.Seed)).Scan(dest...)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		r.Seed = key.Seed
		untested(&r)
		r.Epochs, err = queryAll(ctx, tx, scanEpoch, "SELECT "+columns("p", epochColumns...)+" FROM epochs p WHERE result_id = ? ORDER BY epoch", resultID)
		return err
	})
	return r, found, err
}

// Evaluation returns a finished trial with its architecture and result; see Store.
func (s *DB) Evaluation(ctx context.Context, trialID int64) (Evaluation, error) {
	evs, err := s.evaluations(ctx, "t.id = ?", trialID)
	if err != nil {
		return Evaluation{}, err
	}
	if len(evs) == 0 {
		return Evaluation{}, fmt.Errorf("finished trial %d: %w", trialID, ErrNotFound)
	}
	return evs[0], nil
}

// Evaluations returns every finished trial of an experiment; see Store.
func (s *DB) Evaluations(ctx context.Context, experimentID int64) ([]Evaluation, error) {
	return s.evaluations(ctx, "t.experiment_id = ?", experimentID)
}

// evaluations returns the finished trials t that satisfy the SQL condition where, with epochs.
func (s *DB) evaluations(ctx context.Context, where string, arg any) ([]Evaluation, error) {
	var evs []Evaluation
	err := s.read(ctx, func(tx txn) error {
		var err error
		evs, err = queryAll(ctx, tx, func(sc scanner) (Evaluation, error) {
			var ev Evaluation
			dest := append([]any{&ev.Experiment}, trialDest(&ev.Trial)...)
			dest = append(dest, archDest(&ev.Arch)...)
			dest = append(dest, &ev.ResultID, &ev.Cached, orZero[string]{&ev.Worker})
			if err := sc.Scan(append(dest, resultDest(&ev.Result)...)...); err != nil {
				return ev, err
			}
			ev.Result.Params, ev.Result.MACs, ev.Result.Seed = ev.Arch.Params, ev.Arch.MACs, ev.Trial.Key.Seed
			untested(&ev.Result)
			return ev, nil
		}, "SELECT e.name, "+columns("t", trialColumns...)+", "+columns("a", archColumns...)+
			", r.id, r.trial_id <> t.id, r.worker, "+columns("r", resultColumns...)+`
			FROM trials t JOIN experiments e ON e.id = t.experiment_id
			JOIN architectures a ON a.hash = t.arch_hash JOIN results r ON r.id = t.result_id
			WHERE `+where+" ORDER BY t.id", arg)
		if err != nil || len(evs) == 0 {
			return err
		}
		index := make(map[int64]int, len(evs))
		for i, ev := range evs {
			index[ev.Trial.ID] = i
		}
		rows, err := tx.QueryContext(ctx, "SELECT t.id, "+columns("p", epochColumns...)+`
			FROM trials t JOIN epochs p ON p.result_id = t.result_id
			WHERE `+where+" ORDER BY t.id, p.epoch", arg)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var e evaluator.Epoch
			if err := rows.Scan(append([]any{&id}, epochDest(&e)...)...); err != nil {
				return err
			}
			ev := &evs[index[id]]
			ev.Result.Epochs = append(ev.Result.Epochs, e)
		}
		return rows.Err()
	})
	return evs, err
}

// PutRecipe stores r unless its hash is stored already; see Store. It panics if r.Hash is empty.
func (s *DB) PutRecipe(ctx context.Context, r Recipe) error {
	if r.Hash == "" {
		panic("store: PutRecipe of a recipe without a hash")
	}
	return s.write(ctx, func(tx txn) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO recipes (hash, recipe) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING`,
			r.Hash, string(r.JSON))
		return err
	})
}

// Recipe returns the recipe stored under hash; see Store.
func (s *DB) Recipe(ctx context.Context, hash string) (Recipe, error) {
	r := Recipe{Hash: hash}
	err := s.read(ctx, func(tx txn) error {
		err := tx.QueryRowContext(ctx, "SELECT recipe FROM recipes WHERE hash = ?", hash).Scan(&r.JSON)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("recipe %s: %w", hash, ErrNotFound)
		}
		return err
	})
	return r, err
}

var workerColumns = []string{"name", "host", "pid", "cpu_model", "cores", "slots", "threads",
	"go_version", "nas_version", "started_at", "seen_at", "stopped_at"}

// PutWorker stores or updates a worker, seen now; see Store. It panics if w.Name is empty.
func (s *DB) PutWorker(ctx context.Context, w Worker) error {
	if w.Name == "" {
		panic("store: PutWorker of a worker without a name")
	}
	return s.write(ctx, func(tx txn) error {
		now, err := s.d.now(ctx, tx)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO workers (`+strings.Join(workerColumns, ", ")+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET slots = excluded.slots, threads = excluded.threads,
			seen_at = excluded.seen_at, stopped_at = excluded.stopped_at`,
			w.Name, w.Host, w.PID, w.Machine.CPUModel, w.Machine.Cores, w.Slots, w.Threads,
			w.Machine.GoVersion, w.Machine.NASVersion, timeArg(w.Started), timeArg(now), timeArg(w.Stopped))
		return err
	})
}

// Workers returns every registered worker with what it holds and has done; see Store.
func (s *DB) Workers(ctx context.Context) ([]Worker, error) {
	var ws []Worker
	err := s.read(ctx, func(tx txn) error {
		var err error
		ws, err = queryAll(ctx, tx, func(sc scanner) (Worker, error) {
			var w Worker
			err := sc.Scan(&w.Name, &w.Host, &w.PID, &w.Machine.CPUModel, &w.Machine.Cores, &w.Slots,
				&w.Threads, &w.Machine.GoVersion, &w.Machine.NASVersion, timeValue{&w.Started},
				timeValue{&w.Seen}, timeValue{&w.Stopped}, &w.Results, floatValue{&w.TrainSeconds})
			return w, err
		}, "SELECT "+columns("w", workerColumns...)+`,
			(SELECT count(*) FROM results r WHERE r.worker = w.name),
			(SELECT coalesce(sum(r.train_seconds), 0) FROM results r WHERE r.worker = w.name)
			FROM workers w ORDER BY w.seen_at DESC, w.name`)
		if err != nil {
			return err
		}
		index := make(map[string]int, len(ws))
		for i, w := range ws {
			index[w.Name] = i
		}
		now, err := s.d.now(ctx, tx)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT id, lease_owner FROM trials
			WHERE status = 'running' AND lease_until >= ? ORDER BY id`, timeArg(now))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var owner string
			if err := rows.Scan(&id, &owner); err != nil {
				return err
			}
			if i, ok := index[owner]; ok {
				ws[i].Holding = append(ws[i].Holding, id)
			}
		}
		return rows.Err()
	})
	return ws, err
}
