package auth

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	pw "github.com/peakwallet/peakwallet"
)

// Sender delivers a message (by email, SMS, push...). Production plugs in
// a provider; the default writes files that a developer can read.
type Sender interface {
	Send(ctx context.Context, m *Message) error
}

// DirSender writes each message to Dir/<id>.txt (mode 0600): the
// development "mail server". Messages hold codes and reset links, so the
// directory is private to the server's user.
type DirSender struct{ Dir string }

// Send implements Sender.
func (d DirSender) Send(_ context.Context, m *Message) error {
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		return err
	}
	text := fmt.Sprintf("To: %s\nSubject: %s\nDate: %s\n\n%s\n", m.To, m.Subject, m.CreatedAt.Format("2006-01-02T15:04:05Z"), m.Body)
	name := filepath.Join(d.Dir, strings.ReplaceAll(m.ID, "/", "_")+".txt")
	return os.WriteFile(name, []byte(text), 0o600)
}

// OutboxDeliverMax bounds one delivery pass.
const OutboxDeliverMax = 100

// notify queues a message and tries to deliver it at once; a failed
// delivery stays queued for Deliver. The message is stored before it is
// sent, so that a crash between the two loses nothing.
func (s *Service) notify(ctx context.Context, to, subject, body string) error {
	m, err := s.enqueue(ctx, to, subject, body)
	if err != nil {
		return err
	}
	if s.sender == nil {
		return nil
	}
	if err := s.sender.Send(ctx, m); err != nil {
		s.log.Warn("message not delivered; it stays in the outbox", "id", m.ID, "err", err)
		return nil
	}
	return s.store.MarkSent(ctx, m.ID, s.clock())
}

// queue stores a message for the background delivery (Deliver) and
// wakes it (Queued), without waiting for the sender: for a message whose
// answer must not take longer because it was sent (a password reset: a
// slow provider told a user's handle from an unknown one).
func (s *Service) queue(ctx context.Context, to, subject, body string) error {
	if _, err := s.enqueue(ctx, to, subject, body); err != nil {
		return err
	}
	select {
	case s.queued <- struct{}{}:
	default: // a wake is already pending: its pass sends this one too
	}
	return nil
}

// enqueue stores a new message in the outbox, for notify and queue.
func (s *Service) enqueue(ctx context.Context, to, subject, body string) (*Message, error) {
	m := &Message{ID: pw.NewID("msg", s.clock()), To: to, Subject: subject, Body: body, CreatedAt: s.clock()}
	return m, s.store.Enqueue(ctx, m)
}

// Queued receives when a message was queued for delivery since the last
// receive (one pending wake at most, so a burst of messages asks for one
// pass). serve's delivery loop runs a pass (Deliver) on it, besides its
// interval.
func (s *Service) Queued() <-chan struct{} { return s.queued }

// Deliver sends up to OutboxDeliverMax queued messages and returns how
// many were sent. A background loop calls it.
func (s *Service) Deliver(ctx context.Context) (int, error) {
	if s.sender == nil {
		return 0, nil
	}
	list, err := s.store.Pending(ctx, OutboxDeliverMax)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range list {
		if err := s.sender.Send(ctx, m); err != nil {
			return n, err
		}
		if err := s.store.MarkSent(ctx, m.ID, s.clock()); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
