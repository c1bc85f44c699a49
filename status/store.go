package status

import (
	"context"
	"time"

	"github.com/peakwallet/peakwallet/traffic"
)

// Item is one stored status record: an incident, a promotion, a capacity
// figure, a webhook subscription, a custom holiday. Bodies are JSON whose
// shape this package owns; stores keep them as they are.
type Item struct {
	Kind      string
	ID        string
	Body      []byte
	CreatedAt time.Time
}

// Item kinds.
const (
	KindIncident     = "incident"
	KindPromotion    = "promotion"
	KindCapacity     = "capacity"
	KindSubscription = "subscription"
	KindHoliday      = "holiday"
	KindMaintenance  = "maintenance"
	KindAnnounced    = "announced" // maintenance windows already sent to webhooks
)

// Store is what status needs from storage: the traffic history and the
// status items. Both stores pass statustest.Run and traffictest.Run.
type Store interface {
	traffic.Store
	// PutStatusItem inserts it, or replaces the body of the item of the
	// same kind and ID (keeping its CreatedAt).
	PutStatusItem(ctx context.Context, it *Item) error
	// StatusItems lists the items of kind, newest first, at most limit.
	StatusItems(ctx context.Context, kind string, limit int) ([]*Item, error)
	// StatusItem returns one item (ENOTFOUND when none).
	StatusItem(ctx context.Context, kind, id string) (*Item, error)
	// DeleteStatusItem forgets an item (ENOTFOUND when none).
	DeleteStatusItem(ctx context.Context, kind, id string) error
}
