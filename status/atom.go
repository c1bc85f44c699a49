package status

import (
	"context"
	"encoding/xml"
	"sort"
	"strings"
	"time"
)

// FeedEntriesMax bounds the feed.
const FeedEntriesMax = 50

// Atom (RFC 4287) types: the subset a feed of announcements needs.
type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	Title   string      `xml:"title"`
	ID      string      `xml:"id"`
	Updated string      `xml:"updated"`
	Link    []atomLink  `xml:"link"`
	Author  atomPerson  `xml:"author"`
	Entries []atomEntry `xml:"entry"`
}

type atomLink struct {
	Href string `xml:"href,attr"`
	Rel  string `xml:"rel,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
}

type atomPerson struct {
	Name string `xml:"name"`
}

type atomEntry struct {
	Title    string   `xml:"title"`
	ID       string   `xml:"id"`
	Updated  string   `xml:"updated"`
	Link     atomLink `xml:"link"`
	Category struct {
		Term string `xml:"term,attr"`
	} `xml:"category"`
	Content struct {
		Type string `xml:"type,attr"`
		Body string `xml:",chardata"`
	} `xml:"content"`
}

// Feed renders the announcements (incidents and maintenance windows) as
// an Atom feed. base is the server's public URL ("https://pay.example"):
// entry IDs are tag-like URNs on it, so they are stable.
func (s *Service) Feed(ctx context.Context, base string) ([]byte, error) {
	incidents, err := s.Incidents(ctx)
	if err != nil {
		return nil, err
	}
	windows, err := s.maint.Windows(ctx, s.now().Add(-30*24*time.Hour))
	if err != nil {
		return nil, err
	}
	var as []Announcement
	for i := range incidents {
		a := AnnouncementFromIncident(&incidents[i])
		var b strings.Builder
		for j := len(incidents[i].Updates) - 1; j >= 0; j-- {
			u := incidents[i].Updates[j]
			b.WriteString(u.At.UTC().Format(time.RFC3339) + " [" + u.Status + "] " + u.Message + "\n")
		}
		a.Summary = b.String()
		as = append(as, a)
	}
	for _, w := range windows {
		as = append(as, AnnouncementFromWindow(w))
	}
	return RenderFeed(base, as, s.now())
}

// RenderFeed renders announcements as an Atom feed, newest first.
func RenderFeed(base string, as []Announcement, now time.Time) ([]byte, error) {
	sort.Slice(as, func(i, j int) bool { return as[i].Updated.After(as[j].Updated) })
	if len(as) > FeedEntriesMax {
		as = as[:FeedEntriesMax]
	}
	base = strings.TrimRight(base, "/")
	f := atomFeed{Title: "peakwallet status", ID: base + "/status", Author: atomPerson{Name: "peakwallet operators"},
		Link: []atomLink{{Href: base + "/status/feed.atom", Rel: "self", Type: "application/atom+xml"}, {Href: base + "/status", Rel: "alternate", Type: "text/html"}}}
	updated := now.UTC()
	if len(as) > 0 {
		updated = as[0].Updated
	}
	f.Updated = updated.UTC().Format(time.RFC3339)
	for _, a := range as {
		e := atomEntry{Title: a.Title, ID: base + "/status#" + a.ID, Updated: a.Updated.UTC().Format(time.RFC3339),
			Link: atomLink{Href: base + "/status#" + a.ID}}
		e.Category.Term = a.Kind
		e.Content.Type = "text"
		e.Content.Body = a.Summary
		f.Entries = append(f.Entries, e)
	}
	out, err := xml.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), out...), nil
}
