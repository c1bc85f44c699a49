package forecast

import (
	_ "embed"
	"fmt"
	"sort"
	"strings"
	"time"
)

// holidaysCSV is the embedded calendar: country,date,name per line.
//
//go:embed holidays.csv
var holidaysCSV string

// DefaultCountry is the calendar used when none is configured.
const DefaultCountry = "US"

// Calendar is a set of holidays (by local date) for one country, plus any
// custom days an operator adds (a regional holiday, a shopping day).
type Calendar struct {
	Country string
	days    map[string]string // "2006-01-02" → name
}

// Countries lists the countries of the embedded calendar.
func Countries() []string {
	seen := map[string]bool{}
	for _, line := range strings.Split(holidaysCSV, "\n") {
		if c, _, ok := strings.Cut(line, ","); ok && !strings.HasPrefix(line, "#") {
			seen[c] = true
		}
	}
	var out []string
	for c := range seen {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// LoadCalendar returns the embedded calendar of country (ISO 3166-1
// alpha-2, such as "US"); "" means DefaultCountry and "none" an empty
// calendar.
func LoadCalendar(country string) (*Calendar, error) {
	country = strings.ToUpper(strings.TrimSpace(country))
	if country == "" {
		country = DefaultCountry
	}
	c := &Calendar{Country: country, days: map[string]string{}}
	if country == "NONE" {
		return c, nil
	}
	for _, line := range strings.Split(holidaysCSV, "\n") {
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		parts := strings.SplitN(line, ",", 3)
		if len(parts) == 3 && parts[0] == country {
			c.days[parts[1]] = parts[2]
		}
	}
	if len(c.days) == 0 {
		return nil, fmt.Errorf("forecast: no holiday calendar for %q (have %s, or \"none\")", country, strings.Join(Countries(), ", "))
	}
	return c, nil
}

// Add adds a custom holiday on date (local, "2006-01-02").
func (c *Calendar) Add(date, name string) error {
	if _, err := time.Parse(time.DateOnly, date); err != nil {
		return fmt.Errorf("forecast: holiday date %q: want YYYY-MM-DD", date)
	}
	c.days[date] = name
	return nil
}

// Holiday returns the name of the holiday on t's date in loc, if any.
func (c *Calendar) Holiday(t time.Time, loc *time.Location) (string, bool) {
	if c == nil {
		return "", false
	}
	name, ok := c.days[t.In(loc).Format(time.DateOnly)]
	return name, ok
}
