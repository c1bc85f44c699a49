package forecast

import "math"

// SeasonHours is the season of the model: one week of hours. Traffic of a
// wallet repeats by hour of the week (the Friday evening peak is not the
// Sunday morning lull), so a daily season would blur weekdays together.
const SeasonHours = 168

// SeasonsMin is the history the model needs: two weeks to initialise the
// seasonal indices and the trend, one more to learn from.
const SeasonsMin = 3

// Params are the smoothing constants of Holt-Winters (multiplicative
// season, damped additive trend): Alpha for the level, Beta for the trend,
// Gamma for the seasonal indices, Phi the damping of the trend (a trend is
// followed, not extrapolated forever).
type Params struct {
	Alpha, Beta, Gamma, Phi float64
}

// paramGrid is searched by Fit. A small grid is enough: the error surface
// is flat near its minimum, and a fixed grid keeps the fit deterministic
// and bounded (48 passes over the history).
var (
	gridAlpha = []float64{0.02, 0.05, 0.1, 0.2}
	gridBeta  = []float64{0, 0.005, 0.02}
	gridGamma = []float64{0.05, 0.1, 0.2, 0.35}
)

// DampingPhi is the trend's damping per hour: after a week (168 h) the
// trend has added Σφ^i ≈ 1/(1-φ) = 100 hours' worth, not 168.
const DampingPhi = 0.99

// Model is Holt-Winters fitted to a history.
type Model struct {
	Params Params
	phase  int // hour of the week of the history's first hour
	n      int // hours seen
	level  float64
	trend  float64
	season [SeasonHours]float64
	// SSE is the one-step-ahead sum of squared relative errors of the fit.
	SSE float64
}

// shift keeps the series positive: multiplicative seasonality divides by
// the series, and a quiet instance has hours with no traffic at all.
const shift = 1.0

// Fit chooses Params on the grid by one-step-ahead error and returns the
// fitted model. phase is the hour of the week (0 = Monday 00:00) of y[0].
// y must hold at least SeasonsMin weeks.
func Fit(y []float64, phase int) *Model {
	var best *Model
	for _, a := range gridAlpha {
		for _, b := range gridBeta {
			for _, g := range gridGamma {
				m := run(y, phase, Params{a, b, g, DampingPhi})
				if best == nil || m.SSE < best.SSE {
					best = m
				}
			}
		}
	}
	return best
}

// run fits the model with fixed params.
func run(y []float64, phase int, p Params) *Model {
	m := &Model{Params: p, phase: phase}
	var m1, m2 float64
	for i := 0; i < SeasonHours; i++ {
		m1 += y[i] + shift
		m2 += y[i+SeasonHours] + shift
	}
	m1, m2 = m1/SeasonHours, m2/SeasonHours
	for i := 0; i < SeasonHours; i++ {
		m.season[(phase+i)%SeasonHours] = ((y[i]+shift)/m1 + (y[i+SeasonHours]+shift)/m2) / 2
	}
	m.level, m.trend = m1, (m2-m1)/SeasonHours
	// Start the recursion at week 1: week 0 only initialised the indices.
	m.level += m.trend * SeasonHours
	for t := SeasonHours; t < len(y); t++ {
		x := y[t] + shift
		idx := (phase + t) % SeasonHours
		s := m.season[idx]
		f := (m.level + p.Phi*m.trend) * s
		if t >= 2*SeasonHours { // score once the start-up has settled
			e := (x - f) / math.Max(f, 1)
			m.SSE += e * e
		}
		prev := m.level
		m.level = p.Alpha*(x/s) + (1-p.Alpha)*(prev+p.Phi*m.trend)
		if m.level < shift/10 {
			m.level = shift / 10
		}
		m.trend = p.Beta*(m.level-prev) + (1-p.Beta)*p.Phi*m.trend
		m.season[idx] = p.Gamma*(x/m.level) + (1-p.Gamma)*s
	}
	m.n = len(y)
	return m
}

// Forecast returns the next h hours after the history.
func (m *Model) Forecast(h int) []float64 {
	out := make([]float64, h)
	damp, sum := 1.0, 0.0
	for i := 0; i < h; i++ {
		damp *= m.Params.Phi
		sum += damp
		f := (m.level+sum*m.trend)*m.season[(m.phase+m.n+i)%SeasonHours] - shift
		out[i] = math.Max(f, 0)
	}
	return out
}

// SeasonIndex returns the seasonal index of hour of the week how (0 =
// Monday 00:00 in the model's location): 1.3 means 30 % above the level.
func (m *Model) SeasonIndex(how int) float64 { return m.season[how%SeasonHours] }
