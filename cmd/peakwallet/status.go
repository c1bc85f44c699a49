package main

import (
	"context"
	"flag"
	"fmt"
	pw "github.com/peakwallet/peakwallet"
	"log/slog"
	"time"

	"github.com/peakwallet/peakwallet/forecast"
	"github.com/peakwallet/peakwallet/status"
	"github.com/peakwallet/peakwallet/traffic"
)

// statusFlags configure the traffic history, the forecast and the status page.
type statusFlags struct {
	country   string
	timezone  string
	publicURL string
	retention traffic.Retention
}

func (f *statusFlags) register(fs *flag.FlagSet, env *environment) {
	fs.StringVar(&f.country, "country", envOr(env, "PEAKWALLET_COUNTRY", forecast.DefaultCountry), "holiday calendar of the forecast: US, GB, DE, FR or none [PEAKWALLET_COUNTRY]")
	fs.StringVar(&f.timezone, "timezone", envOr(env, "PEAKWALLET_TIMEZONE", "UTC"), "time zone of holidays, hours of the week and \"today\" (IANA name) [PEAKWALLET_TIMEZONE]")
	fs.StringVar(&f.publicURL, "public-url", env.getenv("PEAKWALLET_PUBLIC_URL"), "public base URL for the Atom feed's links; default from each request [PEAKWALLET_PUBLIC_URL]")
	f.retention = traffic.DefaultRetention
	fs.DurationVar(&f.retention.Minutes, "traffic-keep-minutes", f.retention.Minutes, "how long per-minute traffic is kept")
	fs.DurationVar(&f.retention.Hours, "traffic-keep-hours", f.retention.Hours, "how long hourly traffic is kept (the forecast reads it)")
	fs.DurationVar(&f.retention.Days, "traffic-keep-days", f.retention.Days, "how long daily traffic is kept; 0 keeps it forever")
}

func (f *statusFlags) calendar() (*forecast.Calendar, *time.Location, error) {
	cal, err := forecast.LoadCalendar(f.country)
	if err != nil {
		return nil, nil, fmt.Errorf("--country: %w", err)
	}
	loc, err := time.LoadLocation(f.timezone)
	if err != nil {
		return nil, nil, fmt.Errorf("--timezone: %w", err)
	}
	return cal, loc, nil
}

// service builds the status service. Maintenance windows are the
// operator's (windows: admission.Schedule.Windows; nil outside serve) and
// any the demo stored.
func (f *statusFlags) service(store status.Store, rec *traffic.Recorder, windows func() []pw.MaintenanceWindow, log *slog.Logger) (*status.Service, error) {
	cal, loc, err := f.calendar()
	if err != nil {
		return nil, err
	}
	return status.New(status.Config{
		Store:       store,
		Recorder:    rec,
		Maintenance: maintenanceSource(store, windows),
		Calendar:    cal,
		Location:    loc,
		Notifier:    &status.Notifier{Log: log},
		Logger:      log,
	}), nil
}

// AnnounceInterval is how often maintenance windows are checked for
// announcements. A window scheduled or cancelled through this process is
// announced at once (by its API call); this loop catches those changed
// through another process sharing the schedule, and retries failures.
const AnnounceInterval = time.Minute

// announceLoop sends maintenance windows, and their cancellations, to the
// webhooks once each.
func announceLoop(ctx context.Context, s *status.Service, log *slog.Logger) {
	t := time.NewTicker(AnnounceInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.AnnounceMaintenance(ctx); err != nil && ctx.Err() == nil {
				log.Warn("announcing maintenance failed; retrying later", "err", err)
			}
		}
	}
}

func maintenanceSource(store status.Store, windows func() []pw.MaintenanceWindow) status.MaintenanceSource {
	stored := status.StoredMaintenance{Store: store}
	if windows == nil {
		return stored
	}
	return status.ScheduleSource{List: windows, Also: stored}
}
