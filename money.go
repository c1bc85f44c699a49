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
	return fmt.Sprintf("%s %s", m.amountText(), m.Currency)
}

// amountText is m's amount with its currency's decimals, e.g. "12.50".
func (m Money) amountText() string {
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
	return s
}

// ParseAmount reads s, an amount in major units written with at most c's
// decimals ("100.00" or "100" EUR, "15000" JPY, "40.000" BHD), and returns
// it in minor units. It is exact (no floats): digits, one optional point
// followed by 1 to c.Exponent() digits, no sign, no grouping, no exponent;
// more decimals than c has, or an amount past int64, is refused rather
// than rounded.
func ParseAmount(s string, c Currency) (int64, error) {
	if !c.Valid() {
		return 0, FieldErrorf("currency", EINVALID, "currency %q is not an active ISO 4217 currency", c)
	}
	exp := c.Exponent()
	whole, frac, dot := strings.Cut(s, ".")
	switch {
	case whole == "" || !allDigits(whole) || !allDigits(frac) || (dot && frac == ""):
		return 0, FieldErrorf("amount", EINVALID, "amount %q is not a number of %s such as %s", s, c, Money{Amount: 1234 * pow10(exp), Currency: c}.amountText())
	case len(frac) > exp:
		return 0, FieldErrorf("amount", EINVALID, "amount %q has more than the %d decimals of %s", s, exp, c)
	}
	frac += strings.Repeat("0", exp-len(frac))
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		return 0, FieldErrorf("amount", EINVALID, "amount %q is too large", s)
	}
	return n, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// pow10 is 10^n for a currency's exponent (0 to 4).
func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
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
