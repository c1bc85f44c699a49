package main

import "testing"

// TestTheAuditListingKeepsFreeTextInItsField: `peakwallet audit` prints a
// record's detail as k=v pairs. A value that is free text (an operator's
// reason for stopping a payment) is quoted when it holds what would read
// as another pair, column or record: a space with an equals sign, a tab,
// a line break, a quote, a bidirectional control, a byte that is not
// UTF-8. One word is printed as it is, as before.
func TestTheAuditListingKeepsFreeTextInItsField(t *testing.T) {
	for d, want := range map[string]string{
		"ticket-4711":                     `reason=ticket-4711`,
		"duplicate payer=user:evil":       `reason="duplicate payer=user:evil"`,
		"a\tb":                            `reason="a\tb"`,
		"x\n42\t2026-11-28T10:00:00.000Z": `reason="x\n42\t2026-11-28T10:00:00.000Z"`,
		`say "hi"`:                        `reason="say \"hi\""`,
		"ok \u202etxt.exe":                `reason="ok \u202etxt.exe"`,
		"":                                `reason=`,
		"bad\xffbyte":                     `reason="bad\xffbyte"`,
	} {
		if got := auditDetail(map[string]string{"reason": d}); got != want {
			t.Errorf("detail %q printed as %s; want %s", d, got, want)
		}
	}
	if got := auditDetail(map[string]string{"payer": "user:u1", "amount": "1000"}); got != "amount=1000 payer=user:u1" {
		t.Errorf("two plain values printed as %s", got)
	}
}
