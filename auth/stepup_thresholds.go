package auth

import (
	"fmt"
	"sort"
	"strings"

	pw "github.com/peakwallet/peakwallet"
)

// StepUpThresholds maps a currency to its step-up threshold in that
// currency's minor units: a user's payment above it needs a second factor
// (requireStepUp). A currency a Service is not given takes its entry in
// defaultStepUpThresholds.
type StepUpThresholds map[pw.Currency]int64

// defaultStepUpThresholds is each supported currency's step-up threshold:
// about 100 EUR worth, in the currency's minor units (ADR 0041).
//
// It is an order of magnitude, not a conversion: there is no rate table in
// the product, and a threshold need not follow the market. Each figure is
// 100 EUR at the rates of 14 March 2025: the ECB's euro foreign exchange
// reference rates of that day as published for USD 1.0889, JPY 161.88,
// GBP 0.84183, CHF 0.9641, HUF 399.48, PLN 4.1723, CZK 25.014, DKK 7.4601,
// SEK 11.0538, NOK 11.62, ISK 145.90, RON 4.9768, BGN 1.9558, TRY 39.9381
// and AUD 1.7237; the peg where a currency is pegged to the euro or the
// US dollar (XOF, XAF, KMF, XPF, CVE, STN, BAM; AED, SAR, BHD, OMR, JOD,
// QAR, HKD, ...); for every other currency (the ECB's other quoted ones,
// KRW, IDR, CNY, INR, ... among them) an approximate rate of that month,
// through the dollar, not checked against a published fixing — the first
// to check at the next revision. Each figure is then the largest round
// amount (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten) not above
// 105 EUR worth: each is 70–105 EUR worth. Where a currency has an official rate far from what it buys
// (IRR, MMK), the market's is taken, so that a small payment needs no
// code; where the rate was uncertain (SDG, SSP, YER, KPW), the lower
// figure. A currency whose rate moves far from its figure is given its own
// by the operator (serve --step-up-threshold); the table is revised in a
// later release, by the same method, with its date.
//
// TestEveryCurrencyHasAStepUpThreshold checks that every supported
// currency has a figure above zero.
var defaultStepUpThresholds = StepUpThresholds{
	"AED": 400_00,         // 400.00 AED
	"AFN": 8_000_00,       // 8,000.00 AFN
	"ALL": 10_000_00,      // 10,000.00 ALL
	"AMD": 40_000_00,      // 40,000.00 AMD
	"ANG": 200_00,         // 200.00 ANG
	"AOA": 100_000_00,     // 100,000.00 AOA
	"ARS": 100_000_00,     // 100,000.00 ARS
	"AUD": 150_00,         // 150.00 AUD
	"AWG": 200_00,         // 200.00 AWG
	"AZN": 150_00,         // 150.00 AZN
	"BAM": 200_00,         // 200.00 BAM
	"BBD": 200_00,         // 200.00 BBD
	"BDT": 10_000_00,      // 10,000.00 BDT
	"BGN": 200_00,         // 200.00 BGN
	"BHD": 40_000,         // 40.000 BHD
	"BIF": 300_000,        // 300,000 BIF
	"BMD": 100_00,         // 100.00 BMD
	"BND": 150_00,         // 150.00 BND
	"BOB": 600_00,         // 600.00 BOB
	"BRL": 600_00,         // 600.00 BRL
	"BSD": 100_00,         // 100.00 BSD
	"BTN": 8_000_00,       // 8,000.00 BTN
	"BWP": 1_500_00,       // 1,500.00 BWP
	"BYN": 300_00,         // 300.00 BYN
	"BZD": 200_00,         // 200.00 BZD
	"CAD": 150_00,         // 150.00 CAD
	"CDF": 300_000_00,     // 300,000.00 CDF
	"CHF": 100_00,         // 100.00 CHF
	"CLF": 2_5000,         // 2.5000 CLF
	"CLP": 100_000,        // 100,000 CLP
	"CNY": 800_00,         // 800.00 CNY
	"COP": 400_000_00,     // 400,000.00 COP
	"CRC": 50_000_00,      // 50,000.00 CRC
	"CUP": 2_500_00,       // 2,500.00 CUP
	"CVE": 10_000_00,      // 10,000.00 CVE
	"CZK": 2_500_00,       // 2,500.00 CZK
	"DJF": 20_000,         // 20,000 DJF
	"DKK": 600_00,         // 600.00 DKK
	"DOP": 6_000_00,       // 6,000.00 DOP
	"DZD": 15_000_00,      // 15,000.00 DZD
	"EGP": 5_000_00,       // 5,000.00 EGP
	"ERN": 1_500_00,       // 1,500.00 ERN
	"ETB": 10_000_00,      // 10,000.00 ETB
	"EUR": 100_00,         // 100.00 EUR
	"FJD": 250_00,         // 250.00 FJD
	"FKP": 80_00,          // 80.00 FKP
	"GBP": 80_00,          // 80.00 GBP
	"GEL": 300_00,         // 300.00 GEL
	"GHS": 1_500_00,       // 1,500.00 GHS
	"GIP": 80_00,          // 80.00 GIP
	"GMD": 8_000_00,       // 8,000.00 GMD
	"GNF": 800_000,        // 800,000 GNF
	"GTQ": 800_00,         // 800.00 GTQ
	"GYD": 20_000_00,      // 20,000.00 GYD
	"HKD": 800_00,         // 800.00 HKD
	"HNL": 2_500_00,       // 2,500.00 HNL
	"HTG": 10_000_00,      // 10,000.00 HTG
	"HUF": 40_000_00,      // 40,000.00 HUF
	"IDR": 1_500_000_00,   // 1,500,000.00 IDR
	"ILS": 400_00,         // 400.00 ILS
	"INR": 8_000_00,       // 8,000.00 INR
	"IQD": 100_000_000,    // 100,000.000 IQD
	"IRR": 100_000_000_00, // 100,000,000.00 IRR
	"ISK": 15_000,         // 15,000 ISK
	"JMD": 15_000_00,      // 15,000.00 JMD
	"JOD": 80_000,         // 80.000 JOD
	"JPY": 15_000,         // 15,000 JPY
	"KES": 10_000_00,      // 10,000.00 KES
	"KGS": 10_000_00,      // 10,000.00 KGS
	"KHR": 400_000_00,     // 400,000.00 KHR
	"KMF": 50_000,         // 50,000 KMF
	"KPW": 100_000_00,     // 100,000.00 KPW
	"KRW": 150_000,        // 150,000 KRW
	"KWD": 30_000,         // 30.000 KWD
	"KYD": 80_00,          // 80.00 KYD
	"KZT": 50_000_00,      // 50,000.00 KZT
	"LAK": 2_000_000_00,   // 2,000,000.00 LAK
	"LBP": 10_000_000_00,  // 10,000,000.00 LBP
	"LKR": 30_000_00,      // 30,000.00 LKR
	"LRD": 20_000_00,      // 20,000.00 LRD
	"LSL": 2_000_00,       // 2,000.00 LSL
	"LYD": 500_000,        // 500.000 LYD
	"MAD": 1_000_00,       // 1,000.00 MAD
	"MDL": 2_000_00,       // 2,000.00 MDL
	"MGA": 500_000_00,     // 500,000.00 MGA
	"MKD": 6_000_00,       // 6,000.00 MKD
	"MMK": 400_000_00,     // 400,000.00 MMK
	"MNT": 300_000_00,     // 300,000.00 MNT
	"MOP": 800_00,         // 800.00 MOP
	"MRU": 4_000_00,       // 4,000.00 MRU
	"MUR": 5_000_00,       // 5,000.00 MUR
	"MVR": 1_500_00,       // 1,500.00 MVR
	"MWK": 150_000_00,     // 150,000.00 MWK
	"MXN": 2_000_00,       // 2,000.00 MXN
	"MYR": 500_00,         // 500.00 MYR
	"MZN": 6_000_00,       // 6,000.00 MZN
	"NAD": 2_000_00,       // 2,000.00 NAD
	"NGN": 150_000_00,     // 150,000.00 NGN
	"NIO": 4_000_00,       // 4,000.00 NIO
	"NOK": 1_000_00,       // 1,000.00 NOK
	"NPR": 15_000_00,      // 15,000.00 NPR
	"NZD": 150_00,         // 150.00 NZD
	"OMR": 40_000,         // 40.000 OMR
	"PAB": 100_00,         // 100.00 PAB
	"PEN": 400_00,         // 400.00 PEN
	"PGK": 400_00,         // 400.00 PGK
	"PHP": 6_000_00,       // 6,000.00 PHP
	"PKR": 30_000_00,      // 30,000.00 PKR
	"PLN": 400_00,         // 400.00 PLN
	"PYG": 800_000,        // 800,000 PYG
	"QAR": 400_00,         // 400.00 QAR
	"RON": 500_00,         // 500.00 RON
	"RSD": 10_000_00,      // 10,000.00 RSD
	"RUB": 8_000_00,       // 8,000.00 RUB
	"RWF": 150_000,        // 150,000 RWF
	"SAR": 400_00,         // 400.00 SAR
	"SBD": 800_00,         // 800.00 SBD
	"SCR": 1_500_00,       // 1,500.00 SCR
	"SDG": 60_000_00,      // 60,000.00 SDG
	"SEK": 1_000_00,       // 1,000.00 SEK
	"SGD": 150_00,         // 150.00 SGD
	"SHP": 80_00,          // 80.00 SHP
	"SLE": 2_500_00,       // 2,500.00 SLE
	"SOS": 60_000_00,      // 60,000.00 SOS
	"SRD": 4_000_00,       // 4,000.00 SRD
	"SSP": 500_000_00,     // 500,000.00 SSP
	"STN": 2_500_00,       // 2,500.00 STN
	"SVC": 1_000_00,       // 1,000.00 SVC
	"SYP": 1_000_000_00,   // 1,000,000.00 SYP
	"SZL": 2_000_00,       // 2,000.00 SZL
	"THB": 3_000_00,       // 3,000.00 THB
	"TJS": 1_000_00,       // 1,000.00 TJS
	"TMT": 400_00,         // 400.00 TMT
	"TND": 300_000,        // 300.000 TND
	"TOP": 250_00,         // 250.00 TOP
	"TRY": 4_000_00,       // 4,000.00 TRY
	"TTD": 600_00,         // 600.00 TTD
	"TWD": 3_000_00,       // 3,000.00 TWD
	"TZS": 300_000_00,     // 300,000.00 TZS
	"UAH": 4_000_00,       // 4,000.00 UAH
	"UGX": 400_000,        // 400,000 UGX
	"USD": 100_00,         // 100.00 USD
	"UYI": 600,            // 600 UYI
	"UYU": 4_000_00,       // 4,000.00 UYU
	"UYW": 2_500_0000,     // 2,500.0000 UYW
	"UZS": 1_000_000_00,   // 1,000,000.00 UZS
	"VED": 6_000_00,       // 6,000.00 VED
	"VES": 6_000_00,       // 6,000.00 VES
	"VND": 2_500_000,      // 2,500,000 VND
	"VUV": 10_000,         // 10,000 VUV
	"WST": 300_00,         // 300.00 WST
	"XAF": 60_000,         // 60,000 XAF
	"XCD": 300_00,         // 300.00 XCD
	"XCG": 200_00,         // 200.00 XCG
	"XOF": 60_000,         // 60,000 XOF
	"XPF": 10_000,         // 10,000 XPF
	"YER": 25_000_00,      // 25,000.00 YER
	"ZAR": 2_000_00,       // 2,000.00 ZAR
	"ZMW": 3_000_00,       // 3,000.00 ZMW
	"ZWG": 3_000_00,       // 3,000.00 ZWG
}

// DefaultStepUpThresholds returns a copy of every supported currency's
// default threshold.
func DefaultStepUpThresholds() StepUpThresholds {
	out := make(StepUpThresholds, len(defaultStepUpThresholds))
	for c, v := range defaultStepUpThresholds {
		out[c] = v
	}
	return out
}

// ParseStepUpThresholds reads an operator's thresholds: comma-separated
// CUR=AMOUNT pairs, the amount in major units with at most the currency's
// decimals (pw.ParseAmount), e.g. "EUR=100.00,JPY=15000,BHD=40.000". ""
// is none. A currency that is not supported, an amount that is not exact
// or not above zero, or a currency named twice is an invalid error that
// names it.
func ParseStepUpThresholds(s string) (StepUpThresholds, error) {
	out := StepUpThresholds{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, pair := range strings.Split(s, ",") {
		code, amount, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			return nil, pw.Errorf(pw.EINVALID, "step-up threshold %q is not CURRENCY=AMOUNT, such as EUR=100.00 (pairs are separated by commas, decimals by a point)", pair)
		}
		c, err := pw.ParseCurrency(code)
		if err != nil {
			return nil, pw.Errorf(pw.EINVALID, "step-up threshold %q: %s", pair, pw.ErrorMessage(err))
		}
		v, err := pw.ParseAmount(amount, c)
		if err != nil {
			return nil, pw.Errorf(pw.EINVALID, "step-up threshold %q: %s", pair, pw.ErrorMessage(err))
		}
		if v <= 0 {
			return nil, pw.Errorf(pw.EINVALID, "step-up threshold %q: the amount must be above zero", pair)
		}
		if _, dup := out[c]; dup {
			return nil, pw.Errorf(pw.EINVALID, "step-up threshold of %s given twice", c)
		}
		out[c] = v
	}
	return out, nil
}

// String writes t as ParseStepUpThresholds reads it, sorted by currency.
func (t StepUpThresholds) String() string {
	list := make([]string, 0, len(t))
	for c, v := range t {
		m := pw.Money{Amount: v, Currency: c}.String() // "100.00 EUR"
		amount, _, _ := strings.Cut(m, " ")
		list = append(list, string(c)+"="+amount)
	}
	sort.Strings(list)
	return strings.Join(list, ",")
}

// withDefaults returns the defaults with t's figures in their place; it
// panics on a currency that is not supported or a figure not above zero,
// as New does on a bad Options (the CLI reads them with
// ParseStepUpThresholds, which refuses both).
func (t StepUpThresholds) withDefaults() StepUpThresholds {
	out := DefaultStepUpThresholds()
	for c, v := range t {
		if !c.Valid() || v <= 0 {
			panic(fmt.Sprintf("auth: Options.StepUpThresholds: %s threshold %d", c, v))
		}
		out[c] = v
	}
	return out
}

// stepUpReference is the currency whose threshold the API's
// step_up_threshold reports (User.StepUpThreshold): the table's reference.
const stepUpReference pw.Currency = "EUR"

// stepUpThreshold is the threshold of c: a user's payment in c above it
// needs a second factor. A currency without one (none: New fills every
// supported currency) gets 0, so that every payment in it asks.
func (s *Service) stepUpThreshold(c pw.Currency) int64 {
	return s.stepUp[c]
}
