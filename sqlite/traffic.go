package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/peakwallet/peakwallet/status"
	"github.com/peakwallet/peakwallet/traffic"
)

// The traffic.Store and status.Store half of the SQLite store.

var _ status.Store = (*Store)(nil)

func (s *Store) MergeTraffic(ctx context.Context, res traffic.Resolution, bs []*traffic.Bucket) error {
	const op = "sqlite.MergeTraffic"
	return s.tx(ctx, op, func(tx *sql.Tx) error {
		for _, b := range bs {
			old, err := scanBucket(tx.QueryRowContext(ctx, "SELECT "+bucketCols+" FROM traffic WHERE resolution = ? AND start = ? AND class = ?",
				string(res), micros(b.Start), b.Class))
			switch {
			case errors.Is(err, sql.ErrNoRows):
				old = &traffic.Bucket{Start: b.Start, Class: b.Class}
			case err != nil:
				return err
			}
			old.Add(b)
			if err := upsertBucket(ctx, tx, res, old); err != nil {
				return err
			}
		}
		return nil
	})
}

func upsertBucket(ctx context.Context, tx *sql.Tx, res traffic.Resolution, b *traffic.Bucket) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO traffic (resolution, start, class, requests, successes, busy, latency)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (resolution, start, class) DO UPDATE SET requests = excluded.requests,
			successes = excluded.successes, busy = excluded.busy, latency = excluded.latency`,
		string(res), micros(b.Start), b.Class, b.Requests, b.Successes, b.Busy, b.Latency.String())
	return err
}

func (s *Store) ReplaceTraffic(ctx context.Context, res traffic.Resolution, from, to time.Time, bs []*traffic.Bucket) error {
	return s.tx(ctx, "sqlite.ReplaceTraffic", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM traffic WHERE resolution = ? AND start >= ? AND start < ?",
			string(res), micros(from), micros(to)); err != nil {
			return err
		}
		for _, b := range bs {
			if err := upsertBucket(ctx, tx, res, b); err != nil {
				return err
			}
		}
		return nil
	})
}

const bucketCols = "start, class, requests, successes, busy, latency"

func scanBucket(r scanner) (*traffic.Bucket, error) {
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
	return rows(ctx, s.read, "sqlite.Traffic", scanBucket,
		"SELECT "+bucketCols+" FROM traffic WHERE resolution = ? AND start >= ? AND start < ? ORDER BY start, class",
		string(res), micros(from), micros(to))
}

func (s *Store) DeleteTrafficBefore(ctx context.Context, res traffic.Resolution, t time.Time) (int64, error) {
	return s.exec(ctx, "sqlite.DeleteTrafficBefore", "DELETE FROM traffic WHERE resolution = ? AND start < ?", string(res), micros(t))
}

func (s *Store) PutStatusItem(ctx context.Context, it *status.Item) error {
	_, err := s.exec(ctx, "sqlite.PutStatusItem", `INSERT INTO status_items (kind, id, body, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body`, it.Kind, it.ID, string(it.Body), micros(it.CreatedAt))
	return err
}

func scanItem(r scanner) (*status.Item, error) {
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
	return rows(ctx, s.read, "sqlite.StatusItems", scanItem,
		"SELECT kind, id, body, created_at FROM status_items WHERE kind = ? ORDER BY created_at DESC, id DESC LIMIT ?", kind, limit)
}

func (s *Store) StatusItem(ctx context.Context, kind, id string) (*status.Item, error) {
	return row(ctx, s.read, "sqlite.StatusItem", kind, scanItem,
		"SELECT kind, id, body, created_at FROM status_items WHERE kind = ? AND id = ?", kind, id)
}

func (s *Store) DeleteStatusItem(ctx context.Context, kind, id string) error {
	n, err := s.exec(ctx, "sqlite.DeleteStatusItem", "DELETE FROM status_items WHERE kind = ? AND id = ?", kind, id)
	if err == nil && n == 0 {
		return notFound(kind)
	}
	return err
}
