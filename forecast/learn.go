package forecast

import (
	"sort"
	"time"
)

// learn measures the effect of past holidays and promotions: for each past
// event, the ratio of the traffic during it to the cleaned (normal-week)
// traffic of the same hours; the effect is the median ratio, robust to one
// odd event. Only events fully inside the history count.
func learn(y, clean []float64, ev []event, promos []Promotion) (Effect, map[string]Effect) {
	holiday := Effect{Name: "public holiday", Multiplier: HolidayMultiplierDefault}
	var ratios []float64
	for start := 0; start < len(y); {
		if ev[start].holiday == "" {
			start++
			continue
		}
		end := start
		for end < len(y) && ev[end].holiday == ev[start].holiday {
			end++
		}
		if end-start >= 12 { // a (nearly) whole day: a clipped one is not comparable
			if r, ok := ratio(y[start:end], clean[start:end]); ok {
				ratios = append(ratios, r)
			}
		}
		start = end
	}
	if len(ratios) > 0 {
		holiday.Multiplier, holiday.LearnedFrom = median(ratios), len(ratios)
	}

	byKey := map[string][]float64{}
	names := map[string]string{}
	for i := range promos {
		p := &promos[i]
		var a, b []float64
		for t := range y {
			for _, q := range ev[t].promos {
				if q == p {
					a, b = append(a, y[t]), append(b, clean[t])
				}
			}
		}
		complete := len(a) > 0 && len(a) >= int(p.End.Sub(p.Start.Truncate(time.Hour))/time.Hour)
		names[p.key()] = p.Name
		if !complete {
			continue
		}
		if r, ok := ratio(a, b); ok {
			byKey[p.key()] = append(byKey[p.key()], r)
		}
	}
	out := map[string]Effect{}
	for k, rs := range byKey {
		out[k] = Effect{Name: k, Multiplier: median(rs), LearnedFrom: len(rs)}
	}
	return holiday, out
}

func ratio(a, b []float64) (float64, bool) {
	var sa, sb float64
	for i := range a {
		sa += a[i]
		sb += b[i]
	}
	if sb <= 0 {
		return 0, false
	}
	return sa / sb, true
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
