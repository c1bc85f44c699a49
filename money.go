package peakwallet

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Currency is an ISO 4217 alphabetic code such as "EUR".
type Currency string

// ParseCurrency returns the currency for code, which must be exactly three
// upper-case letters naming an active ISO 4217 currency.
func ParseCurrency(code string) (Currency, error) {
	if len(code) != 3 || strings.ToUpper(code) != code {
		return "", FieldErrorf("currency", EINVALID, "currency %q is not a three-letter upper-case ISO 4217 code", code)
	}
	c := Currency(code)
	if _, ok := currencyExponents[c]; !ok {
		return "", FieldErrorf("currency", EINVALID, "currency %q is not an active ISO 4217 currency", code)
	}
	return c, nil
}

// Valid reports whether c is an active ISO 4217 currency.
func (c Currency) Valid() bool { _, ok := currencyExponents[c]; return ok }

// Exponent is the number of minor-unit digits: 2 for EUR, 0 for JPY, 3 for BHD.
func (c Currency) Exponent() int { return currencyExponents[c] }

// Currencies returns every supported currency code, sorted.
func Currencies() []Currency {
	out := make([]Currency, 0, len(currencyExponents))
	for c := range currencyExponents {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Money is an amount in minor units (cents for EUR, yen for JPY) of one currency.
// It is never a float and never wraps: arithmetic is checked.
type Money struct {
	Amount   int64    `json:"amount"`
	Currency Currency `json:"currency"`
}

// Add returns m+o, or an error when the currencies differ or the sum overflows int64.
func (m Money) Add(o Money) (Money, error) {
	if m.Currency != o.Currency {
		return Money{}, Errorf(ECURRENCYMISMATCH, "cannot add %s to %s", o.Currency, m.Currency)
	}
	s, ok := AddInt64(m.Amount, o.Amount)
	if !ok {
		return Money{}, Errorf(ELIMIT, "amount overflows")
	}
	return Money{Amount: s, Currency: m.Currency}, nil
}

// String formats m with its currency's decimals, e.g. "12.50 EUR", "-3 JPY".
func (m Money) String() string {
	exp := m.Currency.Exponent()
	neg := m.Amount < 0
	// uint64 holds |math.MinInt64|.
	u := uint64(m.Amount)
	if neg {
		u = uint64(-(m.Amount + 1)) + 1
	}
	s := strconv.FormatUint(u, 10)
	if exp > 0 {
		if len(s) <= exp {
			s = strings.Repeat("0", exp-len(s)+1) + s
		}
		s = s[:len(s)-exp] + "." + s[len(s)-exp:]
	}
	if neg {
		s = "-" + s
	}
	return fmt.Sprintf("%s %s", s, m.Currency)
}

// AddInt64 returns a+b and whether it did not overflow.
func AddInt64(a, b int64) (int64, bool) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, false
	}
	return s, true
}

// SubInt64 returns a-b and whether it did not overflow.
func SubInt64(a, b int64) (int64, bool) {
	if b == math.MinInt64 {
		if a >= 0 {
			return 0, false
		}
		return a - b, true
	}
	return AddInt64(a, -b)
}
