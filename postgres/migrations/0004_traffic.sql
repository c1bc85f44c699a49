-- Traffic history (traffic/) and status announcements (status/). Times are
-- unix microseconds (UTC). A traffic row is one priority class during one
-- minute, hour or day; latency is a fixed-bucket histogram, counts
-- separated by commas (traffic.LatencyBoundsMillis).
CREATE TABLE traffic (
	resolution TEXT NOT NULL,
	start      BIGINT NOT NULL,
	class      TEXT NOT NULL,
	requests   BIGINT NOT NULL,
	successes  BIGINT NOT NULL,
	busy       BIGINT NOT NULL,
	latency    TEXT NOT NULL,
	PRIMARY KEY (resolution, start, class)
);

-- Incidents, promotions, capacity figures, webhook subscriptions and the
-- other small, rarely written status records: JSON bodies by kind and ID.
-- They are few (tens to hundreds), read whole, and their shapes belong to
-- status/, which validates them; a table per kind would be ceremony.
CREATE TABLE status_items (
	kind       TEXT NOT NULL,
	id         TEXT NOT NULL,
	body       TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (kind, id)
);
CREATE INDEX status_items_created ON status_items (kind, created_at);
