// Package faultproxy is a TCP proxy for outage tests: it sits between a
// store and its database and can cut every connection (the database
// "stopped") or stall them (it "hangs"), deterministically and without
// touching the database that other tests share.
package faultproxy

import (
	"bytes"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// Proxy forwards connections from its address to a target.
type Proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	down    bool // cut: new connections are closed at once
	stalled bool // stall: bytes stop flowing until Restore
	resume  chan struct{}
	trigger *trigger                   // CutAt, HoldAt: act when a client sends this
	held    map[net.Conn]chan struct{} // HoldAt: connections whose answers wait, by their client side
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
}

// New starts a proxy to target on a free local port.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}, resume: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every connection and refuses new ones until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
}

// Stall stops forwarding bytes (connections stay open) until Restore.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = true
}

// trigger is an armed CutAt.
type trigger struct {
	pattern []byte
	deliver bool
	hold    bool // HoldAt: hold that connection's answers instead of cutting
	fired   chan struct{}
}

// CutAt arms a one-time cut: when a client next sends bytes containing
// pattern, the proxy delivers them to the server first if deliver is true
// (the server acts on them, but its answer is lost) or drops them if not,
// then cuts every connection as Cut does, until Restore. The channel is
// closed when it has fired. For PostgreSQL, pattern []byte("commit\x00")
// cuts a transaction at its COMMIT: committed or not, the client cannot
// tell.
func (p *Proxy) CutAt(pattern []byte, deliver bool) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.trigger = &trigger{pattern: pattern, deliver: deliver, fired: make(chan struct{})}
	return p.trigger.fired
}

// HoldAt arms a one-time hold: when a client next sends bytes containing
// pattern, the proxy delivers them, then holds the server's answers on
// that one connection until Restore; every other connection, and new
// ones, work on. For PostgreSQL, pattern []byte("commit\x00") makes a
// COMMIT that the server carries out but whose answer comes too late: a
// slow client, not a database away. The channel is closed when it has
// fired.
func (p *Proxy) HoldAt(pattern []byte) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.trigger = &trigger{pattern: pattern, deliver: true, hold: true, fired: make(chan struct{})}
	return p.trigger.fired
}

// Restore ends a cut, a stall or a hold, and disarms a CutAt or HoldAt
// that has not fired.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
	p.trigger = nil
	for _, h := range p.held {
		close(h)
	}
	p.held = nil
	if p.stalled {
		p.stalled = false
		close(p.resume)
		p.resume = make(chan struct{})
	}
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() error {
	err := p.ln.Close()
	p.Cut()
	p.Restore()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.track(c, up)
		p.wg.Add(2)
		go p.pipe(c, up, false, c)
		go p.pipe(up, c, true, c)
	}
}

func (p *Proxy) track(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
}

// pipe copies src to dst in chunks, waiting while the proxy is stalled
// or, from the server, while client's connection is held; toServer pipes
// look out for an armed CutAt or HoldAt.
func (p *Proxy) pipe(dst, src net.Conn, toServer bool, client net.Conn) {
	defer p.wg.Done()
	defer func() {
		dst.Close()
		src.Close()
		p.mu.Lock()
		delete(p.conns, dst)
		delete(p.conns, src)
		p.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			stalled, resume, tr := p.stalled, p.resume, p.trigger
			held := p.held[client]
			if tr != nil && (!toServer || !bytes.Contains(buf[:n], tr.pattern)) {
				tr = nil
			}
			if tr != nil {
				p.trigger = nil
				if tr.hold {
					if p.held == nil {
						p.held = map[net.Conn]chan struct{}{}
					}
					p.held[client] = make(chan struct{})
				}
			}
			p.mu.Unlock()
			if stalled {
				<-resume
			}
			if held != nil && !toServer {
				<-held
			}
			if tr != nil && tr.hold {
				close(tr.fired)
				tr = nil
			}
			if tr != nil {
				if tr.deliver {
					_, _ = dst.Write(buf[:n])
				}
				p.Cut()
				close(tr.fired)
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				return
			}
			return
		}
	}
}

// ForPostgres puts a proxy between a test and the PostgreSQL of dsn and
// returns it with the DSN that goes through it; the proxy closes with the
// test.
func ForPostgres(tb testing.TB, dsn string) (*Proxy, string) {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := New(u.Host)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close() })
	u.Host = p.Addr()
	return p, u.String()
}
