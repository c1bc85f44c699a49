package demo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
	"github.com/peakwallet/peakwallet/forecast"
	"github.com/peakwallet/peakwallet/status"
	"github.com/peakwallet/peakwallet/traffic"
)

// Marker is the metadata every demo account and transfer carries.
var Marker = map[string]string{"demo": "true"}

// Options of Populate.
type Options struct {
	Now      time.Time
	Weeks    int // of traffic history; WeeksDefault when 0
	Seed     uint64
	Location *time.Location
	Calendar *forecast.Calendar
	// Users and Transfers: how many demo users and payments to create.
	Users     int
	Transfers int
}

// Report says what Populate made.
type Report struct {
	Users, Merchants, Transfers int
	TrafficHours                int
	Holidays                    []string // holidays in the history and the coming week
	Promotion                   string
}

// ErrNotEmpty is returned when the instance already has data.
var ErrNotEmpty = errors.New("demo: the instance is not empty (it has accounts or traffic history); the demo only fills an empty one")

// Store is what Populate writes to.
type Store interface {
	pw.Store
	status.Store
}

// Populate fills an empty instance. The ledger and security services are
// the real ones, so demo money obeys every rule.
func Populate(ctx context.Context, st Store, l pw.LedgerService, sec *auth.Service, svc *status.Service, o Options) (*Report, error) {
	if o.Weeks == 0 {
		o.Weeks = WeeksDefault
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if accs, err := st.Accounts(ctx, "", 1); err != nil || len(accs) > 0 {
		return nil, errors.Join(ErrNotEmpty, err)
	}
	now := o.Now.UTC()
	if old, err := st.Traffic(ctx, traffic.Hour, now.Add(-53*7*24*time.Hour), now); err != nil || len(old) > 0 {
		return nil, errors.Join(ErrNotEmpty, err)
	}
	rep := &Report{}
	if err := people(ctx, l, sec, o, rep); err != nil {
		return nil, err
	}
	if err := history(ctx, st, svc, o, rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// people makes demo users with wallets, demo merchants, and payments.
func people(ctx context.Context, l pw.LedgerService, sec *auth.Service, o Options, rep *Report) error {
	r := rand.New(rand.NewPCG(o.Seed, 11))
	admin := pw.NewContextWithPrincipal(ctx, pw.Principal{Kind: pw.PrincipalOperator, ID: "demo", Role: pw.RoleAdmin})
	system, err := l.CreateAccount(admin, pw.AccountCreate{Kind: pw.AccountSystem, Currency: "EUR", Metadata: map[string]string{"demo": "true", "name": "demo top-ups"}})
	if err != nil {
		return err
	}
	var merchants []*pw.Account
	for _, name := range []string{"Demo Corner Café", "Demo Book Shop", "Demo Rail Tickets"} {
		m, err := sec.CreateMerchant(admin, auth.MerchantCreate{Name: name})
		if err != nil {
			return fmt.Errorf("demo merchant: %w", err)
		}
		acc, err := l.CreateAccount(admin, pw.AccountCreate{Kind: pw.AccountMerchant, Currency: "EUR", OwnerID: m.ID, Metadata: map[string]string{"demo": "true", "name": name}})
		if err != nil {
			return err
		}
		merchants = append(merchants, acc)
		rep.Merchants++
	}
	var wallets []*pw.Account
	for i := 0; i < o.Users; i++ {
		u, err := sec.SignUp(auth.NewContextWithClientAddress(ctx, fmt.Sprintf("demo-%d", i)),
			auth.SignUp{Handle: fmt.Sprintf("demo-user-%d@demo.peakwallet.invalid", i+1), Password: fmt.Sprintf("demo-%x-correct-horse", r.Uint64())})
		if err != nil {
			return fmt.Errorf("demo user: %w", err)
		}
		w, err := l.CreateAccount(admin, pw.AccountCreate{Kind: pw.AccountUser, Currency: "EUR", OwnerID: u.ID, Metadata: Marker})
		if err != nil {
			return err
		}
		if _, err := l.CreateTransfer(admin, pw.TransferCreate{FromAccount: system.ID, ToAccount: w.ID, Amount: 50_000, Currency: "EUR", Description: "demo top-up", Metadata: Marker}); err != nil {
			return err
		}
		wallets = append(wallets, w)
		rep.Users++
	}
	for i := 0; i < o.Transfers && len(wallets) > 0; i++ {
		from, to := wallets[r.IntN(len(wallets))], merchants[r.IntN(len(merchants))]
		amount := int64(150 + r.IntN(4000))
		if _, err := l.CreateTransfer(admin, pw.TransferCreate{FromAccount: from.ID, ToAccount: to.ID, Amount: amount, Currency: "EUR", Description: "demo payment", Metadata: Marker}); err != nil && pw.ErrorCode(err) != pw.EINSUFFICIENT {
			return err
		}
		rep.Transfers++
	}
	return nil
}

// history writes the traffic, a past and a coming promotion of one kind
// (so its effect is learned), a capacity figure, a resolved incident and
// a maintenance window.
func history(ctx context.Context, st Store, svc *status.Service, o Options, rep *Report) error {
	now, loc := o.Now.UTC(), o.Location
	end := traffic.Hour.Truncate(now)
	// A coming holiday makes the forecast's peak visible; when the
	// calendar has none in the next week, the demo adds one of its own.
	if !holidayAhead(o.Calendar, now, loc) {
		day := now.In(loc).AddDate(0, 0, 3).Format(time.DateOnly)
		if err := svc.AddHoliday(ctx, day, "Demo Festival (demo holiday)"); err != nil {
			return err
		}
		_ = o.Calendar.Add(day, "Demo Festival (demo holiday)")
	}
	for d := -o.Weeks * 7; d <= 7; d++ {
		if name, ok := o.Calendar.Holiday(now.AddDate(0, 0, d), loc); ok {
			rep.Holidays = append(rep.Holidays, now.AddDate(0, 0, d).In(loc).Format(time.DateOnly)+" "+name)
		}
	}
	// The flash sale: three weeks ago on Saturday 11:00–14:00 local, and the
	// coming Saturday, same hours.
	sat := nextSaturday(now.In(loc)).Add(11 * time.Hour)
	past := forecast.Promotion{Name: "Demo flash sale", Key: "demo-flash-sale", Start: sat.AddDate(0, 0, -21).UTC(), Multiplier: 1.8, Demo: true}
	past.End = past.Start.Add(3 * time.Hour)
	next := past
	next.Start, next.End = sat.UTC(), sat.Add(3*time.Hour).UTC()
	start, y := Series(end, o.Weeks, o.Seed, o.Calendar, loc, []Spike{{past.Start, past.End, 1.6}})
	if err := st.MergeTraffic(ctx, traffic.Hour, Buckets(start, y)); err != nil {
		return err
	}
	if err := traffic.Rollup(ctx, st, end, time.Duration(o.Weeks)*7*24*time.Hour); err != nil {
		return err
	}
	rep.TrafficHours = len(y)
	for _, p := range []forecast.Promotion{past, next} {
		if _, err := svc.CreatePromotion(ctx, p); err != nil {
			return err
		}
	}
	rep.Promotion = fmt.Sprintf("%s, %s", next.Name, next.Start.In(loc).Format("Mon 2 Jan 15:04 MST"))
	if _, err := svc.SetCapacity(ctx, forecast.Capacity{RPS: CapacityRPS, Source: "bench (demo figure)", MeasuredAt: now.AddDate(0, 0, -10)}); err != nil {
		return err
	}
	inc, err := svc.CreateIncident(ctx, status.IncidentCreate{Title: "Demo: slow payments for some users", Impact: status.StateBusy,
		Components: []string{status.ComponentAPI}, Message: "Demo incident: we are looking into slower payment confirmations."}, true)
	if err != nil {
		return err
	}
	if _, err := svc.UpdateIncident(ctx, inc.ID, status.IncidentPost{Status: status.IncidentResolved, Message: "Demo incident: resolved; payments are fast again."}); err != nil {
		return err
	}
	w := status.Window{ID: pw.NewID("mw", now), Title: "Demo: database upgrade (payments stay up)",
		Start: traffic.Hour.Truncate(now).Add(30 * time.Hour), Components: []string{status.ComponentLedger}}
	w.End = w.Start.Add(30 * time.Minute)
	return svc.PutDemoWindow(ctx, w)
}

func holidayAhead(cal *forecast.Calendar, now time.Time, loc *time.Location) bool {
	for d := 1; d <= 6; d++ {
		if _, ok := cal.Holiday(now.AddDate(0, 0, d), loc); ok {
			return true
		}
	}
	return false
}

// nextSaturday is the coming Saturday's midnight (a week on, when today
// is a Saturday: today's hours may be past).
func nextSaturday(t time.Time) time.Time {
	d := (int(time.Saturday) - int(t.Weekday()) + 7) % 7
	if d == 0 {
		d = 7
	}
	y, m, day := t.AddDate(0, 0, d).Date()
	return time.Date(y, m, day, 0, 0, 0, 0, t.Location())
}
