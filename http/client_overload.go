package http

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	pw "github.com/peakwallet/peakwallet"
)

// ScheduleMaintenance schedules a maintenance window (operator only). It
// carries no Idempotency-Key, so an attempt whose answer was lost is not
// sent again (it could make a second window): the call ends
// outcome_unknown, and Maintenance shows whether the window was made.
func (c *Client) ScheduleMaintenance(ctx context.Context, req pw.MaintenanceCreate) (*pw.MaintenanceWindow, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("http.Client: encode: %w", err)
	}
	var mw pw.MaintenanceWindow
	return result(&mw, c.do(ctx, http.MethodPost, "/v1/maintenance", body, "", &mw))
}

// Maintenance lists the maintenance windows that have not ended.
func (c *Client) Maintenance(ctx context.Context) ([]pw.MaintenanceWindow, error) {
	var l List[pw.MaintenanceWindow]
	if err := c.get(ctx, "/v1/maintenance", nil, &l); err != nil {
		return nil, err
	}
	return l.Data, nil
}

// MaintenanceWindow returns one window that has not ended: not_found for
// one that has ended, was cancelled or never was.
func (c *Client) MaintenanceWindow(ctx context.Context, id string) (*pw.MaintenanceWindow, error) {
	var mw pw.MaintenanceWindow
	return result(&mw, c.get(ctx, "/v1/maintenance/"+url.PathEscape(id), nil, &mw))
}

// CancelMaintenance cancels a window (operator only). When an attempt's
// answer is lost and the retry finds no such window, the earlier attempt
// cancelled it: the call returns nil.
func (c *Client) CancelMaintenance(ctx context.Context, id string) error {
	var h Health
	return c.do(ctx, http.MethodDelete, "/v1/maintenance/"+url.PathEscape(id), nil, "", &h)
}
