package sqlite

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// TestOpenDoesNotWaitForeverForACache: a store that serves reads from its
// cache and does not give way (its process stopped, as with SIGSTOP: here
// its watcher is stopped) keeps a new store from opening, which then fails
// with a clear error after Options.ShareWait instead of writing under it.
func TestOpenDoesNotWaitForeverForACache(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stuck.db")
	a, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if !a.share.alone.Load() || !a.share.exclusive.Load() {
		t.Fatal("a store alone should hold the cache's token for writing")
	}
	close(a.share.stop)
	<-a.share.stopped
	a.share.stop = make(chan struct{}) // for Close; stopped is closed already
	start := time.Now()
	b, err := Open(path, Options{ShareWait: 300 * time.Millisecond})
	if err == nil {
		b.Close()
		t.Fatal("a store opened while another served reads from its cache")
	}
	if pw.ErrorCode(err) != pw.EUNAVAILABLE || !errors.Is(err, errCacheHeld) {
		t.Fatalf("open: %v; want %s for %v", err, pw.EUNAVAILABLE, errCacheHeld)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond || waited > 5*time.Second {
		t.Fatalf("open gave up after %v; want its ShareWait of 300ms", waited)
	}
	// Nothing was left behind: once a gives way, a store opens.
	a.share.check() // it sees no other now (b let go of its locks) and stays alone
	if !a.share.alone.Load() {
		t.Fatal("a failed open left a lock behind")
	}
}

// TestAStoreOfTheFormerVersionIsCompany: a store of the version before the
// cache's token holds only a read lock on the whole presence file. Beside
// it a store never serves reads from its cache, and takes its cache back
// once it has gone.
func TestAStoreOfTheFormerVersionIsCompany(t *testing.T) {
	path := filepath.Join(t.TempDir(), "former.db")
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := lockShared(f); err != nil { // what the former version holds
		t.Fatal(err)
	}
	s, err := Open(path, Options{ShareWait: time.Second}) // must not wait for it
	if err != nil {
		f.Close()
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 3; i++ {
		if s.share.alone.Load() || s.share.exclusive.Load() {
			t.Fatalf("check %d: alone %v, token for writing %v beside another store", i, s.share.alone.Load(), s.share.exclusive.Load())
		}
		time.Sleep(ShareCheckInterval)
	}
	f.Close()
	waitAlone(t, s) // it takes its cache back once the other has gone
}
