package postgres_test

import (
	"testing"

	"github.com/peakwallet/peakwallet/status/statustest"
	"github.com/peakwallet/peakwallet/traffic"
	"github.com/peakwallet/peakwallet/traffic/traffictest"
)

func TestTrafficConformance(t *testing.T) {
	MustDSN(t)
	traffictest.Run(t, func(t *testing.T) traffic.Store { return MustOpen(t) })
}

func TestStatusItemsConformance(t *testing.T) {
	MustDSN(t)
	statustest.Run(t, MustOpen(t))
}
