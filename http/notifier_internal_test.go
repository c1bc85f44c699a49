package http

import "testing"

// TestASettlementWakesOnlyItsIntentsStreams: a settled intent wakes the
// event streams of that intent, every one of them, and no other's: after
// a surge thousands of streams wait, and each woken one reads the store.
func TestASettlementWakesOnlyItsIntentsStreams(t *testing.T) {
	n := newNotifier()
	a1, stopA1 := n.wait("int_a")
	a2, stopA2 := n.wait("int_a")
	b, stopB := n.wait("int_b")
	n.settled("int_a")
	for name, ch := range map[string]<-chan struct{}{"int_a's first stream": a1, "int_a's second stream": a2} {
		select {
		case <-ch:
		default:
			t.Fatalf("%s was not woken by int_a's settlement", name)
		}
	}
	select {
	case <-b:
		t.Fatal("int_b's stream was woken by int_a's settlement")
	default:
	}
	stopA1()
	stopA2()
	// A stream that waits again after the wake waits for a new settlement.
	again, stopAgain := n.wait("int_a")
	select {
	case <-again:
		t.Fatal("a new wait on int_a was already woken")
	default:
	}
	stopAgain()
	stopB()
	if len(n.waiting) != 0 {
		t.Fatalf("%d intents still have waiters after every stream stopped: the map would grow", len(n.waiting))
	}
}
