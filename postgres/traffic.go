package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/peakwallet/peakwallet/status"
	"github.com/peakwallet/peakwallet/traffic"
)

// The traffic.Store and status.Store half of the PostgreSQL store.

var _ status.Store = (*Store)(nil)

// MergeTraffic locks each bucket's row (creating it empty first, so that
// two processes flushing the same new minute both find a row to lock),
// then adds: counts never get lost to a concurrent flush.
func (s *Store) MergeTraffic(ctx context.Context, res traffic.Resolution, bs []*traffic.Bucket) error {
	const op = "postgres.MergeTraffic"
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, b := range bs {
			if _, err := tx.Exec(ctx, `INSERT INTO traffic (resolution, start, class, requests, successes, busy, latency)
				VALUES ($1, $2, $3, 0, 0, 0, '') ON CONFLICT DO NOTHING`, string(res), micros(b.Start), b.Class); err != nil {
				return err
			}
			var lat string
			if err := tx.QueryRow(ctx, "SELECT latency FROM traffic WHERE resolution = $1 AND start = $2 AND class = $3 FOR UPDATE",
				string(res), micros(b.Start), b.Class).Scan(&lat); err != nil {
				return err
			}
			h, err := traffic.ParseHistogram(lat)
			if err != nil {
				return err
			}
			h.Add(b.Latency)
			if _, err := tx.Exec(ctx, `UPDATE traffic SET requests = requests + $4, successes = successes + $5, busy = busy + $6, latency = $7
				WHERE resolution = $1 AND start = $2 AND class = $3`,
				string(res), micros(b.Start), b.Class, b.Requests, b.Successes, b.Busy, h.String()); err != nil {
				return err
			}
		}
		return nil
	})
	return mapError(ctx, op, err)
}

func (s *Store) ReplaceTraffic(ctx context.Context, res traffic.Resolution, from, to time.Time, bs []*traffic.Bucket) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM traffic WHERE resolution = $1 AND start >= $2 AND start < $3",
			string(res), micros(from), micros(to)); err != nil {
			return err
		}
		for _, b := range bs {
			if _, err := tx.Exec(ctx, `INSERT INTO traffic (resolution, start, class, requests, successes, busy, latency)
				VALUES ($1, $2, $3, $4, $5, $6, $7)
				ON CONFLICT (resolution, start, class) DO UPDATE SET requests = excluded.requests,
					successes = excluded.successes, busy = excluded.busy, latency = excluded.latency`,
				string(res), micros(b.Start), b.Class, b.Requests, b.Successes, b.Busy, b.Latency.String()); err != nil {
				return err
			}
		}
		return nil
	})
	return mapError(ctx, "postgres.ReplaceTraffic", err)
}

func scanBucket(r rowScanner) (*traffic.Bucket, error) {
	var b traffic.Bucket
	var start int64
	var lat string
	if err := r.Scan(&start, &b.Class, &b.Requests, &b.Successes, &b.Busy, &lat); err != nil {
		return nil, err
	}
	h, err := traffic.ParseHistogram(lat)
	b.Start, b.Latency = fromMicros(start), h
	return &b, err
}

func (s *Store) Traffic(ctx context.Context, res traffic.Resolution, from, to time.Time) ([]*traffic.Bucket, error) {
	return rows(ctx, s.pool, "postgres.Traffic", scanBucket,
		"SELECT start, class, requests, successes, busy, latency FROM traffic WHERE resolution = $1 AND start >= $2 AND start < $3 ORDER BY start, class",
		string(res), micros(from), micros(to))
}

func (s *Store) DeleteTrafficBefore(ctx context.Context, res traffic.Resolution, t time.Time) (int64, error) {
	return s.exec(ctx, "postgres.DeleteTrafficBefore", "DELETE FROM traffic WHERE resolution = $1 AND start < $2", string(res), micros(t))
}

func (s *Store) PutStatusItem(ctx context.Context, it *status.Item) error {
	_, err := s.exec(ctx, "postgres.PutStatusItem", `INSERT INTO status_items (kind, id, body, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body`, it.Kind, it.ID, string(it.Body), micros(it.CreatedAt))
	return err
}

func scanItem(r rowScanner) (*status.Item, error) {
	var it status.Item
	var body string
	var created int64
	if err := r.Scan(&it.Kind, &it.ID, &body, &created); err != nil {
		return nil, err
	}
	it.Body, it.CreatedAt = []byte(body), fromMicros(created)
	return &it, nil
}

func (s *Store) StatusItems(ctx context.Context, kind string, limit int) ([]*status.Item, error) {
	return rows(ctx, s.pool, "postgres.StatusItems", scanItem,
		"SELECT kind, id, body, created_at FROM status_items WHERE kind = $1 ORDER BY created_at DESC, id DESC LIMIT $2", kind, limit)
}

func (s *Store) StatusItem(ctx context.Context, kind, id string) (*status.Item, error) {
	return row(ctx, s.pool, "postgres.StatusItem", kind, scanItem,
		"SELECT kind, id, body, created_at FROM status_items WHERE kind = $1 AND id = $2", kind, id)
}

func (s *Store) DeleteStatusItem(ctx context.Context, kind, id string) error {
	n, err := s.exec(ctx, "postgres.DeleteStatusItem", "DELETE FROM status_items WHERE kind = $1 AND id = $2", kind, id)
	if err == nil && n == 0 {
		return notFound(kind)
	}
	return err
}
